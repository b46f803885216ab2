"""Pending actions: what refmail was asked to do and waits to have confirmed.

A request that came without proof of its sender (SPEC "Trust") is not
applied; it is written here, and the claimed sender is asked at their own
address to confirm it with one click (:mod:`refmail.workflow.confirmations`
owns that flow). A row is single-use: :meth:`PendingActions.resolve` moves it
out of ``pending`` with a compare-and-set, so two answers to one question
(a double click, the same reply delivered twice under different Message-IDs)
apply it at most once. Rows are never deleted: they are the record of who
asked what, and what became of it.

Times are UTC ISO 8601 text (:func:`refmail.storage.store.iso`), so text order
is time order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from refmail.storage.store import Store, iso

__all__ = ["ActionState", "PendingAction", "PendingActions"]


class ActionState(StrEnum):
    """Where a pending action stands; every state but ``pending`` is final."""

    PENDING = "pending"
    #: Confirmed and carried out (whatever its handler could apply).
    DONE = "done"
    #: The person answered no: nothing was applied.
    DECLINED = "declined"
    #: Not confirmed in time: nothing was applied.
    EXPIRED = "expired"


_COLUMNS = ("id, kind, referral_id, requester, payload, summary, message_id, state, result, "
            "created_at, expires_at, resolved_at")


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PendingAction:
    """One row of ``pending_actions``.

    ``kind`` names the handler that carries it out; ``payload`` is everything
    that handler needs (JSON); ``summary`` is what was asked, in the person's
    words, for the question and the answer mail; ``message_id`` the message
    that asked.
    """

    id: int
    kind: str
    referral_id: int | None
    requester: str
    payload: dict[str, Any]
    summary: str
    message_id: str | None
    state: ActionState
    result: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.state is ActionState.PENDING and now >= self.expires_at

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> PendingAction:
        (id_, kind, referral_id, requester, payload, summary, message_id, state, result,
         created_at, expires_at, resolved_at) = row
        created, expires = _moment(created_at), _moment(expires_at)
        assert created is not None and expires is not None
        return cls(
            id=int(id_), kind=str(kind), referral_id=int(referral_id) if referral_id is not None else None,
            requester=str(requester), payload=json.loads(payload), summary=str(summary),
            message_id=message_id, state=ActionState(state),
            result=json.loads(result) if result else None, created_at=created, expires_at=expires,
            resolved_at=_moment(resolved_at),
        )


class PendingActions:
    """The ``pending_actions`` table (migration 0009). Joins the caller's transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn = store.db.conn

    def create(
        self,
        *,
        kind: str,
        referral_id: int | None,
        requester: str,
        payload: dict[str, Any],
        summary: str,
        message_id: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        with self.store.transaction():
            cursor = self._conn.execute(
                "INSERT INTO pending_actions (kind, referral_id, requester, payload, summary, "
                "message_id, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (kind, referral_id, requester, json.dumps(payload, ensure_ascii=False, sort_keys=True),
                 summary, message_id, iso(now), iso(expires_at)),
            )
        return int(cursor.lastrowid or 0)

    def get(self, action_id: int) -> PendingAction | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM pending_actions WHERE id = ?", (action_id,)
        ).fetchone()
        return PendingAction.from_row(tuple(row)) if row else None

    def resolve(self, action_id: int, state: ActionState, now: datetime,
                result: dict[str, Any] | None = None) -> bool:
        """Move a pending action to ``state``; False when it was no longer pending.

        The compare-and-set that makes a confirmation single-use.
        """
        if state is ActionState.PENDING:
            raise ValueError("resolve() moves an action out of pending")
        with self.store.transaction():
            cursor = self._conn.execute(
                "UPDATE pending_actions SET state = ?, result = ?, resolved_at = ? "
                "WHERE id = ? AND state = 'pending'",
                (str(state), json.dumps(result, ensure_ascii=False, sort_keys=True) if result else None,
                 iso(now), action_id),
            )
        return cursor.rowcount > 0

    def expire(self, requester: str, now: datetime) -> int:
        """Mark ``requester``'s unanswered actions past their time ``expired``; how many."""
        cursor = self._conn.execute(
            "UPDATE pending_actions SET state = 'expired', resolved_at = ? "
            "WHERE requester = ? AND state = 'pending' AND expires_at <= ?",
            (iso(now), requester, iso(now)),
        )
        return int(cursor.rowcount)

    def set_result(self, action_id: int, result: dict[str, Any]) -> None:
        """Keep what carrying out a done action did, beside it."""
        self._conn.execute(
            "UPDATE pending_actions SET result = ? WHERE id = ?",
            (json.dumps(result, ensure_ascii=False, sort_keys=True, default=str), action_id),
        )

    def open_like(self, *, kind: str, referral_id: int | None, requester: str, summary: str,
                  now: datetime) -> PendingAction | None:
        """A pending, unexpired action with exactly these fields: the same request asked again."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM pending_actions WHERE requester = ? AND kind = ? "
            "AND ifnull(referral_id, -1) = ifnull(?, -1) AND summary = ? AND state = 'pending' "
            "AND expires_at > ? ORDER BY id DESC LIMIT 1",
            (requester, kind, referral_id, summary, iso(now)),
        ).fetchone()
        return PendingAction.from_row(tuple(row)) if row else None

    def asked_since(self, requester: str, since: datetime) -> int:
        """How many actions were recorded for ``requester`` since ``since`` (the daily cap)."""
        row = self._conn.execute(
            "SELECT count(*) FROM pending_actions WHERE requester = ? AND created_at >= ?",
            (requester, iso(since)),
        ).fetchone()
        return int(row[0])

    def of_referral(self, referral_id: int) -> list[PendingAction]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM pending_actions WHERE referral_id = ? ORDER BY id", (referral_id,)
        ).fetchall()
        return [PendingAction.from_row(tuple(r)) for r in rows]
