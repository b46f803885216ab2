"""The one-to-one the articles recommend (seed 004): suggested once, with its agenda, never after STOP.

The rule is pure (:func:`refmail.policy.one_to_one.suggest_one_to_one`, unit
tests first); then a group lives through weeks on a simulated clock — intros,
replies to refmail's nudges and the weekly digest through the real tracker,
planner and outbox (``test_summary``'s ``Group``) — and what each member's
weekly email says is read from the outbox, as it would be sent.
"""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from test_summary import BETTY, BOB, GROUP, MEI, TOM, Group

from refmail.config import config_from_dict
from refmail.policy.draft import one_to_one_draft
from refmail.policy.one_to_one import MONTH, Given, suggest_one_to_one
from refmail.storage.one_to_ones import OneToOnes
from refmail.workflow.digest import Digest, latest_slot, week_key
from refmail.workflow.planner import Planner

ZONE = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 9, 9, 0, tzinfo=ZONE)
CONFIG = config_from_dict(GROUP)
ME, OTHER, THIRD = BOB[1], BETTY[1], TOM[1]


def given(n: int, *, won: int = 0, days_ago: int = 10, other: str = OTHER) -> list[Given]:
    return [Given(referral_id=100 + i, introduced_at=NOW - timedelta(days=days_ago + i),
                  status="won" if i < won else "contacted", prospects=(f"Client {i}",))
            for i in range(n)]


def suggest(given_by: dict[str, list[Given]], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"received": {}, "last": None, "last_with": {}, "blocked": set()}
    options.update(kwargs)
    received = options.pop("received")
    return suggest_one_to_one(ME, given_by, received, CONFIG, NOW, **options)


# --------------------------------------------------------------------------- the rule


def test_business_given_and_none_back_suggests_a_one_to_one() -> None:
    assert suggest({OTHER: given(1, won=1)}).other == OTHER  # one won referral is business
    assert suggest({OTHER: given(3)}).other == OTHER  # so are three introductions
    assert suggest({OTHER: given(2)}) is None  # two open ones are not yet
    found = suggest({OTHER: given(3, won=1)})
    assert [g.referral_id for g in found.given] == [102, 101, 100]  # oldest first
    assert [g.referral_id for g in found.won] == [100]


def test_an_introduction_back_or_an_old_one_does_not_count() -> None:
    assert suggest({OTHER: given(3)}, received={OTHER: 1}) is None
    assert suggest({OTHER: given(3)}, received={THIRD: 1}) is not None
    # Outside the period (90 days): history, not a pattern to act on.
    assert suggest({OTHER: given(3, days_ago=95)}) is None
    assert [g.referral_id for g in suggest({OTHER: given(4, days_ago=88)}).given] == [102, 101, 100]


def test_at_most_one_a_month_and_the_same_person_once_per_period() -> None:
    assert suggest({OTHER: given(3)}, last=NOW - MONTH + timedelta(hours=1)) is None
    assert suggest({OTHER: given(3)}, last=NOW - MONTH) is not None
    assert suggest({OTHER: given(3)}, last_with={OTHER: NOW - timedelta(days=60)}) is None
    both = {OTHER: given(3), THIRD: given(1, won=1, other=THIRD)}
    assert suggest(both, last_with={OTHER: NOW - timedelta(days=60)}).other == THIRD


def test_never_to_or_about_someone_who_said_stop() -> None:
    assert suggest({OTHER: given(3)}, blocked={OTHER}) is None
    assert suggest({OTHER: given(3)}, blocked={ME}) is None
    assert suggest({ME: given(5)}) is None  # not with oneself


def test_the_one_with_the_most_business_is_suggested() -> None:
    choice = {OTHER: given(4), THIRD: given(1, won=1, other=THIRD)}
    assert suggest(choice).other == THIRD  # a win before a count of intros
    choice = {OTHER: given(4, won=1), THIRD: given(1, won=1, other=THIRD)}
    assert suggest(choice).other == OTHER


def test_the_invitation_asks_for_a_meeting_not_for_referrals() -> None:
    subject, body = one_to_one_draft("Bob Reyes", "Betty", ["Carl", "Dana", "Carl"])
    assert subject == "Coffee soon?"
    assert body.startswith("Hi Betty,\n") and body.rstrip().endswith("Best,\nBob")
    assert "Carl and Dana" in body and "coffee" in body
    assert "referral" not in body.lower() and "send me" not in body.lower()  # "then, and only then"
    _, many = one_to_one_draft("Bob Reyes", "Betty", ["A", "B", "C", "D"])
    assert "a few people" in many


# --------------------------------------------------------------------------- a group, week by week


def summaries(group: Group, member: str) -> list[EmailMessage]:
    rows = [item for item in group.planner.outbox.items()
            if item.step == "summary_member" and item.recipient == member]
    out = []
    for item in rows:
        message = email.message_from_bytes(item.raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def weekly(group: Group, digest: Digest) -> None:
    """Monday 09:00: this week's summaries are queued (and sent)."""
    slot = latest_slot(group.now, group.config)
    assert group.now - slot < timedelta(days=1)
    digest.plan(group.now)
    group.deliver()


@pytest.fixture
def week(tmp_path: Path) -> Any:
    """Bob introduces three people to Betty on Monday Nov 2; she wins one."""
    g = Group(tmp_path)
    digest = Digest(g.planner)
    digest.plan(g.now)  # installed: the slot before now was not missed
    carl = g.intro(BOB, BETTY, ("Carl Jones", "carl@carlsbakery.example"), "a business coach")
    dana = g.intro(BOB, BETTY, ("Dana Lee", "dana@leedesign.example"), "a business coach")
    g.intro(BOB, BETTY, ("Eve Adams", "eve@adamsgarage.example"), "a business coach")
    g.at(g.now + timedelta(days=1, minutes=5))
    g.reply(g.nudge(carl, "thank_you", BETTY), BETTY, "Thank you Bob, Carl is lovely.")
    g.at(g.now + timedelta(days=6))  # Monday Nov 9, 09:05: the feedback nudges went at 09:00
    g.reply(g.nudge(carl, "feedback", BETTY), BETTY, "WON $2,000 - six sessions, starting next week.")
    g.reply(g.nudge(dana, "feedback", BETTY), BETTY, "NO FIT - Dana runs a restaurant.")
    try:
        yield g, digest
    finally:
        g.store.close()


def test_the_one_to_one_appears_once_with_its_agenda(week: Any) -> None:
    group, digest = week
    weekly(group, digest)
    (first,) = summaries(group, BOB[1])
    text, html = parts(first)
    assert "A ONE-TO-ONE WITH BETTY SMITH?" in text
    assert "you've introduced 3 people to Betty (1 won: $2,000)" in " ".join(text.split())
    # The agenda: each introduction, one at a time, its outcome and value, what Betty said.
    agenda = text[text.index("1. Walk through"):text.index("2. Ask")]
    assert agenda.index("Carl Jones (R-1, Nov 2): won ($2,000)") < agenda.index(
        "Dana Lee (R-2, Nov 2): no fit")
    assert "> WON $2,000 - six sessions" in agenda and "> NO FIT - Dana runs a restaurant." in agenda
    assert "Eve Adams (R-3, Nov 2): not in touch yet" in agenda
    assert "Then, and only then" in text
    # A ready-to-send invitation to Betty, in Bob's own mail: no copy to the tracker.
    doc = lxml.html.document_fromstring(html)
    (invite,) = [a.get("href") for a in doc.iter("a") if a.text_content() == "Invite Betty"]
    link = urlsplit(invite)
    assert link.scheme == "mailto" and unquote(link.path) == BETTY[1]
    assert "cc=" not in link.query and "refs" not in unquote(link.query)
    assert "Hi Betty," in unquote(link.query) and "Carl, Dana and Eve" in unquote(link.query)
    # Betty, who received, is not told to meet Bob; Mei and Tom, who gave nothing, neither.
    for other in (BETTY[1], MEI[1], TOM[1]):
        for message in summaries(group, other):
            assert "ONE-TO-ONE" not in parts(message)[0]
    (row,) = group.store.db.execute("SELECT member, other, week, referrals FROM one_to_ones").fetchall()
    assert row == (BOB[1], BETTY[1], week_key(group.now), "[1, 2, 3]")


def test_not_again_within_the_month_nor_after_a_restart(week: Any) -> None:
    group, digest = week
    weekly(group, digest)
    for _ in range(4):  # Nov 16 … Dec 7: four more Mondays, the planner restarted in between
        group.at(group.now + timedelta(days=7))
        group.planner = Planner(group.config, group.store)
        weekly(group, Digest(group.planner))
    texts = [parts(m)[0] for m in summaries(group, BOB[1])]
    assert len(texts) == 5
    assert ["ONE-TO-ONE" in t for t in texts] == [True, False, False, False, False]
    # A month on, Betty is not suggested again within the period (90 days) …
    assert OneToOnes(group.store).last(BOB[1]) is not None
    # … but new business with someone else is: Bob gives Tom a referral Tom wins.
    gina = group.intro(BOB, TOM, ("Gina Ortiz", "gina@ortizflowers.example"), "a roofer")
    group.at(group.now + timedelta(days=1, minutes=5))
    group.reply(group.nudge(gina, "thank_you", TOM), TOM, "WON $900")
    group.at(group.now + timedelta(days=6))
    weekly(group, digest)
    latest = parts(summaries(group, BOB[1])[-1])[0]
    assert "A ONE-TO-ONE WITH TOM BECKER?" in latest and "Gina Ortiz (R-4" in latest


def test_never_about_someone_who_said_stop(week: Any) -> None:
    group, digest = week
    group.store.stop_person(BETTY[1], group.now)
    weekly(group, digest)
    (first,) = summaries(group, BOB[1])
    assert "ONE-TO-ONE" not in parts(first)[0]
    assert group.store.db.execute("SELECT count(*) FROM one_to_ones").fetchone()[0] == 0


def test_never_to_someone_who_said_stop(week: Any) -> None:
    group, digest = week
    group.store.stop_person(BOB[1], group.now)
    weekly(group, digest)
    assert summaries(group, BOB[1]) == []
    assert group.store.db.execute("SELECT count(*) FROM one_to_ones").fetchone()[0] == 0


def test_a_preview_does_not_use_the_suggestion_up(week: Any) -> None:
    """``refmail summary --member`` shows it; only the summary that is queued records it."""
    group, digest = week
    preview = digest.render_member(BOB[1], group.now)
    assert preview is not None and "A ONE-TO-ONE WITH BETTY SMITH?" in preview.text
    assert group.store.db.execute("SELECT count(*) FROM one_to_ones").fetchone()[0] == 0
    weekly(group, digest)
    assert "ONE-TO-ONE" in parts(summaries(group, BOB[1])[0])[0]
