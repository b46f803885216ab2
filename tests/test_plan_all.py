"""``Planner.plan_all`` reads its candidates in batches: it must queue exactly what ``plan()`` would.

``plan_all`` hydrates the candidate referrals a batch at a time, runs the pure
rules on each and calls :meth:`Planner.plan` only for the ones with something
due (or a proposal to expire). That shortcut is only right if it changes
nothing: here a group with varied referrals — real intros through the
:class:`~refmail.workflow.tracker.Tracker`, plus referrals of every status written
through the store (unknown roles, proposals and consent answers, won with a
value, STOP and bounces, silent imports), with a weekly cap small enough to
hold mail back — is copied at several moments, and ``plan_all`` on one copy
must leave the same outbox, statuses and events as ``plan()`` called on every
candidate, in id order, on the other. No servers.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mailbuild import build

import refmail.workflow.planner
from refmail.config import Config, config_from_dict
from refmail.policy.consent import who_to_ask
from refmail.storage.store import PartyRow, Store
from refmail.workflow.planner import RECENT, Planner
from refmail.workflow.tracker import Tracker

ZONE = ZoneInfo("America/Chicago")
START = datetime(2026, 11, 2, 9, 0, tzinfo=ZONE)  # a Monday
TRACKER = "refs@harbornet.example"
MEMBERS = [
    ("Bob Reyes", "bob@reyeslaw.example"),
    ("Betty Smith", "betty@coachbetty.example"),
    ("Tom Becker", "tom.becker@beckerroofing.example"),
    ("Mei Chen", "mei@chencpa.example"),
]
GROUP: dict[str, Any] = {
    "group": {
        "name": "Harbor Business Network",
        "tracking_address": TRACKER,
        "admins": [MEMBERS[3][1]],
        "timezone": "America/Chicago",
    },
    "members": [{"name": n, "email": a, "business": "Trade"} for n, a in MEMBERS],
    "timing": {
        "thank_you_after": "1d",
        "feedback_after": "7d",
        "stale_after": "5d",
        "reminder_every": "7d",
        "quiet_hours": "",
    },
    # Few providers serve many referrals: a cap of 3 a week holds mail back,
    # and which referral's message gets through depends on the planning order.
    "nudges": {"max_per_week": 3, "prospect_feedback": 2},
    "consent": {"remind_after": "3d", "expire_after": "7d"},
}
PROVIDERS = [f"pro{i}@trade{i}.example" for i in range(6)]
PROSPECTS = [f"client{i}@home{i}.example" for i in range(25)]
REFERRERS = [a for _n, a in MEMBERS] + ["guest@elsewhere.example"]
BATCH = 40
OPEN = ("introduced", "contacted", "meeting", "proposal")


def _copy(store: Store, path: Path) -> Store:
    target = sqlite3.connect(path)
    store.db.conn.backup(target)
    target.close()
    return Store.open(path)


def _state(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """What planning may change; Message-IDs are random, so they are left out (tokens are not)."""
    conn = store.db.conn
    return {
        "outbox": conn.execute(
            "SELECT id, referral_id, step, recipient, seq, token, subject, status, attempts, "
            "next_attempt_at, created_at FROM outbox ORDER BY id"
        ).fetchall(),
        "referrals": conn.execute("SELECT id, status, updated_at FROM referrals ORDER BY id").fetchall(),
        "events": conn.execute(
            "SELECT id, referral_id, at, kind, actor, detail FROM events ORDER BY id"
        ).fetchall(),
    }


def _add_referral(store: Store, config: Config, rng: random.Random, now: datetime) -> None:
    """One referral of a random kind, written through the store as the tracker would."""
    introduced = now - timedelta(days=rng.uniform(0, 50))
    referrer = rng.choice(REFERRERS)
    provider: str | None = rng.choice(PROVIDERS)
    prospects = rng.sample(PROSPECTS, rng.choice([1, 1, 2]))
    if rng.random() < 0.15:
        provider = None  # roles unknown
    kind = rng.choice(["open"] * 5 + ["won", "lost", "proposed", "proposed", "declined"])
    status = {"open": rng.choice(OPEN), "won": "won", "lost": "lost", "proposed": "proposed",
              "declined": "declined"}[kind]
    if status in {"proposed", "declined"}:
        introduced = now - timedelta(days=rng.uniform(0, 10))  # some still waiting for answers
        # People of their own, so the weekly cap leaves room for requests and reminders.
        prospects = [f"asked{rng.randrange(10**6)}@home.example"]
        if rng.random() < 0.5:
            # A referrer of its own too: with nothing held back by the cap, some
            # proposals reach their expiry with no message due, only the expiry.
            referrer = f"asker{rng.randrange(10**6)}@elsewhere.example"
    rows = [PartyRow(referrer, "", "referrer")]
    if provider is not None:
        rows.append(PartyRow(provider, "Pat Provider", "provider"))
    rows += [PartyRow(p, "", "prospect" if provider else "party") for p in prospects]
    referral_id = store.create_referral(
        referrer=referrer, provider=provider, parties=rows, subject=f"Intro {len(prospects)}",
        intro_message_id=None, roles_reason="test", silent=rng.random() < 0.1,
        introduced_at=introduced, now=introduced, status=status,
    )
    at = introduced
    if status in {"proposed", "declined"}:
        parties = [p.address for p in rows[1:]]
        asked = who_to_ask(provider, prospects if provider else [], parties, config)
        store.add_event(referral_id, "proposed", at=at, actor=referrer,
                        detail={"text": "Meet each other.", "asked": asked, "reason": "test"}, touch=False)
        for k, person in enumerate(asked):
            if rng.random() < 0.5 or (status == "declined" and k == 0):  # declined: someone said no
                at += timedelta(hours=rng.uniform(1, 60))
                decision = "no" if status == "declined" else "yes"
                store.add_event(referral_id, "consent", at=at, actor=person, detail={"decision": decision})
        return
    store.add_event(referral_id, "introduced", at=at, actor=referrer, detail={}, touch=False)
    for _ in range(rng.choice([0, 0, 1, 2])):
        at += timedelta(days=rng.uniform(0.5, 6))
        actor = rng.choice([provider or referrer, *prospects])
        event = rng.choice(["thanks", "feedback", "thread_reply", "first_contact"])
        store.add_event(referral_id, event, at=at, actor=actor, detail={"text": "Went well."})
    if provider is None and rng.random() < 0.3:
        at += timedelta(hours=5)
        store.add_event(referral_id, "roles_set", at=at, actor=referrer, detail={"provider": prospects[0]})
    if status in {"won", "lost"}:
        at += timedelta(days=rng.uniform(0.5, 5))
        detail: dict[str, Any] = {"from": "introduced", "to": status}
        if status == "won" and rng.random() < 0.7:
            detail |= {"value": rng.choice([500, 1200.5, ""]), "currency": "USD"}
        store.set_status(referral_id, status, at)
        store.add_event(referral_id, "status", at=at, actor=provider, detail=detail)
    if rng.random() < 0.05:
        store.add_event(referral_id, "stop", at=at, actor=prospects[0], detail={})


def _intro(tracker: Tracker, n: int, now: datetime) -> None:
    referrer, provider = MEMBERS[n % 4], ("Pat Provider", PROVIDERS[n % len(PROVIDERS)])
    prospect = (f"Client {n}", f"newclient{n}@home.example")
    raw = build(
        sender=referrer,
        to=[provider, prospect],
        cc=[("Harbor Referrals", TRACKER)],
        subject=f"Intro: Client {n} <> Pat",
        plain=f"Pat, meet Client {n}. They need a roofer.\nClient, Pat is the roofer I told you about.\n\n"
              f"{referrer[0].split()[0]}\n",
        message_id=f"<intro{n}@{referrer[1].split('@')[1]}>",
        date=format_datetime(now),
    )
    outcome = tracker.process(raw, now=now)
    assert outcome.outcome == "created", outcome.reason


def test_plan_all_queues_exactly_what_plan_per_referral_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: several of them, and their edges, with a few hundred referrals.
    monkeypatch.setattr(refmail.workflow.planner, "PLAN_BATCH", BATCH)
    config = config_from_dict(GROUP)
    rng = random.Random("plan_all")
    main = Store.open(tmp_path / "main.db")
    planner = Planner(config, main)
    tracker = Tracker(config, main, planner=planner)
    for _ in range(BATCH * 3 + 17):
        _add_referral(main, config, rng, START)
    main.stop_person(PROSPECTS[3], START)
    main.bounce_person(PROVIDERS[5], "550 no such user", START)

    queued_steps: set[str] = set()
    statuses_after: set[str] = set()
    skipped_any = held_any = False
    for step, days in enumerate([0, 1.5, 4, 8, 20, 35]):
        now = START + timedelta(days=days)
        if step % 2 == 0:
            _intro(tracker, step, now)  # the tracker queues its ack at once
        batched, single = _copy(main, tmp_path / f"a{step}.db"), _copy(main, tmp_path / f"b{step}.db")
        batched_planner, single_planner = Planner(config, batched), Planner(config, single)
        calls: list[tuple[int, int]] = []
        plan = batched_planner.plan

        def counting_plan(referral_id: int, at: datetime, plan: Any = plan, calls: Any = calls) -> list[int]:
            queued = plan(referral_id, at)
            calls.append((referral_id, len(queued)))
            return queued

        batched_planner.plan = counting_plan  # type: ignore[method-assign]
        total = batched_planner.plan_all(now)
        candidates = single.referral_ids_to_plan(now - RECENT)
        expected = sum(len(single_planner.plan(referral_id, now)) for referral_id in candidates)

        assert total == expected
        assert _state(batched) == _state(single), f"at +{days} days"
        assert [i for i, _n in calls] == sorted(i for i, _n in calls)  # id order, as before
        skipped_any |= len(calls) < len(candidates)
        held_any |= any(n == 0 for _i, n in calls)  # something due, all of it held by the cap
        queued_steps |= {r[0] for r in batched.db.conn.execute("SELECT DISTINCT step FROM outbox")}
        statuses_after |= {r[0] for r in batched.db.conn.execute("SELECT DISTINCT status FROM referrals")}
        batched.close()
        single.close()

        # Move the group on: this cycle's mail goes out, people answer some of it.
        planner.plan_all(now)
        for item in planner.outbox.due(now):
            planner.outbox.mark_sent(item.id, now)
        for referral_id in rng.sample(candidates, min(10, len(candidates))):
            row = main.referral(referral_id)
            assert row is not None
            actor = row["provider"] or row["referrer"]
            main.add_event(referral_id, rng.choice(["thanks", "feedback"]), at=now, actor=actor,
                           detail={"text": "Thanks for this."})

    # The comparison saw every kind of planning, not only "nothing due".
    assert {"ack", "roles_question", "thank_you", "relay_thanks", "feedback", "status_update",
            "stale_reminder", "no_news", "closed_thanks", "proposal_ack", "consent_request",
            "consent_reminder", "consent_ready", "consent_declined", "consent_expired"} <= queued_steps
    assert "expired" in statuses_after
    assert skipped_any and held_any
    main.close()
