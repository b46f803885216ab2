"""The follow-up rules: which messages are due for one referral at a given moment.

Every time here is a fixed aware datetime; the rules never read the clock. The
helper :func:`run` plays the planner: it calls ``due_messages`` at a series of
moments and feeds everything returned back in as ``already``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refmail.config import Config, config_from_dict
from refmail.policy.rules import (
    CAP_EXEMPT,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    STEPS,
    Due,
    Event,
    ReferralView,
    due_messages,
    over_weekly_cap,
    quiet_until,
)

CHICAGO = ZoneInfo("America/Chicago")
REF = "tom.becker@beckerroofing.example"
PROV = "betty@coachbetty.example"
PROS = "carl@carlsbakery.example"
PROS2 = "dana@carlsbakery.example"
STRANGER = "eve@elsewhere.example"
#: Monday 6 April 2026, 10:00 in Chicago.
T0 = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)

Key = tuple[str, str, int]


def make_config(**overrides: Any) -> Config:
    timing: dict[str, Any] = {
        "thank_you_after": "1d",
        "feedback_after": "7d",
        "reminder_every": "7d",
        "max_reminders": 2,
        "stale_after": "30d",
        "quiet_hours": "21:00-07:00",
        "backfill": "14d",
    }
    nudges: dict[str, Any] = {"prospect_feedback": 1, "max_per_week": 4}
    for key, value in overrides.items():
        (nudges if key in nudges else timing)[key] = value
    return config_from_dict(
        {
            "group": {
                "name": "Harbor Business Network",
                "tracking_address": "refs@harbornet.example",
                "timezone": "America/Chicago",
            },
            "members": [{"name": "Tom Becker", "email": REF}],
            "timing": timing,
            "nudges": nudges,
        }
    )


CONFIG = make_config()


def ev(id: int, kind: str, after: timedelta, actor: str | None, **detail: Any) -> Event:
    return Event(id=id, kind=kind, at=T0 + after, actor=actor, detail=detail)


def referral(
    *events: Event,
    status: str = "introduced",
    provider: str | None = PROV,
    prospects: Sequence[str] = (PROS,),
    parties: Sequence[str] | None = None,
    silent: bool = False,
) -> ReferralView:
    if parties is None:
        parties = ((provider,) if provider else ()) + tuple(prospects)
    return ReferralView(
        id=12,
        status=status,
        referrer=REF,
        provider=provider,
        prospects=tuple(prospects),
        parties=tuple(parties),
        silent=silent,
        introduced_at=T0,
        events=(ev(1, "introduced", timedelta(0), REF), *events),
    )


def keys(dues: Iterable[Due]) -> set[Key]:
    return {(d.step, d.recipient, d.seq) for d in dues}


def due(
    view: ReferralView,
    after: timedelta,
    *,
    already: Iterable[Key] = (),
    blocked: Iterable[str] = (),
    config: Config = CONFIG,
) -> set[Key]:
    return keys(due_messages(view, config, T0 + after, already=set(already), blocked=set(blocked)))


def run(
    view: ReferralView,
    moments: Iterable[timedelta],
    *,
    config: Config = CONFIG,
    already: Iterable[Key] = (),
    blocked: Iterable[str] = (),
) -> list[tuple[timedelta, set[Key]]]:
    """Play the planner: at each moment, enqueue what is due and remember it."""
    sent = set(already)
    log = []
    for after in moments:
        dues = due_messages(view, config, T0 + after, already=set(sent), blocked=set(blocked))
        got = keys(dues)
        assert len(got) == len(dues), "a key was returned twice"
        assert not got & sent, "returned something already enqueued"
        sent |= got
        log.append((after, got))
    return log


def without_ack(found: set[Key]) -> set[Key]:
    return {k for k in found if k[0] != "ack"}


# -- ack and roles ------------------------------------------------------------
def test_ack_goes_to_the_referrer_right_away_and_nothing_else() -> None:
    assert due(referral(), timedelta(0)) == {("ack", REF, 0)}
    assert due(referral(), timedelta(minutes=5), already={("ack", REF, 0)}) == set()


def test_ack_is_not_sent_weeks_after_the_intro() -> None:
    steps = {k[0] for k in due(referral(), 15 * DAY)}
    assert "ack" not in steps
    assert "thank_you" in steps  # the referral itself is still followed up


def test_roles_unknown_asks_the_referrer_and_nothing_else() -> None:
    view = referral(provider=None, prospects=(), parties=(PROV, PROS))
    assert due(view, timedelta(0)) == {("roles_question", REF, 0)}
    # Even when every timer has long run out: no guessing about who provides.
    assert due(view, 60 * DAY) == {("roles_question", REF, 0)}
    assert due(view, 60 * DAY, already={("roles_question", REF, 0)}) == set()


def test_after_roles_set_the_flow_continues_without_an_ack() -> None:
    roles = ev(2, "roles_set", timedelta(hours=1), REF, provider=PROV)
    asked = {("roles_question", REF, 0)}
    # The view may still show the roles as unknown; the event names the provider.
    stale_view = referral(roles, provider=None, prospects=(), parties=(PROV, PROS))
    fresh_view = referral(roles)
    for view in (stale_view, fresh_view):
        assert due(view, timedelta(hours=2), already=asked) == set()
        assert due(view, DAY, already=asked) == {("thank_you", PROV, 0)}
        assert due(view, 7 * DAY, already=asked | {("thank_you", PROV, 0)}) == {
            ("feedback", PROV, 0),
            ("feedback", PROS, 1),
        }


def test_no_ack_when_the_referrer_set_the_roles_before_being_asked() -> None:
    roles = ev(2, "roles_set", timedelta(minutes=1), REF, provider=PROV)
    assert due(referral(roles), timedelta(minutes=2)) == set()


def test_nobody_outside_the_introduction_is_written_to() -> None:
    # An inconsistent view (a prospect missing from parties) must not widen the audience.
    view = referral(prospects=(PROS, STRANGER), parties=(PROV, PROS))
    found = due(view, 40 * DAY)
    assert ("feedback", PROS, 1) in found
    assert {k[1] for k in found} == {REF, PROV, PROS}


def test_roles_set_naming_a_stranger_is_ignored() -> None:
    roles = ev(2, "roles_set", timedelta(hours=1), REF, provider=STRANGER)
    view = referral(roles, provider=None, prospects=(), parties=(PROV, PROS))
    assert all(k[1] == REF for k in due(view, 60 * DAY))


# -- thank you ------------------------------------------------------------------
def test_thank_you_after_the_configured_delay() -> None:
    acked = {("ack", REF, 0)}
    assert due(referral(), DAY - timedelta(seconds=1), already=acked) == set()
    assert due(referral(), DAY, already=acked) == {("thank_you", PROV, 0)}


def test_no_thank_you_once_the_provider_thanked_and_the_thanks_are_relayed() -> None:
    thanks = ev(7, "thanks", timedelta(hours=3), PROV, text="Thank you Tom!")
    view = referral(thanks)
    found = due_messages(view, CONFIG, T0 + 2 * DAY, already={("ack", REF, 0)}, blocked=set())
    assert keys(found) == {("relay_thanks", REF, 7)}
    assert found[0].event_id == 7


def test_every_thanks_event_by_the_provider_is_relayed_even_when_closed() -> None:
    view = referral(
        ev(5, "thanks", DAY, PROV, text="thanks"),
        ev(6, "thanks", 3 * DAY, PROS, text="from the prospect, not relayed as the provider's"),
        ev(9, "thanks", 40 * DAY, PROV, text="thanks again"),
        status="lost",
    )
    relayed = {k for k in due(view, 50 * DAY) if k[0] == "relay_thanks"}
    assert relayed == {("relay_thanks", REF, 5), ("relay_thanks", REF, 9)}


def test_a_won_referral_without_thanks_still_gets_the_thank_you() -> None:
    assert ("thank_you", PROV, 0) in due(referral(status="won"), 2 * DAY)


@pytest.mark.parametrize("status", ["lost", "no_fit", "withdrawn", "unresponsive"])
def test_no_thank_you_for_a_referral_that_brought_nothing(status: str) -> None:
    assert not {k for k in due(referral(status=status), 2 * DAY) if k[0] == "thank_you"}


# -- thanks after a miss ---------------------------------------------------------------
def closed(status: str, after: timedelta, *events: Event, actor: str = PROV) -> ReferralView:
    change = ev(4, "status", after, actor, **{"from": "contacted", "to": status})
    return referral(*events, change, status=status)


def misses(view: ReferralView, after: timedelta, **kwargs: Any) -> set[Key]:
    return {k for k in due(view, after, **kwargs) if k[0] == "miss_thanks"}


@pytest.mark.parametrize("status", ["no_fit", "lost"])
def test_after_a_miss_the_provider_is_asked_once_to_thank_anyway(status: str) -> None:
    """Seed 000: a valid referral that did not work out still earns a thank-you."""
    view = closed(status, 10 * DAY)
    assert misses(view, 10 * DAY + timedelta(hours=23)) == set()  # thank_you_after since it closed
    assert misses(view, 11 * DAY) == {("miss_thanks", PROV, 0)}
    log = run(view, [timedelta(hours=h) for h in range(0, 24 * 60, 5)])
    assert sum(("miss_thanks", PROV, 0) in got for _, got in log) == 1


def test_no_miss_thanks_once_the_provider_thanked() -> None:
    thanked = ev(3, "thanks", 2 * DAY, PROV, text="Thanks Tom!")
    assert misses(closed("no_fit", 10 * DAY, thanked), 12 * DAY) == set()
    # …nor from anyone else's thanks: the prospect's do not count as the provider's.
    from_prospect = ev(3, "thanks", 2 * DAY, PROS, text="Thanks!")
    assert misses(closed("no_fit", 10 * DAY, from_prospect), 12 * DAY) == {("miss_thanks", PROV, 0)}


@pytest.mark.parametrize("status", ["unresponsive", "withdrawn", "won", "contacted"])
def test_no_miss_thanks_for_what_is_not_a_miss(status: str) -> None:
    assert misses(closed(status, 10 * DAY), 12 * DAY) == set()


def test_no_miss_thanks_long_after_it_closed_nor_to_someone_who_said_stop() -> None:
    view = closed("lost", 10 * DAY)
    assert misses(view, 24 * DAY) == {("miss_thanks", PROV, 0)}
    assert misses(view, 25 * DAY) == set()  # more than MISS_THANKS_WITHIN (14d) after it closed
    assert misses(view, 12 * DAY, blocked={PROV}) == set()
    stopped = closed("lost", 10 * DAY, ev(3, "stop", 5 * DAY, PROV))
    assert misses(stopped, 12 * DAY) == set()


def test_no_miss_thanks_when_the_provider_is_the_referrer_or_unknown() -> None:
    change = ev(4, "status", DAY, REF, **{"from": "introduced", "to": "no_fit"})
    unknown = referral(change, status="no_fit", provider=None, prospects=(), parties=(PROV, PROS))
    assert misses(unknown, 3 * DAY) == set()
    silent = referral(change, status="no_fit", silent=True)
    assert misses(silent, 3 * DAY) == set()


def test_the_miss_counts_from_the_latest_close() -> None:
    """Reopened and closed again: the moment is the last close, and it is asked once."""
    view = referral(
        ev(4, "status", 2 * DAY, PROV, **{"from": "contacted", "to": "no_fit"}),
        ev(5, "status", 3 * DAY, REF, **{"from": "no_fit", "to": "contacted", "reopen": True}),
        ev(6, "status", 30 * DAY, PROV, **{"from": "contacted", "to": "no_fit"}),
        status="no_fit",
    )
    assert misses(view, 30 * DAY + timedelta(hours=12)) == set()
    assert misses(view, 31 * DAY) == {("miss_thanks", PROV, 0)}
    assert misses(view, 31 * DAY, already={("miss_thanks", PROV, 0)}) == set()


# -- feedback -----------------------------------------------------------------
def test_feedback_from_both_sides_after_feedback_after() -> None:
    before = {("ack", REF, 0), ("thank_you", PROV, 0)}
    assert due(referral(), 7 * DAY - timedelta(seconds=1), already=before) == set()
    assert due(referral(), 7 * DAY, already=before) == {("feedback", PROV, 0), ("feedback", PROS, 1)}


def test_no_feedback_request_to_a_provider_who_already_reported() -> None:
    spoke = [
        ev(3, "feedback", 2 * DAY, PROV, text="Great call with Carl"),
        ev(3, "status", 2 * DAY, PROV, **{"from": "introduced", "to": "meeting"}),
    ]
    for event in spoke:
        assert ("feedback", PROV, 0) not in due(referral(event), 8 * DAY)


def test_a_status_inferred_from_first_contact_is_not_feedback() -> None:
    inferred = ev(3, "status", DAY, PROV, **{"from": "introduced", "to": "contacted", "why": "first contact"})
    found = due(referral(inferred), 8 * DAY)
    assert ("feedback", PROV, 0) in found
    assert ("status_update", REF, 3) in found  # the referrer still hears about the contact


@pytest.mark.parametrize(
    ("asks", "expected"),
    [
        (0, set()),
        (1, {("feedback", PROS, 1), ("feedback", PROS2, 1)}),
        (2, {("feedback", PROS, 1), ("feedback", PROS2, 1), ("feedback", PROS, 2), ("feedback", PROS2, 2)}),
    ],
)
def test_prospect_feedback_zero_one_or_two_requests(asks: int, expected: set[Key]) -> None:
    config = make_config(prospect_feedback=asks, stale_after="90d")
    view = referral(prospects=(PROS, PROS2))
    log = run(view, [timedelta(0), 7 * DAY, 10 * DAY, 14 * DAY, 30 * DAY, 60 * DAY], config=config)
    to_prospects = {k for _, got in log for k in got if k[1] in (PROS, PROS2)}
    assert to_prospects == expected
    if asks == 2:
        second = {after for after, got in log if ("feedback", PROS, 2) in got}
        assert second == {14 * DAY}  # another feedback_after after the first


def test_second_prospect_request_never_before_the_first_was_sent() -> None:
    config = make_config(prospect_feedback=2)
    found = due(referral(), 20 * DAY, config=config, already={("ack", REF, 0)})
    assert ("feedback", PROS, 1) in found
    assert ("feedback", PROS, 2) not in found


def test_no_feedback_request_to_a_prospect_who_already_gave_feedback() -> None:
    config = make_config(prospect_feedback=2)
    view = referral(ev(4, "feedback", 9 * DAY, PROS2, text="Betty was lovely"), prospects=(PROS, PROS2))
    log = run(view, [timedelta(0), 10 * DAY, 14 * DAY, 20 * DAY], config=config)
    sent = {k for _, got in log for k in got}
    assert ("feedback", PROS, 1) in sent and ("feedback", PROS, 2) in sent
    assert not {k for k in sent if k[0] == "feedback" and k[1] == PROS2}


# -- status updates -------------------------------------------------------------
def test_status_and_feedback_events_are_passed_to_the_referrer() -> None:
    view = referral(
        ev(3, "status", DAY, PROV, **{"from": "introduced", "to": "meeting"}),
        ev(4, "feedback", 2 * DAY, PROS, text="We met, she's great"),
        ev(5, "status", 3 * DAY, REF, **{"from": "meeting", "to": "proposal"}),  # the referrer's own
        ev(6, "feedback", 3 * DAY, REF, text="my own note"),
    )
    found = due_messages(view, CONFIG, T0 + 3 * DAY, already={("ack", REF, 0)}, blocked=set())
    updates = [d for d in found if d.step == "status_update"]
    assert [(d.seq, d.event_id) for d in updates] == [(3, 3), (4, 4)]
    assert {d.recipient for d in updates} == {REF}


@pytest.mark.parametrize("bad", ["lost", "no_fit", "unresponsive"])
def test_bad_news_is_due_at_once_even_at_night(bad: str) -> None:
    # 23:10 in Chicago: the rules still say "due"; only the planner holds it.
    night = datetime(2026, 4, 8, 4, 10, tzinfo=UTC)
    view = referral(
        Event(8, "status", night - timedelta(minutes=1), PROV, {"from": "contacted", "to": bad}),
        status=bad,
    )
    found = keys(
        due_messages(view, CONFIG, night, already={("ack", REF, 0), ("thank_you", PROV, 0)}, blocked=set())
    )
    assert found == {("status_update", REF, 8)}
    assert quiet_until(night, CONFIG) == datetime(2026, 4, 8, 7, 0, tzinfo=CHICAGO)


def test_events_after_now_are_not_known_yet() -> None:
    view = referral(ev(3, "status", 5 * DAY, PROV, **{"from": "introduced", "to": "lost"}))
    assert ("status_update", REF, 3) not in due(view, 4 * DAY)
    assert ("status_update", REF, 3) in due(view, 5 * DAY)


# -- stale referrals --------------------------------------------------------------
def test_reminders_follow_each_other_up_to_max_reminders_then_stop() -> None:
    config = make_config(prospect_feedback=0)
    moments = [
        timedelta(0),
        DAY,
        7 * DAY,
        29 * DAY,
        30 * DAY,
        33 * DAY,
        37 * DAY,
        44 * DAY,
        51 * DAY,
        200 * DAY,
    ]
    log = dict(run(referral(), moments, config=config))
    stale = {after: {k for k in got if k[0] in ("stale_reminder", "no_news")} for after, got in log.items()}
    assert stale[29 * DAY] == set()
    assert stale[30 * DAY] == {("stale_reminder", PROV, 1), ("no_news", REF, 1)}
    assert stale[33 * DAY] == set()
    assert stale[37 * DAY] == {("stale_reminder", PROV, 2), ("no_news", REF, 2)}
    assert stale[44 * DAY] == stale[51 * DAY] == stale[200 * DAY] == set()


def test_a_late_planner_sends_the_next_reminder_not_a_burst() -> None:
    found = due(referral(), 100 * DAY, already={("ack", REF, 0), ("stale_reminder", PROV, 2)})
    assert ("stale_reminder", PROV, 1) in found
    assert ("stale_reminder", PROV, 2) not in found
    assert {k for k in found if k[0] == "no_news"} == {("no_news", REF, 1)}


@pytest.mark.parametrize(
    "kind", ["first_contact", "thread_reply", "status", "feedback", "thanks", "roles_set"]
)
def test_news_restarts_the_stale_clock(kind: str) -> None:
    news = ev(3, kind, 20 * DAY, PROV, **{"from": "introduced", "to": "contacted"})
    assert not {k for k in due(referral(news), 45 * DAY) if k[0] == "stale_reminder"}
    assert ("stale_reminder", PROV, 1) in due(referral(news), 50 * DAY)


def test_non_news_events_do_not_restart_the_stale_clock() -> None:
    noise = ev(3, "intro_seen_again", 20 * DAY, REF)
    assert ("stale_reminder", PROV, 1) in due(referral(noise), 30 * DAY)


def test_max_reminders_zero_means_none() -> None:
    assert not {
        k
        for k in due(referral(), 90 * DAY, config=make_config(max_reminders=0))
        if k[0] in ("stale_reminder", "no_news")
    }


# -- closed business and closed referrals ---------------------------------------
def test_won_with_a_value_thanks_the_referrer_for_the_business() -> None:
    won = ev(
        9, "status", 20 * DAY, PROV, **{"from": "proposal", "to": "won", "value": "4800", "currency": "USD"}
    )
    found = due_messages(referral(won, status="won"), CONFIG, T0 + 20 * DAY, already=set(), blocked=set())
    closed = [d for d in found if d.step == "closed_thanks"]
    assert [(d.recipient, d.seq, d.event_id) for d in closed] == [(REF, 0, 9)]
    assert ("status_update", REF, 9) in keys(found)


@pytest.mark.parametrize("value", [None, "", 0])
def test_won_without_a_value_gets_no_closed_thanks(value: Any) -> None:
    won = ev(9, "status", 20 * DAY, PROV, **{"from": "proposal", "to": "won", "value": value})
    assert not {k for k in due(referral(won, status="won"), 20 * DAY) if k[0] == "closed_thanks"}


def test_closed_thanks_needs_the_referral_to_be_won_now() -> None:
    won = ev(9, "status", 20 * DAY, PROV, **{"from": "proposal", "to": "won", "value": 4800})
    undone = ev(10, "status", 21 * DAY, PROV, **{"from": "won", "to": "lost"})
    assert not {k for k in due(referral(won, undone, status="lost"), 22 * DAY) if k[0] == "closed_thanks"}


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES))
def test_closed_referrals_get_no_nudges(status: str) -> None:
    found = due(
        referral(status=status, prospects=(PROS, PROS2)), 120 * DAY, config=make_config(prospect_feedback=2)
    )
    steps = {k[0] for k in found}
    assert not steps & {"ack", "roles_question", "feedback", "stale_reminder", "no_news"}
    assert ("thank_you" in steps) == (status == "won")


def test_a_proposed_referral_is_not_followed_up_yet() -> None:
    assert due(referral(status="proposed"), 120 * DAY) == set()


# -- everywhere ---------------------------------------------------------------------
def test_silent_referral_gets_nothing() -> None:
    view = referral(
        ev(3, "thanks", DAY, PROV, text="thanks"),
        ev(4, "status", 2 * DAY, PROV, **{"from": "introduced", "to": "won", "value": 100}),
        status="won",
        silent=True,
    )
    assert due(view, timedelta(0)) == due(view, 90 * DAY) == set()
    assert due(referral(silent=True), 90 * DAY) == set()


def test_blocked_addresses_get_nothing() -> None:
    everything = due(referral(), 40 * DAY)
    assert {k[1] for k in everything} == {REF, PROV, PROS}
    for person in (REF, PROV, PROS):
        found = due(referral(), 40 * DAY, blocked={person})
        assert found == {k for k in everything if k[1] != person}
    # Addresses compare case-insensitively.
    assert not {k for k in due(referral(), 40 * DAY, blocked={PROV.upper()}) if k[1] == PROV}


def test_stop_and_bounce_events_block_the_person_within_the_referral() -> None:
    view = referral(ev(3, "stop", 2 * DAY, PROS), ev(4, "bounce", 2 * DAY, PROV))
    found = due(view, 40 * DAY)
    assert {k[1] for k in found} == {REF}
    assert ("no_news", REF, 1) in found  # the referrer still hears that the provider went quiet


def test_each_step_at_most_once_per_person() -> None:
    config = make_config(prospect_feedback=2)
    view = referral(
        ev(3, "status", 2 * DAY, PROV, **{"from": "introduced", "to": "contacted"}),
        ev(4, "thanks", 3 * DAY, PROV, text="thanks Tom"),
        ev(5, "feedback", 9 * DAY, PROS, text="good"),
        prospects=(PROS, PROS2),
    )
    moments = [timedelta(hours=h) for h in range(0, 24 * 120, 7)]
    log = run(view, moments, config=config)
    sent = [k for _, got in log for k in got]
    assert len(sent) == len(set(sent))
    assert {k[0] for k in sent} >= {
        "ack",
        "relay_thanks",
        "feedback",
        "status_update",
        "stale_reminder",
        "no_news",
    }


def test_result_is_in_step_then_recipient_order() -> None:
    view = referral(ev(3, "feedback", DAY, PROS2, text="fine"), prospects=(PROS2, PROS))
    found = due_messages(view, make_config(prospect_feedback=2), T0 + 40 * DAY, already=set(), blocked=set())
    order = [(STEPS.index(d.step), d.recipient, d.seq) for d in found]
    assert order == sorted(order)
    assert len({d.step for d in found}) > 3


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_messages(referral(), CONFIG, datetime(2026, 4, 7, 12, 0), already=set(), blocked=set())


# -- quiet hours ---------------------------------------------------------------------
def local(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO, fold=fold)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two instants (same-zone subtraction would use wall clocks)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (local(2026, 4, 6, 22, 30), local(2026, 4, 7, 7, 0)),
        (local(2026, 4, 7, 6, 0), local(2026, 4, 7, 7, 0)),
        (local(2026, 4, 6, 21, 0), local(2026, 4, 7, 7, 0)),
        (local(2026, 4, 6, 0, 0), local(2026, 4, 6, 7, 0)),
        (local(2026, 4, 6, 7, 0), None),
        (local(2026, 4, 6, 20, 59), None),
        (local(2026, 4, 6, 12, 0), None),
    ],
)
def test_quiet_hours_across_midnight(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now, CONFIG) == until
    # The same instant given in UTC gives the same answer.
    assert quiet_until(now.astimezone(UTC), CONFIG) == until


def test_quiet_until_is_in_the_group_zone() -> None:
    result = quiet_until(datetime(2026, 4, 7, 4, 0, tzinfo=UTC), CONFIG)
    assert result is not None and result.tzinfo == CHICAGO
    assert result.astimezone(UTC) == datetime(2026, 4, 7, 12, 0, tzinfo=UTC)


def test_quiet_hours_over_the_fall_back_night() -> None:
    now = local(2026, 10, 31, 22, 30)  # CDT
    until = quiet_until(now, CONFIG)
    assert until == local(2026, 11, 1, 7, 0)  # CST
    assert until is not None and until.utcoffset() == timedelta(hours=-6)
    assert elapsed(now, until) == timedelta(hours=9, minutes=30)
    # Inside the repeated hour (the second 01:30, CST): still today's 07:00.
    repeated = local(2026, 11, 1, 1, 30, fold=1)
    until = quiet_until(repeated, CONFIG)
    assert until is not None and elapsed(repeated, until) == timedelta(hours=5, minutes=30)


def test_quiet_hours_over_the_spring_forward_night() -> None:
    now = local(2026, 3, 7, 22, 30)  # CST
    until = quiet_until(now, CONFIG)
    assert until == local(2026, 3, 8, 7, 0)  # CDT
    assert until is not None and until.utcoffset() == timedelta(hours=-5)
    assert elapsed(now, until) == timedelta(hours=7, minutes=30)


def test_quiet_hours_ending_inside_the_skipped_hour_end_when_the_clock_jumps() -> None:
    config = make_config(quiet_hours="23:00-02:30")
    until = quiet_until(local(2026, 3, 8, 1, 0), config)
    assert until is not None
    assert until.astimezone(UTC) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 03:00 CDT


def test_quiet_hours_ending_inside_the_repeated_hour() -> None:
    config = make_config(quiet_hours="00:00-01:30")
    first = quiet_until(local(2026, 11, 1, 0, 30), config)
    assert first is not None and first.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert quiet_until(local(2026, 11, 1, 1, 45), config) is None  # first 01:45, CDT
    # The clock reads 01:10 again after falling back: quiet until the second 01:30.
    second = quiet_until(local(2026, 11, 1, 1, 10, fold=1), config)
    assert second is not None and second.astimezone(UTC) == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (local(2026, 4, 6, 12, 0), local(2026, 4, 6, 13, 0)),
        (local(2026, 4, 6, 12, 59), local(2026, 4, 6, 13, 0)),
        (local(2026, 4, 6, 13, 0), None),
        (local(2026, 4, 6, 11, 59), None),
        (local(2026, 4, 6, 23, 0), None),
    ],
)
def test_quiet_hours_that_do_not_wrap(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now, make_config(quiet_hours="12:00-13:00")) == until


def test_no_quiet_hours() -> None:
    config = make_config(quiet_hours="")
    assert config.timing.quiet_hours is None
    assert quiet_until(local(2026, 4, 6, 23, 0), config) is None


# -- weekly cap ------------------------------------------------------------------------
def test_weekly_cap_boundary() -> None:
    now = T0
    assert CONFIG.nudges.max_per_week == 4
    three = [now - DAY, now - 2 * DAY, now - 6 * DAY]
    assert not over_weekly_cap([], now, CONFIG)
    assert not over_weekly_cap(three, now, CONFIG)
    assert over_weekly_cap([*three, now], now, CONFIG)
    # Exactly seven days old no longer counts; a second younger does.
    assert not over_weekly_cap([*three, now - 7 * DAY], now, CONFIG)
    assert over_weekly_cap([*three, now - 7 * DAY + timedelta(seconds=1)], now, CONFIG)
    # Times in another zone are the same instants.
    assert over_weekly_cap([t.astimezone(CHICAGO) for t in [*three, now]], now, CONFIG)
    assert over_weekly_cap([now] * 2, now, make_config(max_per_week=2))


def test_cap_exempt_steps_answer_the_person_s_own_action() -> None:
    # Of the rules' own steps only the answers to an intro; the rest are the
    # answers refmail.workflow.notices queues (a confirmation, its result, STOP confirmed,
    # what did not count, a member's profile as it reads).
    assert frozenset({"ack", "roles_question"}) == CAP_EXEMPT & set(STEPS)
    assert CAP_EXEMPT - set(STEPS) == {"confirm", "confirm_result", "stopped", "refused", "profile"}
    assert not OPEN_STATUSES & CLOSED_STATUSES


# -- properties -------------------------------------------------------------------------
PEOPLE = (REF, PROV, PROS, PROS2, STRANGER)
KINDS = (
    "introduced",
    "first_contact",
    "thread_reply",
    "status",
    "feedback",
    "thanks",
    "roles_set",
    "stop",
    "bounce",
    "intro_seen_again",
    "send_failed",
)
STATUSES = sorted(OPEN_STATUSES | CLOSED_STATUSES | {"proposed"})
CONFIGS = {
    (asks, reminders): make_config(prospect_feedback=asks, max_reminders=reminders)
    for asks in (0, 1, 2)
    for reminders in (0, 1, 3)
}
ZONES = (UTC, CHICAGO, ZoneInfo("Asia/Kolkata"))


@st.composite
def histories(draw: st.DrawFn) -> ReferralView:
    parties = draw(st.lists(st.sampled_from((PROV, PROS, PROS2)), min_size=1, max_size=3, unique=True))
    provider = draw(st.none() | st.sampled_from(parties))
    prospects = tuple(p for p in parties if p != provider) if provider else ()
    count = draw(st.integers(0, 12))
    offsets = sorted(draw(st.lists(st.integers(0, 150 * 86400), min_size=count, max_size=count)))
    events = []
    for i, offset in enumerate(offsets, start=1):
        kind = draw(st.sampled_from(KINDS))
        detail: dict[str, Any] = {}
        if kind == "status":
            detail = {"from": draw(st.sampled_from(STATUSES)), "to": draw(st.sampled_from(STATUSES))}
            if draw(st.booleans()):
                detail["value"] = draw(st.none() | st.integers(0, 10**6) | st.text(max_size=5))
            if draw(st.booleans()):
                detail["why"] = "first contact"
        elif kind == "roles_set":
            detail = {"provider": draw(st.sampled_from(PEOPLE))}
        zone = draw(st.sampled_from(ZONES))
        events.append(
            Event(
                i,
                kind,
                (T0 + timedelta(seconds=offset)).astimezone(zone),
                draw(st.none() | st.sampled_from(PEOPLE)),
                detail,
            )
        )
    return ReferralView(
        id=1,
        status=draw(st.sampled_from(STATUSES)),
        referrer=REF,
        provider=provider,
        prospects=prospects,
        parties=tuple(parties),
        silent=draw(st.booleans()),
        introduced_at=T0,
        events=tuple(events),
    )


def plausible_keys(view: ReferralView) -> st.SearchStrategy[set[Key]]:
    seqs = [0, 1, 2, 3, *(e.id for e in view.events)]
    key = st.tuples(st.sampled_from(STEPS), st.sampled_from(PEOPLE), st.sampled_from(seqs))
    return st.sets(key, max_size=25)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_due_messages_properties(data: st.DataObject) -> None:
    view = data.draw(histories())
    config = CONFIGS[(data.draw(st.sampled_from((0, 1, 2))), data.draw(st.sampled_from((0, 1, 3))))]
    now = T0 + timedelta(seconds=data.draw(st.integers(-86400, 200 * 86400)))
    already = data.draw(plausible_keys(view))
    blocked = data.draw(st.sets(st.sampled_from(PEOPLE)))

    first = due_messages(view, config, now, already=already, blocked=blocked)
    # Feed part of a first answer back in, as a planner would after enqueueing it.
    fed = data.draw(st.sets(st.sampled_from(sorted(keys(first))))) if first else set()
    for known in (already, already | fed):
        found = due_messages(view, config, now, already=set(known), blocked=set(blocked))
        assert found == due_messages(view, config, now, already=set(known), blocked=set(blocked))
        got = [(d.step, d.recipient, d.seq) for d in found]
        assert len(got) == len(set(got))
        assert not set(got) & known
        assert not {d.recipient for d in found} & blocked
        assert {d.recipient for d in found} <= {view.referrer, *view.parties}
        assert all(d.step in STEPS for d in found)
        order = [(STEPS.index(d.step), d.recipient, d.seq) for d in found]
        assert order == sorted(order)
        for d in found:  # sequenced steps never skip ahead of what was sent
            if d.step in ("stale_reminder", "no_news"):
                assert 1 <= d.seq <= config.timing.max_reminders
                assert all((d.step, d.recipient, n) in known for n in range(1, d.seq))
            if d.step == "feedback" and d.seq == 2:
                assert ("feedback", d.recipient, 1) in known
        if view.silent:
            assert found == []
        stopped = {e.actor for e in view.events if e.kind in ("stop", "bounce") and e.at <= now}
        assert not {d.recipient for d in found} & stopped
