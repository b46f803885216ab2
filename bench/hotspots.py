"""Where ``refmail run --once --no-send`` spends its time, over a whole ingest.

The real CLI runs against a freshly loaded Dovecot (10,000 messages by
default), from an empty database, twice:

- under **py-spy** (a sampling profiler, ``--idle`` so waits on the IMAP
  socket count too) when it is installed — ``$PY_SPY``, ``py-spy`` on the
  PATH, or ``/tmp/pyspy-venv/bin/py-spy``: it barely slows the process, so its
  shares are the ones to trust;
- under ``python -m cProfile`` (always available): exact call counts, but it
  instruments every Python call, which inflates call-heavy code (the
  overhead is reported alongside).

The report lists the functions with the largest inclusive share of the run
and the own time per component — refmail's modules one by one, the standard
library's ``email`` package, the IMAP/socket layer, SQLite, templates,
HTML-to-text — so the cost to attack first is plain.

Run: .venv/bin/python bench/hotspots.py [--n 10000] [--top 30]
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import corpus
import ingest
from harness import REFMAIL, fmt, run_child, table

#: Entry points and wrappers whose cumulative time is the whole run: not hotspots.
_WRAPPERS = (
    "<built-in method builtins.exec>", "<module>", "main", "__call__", "invoke", "_main", "new_func",
    "wrapper", "cli", "run", "cycle", "run_module", "_run_code", "_run_module_as_main", "runctx",
)


def _component(filename: str) -> str:
    """Group a profiled function's file into something a reader can act on."""
    path = filename.replace("\\", "/")
    if "/refmail/" in path:
        return "refmail/" + path.rsplit("/refmail/", 1)[1]
    for marker, name in (
        ("/email/", "stdlib email (parser, headers, charsets)"),
        ("imaplib", "IMAP + socket (imaplib, imapclient, ssl)"),
        ("/imapclient/", "IMAP + socket (imaplib, imapclient, ssl)"),
        ("socket.py", "IMAP + socket (imaplib, imapclient, ssl)"),
        ("ssl.py", "IMAP + socket (imaplib, imapclient, ssl)"),
        ("/sqlite_utils/", "sqlite-utils"),
        ("/jinja2/", "jinja2 (templates)"),
        ("/markupsafe/", "jinja2 (templates)"),
        ("/html_text/", "html-text + lxml (HTML to text)"),
        ("/lxml/", "html-text + lxml (HTML to text)"),
        ("/pydantic", "pydantic"),
        ("/click/", "click"),
        ("/re/", "stdlib re (compiling)"),
        ("/mailparser_reply/", "mail-parser-reply"),
        ("/encodings/", "codecs"),
        ("quopri", "stdlib email (parser, headers, charsets)"),
        ("base64", "stdlib email (parser, headers, charsets)"),
    ):
        if marker in path:
            return name
    if path == "~":
        return "C built-ins (str, re, sqlite3, json …, called directly)"
    if "/lib/python3" in path and "site-packages" not in path:
        return "stdlib (other)"
    return "other"


def _label(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    path = filename.replace("\\", "/")
    if "/refmail/" in path:
        short = "refmail/" + path.rsplit("/refmail/", 1)[1]
    elif "site-packages/" in path:
        short = path.rsplit("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        short = path.rsplit("/lib/python3.", 1)[1].split("/", 1)[-1]
    else:
        short = path.rsplit("/", 1)[-1]
    return f"{short}:{line} {func}"


def analyse(profile_path: Path, top: int = 30) -> dict[str, Any]:
    stats = pstats.Stats(str(profile_path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    rows = []
    for key, (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        if key[2] in _WRAPPERS or cumtime / total > 0.97:
            continue
        rows.append((cumtime, key, ncalls, tottime))
    rows.sort(reverse=True)
    hot = [
        {"function": _label(key), "calls": ncalls, "tottime": tottime, "cumtime": cumtime,
         "cum_pct": 100 * cumtime / total, "own_pct": 100 * tottime / total}
        for cumtime, key, ncalls, tottime in rows[:top]
    ]
    by_component: dict[str, float] = defaultdict(float)
    for key, (_cc, _n, tottime, _ct, _callers) in raw.items():
        by_component[_component(key[0])] += tottime
    components = sorted(((100 * t / total, name, t) for name, t in by_component.items()), reverse=True)
    own = sorted(
        ((tottime, key, ncalls) for key, (_cc, ncalls, tottime, _ct, _c) in raw.items()), reverse=True
    )[:15]
    return {
        "total": total, "hot": hot,
        "components": [{"component": n, "pct": p, "seconds": t} for p, n, t in components],
        "own": [{"function": _label(k), "calls": n, "tottime": t, "own_pct": 100 * t / total}
                for t, k, n in own],
    }


def py_spy() -> str | None:
    """The py-spy binary, if any (``make bench`` installs it into .venv: the ``bench`` extra)."""
    beside = Path(sys.executable).with_name("py-spy")
    for candidate in (os.environ.get("PY_SPY"), str(beside), shutil.which("py-spy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _frame(frame: str) -> tuple[str, str]:
    """``"Tracker.process (refmail/tracker.py:166)"`` → ``("Tracker.process", "refmail/tracker.py")``."""
    name, _, where = frame.rpartition(" (")
    return name or frame, where.rstrip(")").rpartition(":")[0] or where.rstrip(")")


def analyse_samples(raw_path: Path, top: int = 30) -> dict[str, Any]:
    """Inclusive and own shares per function, own share per component, from py-spy's raw output."""
    inclusive: Counter[tuple[str, str]] = Counter()
    own: Counter[tuple[str, str]] = Counter()
    components: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        for key in set(frames):
            inclusive[key] += count
        own[frames[-1]] += count
        components[_component("/" + frames[-1][1])] += count
    total = max(total, 1)

    def label(key: tuple[str, str]) -> str:
        return f"{key[1]} {key[0]}"

    hot = [
        {"function": label(k), "incl_pct": 100 * c / total, "own_pct": 100 * own[k] / total}
        for k, c in inclusive.most_common()
        if k[0] not in _WRAPPERS and not k[0].endswith(tuple("." + w for w in _WRAPPERS)) and c / total < 0.97
    ][:top]
    return {
        "samples": total,
        "hot": hot,
        "own": [{"function": label(k), "own_pct": 100 * c / total} for k, c in own.most_common(15)],
        "components": [{"component": n, "pct": 100 * c / total} for n, c in components.most_common()],
    }


def _sampled(
    box: corpus.LoadedMailbox, work: Path, spy: str, rate: int = 250
) -> tuple[float, dict[str, Any]]:
    home = work / "sampled"
    home.mkdir()
    config = home / "refmail.toml"
    config.write_text(corpus.config_toml(box.group, imap_port=box.port, database=home / "refmail.db"))
    out = home / "stacks.txt"
    argv = [spy, "record", "--idle", "--rate", str(rate), "--format", "raw", "-o", str(out), "--",
            *REFMAIL, "--config", str(config), "run", "--once", "--no-send"]
    child = run_child(argv, env=box.env(), cwd=home).check()
    return child.seconds, analyse_samples(out)


def run(n: int = 10_000, seed: int = 7, top: int = 30, *, box: corpus.LoadedMailbox | None = None,
        plain_seconds: float | None = None, sample: bool = True) -> dict[str, Any]:
    """Profile one ingest with cProfile, and with py-spy too when ``sample`` and it is installed."""
    if box is None:
        with corpus.loaded_mailbox(n, seed=seed) as loaded:
            return run(n, seed, top, box=loaded, plain_seconds=plain_seconds, sample=sample)
    work = Path(tempfile.mkdtemp(prefix="rmbench-prof-", dir="/tmp"))
    try:
        if plain_seconds is None:
            child, _facts = ingest.refmail_once(box, work, "plain")
            plain_seconds = child.seconds
        out = work / "ingest.prof"
        child, facts = ingest.refmail_once(box, work, "profiled", profile=out)
        result = analyse(out, top)
        spy = py_spy() if sample else None
        sampled: dict[str, Any] | None = None
        if spy:
            sampled_wall, sampled = _sampled(box, work, spy)
            sampled.update({"wall": sampled_wall, "tool": spy})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update({"n": box.manifest.n, "wall": child.seconds, "plain_wall": plain_seconds,
                   "processed": facts["processed"], "sampled": sampled})
    return result


def render(r: dict[str, Any]) -> str:
    lines: list[str] = []
    sampled = r.get("sampled")
    if sampled:
        lines += [
            f"**Sampling (py-spy, 250 Hz, idle waits included)** over {r['n']:,} messages: "
            f"{fmt(sampled['wall'], 1)} s under py-spy vs {fmt(r['plain_wall'], 1)} s without; "
            f"{sampled['samples']:,} samples. Own time is the innermost Python frame (C calls such as "
            "`sqlite3.execute` or `socket.recv` count for the Python function that made them).",
            "",
            table(["component (own time)", "% of wall time"],
                  [[c["component"], fmt(c["pct"], 1)] for c in sampled["components"] if c["pct"] >= 0.5]),
            "",
            table(["function (inclusive, wrappers omitted)", "inclusive %", "own %"],
                  [[f"`{h['function']}`", fmt(h["incl_pct"], 1), fmt(h["own_pct"], 1)]
                   for h in sampled["hot"]]),
            "",
            table(["function (own time)", "own %"],
                  [[f"`{h['function']}`", fmt(h["own_pct"], 1)] for h in sampled["own"]]),
            "",
        ]
    else:
        lines += ["py-spy not found (set $PY_SPY or install it outside the project venv); cProfile only.", ""]
    lines += [
        f"**cProfile**: `python -m cProfile refmail run --once --no-send` over {r['n']:,} messages: "
        f"{fmt(r['wall'], 1)} s "
        f"under the profiler vs {fmt(r['plain_wall'], 1)} s without "
        f"({fmt(r['wall'] / r['plain_wall'], 1)}× profiler overhead); {fmt(r['total'], 1)} s of profiled "
        "time. Percentages are of the profiled total.",
        "",
        "Own time by component:",
        "",
        table(["component", "own time %", "s"],
              [[c["component"], fmt(c["pct"], 1), fmt(c["seconds"], 2)]
               for c in r["components"] if c["pct"] >= 0.5]),
        "",
        "Top functions by cumulative time (entry points and wrappers omitted):",
        "",
        table(["function", "calls", "cumulative %", "own %"],
              [[f"`{h['function']}`", f"{h['calls']:,}", fmt(h["cum_pct"], 1), fmt(h["own_pct"], 1)]
               for h in r["hot"]]),
        "",
        "Top functions by own time:",
        "",
        table(["function", "calls", "own %"],
              [[f"`{h['function']}`", f"{h['calls']:,}", fmt(h["own_pct"], 1)] for h in r["own"]]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print(render(run(args.n, args.seed, args.top)))


if __name__ == "__main__":
    main()

#: What is left between the measured ingest and the target, written 2026-12-03 from that day's
#: run (stage table and profile); the lead keeps it current, this module only measures.
PLAN = """### What is left between 515 and 2,500 messages/s

2,500 messages/s is 0.40 ms of wall time a message. The stage table below (same run) puts
each necessary piece of work above that on its own:

- **Applying to SQLite and planning, in the daemon's process: 1.19 ms a message** with one
  transaction per batch (841 msg/s if it were the only cost). SQLite has one writer, so this
  part is serial by nature. Per message: the duplicate lookup, the referral, its parties, its
  first event, its thread Message-ID, the processed-message record and the mailbox position
  (14.6 statements on average), and for every intro inside the backfill window the
  acknowledgement rendered (jinja2, text and HTML), composed, signed and queued — `Planner.plan`
  is 6.7 % of the profile for the 453 of 10,000 messages that get one.
- **Classification: 1.29 ms a message on one core** (773 msg/s), 1,096 msg/s on both. Parsing
  is now the small part (0.45 ms, at the compat32 floor of 0.47 ms); the rest is reading the
  roles from the text in four languages, cutting quoted history and signatures from replies,
  inline-forward detection and HTML to text — the work that makes a referral right.

With both cores busy, the two stages overlap at best into about 800–1,100 msg/s on this
machine; the measured 515 msg/s also pays IMAP (`fetch_new` 5 % of the profile), the
`message_key` header parse for deduplication (5 %, before classification so that mail seen
before costs nothing more) and the process pool's hand-offs. Reaching 2,500 msg/s would need
both stages about three times cheaper: apply with fewer statements still (one multi-row insert
per batch for messages and events, parties folded into the referral row) and the
acknowledgements rendered after the commit rather than inside it; and the classifier's text
work in a compiled core. Neither is a tuning step; for a first start of 10,000 messages the
difference is 20 s against 4 s, once, and after that refmail reads each new intro within
0.15 s. We stop here and say so.
"""
