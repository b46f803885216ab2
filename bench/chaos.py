"""The full crash (chaos) run: ``refmail run`` SIGKILLed 50+ times while intros and replies flow.

A private Dovecot and the test SMTP relay, a real daemon restarted after every
SIGKILL — at random moments, right after a delivery to Dovecot, and inside the
SMTP server between accepting refmail's message and answering 250 — then the
daemon runs until quiet and the database, the outbox and the server's record
are compared (tests/chaos_harness.py explains the run and each check).
``tests/test_chaos.py`` runs a short version in ``make test``.

Prints the figures and the command that reproduces them; exits 1 if any
promise was broken (every intro tracked once, every reply applied once, every
due message sent, no message twice except one in flight at a kill, with the
same Message-ID).

Run: .venv/bin/python bench/chaos.py [--kills 60] [--intros 90] [--seed 1] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chaos_harness import ChaosSettings, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=60, help="SIGKILLs (default 60)")
    parser.add_argument("--intros", type=int, default=90, help="intros in the stream (default 90)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    parser.add_argument(
        "--time-limit", type=float, default=None,
        help="give up after this many seconds (default 10 per kill + 120)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and the daemon's log")
    args = parser.parse_args(argv)
    if args.kills < 0 or args.intros < 1:
        parser.error("--kills must be >= 0 and --intros >= 1")
    settings = ChaosSettings(
        kills=args.kills,
        intros=args.intros,
        seed=args.seed,
        time_limit=args.time_limit if args.time_limit is not None else 10.0 * args.kills + 120.0,
    )
    workdir = Path(tempfile.mkdtemp(prefix="refmail-chaos-"))
    try:
        report = run_chaos(settings, workdir, progress=print)
        print(report.figures())
        for problem in report.problems:
            print(f"PROBLEM: {problem}")
        print(f"Reproduce: {report.command()}")
    finally:
        if args.keep:
            print(f"Kept {workdir} (database, config, daemon.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
