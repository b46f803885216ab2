"""``bench/classify_diff.py``: what a change to classification changes, shown, not guessed.

The comparison must find a difference wherever there is one and say which rule
gave way to which; the whole tool must run against a git revision of this
checkout, as a developer runs it before landing a change to ``refmail/reading``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import classify_diff  # noqa: E402


def _dump(path: Path, rows: list[tuple[str, str, dict[str, object]]]) -> Path:
    path.write_text("".join(json.dumps(list(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def test_compare_finds_each_difference_and_names_the_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = {"kind": "ignored", "reason": "list", "rule": "list_mail", "as_intro": None}
    intro = {"kind": "intro", "reason": "introduction", "rule": "intro", "as_intro": None}
    note = {"kind": "ignored", "reason": "note with no second party", "rule": "no_second_party",
            "as_intro": None}
    base = _dump(tmp_path / "base.jsonl", [("000000", "group", same), ("000001", "group", intro)])
    head = _dump(tmp_path / "head.jsonl", [("000000", "group", same), ("000001", "group", note)])
    differ = classify_diff.compare(base, head, ["a.eml", "b.eml"], show=1)
    out = capsys.readouterr().out
    assert differ == 1
    assert "b.eml under group: kind, reason, rule" in out and "a.eml" not in out
    assert "intro → no_second_party (kind, reason, rule)" in out
    assert "2 classifications of 2 messages: 1 differ" in out


def test_a_field_new_on_one_side_is_named_and_not_a_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = {"kind": "intro", "reason": "x", "as_intro": {"kind": "intro", "reason": "y", "as_intro": None}}
    new = {**old, "rule": "intro", "as_intro": {**old["as_intro"], "rule": "intro"}}  # type: ignore[dict-item]
    base = _dump(tmp_path / "base.jsonl", [("000000", "group", old)])
    head = _dump(tmp_path / "head.jsonl", [("000000", "group", new)])
    assert classify_diff.compare(base, head, ["a.eml"], show=5) == 0
    out = capsys.readouterr().out
    assert "fields on one side only (not compared): rule" in out and ": 0 differ" in out


def test_the_tool_runs_against_a_revision_of_this_checkout() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "classify_diff.py"), "--base", "HEAD", "--n", "3", "--show", "0"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "classifications of" in done.stdout and "messages:" in done.stdout
    assert done.stderr.count("classified in") == 2  # once with HEAD, once with the checkout
