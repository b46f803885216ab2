"""Measure refmail.mail.reply against the reply corpus in /work/shared/corpus/replies.

Follows the comparison rules of the corpus README exactly:

- ``eml``: first ``text/plain`` part, payload decoded (transfer encoding) then
  read as UTF-8, through the plain-text extractor;
- ``html``: :func:`refmail.mail.reply.extract_reply_html` on the file read as UTF-8,
  the result converted to text (``html_text``), compared with all whitespace
  removed;
- ``text``: the whole file through the plain-text extractor;
- ``match``: exact / startswith / contains; ``normalize``: none / strip /
  remove_whitespace.

The plain-text extractor is :func:`refmail.mail.reply.extract_reply`, what refmail
reads. Two talon expectations keep a signature (talon's quote extractor does
not remove them) while the SPEC asks refmail to remove it, so a second figure
measures the quote stage alone (:func:`refmail.mail.reply.strip_quotes`) on the
same entries.

Run: .venv/bin/python bench/reply_corpus.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import difflib
import email
import email.message
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import html_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refmail.mail.reply import extract_reply, extract_reply_html, strip_quotes  # noqa: E402

_BESIDE = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "replies"
DEFAULT_CORPUS = Path(
    os.environ.get(
        "REFMAIL_REPLY_CORPUS",
        str(_BESIDE if _BESIDE.is_dir() else Path("/work/shared/corpus/replies")),
    )
)
COMMAND = ".venv/bin/python bench/reply_corpus.py"


@dataclass(frozen=True)
class Outcome:
    entry: dict[str, str]
    output: str
    passed: bool


def _first_plain_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")
    raise ValueError("no text/plain part")


def _normalize(value: str, how: str) -> str:
    if how == "strip":
        return value.strip()
    if how == "remove_whitespace":
        return re.sub(r"\s", "", value)
    if how == "none":
        return value
    raise ValueError(f"unknown normalize {how!r}")


def _compare(output: str, expected: str, entry: dict[str, str]) -> bool:
    how = entry["normalize"]
    output = _normalize(output, how)
    if how == "remove_whitespace":
        expected = _normalize(expected, how)
    match = entry["match"]
    if match == "exact":
        return output == expected
    if match == "startswith":
        return output.startswith(expected)
    if match == "contains":
        return expected in output
    raise ValueError(f"unknown match {match!r}")


def run(corpus: Path, plain: Callable[[str], str] = extract_reply) -> list[Outcome]:
    """Every expected.json entry, extracted and compared."""
    entries = json.loads((corpus / "expected.json").read_text("utf-8"))
    outcomes = []
    for entry in entries:
        path = corpus / entry["file"]
        fmt = entry["format"]
        if fmt == "eml":
            output = plain(_first_plain_text(path.read_bytes()))
        elif fmt == "text":
            output = plain(path.read_text("utf-8"))
        elif fmt == "html":
            output = html_text.extract_text(extract_reply_html(path.read_text("utf-8")))
        else:
            raise ValueError(f"unknown format {fmt!r}")
        outcomes.append(Outcome(entry, output, _compare(output, entry["expected_reply"], entry)))
    return outcomes


def pass_rate(outcomes: list[Outcome]) -> float:
    return sum(o.passed for o in outcomes) / len(outcomes)


def _diff(outcome: Outcome) -> str:
    expected = outcome.entry["expected_reply"].splitlines()
    got = outcome.output.splitlines()
    lines = list(difflib.unified_diff(expected, got, "expected", "got", lineterm="", n=1))
    shown = lines[:14] + (["    …"] if len(lines) > 14 else [])
    return "\n".join("    " + line for line in shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    outcomes = run(args.corpus)
    passed = sum(o.passed for o in outcomes)
    print(f"extract_reply: {passed}/{len(outcomes)} passed ({100 * passed / len(outcomes):.1f}%)")
    for o in outcomes:
        if not o.passed:
            e = o.entry
            print(f"  FAIL {e['file']} ({e['format']}, {e['match']}, {e['normalize']})")
            print(_diff(o))
    quotes = run(args.corpus, strip_quotes)
    qpassed = sum(o.passed for o in quotes)
    print(f"quote stage only (strip_quotes): {qpassed}/{len(quotes)} passed "
          f"({100 * qpassed / len(quotes):.1f}%)")
    for o in quotes:
        if not o.passed:
            print(f"  FAIL {o.entry['file']}")
    print(f"reproduce: {COMMAND}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
