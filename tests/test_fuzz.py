"""Hostile and broken input: property tests seeded from real mail.

Every test starts from real messages — the fixtures in ``tests/data/mail``,
the shared samples, CPython's MIME test corpus, the talon and
email-reply-parser reply corpora — and applies the damage a shared inbox sees:
flipped bytes, duplicated headers, truncation, broken MIME boundaries, MIME
nested 200 deep, charsets that do not exist or are not text, headers of
100 000 characters, NUL bytes, raw 8-bit in headers, encoded CR/LF. Then:

- :func:`~refmail.reading.classifier.classify` never raises (we call the code under
  its last-resort ``except``, so a bug fails here instead of being hidden) and
  returns one of the four kinds with a reason, and its fields keep the
  ``refmail parse`` contract (an intro has a referrer and two parties …);
- :func:`~refmail.mail.reply.extract_reply` returns stripped text and never invents
  a line that was not in its input;
- :func:`~refmail.reading.command.parse_command` returns a valid command.

Work is bounded by bounding the inputs (a few hundred KB at most), not by
timing: ``deadline=None``. The number of examples comes from the hypothesis
profile (``tests/conftest.py``): ``ci`` by default, ``HYPOTHESIS_PROFILE=long``
for a long run. For coverage-guided fuzzing see ``bench/fuzz_classify.py``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared import SHARED

from refmail.config import Config, config_from_dict, load_config
from refmail.mail.message import parse_message
from refmail.mail.reply import extract_reply, extract_reply_html
from refmail.reading.classification import STATUSES, Classification, Command
from refmail.reading.classifier import classify, classify_parsed
from refmail.reading.command import parse_command

HERE = Path(__file__).parent
MAIL = HERE / "data" / "mail"
CORPUS = SHARED / "corpus"
KINDS = {"intro", "reply", "bounce", "ignored"}

# -- seeds ---------------------------------------------------------------------------------------


def _files(folder: Path, pattern: str) -> list[Path]:
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    assert found, f"no seed files {pattern} in {folder}"  # a moved corpus must not pass silently
    return found


MESSAGE_SEEDS: list[bytes] = [
    p.read_bytes()
    for p in [
        *_files(MAIL, "*.eml"),
        *_files(SHARED / "samples", "*.eml"),
        *_files(CORPUS / "mime" / "cpython-test-email", "msg_*.txt"),
        *_files(CORPUS / "replies" / "talon" / "standard_replies", "*.eml"),
    ]
]
TEXT_SEEDS: list[str] = [
    p.read_text("utf-8", "replace")
    for p in [
        *_files(CORPUS / "replies" / "email-reply-parser", "*.txt"),
        *_files(CORPUS / "replies" / "email-reply-parser" / "it", "*.txt"),
        *_files(CORPUS / "replies" / "talon" / "standard_replies", "*_reply_text"),
    ]
]
HTML_SEEDS: list[str] = [
    p.read_text("utf-8", "replace") for p in _files(CORPUS / "replies" / "talon" / "html_replies", "*.html")
]

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


# -- configs -------------------------------------------------------------------------------------


def _configs() -> list[Config]:
    base = load_config(MAIL / "group.toml")
    data = base.model_dump(exclude={"source"})
    open_group = {**data, "group": {**data["group"], "open_membership": True}}
    security = {"require_authenticated_sender": True, "authserv_id": "mx.harbornet.example"}
    strict = {**data, "security": security}
    return [base, config_from_dict(open_group), config_from_dict(strict)]


CONFIGS = _configs()

# -- damage to raw messages ---------------------------------------------------------------------

#: Charset labels that are unknown, not text codecs, stateful, or lie about the bytes.
BAD_CHARSETS = [
    "x-unknown", "utf-7", "UTF-7", "utf-16", "utf-32", "utf-16-be", "base64", "rot13", "zlib",
    "hex", "uu", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "", '""', "us-ascii",
    "iso-2022-jp", "shift_jis", "x-mac-roman", "cp1252", "utf-8\x00", "utf-8'en'", "\"utf-8",
    "../../etc/passwd", "a" * 300,
]
HEADER_NAMES = [
    "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
    "Content-Transfer-Encoding", "MIME-Version", "Date", "Return-Path", "Delivered-To",
    "Auto-Submitted", "List-Id", "Authentication-Results", "Reply-To",
]
SNIPPETS = [
    b"\x00", b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\r\n ", b"=?", b"?=", b"=?utf-8?b?", b"=?utf-8?q?",
    b"--", b"<", b">", b"@", b":", b";", b",", b'"', b"\\", b"(", b")", b"\xff\xfe", b"\xc3", b"\xe9",
    b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\x1b$B", b"+ADw-", b"=?x-unknown?q?=FF?=", b"=?utf-7?q?+AGA-?=",
    b"=?utf-8?q?a=0D=0ABcc:_x@evil.example?=", b"\r\nBcc: evil@x.example\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"\r\n--x\r\n", b"\r\n--x--\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"begin 644 x\r\n", b"\xe2\x80\xae", b"\xef\xbb\xbf",
]

Op = tuple[str, int, int, bytes]


def _split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """``(head, separator, body)`` at the first empty line (CRLF or LF)."""
    match = re.search(rb"\r?\n\r?\n", data)
    if not match:
        return data, b"", b""
    return data[: match.start()], data[match.start() : match.end()], data[match.end() :]


def _header_lines(head: bytes) -> list[bytes]:
    """Header fields with their folded continuation lines, each ending in a newline."""
    lines = head.splitlines(keepends=True)
    fields: list[bytes] = []
    for line in lines:
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    if fields and not fields[-1].endswith(b"\n"):
        fields[-1] += b"\r\n"
    return fields


def _nest(data: bytes, depth: int, kind: str) -> bytes:
    """The message with its body wrapped ``depth`` levels deep in ``kind`` containers."""
    head, _sep, body = _split(data)
    fields = _header_lines(head)
    outer = [f for f in fields if not f.lower().startswith((b"content-", b"mime-version"))]
    inner = [f for f in fields if f.lower().startswith(b"content-")] or [b"Content-Type: text/plain\r\n"]
    leaf = b"".join(inner) + b"\r\n" + body
    for level in range(depth, 0, -1):
        if kind == "message/rfc822":
            leaf = b"Content-Type: message/rfc822\r\n\r\nSubject: level %d\r\n" % level + leaf
        else:
            boundary = b"nest%d" % level
            leaf = (
                b"Content-Type: " + kind.encode() + b'; boundary="' + boundary + b'"\r\n\r\n'
                b"--" + boundary + b"\r\n" + leaf + b"\r\n--" + boundary + b"--\r\n"
            )
    return b"MIME-Version: 1.0\r\n" + b"".join(outer) + leaf


def _corrupt_boundary(data: bytes, mode: int) -> bytes:
    match = re.search(rb'boundary="?([^";\r\n]+)"?', data, re.IGNORECASE)
    if not match:
        return data
    boundary = match.group(1)
    if mode == 0:  # no closing delimiter
        return data.replace(b"--" + boundary + b"--", b"")
    if mode == 1:  # the declared boundary never appears
        return data[: match.start(1)] + b"other" + data[match.end(1) :]
    if mode == 2:  # an empty boundary
        return data[: match.start()] + b'boundary=""' + data[match.end() :]
    if mode == 3:  # every delimiter gone
        return data[: match.end()] + data[match.end() :].replace(b"--" + boundary, b"")
    return data.replace(b"--" + boundary, b"--" + boundary + b"\r\n--" + boundary, 3)  # empty parts


def _huge_header(data: bytes, which: int, size: int) -> bytes:
    """A header of up to ~100 000 characters in one of several shapes."""
    if which == 0:
        value = b"x" * size  # one enormous word
    elif which == 1:
        value = b", ".join(b"p%d@many.example" % i for i in range(size // 18))  # thousands of recipients
    elif which == 2:
        value = b" ".join(b"<id%d@thread.example>" % i for i in range(size // 20))  # endless References
    elif which == 3:
        value = b" ".join(b"=?utf-8?b?w6k=?=" for _ in range(size // 17))  # encoded words
    else:
        value = b"\r\n ".join(b"(" * 40 + b"a" + b")" * 40 for _ in range(size // 84))  # nested comments
    name = [b"Subject", b"To", b"References", b"From", b"Received"][which]
    return name + b": " + value + b"\r\n" + data


def _with_charset(data: bytes, charset: str) -> bytes:
    label = charset.encode("utf-8", "surrogateescape")
    if re.search(rb"charset=", data, re.IGNORECASE):
        return re.sub(rb'charset="?[^";\s]*"?', b'charset="' + label.replace(b"\\", b"") + b'"', data,
                      flags=re.IGNORECASE)
    return b'Content-Type: text/plain; charset="' + label + b'"\r\n' + data


def _encoded_header(data: bytes, name: str, charset: str, payload: bytes, b64: bool) -> bytes:
    import base64

    if b64:
        word = b"=?" + charset.encode("utf-8", "replace") + b"?b?" + base64.b64encode(payload) + b"?="
    else:
        word = b"=?" + charset.encode("utf-8", "replace") + b"?q?" + b"".join(
            b"=%02X" % c for c in payload
        ) + b"?="
    return name.encode() + b": " + word + b" <enc@word.example>\r\n" + data


def apply(seed: bytes, ops: list[Op]) -> bytes:
    """Apply damage ``ops`` to ``seed``; each op is ``(kind, a, b, chunk)``."""
    data = seed
    for kind, a, b, chunk in ops:
        at = a % (len(data) + 1)
        if kind == "flip" and data:
            i = a % len(data)
            data = data[:i] + bytes([data[i] ^ (b % 255 + 1)]) + data[i + 1 :]
        elif kind == "insert":
            data = data[:at] + chunk + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + b % 64 :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "dup_header":
            head, sep, body = _split(data)
            fields = _header_lines(head)
            if fields:
                field = fields[a % len(fields)]
                fields[a % len(fields) : a % len(fields)] = [field] * (b % 50 + 1)
                data = b"".join(fields).rstrip(b"\r\n") + (sep or b"\r\n\r\n") + body
        elif kind == "add_header":
            name = HEADER_NAMES[a % len(HEADER_NAMES)].encode()
            data = name + b": " + chunk + b"\r\n" + data
        elif kind == "header_bytes":
            head, sep, body = _split(data)
            i = a % (len(head) + 1)
            data = head[:i] + chunk + head[i:] + sep + body
        elif kind == "nest":
            data = _nest(data, b % 200 + 1, ["multipart/mixed", "multipart/alternative",
                                             "multipart/related", "message/rfc822"][a % 4])
        elif kind == "boundary":
            data = _corrupt_boundary(data, a % 5)
        elif kind == "charset":
            data = _with_charset(data, BAD_CHARSETS[a % len(BAD_CHARSETS)])
        elif kind == "encoded_header":
            data = _encoded_header(data, ["Subject", "From", "To", "Cc"][a % 4],
                                   BAD_CHARSETS[b % len(BAD_CHARSETS)], chunk, bool(a & 4))
        elif kind == "huge_header":
            data = _huge_header(data, a % 5, 1000 + b % 100_000)
        elif kind == "line_ends":
            data = [data.replace(b"\r\n", b"\n"), data.replace(b"\r\n", b"\r"),
                    data.replace(b"\n", b"\r\n")][a % 3]
        if len(data) > 600_000:  # keep the work bounded whatever the op sequence
            data = data[:600_000]
    return data


OPS = st.tuples(
    st.sampled_from([
        "flip", "insert", "delete", "truncate", "dup_header", "add_header", "header_bytes", "nest",
        "boundary", "charset", "encoded_header", "huge_header", "line_ends",
    ]),
    st.integers(min_value=0, max_value=1 << 24),
    st.integers(min_value=0, max_value=1 << 24),
    st.sampled_from(SNIPPETS) | st.binary(min_size=1, max_size=40),
)


# -- the properties -------------------------------------------------------------------------------


def check_classification(raw: bytes, config: Config) -> Classification:
    """The ``refmail parse`` contract holds for whatever ``raw`` is."""
    # classify_parsed, not classify: classify's last-resort except would hide a bug.
    result = classify_parsed(parse_message(raw), config)
    assert result.kind in KINDS
    assert isinstance(result.reason, str) and result.reason.strip()
    json.dumps(result.to_json())
    tracker = config.group.tracking_address
    if result.kind == "intro":
        assert result.referrer and len(result.parties) >= 2
        assert result.referrer not in result.parties
        assert len(set(result.parties)) == len(result.parties)
        assert result.provider is None or result.provider in result.parties
        assert set(result.prospects) <= set(result.parties) - {result.provider}
        assert not any(config.is_tracking_address(p) for p in result.parties)
        assert tracker != result.referrer
    if result.kind == "reply":
        assert isinstance(result.reply_text, str) and isinstance(result.command, Command)
    for address in [result.referrer, result.provider, *result.parties, *result.prospects]:
        if address is not None:
            assert address == address.lower() and "@" in address
    return result


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.sampled_from(MESSAGE_SEEDS), ops=st.lists(OPS, min_size=1, max_size=8),
       config=st.sampled_from(CONFIGS))
def test_classify_survives_damaged_real_mail(seed: bytes, ops: list[Op], config: Config) -> None:
    check_classification(apply(seed, ops), config)


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.sampled_from(MESSAGE_SEEDS), depth=st.integers(min_value=1, max_value=200),
       kind=st.integers(min_value=0, max_value=3), extra=st.lists(OPS, max_size=3))
def test_classify_survives_deep_nesting(seed: bytes, depth: int, kind: int, extra: list[Op]) -> None:
    check_classification(apply(seed, [("nest", kind, depth - 1, b""), *extra]), CONFIGS[0])


@pytest.mark.parametrize("depth", [200, 1000, 5000])
@pytest.mark.parametrize("kind", ["multipart/mixed", "message/rfc822"])
def test_absurd_nesting_is_cut_not_followed(depth: int, kind: str) -> None:
    raw = _nest((MAIL / "intro-cc.eml").read_bytes(), depth, kind)
    result = check_classification(raw, CONFIGS[0])
    assert result.kind in KINDS
    assert classify(raw, CONFIGS[0]).kind == result.kind


@pytest.mark.parametrize("charset", BAD_CHARSETS)
def test_every_bad_charset_in_body_and_headers(charset: str) -> None:
    seed = (MAIL / "intro-cc.eml").read_bytes()
    for raw in (
        _with_charset(seed, charset),
        _encoded_header(seed, "Subject", charset, "Grüße\r\nBcc: x@evil.example".encode(), True),
        _encoded_header(seed, "From", charset, b"\xff\xfe\x00<", False),
    ):
        check_classification(raw, CONFIGS[0])


@pytest.mark.parametrize("which", range(5))
def test_hundred_thousand_character_headers(which: int) -> None:
    for seed in (MAIL / "intro-cc.eml", MAIL / "reply-all-thread.eml"):
        check_classification(_huge_header(seed.read_bytes(), which, 100_000), CONFIGS[0])


# -- replies and commands -------------------------------------------------------------------------

TEXT_SNIPPETS = [
    "\x00", "\r", "\r\n", "\n\n", "> ", ">" * 500 + " deep",
    "On Mon, Jan 1, 2024 at 9:00 AM Someone <a@b.example> wrote:",
    "-----Original Message-----", "From: A\nSent: Monday\nTo: B\nSubject: x", "-- \n", "Sent from my iPhone",
    "_" * 40, "\u202e", "\ufeff", "\u2028", "WON $4,500", "WON " + "9" * 400 + "k", "STOP", "9" * 5000,
    "x" * 50_000, "\n" * 2000, "> quoted\n" * 2000, "=?utf-8?q?a=0D=0ABcc:_x?=", "<script>alert(1)</script>",
]

TEXT_OPS = st.tuples(
    st.sampled_from(["insert", "delete", "truncate", "dup_line"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.sampled_from(TEXT_SNIPPETS) | st.text(max_size=40),
)


def apply_text(seed: str, ops: list[tuple[str, int, str]]) -> str:
    text = seed
    for kind, a, chunk in ops:
        at = a % (len(text) + 1)
        if kind == "insert":
            text = text[:at] + chunk + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + len(chunk) + 1 :]
        elif kind == "truncate":
            text = text[:at]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                i = a % len(lines)
                lines[i:i] = [lines[i]] * (len(chunk) % 20 + 1)
                text = "".join(lines)
        text = text[:300_000]
    return text


def check_command(command: Command) -> None:
    assert isinstance(command, Command)
    assert command.status is None or command.status in STATUSES
    assert isinstance(command.thanks, bool) and isinstance(command.stop, bool)
    if command.value is not None:
        assert command.status == "won"
        assert math.isfinite(command.value) and command.value >= 0
    if command.currency is not None:
        assert re.fullmatch(r"[A-Z]{3}", command.currency)


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")}


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.sampled_from(TEXT_SEEDS), ops=st.lists(TEXT_OPS, max_size=8))
def test_extract_reply_survives_damaged_real_replies(seed: str, ops: list[tuple[str, int, str]]) -> None:
    text = apply_text(seed, ops)
    reply = extract_reply(text)
    assert reply == reply.strip()
    # Quote and signature removal only removes: every line it keeps was in the input.
    invented = {line for line in _lines(reply) if line} - _lines(text)
    assert not invented, sorted(invented)[:3]
    check_command(parse_command(reply))
    check_command(parse_command(text))


def _deep_html(depth: int, tag: str) -> str:
    return f"<{tag}>" * depth + "inner words" + f"</{tag}>" * depth


HTML_SNIPPETS = [
    _deep_html(200, "blockquote"), _deep_html(1000, "div"), _deep_html(300, "table"),
    '<div class="gmail_quote">' * 50, "<blockquote", "<!--", "<![CDATA[", "</html>", "<html>",
    '<?xml version="1.0" encoding="utf-16"?>', '<meta charset="x-unknown">', "\x00", "&#0;", "&#xD800;",
    '<div id="divRplyFwdMsg">', "<hr>", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
    "<p>" + "x" * 50_000, "<br>" * 3000,
]


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.sampled_from(HTML_SEEDS),
       ops=st.lists(st.tuples(st.sampled_from(["insert", "delete", "truncate", "dup_line"]),
                              st.integers(min_value=0, max_value=1 << 20),
                              st.sampled_from(HTML_SNIPPETS) | st.text(max_size=30)), max_size=6))
def test_extract_reply_survives_damaged_html_replies(seed: str, ops: list[tuple[str, int, str]]) -> None:
    html = apply_text(seed, ops)
    reply = extract_reply("", html=html)
    assert isinstance(reply, str) and reply == reply.strip()
    assert isinstance(extract_reply_html(html), str)
    check_command(parse_command(reply))


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(first=st.sampled_from(["WON", "won", "Won:", "WON -", "gewonnen", "LOST", "NO FIT", "STOP", "THANKS"]),
       amount=st.sampled_from(["", "$", "€", "CHF ", "US$"]),
       digits=st.text(alphabet="0123456789.,' kKmM", min_size=1, max_size=600),
       suffix=st.sampled_from(["", "k", " EUR", " dollars", "m", " million", " %", " months"]),
       rest=st.sampled_from(TEXT_SEEDS))
def test_parse_command_on_any_amount(first: str, amount: str, digits: str, suffix: str, rest: str) -> None:
    check_command(parse_command(f"{first} {amount}{digits}{suffix}\n\n{rest}"))


@pytest.mark.parametrize("text", ["WON " + "9" * 400 + "k", "WON " + "9" * 309 + " EUR", "WON 1e999",
                                  "WON " + "9" * 400 + " million dollars"])
def test_parse_command_on_astronomical_amounts(text: str) -> None:
    # float("9" * 400) is inf; int(inf) raises OverflowError.
    command = parse_command(text)
    check_command(command)
    assert command.status == "won"
