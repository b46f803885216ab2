"""Ingest throughput: refmail beside the Python floor, the naive parse and mbsync.

On one freshly loaded Dovecot (``corpus.loaded_mailbox``, 10,000 messages by
default) and in the same run, each repetition times, in this order:

- **bare fetch** — imapclient ``UID FETCH BODY.PEEK[]`` in batches of 500,
  nothing else: the floor for any Python IMAP client;
- **fetch + parse (policy.default)** — the same, then
  ``email.message_from_bytes(raw, policy=email.policy.default)`` per message:
  the naive way;
- **fetch + parse (compat32)** — the same with ``policy.compat32``, for
  reference (what a cheaper policy buys);
- **refmail** — ``refmail run --once --no-send`` as a child process (the real
  CLI, start-up included) from an empty database until every message is
  processed; its peak RSS (GNU ``time``); the database is checked afterwards
  (every intro must be tracked);
- **mbsync** (isync) pulling the folder into a fresh Maildir, ``FSync no``
  and ``FSync yes``: the C tool people know.

Whole runs, several repetitions, median; messages per second are all messages
(intros and the rest) over wall time.

Run: .venv/bin/python bench/ingest.py [--n 10000] [--reps 3]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import corpus
from harness import REFMAIL, ChildRun, fmt, median, run_child, table, verdict
from imapclient import IMAPClient

FETCH_BATCH = 500
TARGET_RATE = 2500.0


def _login(port: int) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port, ssl=False, timeout=60)
    client.login(corpus.TRACKER_USER, corpus.PASSWORD)
    client.select_folder("INBOX", readonly=True)
    return client


def fetch_all(
    port: int, each: Callable[[bytes], Any] | None = None, batch: int = FETCH_BATCH
) -> tuple[float, int]:
    """Connect, log in, search, ``UID FETCH BODY.PEEK[]`` in batches; ``each(raw)`` per message.

    Returns ``(seconds, messages)``; the clock covers the whole session.
    """
    started = time.perf_counter()
    client = _login(port)
    count = 0
    try:
        uids = client.search("ALL")
        for i in range(0, len(uids), batch):
            data = client.fetch(uids[i : i + batch], ["BODY.PEEK[]"])
            for uid in uids[i : i + batch]:
                raw = data[uid][b"BODY[]"]
                if each is not None:
                    each(raw)
                count += 1
            del data
    finally:
        client.logout()
    return time.perf_counter() - started, count


def parse_default(raw: bytes) -> Any:
    return email.message_from_bytes(raw, policy=email.policy.default)


def parse_compat32(raw: bytes) -> Any:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def refmail_once(box: corpus.LoadedMailbox, workdir: Path, name: str, *, profile: Path | None = None,
                 sample_every: float | None = None) -> tuple[ChildRun, dict[str, Any]]:
    """``refmail run --once --no-send`` against ``box`` from an empty database in ``workdir/name``."""
    home = workdir / name
    home.mkdir(parents=True)
    config = home / "refmail.toml"
    config.write_text(corpus.config_toml(box.group, imap_port=box.port, database=home / "refmail.db"))
    argv = [*REFMAIL, "--config", str(config), "run", "--once", "--no-send"]
    if profile is not None:
        argv = [REFMAIL[0].replace("refmail", "python"), "-m", "cProfile", "-o", str(profile), *argv]
    run = run_child(argv, env=box.env(), cwd=home, sample_every=sample_every).check()
    db = sqlite3.connect(f"file:{home / 'refmail.db'}?mode=ro", uri=True)
    try:
        referrals = db.execute("SELECT count(*) FROM referrals").fetchone()[0]
        outcomes = dict(db.execute("SELECT outcome, count(*) FROM messages GROUP BY outcome").fetchall())
        queued = db.execute("SELECT count(*) FROM outbox WHERE status = 'queued'").fetchone()[0]
        silent = db.execute("SELECT count(*) FROM referrals WHERE silent = 1").fetchone()[0]
    finally:
        db.close()
    facts = {
        "referrals": referrals, "silent": silent, "outcomes": outcomes, "queued": queued,
        "processed": sum(outcomes.values()), "summary": run.stdout.strip(),
    }
    return run, facts


MBSYNC_CONFIG = """FSync {fsync}

IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account bench

MaildirStore near
Path {path}/
Inbox {path}/INBOX

Channel pull
Far :far:
Near :near:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""


def mbsync_pull(box: corpus.LoadedMailbox, workdir: Path, name: str, *, fsync: bool) -> tuple[ChildRun, int]:
    """mbsync pulling INBOX into a fresh Maildir; returns the run and the files it wrote."""
    home = workdir / name
    home.mkdir(parents=True)
    rc = home / "mbsyncrc"
    rc.write_text(MBSYNC_CONFIG.format(
        fsync="yes" if fsync else "no", port=box.port, user=corpus.TRACKER_USER, password=corpus.PASSWORD,
        path=home / "mail",
    ))
    rc.chmod(0o600)
    (home / "mail").mkdir()  # mbsync creates the folders, not the store's root
    run = run_child(["mbsync", "-q", "-c", str(rc), "pull"]).check()
    written = sum(1 for _ in (home / "mail" / "INBOX" / "cur").iterdir()) + sum(
        1 for _ in (home / "mail" / "INBOX" / "new").iterdir()
    )
    return run, written


def run(n: int = 10_000, reps: int = 3, seed: int = 7, *, box: corpus.LoadedMailbox | None = None,
        workdir: Path | None = None, mbsync: bool = True) -> dict[str, Any]:
    """Every contestant ``reps`` times on the same mailbox; returns the figures (see :func:`render`)."""
    if box is None:
        with corpus.loaded_mailbox(n, seed=seed) as loaded:
            return run(n, reps, seed, box=loaded, workdir=workdir, mbsync=mbsync)
    own_dir = workdir is None
    work = workdir or Path(tempfile.mkdtemp(prefix="rmbench-ingest-", dir="/tmp"))
    has_mbsync = mbsync and shutil.which("mbsync") is not None
    times: dict[str, list[float]] = {k: [] for k in (
        "bare", "parse_default", "parse_compat32", "refmail", "mbsync_nofsync", "mbsync_fsync")}
    rss: list[float] = []
    facts: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    mbsync_files: list[int] = []
    try:
        for rep in range(reps):
            seconds, count = fetch_all(box.port)
            times["bare"].append(seconds)
            counts["bare"] = count
            seconds, count = fetch_all(box.port, parse_default)
            times["parse_default"].append(seconds)
            seconds, count = fetch_all(box.port, parse_compat32)
            times["parse_compat32"].append(seconds)
            child, fact = refmail_once(box, work, f"refmail-{rep}")
            times["refmail"].append(child.seconds)
            rss.append(child.max_rss_mb)
            facts.append(fact)
            if has_mbsync:
                child, files = mbsync_pull(box, work, f"mbsync-nofsync-{rep}", fsync=False)
                times["mbsync_nofsync"].append(child.seconds)
                mbsync_files.append(files)
                child, files = mbsync_pull(box, work, f"mbsync-fsync-{rep}", fsync=True)
                times["mbsync_fsync"].append(child.seconds)
                mbsync_files.append(files)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    m = box.manifest
    medians = {k: median(v) for k, v in times.items()}
    rates = {k: (m.n / v if v == v and v > 0 else float("nan")) for k, v in medians.items()}
    return {
        "n": m.n, "reps": reps, "seed": seed,
        "manifest": {"kinds": dict(m.kinds), "megabytes": round(m.megabytes, 1), "min_size": m.min_size,
                     "max_size": m.max_size, "anchor": m.anchor, "recent_intros": m.recent_intros,
                     "write_seconds": round(m.write_seconds, 2), "index_seconds": round(m.index_seconds, 2)},
        "times": times, "medians": medians, "rates": rates,
        "refmail_rss_mb": rss, "refmail_facts": facts[-1] if facts else {},
        "all_tracked": all(f["referrals"] >= m.intros and f["processed"] == m.n for f in facts),
        "fetched": counts["bare"], "mbsync": has_mbsync, "mbsync_files": mbsync_files,
    }


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    med, rate = r["medians"], r["rates"]
    ref = med["refmail"]
    out: list[tuple[str, str, bool | None]] = [
        ("ingest: refmail ≥ 2,500 messages/s", f"{fmt(rate['refmail'], 0)} msg/s",
         rate["refmail"] >= TARGET_RATE),
        ("ingest: within 3× of the bare fetch", f"{fmt(ref / med['bare'], 1)}×", ref <= 3 * med["bare"]),
        ("ingest: over 9× faster than fetch + policy.default parse",
         f"naive time ÷ refmail time = {fmt(med['parse_default'] / ref, 2)}", med["parse_default"] / ref > 9),
    ]
    if r["mbsync"]:
        out.append(("ingest: faster than mbsync with fsync",
                    f"{fmt(ref, 2)} s vs {fmt(med['mbsync_fsync'], 2)} s", ref < med["mbsync_fsync"]))
    else:
        out.append(("ingest: faster than mbsync with fsync", "mbsync not installed", None))
    return out


def render(r: dict[str, Any]) -> str:
    m = r["manifest"]
    med, rate = r["medians"], r["rates"]
    bare = med["bare"]
    names = {
        "bare": "bare fetch: imapclient `UID FETCH BODY.PEEK[]`, batches of 500 (floor)",
        "parse_default": "fetch + `message_from_bytes(policy=default)` (naive)",
        "parse_compat32": "fetch + `message_from_bytes(policy=compat32)` (reference)",
        "refmail": "**refmail `run --once --no-send`** (child process, start-up included)",
        "mbsync_nofsync": "mbsync, `FSync no`",
        "mbsync_fsync": "mbsync, `FSync yes`",
    }
    rows = []
    for key, label in names.items():
        if not r["times"][key]:
            rows.append([label, "—", "—", "—", "not installed"])
            continue
        runs = ", ".join(fmt(t, 2) for t in r["times"][key])
        rows.append([label, fmt(med[key], 2), fmt(rate[key], 0), f"{fmt(med[key] / bare, 1)}×", runs])
    facts = r["refmail_facts"]
    lines = [
        f"Mailbox: {r['n']:,} messages ({', '.join(f'{v:,} {k}' for k, v in m['kinds'].items())}), "
        f"{m['megabytes']} MB, {m['min_size']:,}–{m['max_size']:,} bytes each, seed {r['seed']}, dated over "
        f"the 2 years before {m['anchor'][:10]} ({m['recent_intros']} intros inside the 14-day backfill "
        f"window, which refmail acknowledges; older ones are tracked silently). Written into Maildir/cur in "
        f"{m['write_seconds']} s; first SELECT + full FETCH (warm-up, untimed) {m['index_seconds']} s.",
        "",
        table(["contestant", "median s", "msg/s", "vs bare fetch", f"runs ({r['reps']})"], rows),
        "",
        f"refmail peak RSS (GNU time %M): {', '.join(fmt(x, 1) for x in r['refmail_rss_mb'])} MB. "
        f"Database after the last run: {facts.get('referrals', 0):,} referrals ({facts.get('silent', 0):,} "
        f"silent backfill), outcomes {json.dumps(facts.get('outcomes', {}))}, "
        f"{facts.get('queued', 0)} acknowledgements queued (not sent: `--no-send`). "
        f"Every intro tracked in every run: {'yes' if r['all_tracked'] else '**no**'}. "
        f"refmail said: “{facts.get('summary', '')}”",
    ]
    if r["mbsync"]:
        lines.append(f"mbsync wrote {', '.join(str(x) for x in r['mbsync_files'])} files per run.")
    lines += ["", table(["target (issue 6)", "measured", "status"],
                        [[t, v, verdict(ok)] for t, v, ok in targets(r)])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    result = run(args.n, args.reps, args.seed)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
