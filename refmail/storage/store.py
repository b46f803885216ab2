"""The referral database: SQLite through sqlite-utils.

One file holds everything refmail knows: referrals with their parties and an
append-only event history, every message it has processed (so nothing is
handled twice, even after a UIDVALIDITY reset), which messages belong to which
referral's thread, and how far each IMAP folder has been read.

The file is opened in WAL mode so ``refmail referrals`` can read while the
daemon writes, created owner-only (it holds names, addresses and feedback),
and upgraded by the named migrations in :mod:`refmail.storage.migrations` on open.
Writes that belong together go through :meth:`Store.transaction`, which takes
the write lock up front (``BEGIN IMMEDIATE``) so a crash leaves either all of
a message's effects or none of them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from refmail.errors import StoreError
from refmail.storage.migrations import NewerDatabase, apply_migrations, parties_key

__all__ = ["PartyRow", "Store", "iso", "unusable"]

#: Ids per statement where a list of values becomes SQL parameters: SQLite
#: refuses a statement with more than 32,766 (999 before 3.32).
IN_CHUNK = 500

#: SQLite's primary result codes that describe the database, not the data
#: written: busy or locked, out of memory, read-only, interrupted, I/O error,
#: corrupt, disk full, cannot open, locking protocol, not a database.
_UNUSABLE_CODES = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})


def iso(moment: datetime) -> str:
    """Timestamps are stored as ISO 8601 text in UTC, so text order is time order.

    A Date header keeps its sender's offset; stored as written, "09:00-06:00"
    would sort before "10:00+00:00" although it is later.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def unusable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be used now, rather than that
    what was being written was wrong.

    The difference decides what happens to a message whose processing raised:
    a message that made a statement fail (too many parameters, a value too
    big) is set aside and the inbox goes on; a disk that is full or a database
    another process holds locked must not cost a message, so the error goes up
    and the message is read again once the database is usable.
    """
    if isinstance(exc, StoreError):
        return True
    if isinstance(exc, sqlite3.ProgrammingError):
        return "closed" in str(exc)  # "Cannot operate on a closed database."
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _UNUSABLE_CODES
    return False


@dataclass(frozen=True)
class PartyRow:
    address: str
    name: str
    role: str  # referrer | provider | prospect | party


class Store:
    """Referrals and processing state, on top of a :class:`sqlite_utils.Database`."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # -- opening ---------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open (creating if needed) and migrate the database at ``path``."""
        path = Path(path)
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                # Owner-only from the first byte: SQLite gives the -wal and
                # -shm files the same mode as the database file.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite_utils.Database(path)
            # Autocommit unless a transaction is opened explicitly: the driver's
            # implicit BEGIN would otherwise leave a lone write uncommitted.
            db.conn.isolation_level = None
            db.conn.execute("PRAGMA busy_timeout = 10000")
            db.enable_wal()
            db.conn.execute("PRAGMA foreign_keys = ON")
            db.conn.execute("PRAGMA synchronous = NORMAL")
            apply_migrations(db)
        except NewerDatabase as exc:
            db.close()
            raise NewerDatabase(f"{path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot use this file as the refmail database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
        return cls(db)

    @classmethod
    def memory(cls) -> Store:
        db = sqlite_utils.Database(memory=True)
        db.conn.isolation_level = None
        db.conn.execute("PRAGMA foreign_keys = ON")
        apply_migrations(db)
        return cls(db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing writes. Nested use joins the outer transaction."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def begin(self) -> None:
        """Open a transaction that :meth:`transaction` blocks join until :meth:`commit`.

        For work that commits in batches (the daemon, one transaction per fetched
        IMAP batch): every ``transaction()`` inside becomes a savepoint, so a
        failure rolls back only its own writes and the batch keeps the rest.
        """
        self.db.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the transaction opened by :meth:`begin`, if SQLite still has one open.

        A COMMIT the database refuses (disk full, I/O error) is rolled back and
        raised as :class:`StoreError`: nothing of the transaction is kept, and
        what it held is done again once the database is usable.
        """
        # An I/O or disk-full error can make SQLite roll the transaction back by itself.
        if self.db.conn.in_transaction:
            try:
                self.db.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.rollback()
                raise StoreError(f"the database refused to commit: {exc}") from exc

    def rollback(self) -> None:
        """Roll back whatever transaction is open (none: nothing happens)."""
        if self.db.conn.in_transaction:
            self.db.conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self.db.conn.in_transaction

    # -- processed messages -----------------------------------------------
    def seen(self, key: str) -> bool:
        return (
            self.db.conn.execute("SELECT 1 FROM messages WHERE key = ?", (key,)).fetchone()
            is not None
        )

    def record_message(
        self,
        key: str,
        *,
        message_id: str | None,
        kind: str,
        outcome: str,
        reason: str,
        now: datetime,
        referral_id: int | None = None,
        folder: str | None = None,
        uidvalidity: int | None = None,
        uid: int | None = None,
        sender: str | None = None,
        author: str | None = None,
        subject: str | None = None,
    ) -> None:
        """``sender`` counts for the per-sender brake (live mail only); ``author`` and
        ``subject`` name a set-aside message for the people told of it (cut here)."""
        # One prepared statement, not sqlite-utils' ``table().insert``, which
        # reads the schema (sqlite_master, table_info) on every call.
        self.db.conn.execute(
            "INSERT OR REPLACE INTO messages (key, sender, message_id, folder, uidvalidity, uid, "
            "kind, outcome, reason, referral_id, processed_at, author, subject) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, sender, message_id, folder, uidvalidity, uid, kind, outcome, reason[:1000],
             referral_id, iso(now), author[:320] if author else None, subject[:200] if subject else None),
        )

    def recent_from(self, sender: str, since: datetime) -> int:
        """How many live messages from ``sender`` were applied since ``since``.

        Backfill and imports are recorded without a sender (see ``Tracker.process``).
        """
        row = self.db.conn.execute(
            "SELECT count(*) FROM messages WHERE sender = ? AND processed_at >= ? "
            "AND outcome != 'rate_limited'",
            (sender, iso(since)),
        ).fetchone()
        return int(row[0])

    def message(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM messages WHERE key = ?", [key]))
        return rows[0] if rows else None

    def messages(self, outcome: str | None = None) -> list[dict[str, Any]]:
        if outcome is None:
            return list(self.db.query("SELECT * FROM messages ORDER BY rowid"))
        return list(
            self.db.query("SELECT * FROM messages WHERE outcome = ? ORDER BY rowid", [outcome])
        )

    # -- mailbox position --------------------------------------------------
    def position(self, folder: str) -> tuple[int, int] | None:
        """``(uidvalidity, last_uid)`` for ``folder``, or None before the first fetch."""
        row = self.db.conn.execute(
            "SELECT uidvalidity, last_uid FROM mailbox_positions WHERE folder = ?", (folder,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def save_position(self, folder: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
        self.db.conn.execute(
            "INSERT INTO mailbox_positions (folder, uidvalidity, last_uid, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(folder) DO UPDATE SET "
            "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
            "updated_at = excluded.updated_at",
            (folder, uidvalidity, last_uid, iso(now)),
        )

    def advance_position(self, folder: str, uidvalidity: int, uid: int, now: datetime) -> None:
        """Store ``(uidvalidity, uid)`` unless the stored position is already at or past it.

        :meth:`position` + :meth:`save_position` in one statement: run once per
        message, so the comparison is made by SQLite rather than by a round trip.
        A different UIDVALIDITY always replaces the stored one.
        """
        self.db.conn.execute(
            "INSERT INTO mailbox_positions (folder, uidvalidity, last_uid, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(folder) DO UPDATE SET "
            "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
            "updated_at = excluded.updated_at "
            "WHERE mailbox_positions.uidvalidity != excluded.uidvalidity "
            "OR mailbox_positions.last_uid < excluded.last_uid",
            (folder, uidvalidity, uid, iso(now)),
        )

    # -- referrals ---------------------------------------------------------
    def create_referral(
        self,
        *,
        referrer: str,
        provider: str | None,
        parties: Iterable[PartyRow],
        subject: str,
        intro_message_id: str | None,
        roles_reason: str,
        silent: bool,
        introduced_at: datetime,
        now: datetime,
        status: str = "introduced",
    ) -> int:
        # One row per address, the first one given (the referrer's comes first),
        # as INSERT OR IGNORE kept before; the key is made of exactly these rows.
        stored: dict[str, PartyRow] = {}
        for party in parties:
            stored.setdefault(party.address, party)
        key = parties_key(a for a, p in stored.items() if p.role != "referrer")
        with self.transaction():
            cursor = self.db.conn.execute(
                "INSERT INTO referrals (status, referrer, provider, subject, intro_message_id, "
                "roles_reason, silent, introduced_at, created_at, updated_at, parties_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    status,
                    referrer,
                    provider,
                    subject,
                    intro_message_id,
                    roles_reason,
                    int(silent),
                    iso(introduced_at),
                    iso(now),
                    iso(now),
                    key,
                ),
            )
            referral_id = int(cursor.lastrowid or 0)
            self.db.conn.executemany(
                "INSERT INTO parties (referral_id, address, name, role) VALUES (?, ?, ?, ?)",
                [(referral_id, p.address, p.name, p.role) for p in stored.values()],
            )
            if intro_message_id:
                self.add_thread_message(intro_message_id, referral_id)
        return referral_id

    def add_event(
        self,
        referral_id: int,
        kind: str,
        *,
        at: datetime,
        actor: str | None = None,
        message_id: str | None = None,
        detail: dict[str, Any] | None = None,
        touch: bool = True,
    ) -> int:
        """Append an event; ``touch`` also sets the referral's ``updated_at`` to ``at``.

        ``touch=False`` is for the first event of a referral just created with
        ``now == at``: its ``updated_at`` is already that, and the UPDATE would
        be one more statement per new referral for nothing.
        """
        cursor = self.db.conn.execute(
            "INSERT INTO events (referral_id, at, kind, actor, message_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                referral_id,
                iso(at),
                kind,
                actor,
                message_id,
                json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
            ),
        )
        if touch:
            self.db.conn.execute(
                "UPDATE referrals SET updated_at = ? WHERE id = ?", (iso(at), referral_id)
            )
        return int(cursor.lastrowid or 0)

    def set_status(self, referral_id: int, status: str, now: datetime) -> None:
        self.db.conn.execute(
            "UPDATE referrals SET status = ?, updated_at = ? WHERE id = ?",
            (status, iso(now), referral_id),
        )

    def add_thread_message(self, message_id: str, referral_id: int) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO thread_messages (message_id, referral_id) VALUES (?, ?)",
            (message_id, referral_id),
        )

    def referral_for_thread(self, message_ids: Iterable[str]) -> int | None:
        """The referral whose thread contains any of ``message_ids`` (newest referral wins).

        :data:`IN_CHUNK` ids per statement, however many are given (the parser
        keeps a hundred; one statement per id list let a message with 260,000
        References fail the whole cycle).
        """
        ids = list(dict.fromkeys(m for m in message_ids if m))
        found: int | None = None
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            row = self.db.conn.execute(
                f"SELECT max(referral_id) FROM thread_messages WHERE message_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ).fetchone()
            if row and row[0] is not None:
                found = max(found or 0, int(row[0]))
        return found

    def open_referral_with_parties(
        self, referrer: str, parties: Iterable[str], since: datetime
    ) -> int | None:
        """An open referral by ``referrer`` to exactly ``parties``, introduced since ``since``.

        The same introduction often reaches the inbox twice under different
        Message-IDs (copied, then forwarded "in case"); it is one referral.
        One seek of ``referrals_duplicate`` (migration 0006): the people are
        compared as their ``parties_key``, not by reading the referrer's history.
        """
        key = parties_key(parties)
        if key is None:
            return None
        row = self.db.conn.execute(
            "SELECT id FROM referrals WHERE referrer = ? AND parties_key = ? AND introduced_at >= ? "
            "AND status NOT IN ('won','lost','no_fit','unresponsive','withdrawn','declined','expired') "
            "ORDER BY id DESC LIMIT 1",
            (referrer, key, iso(since)),
        ).fetchone()
        return int(row[0]) if row else None

    def referral(self, referral_id: int) -> dict[str, Any] | None:
        batch = self._hydrate(
            list(self.db.query("SELECT * FROM referrals WHERE id = ?", [referral_id]))
        )
        return batch[0] if batch else None

    def referrals(self, referral_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Several referrals as :meth:`referral` gives each, in id order; unknown ids are left out.

        Three queries however many ids (keep them to a few hundred: each is one
        SQL parameter), where :meth:`referral` per id costs three each — what
        :meth:`refmail.workflow.planner.Planner.plan_all` reads every cycle.
        """
        ids = sorted({int(i) for i in referral_ids})
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._hydrate(
            list(self.db.query(f"SELECT * FROM referrals WHERE id IN ({marks}) ORDER BY id", ids))
        )

    def iter_referrals(
        self, *, status: str | Iterable[str] | None = None, batch_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every referral with parties and events, oldest first, in batches;
        ``status``: only those with this status, or one of these.

        Streams: memory stays bounded by ``batch_size`` however large the
        database, and each batch costs three queries rather than one per row.
        """
        wanted = sorted({status} if isinstance(status, str) else set(status or ()))
        last_id = 0
        while True:
            where = "id > ?" + (f" AND status IN ({','.join('?' * len(wanted))})" if wanted else "")
            params: list[Any] = [last_id, *wanted]
            rows = list(
                self.db.query(
                    f"SELECT * FROM referrals WHERE {where} ORDER BY id LIMIT {int(batch_size)}",
                    params,
                )
            )
            if not rows:
                return
            yield from self._hydrate(rows)
            last_id = rows[-1]["id"]

    def _hydrate(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        # Tuples (``execute``, still traced), not sqlite-utils' dict per row:
        # this runs for every candidate of every planner cycle.
        execute = self.db.execute
        parties: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for referral_id, address, name, role in execute(
            f"SELECT referral_id, address, name, role FROM parties "
            f"WHERE referral_id IN ({marks}) ORDER BY rowid",
            ids,
        ):
            parties[referral_id].append({"address": address, "name": name, "role": role})
        events: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        loads = json.loads
        for referral_id, id_, at, kind, actor, message_id, detail in execute(
            f"SELECT referral_id, id, at, kind, actor, message_id, detail FROM events "
            f"WHERE referral_id IN ({marks}) ORDER BY id",
            ids,
        ):
            events[referral_id].append(
                {"id": id_, "at": at, "kind": kind, "actor": actor, "message_id": message_id,
                 "detail": loads(detail)}
            )
        out = []
        for r in rows:
            ps = parties[r["id"]]
            out.append(
                {
                    "id": r["id"],
                    "tag": f"R-{r['id']}",
                    "status": r["status"],
                    "referrer": r["referrer"],
                    "provider": r["provider"],
                    "prospects": [p["address"] for p in ps if p["role"] == "prospect"],
                    "parties": [p["address"] for p in ps if p["role"] != "referrer"],
                    "names": {p["address"]: p["name"] for p in ps if p["name"]},
                    "subject": r["subject"],
                    "intro_message_id": r["intro_message_id"],
                    "roles_reason": r["roles_reason"],
                    "silent": bool(r["silent"]),
                    "introduced_at": r["introduced_at"],
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "events": events[r["id"]],
                }
            )
        return out

    def set_roles(self, referral_id: int, provider: str, now: datetime) -> None:
        """Make ``provider`` the provider and every other party a prospect."""
        self.db.conn.execute(
            "UPDATE parties SET role = CASE WHEN address = ? THEN 'provider' ELSE 'prospect' END "
            "WHERE referral_id = ? AND role != 'referrer'",
            (provider, referral_id),
        )
        self.db.conn.execute(
            "UPDATE referrals SET provider = ?, updated_at = ? WHERE id = ?",
            (provider, iso(now), referral_id),
        )

    def introduce(self, referral_id: int, *, introduced_at: datetime, message_id: str | None,
                  now: datetime) -> None:
        """A consent-first proposal became a real introduction."""
        self.db.conn.execute(
            "UPDATE referrals SET status = 'introduced', introduced_at = ?, "
            "intro_message_id = coalesce(?, intro_message_id), updated_at = ? WHERE id = ?",
            (iso(introduced_at), message_id, iso(now), referral_id),
        )
        if message_id:
            self.add_thread_message(message_id, referral_id)

    def referral_ids_to_plan(self, since: datetime) -> list[int]:
        """Referrals that may have something due: not silent, and open or recently changed.

        Two covering index searches (migration 0007) joined by ``UNION ALL``, not
        one ``OR``, which SQLite can only answer by reading every referral
        (124 ms against 20 ms at 1,000,000 referrals). Deduplicated and sorted
        here: cheaper than SQLite's ``UNION`` b-tree, and with an ``ORDER BY id``
        SQLite may walk the table in id order instead of searching
        ``referrals_plan_updated`` (it does on a database without statistics).
        """
        rows = self.db.conn.execute(
            "SELECT id FROM referrals WHERE silent = 0 AND status IN "
            "('proposed','introduced','contacted','meeting','proposal') "
            "UNION ALL SELECT id FROM referrals WHERE silent = 0 AND updated_at >= ?",
            (iso(since),),
        ).fetchall()
        return sorted({int(r[0]) for r in rows})

    def count_referrals(self) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM referrals").fetchone()[0])

    # -- people --------------------------------------------------------------
    def stop_person(self, address: str, now: datetime) -> None:
        """``STOP``: no more nudges to ``address``, for any referral."""
        self.db.conn.execute(
            "INSERT INTO people (address, stopped_at) VALUES (?, ?) "
            "ON CONFLICT(address) DO UPDATE SET stopped_at = coalesce(stopped_at, excluded.stopped_at)",
            (address, iso(now)),
        )

    def start_person(self, address: str) -> bool:
        """``START``: undo a STOP of ``address``; False when they had not said STOP."""
        cursor = self.db.conn.execute(
            "UPDATE people SET stopped_at = NULL WHERE address = ? AND stopped_at IS NOT NULL", (address,)
        )
        return cursor.rowcount > 0

    def bounce_person(self, address: str, reason: str, now: datetime) -> None:
        """A permanent delivery failure: mail to ``address`` stops."""
        self.db.conn.execute(
            "INSERT INTO people (address, bounced_at, bounce_reason) VALUES (?, ?, ?) "
            "ON CONFLICT(address) DO UPDATE SET bounced_at = excluded.bounced_at, "
            "bounce_reason = excluded.bounce_reason",
            (address, iso(now), reason[:500]),
        )

    def blocked_people(self, addresses: Iterable[str]) -> set[str]:
        """Which of ``addresses`` said STOP or bounced."""
        wanted = sorted({a for a in addresses if a})
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        rows = self.db.conn.execute(
            f"SELECT address FROM people WHERE address IN ({marks}) "
            "AND (stopped_at IS NOT NULL OR bounced_at IS NOT NULL)",
            wanted,
        ).fetchall()
        return {r[0] for r in rows}

    # -- settings ----------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self.db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        self.db.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
