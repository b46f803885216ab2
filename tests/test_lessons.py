"""What the referrals that missed teach: why, per member and for the group, month by month.

Months of a small group through the real pipeline (``test_summary``'s
``Group``: raw mail into the tracker, replies to the plus token of the nudge
they answer), then the admins' and the provider's summaries.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from test_summary import BETTY, BOB, GROUP, MEI, TOM, Group, strict_xml

from refmail.config import config_from_dict
from refmail.render.renderer import Renderer
from refmail.summaries.lessons import group_lessons, member_lessons
from refmail.summaries.member import admin_summary, member_summary, summary_context, with_coaching

ZONE = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=ZONE)
CARL = ("Carl Jones", "carl@carlsbakery.example")
DANA = ("Dana Lee", "dana@leedesign.example")
EVE = ("Eve Adams", "eve@adamsgarage.example")
FRANK = ("Frank Ng", "frank@ngtravel.example")


def closed_after_a_week(group: Group, referrer: tuple[str, str], prospect: tuple[str, str], when: datetime,
                        answer: str | None, *, by: tuple[str, str] = BETTY) -> int:
    """An intro to Betty on ``when``; a week later ``by`` answers the feedback nudge."""
    group.at(when)
    rid = group.intro(referrer, BETTY, prospect, "a business coach")
    group.at(when + timedelta(days=7, minutes=5))
    if answer is not None:
        group.reply(group.nudge(rid, "feedback", by), by, answer)
    return rid


@pytest.fixture
def group(tmp_path: Path) -> Any:
    settings = copy.deepcopy(GROUP)
    settings["members"][1]["looking_for"] = "Real-estate agents who want to grow their team"
    g = Group(tmp_path, config_from_dict(settings))
    g.now = datetime(2026, 8, 3, 9, 0, tzinfo=ZONE)
    closed_after_a_week(g, BOB, CARL, g.now, "NO FIT - Carl runs a restaurant.")
    closed_after_a_week(g, BOB, DANA, datetime(2026, 9, 7, 9, 0, tzinfo=ZONE),
                        "LOST - too expensive for Dana right now.")
    # Eve, the prospect, writes to the tracker alone: her words are for Tom, the referrer.
    closed_after_a_week(g, TOM, EVE, datetime(2026, 10, 5, 9, 0, tzinfo=ZONE),
                        "NO FIT. Betty was far too expensive for us.", by=EVE)
    won = closed_after_a_week(g, MEI, FRANK, datetime(2026, 11, 2, 9, 0, tzinfo=ZONE), None)
    g.reply(g.nudge(won, "feedback", BETTY), BETTY, "WON $1,500")
    g.at(NOW)
    try:
        yield g
    finally:
        g.store.close()


def counts(reasons: Any) -> dict[str, int]:
    return {r.reason: r.count for r in reasons}


def test_the_group_sees_why_referrals_failed_month_by_month(group: Group) -> None:
    lessons = group_lessons(group.store, group.config, NOW)
    assert [m.label for m in lessons.months] == ["Jun", "Jul", "Aug", "Sep", "Oct", "Nov"]
    by_month = {m.label: (m.failed, {c.reason: c.count for c in m.counts if c.count}) for m in lessons.months}
    assert by_month == {
        "Jun": (0, {}), "Jul": (0, {}),
        "Aug": (1, {"no_fit": 1}),
        "Sep": (1, {"price": 1}),
        # Eve is not a member: the admins read no words of hers, only her NO FIT.
        "Oct": (1, {"no_fit": 1}),
        "Nov": (0, {}),
    }
    assert counts(lessons.totals) == {"no_fit": 2, "price": 1}
    (betty,) = lessons.often_missed
    assert (betty.member.email, betty.missed, betty.closed) == (BETTY[1], 3, 4)
    assert counts(betty.reasons) == {"no_fit": 2, "price": 1}
    assert betty.looking_for == "Real-estate agents who want to grow their team"


def test_a_member_learns_from_what_was_meant_for_them(group: Group) -> None:
    lessons = member_lessons(group.store, group.config, BETTY[1], NOW)
    assert (lessons.closed, lessons.won, lessons.missed) == (4, 1, 3)
    # Her own words (price) and the statuses; not Eve's note to Tom ("far too expensive").
    assert counts(lessons.reasons) == {"no_fit": 2, "price": 1}
    nobody = member_lessons(group.store, group.config, BOB[1], NOW)
    assert (nobody.closed, nobody.missed, nobody.reasons) == (0, 0, ())


def test_old_misses_leave_the_lessons(group: Group) -> None:
    a_year_on = NOW + timedelta(days=370)
    assert member_lessons(group.store, group.config, BETTY[1], a_year_on).closed == 0
    later = group_lessons(group.store, group.config, a_year_on)
    assert later.often_missed == () and later.totals == ()


def test_the_admin_summary_charts_the_reasons(group: Group) -> None:
    renderer = Renderer(group.config)
    summary = admin_summary(group.store, group.config, NOW)
    out = renderer.render("summary_admin", summary_context(summary, group.config, recipient=MEI[1]))
    text = out.text
    chart = text[text.index("WHY INTRODUCTIONS DIDN'T WORK OUT"):].splitlines()
    assert chart[2].split() == ["Jun", "Jul", "Aug", "Sep", "Oct", "Nov"]
    rows = {line[:24].strip(): line[24:].split() for line in chart[3:6]}
    assert rows == {"Not a fit": ["0", "0", "1", "0", "1", "0"], "Price": ["0", "0", "0", "1", "0", "0"],
                    "Didn't work out, in all": ["0", "0", "1", "1", "1", "0"]}
    assert "Betty Smith: 3 of 4 introductions to them that closed didn't work out: not a fit (2), price (1)" \
        in text
    assert "Looking for: Real-estate agents who want to grow their team" in text
    doc = lxml.html.document_fromstring(out.html)
    strict_xml(out.html)
    content = " ".join(doc.text_content().split())
    assert "Why introductions didn’t work out" in content and "Introductions that often miss" in content
    # The chart is table cells, numbers beside the bars: no image, nothing fetched.
    assert doc.xpath("//td[@bgcolor]") and not doc.xpath("//img")


def test_the_provider_reads_what_their_misses_teach(group: Group) -> None:
    renderer = Renderer(group.config)
    summary = with_coaching(member_summary(group.store, group.config, BETTY[1], NOW), group.store,
                            group.config, NOW)
    out = renderer.render("summary_member", summary_context(summary, group.config))
    text = " ".join(out.text.split())
    assert "Looking for: Real-estate agents who want to grow their team Not looking for: -" in text
    assert "3 introductions to you didn't work out, of 4 that closed: not a fit (2), price (1)" in text
    assert "far too expensive" not in out.text and "far too expensive" not in out.html
    strict_xml(out.html)
