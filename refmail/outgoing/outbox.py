"""The durable outbox: every message refmail sends is a row before it is mail.

The planner renders a message completely — bytes, Message-ID, plus token —
and :meth:`Outbox.enqueue` stores it in the same transaction as the state
change that caused it, so a crash leaves either both or neither. Sending only
reads this table (:meth:`Outbox.deliver`), which gives three guarantees:

- **at most once per step**: ``(referral_id, step, recipient, seq)`` is unique
  in the schema (migrations 0002 and 0003), so planning the same nudge twice
  is a no-op rather than a second email;
- **nothing lost**: a message leaves the queue only on a ``250`` (sent) or a
  5xx (failed, reported through ``on_permanent``); temporary failures are
  retried with exponential backoff (1, 2, 4 … minutes, at most an hour);
- **at least once, not exactly once**: a row is marked sent in its own small
  transaction *after* the server accepted it. A crash in between resends the
  identical bytes next time — same Message-ID, so mail clients show one
  message (RFC 5322 §3.6.4: the Message-ID identifies *the* message). SMTP
  offers no way to close that window; the other order would lose mail.

Times are stored as UTC ISO 8601 text, so comparing strings compares moments
(``due`` relies on it to use the ``outbox_due`` index). Naive datetimes are
taken to be UTC.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from refmail.errors import SignInFailed, TransportError
from refmail.outgoing.transport import PermanentFailure, TemporaryFailure, Transport
from refmail.storage.store import Store, iso

__all__ = ["DeliveryReport", "Outbox", "OutboxItem", "backoff"]

log = logging.getLogger(__name__)

#: Retry delays: FIRST_RETRY × 2ⁿ, at most MAX_RETRY. An hour keeps a nudge
#: timely after a long outage without polling a dead server every minute.
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)

_COLUMNS = (
    "id, referral_id, step, recipient, seq, message_id, token, subject, raw, status, "
    "attempts, next_attempt_at, last_error, created_at, sent_at"
)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1 → 1 min, 2 → 2 min …)."""
    doublings = min(max(attempts, 1) - 1, 12)  # bounded: 2**12 minutes is far past the cap
    return min(FIRST_RETRY * (2**doublings), MAX_RETRY)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return iso(_utc(moment))


def _parse(text: str | None) -> datetime | None:
    return _utc(datetime.fromisoformat(text)) if text else None


@dataclass(frozen=True)
class OutboxItem:
    """One queued (or finished) message, exactly as it will be or was sent."""

    id: int
    referral_id: int | None
    step: str
    recipient: str
    seq: int
    message_id: str
    token: str | None
    subject: str
    raw: bytes
    status: str  # queued | sent | failed | bounced | cancelled
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime | None = None
    sent_at: datetime | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> OutboxItem:
        (
            id_,
            referral_id,
            step,
            recipient,
            seq,
            message_id,
            token,
            subject,
            raw,
            status,
            attempts,
            next_attempt_at,
            last_error,
            created_at,
            sent_at,
        ) = tuple(row)
        due = _parse(next_attempt_at)
        assert due is not None
        return cls(
            id=int(id_),
            referral_id=int(referral_id) if referral_id is not None else None,
            step=step,
            recipient=recipient,
            seq=int(seq),
            message_id=message_id,
            token=token,
            subject=subject,
            raw=bytes(raw),
            status=status,
            attempts=int(attempts),
            next_attempt_at=due,
            last_error=last_error,
            created_at=_parse(created_at),
            sent_at=_parse(sent_at),
        )


@dataclass
class DeliveryReport:
    """What one :meth:`Outbox.deliver` run did."""

    sent: int = 0
    #: Temporary failures: still queued, retried after a backoff.
    deferred: int = 0
    #: Permanent failures: status ``failed``, never retried.
    failed: int = 0
    #: One line per deferred or failed message (never a password or a body).
    errors: list[str] = field(default_factory=list)
    #: The server-level error that ended the run early (the rest stay queued).
    outage: str | None = None
    #: True when ``stop()`` ended the run early.
    stopped: bool = False

    @property
    def attempted(self) -> int:
        """Messages handed to the server in this run, whatever the answer."""
        return self.sent + self.deferred + self.failed

    def summary(self) -> str:
        """One line for the log or the terminal, e.g. "Sent 3 messages, 1 refused for good."."""
        parts = [f"Sent {self.sent} message{'s' if self.sent != 1 else ''}"]
        if self.failed:
            parts.append(f"{self.failed} refused for good")
        if self.deferred:
            parts.append(f"{self.deferred} deferred")
        text = ", ".join(parts) + "."
        if self.outage:
            text += f" Sending paused, the rest stays queued: {self.outage}"
        elif self.stopped:
            text += " Sending stopped early on request."
        return text


class Outbox:
    """The ``outbox`` table (see the module docstring). Not thread-safe.

    One Outbox should live as long as the daemon: it remembers whether
    sending is currently failing, so an outage is logged once when it starts
    and once when it ends rather than on every attempt.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn = store.db.conn
        self._outage: str | None = None  # the kind of failure being endured
        self._outage_failures = 0

    # -- writing ----------------------------------------------------------------
    def enqueue(
        self,
        *,
        referral_id: int | None,
        step: str,
        recipient: str,
        seq: int,
        message_id: str,
        token: str | None,
        subject: str,
        raw: bytes,
        now: datetime,
        not_before: datetime | None = None,
    ) -> int | None:
        """Queue a rendered message; the new row's id, or None if this step was queued before.

        "Before" means any row with the same ``(referral_id, step, recipient,
        seq)``, whatever its status — a sent, failed or cancelled step is not
        queued again. Mail tied to no referral (``referral_id=None``) is
        unique the same way, so give it a distinguishing ``step`` or ``seq``
        (e.g. the week of a summary). A Message-ID already used by another
        row is a bug and raises :class:`sqlite3.IntegrityError`.

        Joins the caller's transaction when one is open, so the message and
        the state change that caused it commit together.
        """
        first_try = max(_utc(now), _utc(not_before)) if not_before is not None else _utc(now)
        with self.store.transaction():
            cursor = self._conn.execute(
                "INSERT INTO outbox (referral_id, step, recipient, seq, message_id, token, "
                "subject, raw, status, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?) "
                # The conflict target is migration 0003's expression index,
                # which also covers referral_id IS NULL.
                "ON CONFLICT (ifnull(referral_id, -1), step, recipient, seq) DO NOTHING",
                (
                    referral_id,
                    step,
                    recipient,
                    seq,
                    message_id,
                    token,
                    subject,
                    sqlite3.Binary(raw),
                    _stamp(first_try),
                    _stamp(now),
                ),
            )
            if cursor.rowcount == 0:
                return None
            return int(cursor.lastrowid or 0)

    def mark_sent(self, item_id: int, now: datetime) -> None:
        """The server said 250. Its own transaction, committed at once."""
        with self.store.transaction():
            self._conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND status = 'queued'",
                (_stamp(now), item_id),
            )

    def mark_bounced(self, item_id: int, reason: str, now: datetime) -> None:
        """A bounce (DSN) came back for a message the server had accepted."""
        with self.store.transaction():
            self._conn.execute(
                "UPDATE outbox SET status = 'bounced', last_error = ? WHERE id = ?",
                (f"bounced {_stamp(now)}: {reason}"[:1000], item_id),
            )

    def cancel(self, item_id: int, reason: str) -> bool:
        """Withdraw a queued message (STOP, referral closed); False if it already left."""
        with self.store.transaction():
            cursor = self._conn.execute(
                "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE id = ? AND status = 'queued'",
                (reason[:1000], item_id),
            )
        return cursor.rowcount > 0

    def cancel_queued(
        self, reason: str, *, recipient: str | None = None, referral_id: int | None = None
    ) -> int:
        """Withdraw every queued message to ``recipient`` and/or of ``referral_id``; how many."""
        if recipient is None and referral_id is None:
            raise ValueError("cancel_queued() needs a recipient or a referral_id")
        where: list[str] = ["status = 'queued'"]
        params: list[Any] = [reason[:1000]]
        if recipient is not None:
            where.append("recipient = ?")
            params.append(recipient)
        if referral_id is not None:
            where.append("referral_id = ?")
            params.append(referral_id)
        with self.store.transaction():
            cursor = self._conn.execute(
                f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE {' AND '.join(where)}",
                params,
            )
        return int(cursor.rowcount)

    def cancel_to(self, recipient: str, reason: str) -> int:
        """Withdraw every queued message to ``recipient`` (STOP); how many."""
        return self.cancel_queued(reason, recipient=recipient)

    def _defer(self, item: OutboxItem, error: str, now: datetime) -> None:
        attempts = item.attempts + 1
        with self.store.transaction():
            self._conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE id = ? AND status = 'queued'",
                (_stamp(_utc(now) + backoff(attempts)), error[:1000], item.id),
            )

    def _fail(
        self,
        item: OutboxItem,
        error: str,
        on_permanent: Callable[[OutboxItem, str], None] | None,
    ) -> None:
        # One transaction with the caller's consequences (event, notice to the
        # referrer): if on_permanent raises, the row stays queued and the
        # failure is met again next run rather than forgotten.
        with self.store.transaction():
            self._conn.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? "
                "WHERE id = ? AND status = 'queued'",
                (error[:1000], item.id),
            )
            if on_permanent is not None:
                failed = replace(item, status="failed", attempts=item.attempts + 1, last_error=error)
                on_permanent(failed, error)

    # -- reading ----------------------------------------------------------------
    def get(self, item_id: int) -> OutboxItem | None:
        return self._one(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,))

    def by_message_id(self, message_id: str) -> OutboxItem | None:
        """The row with this Message-ID, written with or without angle brackets."""
        bare = message_id.strip().strip("<>")
        return self._one(
            f"SELECT {_COLUMNS} FROM outbox WHERE message_id IN (?, ?) ORDER BY id LIMIT 1",
            (bare, f"<{bare}>"),
        )

    def by_token(self, token: str) -> OutboxItem | None:
        return self._one(f"SELECT {_COLUMNS} FROM outbox WHERE token = ? ORDER BY id LIMIT 1", (token,))

    def enqueued(self, referral_id: int) -> set[tuple[str, str, int]]:
        """``(step, recipient, seq)`` of every row of the referral, whatever its status."""
        rows = self._conn.execute(
            "SELECT step, recipient, seq FROM outbox WHERE referral_id = ?", (referral_id,)
        ).fetchall()
        return {(str(step), str(recipient), int(seq)) for step, recipient, seq in rows}

    def enqueued_many(self, referral_ids: Iterable[int]) -> dict[int, set[tuple[str, str, int]]]:
        """:meth:`enqueued` for several referrals in one query: id → its rows (empty set if none).

        One search of the ``(referral_id, step, recipient, seq)`` unique index
        per id, all in one statement; keep ``referral_ids`` to a few hundred.
        """
        ids = sorted({int(i) for i in referral_ids})
        out: dict[int, set[tuple[str, str, int]]] = {i: set() for i in ids}
        if not ids:
            return out
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT referral_id, step, recipient, seq FROM outbox WHERE referral_id IN ({marks})", ids
        ).fetchall()
        for referral_id, step, recipient, seq in rows:
            out[int(referral_id)].add((str(step), str(recipient), int(seq)))
        return out

    def has(self, step: str, recipient: str, seq: int, referral_id: int | None = None) -> bool:
        """Whether that message was ever queued (any status)."""
        row = self._conn.execute(
            "SELECT 1 FROM outbox WHERE ifnull(referral_id, -1) = ifnull(?, -1) AND step = ? "
            "AND recipient = ? AND seq = ?",
            (referral_id, step, recipient, seq),
        ).fetchone()
        return row is not None

    def recent_to(
        self, recipient: str, since: datetime, *, exclude_steps: Iterable[str] = ()
    ) -> list[datetime]:
        """When each message to ``recipient`` since ``since`` was queued, oldest first.

        For the weekly cap: counts messages that reached or will reach the
        person (queued, sent); cancelled, failed and bounced ones never did.
        ``exclude_steps`` leaves out steps the cap does not apply to.
        """
        skip = sorted(set(exclude_steps))
        marks = ",".join("?" * len(skip))
        rows = self._conn.execute(
            "SELECT created_at FROM outbox WHERE recipient = ? AND created_at >= ? "
            "AND status IN ('queued', 'sent') "
            + (f"AND step NOT IN ({marks}) " if skip else "")
            + "ORDER BY created_at",
            (recipient, _stamp(since), *skip),
        ).fetchall()
        return [moment for (text,) in rows if (moment := _parse(text)) is not None]

    def due(self, now: datetime, limit: int = 500) -> list[OutboxItem]:
        """Queued messages whose time has come, longest-waiting first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, id LIMIT ?",
            (_stamp(now), int(limit)),
        ).fetchall()
        return [OutboxItem.from_row(r) for r in rows]

    def items(
        self,
        *,
        referral_id: int | None = None,
        statuses: Iterable[str] = (),
        limit: int | None = None,
    ) -> list[OutboxItem]:
        """Rows of one referral and/or with these statuses, oldest first (``refmail show``, ``outbox``)."""
        where: list[str] = []
        params: list[Any] = []
        if referral_id is not None:
            where.append("referral_id = ?")
            params.append(referral_id)
        wanted = sorted(set(statuses))
        if wanted:
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = f"SELECT {_COLUMNS} FROM outbox" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [OutboxItem.from_row(r) for r in self._conn.execute(sql, params).fetchall()]

    def counts(self) -> dict[str, int]:
        """Rows per status, e.g. ``{"queued": 3, "sent": 120}``."""
        rows = self._conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        return {str(status): int(n) for status, n in rows}

    def _one(self, sql: str, params: tuple[Any, ...]) -> OutboxItem | None:
        row = self._conn.execute(sql, params).fetchone()
        return OutboxItem.from_row(row) if row else None

    def _status(self, item_id: int) -> str | None:
        row = self._conn.execute("SELECT status FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return str(row[0]) if row else None

    # -- sending ----------------------------------------------------------------
    def deliver(
        self,
        transport: Transport,
        *,
        mail_from: str,
        now: Callable[[], datetime],
        on_permanent: Callable[[OutboxItem, str], None] | None = None,
        limit: int = 500,
        stop: Callable[[], bool] | None = None,
    ) -> DeliveryReport:
        """Send what is due, oldest first, over ``transport``'s one connection.

        ``mail_from`` is the envelope sender — the tracking address, so
        bounces return to refmail (RFC 5321 §4.5.5). The first temporary or
        server-level failure defers that message and ends the run: when the
        server is down or refusing, trying the other messages now would only
        hammer it, and they stay queued for the next run. Permanent failures
        mark the message ``failed`` and call ``on_permanent(item, error)`` in
        the same transaction. ``stop()`` is checked before each message. A
        :class:`~refmail.errors.SignInFailed` (the login refused for good)
        leaves the message untouched and is raised: only a person can fix it.

        Must be called outside any open transaction, or "marked sent right
        after the 250" would only become true when the caller commits.
        """
        report = DeliveryReport()
        for item in self.due(now(), limit):
            if stop is not None and stop():
                report.stopped = True
                break
            if self._status(item.id) != "queued":  # cancelled since due() read it
                continue
            try:
                refused = transport.send(item.raw, mail_from=mail_from, rcpt_tos=[item.recipient])
            except PermanentFailure as exc:
                error = str(exc)
                log.warning("message %s to %s refused for good: %s", item.message_id, item.recipient, error)
                self._fail(item, error, on_permanent)
                report.failed += 1
                report.errors.append(f"{item.message_id} to {item.recipient}: {error}")
                self._working(transport)  # the server answered: it is up
                continue
            except SignInFailed:
                # Refused at login for good: no attempt at this message was made,
                # so it stays queued as it was; the caller stops and says why.
                raise
            except TransportError as exc:
                error = str(exc)
                self._defer(item, error, now())
                report.deferred += 1
                report.errors.append(f"{item.message_id} to {item.recipient}: {error}")
                report.outage = error
                self._failing(exc, transport)
                break
            if refused:  # only possible with several recipients; refmail sends to one
                log.warning("message %s: some recipients were refused: %s", item.message_id, refused)
            self.mark_sent(item.id, now())
            report.sent += 1
            log.debug("sent %s (%s) to %s", item.message_id, item.step, item.recipient)
            self._working(transport)
        # A run that only deferred is part of an outage, already logged once.
        if report.sent or report.failed:
            log.info(
                "outbox: %d sent, %d deferred, %d failed",
                report.sent,
                report.deferred,
                report.failed,
            )
        return report

    def _failing(self, exc: TransportError, transport: Transport) -> None:
        """Log the start of an outage once; later attempts in it only at DEBUG."""
        self._outage_failures += 1
        kind = "temporary" if isinstance(exc, TemporaryFailure) else "configuration"
        if self._outage == kind:
            log.debug("sending still failing (%d attempts): %s", self._outage_failures, exc)
            return
        self._outage = kind
        if kind == "temporary":
            log.warning("cannot send mail via %s, will retry (mail stays queued): %s", transport.where, exc)
        else:
            log.error(
                "cannot send mail via %s until this is fixed (mail stays queued): %s", transport.where, exc
            )

    def _working(self, transport: Transport) -> None:
        if self._outage is not None:
            log.info(
                "sending mail via %s works again after %d failed attempts",
                transport.where,
                self._outage_failures,
            )
        self._outage = None
        self._outage_failures = 0
