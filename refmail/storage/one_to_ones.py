"""One-to-ones refmail suggested: to whom, with whom, when (so none is repeated).

A member's weekly summary may suggest a one-to-one with a member they have
given business to and received none back from (seed 004;
:mod:`refmail.policy.one_to_one` decides). It is suggested at most once a
month to a member, and with the same person at most once per ``[coach]
one_to_one_period``: each suggestion is recorded here when its summary is
queued, in the same transaction, so a restart, a second cycle or a re-run of
the week's summaries cannot suggest it again. Rows are never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from refmail.storage.store import Store, iso

__all__ = ["OneToOnes"]


class OneToOnes:
    """The ``one_to_ones`` table (migration 0010). Joins the caller's transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn = store.db.conn

    def record(self, member: str, other: str, *, week: int, referrals: Iterable[int], now: datetime) -> bool:
        """Record the suggestion in ``member``'s summary of ``week``; False when that
        summary already carried one."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO one_to_ones (member, other, week, suggested_at, referrals) "
            "VALUES (?, ?, ?, ?, ?)",
            (member, other, week, iso(now), json.dumps(sorted(set(referrals)))),
        )
        return cursor.rowcount > 0

    def last(self, member: str) -> datetime | None:
        """When a one-to-one was last suggested to ``member``."""
        row = self.store.db.execute(
            "SELECT max(suggested_at) FROM one_to_ones WHERE member = ?", (member,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def last_with(self, member: str) -> dict[str, datetime]:
        """When a one-to-one with each other member was last suggested to ``member``."""
        return {
            other: datetime.fromisoformat(at)
            for other, at in self.store.db.execute(
                "SELECT other, max(suggested_at) FROM one_to_ones WHERE member = ? GROUP BY other", (member,)
            )
        }
