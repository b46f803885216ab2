"""The admins' weekly summary: is the group working?

Group totals for the last week, month and year — introductions, outcomes,
value closed, conversion, time to first contact — plus what went quiet, why
referrals failed (the parties' own words: failed referrals are how a group
learns, seeds), who gives and who receives, and consent-first proposals.
And what refmail set aside that week (too large, unreadable, failed), so an
admin can look at each in the inbox; and what the failures teach — their
reasons month by month, the members whose referrals often miss
(:mod:`refmail.summaries.lessons`). Ten SQL statements, whatever the size of
the group; the aggregation is SQL's, the lists are capped.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from refmail.config import Config
from refmail.policy.rules import CLOSED_STATUSES, NEWS_KINDS, OPEN_STATUSES
from refmail.storage.store import Store, iso
from refmail.summaries.lessons import group_lessons
from refmail.summaries.values import (
    CONTACT_STATUSES,
    FAILED,
    NEWS_EVENT_KINDS,
    PROPOSAL_STATUSES,
    AdminSummary,
    FailureLine,
    MemberActivity,
    News,
    People,
    Period,
    SetAsideLine,
    StaleLine,
    cut,
    from_julian,
    julian,
    local_time,
    meant_for,
    money_totals,
    months_back,
    parties_sql,
    person,
    placeholders,
    ratio,
    referral_line,
    snapshot,
)

__all__ = ["admin_summary"]

#: Longest lists in the email; the rest are counted.
ADMIN_LIST_LIMIT = 10
ACTIVITY_LIMIT = 15
TREND_WEEKS = 8

_INTROS_SQL = """
SELECT status,
    julianday(introduced_at) >= :week AS in_week,
    julianday(introduced_at) >= :month AS in_month,
    julianday(introduced_at) >= :year AS in_year,
    min(max(CAST((:now - julianday(introduced_at)) / 7 AS INTEGER), 0), :weeks) AS weeks_ago,
    count(*) AS n
FROM referrals GROUP BY 1, 2, 3, 4, 5
"""

# The closing moment and value of a closed referral: its latest status event.
_CLOSINGS_SQL = """
SELECT status, currency, jd >= :week AS in_week, jd >= :month AS in_month, jd >= :year AS in_year,
    count(*) AS n, total(value) AS value, count(value) AS valued
FROM (
    SELECT r.status,
        CASE WHEN r.status = 'won' THEN json_extract(e.detail, '$.currency') END AS currency,
        CASE WHEN r.status = 'won' THEN json_extract(e.detail, '$.value') END AS value,
        julianday(coalesce(e.at, r.updated_at)) AS jd
    FROM referrals r
    LEFT JOIN events e ON e.id = (
        SELECT max(x.id) FROM events x WHERE x.referral_id = r.id AND x.kind = 'status')
    WHERE r.status IN ({closed})
)
GROUP BY 1, 2, 3, 4, 5
"""

_CONTACTS_SQL = """
SELECT julianday(r.introduced_at) AS intro_jd, c.contact_jd
FROM (
    SELECT referral_id, min(julianday(at)) AS contact_jd FROM events
    WHERE kind IN ('first_contact', 'status') AND (kind = 'first_contact'
        OR json_extract(detail, '$.to') = 'contacted'
        OR (json_extract(detail, '$.from') = 'introduced' AND json_extract(detail, '$.to') IN ({contact})))
    GROUP BY referral_id
) c JOIN referrals r ON r.id = c.referral_id
WHERE c.contact_jd >= :year
"""

_STALE_SQL = """
WITH quiet AS (
    SELECT id, news_jd, count(*) OVER () AS total FROM (
        SELECT r.id, max(julianday(r.introduced_at), coalesce((
            SELECT max(julianday(e.at)) FROM events e
            WHERE e.referral_id = r.id AND +e.kind IN ({quiet})), 0)) AS news_jd
        FROM referrals r WHERE r.status IN ({open}) AND r.silent = 0
    ) WHERE news_jd < :stale
    ORDER BY news_jd DESC LIMIT :limit
)
SELECT r.*, q.news_jd, q.total, {parties} AS parties,
    n.at AS news_at, n.kind AS news_kind, n.actor AS news_actor, n.detail AS news_detail,
    (SELECT max(julianday(e.at)) FROM events e WHERE e.referral_id = r.id AND e.kind = 'thanks') AS thanks_jd
FROM quiet q JOIN referrals r ON r.id = q.id
LEFT JOIN events n ON n.id = (
    SELECT max(e.id) FROM events e WHERE e.referral_id = r.id AND +e.kind IN ({news}))
ORDER BY q.news_jd DESC
"""

_FAILURES_SQL = """
WITH failed AS (
    SELECT r.id, s.id AS status_id, count(*) OVER () AS total
    FROM referrals r JOIN events s ON s.id = (
        SELECT max(x.id) FROM events x WHERE x.referral_id = r.id AND x.kind = 'status')
    WHERE r.status IN ({failed}) AND julianday(s.at) >= :month
    ORDER BY s.id DESC LIMIT :limit
)
SELECT r.*, f.total, {parties} AS parties,
    s.at AS status_at, s.detail AS status_detail,
    s.at AS news_at, s.kind AS news_kind, s.actor AS news_actor, s.detail AS news_detail,
    (SELECT max(julianday(e.at)) FROM events e WHERE e.referral_id = r.id AND e.kind = 'thanks') AS thanks_jd,
    (SELECT json_group_array(json_array(e.kind, e.at, e.actor, json_extract(e.detail, '$.to'),
            json_extract(e.detail, '$.text')))
        FROM events e WHERE e.referral_id = r.id AND e.kind IN ('status', 'feedback')
        AND coalesce(json_extract(e.detail, '$.text'), '') != '') AS notes
FROM failed f JOIN referrals r ON r.id = f.id JOIN events s ON s.id = f.status_id
ORDER BY f.status_id DESC
"""

_ACTIVITY_SQL = """
SELECT address, sum(gave) AS gave, sum(gave * recent) AS gave_year, sum(1 - gave) AS received,
    sum((1 - gave) * recent) AS received_year, sum(gave * won) AS won_given,
    sum((1 - gave) * won) AS won_received
FROM (
    SELECT referrer AS address, 1 AS gave, julianday(introduced_at) >= :year AS recent,
        status = 'won' AS won
    FROM referrals WHERE status NOT IN ({proposals})
    UNION ALL
    SELECT provider, 0, julianday(introduced_at) >= :year, status = 'won'
    FROM referrals WHERE provider IS NOT NULL AND status NOT IN ({proposals})
) GROUP BY address
"""


# processed_at is always written by Store.iso (UTC), so text order is time order
# and the partial index messages_set_aside (migration 0008) answers this.
_SET_ASIDE_SQL = """
SELECT processed_at, author, subject, outcome, reason, folder, uid, count(*) OVER () AS total
FROM messages WHERE outcome IN ('failed', 'too_large') AND processed_at >= :since
ORDER BY processed_at DESC LIMIT :limit
"""


def admin_summary(store: Store, config: Config, now: datetime) -> AdminSummary:
    """The group's weekly summary for its admins: ten SQL statements.

    Periods count intros by ``introduced_at`` and outcomes by the moment the
    referral closed (its latest status event). ``won_of_closed`` is won over
    won + failed among those closed in the period (withdrawn ones had no
    chance); ``won_of_all`` follows the intros *made* in the period and says
    how many are won so far. First contact is the first ``first_contact``
    event, or status change to ``contacted`` (or straight from
    ``introduced`` to meeting, proposal or won: they clearly met).
    Referrals tracked silently are never listed as stale.
    """
    zone = config.zone
    local = now.astimezone(zone)
    starts = {
        "week": local - timedelta(days=7),
        "month": months_back(local, 1),
        "year": months_back(local, 12),
    }
    jds = {key: julian(moment) for key, moment in starts.items()}
    news_marks, news_params = placeholders("k", NEWS_EVENT_KINDS)
    open_marks, open_params = placeholders("o", sorted(OPEN_STATUSES))
    limit = {"limit": ADMIN_LIST_LIMIT}
    with snapshot(store):
        intros = list(store.db.query(_INTROS_SQL, {**jds, "now": julian(local), "weeks": TREND_WEEKS}))
        closed_marks, closed_params = placeholders("c", sorted(CLOSED_STATUSES))
        closings = list(store.db.query(_CLOSINGS_SQL.format(closed=closed_marks), {**jds, **closed_params}))
        contact_marks, contact_params = placeholders("s", CONTACT_STATUSES)
        contacts = list(store.db.query(
            _CONTACTS_SQL.format(contact=contact_marks), {"year": jds["year"], **contact_params}
        ))
        # Quiet since the intro's Date or the latest news (NEWS_KINDS, as the
        # rules count it); the list shows the latest event, the intro included.
        quiet_marks, quiet_params = placeholders("q", sorted(NEWS_KINDS))
        stale_rows = list(store.db.query(
            _STALE_SQL.format(quiet=quiet_marks, news=news_marks, open=open_marks, parties=parties_sql("r")),
            {**quiet_params, **news_params, **open_params, **limit,
             "stale": julian(local - config.timing.stale_after)},
        ))
        failed_marks, failed_params = placeholders("f", FAILED)
        failure_rows = list(store.db.query(
            _FAILURES_SQL.format(failed=failed_marks, parties=parties_sql("r")),
            {**failed_params, **limit, "month": jds["month"]},
        ))
        proposal_marks, proposal_params = placeholders("p", PROPOSAL_STATUSES)
        activity_rows = list(store.db.query(
            _ACTIVITY_SQL.format(proposals=proposal_marks), {"year": jds["year"], **proposal_params}
        ))
        aside_rows = list(store.db.query(_SET_ASIDE_SQL, {"since": iso(starts["week"]), **limit}))

    people = People(config)
    periods = tuple(_period(key, start, intros, closings, contacts) for key, start in starts.items())
    open_counts: dict[str, int] = defaultdict(int)
    trend = [0] * TREND_WEEKS
    for row in intros:
        if row["status"] in OPEN_STATUSES:
            open_counts[row["status"]] += row["n"]
        if row["status"] not in PROPOSAL_STATUSES and row["weeks_ago"] < TREND_WEEKS:
            trend[row["weeks_ago"]] += row["n"]
    order = ("introduced", "contacted", "meeting", "proposal")
    stale = tuple(
        StaleLine(referral_line(row, people), local - from_julian(row["news_jd"], zone)) for row in stale_rows
    )
    failures = tuple(
        FailureLine(referral_line(row, people), _notes(row, people)) for row in failure_rows
    )
    activity, quiet = _activity(activity_rows, config)
    return AdminSummary(
        generated_at=local,
        periods=periods,
        open_by_status=tuple((s, open_counts[s]) for s in order if s in OPEN_STATUSES),
        open_total=sum(open_counts.values()),
        proposed_open=sum(row["n"] for row in intros if row["status"] == "proposed"),
        trend=tuple(
            (local - timedelta(days=7 * (weeks_ago + 1)), trend[weeks_ago])
            for weeks_ago in reversed(range(TREND_WEEKS))
        ),
        stale=stale,
        stale_total=int(stale_rows[0]["total"]) if stale_rows else 0,
        failures=failures,
        failures_total=int(failure_rows[0]["total"]) if failure_rows else 0,
        activity=tuple(activity[:ACTIVITY_LIMIT]),
        activity_more=max(0, len(activity) - ACTIVITY_LIMIT),
        quiet_members=quiet,
        set_aside=tuple(_aside(row, people) for row in aside_rows),
        set_aside_total=int(aside_rows[0]["total"]) if aside_rows else 0,
        lessons=group_lessons(store, config, now),
    )


def _aside(row: dict[str, Any], people: People) -> SetAsideLine:
    if row["outcome"] == "too_large":
        why = "too large"
    elif str(row["reason"]).startswith("could not be parsed"):
        why = "unreadable"
    else:
        why = "failed"
    return SetAsideLine(
        at=local_time(row["processed_at"], people.zone),
        author=people(row["author"]) if row["author"] else None,
        subject=cut(row["subject"] or ""),
        why=why,
        reason=cut(row["reason"]),
        folder=row["folder"],
        uid=row["uid"],
    )


def _period(
    key: str,
    start: datetime,
    intros: list[dict[str, Any]],
    closings: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
) -> Period:
    flag = f"in_{key}"
    made = [row for row in intros if row[flag] and row["status"] not in PROPOSAL_STATUSES]
    cohort = sum(row["n"] for row in made)
    cohort_won = sum(row["n"] for row in made if row["status"] == "won")
    by_status: dict[str, int] = defaultdict(int)
    values: list[tuple[Any, Any]] = []
    for row in closings:
        if row[flag]:
            by_status[row["status"]] += row["n"]
            if row["status"] == "won" and row["valued"]:
                values.append((row["value"], row["currency"]))
    since = julian(start)
    delays = [
        max(0.0, row["contact_jd"] - row["intro_jd"]) for row in contacts if row["contact_jd"] >= since
    ]
    failed = sum(by_status[s] for s in FAILED)
    won = by_status["won"]
    return Period(
        key=key,
        start=start,
        intros=cohort,
        won=won,
        lost=by_status["lost"],
        no_fit=by_status["no_fit"],
        unresponsive=by_status["unresponsive"],
        failed=failed,
        withdrawn=by_status["withdrawn"],
        value=money_totals(values),
        won_of_closed=ratio(won, won + failed),
        cohort=cohort,
        cohort_won=cohort_won,
        won_of_all=ratio(cohort_won, cohort),
        first_contacts=len(delays),
        median_first_contact=(
            timedelta(seconds=round(statistics.median(delays) * 86400)) if delays else None
        ),
        declined=by_status["declined"],
        expired=by_status["expired"],
    )


def _notes(row: dict[str, Any], people: People) -> tuple[News, ...]:
    """What the members said about a failed referral, under the names their intro gave them
    (:func:`~refmail.summaries.values.meant_for`: an outsider's words are not the admins')."""
    names = {address: name for address, name, _ in json.loads(row["parties"] or "[]") if name}
    notes = []
    for kind, at, actor, status, text in json.loads(row["notes"] or "[]"):
        if not meant_for({}, actor, row["referrer"], frozenset(), people):
            continue  # an outsider's words were written for the referrer alone
        notes.append(News(
            kind=kind, at=local_time(at, people.zone), actor=people(actor, names) if actor else None,
            status=status if kind == "status" else None, text=cut(text),
        ))
    notes.sort(key=lambda note: note.at)
    return tuple(notes[-3:])


def _activity(rows: list[dict[str, Any]], config: Config) -> tuple[list[MemberActivity], int]:
    """Per configured member (aliases folded in): who gives, who receives."""
    totals: dict[str, dict[str, int]] = {m.email: defaultdict(int) for m in config.members}
    for row in rows:
        member = config.member(row["address"] or "")
        if member is None:
            continue
        for key in ("gave", "received", "gave_year", "received_year", "won_given", "won_received"):
            totals[member.email][key] += int(row[key] or 0)
    lines = [
        MemberActivity(
            member=person(email, {}, config), gave=c["gave"], received=c["received"],
            gave_year=c["gave_year"], received_year=c["received_year"],
            won_given=c["won_given"], won_received=c["won_received"],
        )
        for email, c in totals.items()
    ]
    active = [line for line in lines if line.gave_year or line.received_year]
    active.sort(key=lambda line: (-(line.gave_year + line.received_year), -line.gave_year, line.member.name))
    return active, len(lines) - len(active)
