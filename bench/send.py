"""Sending: 1,000 due messages from the durable outbox to the local SMTP server.

Setup (untimed): refmail's own :class:`~refmail.workflow.tracker.Tracker` and
:class:`~refmail.workflow.planner.Planner` process 1,000 fresh intros into a new
database, which queues 1,000 real acknowledgements (rendered, signed, composed)
in the outbox — exactly what sending will find. Then, each repetition on a
fresh copy of that database, in a child process (so the SMTP server, a thread
of this process, does not share its interpreter):

- **refmail**: ``Outbox.deliver`` over one :class:`~refmail.outgoing.transport.SmtpTransport`
  connection — reading what is due, a status check before each message, and
  marking each one sent in its own committed transaction (the durable outbox);
- **floor**: the same 1,000 messages read from the same table up front, then
  ``smtplib.SMTP.sendmail`` over one connection, no bookkeeping.

The server is the aiosmtpd test server of ``tests/mailservers.py`` without
Dovecot behind it. Target: at least 200 messages/s.

Run: .venv/bin/python bench/send.py [--n 1000] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import corpus
from harness import fmt, median, run_child, table, verdict

TARGET_RATE = 200.0


def _config(group: corpus.GroupSpec, db: Path, smtp_port: int) -> Any:
    # The setup applies 1,000 intros at one instant: the per-sender rate limit is lifted.
    toml = corpus.config_toml(group, imap_port=1, smtp_port=smtp_port, database=db)
    return corpus.load(toml, lift_rate_limit=True)


def prepare(db: Path, n: int, seed: int = 7) -> dict[str, Any]:
    """A database whose outbox holds ``n`` due acknowledgements, made by refmail itself."""
    from refmail.storage.store import Store
    from refmail.workflow.planner import Planner
    from refmail.workflow.tracker import Tracker

    group = corpus.make_group(seed)
    config = _config(group, db, 25)
    store = Store.open(db)
    started = time.perf_counter()
    try:
        planner = Planner(config, store)
        tracker = Tracker(config, store, planner=planner)
        now = datetime.now(UTC)
        i = 0
        while len(planner.outbox.due(now, limit=n + 1)) < n:
            tracker.process(corpus.fresh_intro(seed + 5000, i, group=group, now=now).raw, now=now)
            i += 1
        due = planner.outbox.due(now, limit=n + 10)
        # Exactly n: withdraw any surplus (a referral may queue more than one message).
        for item in due[n:]:
            planner.outbox.cancel(item.id, "bench surplus")
        sizes = [len(item.raw) for item in due[:n]]
    finally:
        store.close()
    return {"intros": i, "seconds": time.perf_counter() - started, "mean_size": sum(sizes) / len(sizes)}


def worker(kind: str, db: Path, port: int, n: int, seed: int) -> dict[str, Any]:
    """Runs in the child: send what is due, timed in-process (interpreter start-up excluded)."""
    import smtplib

    from refmail.outgoing.outbox import Outbox
    from refmail.outgoing.transport import SmtpTransport
    from refmail.storage.store import Store

    config = _config(corpus.make_group(seed), db, port)
    store = Store.open(db)
    try:
        if kind == "refmail":
            outbox = Outbox(store)
            started = time.perf_counter()
            with SmtpTransport(config.smtp) as transport:
                report = outbox.deliver(transport, mail_from=config.group.tracking_address,
                                        now=lambda: datetime.now(UTC), limit=n)
            seconds = time.perf_counter() - started
            return {"seconds": seconds, "sent": report.sent, "failed": report.failed,
                    "deferred": report.deferred}
        rows = store.db.conn.execute(
            "SELECT recipient, raw FROM outbox WHERE status = 'queued' ORDER BY next_attempt_at, id LIMIT ?",
            (n,),
        ).fetchall()
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for recipient, raw in rows:
                client.sendmail(config.group.tracking_address, [recipient], bytes(raw))
        return {"seconds": time.perf_counter() - started, "sent": len(rows), "failed": 0, "deferred": 0}
    finally:
        store.close()


def run(n: int = 1000, reps: int = 3, seed: int = 7) -> dict[str, Any]:
    from mailservers import SmtpServer

    work = Path(tempfile.mkdtemp(prefix="rmbench-send-", dir="/tmp"))
    results: dict[str, list[dict[str, Any]]] = {"refmail": [], "floor": []}
    try:
        master = work / "master.db"
        setup = prepare(master, n, seed)
        with SmtpServer() as smtp:
            for rep in range(reps):
                for kind in ("floor", "refmail"):
                    copy = work / f"{kind}-{rep}.db"
                    shutil.copyfile(master, copy)
                    before = len(smtp.messages)
                    argv = [sys.executable, __file__, "--worker", kind, "--db", str(copy),
                            "--port", str(smtp.port), "--n", str(n), "--seed", str(seed)]
                    child = run_child(argv).check()
                    figures = json.loads(child.stdout.strip().splitlines()[-1])
                    figures["accepted"] = len(smtp.messages) - before
                    if kind == "refmail":
                        db = sqlite3.connect(copy)
                        figures["marked_sent"] = db.execute(
                            "SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
                        db.close()
                    results[kind].append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: median([x["seconds"] for x in v]) for k, v in results.items()}
    return {"n": n, "reps": reps, "setup": setup, "runs": results, "medians": med,
            "rates": {k: n / v for k, v in med.items()}}


def render(r: dict[str, Any]) -> str:
    n, med, rate = r["n"], r["medians"], r["rates"]
    rows = [
        ["floor: `smtplib.sendmail` × n over one connection, no bookkeeping", fmt(med["floor"], 3),
         fmt(rate["floor"], 0), ", ".join(fmt(x["seconds"], 3) for x in r["runs"]["floor"]),
         ", ".join(str(x["accepted"]) for x in r["runs"]["floor"])],
        ["**refmail `Outbox.deliver` + `SmtpTransport`** (durable: each marked sent and committed)",
         fmt(med["refmail"], 3), fmt(rate["refmail"], 0),
         ", ".join(fmt(x["seconds"], 3) for x in r["runs"]["refmail"]),
         ", ".join(f"{x['accepted']} ({x['marked_sent']} marked sent)" for x in r["runs"]["refmail"])],
    ]
    s = r["setup"]
    return "\n".join([
        f"{n:,} acknowledgements queued by refmail itself from {s['intros']:,} fresh intros "
        f"(setup {fmt(s['seconds'], 1)} s, untimed; {fmt(s['mean_size'], 0)} bytes each on average).",
        "",
        table(["sender", "median s", "msg/s", f"runs ({r['reps']})", "accepted by the server"], rows),
        "",
        table(["target (issue 6)", "measured", "status"], [[t, m, verdict(ok)] for t, m, ok in targets(r)]),
    ])


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    med, rate = r["medians"], r["rates"]
    return [(f"sending: ≥ {TARGET_RATE:.0f} messages/s over a reused connection, durable outbox included",
             f"{fmt(rate['refmail'], 0)} msg/s ({fmt(med['refmail'] / med['floor'], 2)}× the floor's time)",
             rate["refmail"] >= TARGET_RATE)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", choices=("refmail", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.db, args.port, args.n, args.seed)))
        return
    print(render(run(args.n, args.reps, args.seed)))


if __name__ == "__main__":
    main()
