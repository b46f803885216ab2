"""The per-sender brake counts live mail only: history read on a first start is not a loop.

A group's first start reads weeks or years of intros from the same few members in
seconds; an import does the same. Neither sends anything for what it reads,
so neither may count against a member's hourly limit — while mail arriving
now still does. (The loop tests through real servers are in test_loops.py.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest

from refmail.config import Config, config_from_dict
from refmail.storage.store import Store
from refmail.workflow.tracker import Tracker

TRACKER = "refs@harbornet.example"
MEI = "mei@chencpa.example"
TOM = "tom.becker@beckerroofing.example"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago"))
LIMIT = 5


@pytest.fixture
def config() -> Config:
    return config_from_dict(
        {
            "group": {"name": "Harbor Business Network", "tracking_address": TRACKER,
                      "admins": [MEI], "timezone": "America/Chicago"},
            "members": [
                {"name": "Mei Chen", "email": MEI, "business": "CPA"},
                {"name": "Tom Becker", "email": TOM, "business": "Residential roofing"},
            ],
            "timing": {"backfill": "14d"},
            "security": {"max_messages_per_sender_per_hour": LIMIT},
        }
    )


def intro(n: int, date: datetime) -> bytes:
    return (
        f"From: Mei Chen <{MEI}>\r\n"
        f"To: Tom Becker <{TOM}>, Prospect {n} <prospect{n}@example.org>\r\n"
        f"Cc: {TRACKER}\r\n"
        f"Subject: Intro: Tom <> prospect {n}\r\n"
        f"Date: {format_datetime(date)}\r\n"
        f"Message-ID: <intro-{n}@mail.chencpa.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Tom, meet prospect {n}, who needs a new roof.\r\n"
        "Prospect, Tom is the roofer I told you about.\r\n\r\nMei\r\n"
    ).encode()


def outcomes(tracker: Tracker, messages: list[bytes], *, silent: bool = False) -> list[str]:
    return [tracker.process(raw, now=NOW, silent=silent).outcome for raw in messages]


def test_a_first_start_tracks_every_old_intro_then_brakes_live_mail(config: Config) -> None:
    store = Store.memory()
    tracker = Tracker(config, store)
    old = [intro(n, NOW - timedelta(days=400 - n)) for n in range(4 * LIMIT)]
    assert outcomes(tracker, old) == ["created"] * len(old)
    # Now mail dated today arrives from the same member, faster than the limit.
    live = [intro(100 + n, NOW - timedelta(minutes=5)) for n in range(LIMIT + 3)]
    got = outcomes(tracker, live)
    assert got[:LIMIT] == ["created"] * LIMIT
    assert got[LIMIT:] == ["rate_limited"] * 3


def test_an_import_of_recent_mail_is_not_braked(config: Config) -> None:
    store = Store.memory()
    tracker = Tracker(config, store)
    recent = [intro(n, NOW - timedelta(days=2, minutes=n)) for n in range(3 * LIMIT)]
    assert outcomes(tracker, recent, silent=True) == ["created"] * len(recent)
    assert store.recent_from(MEI, NOW - timedelta(hours=1)) == 0


def test_a_first_start_tracks_a_busy_fortnight(config: Config) -> None:
    # Inside the backfill window (acknowledged, not silent), yet written over
    # two weeks: history, not a loop, however many a member made.
    store = Store.memory()
    tracker = Tracker(config, store)
    fortnight = [intro(n, NOW - timedelta(days=13, hours=-n)) for n in range(6 * LIMIT)]
    assert outcomes(tracker, fortnight) == ["created"] * len(fortnight)
    assert store.db.conn.execute("SELECT count(*) FROM referrals WHERE silent = 0").fetchone()[0] == len(
        fortnight
    )


def test_mail_written_within_the_hour_is_braked(config: Config) -> None:
    # What a loop looks like: each message dated when it was written, just now.
    store = Store.memory()
    tracker = Tracker(config, store)
    burst = [intro(n, NOW - timedelta(minutes=50 - n)) for n in range(LIMIT + 2)]
    assert outcomes(tracker, burst).count("rate_limited") == 2
