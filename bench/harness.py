"""Shared plumbing for the benchmarks: timing, child processes, the machine, tables.

Every benchmark measures refmail *and* its floor in the same run on the same
machine, because absolute figures mean little across machines while ratios
travel well. Child processes are timed from spawn to exit and their peak
resident memory comes from GNU ``/usr/bin/time -f %M``.

Why not ``wait4``'s ``ru_maxrss`` directly: Linux carries the high-water RSS
of the process image that ``exec`` replaces into the new program's
``ru_maxrss`` (``exec_mmap`` → ``setmax_mm_hiwater_rss``), so a child forked
from a 300 MB benchmark process reports at least 300 MB whatever it really
used. ``time`` is a small fresh process; what it forks inherits only its few
hundred kilobytes. Without ``/usr/bin/time`` the peak falls back to the
largest ``VmHWM`` sampled from /proc while the child ran.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TESTS = ROOT / "tests"
VENV_BIN = Path(sys.executable).parent
for _path in (ROOT, TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

#: The console script installed by ``pip install -e .``; falls back to ``-m``.
REFMAIL = [str(VENV_BIN / "refmail")] if (VENV_BIN / "refmail").exists() else [
    sys.executable, "-c", "from refmail.cli.commands import main; main()"
]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) by linear interpolation between ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ChildRun:
    """One child process: wall time, peak RSS, exit status, output, RSS samples."""

    argv: list[str]
    seconds: float
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str
    #: ``(seconds since start, RSS in kB)`` sampled from /proc while it ran.
    rss_samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def max_rss_mb(self) -> float:
        return self.max_rss_kb / 1024

    def check(self) -> ChildRun:
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv)} exited with {self.returncode}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-4000:]}"
            )
        return self


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def _proc_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _measured_pid(pid: int) -> int:
    """The program under measurement: ``time``'s child when wrapped, else ``pid`` itself."""
    if not GNU_TIME:
        return pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if children else pid


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout_path: Path | None = None,
    sample_every: float | None = None,
    timeout: float | None = None,
) -> ChildRun:
    """Run ``argv`` to completion: wall time and the peak RSS of exactly this program.

    ``stdout_path`` sends standard output to a file (e.g. ``/dev/null`` for a
    million JSON lines) instead of a pipe. ``sample_every`` records the
    child's RSS over time, to show whether memory grows with the work done.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    out_file = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115 - closed below
    err_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-stderr-{os.getpid()}-{time.monotonic_ns()}"
    err_file = open(err_path, "w+b")  # noqa: SIM115 - a file, not a pipe: no deadlock on big output
    samples: list[tuple[float, int]] = []
    hwm = [0]
    rss_file = err_path.with_suffix(".rss")
    command = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME else list(argv)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out_file if out_file else subprocess.PIPE,
            stderr=err_file,
        )
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(sample_every or 0.05):
                pid = _measured_pid(proc.pid)
                rss = _proc_kb(pid, "VmRSS")
                if rss is not None and sample_every:
                    samples.append((time.perf_counter() - start, rss))
                hwm[0] = max(hwm[0], _proc_kb(pid, "VmHWM") or 0)

        sampler = threading.Thread(target=sample, daemon=True) if sample_every or not GNU_TIME else None
        if sampler:
            sampler.start()
        stdout = b""
        if out_file is None:
            assert proc.stdout is not None
            # Read before waiting: a child writing more than a pipe holds would block.
            stdout = proc.stdout.read()
            proc.stdout.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        seconds = time.perf_counter() - start
        stop.set()
        if sampler:
            sampler.join()
        err_file.seek(0)
        stderr = err_file.read().decode(errors="replace")
        max_rss = hwm[0]
        if GNU_TIME:
            # "Command exited with non-zero status N" may precede the figure.
            words = rss_file.read_text().split() if rss_file.exists() else []
            max_rss = int(words[-1]) if words and words[-1].isdigit() else 0
    finally:
        if out_file:
            out_file.close()
        err_file.close()
        err_path.unlink(missing_ok=True)
        rss_file.unlink(missing_ok=True)
    return ChildRun(
        list(argv), seconds, max_rss, proc.returncode,
        stdout.decode(errors="replace"), stderr, samples,
    )


def _first_line(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    mem = "unknown"
    try:
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if match:
            mem = f"{int(match.group(1)) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "dovecot": _first_line(["dovecot", "--version"]),
        "mbsync": _first_line(["mbsync", "--version"]) if shutil.which("mbsync") else "not installed",
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "—"
    return f"{value:,.{digits}f}"
