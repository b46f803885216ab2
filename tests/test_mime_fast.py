"""The fast MIME reader builds exactly the tree the standard parser builds, or declines.

:func:`refmail.mail.mime.read_simple` replaces ``BytesParser(policy=compat32)`` for the
shapes nearly all mail has; :func:`refmail.mail.message.parse_message` falls back to the
standard parser whenever it returns None. Whenever it accepts a message, its
``Message`` tree must equal the standard one field for field (headers, payloads,
preamble, epilogue, defects), and so must the :class:`ParsedMessage` built from it.
Checked on every real message of the test and shared corpora, on the generated
benchmark mail, on those damaged the ways :mod:`test_fuzz` damages mail, and on
MIME built to hit the reader's edges: line ends mixed or lone, delimiter lines
with trailing blanks or junk, adjacent and missing delimiters, preambles and
epilogues that look like delimiters, parts without headers or without a blank line.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared import SHARED
from test_fuzz import MESSAGE_SEEDS, OPS, SUPPRESS, Op, apply

import refmail.mail.message
from refmail.mail.message import ParsedMessage, parse_message
from refmail.mail.mime import read_simple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import corpus

MAIL = Path(__file__).parent / "data" / "mail"
CPYTHON = SHARED / "corpus" / "mime" / "cpython-test-email"
ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
GENERATED = [m.raw for m in corpus.generate(7, 150, group=corpus.make_group(7), anchor=ANCHOR)]
SEEDS = [*MESSAGE_SEEDS, *GENERATED[:40]]
ALL_FILES = sorted(
    p for p in [*MAIL.rglob("*"), *SHARED.rglob("*")] if p.is_file() and "hooks" not in p.parts
)


def _tree(msg: Message) -> Any:
    """Everything a compat32 Message holds, comparable with ==."""
    state = dict(vars(msg))
    payload = state.pop("_payload")
    state["defects"] = [(type(d).__name__, str(d)) for d in state["defects"]]
    state["policy"] = id(state["policy"])
    children = [_tree(p) for p in payload] if isinstance(payload, list) else payload
    return type(msg), sorted(state.items()), children


def _full_parse(raw: bytes) -> ParsedMessage:
    """parse_message with the fast reader declining everything: the standard parser only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(refmail.mail.message, "read_simple", lambda _raw: None)
        return parse_message(raw)


def check_same(raw: bytes) -> bool:
    """True when the fast reader accepted ``raw`` (and then built the standard tree)."""
    fast = read_simple(raw)
    if fast is None:
        return False
    assert _tree(fast) == _tree(BytesParser(policy=compat32).parsebytes(raw))
    return True


def check_same_parsed(raw: bytes) -> bool:
    accepted = check_same(raw)
    if accepted:
        full = _full_parse(raw)
        fast = parse_message(raw)
        assert fast == full
        assert fast.html_text == full.html_text
        assert fast.headers == full.headers
    return accepted


# -- real and generated mail --------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_corpus_file_reads_the_same(path: Path) -> None:
    check_same_parsed(path.read_bytes())


def test_the_common_shapes_take_the_fast_path() -> None:
    """The check above is only worth something if the fast path is taken: it must be,
    for every generated message (multipart/alternative) and the plain real samples."""
    assert all(check_same_parsed(raw) for raw in GENERATED)
    for path in [*MAIL.glob("*.eml"), *(SHARED / "samples").glob("*.eml")]:
        if path.name not in ("dsn-bounce.eml", "fwd-attachment.eml"):  # message/* inside
            assert check_same_parsed(path.read_bytes()), path.name
    accepted = [p.name for p in sorted(CPYTHON.glob("msg_*.txt")) if check_same(p.read_bytes())]
    assert len(accepted) >= 20, accepted


@pytest.mark.parametrize(
    "name, why",
    [
        ("msg_02.txt", "multipart/digest"),
        ("msg_05.txt", "multipart/report with message/rfc822"),
        ("msg_06.txt", "message/rfc822"),
        ("msg_15.txt", "inner multipart reuses the outer boundary"),
        ("msg_17.txt", "no start delimiter"),
        ("msg_25.txt", "Unix From line, no boundary"),
        ("msg_37.txt", "adjacent delimiters"),
        ("msg_38.txt", "delimiter-like lines inside parts"),
        ("msg_47.txt", "parts without a blank line"),
    ],
)
def test_odd_shapes_go_to_the_standard_parser(name: str, why: str) -> None:
    assert read_simple((CPYTHON / name).read_bytes()) is None, why


# -- one edit at a time to a message the fast path takes ------------------------------------------

BASE = """From: Ann <ann@x.example>
To: bo@x.example
Subject: hi
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

preamble
--b
Content-Type: multipart/alternative; boundary="c"

--c
Content-Type: text/plain; charset=utf-8

plain
--c
Content-Type: text/html; charset=utf-8

<p>html</p>
--c--
EPI
--b
Content-Type: application/pdf; name=a.pdf
Content-Disposition: attachment; filename=a.pdf
Content-Transfer-Encoding: base64

JVBERi0=
--b--
after
"""

#: (what, replace this, by that) in BASE; each one is read both ways, with LF and with CRLF.
EDITS = [
    ("as is", "", ""),
    *[(f"delimiter tail {tail!r}", "--b\nContent-Type: application", f"--b{tail}\nContent-Type: application")
      for tail in [" ", "\t", " \t ", "x", "\x0c", "\x0b", "\x1c", "\x85", "-", "--x", "---", "-- "]],
    *[(f"close tail {tail!r}", "--b--\n", f"--b--{tail}\n") for tail in [" ", "\t", "x", "\x0c", "--", "-"]],
    *[(f"inner epilogue {e!r}", "EPI\n", e) for e in ["", "\n", "\r\n", "x\n", "\n\n", "--c\n", "--c--\n"]],
    *[(f"preamble {e!r}", "preamble\n", e) for e in ["", "\n", "\n\n", "--bx\n", "\r--b\n"]],
    *[(f"epilogue {e!r}", "after\n", e) for e in ["", "after", "\n", "--b\n", "--b--\n", "--b\n\nx\n--b--\n",
                                                     "x\r--b\n"]],
    ("no close delimiter", "--b--\n", ""),
    ("close delimiter without a line end", "--b--\nafter\n", "--b--"),
    ("adjacent delimiters", "--b\nContent-Type: application", "--b\n--b\nContent-Type: application"),
    ("delimiter then close", "--b\nContent-Type: application", "--b\n--b--\nContent-Type: application"),
    ("a lone CR before a delimiter", "plain\n--c", "plain\r--c"),
    ("a lone CR in a body", "plain\n", "pl\rain\n"),
    ("a lone CR in a header", "Subject: hi", "Subject: h\ri"),
    ("CRLF and LF mixed", "plain\n", "plain\r\n"),
    ("a part without headers", "Content-Type: text/plain; charset=utf-8\n\nplain", "\nplain"),
    ("a part without a blank line", "Content-Type: text/plain; charset=utf-8\n\nplain",
     "Content-Type: text/plain; charset=utf-8\nplain"),
    ("a part of headers only", "Content-Type: text/plain; charset=utf-8\n\nplain\n",
     "Content-Type: text/plain; charset=utf-8\n"),
    ("an empty part body", "\nplain\n", "\n"),
    ("same boundary nested", 'boundary="c"', 'boundary="b"'),
    ("empty boundary", 'boundary="b"', 'boundary=""'),
    ("regex characters in the boundary", '"b"', '"b.+(x)*"'),
    ("no boundary", '; boundary="b"', ""),
    ("digest", "multipart/mixed", "multipart/digest"),
    ("report", "multipart/mixed", "multipart/report; report-type=delivery-status"),
    ("message/rfc822 part", "application/pdf; name=a.pdf", "message/rfc822"),
    ("delivery-status part", "application/pdf; name=a.pdf", "message/delivery-status"),
    *[(f"multipart transfer encoding {cte}", "MIME-Version: 1.0\n",
       f"MIME-Version: 1.0\nContent-Transfer-Encoding: {cte}\n")
      for cte in ["base64", "quoted-printable", "7bit", "8BIT", "binary", "x"]],
    ("Unix From line", "From: Ann", "From ann@x.example Mon Jan  1 00:00:00 2024\nFrom: Ann"),
    ("From line later", "To: bo", "From ann@x.example Mon\nTo: bo"),
    ("leading fold", "From: Ann", " folded\nFrom: Ann"),
    ("missing name", "To: bo", ": bo"),
    ("missing colon", "To: bo@x.example\n", "To bo@x.example\n"),
    ("folded header", "Subject: hi", "Subject: hi\n\tthere\n  again"),
    ("blank after colon", "Subject: hi", "Subject:   \n hi"),
    ("no headers at all", BASE.split("\n\n", 1)[0] + "\n\n", "\n"),
    ("no blank line after the headers", "MIME-Version: 1.0\n", "MIME-Version: 1.0\nbody line\n"),
    *[(f"{char!r} in a header", "Subject: hi", f"Subject: h{char}i") for char in
      ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\x00", "\xe9"]],
    ("text/plain message", 'multipart/mixed; boundary="b"', "text/plain"),
]


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("what, old, new", EDITS, ids=[e[0] for e in EDITS])
def test_one_edit_reads_the_same(what: str, old: str, new: str, eol: str) -> None:
    assert old in BASE, what
    text = BASE.replace(old, new, 1).replace("\n", eol).replace("\r\r\n", "\r\n")
    check_same_parsed(text.encode("utf-8", "surrogateescape"))


def test_the_base_of_the_edits_takes_the_fast_path() -> None:
    assert check_same_parsed(BASE.encode()) and check_same_parsed(BASE.replace("\n", "\r\n").encode())


# -- damaged mail ---------------------------------------------------------------------------------


@settings(deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.sampled_from(SEEDS), ops=st.lists(OPS, min_size=1, max_size=6))
def test_damaged_mail_reads_the_same(seed: bytes, ops: list[Op]) -> None:
    check_same_parsed(apply(seed, ops))


# -- MIME built to hit the edges ------------------------------------------------------------------

EOLS = st.sampled_from(["\r\n", "\n"])
ODD_EOLS = st.sampled_from(["\r\n", "\n", "\r", ""])
TEXT = st.sampled_from(["Hello", "", " ", "--b", "--b--", "--b ", "--c", "From me", "=?utf-8?q?x?=", "a:b",
                        "\t folded", "caf\u00e9", "x\x0by", "x\x85y", "<p>hi</p>", "--", "-- "])
GOOD_FIELDS = st.sampled_from(["From: A <a@x.example>", "To: b@x.example", "Subject: hi", "Subject:",
                               "Subject:   spaced", "X-Eight: caf\u00e9", "MIME-Version: 1.0",
                               "Content-Transfer-Encoding: quoted-printable",
                               "Content-Disposition: attachment; filename=a.txt"])
BAD_FIELDS = st.sampled_from([" folded line", "\tfolded tab", "From x@y Mon", ":no name", "No colon",
                              "X-Vt: a\x0bb", "X-Ff: a\x0cb", "X-Fs: a\x1cb", "X-Nel: a\x85b",
                              "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: 7bit"])
BOUNDARIES = st.sampled_from(["b", "b", "c", "=_b", "b c", "", "b--", "-b"])
SUBTYPES = st.sampled_from(["mixed", "mixed", "alternative", "alternative", "related", "digest", "report"])
LEAVES = st.sampled_from(["text/plain", "text/plain", "text/html", "application/pdf", "message/rfc822",
                          "message/delivery-status", None])
DELIMITER_TAILS = st.sampled_from([" ", "\t ", "x", "--", "-"])


def _odd(draw: st.DrawFn, rate: int, usual: str, odd: st.SearchStrategy[str]) -> str:
    """Mostly ``usual``; one time in ``rate`` something from ``odd`` (never when ``rate`` is 0)."""
    return draw(odd) if rate and not draw(st.integers(0, rate - 1)) else usual


@st.composite
def _lines(draw: st.DrawFn, items: st.SearchStrategy[str], eol: str, rate: int, most: int = 3) -> str:
    return "".join(line + _odd(draw, rate, eol, ODD_EOLS) for line in draw(st.lists(items, max_size=most)))


@st.composite
def _entity(draw: st.DrawFn, rate: int | None = None, depth: int = 0) -> str:
    """One message or part; ``rate`` is how rarely something is off (0: never), drawn once a message."""
    if rate is None:
        rate = draw(st.sampled_from([0, 0, 5, 20]))
    eol = draw(EOLS)
    fields = st.one_of(GOOD_FIELDS, BAD_FIELDS) if rate and not draw(st.integers(0, rate)) else GOOD_FIELDS
    head = draw(_lines(fields, eol, rate))
    if depth < 3 and draw(st.booleans()):
        boundary = draw(BOUNDARIES)
        head += f'Content-Type: multipart/{draw(SUBTYPES)}; boundary="{boundary}"{eol}'
        head += draw(_lines(fields, eol, rate, 2))
        body = draw(_lines(TEXT, eol, rate, 2))  # preamble
        for _ in range(draw(st.integers(1 if not rate else 0, 3))):
            body += f"--{boundary}{_odd(draw, rate, '', DELIMITER_TAILS)}{_odd(draw, rate, eol, ODD_EOLS)}"
            body += draw(_entity(rate, depth + 1)) + _odd(draw, rate, eol, ODD_EOLS)
        if not rate or draw(st.integers(0, 5)):
            body += f"--{boundary}--{_odd(draw, rate, '', DELIMITER_TAILS)}{_odd(draw, rate, eol, ODD_EOLS)}"
        body += draw(_lines(TEXT, eol, rate, 2))  # epilogue
    else:
        leaf = draw(LEAVES)
        if leaf:
            head += f"Content-Type: {leaf}; charset=utf-8{eol}"
        body = draw(_lines(TEXT, eol, rate))
    return head + _odd(draw, rate, eol, ODD_EOLS) + body


@settings(deadline=None, max_examples=500)
@given(_entity())
def test_built_mime_reads_the_same(text: str) -> None:
    check_same_parsed(text.encode("utf-8", "surrogateescape"))


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(GENERATED), st.data())
def test_generated_mail_with_one_line_changed_reads_the_same(raw: bytes, data: st.DataObject) -> None:
    """Small, MIME-relevant edits to a message the fast path takes: line ends, blanks
    after delimiters, a delimiter line duplicated or dropped, a stray delimiter in a part."""
    lines = raw.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1))
    edit = data.draw(st.sampled_from(["lf", "cr", "crlf", "blank", "dup", "drop", "stray", "tail", "vt"]))
    line = lines[i]
    if edit == "lf":
        lines[i] = line.rstrip(b"\r\n") + b"\n"
    elif edit == "cr":
        lines[i] = line.rstrip(b"\r\n") + b"\r"
    elif edit == "crlf":
        lines[i] = line.rstrip(b"\r\n") + b"\r\n"
    elif edit == "blank":
        lines[i] = line.rstrip(b"\r\n") + data.draw(st.sampled_from([b" ", b"\t", b"--", b"-- "])) + b"\r\n"
    elif edit == "dup":
        lines.insert(i, line)
    elif edit == "drop":
        del lines[i]
    elif edit == "stray":
        delimiters = [x for x in lines if x.startswith(b"--")]
        if delimiters:
            lines.insert(i, data.draw(st.sampled_from(delimiters)))
    elif edit == "tail":
        lines.append(data.draw(st.sampled_from([b"--", b"\r\n", b"x", b"--b--"])))
    else:
        lines[i] = line[:1] + b"\x0b" + line[1:]
    check_same_parsed(b"".join(lines))
