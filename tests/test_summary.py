"""Weekly summaries: the numbers, the privacy rule and safe rendering.

The database is built through the real pipeline — raw intro and reply mail
fed to the :class:`~refmail.workflow.tracker.Tracker` with a
:class:`~refmail.workflow.planner.Planner`, replies addressed to the plus token of the
nudge they answer — so the summaries are checked against what refmail really
records, not against rows a test made up. Delivery is the outbox's hand-off
(``mark_sent``); the servers are covered by the lifecycle tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import lxml.etree
import lxml.html
import pytest
from mailbuild import build

from refmail.config import Config, config_from_dict
from refmail.outgoing.outbox import OutboxItem
from refmail.render.renderer import Rendered, Renderer
from refmail.storage.store import Store
from refmail.summaries.member import (
    AdminSummary,
    MemberSummary,
    admin_summary,
    count_queries,
    member_summary,
    summary_context,
)
from refmail.workflow.planner import Planner
from refmail.workflow.tracker import Tracker

ROOT = Path(__file__).resolve().parent.parent
TRACKER = "refs@harbornet.example"
ZONE = ZoneInfo("America/Chicago")
START = datetime(2026, 11, 2, 9, 0, tzinfo=ZONE)  # a Monday

BOB = ("Bob Reyes", "bob@reyeslaw.example")
BETTY = ("Betty Smith", "betty@coachbetty.example")
TOM = ("Tom Becker", "tom.becker@beckerroofing.example")
MEI = ("Mei Chen", "mei@chencpa.example")
EVIL_NAME = "<script>alert(1)</script>"
CARL = (EVIL_NAME, "carl@carlsbakery.example")
DANA = ("Dana Lee", "dana@leedesign.example")
EVE = ("Eve Adams", "eve@adamsgarage.example")
FRANK = ("Frank Secretario", "frank@hiddenvalley.example")
GINA = ("Gina Ortiz", "gina@ortizflowers.example")
HAL = ("Hal Ng", "hal@ngtravel.example")

GROUP: dict[str, Any] = {
    "group": {
        "name": "Harbor Business Network",
        "tracking_address": TRACKER,
        "admins": [MEI[1]],
        "timezone": "America/Chicago",
    },
    "members": [
        {"name": BOB[0], "email": BOB[1], "business": "Business lawyer"},
        {"name": BETTY[0], "email": BETTY[1], "business": "Business coach"},
        {"name": TOM[0], "email": TOM[1], "business": "Roofing", "aliases": ["tbecker71@gmail.example"]},
        {"name": MEI[0], "email": MEI[1], "business": "CPA"},
    ],
    "timing": {
        "thank_you_after": "1d",
        "feedback_after": "7d",
        "stale_after": "5d",
        "reminder_every": "7d",
        "quiet_hours": "",
    },
    "nudges": {"max_per_week": 50, "prospect_feedback": 1},
}


def first(person: tuple[str, str]) -> str:
    return person[0].split()[0]


class Group:
    """A group and refmail, driven by raw mail and a clock."""

    def __init__(self, tmp_path: Path, config: Config | None = None) -> None:
        self.config = config or config_from_dict(GROUP)
        self.store = Store.open(tmp_path / "refmail.db")
        self.planner = Planner(self.config, self.store)
        self.tracker = Tracker(self.config, self.store, planner=self.planner)
        self.now = START
        self.count = 0
        self.intros: dict[int, str] = {}  # referral id → intro Message-ID

    def _message_id(self, domain: str) -> str:
        self.count += 1
        return f"<m{self.count}.{int(self.now.timestamp())}@{domain}>"

    def process(self, raw: bytes) -> Any:
        outcome = self.tracker.process(raw, now=self.now)
        self.deliver()
        return outcome

    def deliver(self) -> None:
        """Everything queued is handed to the (imaginary) server."""
        for item in self.planner.outbox.due(self.now):
            self.planner.outbox.mark_sent(item.id, self.now)

    def at(self, moment: datetime) -> None:
        assert moment >= self.now
        self.now = moment
        self.planner.plan_all(self.now)
        self.deliver()

    def intro(self, referrer: tuple[str, str], provider: tuple[str, str], prospect: tuple[str, str],
              need: str = "a hand with the business", *, written: datetime | None = None) -> int:
        """An intro copied to the tracker; ``written`` dates it in the past (history)."""
        message_id = self._message_id(referrer[1].split("@")[1])
        raw = build(
            sender=referrer,
            to=[provider, f'"{prospect[0]}" <{prospect[1]}>'],
            cc=[("Harbor Referrals", TRACKER)],
            subject=f"Intro: {first(prospect)} <> {first(provider)}",
            plain=(
                f"{first(provider)}, meet {first(prospect)}. {first(prospect)} is looking for {need}.\n"
                f"{first(prospect)}, {first(provider)} is the expert I told you about.\n\n"
                f"{first(referrer)}\n"
            ),
            message_id=message_id,
            date=format_datetime(written or self.now),
        )
        outcome = self.process(raw)
        assert outcome.outcome == "created", outcome.reason
        self.intros[outcome.referral_id] = message_id
        return int(outcome.referral_id)

    def nudge(self, referral_id: int, step: str, recipient: tuple[str, str]) -> OutboxItem:
        rows = self.store.db.conn.execute(
            "SELECT id FROM outbox WHERE referral_id = ? AND step = ? AND recipient = ? ORDER BY id",
            (referral_id, step, recipient[1]),
        ).fetchall()
        assert rows, f"no {step} to {recipient[1]} for R-{referral_id}"
        item = self.planner.outbox.get(int(rows[-1][0]))
        assert item is not None and item.status == "sent"
        return item

    def reply(self, item: OutboxItem, sender: tuple[str, str], body: str) -> Any:
        """Answer a nudge as a mail client does: to its plus-token Reply-To, threaded, quoting."""
        raw = build(
            sender=sender,
            to=[f"{TRACKER.split('@')[0]}+{item.token}@{TRACKER.split('@')[1]}"],
            subject=f"Re: [R-{item.referral_id}] {item.subject}",
            plain=f"{body}\n\nOn Mon, Nov 2, 2026, Harbor Business Network wrote:\n> {item.subject}\n",
            message_id=self._message_id(sender[1].split("@")[1]),
            date=format_datetime(self.now),
            in_reply_to=item.message_id,
            references=item.message_id,
        )
        outcome = self.process(raw)
        assert outcome.outcome == "nudge_reply", outcome.reason
        return outcome

    def reply_by_tag(self, referral_id: int, sender: tuple[str, str], body: str) -> Any:
        """A note to the tracking address naming the referral's ``[R-n]`` tag (no token),
        then the sender's YES to the confirmation refmail asks of them."""
        raw = build(
            sender=sender, to=[TRACKER], subject=f"Re: [R-{referral_id}] update", plain=body,
            message_id=self._message_id(sender[1].split("@")[1]), date=format_datetime(self.now),
            in_reply_to=f"<unknown.{referral_id}@elsewhere.example>",
        )
        outcome = self.process(raw)
        assert outcome.outcome == "confirmation_asked", outcome.reason
        question = self.nudge(referral_id, "confirm", sender)
        raw = build(
            sender=sender, to=[f"{TRACKER.split('@')[0]}+{question.token}@{TRACKER.split('@')[1]}"],
            subject=f"Re: {question.subject}", plain="YES\n",
            message_id=self._message_id(sender[1].split("@")[1]), date=format_datetime(self.now),
            in_reply_to=question.message_id,
        )
        outcome = self.process(raw)
        assert outcome.outcome == "confirmed", outcome.reason
        return outcome

    def provider_writes(self, referral_id: int, provider: tuple[str, str], prospect: tuple[str, str]) -> None:
        """A reply-all in the intro thread from the provider to the prospect: first contact."""
        intro = self.intros[referral_id]
        raw = build(
            sender=provider,
            to=[prospect[1]],
            cc=[TRACKER],
            subject="Re: Intro",
            plain="Lovely to meet you! Shall we talk on Thursday?\n",
            message_id=self._message_id(provider[1].split("@")[1]),
            date=format_datetime(self.now),
            in_reply_to=intro,
            references=intro,
        )
        outcome = self.process(raw)
        assert outcome.outcome == "first_contact", outcome.reason


NOW = START + timedelta(days=9, hours=3)  # Wednesday of the second week, 12:00


@pytest.fixture
def group(tmp_path: Path) -> Any:
    """Two weeks of a small group (times from START, the intro's moment):

    R1 Bob → Betty (provider), Carl (prospect, a hostile display name): Betty
       thanks on day 1, writes to Carl 26 h after the intro; Carl's feedback
       (day 8) is HTML-looking text.
    R2 Betty → Bob, Dana: Bob answers the thank-you nudge "WON $4,500" 27 h in.
    R3 Betty → Bob, Eve: Eve answers the feedback nudge NO FIT (day 8); Bob
       never thanks and never answers his own feedback nudge.
    R4 Tom → Mei, Frank: nothing ever happens (stale). Bob is no part of it.
    R5, R6 (day 6) Bob → Tom with Gina, with Hal: Tom thanks for R5 (day 7).
    """
    g = Group(tmp_path)
    r1 = g.intro(BOB, BETTY, CARL, "a business coach")
    r2 = g.intro(BETTY, BOB, DANA, "a business lawyer")
    r3 = g.intro(BETTY, BOB, EVE, "a business lawyer")
    r4 = g.intro(TOM, MEI, FRANK, "an accountant")
    assert (r1, r2, r3, r4) == (1, 2, 3, 4)
    g.at(START + timedelta(days=1, minutes=5))
    g.reply(g.nudge(1, "thank_you", BETTY), BETTY, "Thank you so much, Bob! Carl sounds great.")
    g.at(START + timedelta(days=1, hours=2))
    g.provider_writes(1, BETTY, CARL)
    g.at(START + timedelta(days=1, hours=3))
    g.reply(g.nudge(2, "thank_you", BOB), BOB, "WON $4,500")
    g.at(START + timedelta(days=6))
    assert g.intro(BOB, TOM, GINA, "a roofer") == 5
    assert g.intro(BOB, TOM, HAL, "a roofer") == 6
    g.at(START + timedelta(days=7, hours=1))
    g.reply(g.nudge(5, "thank_you", TOM), TOM, "Thanks Bob, Gina's roof is next week.")
    g.at(START + timedelta(days=8))
    g.reply(g.nudge(1, "feedback", CARL), CARL, "<b>x</b> Betty was lovely and very helpful.")
    g.reply(g.nudge(3, "feedback", EVE), EVE, "NO FIT. We needed someone for <b>commercial</b> leases.")
    g.at(NOW)
    try:
        yield g
    finally:
        g.store.close()


@pytest.fixture
def renderer(group: Group) -> Renderer:
    return Renderer(group.config)


def render_member(group: Group, renderer: Renderer, member: str) -> tuple[MemberSummary, Rendered]:
    summary = member_summary(group.store, group.config, member, NOW)
    return summary, renderer.render("summary_member", summary_context(summary, group.config))


def render_admin(group: Group, renderer: Renderer) -> tuple[AdminSummary, Rendered]:
    summary = admin_summary(group.store, group.config, NOW)
    context = summary_context(summary, group.config, recipient=MEI[1])
    return summary, renderer.render("summary_admin", context)


def strict_xml(html: str) -> Any:
    return lxml.etree.fromstring(
        html.encode(), lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


# --------------------------------------------------------------------------- member: numbers


def test_a_members_week_and_referrals(group: Group) -> None:
    s = member_summary(group.store, group.config, BOB[1], NOW)
    assert s.member.name == "Bob Reyes"
    assert s.week_start == NOW - timedelta(days=7)
    # This week: R5 and R6 given; Tom's thanks for R5; news from others on R1
    # (Carl), R3 (Eve) and R5 (Tom); R2 was won before the week began.
    assert (s.week.given, s.week.received, s.week.thanks_received, s.week.won) == (2, 0, 1, 0)
    assert s.week.updates == 3
    assert [line.id for line in s.given] == [1, 5, 6]  # newest news first
    assert [line.id for line in s.received] == [3, 2]
    assert (s.given_total, s.given_open, s.received_total, s.received_open) == (3, 3, 2, 0)
    r1, r5, r6 = s.given
    assert r1.role == "referrer" and r1.status == "contacted" and r1.thanked
    assert r1.provider is not None and r1.provider.email == BETTY[1]
    assert [p.name for p in r1.prospects] == [EVIL_NAME]
    assert r1.last_news is not None and r1.last_news.kind == "feedback"
    assert r1.last_news.actor is not None and r1.last_news.actor.email == CARL[1]
    assert r1.last_news.text == "<b>x</b> Betty was lovely and very helpful."
    assert r1.last_news.at == START + timedelta(days=8)
    assert r5.thanked and r5.last_news is not None and r5.last_news.kind == "thanks"
    assert not r6.thanked and r6.last_news is not None and r6.last_news.kind == "introduced"
    r3, r2 = s.received
    assert r2.role == "provider" and r2.status == "won"
    assert r2.value is not None and (r2.value.value, r2.value.currency) == (4500, "USD")
    assert r3.status == "no_fit" and r3.last_news is not None and r3.last_news.status == "no_fit"


def test_what_is_waiting_on_a_member(group: Group) -> None:
    # R3 ended as no fit (Eve's answer, day 8): "how did it go?" is over, but a
    # day later Bob was asked to thank Betty anyway (seed 000), and that waits.
    # R2 he thanked by his WON reply to the thank-you nudge.
    bob = member_summary(group.store, group.config, BOB[1], NOW)
    assert [(w.action, w.referral.id) for w in bob.waiting] == [("thank_miss", 3)]
    assert bob.week.waiting == 1
    assert bob.waiting[0].since == NOW  # the first cycle after the day had passed
    # Tom thanked Bob for R5, not yet for R6 (both open, given on day 6).
    tom = member_summary(group.store, group.config, TOM[1], NOW)
    assert [(w.action, w.referral.id) for w in tom.waiting] == [("thank", 6)]
    # Day 13: both feedback nudges went to Tom.
    group.at(START + timedelta(days=13, hours=1))
    tom = member_summary(group.store, group.config, TOM[1], group.now)
    assert sorted((w.action, w.referral.id) for w in tom.waiting) == [
        ("feedback", 5), ("feedback", 6), ("thank", 6)]
    assert tom.waiting[0].since == START + timedelta(days=13, hours=1)
    assert tom.week.waiting == 3
    text = Renderer(group.config).render("summary_member", summary_context(tom, group.config)).text
    assert "Tell us how it went with Hal Ng" in text
    # R6 is won: the feedback is answered, the thanks still owed. R5 is lost: nothing.
    group.reply(group.nudge(6, "feedback", TOM), TOM, "WON $900")
    group.reply(group.nudge(5, "feedback", TOM), TOM, "LOST - Gina went with her cousin.")
    tom = member_summary(group.store, group.config, TOM[1], group.now)
    assert [(w.action, w.referral.id) for w in tom.waiting] == [("thank", 6)]
    group.reply(group.nudge(6, "thank_you", TOM), TOM, "Thanks Bob, for thinking of me.")
    assert member_summary(group.store, group.config, TOM[1], group.now).waiting == ()


def test_an_inferred_status_is_not_feedback(group: Group) -> None:
    """Betty's first contact made R1 'contacted', but she was asked how it
    went (day 7) and has not said: that waits on her."""
    s = member_summary(group.store, group.config, BETTY[1], NOW)
    assert [(w.action, w.referral.id) for w in s.waiting] == [("feedback", 1)]
    # The same after the question: Tom is asked about R6 on day 13, then
    # writes to Hal — news, but not an answer to "how did it go?".
    group.at(START + timedelta(days=13, hours=1))
    group.nudge(6, "feedback", TOM)
    group.at(START + timedelta(days=14))
    group.provider_writes(6, TOM, HAL)
    tom = member_summary(group.store, group.config, TOM[1], group.now)
    assert ("feedback", 6) in [(w.action, w.referral.id) for w in tom.waiting]
    assert next(line for line in tom.received if line.id == 6).status == "contacted"


def test_closed_business_and_the_reciprocity_ledger(group: Group) -> None:
    bob = member_summary(group.store, group.config, BOB[1], NOW)
    assert (bob.business_received.count, bob.business_received.count_year) == (1, 1)
    assert [(m.value, m.currency) for m in bob.business_received.value] == [(4500, "USD")]
    assert bob.business_given.count == 0 and bob.business_given.value == ()
    ledger = {line.member.email: line for line in bob.ledger}
    assert set(ledger) == {BETTY[1], TOM[1]}  # only members he exchanged business with
    betty = ledger[BETTY[1]]
    assert (betty.sent_you, betty.you_sent, betty.sent_you_year, betty.you_sent_year) == (2, 1, 2, 1)
    assert (betty.won_from_them, betty.won_for_them) == (1, 0)
    assert betty.flag == "unreturned"  # Betty sent him more than he sent her
    tom = ledger[TOM[1]]
    assert (tom.sent_you, tom.you_sent) == (0, 2) and tom.flag == "one_way"
    assert [line.member.email for line in bob.ledger] == [BETTY[1], TOM[1]]  # flagged first
    # The other side of the same ledger.
    seen_by_betty = {line.member.email: line for line in member_summary(
        group.store, group.config, BETTY[1], NOW).ledger}
    assert (seen_by_betty[BOB[1]].sent_you, seen_by_betty[BOB[1]].you_sent) == (1, 2)
    assert seen_by_betty[BOB[1]].won_for_them == 1 and seen_by_betty[BOB[1]].flag is None
    betty_summary = member_summary(group.store, group.config, BETTY[1], NOW)
    assert [(m.value, m.currency) for m in betty_summary.business_given.value] == [(4500, "USD")]


def test_history_and_a_member_as_prospect(group: Group) -> None:
    """An intro from 400 days ago is tracked silently: it counts in the
    all-time ledger, not in the last year's, and waits on no one. A member
    introduced as the *prospect* is told about it, but it is not business
    sent to them: the ledger leaves it out."""
    old = group.intro(BETTY, BOB, ("Ivy Long", "ivy@longbakes.example"), "a business lawyer",
                      written=NOW - timedelta(days=400))
    assert group.store.referral(old)["silent"]
    mei_as_prospect = group.intro(TOM, BETTY, MEI, "a business coach")
    assert group.store.referral(mei_as_prospect)["prospects"] == [MEI[1]]
    group.at(group.now + timedelta(days=8))
    bob = member_summary(group.store, group.config, BOB[1], group.now)
    assert old not in [w.referral.id for w in bob.waiting]  # silent: no "thank Betty" from last year
    betty = next(line for line in bob.ledger if line.member.email == BETTY[1])
    assert (betty.sent_you, betty.sent_you_year) == (3, 2)
    # Counted, but not listed as open business: it was left "introduced" a year ago.
    assert bob.received_total == 3 and bob.received_open == 0
    assert old not in [line.id for line in bob.received]
    mei = member_summary(group.store, group.config, MEI[1], group.now)
    line = next(line for line in mei.received if line.id == mei_as_prospect)
    assert line.role == "prospect" and line.provider is not None and line.provider.email == BETTY[1]
    assert ("feedback", mei_as_prospect) in [(w.action, w.referral.id) for w in mei.waiting]
    assert ("thank", mei_as_prospect) not in [(w.action, w.referral.id) for w in mei.waiting]
    # Tom sent Mei business once (R4, Mei the provider), not twice.
    tom_for_mei = next(line for line in mei.ledger if line.member.email == TOM[1])
    assert (tom_for_mei.sent_you, tom_for_mei.you_sent) == (1, 0)
    tom = member_summary(group.store, group.config, TOM[1], group.now)
    assert {line.member.email: line.you_sent for line in tom.ledger} == {MEI[1]: 1, BETTY[1]: 1, BOB[1]: 0}
    admin = admin_summary(group.store, group.config, group.now)
    assert old not in [item.referral.id for item in admin.stale]  # history is never "gone quiet"


def test_old_failures_leave_the_list_but_not_the_totals(tmp_path: Path) -> None:
    g = Group(tmp_path)
    g.now = START - timedelta(days=60)
    early = g.intro(BOB, BETTY, DANA, "a business coach")
    g.at(g.now + timedelta(days=2))
    g.reply_by_tag(early, BETTY, "LOST - they went with a cheaper coach")
    g.at(START)
    late = g.intro(BOB, BETTY, EVE, "a business coach")
    g.at(START + timedelta(days=1))
    g.reply(g.nudge(late, "thank_you", BETTY), BETTY, "NO RESPONSE, three calls so far")
    s = admin_summary(g.store, g.config, g.now)
    assert [item.referral.id for item in s.failures] == [late] and s.failures_total == 1
    week, month, year = s.periods
    assert (week.unresponsive, month.lost, year.lost, year.unresponsive) == (1, 0, 1, 1)
    assert year.won_of_closed == 0.0 and month.won_of_all == 0.0
    g.store.close()


def test_an_alias_reads_the_members_summary(group: Group) -> None:
    by_alias = member_summary(group.store, group.config, "TBecker71@gmail.example", NOW)
    by_address = member_summary(group.store, group.config, TOM[1], NOW)
    assert by_alias == by_address
    assert [line.id for line in by_address.given] == [4]
    assert sorted(line.id for line in by_address.received) == [5, 6]
    # Tom thanked for R5, not for R6.
    assert [(w.action, w.referral.id) for w in by_address.waiting] == [("thank", 6)]


def test_one_query_per_member_summary(group: Group) -> None:
    for member in (BOB[1], BETTY[1], TOM[1], MEI[1], "nobody@outside.example"):
        _, queries = count_queries(
            group.store, lambda m=member: member_summary(group.store, group.config, m, NOW)
        )
        assert len(queries) == 1, queries


# --------------------------------------------------------------------------- member: privacy


def test_a_member_sees_only_referrals_they_are_part_of(group: Group, renderer: Renderer) -> None:
    summary, out = render_member(group, renderer, BOB[1])
    ids = {line.id for line in summary.given + summary.received}
    ids |= {w.referral.id for w in summary.waiting}
    assert 4 not in ids
    # R4 (Tom → Mei, Frank) leaves no trace: not its people, not its tag.
    for part in (out.subject, out.text, out.html):
        for secret in ("Frank", FRANK[1], "hiddenvalley", "Mei", MEI[1], "accountant", "R-4"):
            assert secret not in part, (secret, part[:200])
    # Mei, part of R4 only, sees R4 and nothing of Bob's.
    mei, mei_out = render_member(group, renderer, MEI[1])
    assert [line.id for line in mei.received] == [4] and mei.given == ()
    for part in (mei_out.text, mei_out.html):
        for secret in ("Bob", BOB[1], "Dana", "Eve", "Carl", "carlsbakery", "script", "R-1", "R-2"):
            assert secret not in part, secret


def test_the_privacy_rule_is_in_the_query(group: Group) -> None:
    """The statement reads the member's referrals only: it is run for Mei
    with every other referral's events made unreadable (their detail is not
    JSON), and still succeeds."""
    summary, queries = count_queries(
        group.store, lambda: member_summary(group.store, group.config, MEI[1], NOW)
    )
    assert "WHERE referrer IN" in queries[0] and "WHERE address IN" in queries[0]
    group.store.db.conn.execute("DROP TRIGGER events_no_update")
    group.store.db.conn.execute("UPDATE events SET detail = 'not json' WHERE referral_id != 4")
    assert member_summary(group.store, group.config, MEI[1], NOW) == summary
    with pytest.raises(Exception, match="JSON"):
        member_summary(group.store, group.config, BOB[1], NOW)


# --------------------------------------------------------------------------- admin: numbers


def test_group_totals_conversion_and_value(group: Group) -> None:
    s = admin_summary(group.store, group.config, NOW)
    week, month, year = s.periods
    assert [p.key for p in s.periods] == ["week", "month", "year"]
    assert week.start == NOW - timedelta(days=7)
    assert month.start == datetime(2026, 10, 11, 12, 0, tzinfo=ZONE)
    assert year.start == datetime(2025, 11, 11, 12, 0, tzinfo=ZONE)
    # Week: R5, R6 made; R3 closed as no fit (day 8). R2 was won on day 1.
    assert (week.intros, week.won, week.no_fit, week.failed) == (2, 0, 1, 1)
    assert week.value == () and week.won_of_closed == 0.0 and week.won_of_all == 0.0
    assert (month.intros, month.won, month.lost, month.no_fit, month.unresponsive) == (6, 1, 0, 1, 0)
    assert [(m.value, m.currency) for m in month.value] == [(4500, "USD")]
    assert month.won_of_closed == pytest.approx(1 / 2)
    assert month.won_of_all == pytest.approx(1 / 6)
    assert (year.intros, year.won, year.cohort_won) == (6, 1, 1)
    assert s.open_total == 4 and dict(s.open_by_status) == {
        "introduced": 3, "contacted": 1, "meeting": 0, "proposal": 0}
    assert s.proposed_open == 0 and year.declined == year.expired == 0
    assert sum(n for _, n in s.trend) == 6 and s.trend[-1][1] == 2 and s.trend[-2][1] == 4


def test_median_time_to_first_contact(group: Group) -> None:
    s = admin_summary(group.store, group.config, NOW)
    week, month, _ = s.periods
    # R1: Betty wrote to Carl 26 h after the intro; R2 went from introduced
    # to won 27 h after it (they clearly met). Nobody else made contact.
    assert month.first_contacts == 2
    assert month.median_first_contact == timedelta(hours=26, minutes=30)
    assert week.first_contacts == 0 and week.median_first_contact is None


def test_stale_and_failed_referrals(group: Group) -> None:
    s = admin_summary(group.store, group.config, NOW)
    # stale_after is 5 days: R4 has had no news since its intro; R5 and R6
    # are 3 days old; R1's last news is Carl's feedback.
    assert [item.referral.id for item in s.stale] == [4] and s.stale_total == 1
    assert s.stale[0].quiet_for == NOW - START
    assert [item.referral.id for item in s.failures] == [3] and s.failures_total == 1
    # Eve, a prospect, wrote why for Betty (the referrer): not for the admins.
    assert s.failures[0].notes == ()
    # A member's words on why it failed are the group's to learn from.
    group.reply(group.nudge(4, "feedback", MEI), MEI, "LOST. Frank needed <b>commercial</b> leases.")
    s = admin_summary(group.store, group.config, group.now)
    (note,) = next(item for item in s.failures if item.referral.id == 4).notes
    assert note.actor is not None and (note.actor.email, note.actor.name) == (MEI[1], MEI[0])
    assert note.status == "lost"
    assert "Frank needed <b>commercial</b> leases" in note.text


def test_who_gives_and_who_receives(group: Group) -> None:
    s = admin_summary(group.store, group.config, NOW)
    rows = {a.member.email: (a.gave, a.received, a.gave_year, a.received_year, a.won_given, a.won_received)
            for a in s.activity}
    assert rows == {
        BOB[1]: (3, 2, 3, 2, 0, 1),
        BETTY[1]: (2, 1, 2, 1, 1, 0),
        TOM[1]: (1, 2, 1, 2, 0, 0),
        MEI[1]: (0, 1, 0, 1, 0, 0),
    }
    assert s.activity[0].member.email == BOB[1]  # the most active first
    assert s.quiet_members == 0 and s.activity_more == 0


def test_a_constant_number_of_queries_for_the_admins(group: Group) -> None:
    _, before = count_queries(group.store, lambda: admin_summary(group.store, group.config, NOW))
    group.at(NOW + timedelta(hours=1))
    for n in range(3):
        group.intro(MEI, TOM, (f"Client {n}", f"client{n}@town.example"), "a roofer")
    _, after = count_queries(group.store, lambda: admin_summary(group.store, group.config, group.now))
    assert len(before) == len(after) == 10


def test_windows_follow_the_group_time_zone() -> None:
    from refmail.summaries.values import months_back

    # One month before 31 March is the end of February; the local time of
    # day is kept across the DST change (Chicago moves on 8 March 2026).
    moment = datetime(2026, 3, 31, 8, 0, tzinfo=ZONE)
    assert months_back(moment, 1) == datetime(2026, 2, 28, 8, 0, tzinfo=ZONE)
    assert months_back(moment, 12) == datetime(2025, 3, 31, 8, 0, tzinfo=ZONE)
    assert months_back(datetime(2028, 2, 29, 8, 0, tzinfo=ZONE), 12).day == 28


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("who", ["member", "admin"])
def test_summaries_render_well_formed_and_self_contained(group: Group, renderer: Renderer, who: str) -> None:
    _, out = render_member(group, renderer, BOB[1]) if who == "member" else render_admin(group, renderer)
    assert out.subject and "\n" not in out.subject
    for part in (out.subject, out.text, out.html):
        assert "{{" not in part and "{%" not in part and "None" not in part
    root = strict_xml(out.html)
    assert root.tag.endswith("html")
    doc = lxml.html.document_fromstring(out.html)
    assert not doc.xpath("//script | //link | //style | //img | //iframe | //object")
    assert not doc.xpath("//@src") and not doc.xpath("//@class") and "url(" not in out.html
    assert doc.xpath("//table[@width='600']")
    # The bar chart: coloured cells sized in per cent, nothing else.
    bars = doc.xpath("//td[@bgcolor]")
    assert bars and all(re.fullmatch(r"\d{1,3}%", td.get("width")) for td in bars)
    assert all("background-color" in td.get("style") for td in bars)
    assert "Hi " in out.text.splitlines()[0]
    assert "Harbor Business Network" in out.text.split("\n-- \n")[1]


def test_the_member_summary_reads_warmly(group: Group, renderer: Renderer) -> None:
    _, out = render_member(group, renderer, BOB[1])
    headline = ("This week: 2 introductions given, 1 thank-you received, news on 3 introductions, "
                "1 waiting on you.")
    assert headline in out.text
    assert headline in lxml.html.document_fromstring(out.html).text_content()
    assert "2 introductions given" in out.subject
    # R-3 ended as no fit: "how did it go?" is over, a thank-you for the thought is not.
    assert "Tell us how it went" not in out.text
    assert ("Thank Betty Smith for thinking of you with Eve Adams, even though it didn't work out, "
            "and say what would fit better (R-3") in out.text
    _, tom = render_member(group, renderer, TOM[1])
    assert "1 waiting on you" in tom.subject
    assert tom.text.index("1 waiting on you.") < tom.text.index("WAITING ON YOU")  # brief at the top
    assert "Thank Bob Reyes for introducing you to Hal Ng (R-6" in tom.text
    assert "won ($4,500)" in out.text and "You won work from 1 referral: $4,500." in out.text
    assert "Betty Smith: 1 / 2 - has sent you business you haven't returned yet" in out.text
    assert "Tom Becker: 2 / 0 - you keep sending business their way" in out.text
    # The ledger's bars: Betty sent 2 of the largest count 2 → a full bar; Bob sent her 1 → half.
    doc = lxml.html.document_fromstring(out.html)
    widths = [td.get("width") for td in doc.xpath("//td[@bgcolor]")]
    assert widths[:2] == ["50%", "100%"]


def test_the_admin_summary_shows_the_numbers(group: Group, renderer: Renderer) -> None:
    _, out = render_admin(group, renderer)
    assert out.text.startswith("Hi Mei,")
    assert "This week at Harbor Business Network: 2 introductions, 0 won, 1 that didn't work out." in out.text
    assert re.search(r"Value closed\s+–\s+\$4,500\s+\$4,500", out.text)
    assert re.search(r"Won, of those closed\s+0%\s+50%\s+50%", out.text)
    assert re.search(r"Won so far, of intros made\s+0%\s+17%\s+17%", out.text)
    assert re.search(r"First contact \(median\)\s+–\s+1.1 days\s+1.1 days", out.text)
    assert "R-4 Frank Secretario to Mei Chen, introduced by Tom Becker" in out.text
    assert "quiet for 9.1 days" in out.text  # 9 days and 3 hours
    assert "commercial" not in out.text  # Eve's words were for Betty alone
    generic = renderer.render("summary_admin", summary_context(
        admin_summary(group.store, group.config, NOW), group.config))
    assert generic.text.startswith("Hello,")


@pytest.mark.parametrize("who", ["member", "admin"])
def test_words_from_email_are_escaped(group: Group, renderer: Renderer, who: str) -> None:
    if who == "admin":  # why a referral failed, in a member's words
        group.reply(group.nudge(4, "feedback", MEI), MEI, "LOST. Frank needed <b>commercial</b> leases.")
    _, out = render_member(group, renderer, BOB[1]) if who == "member" else render_admin(group, renderer)
    doc = lxml.html.document_fromstring(out.html)
    assert not doc.xpath("//script") and not doc.xpath("//b")
    tags = _Tags()
    tags.feed(out.html)
    assert "script" not in tags.tags and "b" not in tags.tags
    text = doc.text_content()
    if who == "member":  # a display name and feedback text
        assert EVIL_NAME in text and EVIL_NAME in out.text and "&lt;script&gt;" in out.html
        evil_words = "<b>x</b> Betty was lovely"
    else:
        evil_words = "<b>commercial</b>"
    assert evil_words in text and evil_words in out.text


def test_an_empty_group_renders(tmp_path: Path) -> None:
    g = Group(tmp_path)
    renderer = Renderer(g.config)
    member = member_summary(g.store, g.config, BOB[1], START)
    assert member.given == member.received == member.waiting == member.ledger == ()
    out = renderer.render("summary_member", summary_context(member, g.config))
    assert "a quiet week, and nothing waiting on you" in out.text
    strict_xml(out.html)
    admin = admin_summary(g.store, g.config, START)
    assert all(p.intros == 0 and p.won_of_closed is None for p in admin.periods)
    out = renderer.render("summary_admin", summary_context(admin, g.config, recipient=MEI[1]))
    assert "0 introductions, 0 won" in out.text
    strict_xml(out.html)
    g.store.close()


# --------------------------------------------------------------------------- benchmark smoke


def test_the_benchmark_runs_small(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "summary_bench.py"), "--members", "20",
         "--referrals", "200", "--db", str(tmp_path / "bench.db")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bench/summary_bench.py" in out
    members = re.findall(r"member with (\d+) referrals: queries per summary: (\d+)", out)
    assert [n for n, _ in members] == ["5", "100"], out  # the quiet member, the busy one
    assert {q for _, q in members} == {"7"}, out  # the summary and the coach's six (with_coaching)
    assert re.search(r"admin summary: .* queries per summary: 10", out), out
