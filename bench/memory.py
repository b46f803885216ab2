"""Memory: a 100,000-message inbox ingested by ``refmail run --once --no-send``.

A fresh Dovecot is loaded with ``--n`` generated messages (default 100,000,
about 450 MB); refmail ingests them from an empty database as a child process
whose peak RSS comes from GNU ``time`` (see ``harness``) and whose RSS is sampled
every second, so the report shows whether memory grows with the inbox
(target: peak under 150 MB, flat). The same is measured on a tenth of the
inbox first, in the same run, for comparison, and ``refmail --help``'s RSS is
the floor (the interpreter plus refmail's imports).

Expect it to take a while: writing the Maildir, Dovecot's first indexing, and
refmail's ingest at its current rate; every phase is timed and reported.

Run: .venv/bin/python bench/memory.py [--n 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import corpus
import ingest
from harness import REFMAIL, fmt, run_child, table, verdict

TARGET_MB = 150.0


def _ingest(n: int, seed: int, work: Path, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    with corpus.loaded_mailbox(n, seed=seed) as box:
        loaded = time.perf_counter() - started
        child, facts = ingest.refmail_once(box, work, name, sample_every=1.0)
        m = box.manifest
    samples = child.rss_samples
    quarters = []
    for q in (0.25, 0.5, 0.75, 1.0):
        upto = [rss for t, rss in samples if t <= child.seconds * q]
        quarters.append(max(upto) / 1024 if upto else float("nan"))
    return {
        "n": m.n, "megabytes": round(m.megabytes, 1), "write_seconds": m.write_seconds,
        "index_seconds": m.index_seconds, "load_seconds": loaded, "seconds": child.seconds,
        "rate": m.n / child.seconds, "max_rss_mb": child.max_rss_mb, "rss_by_quarter_mb": quarters,
        "referrals": facts["referrals"], "intros": m.intros, "processed": facts["processed"],
    }


def run(n: int = 100_000, seed: int = 7, *, compare: bool = True) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rmbench-mem-", dir="/tmp"))
    try:
        floor = run_child([*REFMAIL, "--help"]).check()
        small = _ingest(max(n // 10, 1), seed, work, "small") if compare else None
        big = _ingest(n, seed, work, "big")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"n": n, "seed": seed, "floor_mb": floor.max_rss_mb, "small": small, "big": big}


def render(r: dict[str, Any]) -> str:
    rows = []
    for key in ("small", "big"):
        x = r[key]
        if not x:
            continue
        rows.append([
            f"{x['n']:,} messages ({x['megabytes']} MB)", fmt(x["max_rss_mb"], 1),
            " / ".join(fmt(v, 0) for v in x["rss_by_quarter_mb"]), fmt(x["seconds"], 1), fmt(x["rate"], 0),
            f"{x['referrals']:,} / {x['intros']:,}",
            f"{fmt(x['write_seconds'], 1)} + {fmt(x['index_seconds'], 1)}",
        ])
    rows.append(["`refmail --help` (floor: interpreter + imports)", fmt(r["floor_mb"], 1),
                 "—", "—", "—", "—", "—"])
    lines = [
        table(["inbox", "peak RSS MB", "RSS at ¼ / ½ / ¾ / end of run, MB", "ingest s", "msg/s",
               "referrals / intros", "Maildir write + first index s"], rows),
        "",
        table(["target (issue 6)", "measured", "status"], [[t, m, verdict(ok)] for t, m, ok in targets(r)]),
    ]
    return "\n".join(lines)


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    big = r["big"]
    # A lean run that dropped intros would not count: every intro must be a referral.
    return [(f"memory: peak RSS under {TARGET_MB:.0f} MB ingesting {big['n']:,} messages",
             f"{fmt(big['max_rss_mb'], 1)} MB", big["max_rss_mb"] < TARGET_MB),
            (f"memory run: every intro of the {big['n']:,} messages tracked",
             f"{big['referrals']:,} referrals / {big['intros']:,} intros", big["referrals"] == big["intros"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-compare", action="store_true", help="skip the 1/10 inbox")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.n, args.seed, compare=not args.no_compare)
    print(render(result))
    print(f"\n(whole benchmark: {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
