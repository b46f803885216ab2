"""Writing realistic raw mail for tests, byte by byte.

The messages are assembled as text rather than with ``email.generator`` so a
test controls exactly what a mail client would put on the wire: the header
order and shape of Gmail, Outlook, Apple Mail or Thunderbird, RFC 2047 encoded
display names, base64 / quoted-printable / 8-bit bodies in any charset.
"""

from __future__ import annotations

import base64
import quopri
import textwrap
from collections.abc import Iterable, Sequence

Person = tuple[str, str] | str

_BOUNDARIES = {
    "gmail": "000000000000c0ffee1234567890",
    "outlook": "_000_SN6PR01MB4422TEST_",
    "apple": "Apple-Mail=_0C0FFEE0-1234-4567-89AB-CDEF01234567",
    "thunderbird": "------------c0ffee1234567890abcdef12",
}


def encoded_word(text: str, charset: str = "utf-8", encoding: str = "q") -> str:
    """``text`` as one RFC 2047 encoded word (Q or B encoding)."""
    data = text.encode(charset)
    if encoding.lower() == "b":
        return f"=?{charset}?b?{base64.b64encode(data).decode('ascii')}?="
    out = []
    for byte in data:
        char = chr(byte)
        if char == " ":
            out.append("_")
        elif char.isalnum() and byte < 128:
            out.append(char)
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?q?{''.join(out)}?="


def mailbox(person: Person, charset: str = "utf-8") -> str:
    """``("Björn", "b@x")`` → ``=?utf-8?q?Bj=C3=B6rn?= <b@x>``; a bare string stays bare."""
    if isinstance(person, str):
        return person
    name, address = person
    if not name:
        return address
    if not name.isascii():
        return f"{encoded_word(name, charset)} <{address}>"
    if any(ch in name for ch in ',.;:@"()'):
        return f'"{name}" <{address}>'
    return f"{name} <{address}>"


def encode_body(text: str, charset: str = "utf-8", cte: str = "8bit") -> tuple[str, bytes]:
    """``(Content-Transfer-Encoding value, encoded body bytes)`` for ``text``."""
    data = text.replace("\r\n", "\n").encode(charset)
    if cte == "base64":
        b64 = base64.b64encode(data).decode("ascii")
        return "base64", "\r\n".join(textwrap.wrap(b64, 76)).encode("ascii") + b"\r\n"
    if cte == "quoted-printable":
        return "quoted-printable", quopri.encodestring(data).replace(b"\n", b"\r\n")
    return cte, data.replace(b"\n", b"\r\n")


def _leaf(content_type: str, text: str, charset: str, cte: str) -> bytes:
    used, body = encode_body(text, charset, cte)
    head = f'Content-Type: {content_type}; charset="{charset}"\r\n'
    if used not in ("7bit",):
        head += f"Content-Transfer-Encoding: {used}\r\n"
    return head.encode("ascii") + b"\r\n" + body


def _multipart(subtype: str, boundary: str, parts: Iterable[bytes]) -> bytes:
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part.rstrip(b"\r\n") + b"\r\n\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def rfc822_part(raw: bytes, filename: str | None = None) -> bytes:
    """A message/rfc822 attachment (a forward as attachment)."""
    head = "Content-Type: message/rfc822\r\nContent-Disposition: attachment"
    if filename:
        head += f'; filename="{filename}"'
    return head.encode() + b"\r\n\r\n" + raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def file_part(content_type: str, filename: str, data: bytes) -> bytes:
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'Content-Type: {content_type}; name="{filename}"\r\n'
        f'Content-Disposition: attachment; filename="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + "\r\n".join(textwrap.wrap(b64, 76))
    ).encode("ascii")


def build(
    *,
    sender: Person,
    to: Sequence[Person] = (),
    cc: Sequence[Person] = (),
    subject: str = "Hello",
    plain: str | None = "Hello",
    html: str | None = None,
    charset: str = "utf-8",
    cte: str = "8bit",
    client: str = "gmail",
    message_id: str = "<test.0001@mail.example>",
    date: str = "Thu, 12 Nov 2026 10:02:11 -0500",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    attachments: Sequence[bytes] = (),
    header_charset: str = "utf-8",
) -> bytes:
    """One raw message in the shape of ``client`` (gmail, outlook, apple, thunderbird).

    ``plain`` and ``html`` make a multipart/alternative when both are given;
    ``attachments`` (already-built parts) wrap everything in multipart/mixed.
    """
    lines: list[str] = []
    if client == "outlook":
        lines += [f"From: {mailbox(sender, header_charset)}"]
    else:
        lines += ["MIME-Version: 1.0", f"Date: {date}", f"Message-ID: {message_id}"]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    subject_value = subject if subject.isascii() else encoded_word(subject, header_charset)
    lines.append(f"Subject: {subject_value}")
    if client != "outlook":
        lines.append(f"From: {mailbox(sender, header_charset)}")
    if to:
        lines.append("To: " + ",\r\n ".join(mailbox(p, header_charset) for p in to))
    if cc:
        lines.append("Cc: " + ",\r\n ".join(mailbox(p, header_charset) for p in cc))
    if client == "outlook":
        lines += [
            f"Thread-Topic: {subject_value}",
            "Thread-Index: AdXk1bQq7bm3pJ0wQ0G0j3m1y2s4QA==",
            f"Date: {date}",
            f"Message-ID: {message_id}",
            "Accept-Language: en-US",
            "X-MS-Has-Attach:",
            "X-Auto-Response-Suppress: All",
            "MIME-Version: 1.0",
        ]
    elif client == "apple":
        lines += ["X-Mailer: Apple Mail (2.3774.600.62)"]
    elif client == "thunderbird":
        lines += ["User-Agent: Mozilla Thunderbird", "Content-Language: en-US"]
    lines += [f"{name}: {value}" for name, value in headers]
    boundary = _BOUNDARIES.get(client, _BOUNDARIES["gmail"])
    leaves: list[bytes] = []
    if plain is not None:
        leaves.append(_leaf("text/plain", plain, charset, cte))
    if html is not None:
        leaves.append(_leaf("text/html", html, charset, cte))
    body = leaves[0] if len(leaves) == 1 else _multipart("alternative", boundary + "alt", leaves)
    if attachments:
        body = _multipart("mixed", boundary + "mix", [body, *attachments])
    return "\r\n".join(lines).encode("ascii") + b"\r\n" + body
