"""Database scale: 1,000,000 referrals — finding what is due, and streaming them all out.

The fixture is written with bulk SQL into a database made by refmail's own
migrations (``Store.open``): ``--n`` referrals (default 1,000,000) introduced
over ten years by 2,000 referrers, three parties each, an ``introduced`` event
(closed ones also a ``status`` event), thread membership, and the outbox a
steady state leaves behind — every message the rules (``refmail.policy.rules``) say
is due for the open referrals already sent, ``--queued`` messages queued and
due now, four times as many queued for later. Referrals older than three years
are ``silent`` (tracked at first start from an old inbox); those introduced in
the last 30 days are open (about 8,200 of a million). Outbox bodies are
256-byte stand-ins: their size does not change which rows a query visits.

Measured, each with its ``EXPLAIN QUERY PLAN`` (target: under 50 ms, an index
rather than a scan):

- ``Store.referral_ids_to_plan`` — the referrals ``Planner.plan_all`` looks at;
- ``Outbox.due`` — the messages ready to send;
- ``Planner.plan_all`` as a whole (one steady-state cycle: every open referral
  is loaded and its rules evaluated; nothing new should be queued);
- ``refmail referrals --json`` over everything, written to a file, with peak
  RSS — beside the same command for one status (a few thousand rows) and
  ``refmail --help``: streaming means the first two use about the same memory.

Run: .venv/bin/python bench/dbscale.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import corpus
from harness import REFMAIL, fmt, median, run_child, table, verdict

TARGET_MS = 50.0
OPEN = ("introduced", "contacted", "meeting", "proposal")
CLOSED = ("won", "lost", "no_fit", "unresponsive", "withdrawn")
YEARS = 10


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def build(path: Path, n: int, *, queued: int = 1000, seed: int = 7, open_days: int = 30) -> dict[str, Any]:
    """Write the fixture; returns counts and how long each part took."""
    from refmail.storage.store import Store

    store = Store.open(path)
    conn = store.db.conn
    rng = random.Random(f"dbscale:{seed}")
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=365 * YEARS)
    start = now - span
    silent_before = now - timedelta(days=3 * 365)
    open_after = now - timedelta(days=open_days)
    referrers = [f"member{i}@group{i % 50}.example" for i in range(2000)]
    timings: dict[str, float] = {}
    counts = {"open": 0, "silent": 0}

    def referral_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(1, n + 1):
            introduced = start + span * (i / n)
            is_open = introduced >= open_after
            status = rng.choice(OPEN) if is_open else rng.choice(CLOSED)
            silent = int(introduced < silent_before)
            counts["open"] += is_open
            counts["silent"] += silent
            updated = min(now, introduced + timedelta(days=rng.uniform(0, 40)))
            yield (i, status, referrers[i % len(referrers)], f"provider{i % 9000}@trade{i % 700}.example",
                   f"Intro {i}", f"<intro.{i}@mail.example>", "roles from the text", silent,
                   _iso(introduced), _iso(introduced), _iso(updated))

    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO referrals (id, status, referrer, provider, subject, intro_message_id, roles_reason, "
        "silent, introduced_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        referral_rows())
    conn.execute(
        "INSERT INTO parties (referral_id, address, name, role) "
        "SELECT id, referrer, 'Referrer ' || id, 'referrer' FROM referrals UNION ALL "
        "SELECT id, provider, 'Provider ' || id, 'provider' FROM referrals UNION ALL "
        "SELECT id, 'prospect' || id || '@client.example', 'Prospect ' || id, 'prospect' FROM referrals")
    conn.execute(
        "INSERT INTO events (referral_id, at, kind, actor, message_id, detail) "
        "SELECT id, created_at, 'introduced', referrer, intro_message_id, "
        "'{\"forwarded\": false, \"reason\": \"roles from the text\", \"roles_known\": true, "
        "\"silent\": ' || "
        "CASE silent WHEN 1 THEN 'true' ELSE 'false' END || '}' FROM referrals ORDER BY id")
    conn.execute(
        "INSERT INTO events (referral_id, at, kind, actor, message_id, detail) "
        "SELECT id, updated_at, 'status', provider, NULL, "
        "'{\"from\": \"introduced\", \"to\": \"' || status || '\"}' FROM referrals "
        "WHERE status NOT IN ('introduced','contacted','meeting','proposal') ORDER BY id")
    conn.execute(
        "INSERT INTO thread_messages (message_id, referral_id) SELECT intro_message_id, id FROM referrals")
    conn.execute(
        "INSERT INTO outbox (referral_id, step, recipient, seq, message_id, token, subject, raw, status, "
        "attempts, next_attempt_at, created_at, sent_at) SELECT id, 'ack', referrer, 0, "
        "'<refmail.' || id || '.ack@x>', NULL, 'ack', zeroblob(256), 'sent', 1, created_at, created_at, "
        "created_at FROM referrals WHERE silent = 0")
    conn.execute("COMMIT")
    timings["bulk insert"] = time.perf_counter() - started

    # The steady state: what the rules say is due for each open referral has been sent.
    started = time.perf_counter()
    steady = _settle(store, now)
    timings["steady-state outbox (rules over open referrals)"] = time.perf_counter() - started

    started = time.perf_counter()
    conn.execute("BEGIN")
    open_ids = [r[0] for r in conn.execute(
        "SELECT id FROM referrals WHERE silent = 0 "
        "AND status IN ('introduced','contacted','meeting','proposal')")]
    pending = []
    for k in range(queued * 5):
        rid = open_ids[k % len(open_ids)] if open_ids else None
        if k < queued:
            due_at = now - timedelta(minutes=rng.randint(1, 600))
        else:
            due_at = now + timedelta(hours=rng.randint(1, 48))
        pending.append((rid, "bench_step", f"someone{k}@client.example", k, f"<refmail.bench.{k}@x>", "bench",
                        b"x" * 256, _iso(due_at), _iso(now)))
    conn.executemany(
        "INSERT INTO outbox (referral_id, step, recipient, seq, message_id, subject, raw, status, attempts, "
        "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)", pending)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["queued messages + ANALYZE"] = time.perf_counter() - started
    store.close()
    return {"n": n, "open": counts["open"], "silent": counts["silent"], "steady_sent": steady,
            "queued": queued, "timings": timings, "bytes": path.stat().st_size, "now": _iso(now)}


def _config(db: Path) -> Any:
    from refmail.config import config_from_dict

    toml = corpus.config_toml(corpus.make_group(7), imap_port=1, database=db)
    return config_from_dict(tomllib.loads(toml))


def _settle(store: Any, now: datetime) -> int:
    """Mark as sent everything the rules find due for open referrals within the hour (no rendering)."""
    from refmail.policy.rules import due_messages
    from refmail.workflow.planner import Planner

    config = _config(Path("unused.db"))
    conn = store.db.conn
    # An hour ahead: whatever falls due while the benchmark runs is already sent too.
    ahead = now + timedelta(hours=1)
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM referrals WHERE silent = 0 AND "
        "(status IN ('introduced','contacted','meeting','proposal') OR updated_at >= ?)",
        (_iso(now - timedelta(days=30)),))]
    rows = []
    for rid in ids:
        row = store.referral(rid)
        view = Planner.view(row)
        already = {("ack", view.referrer, 0)}
        # Sequenced steps (reminders) advance one at a time: repeat until nothing more is due.
        for _ in range(10):
            dues = due_messages(view, config, ahead, already=already, blocked=set())
            if not dues:
                break
            for due in dues:
                already.add((due.step, due.recipient, due.seq))
                rows.append((rid, due.step, due.recipient, due.seq,
                             f"<refmail.{rid}.{due.step}.{due.recipient}.{due.seq}@x>", due.step, b"x" * 256,
                             _iso(now), _iso(now), _iso(now)))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (referral_id, step, recipient, seq, message_id, subject, raw, status, "
        "attempts, next_attempt_at, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'sent', 1, ?, ?, ?)",
        rows)
    conn.execute("COMMIT")
    return len(rows)


def _timed(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return times, result


def _explain(conn: sqlite3.Connection, statements: list[str]) -> list[dict[str, Any]]:
    """``EXPLAIN QUERY PLAN`` of each distinct statement (literals folded to tell them apart)."""
    seen: set[str] = set()
    out = []
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        shape = re.sub(r"'[^']*'|\b\d+\b", "?", sql)
        shape = re.sub(r"\?(?:\s*,\s*\?)+", "?…", shape)
        if shape in seen:
            continue
        seen.add(shape)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        out.append({"sql": shape, "plan": plan, "scan": any(p.startswith("SCAN") and " USING " not in p
                                                           for p in plan)})
    return out


def measure(path: Path, *, repeat: int = 7) -> dict[str, Any]:
    from refmail.outgoing.outbox import Outbox
    from refmail.storage.store import Store
    from refmail.workflow.planner import RECENT, Planner

    store = Store.open(path)
    conn = store.db.conn
    now = datetime.now(UTC)
    captured: list[str] = []
    try:
        outbox = Outbox(store)
        planner = Planner(_config(path), store, outbox=outbox)
        ids_times, ids = _timed(lambda: store.referral_ids_to_plan(now - RECENT), repeat)
        due_times, due = _timed(lambda: outbox.due(now), repeat)
        plan_times, planned = _timed(lambda: planner.plan_all(now), 1)
        conn.set_trace_callback(captured.append)
        store.referral_ids_to_plan(now - RECENT)
        ids_sql = list(captured)
        captured.clear()
        outbox.due(now)
        due_sql = list(captured)
        captured.clear()
        if ids:
            planner.plan(ids[-1], now)
        plan_sql = list(captured)
        conn.set_trace_callback(None)
        return {
            "ids": {"ms": [t * 1000 for t in ids_times], "rows": len(ids),
                    "explain": _explain(conn, ids_sql)},
            "due": {"ms": [t * 1000 for t in due_times], "rows": len(due),
                    "explain": _explain(conn, due_sql)},
            "plan_all": {"s": plan_times, "queued": planned, "referrals": len(ids),
                         "explain": _explain(conn, plan_sql)},
        }
    finally:
        conn.set_trace_callback(None)
        store.close()


def stream(path: Path, work: Path) -> dict[str, Any]:
    """``refmail referrals --json``: all of them, one status, and ``--help``; wall time and peak RSS."""
    config = work / "refmail.toml"
    config.write_text(corpus.config_toml(corpus.make_group(7), imap_port=1, database=path))
    out: dict[str, Any] = {}
    for name, extra in (("all", []), ("one status", ["--status", "proposal"])):
        target = work / f"referrals-{len(out)}.json"
        child = run_child([*REFMAIL, "--config", str(config), "referrals", "--json", *extra],
                          stdout_path=target, sample_every=1.0).check()
        with open(target, "rb") as f:
            head = f.read(1)
            f.seek(-2, 2)
            tail = f.read()
        with open(target, "rb") as f:
            lines = sum(1 for _ in f) - 2
        out[name] = {"seconds": child.seconds, "max_rss_mb": child.max_rss_mb, "bytes": target.stat().st_size,
                     "items": lines, "valid": head == b"[" and tail.strip() == b"]",
                     "rss_samples_mb": [round(kb / 1024, 1) for _t, kb in child.rss_samples]}
        target.unlink()
    out["help"] = {"max_rss_mb": run_child([*REFMAIL, "--help"]).check().max_rss_mb}
    return out


def run(n: int = 1_000_000, queued: int = 1000, seed: int = 7) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rmbench-db-", dir="/tmp"))
    try:
        path = work / "refmail.db"
        fixture = build(path, n, queued=queued, seed=seed)
        figures = measure(path)
        streamed = stream(path, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"fixture": fixture, "figures": figures, "stream": streamed}


def _plans(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in items:
        out.append(f"    {e['sql']}")
        out += [f"      → {p}" for p in e["plan"]]
    return out


def render(r: dict[str, Any]) -> str:
    f, g, s = r["fixture"], r["figures"], r["stream"]
    ids_ms, due_ms = median(g["ids"]["ms"]), median(g["due"]["ms"])
    ids_scan = any(e["scan"] for e in g["ids"]["explain"])
    due_scan = any(e["scan"] for e in g["due"]["explain"])
    plan_s = median(g["plan_all"]["s"])
    timings = ", ".join(f"{k} {fmt(v, 1)} s" for k, v in f["timings"].items())
    rows = [
        ["`Store.referral_ids_to_plan` (what `plan_all` visits)", fmt(ids_ms, 1),
         f"{g['ids']['rows']:,} ids", "scan" if ids_scan else "index"],
        ["`Outbox.due` (limit 500)", fmt(due_ms, 2), f"{g['due']['rows']:,} messages",
         "scan" if due_scan else "index"],
        ["`Planner.plan_all` (steady state, whole cycle)", fmt(plan_s * 1000, 0),
         f"{g['plan_all']['referrals']:,} candidates read, {g['plan_all']['queued']} queued", "—"],
    ]
    lines = [
        f"Fixture: {f['n']:,} referrals ({f['open']:,} open, {f['silent']:,} silent), "
        f"{f['steady_sent']:,} rule-due messages already sent, {f['queued']:,} queued and due + "
        f"{4 * f['queued']:,} queued for later; {f['bytes'] / 1e9:.2f} GB. Built in: {timings}.",
        "",
        table(["query", "median ms", "result", "plan"], rows),
        "",
        "Query plans (`EXPLAIN QUERY PLAN`, literals shown as `?`):",
        "",
        "```",
        "referral_ids_to_plan:",
        *_plans(g["ids"]["explain"]),
        "Outbox.due:",
        *_plans(g["due"]["explain"]),
        "one Planner.plan(referral) (only for a referral with something due; plan_all first reads "
        "its candidates 500 at a time):",
        *_plans(g["plan_all"]["explain"]),
        "```",
        "",
    ]
    all_, one, help_ = s["all"], s["one status"], s["help"]
    samples = all_["rss_samples_mb"]
    trace = " ".join(str(x) for x in samples[:12]) + (" …" if len(samples) > 12 else "")
    lines += [
        table(["command", "s", "peak RSS MB", "items", "output", "RSS samples (MB, every s)"], [
            ["`refmail referrals --json` (everything)", fmt(all_["seconds"], 1), fmt(all_["max_rss_mb"], 1),
             f"{all_['items']:,}", f"{all_['bytes'] / 1e6:,.0f} MB, valid JSON frame: {all_['valid']}",
             trace],
            ["`refmail referrals --json --status proposal`", fmt(one["seconds"], 1),
             fmt(one["max_rss_mb"], 1), f"{one['items']:,}", f"{one['bytes'] / 1e6:,.1f} MB", "—"],
            ["`refmail --help` (floor)", "—", fmt(help_["max_rss_mb"], 1), "—", "—", "—"],
        ]),
        "",
        table(["target (issue 6)", "measured", "status"], [[t, m, verdict(ok)] for t, m, ok in targets(r)]),
    ]
    return "\n".join(lines)


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    g, s, n = r["figures"], r["stream"], r["fixture"]["n"]
    ids_ms, due_ms = median(g["ids"]["ms"]), median(g["due"]["ms"])
    ids_scan = any(e["scan"] for e in g["ids"]["explain"])
    due_scan = any(e["scan"] for e in g["due"]["explain"])
    all_, one = s["all"], s["one status"]
    return [
        (f"database ({n:,} referrals): `referral_ids_to_plan` under {TARGET_MS:.0f} ms, by index",
         f"{fmt(ids_ms, 1)} ms, {'scan' if ids_scan else 'index'}", ids_ms < TARGET_MS and not ids_scan),
        (f"database ({n:,} referrals): `Outbox.due` under {TARGET_MS:.0f} ms, by index",
         f"{fmt(due_ms, 2)} ms, {'scan' if due_scan else 'index'}", due_ms < TARGET_MS and not due_scan),
        ("database: `refmail referrals --json` streams (peak RSS for all ≈ for one status)",
         f"{fmt(all_['max_rss_mb'], 1)} MB vs {fmt(one['max_rss_mb'], 1)} MB",
         all_["valid"] and all_["items"] == n and all_["max_rss_mb"] < one["max_rss_mb"] + 50),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.n, args.queued, args.seed)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
