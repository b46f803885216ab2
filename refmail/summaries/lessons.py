"""What the referrals that missed teach: why, per member and for the group, month by month.

Seeds 000-002: failure is how a group learns what a good referral looks like.
When a referral closes as lost, no fit or no response, its people say why in
a line; :func:`refmail.reading.failure_reasons.why_it_failed` names the
reasons (no fit, no response, price, timing, went elsewhere, not serious).
Here they are counted:

- :func:`member_lessons` — for one member, the referrals *to* them (as the
  provider) that closed in the last 12 months: how many missed and why, and the
  member's own latest tip after a miss. Shown in their weekly summary under
  "What your group should know about you", with their profile.
- :func:`group_lessons` — for the admins, the reasons of the referrals that
  failed, month by month over :data:`MONTHS` months, and the members whose
  referrals often miss (at least :data:`MISS_FLOOR` missed in 12 months, half
  or more of those that closed), with why and what their profile says.

Words reach only those they were meant for
(:func:`~refmail.summaries.values.meant_for`): a member's lessons are read from
their own words and those written to them; the admins' from members' words
only. A referral whose words are not the reader's still counts by its status
("no fit", "no response"). Two SQL statements for the admins, one for a
member, whatever the size of the group; the admins' words are read for the
newest :data:`READ_LIMIT` failed referrals at most.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from refmail.config import Config
from refmail.reading.failure_reasons import Reason, why_it_failed
from refmail.storage.profiles import Profiles
from refmail.storage.store import Store
from refmail.summaries.values import (
    FAILED,
    People,
    Person,
    cut,
    from_julian,
    julian,
    meant_for,
    months_back,
    person,
    placeholders,
    snapshot,
)

__all__ = ["MISS_FLOOR", "MONTHS", "GroupLessons", "Lessons", "MissLine", "MonthReasons", "ReasonCount",
           "group_lessons", "member_lessons"]

#: Months of failure reasons in the admins' chart.
MONTHS = 6
#: Members listed as "often missing" have at least this many missed referrals in 12 months.
MISS_FLOOR = 2
MISS_LIMIT = 8
#: Failed referrals whose words the admins' summary reads, newest first.
READ_LIMIT = 2000
_CLOSED = ("won", *FAILED)


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # a refmail.reading.failure_reasons.Reason value
    count: int


@dataclass(frozen=True)
class Lessons:
    """A member's referrals as the provider, closed in the last 12 months."""

    closed: int  # won or missed
    won: int
    missed: int  # lost, no fit, no response
    reasons: tuple[ReasonCount, ...]  # most given first
    tip: str  # their own latest words after a miss ("what would make a better referral"), cut


@dataclass(frozen=True)
class MonthReasons:
    start: datetime  # the month's first day, group zone
    label: str  # "Nov"
    failed: int
    counts: tuple[ReasonCount, ...]  # every reason, in Reason order


@dataclass(frozen=True)
class MissLine:
    """A member whose referrals often miss, and why."""

    member: Person
    closed: int
    missed: int
    reasons: tuple[ReasonCount, ...]  # most given first
    looking_for: str
    not_looking_for: str


@dataclass(frozen=True)
class GroupLessons:
    months: tuple[MonthReasons, ...]  # oldest first
    totals: tuple[ReasonCount, ...]  # over those months, most given first
    often_missed: tuple[MissLine, ...]


def _words(row: Mapping[str, Any]) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(kind, actor, json.loads(detail) if isinstance(detail, str) else detail or {})
            for kind, actor, detail in json.loads(row["words"] or "[]")]


def _texts(row: Mapping[str, Any], reader: frozenset[str], people: People) -> list[str]:
    """The words about a failed referral that ``reader`` may read (empty reader: the admins)."""
    texts = []
    for kind, actor, detail in _words(row):
        text = str(detail.get("text") or "")
        if not text or (kind == "thanks" and not detail.get("miss")):
            continue
        if meant_for(detail, actor, row["referrer"], reader, people):
            texts.append(text)
    return texts


def _counted(reasons: Iterable[Reason]) -> tuple[ReasonCount, ...]:
    counts = Counter(reasons)
    order = list(Reason)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order.index(item[0])))
    return tuple(ReasonCount(str(reason), n) for reason, n in ranked)


_WORDS_SQL = (
    "(SELECT json_group_array(json_array(e.kind, e.actor, e.detail)) FROM events e "
    "WHERE e.referral_id = r.id AND e.kind IN ('status', 'feedback', 'thanks'))"
)
_CLOSED_AT_SQL = (
    "(SELECT max(julianday(x.at)) FROM events x WHERE x.referral_id = r.id AND x.kind = 'status')"
)

_MEMBER_SQL = f"""
SELECT r.id, r.status, r.referrer, {_CLOSED_AT_SQL} AS closed_jd,
    CASE WHEN r.status != 'won' THEN {_WORDS_SQL} END AS words
FROM referrals r WHERE r.status IN ({{closed}}) AND r.id IN (
    SELECT referral_id FROM parties WHERE address IN ({{me}}) AND role = 'provider')
"""


def member_lessons(store: Store, config: Config, member: str, now: datetime) -> Lessons:
    """What the referrals to ``member`` that closed in the last 12 months say (one statement)."""
    address = config.canonical(member)
    configured = config.member(address)
    me = frozenset([address, *(configured.aliases if configured else [])])
    me_marks, me_params = placeholders("m", sorted(me))
    closed_marks, closed_params = placeholders("c", _CLOSED)
    year = julian(months_back(now.astimezone(config.zone), 12))
    with snapshot(store):
        rows = [row for row in store.db.query(_MEMBER_SQL.format(me=me_marks, closed=closed_marks),
                                               {**me_params, **closed_params})
                if row["closed_jd"] is not None and row["closed_jd"] >= year]
    people = People(config)
    reasons: list[Reason] = []
    tip, tip_jd = "", 0.0
    for row in rows:
        if row["status"] == "won":
            continue
        reasons += why_it_failed(row["status"], _texts(row, me, people))
        for kind, actor, detail in _words(row):
            mine = kind == "thanks" and detail.get("miss") and actor in me and detail.get("text")
            if mine and row["closed_jd"] >= tip_jd:
                tip, tip_jd = cut(detail["text"]), row["closed_jd"]
    won = sum(row["status"] == "won" for row in rows)
    return Lessons(closed=len(rows), won=won, missed=len(rows) - won, reasons=_counted(reasons), tip=tip)


_FAILED_SQL = """
WITH failed AS (
    SELECT r.id, r.status, r.referrer, r.provider, julianday(s.at) AS closed_jd
    FROM referrals r JOIN events s ON s.id = (
        SELECT max(x.id) FROM events x WHERE x.referral_id = r.id AND x.kind = 'status')
    WHERE r.status IN ({failed}) AND julianday(s.at) >= :year
    ORDER BY s.id DESC LIMIT :limit
)
SELECT f.*, (SELECT json_group_array(json_array(e.kind, e.actor, e.detail)) FROM events e
    WHERE e.referral_id = f.id AND e.kind IN ('status', 'feedback', 'thanks')) AS words
FROM failed f
"""

_WON_SQL = """
SELECT r.provider, count(*) AS n FROM referrals r JOIN events s ON s.id = (
    SELECT max(x.id) FROM events x WHERE x.referral_id = r.id AND x.kind = 'status')
WHERE r.status = 'won' AND r.provider IS NOT NULL AND julianday(s.at) >= :year
GROUP BY r.provider
"""


def group_lessons(store: Store, config: Config, now: datetime) -> GroupLessons:
    """Why the group's referrals failed, month by month, and whose often miss (two statements)."""
    zone = config.zone
    local = now.astimezone(zone)
    year = julian(months_back(local, 12))
    failed_marks, failed_params = placeholders("f", FAILED)
    with snapshot(store):
        failed = list(store.db.query(_FAILED_SQL.format(failed=failed_marks),
                                     {**failed_params, "year": year, "limit": READ_LIMIT}))
        won = {config.canonical(row["provider"]): int(row["n"])
               for row in store.db.query(_WON_SQL, {"year": year})}
    people = People(config)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [months_back(first, n) for n in reversed(range(MONTHS))]
    by_month: dict[tuple[int, int], list[Reason]] = defaultdict(list)
    per_month: Counter[tuple[int, int]] = Counter()
    missed: Counter[str] = Counter()
    why: dict[str, list[Reason]] = defaultdict(list)
    won_members: Counter[str] = Counter()
    for address, n in won.items():
        if config.is_member(address):
            won_members[address] += n
    for row in failed:
        reasons = why_it_failed(row["status"], _texts(row, frozenset(), people))
        closed = from_julian(row["closed_jd"], zone)
        key = (closed.year, closed.month)
        per_month[key] += 1
        by_month[key] += reasons
        provider = config.canonical(row["provider"]) if row["provider"] else None
        if provider and config.is_member(provider):
            missed[provider] += 1
            why[provider] += reasons
    months = []
    for start in starts:
        key = (start.year, start.month)
        counts = Counter(by_month[key])
        every = tuple(ReasonCount(str(reason), counts[reason]) for reason in Reason)
        months.append(MonthReasons(start, f"{start:%b}", per_month[key], every))
    totals = _counted(r for start in starts for r in by_month[(start.year, start.month)])
    profiles = Profiles(store, config).of_many(missed)
    lines = []
    for address, n in missed.items():
        closed_total = n + won_members[address]
        if n < MISS_FLOOR or 2 * n < closed_total:
            continue
        profile = profiles.get(address)
        lines.append(MissLine(
            member=person(address, {}, config), closed=closed_total, missed=n, reasons=_counted(why[address]),
            looking_for=profile.looking_for if profile else "",
            not_looking_for=profile.not_looking_for if profile else "",
        ))
    lines.sort(key=lambda line: (-line.missed, -line.missed / line.closed, line.member.name))
    return GroupLessons(months=tuple(months), totals=totals, often_missed=tuple(lines[:MISS_LIMIT]))
