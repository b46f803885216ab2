"""The ingest taken apart: what each stage costs per message, and what the obvious fixes buy.

In-process, no network: the corpus of ``bench/corpus.py`` (3,000 messages by
default) is generated in memory and each stage of ``refmail run`` is timed on
its own, with refmail's own functions, unchanged:

- the header-only parse of :func:`refmail.workflow.tracker.message_key` (deduplication);
- :func:`refmail.mail.message.parse_message` (compat32 parse + refmail's reading);
- :func:`refmail.reading.classifier.classify` (parse + the rules, roles, reply text);
- applying classified mail to a fresh database: ``Tracker.process`` with a
  classifier that returns the precomputed result, with the planner (as the
  daemon) — one transaction per message as today, then the same calls inside
  one outer ``Store.transaction()`` per 500 messages (``Store.transaction``
  joins an open transaction), which is what batching commits would give;
- the stdlib floors: ``compat32`` full parse, header-only parse, and
  ``policy.default``;
- (the per-sender rate limit is lifted here, see :func:`_config`);
- ``classify`` on both cores: a ``multiprocessing`` pool of 2 (chunks of 64)
  against the same work in one process — what "both cores" could give.

These are upper bounds for each fix, measured without changing refmail; the
plan in RESULTS.md is built on them.

Run: .venv/bin/python bench/stages.py [--n 3000]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import corpus
from harness import fmt, table

_CONFIG: Any = None


def _config() -> Any:
    global _CONFIG
    if _CONFIG is None:
        # Every message here is applied at the same instant, as a first-start backfill is:
        # the per-sender rate limit would refuse most of them and the stage would time
        # refusals. The ingest benchmark keeps the default on purpose.
        toml = corpus.config_toml(corpus.make_group(7), imap_port=1, database="unused.db")
        _CONFIG = corpus.load(toml, lift_rate_limit=True)
    return _CONFIG


def _classify_one(raw: bytes) -> Any:
    from refmail.reading.classifier import classify

    return classify(raw, _config())


def _per_message(raws: list[bytes], work: Callable[[bytes], Any]) -> float:
    started = time.perf_counter()
    for raw in raws:
        work(raw)
    return (time.perf_counter() - started) / len(raws) * 1000


def _apply(raws: list[bytes], verdicts: dict[int, Any], db: Path, *, batch: int | None) -> float:
    """ms per message to apply precomputed classifications, as the daemon (planner on)."""
    from refmail.storage.store import Store
    from refmail.workflow.planner import Planner
    from refmail.workflow.tracker import MessageSource, Tracker

    config = _config()
    store = Store.open(db)
    try:
        planner = Planner(config, store)
        tracker = Tracker(config, store, classify=lambda raw, _cfg: verdicts[id(raw)], planner=planner)
        now = datetime.now(UTC)
        started = time.perf_counter()
        if batch is None:
            for uid, raw in enumerate(raws, 1):
                tracker.process(raw, now=now, source=MessageSource("INBOX", 1, uid))
        else:
            for start in range(0, len(raws), batch):
                with store.transaction():
                    for uid, raw in enumerate(raws[start : start + batch], start + 1):
                        tracker.process(raw, now=now, source=MessageSource("INBOX", 1, uid))
        return (time.perf_counter() - started) / len(raws) * 1000
    finally:
        store.close()


def run(n: int = 3000, seed: int = 7, refmail_ms: float | None = None) -> dict[str, Any]:
    """Every stage on ``n`` messages; ``refmail_ms`` (whole ingest, ms a message) for the shares."""
    from refmail.mail.message import parse_message
    from refmail.workflow.tracker import message_key

    raws = [m.raw for m in corpus.generate(seed, n, group=corpus.make_group(seed))]
    config = _config()
    headers = BytesHeaderParser(policy=email.policy.compat32)
    from refmail.reading.classifier import classify

    stages: dict[str, float] = {}
    stages["stdlib: header-only parse (compat32)"] = _per_message(raws, headers.parsebytes)
    stages["stdlib: full parse, compat32"] = _per_message(
        raws, lambda r: email.message_from_bytes(r, policy=email.policy.compat32))
    stages["stdlib: full parse, policy.default"] = _per_message(
        raws, lambda r: email.message_from_bytes(r, policy=email.policy.default))
    stages["refmail: message_key (dedup, header parse)"] = _per_message(raws, message_key)
    stages["refmail: parse_message"] = _per_message(raws, parse_message)
    verdicts: dict[int, Any] = {}

    def keep(raw: bytes) -> None:
        verdicts[id(raw)] = classify(raw, config)

    stages["refmail: classify (parse + rules + roles + reply text)"] = _per_message(raws, keep)
    work = Path(tempfile.mkdtemp(prefix="rmbench-stages-", dir="/tmp"))
    try:
        stages["refmail: apply to SQLite + plan, a transaction per message (today)"] = _apply(
            raws, verdicts, work / "a.db", batch=None)
        stages["refmail: apply to SQLite + plan, one transaction per 500 messages"] = _apply(
            raws, verdicts, work / "b.db", batch=500)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    for raw in raws:
        _classify_one(raw)
    single = time.perf_counter() - started
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(_classify_one, raws[:64], chunksize=8)  # start-up and imports, not counted
        started = time.perf_counter()
        results = list(pool.imap(_classify_one, raws, chunksize=64))
        pooled = time.perf_counter() - started
    assert len(results) == len(raws)
    return {"n": n, "stages": stages, "classify_single_s": single, "classify_pool2_s": pooled,
            "refmail_ms": refmail_ms}


def render(r: dict[str, Any]) -> str:
    refmail_ms = r.get("refmail_ms")
    rows = []
    for name, ms in r["stages"].items():
        share = f"{100 * ms / refmail_ms:.0f} %" if refmail_ms else "—"
        rows.append([name, fmt(ms, 3), fmt(1000 / ms, 0), share])
    single, pooled = r["classify_single_s"], r["classify_pool2_s"]
    lines = [
        f"{r['n']:,} generated messages, in memory (no IMAP), one process unless said otherwise."
        + (f" refmail's whole ingest measured above: {fmt(refmail_ms, 3)} ms a message."
           if refmail_ms else ""),
        "",
        table(["stage", "ms / message", "msg/s if it were the only cost", "of refmail's ms / message"], rows),
        "",
        f"`classify` on both cores (`multiprocessing` pool of 2, chunks of 64, results pickled back): "
        f"{fmt(pooled, 2)} s vs {fmt(single, 2)} s in one process — {fmt(single / pooled, 2)}× "
        f"({fmt(r['n'] / pooled, 0)} msg/s).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.n, args.seed)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
