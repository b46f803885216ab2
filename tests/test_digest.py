"""Weekly summaries through the real pipeline: once per person per week, by mail.

Intros and replies go through real SMTP and Dovecot; the daemon sends the
summaries at [timing] weekly_summary (Monday 08:00 in the group's zone),
exactly once per week across restarts and downtime.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from mailservers import MailEnv
from test_lifecycle import LINDA, MEI, START, TOM, World, _text, send_intro

from refmail.daemon import Daemon
from refmail.incoming.mailbox import Retry
from refmail.workflow.digest import latest_slot, week_key

pytestmark = pytest.mark.servers

REFMAIL = str(Path(sys.executable).parent / "refmail")


@pytest.fixture
def world(mail_env: MailEnv, tmp_path: Path) -> Iterator[World]:
    w = World(mail_env, tmp_path)
    try:
        yield w
    finally:
        w.store.close()


def next_monday(moment: datetime, hour: int = 8, minute: int = 5) -> datetime:
    days = (7 - moment.weekday()) % 7 or 7
    return (moment + timedelta(days=days)).replace(hour=hour, minute=minute)


def other_intro(world: World) -> None:
    """Tom introduces two outsiders: nothing Mei is part of."""
    from email.message import EmailMessage
    from email.utils import format_datetime

    intro = EmailMessage()
    intro["From"] = f"Tom Becker <{TOM}>"
    intro["To"] = "Secret Client <secret.client@private.example>, Pat Painter <pat@painters.example>"
    intro["Cc"] = "refs@harbornet.example"
    intro["Subject"] = "Intro: Secret Client <> Pat (painting)"
    intro["Message-ID"] = "<other-1@beckerroofing.example>"
    intro["Date"] = format_datetime(world.clock())
    intro.set_content("Pat, meet Secret Client, who is looking for a painter.\n"
                      "Secret, Pat is the painter I told you about.\n\nTom\n")
    world.env.send(intro)


def test_slots_and_week_keys() -> None:
    from refmail.config import config_from_dict

    config = config_from_dict({"group": {"name": "G", "tracking_address": "refs@g.example",
                                         "timezone": "America/Chicago"}})
    monday_0805 = START.replace(hour=8, minute=5)  # START is Monday Nov 23, 2026
    assert latest_slot(monday_0805, config) == START.replace(hour=8, minute=0)
    assert latest_slot(START.replace(hour=7), config) == START.replace(hour=8) - timedelta(days=7)
    assert week_key(START) == 202648


def test_weekly_summaries_go_out_exactly_once_per_week(world: World) -> None:
    send_intro(world)
    other_intro(world)
    world.cycle()  # Monday 10:00, after this week's slot, on the first day: nothing missed
    assert world.summaries(MEI) == []

    # Tom thanks Mei, then wins the work, through real replies.
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    thank_you = next(m for m in world.received(TOM) if "thank" in str(m["Subject"]).lower())
    world.reply(thank_you, TOM, "Thank you so much, Mei!")
    world.clock.advance(days=7)
    world.cycle()
    feedback = [m for m in world.received(TOM) if "going" in str(m["Subject"]).lower()][-1]
    world.reply(feedback, TOM, "WON $4,500 - Linda signed for the whole roof.")
    world.clock.advance(minutes=10)
    world.cycle()

    # The Monday 08:00 slot passed during the week: that week's summaries went out once.
    assert len(world.summaries(MEI)) == 2 and len(world.summaries(TOM)) == 1
    world.clock.now = next_monday(world.clock.now)
    world.cycle()
    member, admin = world.summaries(MEI)[-2:]  # Mei is a member and the admin
    assert "[Weekly]" in str(member["Subject"])
    text = _text(member)
    assert "Linda" in text and "$4,500" in text
    # Privacy: Mei's own summary says nothing of a referral she is not part of.
    for leak in ("Secret Client", "secret.client@private.example", "Pat Painter"):
        assert leak not in text
        assert leak not in str(member.get_body(preferencelist=("html",)).get_content())
    # The admin summary covers the whole group, Tom's other intro included.
    assert "2" in _text(admin)
    html = admin.get_body(preferencelist=("html",))
    assert html is not None
    lxml.html.fromstring(str(html.get_content()))  # well-formed enough to parse
    assert len(world.summaries(TOM)) == 2
    assert world.summaries(LINDA) == []  # not a member

    # Once per week: another cycle, and a restart, send nothing more.
    world.cycle()
    restarted = Daemon(world.config, world.store, clock=world.clock,
                       retry=Retry(attempts=3, within=10, first_delay=0.1, max_delay=0.5))
    restarted.cycle()
    assert len(world.summaries(MEI)) == 4 and len(world.summaries(TOM)) == 2

    # Three weeks of downtime: the missed week is sent once, not three times.
    world.clock.now += timedelta(days=21, hours=3)
    restarted.cycle()
    assert len(world.summaries(MEI)) == 6 and len(world.summaries(TOM)) == 3


def test_stop_on_a_summary_ends_summaries(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.now = next_monday(world.clock.now)
    world.cycle()
    (tom_summary,) = world.summaries(TOM)
    world.reply(tom_summary, TOM, "STOP")
    world.clock.advance(minutes=5)
    world.cycle()
    world.clock.now = next_monday(world.clock.now)
    world.cycle()
    weekly = [m for m in world.summaries(TOM) if str(m["Subject"]).startswith("[Weekly]")]
    assert len(weekly) == 1
    # The one message after the STOP says so and offers START.
    (stopped,) = [m for m in world.summaries(TOM) if not str(m["Subject"]).startswith("[Weekly]")]
    assert "START" in str(stopped.get_body(preferencelist=("plain",)).get_content())


def test_summary_command_prints_and_sends(world: World, tmp_path: Path) -> None:
    send_intro(world)
    world.cycle()
    env = {**os.environ}
    cfg = str(world.config.source)
    shown = subprocess.run([REFMAIL, "--config", cfg, "summary", "--member", MEI],
                           capture_output=True, text=True, timeout=60, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Linda" in shown.stdout and shown.stdout.startswith("Subject: ")
    nobody = subprocess.run([REFMAIL, "--config", cfg, "summary", "--member", "x@nowhere.example"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert nobody.returncode == 1 and "not a member" in nobody.stderr
    sent = subprocess.run([REFMAIL, "--config", cfg, "summary", "--admin", "--send"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert sent.returncode == 0, sent.stderr
    assert "sent 1" in sent.stdout
    assert len(world.summaries(MEI)) == 1
