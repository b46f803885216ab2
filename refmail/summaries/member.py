"""Weekly summaries: what each member, and the group's admins, read once a week.

SPEC "The flow", step 5, and the articles in ``seeds/``: networkers want to be
kept informed, to be thanked, to hear from *both* sides, to learn from the
referrals that failed, and to see whether business flows both ways. A member's
summary answers "what happened to the people I introduced, what is waiting on
me, and who has sent me business I have not returned"; the admins' summary
(:mod:`refmail.summaries.group`) answers "is the group working".

Computing is separate from wording: :func:`member_summary` and
:func:`admin_summary` return frozen values (:mod:`refmail.summaries.values`),
:func:`summary_context` turns one into the context of the templates
``summary_member`` and ``summary_admin``.

Cost is a constant number of SQL statements per summary, whatever the number
of referrals: one for a member, six for the admins (:func:`count_queries`
shows it). Everything per referral (last news, thanks, the feedback asked of
the member, the parties) is a correlated subquery on an index, not a query of
its own, and the statements run in one read transaction, so a summary is a
consistent snapshot even while the daemon writes.

Privacy: a member's query starts from the referrals they are part of —
referrer, provider, prospect or party, by their address or an alias — and
every other row it reads is reached from those. Nothing about any other
referral is ever read, so nothing can leak into the summary.

Windows are relative to ``now`` in the group's time zone: the last 7 days,
and since the same local time one calendar month and one year ago.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from refmail.config import Config
from refmail.policy.rules import MISSES, OPEN_STATUSES
from refmail.render.renderer import format_money
from refmail.storage.profiles import Profile, Profiles
from refmail.storage.store import Store
from refmail.summaries.group import admin_summary
from refmail.summaries.lessons import member_lessons
from refmail.summaries.one_to_one import one_to_one
from refmail.summaries.values import (
    NEWS_EVENT_KINDS,
    PROPOSAL_STATUSES,
    AdminSummary,
    Closed,
    FailureLine,
    LedgerLine,
    MemberActivity,
    MemberSummary,
    MemberWeek,
    Money,
    News,
    People,
    Period,
    Person,
    ReferralLine,
    StaleLine,
    Waiting,
    count_queries,
    from_julian,
    money_totals,
    months_back,
    parties_sql,
    person,
    placeholders,
    referral_line,
    snapshot,
)

__all__ = [
    "AdminSummary",
    "Closed",
    "FailureLine",
    "LedgerLine",
    "MemberActivity",
    "MemberSummary",
    "MemberWeek",
    "Money",
    "News",
    "Period",
    "Person",
    "ReferralLine",
    "StaleLine",
    "Waiting",
    "admin_summary",
    "count_queries",
    "member_summary",
    "summary_context",
    "with_coaching",
]

#: A referral without news for longer than this is not "recent" in a list.
RECENT = timedelta(days=30)
#: Longest lists in one email; the rest are counted ("and 12 more").
LIST_LIMIT = 12
LEDGER_LIMIT = 10
#: Statuses in which something can still wait on a member: an open referral,
#: and a won one while its provider has not thanked the referrer.
WAITING_STATUSES = OPEN_STATUSES | {"won"}

_MEMBER_SQL = """
WITH mine(id) AS (
    SELECT id FROM referrals WHERE referrer IN ({me})
    UNION
    SELECT referral_id FROM parties WHERE address IN ({me})
),
facts AS (
    SELECT r.id, r.status, r.referrer, r.provider, r.subject, r.silent, r.introduced_at, r.updated_at,
        (SELECT max(e.id) FROM events e WHERE e.referral_id = r.id AND +e.kind IN ({news})) AS news_id,
        (SELECT max(e.id) FROM events e WHERE e.referral_id = r.id AND e.kind = 'status') AS status_id,
        (SELECT max(julianday(e.at)) FROM events e
            WHERE e.referral_id = r.id AND e.kind = 'thanks') AS thanks_jd,
        (SELECT max(julianday(o.sent_at)) FROM outbox o
            WHERE o.referral_id = r.id AND o.step = 'feedback' AND o.status = 'sent'
            AND o.recipient IN ({me})) AS asked_jd,
        (SELECT max(julianday(o.sent_at)) FROM outbox o
            WHERE o.referral_id = r.id AND o.step = 'miss_thanks' AND o.status = 'sent'
            AND o.recipient IN ({me})) AS miss_asked_jd,
        (SELECT max(julianday(e.at)) FROM events e
            WHERE e.referral_id = r.id AND e.actor IN ({me}) AND (e.kind = 'feedback' OR (
                e.kind = 'status' AND json_extract(e.detail, '$.why') IS NULL
                AND json_extract(e.detail, '$.inferred') IS NULL))) AS answered_jd,
        {parties} AS parties
    FROM referrals r WHERE r.id IN mine
)
SELECT f.*, n.at AS news_at, n.kind AS news_kind, n.actor AS news_actor, n.detail AS news_detail,
    s.at AS status_at, s.detail AS status_detail
FROM facts f
LEFT JOIN events n ON n.id = f.news_id
LEFT JOIN events s ON s.id = f.status_id
ORDER BY f.id DESC
"""


def member_summary(store: Store, config: Config, member: str, now: datetime) -> MemberSummary:
    """The weekly summary for ``member`` (an address or alias): one SQL statement.

    "Waiting on you" lists only what is still to be done, as the nudges ask it
    (:mod:`refmail.policy.rules`): *thank* — the member is the provider, has
    not thanked (no ``thanks`` event), and the referral is open or won (a won
    referral whose provider forgot to say thanks still should; one that was
    lost, no fit or withdrawn is over, unless refmail asked them to thank the
    referrer anyway: *thank_miss*, after a miss); *feedback* — the referral is open, a
    ``feedback`` nudge to them was sent and they have given no feedback or
    status of their own since (a status the tracker inferred from their mail
    is not an answer). Referrals tracked silently
    (history imported or backfilled) count in the totals and the ledger but
    wait on no one, and are listed only when they have recent news.

    Lists hold open referrals and those with news in the last 30 days, the
    latest news first, at most :data:`LIST_LIMIT` each (the rest counted).
    """
    address = config.canonical(member)
    configured = config.member(address)
    me = frozenset([address, *(configured.aliases if configured else [])])
    zone = config.zone
    local = now.astimezone(zone)
    week_start, recent_start = local - timedelta(days=7), local - RECENT
    year_start = months_back(local, 12)
    me_marks, params = placeholders("m", sorted(me))
    news_marks, news_params = placeholders("k", NEWS_EVENT_KINDS)
    sql = _MEMBER_SQL.format(me=me_marks, news=news_marks, parties=parties_sql("r"))
    with snapshot(store):
        rows = list(store.db.query(sql, {**params, **news_params}))

    people = People(config)
    given: list[ReferralLine] = []
    received: list[ReferralLine] = []
    waiting: list[Waiting] = []
    week: dict[str, int] = defaultdict(int)
    ledger: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    won_given: list[ReferralLine] = []
    won_received: list[ReferralLine] = []
    for row in rows:
        line = referral_line(row, people, me)
        mine_given = line.role == "referrer"
        (given if mine_given else received).append(line)
        this_year = line.introduced_at >= year_start
        if line.introduced_at >= week_start and line.status not in PROPOSAL_STATUSES:
            week["given" if mine_given else "received"] += 1
        if mine_given and row["thanks_jd"] is not None and from_julian(row["thanks_jd"], zone) >= week_start:
            week["thanks_received"] += 1
        if line.closed_at and line.status == "won" and line.closed_at >= week_start:
            week["won"] += 1
        news = line.last_news
        if news and news.at >= week_start and (news.actor is None or news.actor.email not in me):
            week["updates"] += 1
        if line.status == "won":
            if mine_given:
                won_given.append(line)
            elif line.role == "provider":
                won_received.append(line)
        # Reciprocity: business flows from a referrer to a provider.
        other = line.provider if mine_given else line.referrer
        business = mine_given or line.role == "provider"
        if business and other and other.email not in me and config.is_member(other.email):
            counts = ledger[config.canonical(other.email)]
            key = "you_sent" if mine_given else "sent_you"
            counts[key] += 1
            counts[key + "_year"] += this_year
            counts["won_for_them" if mine_given else "won_from_them"] += line.status == "won"
        miss_asked = row["miss_asked_jd"]
        if (line.role == "provider" and line.status in MISSES and row["thanks_jd"] is None
                and miss_asked is not None and from_julian(miss_asked, zone) >= recent_start):
            # Asked to thank the referrer anyway, and not done yet (seed 000); a
            # month on, it no longer waits.
            waiting.append(Waiting("thank_miss", line, from_julian(miss_asked, zone)))
        if line.silent or line.status not in WAITING_STATUSES:
            continue
        if line.role == "provider" and row["thanks_jd"] is None:
            waiting.append(Waiting("thank", line, line.introduced_at))
        asked, answered = row["asked_jd"], row["answered_jd"]
        if (line.status in OPEN_STATUSES and not mine_given and asked is not None
                and (answered is None or answered < asked)):
            waiting.append(Waiting("feedback", line, from_julian(asked, zone)))

    def is_open(line: ReferralLine) -> bool:
        # History imported silently is not "open" business, whatever it was left at.
        return not line.silent and (line.status in OPEN_STATUSES or line.status == "proposed")

    def shown(lines: list[ReferralLine]) -> tuple[tuple[ReferralLine, ...], int]:
        relevant = [
            line for line in lines
            if is_open(line)
            or (line.last_news and line.last_news.at >= recent_start)
            or (line.closed_at and line.closed_at >= recent_start)
        ]
        relevant.sort(key=lambda line: (line.last_news.at if line.last_news else line.introduced_at),
                      reverse=True)
        return tuple(relevant[:LIST_LIMIT]), max(0, len(relevant) - LIST_LIMIT)

    given_shown, given_more = shown(given)
    received_shown, received_more = shown(received)
    waiting.sort(key=lambda item: item.since, reverse=True)
    lines = [_ledger_line(a, c, config) for a, c in ledger.items()]
    lines.sort(key=lambda line: (
        {"unreturned": 0, "one_way": 1}.get(line.flag or "", 2),
        -(line.sent_you_year + line.you_sent_year), -(line.sent_you + line.you_sent), line.member.name,
    ))
    return MemberSummary(
        member=person(address, {}, config),
        generated_at=local,
        week_start=week_start,
        week=MemberWeek(
            given=week["given"], received=week["received"], thanks_received=week["thanks_received"],
            won=week["won"], updates=week["updates"], waiting=len(waiting),
        ),
        given=given_shown,
        given_total=sum(line.status not in PROPOSAL_STATUSES for line in given),
        given_open=sum(is_open(line) and line.status != "proposed" for line in given),
        given_more=given_more,
        received=received_shown,
        received_total=sum(line.status not in PROPOSAL_STATUSES for line in received),
        received_open=sum(is_open(line) and line.status != "proposed" for line in received),
        received_more=received_more,
        waiting=tuple(waiting[:LIST_LIMIT]),
        waiting_more=max(0, len(waiting) - LIST_LIMIT),
        business_given=_closed(won_given, year_start),
        business_received=_closed(won_received, year_start),
        ledger=tuple(lines[:LEDGER_LIMIT]),
        ledger_more=max(0, len(lines) - LEDGER_LIMIT),
    )


def with_coaching(summary: MemberSummary, store: Store, config: Config, now: datetime) -> MemberSummary:
    """``summary`` with what the referral coach adds to the weekly email (seeds 000-004):
    what the group sees about the member (their profile), what the referrals
    to them that missed teach (:func:`~refmail.summaries.lessons.member_lessons`)
    and the one-to-one to suggest, if any (:func:`~refmail.summaries.one_to_one.one_to_one`).

    Reads only; the digest records a one-to-one when the summary is queued.
    Six more statements, whatever the size of the group.
    """
    address = summary.member.email
    return replace(
        summary,
        profile=Profiles(store, config).of(address) or Profile(),
        lessons=member_lessons(store, config, address, now),
        one_to_one=one_to_one(store, config, address, now),
    )


def _closed(won: list[ReferralLine], since: datetime) -> Closed:
    recent = [line for line in won if line.closed_at and line.closed_at >= since]
    return Closed(
        count=len(won),
        value=money_totals((line.value.value, line.value.currency) for line in won if line.value),
        count_year=len(recent),
        value_year=money_totals((line.value.value, line.value.currency) for line in recent if line.value),
    )


def _ledger_line(address: str, counts: Mapping[str, int], config: Config) -> LedgerLine:
    """Flags, in the articles' spirit (relational, not transactional): they
    sent you more than you sent them, ever; or in the last year you sent them
    at least two and more than twice what they sent you."""
    sent_you, you_sent = counts.get("sent_you", 0), counts.get("you_sent", 0)
    sent_you_year, you_sent_year = counts.get("sent_you_year", 0), counts.get("you_sent_year", 0)
    flag = None
    if sent_you > you_sent:
        flag = "unreturned"
    elif you_sent_year >= 2 and you_sent_year > 2 * sent_you_year:
        flag = "one_way"
    return LedgerLine(
        member=person(address, {}, config),
        sent_you=sent_you, sent_you_year=sent_you_year, you_sent=you_sent, you_sent_year=you_sent_year,
        won_from_them=counts.get("won_from_them", 0), won_for_them=counts.get("won_for_them", 0),
        flag=flag,
    )


# --------------------------------------------------------------------------- context


def _duration(span: timedelta) -> str:
    """``1 day``, ``3.5 days``, ``12 days``, ``5 hours``, ``40 minutes``: a number format, like money."""
    seconds = span.total_seconds()
    if seconds >= 86400:
        days = seconds / 86400
        text = f"{days:.0f}" if days >= 10 else f"{days:.1f}".removesuffix(".0")
        return f"{text} day{'s' if text != '1' else ''}"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, dates to ``Nov 16``, spans and money to text."""
    if isinstance(value, Money):
        return format_money(value.value, value.currency)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.strftime("%b %-d")
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def summary_context(
    summary: MemberSummary | AdminSummary,
    config: Config,
    *,
    recipient: str | None = None,
    reply_address: str | None = None,
) -> dict[str, Any]:
    """The template context for ``summary_member`` / ``summary_admin``.

    ``summary`` is the summary as plain data (dates as ``Nov 16``, money and
    durations as text, ratios as floats, people as ``{name, first_name,
    email}``); ``recipient`` is the member, or the admin given by address
    (None: a greeting without a name). ``referral`` exists only because the
    shared layout shows a tag and its STOP link needs one: here it is the week
    ("Week of Nov 23"). ``reply_address`` defaults to the tracking address;
    the sender may pass a tokened one.
    """
    who: Person | None = None
    if isinstance(summary, MemberSummary):
        who = summary.member
    elif recipient:
        who = person(config.canonical(recipient), {}, config)
    week_of = summary.generated_at.strftime("%b %-d")
    return {
        "group": {"name": config.group.name, "tracking_address": config.group.tracking_address},
        "referral": {
            "id": None, "tag": f"Week of {week_of}", "subject": "", "status": None, "status_label": "",
            "introduced_on": "", "value": None, "currency": None,
        },
        "recipient": _plain(who) if who else None,
        "reply_address": reply_address or config.group.tracking_address,
        "week_of": week_of,
        "summary": _plain(summary),
    }
