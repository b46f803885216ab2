"""Every benchmark of ``bench/`` at a tiny size, so that ``make test`` keeps them working.

No timing is asserted — the machine running the tests may be anything. What
is asserted is that each benchmark produces its figures, that refmail did the
work being timed (every intro tracked, every message accepted by the server
and marked sent, every referral streamed), and that the report renders with
its targets. ``bench/run_all.py`` is exercised through :func:`run_all.write`
on the results gathered here.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import corpus  # noqa: E402
import dbscale  # noqa: E402
import hotspots  # noqa: E402
import ingest  # noqa: E402
import latency  # noqa: E402
import memory  # noqa: E402
import reconnect  # noqa: E402
import run_all  # noqa: E402
import send  # noqa: E402
import stages  # noqa: E402
import startup  # noqa: E402
from harness import percentile  # noqa: E402

pytestmark = pytest.mark.servers

SEED = 11


def _figure(value: Any) -> bool:
    return isinstance(value, float | int) and not math.isnan(value) and value > 0


@pytest.fixture(scope="module")
def box() -> Iterator[corpus.LoadedMailbox]:
    with corpus.loaded_mailbox(50, seed=SEED) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    """Filled by the tests below, read by the report test at the end of the module."""
    return {}


def test_corpus_is_deterministic_realistic_and_loaded(box: corpus.LoadedMailbox) -> None:
    group = corpus.make_group(SEED)
    anchor = corpus.default_anchor()
    first = [m.raw for m in corpus.generate(SEED, 30, group=group, anchor=anchor)]
    again = [m.raw for m in corpus.generate(SEED, 30, group=group, anchor=anchor)]
    other = [m.raw for m in corpus.generate(SEED + 1, 30, group=group, anchor=anchor)]
    assert first == again
    assert first != other
    m = box.manifest
    assert m.n == 50 and sum(m.kinds.values()) == 50
    assert m.kinds["intro"] >= 35  # about nine in ten
    assert m.min_size > 2500 and m.max_size < 7000
    # Dovecot indexed exactly what was written, as its own files.
    with box.dovecot.imap(corpus.TRACKER_USER) as client:
        assert len(client.search("ALL")) == 50
    assert b"multipart/alternative" in first[0] and b"text/html" in first[0]


def test_ingest_measures_every_contestant(box: corpus.LoadedMailbox, results: dict[str, Any]) -> None:
    r = ingest.run(50, 1, SEED, box=box)
    results["ingest"] = r
    for key in ("bare", "parse_default", "parse_compat32", "refmail"):
        assert _figure(r["medians"][key]), key
    assert r["fetched"] == 50
    assert r["all_tracked"]
    assert r["refmail_facts"]["referrals"] >= box.manifest.intros
    assert _figure(r["refmail_rss_mb"][0])
    if shutil.which("mbsync"):
        assert _figure(r["medians"]["mbsync_fsync"]) and r["mbsync_files"] == [50, 50]
    text = ingest.render(r)
    assert "bare fetch" in text and "ingest: refmail ≥ 2,500 messages/s" in text


def test_profile_names_refmail_functions(box: corpus.LoadedMailbox, results: dict[str, Any]) -> None:
    r = hotspots.run(50, SEED, 20, box=box, plain_seconds=results.get("ingest", {}).get("medians", {})
                     .get("refmail"), sample=False)
    results["profile"] = r
    assert r["processed"] == 50
    assert any("refmail/" in h["function"] for h in r["hot"])
    assert any(c["component"].startswith("refmail/") for c in r["components"])
    assert "cProfile" in hotspots.render(r)


def test_sampled_profile_is_read_from_py_spy_raw_output(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        "<module> (refmail:6);Tracker.process (refmail/tracker.py:166);"
        "parse_message (refmail/message.py:564) 3\n"
        "<module> (refmail:6);Tracker.process (refmail/tracker.py:170);"
        "Store.transaction (refmail/store.py:91) 1\n"
    )
    r = hotspots.analyse_samples(raw)
    assert r["samples"] == 4
    hot = {h["function"]: h for h in r["hot"]}
    assert "refmail/tracker.py Tracker.process" not in hot  # in every sample: the whole run, not a hotspot
    assert hot["refmail/message.py parse_message"]["incl_pct"] == 75.0
    assert hot["refmail/message.py parse_message"]["own_pct"] == 75.0
    assert {c["component"]: c["pct"] for c in r["components"]}["refmail/store.py"] == 25.0


def test_memory_reports_peak_rss(results: dict[str, Any]) -> None:
    r = memory.run(50, SEED)
    results["memory"] = r
    assert _figure(r["big"]["max_rss_mb"]) and _figure(r["floor_mb"])
    assert r["big"]["referrals"] == r["big"]["intros"] and r["big"]["processed"] == 50
    assert "peak RSS" in memory.render(r)


def test_latency_measures_idle_and_polling(results: dict[str, Any]) -> None:
    r = {
        "floor": {"count": 2, "seen": 0, "p50": 0.0, "p95": 0.0, "max": 0.0},
        "idle": latency.measure(3, idle=True, seed=SEED),
        "poll": latency.measure(2, idle=False, poll_interval="1s", seed=SEED),
    }
    floor = latency.idle_floor(2, SEED)
    r["floor"].update(seen=len(floor), p50=percentile(floor, 50), p95=percentile(floor, 95), max=max(floor))
    results["latency"] = r
    assert r["floor"]["seen"] == 2
    for mode in ("idle", "poll"):
        assert r[mode]["missed"] == 0
        assert len(r[mode]["latencies"]) == r[mode]["count"]
        assert all(x > 0 for x in r[mode]["latencies"])
    assert "IDLE p50" in latency.render(r)


def test_reconnect_measures_the_way_back_after_a_restart() -> None:
    r = reconnect.run(rounds=1, downs=(0.0,), floor_count=1)
    quick = r["down_0"]
    assert quick["missed"] == 0 and len(quick["values"]) == 1 and _figure(quick["values"][0])
    assert r["warnings"] == 1 and r["restored"] == 1  # one outage: one WARNING, one "restored"
    assert "restarted at once" in reconnect.render(r)
    assert [name for name, _measured, _ok in reconnect.targets(r)]


def test_send_delivers_every_due_message(results: dict[str, Any]) -> None:
    r = send.run(20, 1, SEED)
    results["send"] = r
    (refmail_run,) = r["runs"]["refmail"]
    (floor_run,) = r["runs"]["floor"]
    assert refmail_run["sent"] == refmail_run["accepted"] == refmail_run["marked_sent"] == 20
    assert floor_run["accepted"] == 20
    assert _figure(r["rates"]["refmail"]) and _figure(r["rates"]["floor"])
    assert "durable" in send.render(r)


def test_dbscale_explains_and_streams(results: dict[str, Any]) -> None:
    r = dbscale.run(2000, 20, SEED)
    results["dbscale"] = r
    g, s = r["figures"], r["stream"]
    assert g["due"]["rows"] == 20
    assert g["plan_all"]["queued"] == 0  # the steady state: nothing new is due
    for key in ("ids", "due"):
        assert g[key]["explain"] and all(e["plan"] for e in g[key]["explain"])
        assert all(_figure(x) for x in g[key]["ms"])
    assert s["all"]["items"] == 2000 and s["all"]["valid"]
    assert _figure(s["all"]["max_rss_mb"])
    assert "EXPLAIN QUERY PLAN" in dbscale.render(r)


def test_startup_compares_with_the_interpreter(results: dict[str, Any]) -> None:
    r = startup.run(2)
    results["startup"] = r
    assert len(r["refmail"]) == len(r["python"]) == 2
    assert _figure(r["refmail_median"]) and _figure(r["python_median"])
    assert "refmail --help" in startup.render(r)


def test_stages_time_each_part_of_the_ingest(results: dict[str, Any]) -> None:
    r = stages.run(40, SEED, refmail_ms=2.0)
    results["stages"] = r
    assert len(r["stages"]) == 8 and all(_figure(ms) for ms in r["stages"].values())
    assert _figure(r["classify_single_s"]) and _figure(r["classify_pool2_s"])
    assert "both cores" in stages.render(r)


def test_report_has_every_section_and_target(results: dict[str, Any], tmp_path: Path) -> None:
    renders = {
        "ingest": (ingest.render, ingest.targets), "memory": (memory.render, memory.targets),
        "latency": (latency.render, latency.targets), "send": (send.render, send.targets),
        "dbscale": (dbscale.render, dbscale.targets), "startup": (startup.render, startup.targets),
        "profile": (hotspots.render, None), "stages": (stages.render, None),
    }
    missing = set(renders) - set(results)
    if missing:
        pytest.fail(f"earlier benchmark tests did not run: {sorted(missing)}")
    sections = []
    for key, (render, targets) in renders.items():
        sec = run_all.Section(key, key.title(), f"bench/{key}.py", "its floor")
        sec.result = results[key]
        sec.text = render(results[key])
        sec.targets = targets(results[key]) if targets else []
        sections.append(sec)
    out = tmp_path / "RESULTS.md"
    run_all.write(sections, out, run_all.Sizes.quick(), "now", 1.0, "load 0")
    text = out.read_text()
    for heading in ("## Machine", "## Targets", "## Ingest", "## Memory", "## Latency", "## Send",
                    "## Dbscale", "## Startup", "## Profile", "## Stages"):
        assert heading in text, heading
    assert "Dovecot" in text and "nproc" in text
    names = [t for sec in sections for t, _measured, _ok in sec.targets or []]
    assert len(names) >= 12
    for name in names:  # in the summary and in its own section
        assert text.count(f"| {name} |") == 2, name
