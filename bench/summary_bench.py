"""Weekly summaries at scale: every member's summary and the admins', timed.

Builds a group database directly with SQL (one transaction, not through the
mail pipeline — that would take hours for this size) shaped like what the
tracker records: 1,000 members, 100,000 referrals over three years, each with
its intro, first contact, thanks, feedback and closing events, and the
thank-you and feedback nudges in the outbox. Business is skewed like a real
group's: a few members give and receive a lot, most a little. Two members
are fixed so the query count can be compared: one with 5 referrals, one
with 500.

Then computes and renders (text and HTML) every member's summary and the
admin summary, and prints the total and per-summary time, the SQL statements
per summary (constant: the same for 5 referrals as for 500) and the peak
memory (``ru_maxrss``).

    .venv/bin/python bench/summary_bench.py                 # 1,000 members, 100,000 referrals
    .venv/bin/python bench/summary_bench.py --members 20 --referrals 200
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refmail.config import Config, config_from_dict  # noqa: E402
from refmail.render.renderer import Renderer  # noqa: E402
from refmail.storage.store import Store, iso  # noqa: E402
from refmail.summaries.member import (  # noqa: E402
    MemberSummary,
    admin_summary,
    count_queries,
    member_summary,
    summary_context,
    with_coaching,
)

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 08:00 in Chicago
TRACKER = "refs@bench.example"
FIRST = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena", "Mo", "Nia"]
LAST = ["Reyes", "Smith", "Becker", "Chen", "Park", "Okafor", "Novak", "Ito", "Silva", "Haddad", "Berg"]
FEEDBACK = [
    "We had coffee on Tuesday, promising.",
    "Sent a proposal for the spring.",
    "Lovely to meet, not the right time for them.",
    "They went with someone cheaper.",
    "Three calls, no answer yet.",
]


def config_for(members: int) -> Config:
    return config_from_dict({
        "group": {"name": "Bench Business Network", "tracking_address": TRACKER,
                  "admins": ["m0@member0.example"], "timezone": "America/Chicago"},
        "members": [
            {"name": f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]} {i}", "email": f"m{i}@member{i}.example"}
            for i in range(members)
        ],
    })


def _pairs(members: int, referrals: int, rng: random.Random) -> list[tuple[int, int | None]]:
    """(referrer, provider member or None) per referral. Member 0 takes part in
    500 referrals (300 given, 200 received), member 1 in 5; the rest follow a
    skewed (Pareto) activity among members 2…"""
    busy, quiet = min(500, referrals // 2), 5
    pairs: list[tuple[int, int | None]] = []
    others = list(range(2, members))
    cumulative = list(itertools.accumulate(rng.paretovariate(1.5) for _ in others))
    drawn = iter(rng.choices(others, cum_weights=cumulative, k=3 * referrals + 2 * busy))

    def pick() -> int:
        return next(drawn)

    pairs += [(0, pick()) for _ in range(busy * 3 // 5)]
    pairs += [(pick(), 0) for _ in range(busy - busy * 3 // 5)]
    pairs += [(1, pick()) for _ in range(3)] + [(pick(), 1) for _ in range(quiet - 3)]
    while len(pairs) < referrals:
        referrer = pick()
        provider: int | None = pick() if rng.random() < 0.8 else None
        if provider != referrer:
            pairs.append((referrer, provider))
    rng.shuffle(pairs)
    return pairs[:referrals]


def build(store: Store, members: int, referrals: int, seed: int = 7) -> dict[str, int]:
    """Insert the whole group in one transaction; returns row counts."""
    rng = random.Random(seed)
    address = [f"m{i}@member{i}.example" for i in range(members)]
    refs: list[tuple[Any, ...]] = []
    parties: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    event_id = 0

    def event(rid: int, at: datetime, kind: str, actor: str | None, detail: dict[str, Any]) -> None:
        nonlocal event_id
        event_id += 1
        events.append((event_id, rid, iso(at), kind, actor, None, json.dumps(detail, sort_keys=True)))

    def nudge(rid: int, step: str, recipient: str, at: datetime) -> None:
        outbox.append((rid, step, recipient, 0, f"<refmail.{rid}.{step}.{len(outbox)}@bench.example>",
                       f"r{rid}.x{len(outbox)}", step, b"", "sent", 1, iso(at), iso(at), iso(at)))

    for rid, (ri, pi) in enumerate(_pairs(members, referrals, rng), start=1):
        referrer = address[ri]
        provider = address[pi] if pi is not None else f"pro{rid}@outside{rid % 97}.example"
        prospect = f"client{rid}@town{rid % 211}.example"
        introduced = NOW - timedelta(days=rng.uniform(0, 3 * 365))
        at = introduced
        parties += [(rid, referrer, "", "referrer"),
                    (rid, provider, "" if pi is not None else f"Pro {rid}", "provider"),
                    (rid, prospect, f"{rng.choice(FIRST)} {rng.choice(LAST)}", "prospect")]
        event(rid, at, "introduced", referrer, {"roles_known": True})
        status = "introduced"
        age = (NOW - introduced).days
        if age > 1:
            nudge(rid, "thank_you", provider, introduced + timedelta(days=1))
        if rng.random() < 0.8 and age > 3:
            at = introduced + timedelta(hours=rng.uniform(2, 72))
            event(rid, at, "first_contact", provider, {"to": [prospect]})
            event(rid, at, "status", provider, {"from": status, "to": "contacted", "why": "first contact"})
            status = "contacted"
        if rng.random() < 0.6 and age > 2:
            thanked = introduced + timedelta(days=rng.uniform(1, 3))
            event(rid, thanked, "thanks", provider, {"text": "Thank you!"})
        if age > 7:
            nudge(rid, "feedback", provider, introduced + timedelta(days=7))
            if rng.random() < 0.5:
                at = introduced + timedelta(days=rng.uniform(7, 14))
                event(rid, at, "feedback", rng.choice([provider, prospect]), {"text": rng.choice(FEEDBACK)})
        if age > 30 or (age > 10 and rng.random() < 0.5):
            roll = rng.random()
            final = ("won" if roll < 0.35 else "lost" if roll < 0.5 else "no_fit" if roll < 0.62
                     else "unresponsive" if roll < 0.75 else "withdrawn" if roll < 0.78 else None)
            if final:
                at = min(NOW, introduced + timedelta(days=rng.uniform(10, 60)))
                detail: dict[str, Any] = {"from": status, "to": final, "by": provider}
                if final == "won" and rng.random() < 0.8:
                    detail.update(value=rng.choice([800, 1500, 4500, 12000]), currency="USD")
                if final != "won" and rng.random() < 0.6:
                    detail["text"] = rng.choice(FEEDBACK)
                event(rid, at, "status", provider, detail)
                status = final
        refs.append((rid, status, referrer, provider, f"Intro {rid}", f"<intro.{rid}@bench.example>",
                     "", 0, iso(introduced), iso(introduced), iso(max(at, introduced))))

    conn = store.db.conn
    with store.transaction():
        conn.executemany(
            "INSERT INTO referrals (id, status, referrer, provider, subject, intro_message_id, roles_reason, "
            "silent, introduced_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", refs)
        conn.executemany(
            "INSERT INTO parties (referral_id, address, name, role) VALUES (?, ?, ?, ?)", parties)
        conn.executemany(
            "INSERT INTO events (id, referral_id, at, kind, actor, message_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", events)
        conn.executemany(
            "INSERT INTO outbox (referral_id, step, recipient, seq, message_id, token, subject, raw, status, "
            "attempts, next_attempt_at, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            outbox)
    conn.execute("ANALYZE")
    return {"referrals": len(refs), "parties": len(parties), "events": len(events), "outbox": len(outbox)}


def _build_in_child(path: Path, members: int, referrals: int) -> None:
    """Build in a child process, so the parent's peak memory is the summaries' own."""
    command = [sys.executable, __file__, "--build-only", "--db", str(path),
               "--members", str(members), "--referrals", str(referrals)]
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="use --db as it is, without building it")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_only:
        store = Store.open(args.db)
        started = time.perf_counter()
        counts = build(store, args.members, args.referrals)
        store.close()
        print(f"built {', '.join(f'{n:,} {k}' for k, n in counts.items())} "
              f"in {time.perf_counter() - started:.1f} s ({args.db.stat().st_size / 2**20:.0f} MiB)")
        return 0
    print(f"reproduce: .venv/bin/python bench/summary_bench.py --members {args.members} "
          f"--referrals {args.referrals}")
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "bench.db"
        if not args.reuse:
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            _build_in_child(path, args.members, args.referrals)
        _summaries(Store.open(path), config_for(args.members))
    build_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss) of the summaries: {peak:.0f} MiB "
          f"(building the database: {build_peak:.0f} MiB)")
    return 0


def _summaries(store: Store, config: Config) -> None:
    renderer = Renderer(config)
    for address in ("m1@member1.example", "m0@member0.example"):  # the quiet member, the busy one
        def compute(address: str = address) -> MemberSummary:
            return with_coaching(member_summary(store, config, address, NOW), store, config, NOW)

        summary, queries = count_queries(store, compute)
        total = summary.given_total + summary.received_total
        print(f"member with {total} referrals: queries per summary: {len(queries)}")

    computing = rendering = 0.0
    words = 0
    for member in config.members:
        started = time.perf_counter()
        summary = with_coaching(member_summary(store, config, member.email, NOW), store, config, NOW)
        computed = time.perf_counter()
        rendered = renderer.render("summary_member", summary_context(summary, config))
        rendering += time.perf_counter() - computed
        computing += computed - started
        words += len(rendered.text.split())
    n = len(config.members)
    print(f"{n:,} member summaries in {computing + rendering:.2f} s: "
          f"{(computing + rendering) / n * 1000:.1f} ms each ({computing / n * 1000:.1f} computing, "
          f"{rendering / n * 1000:.1f} rendering text and HTML), {words / n:.0f} words of text on average")

    started = time.perf_counter()
    admin, queries = count_queries(store, lambda: admin_summary(store, config, NOW))
    computed = time.perf_counter() - started
    renderer.render("summary_admin", summary_context(admin, config, recipient=config.group.admins[0]))
    print(f"admin summary: computed in {computed:.2f} s, rendered in "
          f"{time.perf_counter() - started - computed:.2f} s; queries per summary: {len(queries)}")
    year = admin.periods[-1]
    print(f"  last 12 months: {year.intros:,} intros, {year.won:,} won, {year.failed:,} failed, "
          f"median time to first contact {year.median_first_contact}")
    store.close()


if __name__ == "__main__":
    raise SystemExit(main())
