"""The hostile shapes of issue 13, generated on demand (never stored in the repository).

Each function returns the raw bytes of one message a stranger (or a member's
broken client) could put in the shared inbox; ``tests/test_hostile_shapes.py``
runs them through the real pipeline and ``bench/hostile.py`` times them.
Sizes are parameters so a test can use a small version of a shape where the
full size adds nothing but minutes; the defaults are the sizes the issue names.

All shapes come from ``mei@chencpa.example`` (a member of the demo group and of
the test configs) unless said otherwise, because the worst case is a hostile
message that passes the membership rule: a forged From is free.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass

TRACKER = "refs@harbornet.example"
MEI = "mei@chencpa.example"
TOM = "tom.becker@beckerroofing.example"
DATE = "Mon, 23 Nov 2026 09:00:00 -0600"

MB = 1024 * 1024


def _head(message_id: str, subject: str, *, to: str | None = None, extra: str = "",
          content_type: str = "text/plain; charset=utf-8", sender: str = MEI) -> str:
    return (
        f"From: Mei Chen <{sender}>\r\n"
        f"To: {to if to is not None else f'Tom Becker <{TOM}>, Linda Park <linda@parkfamily.example>'}\r\n"
        f"Cc: Harbor Referrals <{TRACKER}>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {DATE}\r\n"
        f"Message-ID: <{message_id}@mail.chencpa.example>\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
    )


def normal_intro(n: int = 1) -> bytes:
    """An ordinary intro, the yardstick every shape is measured beside: Tom to a new
    prospect each ``n``, so it is never a duplicate of a shape's intro."""
    return (
        _head(f"normal-intro-{n}", f"Intro {n}: Tom, meet Grace",
              to=f"Tom Becker <{TOM}>, Grace Lee <grace{n}@town.example>")
        + "\r\n"
        "Tom, meet Grace. Grace's bakery is looking for a roofer before winter.\r\n"
        "Grace, Tom is the roofer I told you about.\r\n\r\nMei\r\n"
    ).encode()


def many_references(count: int = 260_000) -> bytes:
    """A reply whose ``References`` names ``count`` message ids (260,000 ≈ 3.2 MB, one field).

    Every id is distinct and well formed, so nothing but their number is wrong:
    one SQL parameter each would exceed SQLite's limit (32,766 on a stock build).
    """
    ids = "".join(f"<{i:x}@r.x>" + ("\r\n " if i % 8 == 7 else " ") for i in range(count)).rstrip()
    return (
        _head("many-references", "Re: Intro", extra=f"In-Reply-To: <{count - 1:x}@r.x>\r\n"
              f"References: {ids}\r\n")
        + "\r\nThanks Mei, I will call Linda tomorrow.\r\n"
    ).encode()


def html_only_reply(size: int = 8 * MB) -> bytes:
    """An HTML-only reply of about ``size`` bytes: nested blocks, tables, quotes, entities."""
    unit = (
        '<div class="x"><table><tr><td><p style="color:red">Tom &amp; Linda &mdash; '
        "<b>bold</b> <i>it</i> <a href=\"mailto:a@b.example\">a@b.example</a></p></td></tr></table>"
        "<blockquote>On Mon, Mei wrote:<br>&gt; quoted line</blockquote></div>\r\n"
    )
    body = "<html><body><p>Thanks, I will call her.</p>\r\n" + unit * (size // len(unit))
    body += "</body></html>\r\n"
    return (
        _head("html-only-reply", "Re: Intro", extra="In-Reply-To: <normal-intro-1@mail.chencpa.example>\r\n",
              content_type="text/html; charset=utf-8")
        + "\r\n" + body
    ).encode()


def many_recipients(count: int = 60_000) -> bytes:
    """An intro to ``count`` recipients (60,000 ≈ 2.3 MB of To), with duplicates among them."""
    people = ",\r\n ".join(f"Person {i} <p{i % (count - count // 10)}@crowd.example>" for i in range(count))
    return (
        _head("many-recipients", "Intro: you all should meet", to=people)
        + "\r\nEveryone, meet everyone. Tom is the roofer I told you about.\r\n\r\nMei\r\n"
    ).encode()


def large_message(size: int = 24 * MB + MB // 2, n: int = 1) -> bytes:
    """An intro with a ``size``-byte attachment (base64): under the 25 MB default limit."""
    payload = os.urandom((size - 2048) * 57 // 78)  # base64 lines: 76 characters and CRLF per 57 bytes
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    boundary = "b0undary-large"
    return (
        _head(f"large-{n}", f"Intro {n}: the photos", content_type=f'multipart/mixed; boundary="{boundary}"')
        + f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Tom, meet Linda. Linda, Tom is the roofer I told you about. Photos attached.\r\n"
        f"--{boundary}\r\nContent-Type: application/zip; name=\"photos.zip\"\r\n"
        "Content-Disposition: attachment; filename=\"photos.zip\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded + f"--{boundary}--\r\n".encode()


def base64_bomb(size: int = 24 * MB) -> bytes:
    """An intro whose text part is ``size`` bytes of base64 that decode to one endless line of
    address-like, quote-like, cue-like text, and whose ``.eml`` attachment is another such
    message: everything the classifiers would chew on, as much as fits under the size limit."""
    line = ("Tom is the roofer I told you about, a@b.example <c@d.example> > On Mon wrote: "
            "Linda needs a roofer -- ")
    inner_text = line * (size * 26 // 100 // len(line))  # base64 twice: about half of ``size``
    inner = (
        _head("bomb-inner", "Intro: inner") + "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(inner_text.encode())
    text = line * (size * 36 // 100 // len(line))  # base64 once: the other half
    boundary = "b0mb"
    return (
        _head("base64-bomb", "Intro: Tom, meet Linda", content_type=f'multipart/mixed; boundary="{boundary}"')
        + f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(text.encode()) + (
        f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"intro.eml\"\r\n"
        "Content-Disposition: inline; filename=\"intro.eml\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(inner) + f"--{boundary}--\r\n".encode()


def nested_multiparts(depth: int = 10_000) -> bytes:
    """``depth`` multiparts, each inside the last, a text part at the bottom."""
    opening = "".join(
        f'--n{i}\r\nContent-Type: multipart/mixed; boundary="n{i + 1}"\r\n\r\n' for i in range(depth)
    )
    closing = "".join(f"--n{i}--\r\n" for i in range(depth, -1, -1))
    return (
        _head("nested-multiparts", "Intro: Tom, meet Linda", content_type='multipart/mixed; boundary="n0"')
        + "\r\n" + opening
        + f"--n{depth}\r\nContent-Type: text/plain\r\n\r\n"
        "Tom, meet Linda. Tom is the roofer I told you about.\r\n"
        + closing
    ).encode()


def long_header(size: int = 10 * MB) -> bytes:
    """A ``size``-byte Subject on one line: words, encoded words, brackets and colons."""
    unit = "Re: Fwd: [R-12] =?utf-8?q?Gr=C3=BC=C3=9Fe?= (a (b) c) \"q\" <x@y.example>; "
    subject = (unit * (size // len(unit) + 1))[:size]
    body = "\r\nTom, meet Linda. Tom is the roofer I told you about.\r\n"
    return (_head("long-header", subject) + body).encode()


@dataclass(frozen=True)
class Shape:
    """One hostile shape: its name in tests and the bench, and how to build it."""

    name: str
    what: str
    build: Callable[[], bytes]
    #: How many copies one run holds (20 × 24.5 MB).
    copies: int = 1


def shape_copies(shape: Shape) -> list[bytes]:
    """The shape's messages: ``copies`` of it, each with a Message-ID of its own."""
    raw = shape.build()
    return [raw] + [
        raw.replace(b"@mail.chencpa.example>", b"-%d@mail.chencpa.example>" % n, 1)
        for n in range(1, shape.copies)
    ]


SHAPES: list[Shape] = [
    Shape("references", "260,000 References (3.2 MB, one field)", many_references),
    Shape("html_reply", "an 8 MB HTML-only reply", html_only_reply),
    Shape("recipients", "60,000 recipients", many_recipients),
    Shape("large", "20 × 24.5 MB messages", large_message, copies=20),
    Shape("base64_bomb", "a 24 MB base64 bomb: a text part and an .eml, each one endless line", base64_bomb),
    Shape("nested", "10,000 nested multiparts", nested_multiparts),
    Shape("long_header", "a 10 MB single-line Subject", long_header),
]
