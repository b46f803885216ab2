"""`refmail demo`: the embedded default runs the real pipeline and explains itself."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from demo_expectations import DEMO_EXPECTED
from rich.console import Console

from refmail.demo.runner import demo_messages, run_demo


def test_demo_outcomes_match_the_documented_inbox(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_demo(tmp_path, console=Console(file=out, width=200))
    outcomes = result.outcomes
    names = [name for name, _ in demo_messages()]
    assert [o.outcome for o in outcomes] == [DEMO_EXPECTED[n[:2]][0] for n in names]
    for name, outcome in zip(names, outcomes, strict=True):
        want, referrer, provider, prospects = DEMO_EXPECTED[name[:2]]
        if want == "created":
            verdict = outcome.classification
            assert verdict is not None
            assert (verdict.referrer, verdict.provider, verdict.prospects) == (
                referrer, provider, prospects), name
    text = out.getvalue()
    assert "9 referrals tracked from 15 messages" in text
    assert "roles unknown" in text
    # The lifecycle act: replies change statuses and refmail answers.
    steps = [(m.referral, m.step, m.to) for m in result.sent]
    assert ("R-2", "relay_thanks", "mei@chencpa.example") in steps
    assert ("R-2", "closed_thanks", "mei@chencpa.example") in steps
    assert ("R-9", "roles_question", "greg@lindqvistinsurance.example") in steps
    assert not any(m.to == "javier@lacocinaderuiz.example" and m.step == "stale_reminder"
                   for m in result.sent)
    assert all(m.path.exists() for m in result.sent)
    once = [s for s in steps if s[1] in {"ack", "thank_you", "closed_thanks", "roles_question"}]
    assert len(once) == len(set(once))  # one-off steps at most once per person
    # The demo leaves a working config behind for the user to explore.
    assert (tmp_path / "refmail.toml").exists() and (tmp_path / "refmail.db").exists()


def test_demo_command_needs_no_config_and_no_server(tmp_path: Path) -> None:
    refmail = str(Path(sys.executable).parent / "refmail")
    done = subprocess.run(
        [refmail, "demo", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "What refmail did with each message" in done.stdout
    assert "first contact" in done.stdout
