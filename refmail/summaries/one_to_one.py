"""The one-to-one in a member's weekly summary: with whom, its agenda, the invitation.

:func:`refmail.policy.one_to_one.suggest_one_to_one` decides; this reads what
it needs from the record and makes the agenda seed 004 describes — each
introduction the member gave the other member, one at a time, with its
outcome and value and what the other said about it — and the invitation: a
short note to the other member, editable, behind a ``mailto:`` link
(:func:`refmail.policy.draft.one_to_one_draft`). Nothing is written here: the
digest records the suggestion when the summary is queued
(:class:`refmail.storage.one_to_ones.OneToOnes`), so a preview (``refmail
summary --member``) shows it without using it up.

Four statements: the member's introductions to members within the period,
the ones they received, who of those people said STOP, and when one-to-ones
were last suggested to the member.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from refmail.config import Config
from refmail.policy.draft import one_to_one_draft, one_to_one_mailto
from refmail.policy.one_to_one import Given, suggest_one_to_one
from refmail.reading.proposal import Person as Addressee
from refmail.storage.one_to_ones import OneToOnes
from refmail.storage.store import Store
from refmail.summaries.values import (
    PROPOSAL_STATUSES,
    Money,
    People,
    Person,
    cut,
    julian,
    local_time,
    money_totals,
    parties_sql,
    person,
    placeholders,
    snapshot,
)

__all__ = ["AgendaLine", "OneToOne", "one_to_one"]


@dataclass(frozen=True)
class AgendaLine:
    """One introduction to walk through, one at a time."""

    tag: str
    prospects: tuple[Person, ...]
    introduced_at: datetime
    status: str
    value: Money | None
    said: str  # the other member's latest words about it, "" for none


@dataclass(frozen=True)
class OneToOne:
    """A one-to-one to suggest, with its agenda and a ready-to-send invitation."""

    other: Person
    since: datetime  # the period's start
    agenda: tuple[AgendaLine, ...]  # oldest first
    won: int
    value: tuple[Money, ...]  # won with these, per currency
    subject: str  # the invitation's
    note: str  # the invitation's words, for the member to edit
    link: str  # mailto: the other member, with the note


_GIVEN_SQL = """
SELECT r.id, r.introduced_at, r.status, r.provider, {parties} AS parties,
    (SELECT e.detail FROM events e WHERE e.referral_id = r.id AND e.kind = 'status'
        ORDER BY e.id DESC LIMIT 1) AS status_detail,
    (SELECT e.detail FROM events e WHERE e.referral_id = r.id AND e.actor = r.provider
        AND e.kind IN ('status', 'feedback', 'thanks')
        AND coalesce(json_extract(e.detail, '$.text'), '') != ''
        ORDER BY e.id DESC LIMIT 1) AS said
FROM referrals r
WHERE r.referrer IN ({me}) AND r.provider IS NOT NULL AND julianday(r.introduced_at) >= :since
    AND r.status NOT IN ({proposals})
"""

_RECEIVED_SQL = """
SELECT r.referrer, count(*) AS n FROM referrals r
WHERE r.id IN (SELECT referral_id FROM parties WHERE address IN ({me}) AND role = 'provider')
    AND julianday(r.introduced_at) >= :since AND r.status NOT IN ({proposals})
GROUP BY r.referrer
"""


def one_to_one(store: Store, config: Config, member: str, now: datetime) -> OneToOne | None:
    """The one-to-one ``member``'s summary suggests now, or None."""
    address = config.canonical(member)
    configured = config.member(address)
    if configured is None:
        return None
    me = frozenset([address, *configured.aliases])
    zone = config.zone
    since = now.astimezone(zone) - config.coach.one_to_one_period
    me_marks, me_params = placeholders("m", sorted(me))
    proposal_marks, proposal_params = placeholders("p", PROPOSAL_STATUSES)
    params = {**me_params, **proposal_params, "since": julian(since)}
    with snapshot(store):
        rows = list(store.db.query(
            _GIVEN_SQL.format(me=me_marks, proposals=proposal_marks, parties=parties_sql("r")), params))
        received: dict[str, int] = defaultdict(int)
        for row in store.db.query(_RECEIVED_SQL.format(me=me_marks, proposals=proposal_marks), params):
            received[config.canonical(row["referrer"])] += int(row["n"])
        others = {config.canonical(row["provider"]) for row in rows} - me
        blocked = store.blocked_people(others | {address})
        suggested = OneToOnes(store)
        last, last_with = suggested.last(address), suggested.last_with(address)
    people = People(config)
    given: dict[str, list[Given]] = defaultdict(list)
    lines: dict[int, AgendaLine] = {}
    for row in rows:
        provider = config.canonical(row["provider"])
        if provider in me or not config.is_member(provider):
            continue
        parties = json.loads(row["parties"] or "[]")
        names = {a: n for a, n, _ in parties if n}
        introduced = tuple(people(a, names) for a, _, role in parties if role == "prospect")
        status_detail = json.loads(row["status_detail"] or "{}")
        value = None
        if row["status"] == "won":
            found = money_totals([(status_detail.get("value"), status_detail.get("currency"))])
            value = found[0] if found else None
        said = cut(json.loads(row["said"]).get("text", "")) if row["said"] else ""
        introduced_at = local_time(row["introduced_at"], zone)
        given[provider].append(Given(
            referral_id=int(row["id"]), introduced_at=introduced_at, status=row["status"],
            prospects=tuple(p.name for p in introduced), value=value.value if value else None,
            currency=value.currency if value else None, said=said,
        ))
        lines[int(row["id"])] = AgendaLine(
            f"R-{row['id']}", introduced, introduced_at, row["status"], value, said)
    suggestion = suggest_one_to_one(address, given, received, config, now, last=last, last_with=last_with,
                                    blocked=blocked)
    if suggestion is None:
        return None
    other = person(suggestion.other, {}, config)
    writer = person(address, {}, config)
    first_names = [p.first_name for g in suggestion.given for p in lines[g.referral_id].prospects]
    subject, note = one_to_one_draft(writer.name, other.first_name, first_names)
    return OneToOne(
        other=other,
        since=since,
        agenda=tuple(lines[g.referral_id] for g in suggestion.given),
        won=len(suggestion.won),
        value=money_totals((g.value, g.currency) for g in suggestion.won),
        subject=subject,
        note=note,
        link=one_to_one_mailto(writer.name, Addressee(other.email, other.name), subject, note),
    )
