"""Named schema migrations for the referral database.

Each migration is a name and a function applied once, in order, inside one
transaction with its row in ``_migrations``; a database is upgraded by running
:func:`apply_migrations` on every open. Names never change once released —
append new ones at the end — so any old database file can be brought forward.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import sqlite_utils

from refmail._version import __version__
from refmail.errors import StoreError

__all__ = [
    "MIGRATIONS",
    "NewerDatabase",
    "applied_migrations",
    "apply_migrations",
    "parties_key",
    "unknown_migrations",
]


class NewerDatabase(StoreError):
    """The database has migrations this refmail does not know: a newer version wrote it."""

Migration = Callable[[sqlite_utils.Database], None]


def parties_key(addresses: Iterable[str]) -> str | None:
    """The duplicate-intro key of a set of addresses: sorted, joined by ``\x1f``; None when empty.

    Part of the schema's meaning (migration 0006 fills it for old rows), hence here.
    """
    unique = sorted(set(addresses))
    return "\x1f".join(unique) if unique else None


def _run(db: sqlite_utils.Database, script: str) -> None:
    """Execute ``script`` statement by statement.

    ``sqlite3.executescript`` would COMMIT the migration's transaction first;
    executing each complete statement keeps the migration atomic.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            db.conn.execute(buffer)
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]}")


def _m0001_initial(db: sqlite_utils.Database) -> None:
    """Referrals, their parties, an append-only event history, processed
    messages, thread membership and the IMAP position per folder."""
    _run(
        db,
        """
        CREATE TABLE referrals (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL,
            referrer TEXT NOT NULL,
            provider TEXT,
            subject TEXT NOT NULL DEFAULT '',
            intro_message_id TEXT,
            roles_reason TEXT NOT NULL DEFAULT '',
            silent INTEGER NOT NULL DEFAULT 0,
            introduced_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX referrals_status ON referrals(status, updated_at);
        CREATE INDEX referrals_referrer ON referrals(referrer);

        CREATE TABLE parties (
            referral_id INTEGER NOT NULL REFERENCES referrals(id),
            address TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL CHECK (role IN ('referrer', 'provider', 'prospect', 'party')),
            PRIMARY KEY (referral_id, address)
        );
        CREATE INDEX parties_address ON parties(address);

        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            referral_id INTEGER NOT NULL REFERENCES referrals(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            message_id TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_referral ON events(referral_id, id);
        -- The history is evidence: it is only ever appended to.
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

        CREATE TABLE messages (
            key TEXT PRIMARY KEY,
            message_id TEXT,
            folder TEXT,
            uidvalidity INTEGER,
            uid INTEGER,
            kind TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            referral_id INTEGER REFERENCES referrals(id),
            processed_at TEXT NOT NULL
        );
        CREATE INDEX messages_referral ON messages(referral_id);

        CREATE TABLE thread_messages (
            message_id TEXT PRIMARY KEY,
            referral_id INTEGER NOT NULL REFERENCES referrals(id)
        );

        CREATE TABLE mailbox_positions (
            folder TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


def _m0002_outbox(db: sqlite_utils.Database) -> None:
    """The durable outbox and per-person state (STOP, bounces).

    An outgoing message is rendered completely (``raw``, with its final
    Message-ID) and stored in the same transaction as the state change that
    causes it; sending only reads this table. A crash between the SMTP ``250``
    and marking the row sent resends the identical bytes, Message-ID included.
    ``UNIQUE (referral_id, step, recipient, seq)`` makes "each step at most
    once per referral and person" a property of the schema, not of the code.
    """
    _run(
        db,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            referral_id INTEGER REFERENCES referrals(id),
            step TEXT NOT NULL,
            recipient TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0,
            message_id TEXT NOT NULL UNIQUE,
            token TEXT,
            subject TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sent', 'failed', 'bounced', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (referral_id, step, recipient, seq)
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_recipient ON outbox(recipient, created_at);

        CREATE TABLE people (
            address TEXT PRIMARY KEY,
            stopped_at TEXT,
            bounced_at TEXT,
            bounce_reason TEXT
        );
        """,
    )


def _m0003_outbox_keys(db: sqlite_utils.Database) -> None:
    """"At most once" also for mail tied to no referral, and lookups by token.

    SQLite treats NULLs as distinct in a UNIQUE constraint, so 0002's
    ``UNIQUE (referral_id, step, recipient, seq)`` never fires for rows with
    no referral (weekly summaries, notices to admins); this index does.
    Replies to nudges are matched by their plus token, once per incoming
    reply: an index keeps that from scanning the whole outbox.
    """
    _run(
        db,
        """
        CREATE UNIQUE INDEX outbox_step_once
            ON outbox(ifnull(referral_id, -1), step, recipient, seq);
        CREATE INDEX outbox_token ON outbox(token) WHERE token IS NOT NULL;
        """,
    )


def _m0004_summary_indexes(db: sqlite_utils.Database) -> None:
    """Events by kind, for the weekly summaries (:mod:`refmail.summaries.group`).

    "The latest status event of each closed referral" and "every first
    contact" become covering index seeks instead of a walk through each
    referral's whole history: measured with ``bench/summary_bench.py``
    (100,000 referrals, 445,000 events) the admins' summary takes a third
    less time and a member's a tenth less, for 4% more file.
    """
    _run(db, "CREATE INDEX events_kind ON events(kind, referral_id);")


def _m0005_message_senders(db: sqlite_utils.Database) -> None:
    """Who sent each processed message, for the per-sender rate limit.

    A flood from one address (a runaway script, a mail loop with another
    automaton) must stop being applied after a bounded number of messages.
    """
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN sender TEXT;
        CREATE INDEX messages_sender ON messages(sender, processed_at);
        """,
    )


def _m0006_duplicate_key(db: sqlite_utils.Database) -> None:
    """The duplicate-intro check by index: each referral's set of people as one key.

    Before, ``Store.open_referral_with_parties`` read every referral its
    referrer ever made, joined their parties and compared them in Python:
    ingest slowed as the database grew (354 msg/s at 10,000 messages, 198 at
    100,000). ``parties_key`` is the sorted, ``\x1f``-joined addresses of the
    referral's parties other than the referrer (NULL when there are none, as
    such a referral never matched); with ``(referrer, parties_key,
    introduced_at)`` indexed the check is one index seek. The addresses of a
    referral's parties never change after it is created (``set_roles`` only
    changes roles), so the key is written once. The new index starts with
    ``referrer``, which makes ``referrals_referrer`` redundant.
    """
    _run(
        db,
        """
        ALTER TABLE referrals ADD COLUMN parties_key TEXT;
        CREATE INDEX referrals_duplicate ON referrals(referrer, parties_key, introduced_at);
        DROP INDEX referrals_referrer;
        """,
    )
    # Filled in Python, with the same function the store uses: group_concat's
    # order is not guaranteed by SQLite, and the keys must compare equal.
    rows = db.conn.execute(
        "SELECT referral_id, address FROM parties WHERE role != 'referrer' ORDER BY referral_id"
    )
    db.conn.executemany(
        "UPDATE referrals SET parties_key = ? WHERE id = ?",
        (
            (parties_key(address for _, address in group), referral_id)
            for referral_id, group in itertools.groupby(rows, key=lambda row: row[0])
        ),
    )


def _m0007_plan_indexes(db: sqlite_utils.Database) -> None:
    """What ``Planner.plan_all`` visits, found by index rather than by a scan.

    ``Store.referral_ids_to_plan`` wants the referrals that are not silent and
    either open or changed recently. With an ``OR`` between the two SQLite
    scanned the table (101 ms at 1,000,000 referrals, ``bench/dbscale.py``);
    it is now a ``UNION`` of two searches, one per index below. Both are
    partial (``WHERE silent = 0``): most referrals of a large database are
    silent backfill, which neither index needs to hold, nor pay for on insert.
    ``silent`` is a column of both as well, or SQLite reads every row found to
    check ``silent = 0`` again; with it each search is a covering one.
    """
    _run(
        db,
        """
        CREATE INDEX referrals_plan_status ON referrals(status, silent) WHERE silent = 0;
        CREATE INDEX referrals_plan_updated ON referrals(updated_at, silent) WHERE silent = 0;
        """,
    )


def _m0008_set_aside(db: sqlite_utils.Database) -> None:
    """Who wrote a message refmail set aside, and about what, for the people who must hear of it.

    A message that is too large, unreadable or failed while being applied is
    recorded without any referral; its member gets a notice and the admins'
    weekly summary lists it, and both name it by its From and Subject (cut),
    read from its header fields alone. The partial index holds set-aside
    messages only: the summary's "this week" is one short range search.
    """
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN author TEXT;
        ALTER TABLE messages ADD COLUMN subject TEXT;
        CREATE INDEX messages_set_aside ON messages(processed_at) WHERE outcome IN ('failed', 'too_large');
        """,
    )


def _m0009_pending_actions(db: sqlite_utils.Database) -> None:
    """Requests waiting for their sender to confirm them (:mod:`refmail.storage.pending`).

    A change that came without proof of who asked (SPEC "Trust") is kept here
    until the claimed sender answers the tokened question refmail sent to
    their own address, or it expires. ``state`` leaves ``pending`` once, by a
    compare-and-set, which makes each confirmation single-use. The indexes
    answer "the same request is already waiting" and "how many questions to
    this person today" without a scan.
    """
    _run(
        db,
        """
        CREATE TABLE pending_actions (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            referral_id INTEGER REFERENCES referrals(id),
            requester TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL,
            message_id TEXT,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'done', 'declined', 'expired')),
            result TEXT,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE INDEX pending_actions_requester ON pending_actions(requester, created_at);
        CREATE INDEX pending_actions_referral ON pending_actions(referral_id) WHERE referral_id IS NOT NULL;
        """,
    )


def _m0010_coach(db: sqlite_utils.Database) -> None:
    """The referral coach: members' profiles by email, and the one-to-ones suggested.

    ``profiles``: what a member wrote about the referrals they want
    (``refmail.storage.profiles``), per field; NULL where they wrote nothing, so
    the config's value shows. ``one_to_ones``: each one-to-one a weekly summary
    suggested (``refmail.storage.one_to_ones``), at most one per member and
    week, so none is suggested twice, whatever restarts.
    """
    _run(
        db,
        """
        CREATE TABLE profiles (
            address TEXT PRIMARY KEY,
            looking_for TEXT,
            not_looking_for TEXT,
            updated_at TEXT NOT NULL,
            message_id TEXT
        );
        CREATE TABLE one_to_ones (
            id INTEGER PRIMARY KEY,
            member TEXT NOT NULL,
            other TEXT NOT NULL,
            week INTEGER NOT NULL,
            suggested_at TEXT NOT NULL,
            referrals TEXT NOT NULL DEFAULT '[]',
            UNIQUE (member, week)
        );
        CREATE INDEX one_to_ones_member ON one_to_ones(member, suggested_at);
        """,
    )


#: Every migration, in the order it must be applied.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_initial", _m0001_initial),
    ("0002_outbox", _m0002_outbox),
    ("0003_outbox_keys", _m0003_outbox_keys),
    ("0004_summary_indexes", _m0004_summary_indexes),
    ("0005_message_senders", _m0005_message_senders),
    ("0006_duplicate_key", _m0006_duplicate_key),
    ("0007_plan_indexes", _m0007_plan_indexes),
    ("0008_set_aside", _m0008_set_aside),
    ("0009_pending_actions", _m0009_pending_actions),
    ("0010_coach", _m0010_coach),
]


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    if "_migrations" not in db.table_names():
        return []
    return [row["name"] for row in db.query("SELECT name FROM _migrations ORDER BY rowid")]


#: The ``settings`` key naming the refmail version that last applied a migration.
WRITTEN_BY = "schema_written_by"


def unknown_migrations(db: sqlite_utils.Database) -> list[str]:
    """Migrations the database has that this refmail does not know: a newer refmail wrote it."""
    known = {name for name, _ in MIGRATIONS}
    return [name for name in applied_migrations(db) if name not in known]


def _refuse_newer(db: sqlite_utils.Database, unknown: list[str]) -> None:
    """A schema from the future: opening it could write what the newer code cannot read back.

    Raised before anything is written, with both versions and what to do.
    """
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (WRITTEN_BY,)).fetchone() \
        if "settings" in db.table_names() else None
    by = f"refmail {row[0]}" if row else "a newer refmail"
    names = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
    raise NewerDatabase(
        f"this database was written by {by}, and this is refmail {__version__}: it has "
        f"migration{'s' if len(unknown) > 1 else ''} {names}, which this version does not know. "
        f"Run the newer refmail again (pip install --upgrade refmail), or restore the copy of "
        f"the database made before the upgrade"
    )


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now.

    A database with a migration this version does not know (a newer refmail
    wrote it; this one was downgraded) is refused with :class:`NewerDatabase`.
    """
    conn = db.conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    unknown = unknown_migrations(db)
    if unknown:
        _refuse_newer(db, unknown)
    done = set(applied_migrations(db))
    applied: list[str] = []
    for name, migration in MIGRATIONS:
        if name in done:
            continue
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening
        # a fresh database cannot both apply the same migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            migration(db)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (WRITTEN_BY, __version__),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
