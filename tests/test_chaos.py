"""The crash test in ``make test``: a real ``refmail run`` SIGKILLed 10 times while mail flows.

The short version of ``bench/chaos.py`` (50+ kills); tests/chaos_harness.py
describes the run and its checks. Every random choice comes from the seed
(``REFMAIL_CHAOS_SEED`` to try another), every wait is a bounded poll, and
the whole run is abandoned — as a failure — after ``time_limit`` seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos_harness import TRACKER, ChaosRun, ChaosSettings
from mailservers import Accepted, Dovecot, SmtpServer

pytestmark = pytest.mark.servers

SEED = int(os.environ.get("REFMAIL_CHAOS_SEED", "7"))


def test_sigkill_at_random_and_aimed_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = ChaosSettings(kills=10, intros=12, seed=SEED, time_limit=90)
    with Dovecot(users={"refs": "refs-secret"}) as dovecot, SmtpServer(dovecot) as smtp:
        run = ChaosRun(settings, tmp_path, dovecot, smtp)
        report = run.run()
        detail = report.figures() + "\n" + "\n".join(report.problems)
        assert report.problems == [], detail
        assert report.total_kills == settings.kills, detail
        assert report.intros == settings.intros and report.replies == 2 * settings.intros, detail
        # The window SMTP cannot close was hit, and each message caught in it
        # went out again — same Message-ID and bytes — rather than being lost.
        assert report.kills["accept"] >= 1, detail
        assert report.kills["accept"] <= report.duplicates <= report.total_kills, detail

        # The checks can fail: the same nudge sent again under a new Message-ID
        # (what a replanned, rather than resent, message would look like).
        sent = next(m for m in smtp.messages if m.mail_from == TRACKER)
        old_id = sent.message()["Message-ID"]
        smtp._record(Accepted(TRACKER, sent.rcpt_tos, sent.raw.replace(
            old_id.encode(), old_id.replace("refmail.", "refmail.again.").encode())))
        run.report.problems.clear()
        run.check()
        assert any("sent but not in the outbox" in p for p in run.report.problems)
