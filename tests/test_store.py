"""The SQLite store: migrations, WAL, permissions, append-only history, streaming."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from refmail.errors import StoreError
from refmail.storage.migrations import MIGRATIONS, applied_migrations
from refmail.storage.store import PartyRow, Store

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def make_referral(store: Store, n: int = 1, when: datetime = NOW) -> int:
    return store.create_referral(
        referrer="nadia@f.example",
        provider=f"omar{n}@h.example",
        parties=[
            PartyRow("nadia@f.example", "Nadia", "referrer"),
            PartyRow(f"omar{n}@h.example", "Omar", "provider"),
            PartyRow(f"grace{n}@l.example", "Grace", "prospect"),
        ],
        subject="Intro",
        intro_message_id=f"<intro{n}@x>",
        roles_reason="test",
        silent=False,
        introduced_at=when,
        now=when,
    )


def test_open_creates_migrated_wal_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "refmail.db"
    store = Store.open(path)
    assert applied_migrations(store.db) == [name for name, _ in MIGRATIONS]
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store.close()
    # Opening again applies nothing new and keeps the data.
    again = Store.open(path)
    assert applied_migrations(again.db) == [name for name, _ in MIGRATIONS]
    again.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "refmail.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use this file as the refmail database"):
        Store.open(path)


def test_referral_round_trip_and_thread_lookup() -> None:
    store = Store.memory()
    rid = make_referral(store)
    store.add_event(rid, "introduced", at=NOW, actor="nadia@f.example", detail={"a": 1})
    row = store.referral(rid)
    assert row is not None
    assert row["tag"] == f"R-{rid}"
    assert row["provider"] == "omar1@h.example"
    assert row["prospects"] == ["grace1@l.example"]
    assert row["parties"] == ["omar1@h.example", "grace1@l.example"]
    assert row["events"][0]["detail"] == {"a": 1}
    assert store.referral_for_thread(["<nope@x>", "<intro1@x>"]) == rid
    assert store.referral_for_thread([]) is None


def test_events_are_append_only() -> None:
    store = Store.memory()
    rid = make_referral(store)
    store.add_event(rid, "introduced", at=NOW)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.conn.execute("UPDATE events SET kind = 'forged'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.conn.execute("DELETE FROM events")


def test_transaction_is_all_or_nothing() -> None:
    store = Store.memory()
    with pytest.raises(RuntimeError), store.transaction():
        make_referral(store)
        store.record_message("<m@x>", message_id="<m@x>", kind="intro", outcome="created",
                             reason="r", now=NOW)
        raise RuntimeError("crash mid-message")
    assert store.count_referrals() == 0
    assert not store.seen("<m@x>")


def test_position_is_saved_per_folder() -> None:
    store = Store.memory()
    assert store.position("INBOX") is None
    store.save_position("INBOX", 7, 10, NOW)
    store.save_position("INBOX", 7, 12, NOW)
    store.save_position("Other", 1, 3, NOW)
    assert store.position("INBOX") == (7, 12)
    assert store.position("Other") == (1, 3)


def test_duplicate_intro_lookup_matches_same_people_only() -> None:
    store = Store.memory()
    rid = make_referral(store)
    since = NOW - timedelta(days=14)
    assert store.open_referral_with_parties(
        "nadia@f.example", ["grace1@l.example", "omar1@h.example"], since) == rid
    assert store.open_referral_with_parties("nadia@f.example", ["grace1@l.example"], since) is None
    assert store.open_referral_with_parties("other@f.example",
                                            ["grace1@l.example", "omar1@h.example"], since) is None
    store.set_status(rid, "won", NOW)
    assert store.open_referral_with_parties(
        "nadia@f.example", ["grace1@l.example", "omar1@h.example"], since) is None


def test_iter_referrals_streams_in_batches_with_constant_queries() -> None:
    store = Store.memory()
    for n in range(25):
        rid = make_referral(store, n)
        store.add_event(rid, "introduced", at=NOW)
    queries: list[str] = []
    with store.db.tracer(lambda sql, params: queries.append(sql)):
        rows = list(store.iter_referrals(batch_size=10))
    assert [r["id"] for r in rows] == list(range(1, 26))
    assert all(len(r["events"]) == 1 for r in rows)
    # 3 batches of 3 queries each, plus the final empty page: not one per row.
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) == 10
    assert [r["id"] for r in store.iter_referrals(status="introduced")][:2] == [1, 2]


def test_times_are_compared_as_instants_whatever_the_sender_offset() -> None:
    """Regression: 09:30-06:00 is later than 15:00+00:00, and the store must know it."""
    from zoneinfo import ZoneInfo

    store = Store.memory()
    chicago = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/Chicago"))  # 15:30 UTC
    rid = make_referral(store, when=chicago)
    since = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert store.open_referral_with_parties(
        "nadia@f.example", ["grace1@l.example", "omar1@h.example"], since) == rid
