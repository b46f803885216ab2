"""The store's ingest path: the duplicate key, positions, what plan_all visits (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from refmail.storage.migrations import MIGRATIONS, apply_migrations, parties_key
from refmail.storage.store import PartyRow, Store

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=14)


def _referral(store: Store, referrer: str, others: list[str], *, silent: bool = False,
              status: str = "introduced", when: datetime = NOW) -> int:
    return store.create_referral(
        referrer=referrer, provider=others[0] if others else None,
        parties=[PartyRow(referrer, "", "referrer"), *(PartyRow(a, "", "party") for a in others)],
        subject="Intro", intro_message_id=None, roles_reason="test", silent=silent,
        introduced_at=when, now=when, status=status,
    )


def test_duplicate_key_is_the_set_of_people_other_than_the_referrer() -> None:
    store = Store.memory()
    rid = _referral(store, "nadia@f.example", ["b@x.example", "a@x.example"])
    # Order and repetition do not matter; a subset or a superset is another introduction.
    assert store.open_referral_with_parties("nadia@f.example", ["a@x.example", "b@x.example",
                                                                "a@x.example"], SINCE) == rid
    assert store.open_referral_with_parties("nadia@f.example", ["a@x.example"], SINCE) is None
    assert store.open_referral_with_parties(
        "nadia@f.example", ["a@x.example", "b@x.example", "c@x.example"], SINCE) is None
    # Outside the window, or by someone else: not the same referral.
    assert store.open_referral_with_parties(
        "nadia@f.example", ["a@x.example", "b@x.example"], NOW + timedelta(seconds=1)) is None
    assert store.open_referral_with_parties("omar@f.example", ["a@x.example", "b@x.example"], SINCE) is None
    # The newest matching referral wins, as before.
    newer = _referral(store, "nadia@f.example", ["a@x.example", "b@x.example"])
    assert newer > rid
    assert store.open_referral_with_parties("nadia@f.example", ["b@x.example", "a@x.example"], SINCE) == newer


def test_a_referrer_listed_among_the_parties_is_stored_once_and_never_matches_as_a_party() -> None:
    """The parties table keeps the referrer's row only (first row of an address wins);
    the key is made of what the table holds, as the old join compared it."""
    store = Store.memory()
    rid = _referral(store, "nadia@f.example", ["nadia@f.example", "a@x.example"])
    roles = store.db.conn.execute(
        "SELECT address, role FROM parties WHERE referral_id = ? ORDER BY address", (rid,)).fetchall()
    assert roles == [("a@x.example", "party"), ("nadia@f.example", "referrer")]
    assert store.open_referral_with_parties("nadia@f.example", ["a@x.example"], SINCE) == rid
    assert store.open_referral_with_parties(
        "nadia@f.example", ["nadia@f.example", "a@x.example"], SINCE) is None


def test_a_referral_without_other_people_is_never_a_duplicate() -> None:
    store = Store.memory()
    _referral(store, "nadia@f.example", [])
    assert store.open_referral_with_parties("nadia@f.example", [], SINCE) is None


def test_migration_0006_gives_existing_referrals_their_key(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "old.db")
    db.conn.isolation_level = None
    names = [name for name, _ in MIGRATIONS]
    old = MIGRATIONS[: names.index("0006_duplicate_key")]
    import refmail.storage.migrations as migrations

    saved = list(migrations.MIGRATIONS)
    migrations.MIGRATIONS[:] = old
    try:
        apply_migrations(db)
    finally:
        migrations.MIGRATIONS[:] = saved
    conn = db.conn
    for rid, others in [(1, ["z@x.example", "a@x.example"]), (2, []), (3, ["b@x.example"])]:
        conn.execute(
            "INSERT INTO referrals (id, status, referrer, introduced_at, created_at, updated_at) "
            "VALUES (?, 'introduced', 'nadia@f.example', ?, ?, ?)",
            (rid, NOW.isoformat(), NOW.isoformat(), NOW.isoformat()))
        conn.execute("INSERT INTO parties VALUES (?, 'nadia@f.example', '', 'referrer')", (rid,))
        for address in others:
            conn.execute("INSERT INTO parties VALUES (?, ?, '', 'prospect')", (rid, address))
    assert apply_migrations(db) == names[len(old):]
    keys = dict(conn.execute("SELECT id, parties_key FROM referrals").fetchall())
    assert keys == {1: "a@x.example\x1fz@x.example", 2: None, 3: "b@x.example"}
    store = Store(db)
    assert store.open_referral_with_parties("nadia@f.example", ["z@x.example", "a@x.example"], SINCE) == 1
    assert store.open_referral_with_parties("nadia@f.example", ["b@x.example"], SINCE) == 3
    assert parties_key([]) is None
    store.close()


def test_duplicate_lookup_is_one_index_search() -> None:
    store = Store.memory()
    captured: list[str] = []
    store.db.conn.set_trace_callback(captured.append)
    store.open_referral_with_parties("nadia@f.example", ["a@x.example"], SINCE)
    store.db.conn.set_trace_callback(None)
    (sql,) = captured
    plans = [row[3] for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    assert any("USING INDEX referrals_duplicate (referrer=? AND parties_key=?" in p for p in plans), plans
    assert not any(p.startswith("SCAN") for p in plans), plans


def test_advance_position_never_goes_back_under_the_same_uidvalidity() -> None:
    store = Store.memory()
    store.advance_position("INBOX", 7, 10, NOW)
    store.advance_position("INBOX", 7, 4, NOW)
    assert store.position("INBOX") == (7, 10)
    store.advance_position("INBOX", 7, 12, NOW)
    assert store.position("INBOX") == (7, 12)
    # A new UIDVALIDITY numbers from scratch: its position replaces the old one.
    store.advance_position("INBOX", 8, 3, NOW)
    assert store.position("INBOX") == (8, 3)
    assert store.position("Other") is None


def test_referral_ids_to_plan_is_open_or_recent_never_silent_and_by_index() -> None:
    store = Store.memory()
    old = NOW - timedelta(days=90)
    open_old = _referral(store, "r@f.example", ["a@x.example"], when=old)
    _referral(store, "r@f.example", ["b@x.example"], when=old, silent=True)
    closed_old = _referral(store, "r@f.example", ["c@x.example"], when=old, status="won")
    closed_recent = _referral(store, "r@f.example", ["d@x.example"], status="lost")
    _referral(store, "r@f.example", ["e@x.example"], status="lost", silent=True)
    proposed = _referral(store, "r@f.example", ["f@x.example"], status="proposed", when=old)
    ids = store.referral_ids_to_plan(NOW - timedelta(days=30))
    assert ids == sorted([open_old, closed_recent, proposed])
    assert closed_old not in ids
    captured: list[str] = []
    store.db.conn.set_trace_callback(captured.append)
    store.referral_ids_to_plan(NOW - timedelta(days=30))
    store.db.conn.set_trace_callback(None)
    (sql,) = captured
    plan = [row[3] for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    assert any("referrals_plan_status" in p for p in plan), plan
    assert any("referrals_plan_updated" in p for p in plan), plan
    assert not any(p.startswith("SCAN") for p in plan), plan


def test_begin_and_commit_make_nested_transactions_savepoints() -> None:
    store = Store.memory()
    store.begin()
    first = _referral(store, "r@f.example", ["a@x.example"])
    try:
        with store.transaction():
            _referral(store, "r@f.example", ["b@x.example"])
            raise RuntimeError("mid-message")
    except RuntimeError:
        pass
    assert store.db.conn.in_transaction  # the batch goes on
    store.commit()
    assert not store.db.conn.in_transaction
    assert [r["id"] for r in store.iter_referrals()] == [first]
    store.commit()  # nothing open: nothing to do
