"""Which follow-up messages are due for one referral — pure functions, clock passed in.

The planner calls :func:`due_messages` inside a database transaction and
enqueues one outgoing message per :class:`Due`. This module only decides
*what* is due; *when* it may leave (quiet hours, :func:`quiet_until`) and
*how much* one person may receive (:func:`over_weekly_cap`) are applied by the
planner with the other two helpers here. Nothing in this module reads the
clock, the database or the network, so every rule can be tested at any moment
of a referral's life.

The rules do by email what good networkers do by habit (SPEC "The flow",
steps 3–4; the articles in ``seeds/``): thank the referrer, ask *both* parties
how it went, keep the referrer informed — bad news included, promptly — and
chase referrals that go silent, without ever becoming spam.

============== ========== ======== ===================================================================
step           recipient  seq      due when
============== ========== ======== ===================================================================
ack            referrer   0        right away after the intro, roles known, status open, no
                                   ``roles_set`` and no ``roles_question`` (the question already
                                   answered the referrer), and not later than ``backfill`` after it
roles_question referrer   0        roles unknown (no provider, no ``roles_set``), status open
thank_you      provider   0        ``introduced_at + thank_you_after`` elapsed, status open or won,
                                   the provider has not thanked (``thanks`` event)
miss_thanks    provider   0        status lost or no fit (:data:`MISSES`), ``thank_you_after`` elapsed
                                   since it closed and not :data:`MISS_THANKS_WITHIN` yet, the
                                   provider has not thanked: thank the referrer anyway, and say
                                   what would make a better referral next time (seed 000)
relay_thanks   referrer   event id every ``thanks`` event by the provider (any status)
feedback       provider   0        ``introduced_at + feedback_after`` elapsed, status open, no
                                   ``feedback``/``status`` event by the provider yet
feedback       prospect   1        same moment, ``prospect_feedback >= 1``, status open, the prospect
                                   has given no feedback
feedback       prospect   2        ``introduced_at + 2 * feedback_after``, ``prospect_feedback == 2``,
                                   seq 1 already sent, still no feedback from that prospect
status_update  referrer   event id every ``status`` and ``feedback`` event whose actor is not the
                                   referrer (any status; bad news is never delayed)
stale_reminder provider   n        status open, last news older than
                                   ``stale_after + (n-1) * reminder_every``, n the lowest reminder
                                   not yet sent, ``n <= max_reminders``
no_news        referrer   n        alongside stale_reminder (same timing, its own sequence)
closed_thanks  referrer   0        status won and a ``status`` event to won carries a value
============== ========== ======== ===================================================================

Everywhere:

* a ``silent`` referral (backfill, import) gets nothing at all;
* nothing goes to an address in ``blocked`` (STOP, bounce) nor to the actor
  of a ``stop``/``bounce`` event in this referral's history, unless a later
  ``start`` event of theirs undid it;
* nothing already in ``already`` is returned, nor any recipient who is not the
  referrer or one of the parties;
* "open" means :data:`OPEN_STATUSES`; a consent-first ``proposed`` referral
  has not been introduced yet and gets none of the open-status steps;
* events later than ``now`` are ignored (the function answers "as of now");
* every duration is elapsed time (computed in UTC), so a "1d" wait across a
  DST change is 24 hours, and a test may shrink the timings to seconds.

"Last news" is the latest of ``introduced_at`` and the events of kinds
``first_contact``, ``thread_reply``, ``status``, ``feedback``, ``thanks`` and
``roles_set``. A party "has given feedback" with a ``feedback`` event or a
``status`` event they made themselves; a status change the tracker *inferred*
(``detail["why"] == "first contact"``, or ``detail["inferred"]``) is evidence
of contact, not an answer to "how did it go?", so it does not count.

Sequenced steps (prospect feedback 2, reminders) only ever advance one step
past what ``already`` holds, so a planner that was down for a month sends the
next message, not a burst of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from refmail.config import Config
from refmail.config import format_duration as _duration

__all__ = [
    "CAP_EXEMPT",
    "CLOSED_STATUSES",
    "MISSES",
    "MISS_THANKS_WITHIN",
    "NEWS_KINDS",
    "OPEN_STATUSES",
    "STEPS",
    "Due",
    "Event",
    "ReferralView",
    "due_messages",
    "over_weekly_cap",
    "quiet_until",
]

OPEN_STATUSES = frozenset({"introduced", "contacted", "meeting", "proposal"})
CLOSED_STATUSES = frozenset({"won", "lost", "no_fit", "unresponsive", "withdrawn", "declined", "expired"})
STEPS = (
    "ack",
    "roles_question",
    "thank_you",
    "miss_thanks",
    "relay_thanks",
    "feedback",
    "status_update",
    "stale_reminder",
    "no_news",
    "closed_thanks",
)
#: Answers to the person's own action are never capped (the last four are
#: queued by :mod:`refmail.workflow.notices`: a confirmation question, its
#: result, the note that confirms a STOP, what of a reply did not count, a
#: member's profile as it reads).
CAP_EXEMPT = frozenset(
    {"ack", "roles_question", "confirm", "confirm_result", "stopped", "refused", "profile"}
)
#: Event kinds that count as news about a referral (they reset the stale clock).
NEWS_KINDS = frozenset({"first_contact", "thread_reply", "status", "feedback", "thanks", "roles_set"})
#: Statuses in which the provider is asked to thank the referrer with the
#: ``thank_you`` nudge: a won referral whose provider forgot to say thanks still
#: should. A miss gets a nudge of its own, worded for it (``miss_thanks``).
_THANK_YOU_STATUSES = OPEN_STATUSES | {"won"}
#: Referrals that closed without business although both people were there to
#: do it: the provider is still asked to thank the referrer, worded for a miss
#: ("If someone passes you a valid referral which does not result in a positive
#: outcome to you, thank the person, provide them feedback", seed 000). A
#: referral nobody answered, or one the referrer withdrew, is not asked about.
MISSES = frozenset({"lost", "no_fit"})
#: A thank-you asked for later than this after the referral closed would come
#: out of nowhere (after downtime, say): it is not asked at all.
MISS_THANKS_WITHIN = timedelta(days=14)
_WEEK = timedelta(days=7)
_STEP_ORDER = {step: i for i, step in enumerate(STEPS)}


@dataclass(frozen=True)
class Event:
    """One row of the referral's append-only history."""

    id: int
    kind: str
    at: datetime  # aware
    actor: str | None  # address
    # Excluded from the hash so an Event (holding a dict) stays hashable.
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ReferralView:
    """What the rules need to know about one referral, read in the planner's transaction."""

    id: int
    status: str
    referrer: str
    provider: str | None  # None = roles unknown
    prospects: tuple[str, ...]
    parties: tuple[str, ...]  # everyone introduced (provider + prospects, or all when roles unknown)
    silent: bool  # tracked without any mail (backfill / import): nothing is ever due
    introduced_at: datetime
    events: tuple[Event, ...]  # oldest first


@dataclass(frozen=True)
class Due:
    """One message that should be enqueued now."""

    step: str  # one of STEPS
    recipient: str
    seq: int  # 0 one-off; reminder number; triggering event id; 1 or 2 for prospect feedback
    reason: str  # short, for logs/debugging
    event_id: int | None = None  # the event that triggered it (status_update, relay_thanks)


# -- helpers ------------------------------------------------------------------
def _utc(moment: datetime) -> datetime:
    """``moment`` as UTC; refuses naive datetimes.

    Arithmetic and comparison between two datetimes that share a ZoneInfo are
    done on wall-clock fields (fold ignored), which is wrong across DST
    changes; in UTC they are plain elapsed time.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got {moment!r}")
    return moment.astimezone(UTC)


def _norm(address: str | None) -> str | None:
    return address.strip().lower() if address else None


def _has_value(value: Any) -> bool:
    """A won-with-value amount: present, non-empty and, when numeric, positive."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value > 0
    text = str(value).strip()
    if not text:
        return False
    try:
        return float(text.replace(",", "")) > 0
    except ValueError:
        return True  # "5k", "$1,200.00 + VAT": a value was given


def _inferred(event: Event) -> bool:
    """A status change the tracker deduced rather than a person reported."""
    return bool(event.detail.get("inferred")) or event.detail.get("why") == "first contact"


@dataclass(frozen=True)
class _Context:
    """The referral normalised once: UTC times, lower-case addresses, effective roles."""

    now: datetime
    introduced_at: datetime
    status: str
    referrer: str
    provider: str | None
    prospects: tuple[str, ...]
    recipients: frozenset[str]  # referrer + parties: nobody else is ever written to
    roles_set: bool
    events: tuple[Event, ...]  # at <= now, oldest first
    already: frozenset[tuple[str, str, int]]
    blocked: frozenset[str]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def sent(self, step: str, recipient: str, seq: int) -> bool:
        return (step, recipient, seq) in self.already

    def next_seq(self, step: str, recipient: str, limit: int) -> int | None:
        """The lowest seq in 1..limit not yet sent, or None when all were."""
        for n in range(1, limit + 1):
            if not self.sent(step, recipient, n):
                return n
        return None

    def by(self, actor: str, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds and _norm(e.actor) == actor]

    def has_spoken(self, address: str) -> bool:
        """True once ``address`` gave feedback or reported a status themselves."""
        return any(e.kind == "feedback" or not _inferred(e) for e in self.by(address, "feedback", "status"))

    def last_news(self) -> datetime:
        times = [_utc(e.at) for e in self.events if e.kind in NEWS_KINDS]
        return max([self.introduced_at, *times])


def _context(
    referral: ReferralView,
    now: datetime,
    already: Iterable[tuple[str, str, int]],
    blocked: Iterable[str],
) -> _Context:
    now_utc = _utc(now)
    events = tuple(e for e in referral.events if _utc(e.at) <= now_utc)
    referrer = _norm(referral.referrer) or ""
    parties = tuple(dict.fromkeys(p for p in (_norm(a) for a in referral.parties) if p))
    roles_set_events = [e for e in events if e.kind == "roles_set"]
    provider = _norm(referral.provider)
    prospects = tuple(dict.fromkeys(p for p in (_norm(a) for a in referral.prospects) if p))
    if provider is None and roles_set_events:
        # The view may predate the roles update; the event says who provides.
        named = _norm(roles_set_events[-1].detail.get("provider"))
        if named in parties:
            provider = named
            prospects = tuple(p for p in parties if p != named)
    stopped: set[str] = set()
    for e in events:  # oldest first: a START after a STOP undoes it
        actor = _norm(e.actor)
        if actor and e.kind in {"stop", "bounce"}:
            stopped.add(actor)
        elif actor and e.kind == "start":
            stopped.discard(actor)
    return _Context(
        now=now_utc,
        introduced_at=_utc(referral.introduced_at),
        status=referral.status,
        referrer=referrer,
        provider=provider,
        prospects=tuple(p for p in prospects if p != provider),
        recipients=frozenset({referrer, *parties}),
        roles_set=bool(roles_set_events),
        events=events,
        already=frozenset((s, r.strip().lower(), q) for s, r, q in already),
        blocked=frozenset(a for a in (_norm(b) for b in blocked) if a) | stopped,
    )


# -- the rules ------------------------------------------------------------------
def _acknowledgement(ctx: _Context, config: Config) -> list[Due]:
    if not ctx.is_open:
        return []
    if ctx.provider is None:
        if ctx.roles_set:
            return []  # roles were set but name nobody we introduced: asking again won't help
        return [Due("roles_question", ctx.referrer, 0, "roles unknown: ask the referrer who provides")]
    if ctx.roles_set or ctx.sent("roles_question", ctx.referrer, 0):
        return []  # the referrer already heard from us about this intro
    if ctx.now - ctx.introduced_at > config.timing.backfill:
        return []  # an acknowledgement weeks later is no longer an answer
    return [Due("ack", ctx.referrer, 0, "intro tracked: acknowledge it")]


def _thank_you(ctx: _Context, config: Config) -> list[Due]:
    provider = ctx.provider
    if provider is None or provider == ctx.referrer or ctx.status not in _THANK_YOU_STATUSES:
        return []
    after = config.timing.thank_you_after
    if ctx.now < ctx.introduced_at + after or ctx.by(provider, "thanks"):
        return []
    return [Due("thank_you", provider, 0, f"thank_you_after {_duration(after)} elapsed, no thanks yet")]


def _miss_thanks(ctx: _Context, config: Config) -> list[Due]:
    provider = ctx.provider
    if provider is None or provider == ctx.referrer or ctx.status not in MISSES:
        return []
    if ctx.by(provider, "thanks"):
        return []
    closing = next(
        (e for e in reversed(ctx.events) if e.kind == "status" and e.detail.get("to") == ctx.status), None
    )
    if closing is None:
        return []  # closed without a recorded change (an admin's edit): no moment to count from
    closed_at = _utc(closing.at)
    after = config.timing.thank_you_after
    if ctx.now < closed_at + after or ctx.now - closed_at > MISS_THANKS_WITHIN:
        return []
    reason = f"closed {ctx.status.replace('_', ' ')} {_duration(ctx.now - closed_at)} ago, no thanks yet"
    return [Due("miss_thanks", provider, 0, reason)]


def _relay_thanks(ctx: _Context) -> list[Due]:
    provider = ctx.provider
    if provider is None or provider == ctx.referrer:
        return []
    return [
        Due("relay_thanks", ctx.referrer, e.id, f"thanks from {provider} (event {e.id})", event_id=e.id)
        for e in ctx.by(provider, "thanks")
    ]


def _feedback(ctx: _Context, config: Config) -> list[Due]:
    after = config.timing.feedback_after
    if not ctx.is_open or ctx.provider is None or ctx.now < ctx.introduced_at + after:
        return []
    dues: list[Due] = []
    if not ctx.has_spoken(ctx.provider):
        dues.append(Due("feedback", ctx.provider, 0, f"feedback_after {_duration(after)} elapsed"))
    asks = config.nudges.prospect_feedback
    for prospect in ctx.prospects:
        if asks < 1 or prospect == ctx.referrer or ctx.has_spoken(prospect):
            continue
        dues.append(Due("feedback", prospect, 1, f"feedback_after {_duration(after)} elapsed"))
        if asks >= 2 and ctx.sent("feedback", prospect, 1) and ctx.now >= ctx.introduced_at + 2 * after:
            dues.append(Due("feedback", prospect, 2, f"2 x feedback_after {_duration(after)}, no answer"))
    return dues


def _status_updates(ctx: _Context) -> list[Due]:
    dues = []
    for e in ctx.events:
        if e.kind not in {"status", "feedback"} or _norm(e.actor) == ctx.referrer:
            continue
        if e.detail.get("consent"):
            continue  # a consent-first transition: refmail.policy.consent writes to the referrer itself
        if e.kind == "status":
            reason = f"status {e.detail.get('from')}->{e.detail.get('to')} by {e.actor}"
        else:
            reason = f"feedback from {e.actor}"
        dues.append(Due("status_update", ctx.referrer, e.id, reason, event_id=e.id))
    return dues


def _stale(ctx: _Context, config: Config) -> list[Due]:
    timing = config.timing
    if not ctx.is_open or ctx.provider is None:
        return []
    quiet_for = ctx.now - ctx.last_news()
    dues: list[Due] = []
    # Each recipient keeps its own sequence: a provider who said STOP must not
    # hold back the referrer's "no news" and vice versa. Normally both advance together.
    targets = [("stale_reminder", ctx.provider)]
    if ctx.referrer != ctx.provider:
        targets.append(("no_news", ctx.referrer))
    for step, recipient in targets:
        if recipient in ctx.blocked:
            continue
        n = ctx.next_seq(step, recipient, timing.max_reminders)
        if n is None:
            continue
        threshold = timing.stale_after + (n - 1) * timing.reminder_every
        if quiet_for >= threshold:
            reason = f"no news for {_duration(quiet_for)} (>= {_duration(threshold)})"
            dues.append(Due(step, recipient, n, reason))
    return dues


def _closed_thanks(ctx: _Context) -> list[Due]:
    if ctx.status != "won":
        return []
    valued = [
        e
        for e in ctx.events
        if e.kind == "status" and e.detail.get("to") == "won" and _has_value(e.detail.get("value"))
    ]
    if not valued:
        return []
    last = valued[-1]
    reason = f"won with value {last.detail.get('value')}"
    return [Due("closed_thanks", ctx.referrer, 0, reason, event_id=last.id)]


def due_messages(
    referral: ReferralView,
    config: Config,
    now: datetime,
    *,
    already: Set[tuple[str, str, int]],
    blocked: Set[str],
) -> list[Due]:
    """Every message due for ``referral`` at ``now`` that is not in ``already``.

    ``already`` holds the ``(step, recipient, seq)`` already enqueued for this
    referral; ``blocked`` the addresses that said STOP or bounced. The result is
    sorted by step (in :data:`STEPS` order), recipient, then seq, so the same
    input always yields the same list.
    """
    if referral.silent:
        return []
    ctx = _context(referral, now, already, blocked)
    candidates = [
        *_acknowledgement(ctx, config),
        *_thank_you(ctx, config),
        *_miss_thanks(ctx, config),
        *_relay_thanks(ctx),
        *_feedback(ctx, config),
        *_status_updates(ctx),
        *_stale(ctx, config),
        *_closed_thanks(ctx),
    ]
    chosen: dict[tuple[str, str, int], Due] = {}
    for due in candidates:
        key = (due.step, due.recipient, due.seq)
        if (
            due.recipient in ctx.blocked
            or due.recipient not in ctx.recipients
            or key in ctx.already
            or key in chosen
        ):
            continue
        chosen[key] = due
    return sorted(chosen.values(), key=lambda d: (_STEP_ORDER[d.step], d.recipient, d.seq))


# -- when and how much ------------------------------------------------------------
def _in_range(wall: time, start: time, end: time) -> bool:
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end  # wraps midnight, e.g. 21:00-07:00


def _instants(day: date, wall: time, zone: tzinfo) -> list[datetime]:
    """The UTC instants at which the clock in ``zone`` reads ``wall`` on ``day``.

    Usually one; two in the repeated hour of a fall-back change; none in the
    skipped hour of a spring-forward change, where the answer is the moment the
    clock jumps past ``wall`` (the first instant reading ``wall`` or later).
    """
    naive = datetime.combine(day, wall)
    found = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive and instant not in found:
            found.append(instant)
    if found:
        return found
    # In a gap fold=1 maps with the offset after the change (earlier instant),
    # fold=0 with the one before (later instant); the jump lies between them.
    lo = int(naive.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    hi = int(naive.replace(tzinfo=zone, fold=0).astimezone(UTC).timestamp())
    lo, hi = min(lo, hi), max(lo, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return [datetime.fromtimestamp(lo, UTC)]


def quiet_until(now: datetime, config: Config) -> datetime | None:
    """None when ``now`` is outside quiet hours; else the moment quiet hours end.

    Quiet hours are wall-clock hours in the group's time zone (``21:00-07:00``
    wraps midnight; ``12:00-13:00`` does not; equal ends mean no quiet hours).
    The end is the first instant after ``now`` at which the local clock reads
    the end time — across a DST change that is a real 9.5 or 7.5 hours from
    22:30 to 07:00. The result is aware, in the group's zone.
    """
    hours = config.timing.quiet_hours
    if hours is None or hours[0] == hours[1]:
        return None
    start, end = hours
    zone = config.zone
    now_utc = _utc(now)
    local = now_utc.astimezone(zone)
    if not _in_range(local.time(), start, end):
        return None
    today = local.date()
    candidates = [
        instant
        for day in (today, today + timedelta(days=1))
        for instant in _instants(day, end, zone)
        if instant > now_utc
    ]
    return min(candidates).astimezone(zone)


def over_weekly_cap(sent_at: Sequence[datetime], now: datetime, config: Config) -> bool:
    """True when ``sent_at`` holds >= ``max_per_week`` messages within the 7 days before ``now``.

    ``sent_at`` are the times messages were sent or queued to one person. The
    window is the last 7 x 24 hours: a message sent exactly 7 days ago no
    longer counts. Messages queued for later (time after ``now``) count, since
    they will go out inside the window. Steps in :data:`CAP_EXEMPT` are the
    planner's to leave out of both the count and the check.
    """
    since = _utc(now) - _WEEK
    recent = sum(1 for moment in sent_at if _utc(moment) > since)
    return recent >= config.nudges.max_per_week
