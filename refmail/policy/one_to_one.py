"""When to suggest a one-to-one, and with whom (pure; the clock passed in).

Seed 004, on members who received referrals and never gave any back: "Sit down
with the people you've given referrals to. Walk through all the business
you've given them … Ask them how each and every referral (one at a time)
worked out … Then — and only then, remind them that sending business your way
would really be helpful". The weekly ledger shows who owes whom; this decides
when a member's summary turns that into a prompt, with the agenda of that
conversation (:mod:`refmail.summaries.one_to_one` reads the record,
``summary_member`` words it).

A one-to-one with another member is suggested when, within ``[coach]
one_to_one_period``, the member gave them business — at least one won
referral, or ``one_to_one_introductions`` introductions — and received no
introduction from them. Never to or about someone who said STOP or whose mail
bounces; at most once per :data:`MONTH` to a member, and with the same person
at most once per period. When several qualify, the one with the most won
referrals, then the most introductions, then the latest, is suggested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from refmail.config import Config

__all__ = ["MONTH", "Given", "Suggestion", "suggest_one_to_one"]

#: At most one suggestion per member in this long.
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Given:
    """One introduction the member gave another member, as the agenda lists it."""

    referral_id: int
    introduced_at: datetime  # aware
    status: str
    prospects: tuple[str, ...]  # names of the people introduced to the other member
    value: int | float | None = None  # won, with a value
    currency: str | None = None
    said: str = ""  # the other member's latest words about it, "" for none


@dataclass(frozen=True)
class Suggestion:
    """A one-to-one to suggest: with ``other``, about ``given`` (oldest first)."""

    other: str
    given: tuple[Given, ...]

    @property
    def won(self) -> tuple[Given, ...]:
        return tuple(g for g in self.given if g.status == "won")


def suggest_one_to_one(
    member: str,
    given: Mapping[str, Sequence[Given]],
    received: Mapping[str, int],
    config: Config,
    now: datetime,
    *,
    last: datetime | None,
    last_with: Mapping[str, datetime],
    blocked: Set[str],
) -> Suggestion | None:
    """The one-to-one to suggest to ``member`` now, or None.

    ``given``: per other member (canonical address), the introductions
    ``member`` gave them (any age: only those within the period count);
    ``received``: per other member, how many introductions they gave
    ``member`` within the period; ``last``: when a one-to-one was last
    suggested to ``member``, ``last_with`` the same per other member;
    ``blocked``: addresses that said STOP or bounced.
    """
    coach = config.coach
    if member in blocked or (last is not None and now - last < MONTH):
        return None
    since = now - coach.one_to_one_period
    best: tuple[tuple[int, int, datetime], Suggestion] | None = None
    for other, lines in given.items():
        if other == member or other in blocked or received.get(other, 0) > 0:
            continue
        suggested = last_with.get(other)
        if suggested is not None and suggested > since:
            continue
        recent = sorted((g for g in lines if g.introduced_at >= since),
                        key=lambda g: (g.introduced_at, g.referral_id))
        won = sum(g.status == "won" for g in recent)
        if not recent or (won < 1 and len(recent) < coach.one_to_one_introductions):
            continue
        key = (won, len(recent), recent[-1].introduced_at)
        if best is None or key > best[0]:
            best = (key, Suggestion(other, tuple(recent)))
    return best[1] if best else None
