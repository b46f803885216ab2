"""The values a weekly summary is made of, and what computing one needs.

:mod:`refmail.summaries.member` (members) and :mod:`refmail.summaries.group` (admins)
compute frozen values of these types; :func:`refmail.summaries.member.summary_context`
turns them into a template context. The helpers here are shared by both: time
windows in the group's zone, Julian days (how SQL compares stored moments),
names for addresses, and one referral row made into a :class:`ReferralLine`.

Timestamps are stored with the offset they arrived with (an intro's ``Date``
keeps the sender's zone), so SQL compares moments with ``julianday()``, which
converts ``±HH:MM`` to UTC, never as text.
"""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from refmail.config import Config
from refmail.policy.rules import CLOSED_STATUSES, NEWS_KINDS
from refmail.storage.profiles import Profile
from refmail.storage.store import Store

if TYPE_CHECKING:  # they are made of this module's values
    from refmail.summaries.lessons import GroupLessons, Lessons
    from refmail.summaries.one_to_one import OneToOne

T = TypeVar("T")

#: Outcomes that did not turn into business: the ones to learn from (seeds).
FAILED = ("lost", "no_fit", "unresponsive")
#: Consent-first states: not (yet) introductions.
PROPOSAL_STATUSES = ("proposed", "declined", "expired")
#: A status change out of ``introduced`` to one of these means the parties met.
CONTACT_STATUSES = ("contacted", "meeting", "proposal", "won")
#: Someone's words are cut to this many characters in a summary.
NOTE_CHARS = 280
#: Events that are news about a referral, its introduction included.
NEWS_EVENT_KINDS = tuple(sorted(NEWS_KINDS | {"introduced"}))

_UNIX_EPOCH_JD = 2440587.5


@dataclass(frozen=True)
class Person:
    name: str
    first_name: str
    email: str


@dataclass(frozen=True)
class Money:
    value: int | float
    currency: str | None


@dataclass(frozen=True)
class News:
    """The latest thing that happened to a referral."""

    kind: str  # introduced | first_contact | thread_reply | status | feedback | thanks | roles_set
    at: datetime  # in the group's zone
    actor: Person | None
    status: str | None  # the new status, for a status event
    text: str  # their words ("" when none), cut to NOTE_CHARS


@dataclass(frozen=True)
class ReferralLine:
    """One referral as a summary shows it."""

    id: int
    tag: str
    role: str  # the reader's part: referrer | provider | prospect | party ("" for admins)
    status: str
    subject: str
    introduced_at: datetime
    referrer: Person
    provider: Person | None
    prospects: tuple[Person, ...]
    parties: tuple[Person, ...]  # everyone introduced
    last_news: News | None
    thanked: bool  # the provider has thanked the referrer
    value: Money | None  # won, with a value
    closed_at: datetime | None
    silent: bool  # history, tracked without mail (backfill, import)


@dataclass(frozen=True)
class Waiting:
    """Something the member can do: ``thank`` the referrer (``thank_miss``: after a
    miss, and say what would make a better referral), or give ``feedback``."""

    action: str
    referral: ReferralLine
    since: datetime  # introduced (thank) or asked (feedback)


@dataclass(frozen=True)
class LedgerLine:
    """Reciprocity with one other member (business = referrals with a provider)."""

    member: Person
    sent_you: int
    sent_you_year: int
    you_sent: int
    you_sent_year: int
    won_from_them: int  # their referrals to you that you won
    won_for_them: int  # your referrals to them that they won
    flag: str | None  # "unreturned": sent you more than you sent them; "one_way": you keep sending


@dataclass(frozen=True)
class Closed:
    count: int
    value: tuple[Money, ...]  # one total per currency
    count_year: int
    value_year: tuple[Money, ...]


@dataclass(frozen=True)
class MemberWeek:
    given: int
    received: int
    thanks_received: int
    won: int
    updates: int  # referrals of theirs with news from someone else this week
    waiting: int


@dataclass(frozen=True)
class MemberSummary:
    member: Person
    generated_at: datetime
    week_start: datetime
    week: MemberWeek
    given: tuple[ReferralLine, ...]  # open or recent, newest news first
    given_total: int
    given_open: int
    given_more: int  # open or recent but left out of the list
    received: tuple[ReferralLine, ...]
    received_total: int
    received_open: int
    received_more: int
    waiting: tuple[Waiting, ...]
    waiting_more: int
    business_given: Closed  # won referrals the member gave
    business_received: Closed  # won referrals the member received as provider
    ledger: tuple[LedgerLine, ...]
    ledger_more: int
    #: The coach (:func:`refmail.summaries.member.with_coaching`): what the group
    #: sees about the member, what the referrals to them that missed teach, and
    #: the one-to-one to suggest.
    profile: Profile | None = None
    lessons: Lessons | None = None
    one_to_one: OneToOne | None = None


@dataclass(frozen=True)
class Period:
    """Group totals for one window ending now."""

    key: str  # week | month | year
    start: datetime
    intros: int
    won: int  # closed in the period, by status
    lost: int
    no_fit: int
    unresponsive: int
    failed: int  # lost + no_fit + unresponsive
    withdrawn: int
    value: tuple[Money, ...]  # won in the period, per currency
    won_of_closed: float | None  # won / (won + failed), closed in the period
    cohort: int  # intros made in the period, proposals excluded (= intros)
    cohort_won: int  # … of which won by now
    won_of_all: float | None  # cohort_won / cohort
    first_contacts: int  # first contacts made in the period
    median_first_contact: timedelta | None  # from introduced_at to that first contact
    declined: int
    expired: int


@dataclass(frozen=True)
class StaleLine:
    referral: ReferralLine
    quiet_for: timedelta


@dataclass(frozen=True)
class FailureLine:
    referral: ReferralLine
    notes: tuple[News, ...]  # what the parties said (status texts and feedback), oldest first


@dataclass(frozen=True)
class SetAsideLine:
    """A message refmail could not read or apply, as the admins see it."""

    at: datetime
    author: Person | None  # None: no From could be read
    subject: str
    why: str  # "too large", "unreadable", "failed"
    reason: str
    folder: str | None
    uid: int | None


@dataclass(frozen=True)
class MemberActivity:
    member: Person
    gave: int
    received: int
    gave_year: int
    received_year: int
    won_given: int
    won_received: int


@dataclass(frozen=True)
class AdminSummary:
    generated_at: datetime
    periods: tuple[Period, ...]  # week, month, year
    open_by_status: tuple[tuple[str, int], ...]
    open_total: int
    proposed_open: int
    trend: tuple[tuple[datetime, int], ...]  # intros per 7-day week, oldest first
    stale: tuple[StaleLine, ...]
    stale_total: int
    failures: tuple[FailureLine, ...]  # closed as failed in the last month, newest first
    failures_total: int
    activity: tuple[MemberActivity, ...]  # most active in the last year first
    activity_more: int
    quiet_members: int  # members who gave and received nothing in the last year
    set_aside: tuple[SetAsideLine, ...] = ()  # set aside in the last 7 days, newest first
    set_aside_total: int = 0
    #: Why referrals failed, month by month, and whose often miss.
    lessons: GroupLessons | None = None


# --------------------------------------------------------------------------- helpers


def count_queries(store: Store, compute: Callable[[], T]) -> tuple[T, list[str]]:
    """Run ``compute`` and return its result with every SQL statement it issued.

    Uses sqlite-utils' tracer, which sees what goes through ``db.query`` and
    ``db.execute`` (all of this module's reads): for tests and the benchmark.
    """
    queries: list[str] = []
    with store.db.tracer(lambda sql, params: queries.append(sql)):
        result = compute()
    return result, queries


@contextmanager
def snapshot(store: Store) -> Iterator[None]:
    """One read transaction (WAL: a consistent snapshot), unless one is open."""
    conn = store.db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def julian(moment: datetime) -> float:
    """The Julian day of ``moment``: what SQLite's ``julianday()`` returns."""
    return moment.timestamp() / 86400 + _UNIX_EPOCH_JD


def from_julian(value: float, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(round((value - _UNIX_EPOCH_JD) * 86400), UTC).astimezone(zone)


def local_time(text: str, zone: tzinfo) -> datetime:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def months_back(moment: datetime, months: int) -> datetime:
    """The same local time ``months`` calendar months earlier (31 Mar → 28/29 Feb)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def placeholders(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{key}" for key in params), params


def _first_name(name: str, address: str) -> str:
    # The planner's rule, so a summary greets people as their nudges do.
    if name and "@" not in name:
        return name.split()[0]
    local = address.split("@")[0]
    return local.replace(".", " ").replace("_", " ").split()[0].capitalize() if local else address


def person(address: str, names: Mapping[str, str], config: Config) -> Person:
    """A member by their configured name (stable across referrals), anyone
    else by the display name their intro gave them, else the address."""
    member = config.member(address)
    name = (member.name if member else "") or names.get(address, "") or address
    return Person(name, _first_name(name, address), address)


class People:
    """:func:`person` for one summary, with the member lookups cached: a summary
    names the same few members hundreds of times, and each lookup goes
    through the (pydantic) config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.zone = config.zone
        self._members: dict[str, Person | None] = {}

    def __call__(self, address: str, names: Mapping[str, str] | None = None) -> Person:
        if address not in self._members:
            member = self.config.member(address)
            self._members[address] = person(address, {}, self.config) if member else None
        known = self._members[address]
        if known is not None:
            return known
        name = (names or {}).get(address, "") or address
        return Person(name, _first_name(name, address), address)


def cut(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1].rstrip() + "…"


def money_totals(amounts: Iterable[tuple[Any, Any]]) -> tuple[Money, ...]:
    """Sum values per currency; whole sums stay ints."""
    sums: dict[str | None, float] = defaultdict(float)
    for value, currency in amounts:
        if isinstance(value, int | float) and not isinstance(value, bool):
            sums[currency.upper() if isinstance(currency, str) and currency else None] += value
    return tuple(
        Money(int(total) if float(total).is_integer() else round(total, 2), currency)
        for currency, total in sorted(sums.items(), key=lambda item: (-item[1], item[0] or ""))
    )


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def parties_sql(alias: str) -> str:
    return (
        "(SELECT json_group_array(json_array(p.address, p.name, p.role)) FROM parties p "
        f"WHERE p.referral_id = {alias}.id)"
    )


def meant_for(detail: Mapping[str, Any], actor: str | None, referrer: str, reader: frozenset[str],
              people: People) -> bool:
    """May ``reader`` see the words of an event (SPEC "Trust": feedback text
    reaches only those it was meant for)?

    A person's words about a referral are written for its referrer: refmail's
    nudges say so ("we'll pass it on to Mei"). So they show in the summary of
    the referrer, of the person who wrote them, and of whoever the person
    chose to write to (``detail["shared_with"]``: the referral's people the
    message was addressed to) — a prospect's note reaches the provider only
    when the prospect wrote to the provider too. The admins' summary
    (``reader`` empty) shows the words of members only, for "why referrals
    failed"; an outsider's words never reach it.
    """
    if not reader:
        return bool(actor) and people.config.is_member(actor or "")
    if (actor and actor in reader) or referrer in reader:
        return True
    return bool(reader & set(detail.get("shared_with") or ()))


def referral_line(row: Mapping[str, Any], people: People, me: frozenset[str] = frozenset()) -> ReferralLine:
    """A :class:`ReferralLine` from a row with ``parties`` JSON and the latest
    news and status events (``news_*``, ``status_*`` columns)."""
    zone = people.zone
    parties = json.loads(row["parties"] or "[]")
    names = {address: name for address, name, _ in parties if name}

    def who(address: str) -> Person:
        return people(address, names)

    role = ""
    if me:
        role = "referrer" if row["referrer"] in me else next(
            (r for address, _, r in parties if address in me and r != "referrer"), "party"
        )
    introduced_at = local_time(row["introduced_at"], zone)
    news = None
    if row.get("news_kind"):
        detail = json.loads(row["news_detail"] or "{}")
        shown = meant_for(detail, row["news_actor"], row["referrer"], me, people)
        news = News(
            kind=row["news_kind"],
            # The intro's moment is its Date; the event's is when refmail read
            # it, which for history imported today would look like news.
            at=introduced_at if row["news_kind"] == "introduced" else local_time(row["news_at"], zone),
            actor=who(row["news_actor"]) if row["news_actor"] else None,
            status=detail.get("to") if row["news_kind"] == "status" else None,
            text=cut(detail.get("text", "")) if shown else "",
        )
    status = row["status"]
    status_detail = json.loads(row.get("status_detail") or "{}")
    value = None
    if status == "won" and status_detail.get("value") is not None:
        found = money_totals([(status_detail.get("value"), status_detail.get("currency"))])
        value = found[0] if found else None
    closed_at = None
    if status in CLOSED_STATUSES:
        closed_at = local_time(row.get("status_at") or row["updated_at"], zone)
    return ReferralLine(
        id=int(row["id"]),
        tag=f"R-{row['id']}",
        role=role,
        status=status,
        subject=cut(row["subject"]),
        introduced_at=introduced_at,
        referrer=who(row["referrer"]),
        provider=who(row["provider"]) if row["provider"] else None,
        prospects=tuple(who(a) for a, _, r in parties if r == "prospect"),
        parties=tuple(who(a) for a, _, r in parties if r != "referrer"),
        last_news=news,
        thanked=row.get("thanks_jd") is not None,
        value=value,
        closed_at=closed_at,
        silent=bool(row["silent"]),
    )
