"""Start-up: ``refmail --help`` wall time beside ``python -c pass``.

Both are child processes started the same way, alternately, ``--runs`` times
(default 20); the median is reported with the interpreter's own start-up as
the floor, and ``python -X importtime`` names the slowest imports when the
target (0.3 s) is missed. Target: ``refmail --help`` under 0.3 s.

Run: .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import REFMAIL, ROOT, fmt, median, run_child, table, verdict

TARGET_S = 0.3


def import_profile(limit: int = 8) -> list[tuple[str, float]]:
    """The slowest cumulative imports of ``refmail.cli.commands`` (``-X importtime``), in ms."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import refmail.cli.commands"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # nesting is shown by indentation
        if depth <= 2:
            rows.append((f"{name.strip()} (depth {depth})", int(cumulative) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:limit]


def run(runs: int = 20) -> dict[str, Any]:
    refmail: list[float] = []
    python: list[float] = []
    for _ in range(runs):
        python.append(run_child([sys.executable, "-c", "pass"]).check().seconds)
        refmail.append(run_child([*REFMAIL, "--help"]).check().seconds)
    return {"runs": runs, "refmail": refmail, "python": python, "refmail_median": median(refmail),
            "python_median": median(python), "imports": import_profile()}


def render(r: dict[str, Any]) -> str:
    ref, py = r["refmail_median"], r["python_median"]
    rows = [
        ["floor: `python -c pass` (same interpreter)", fmt(py, 3), fmt(min(r["python"]), 3),
         fmt(max(r["python"]), 3)],
        ["**`refmail --help`**", fmt(ref, 3), fmt(min(r["refmail"]), 3), fmt(max(r["refmail"]), 3)],
    ]
    imports = ", ".join(f"`{name}` {fmt(ms, 0)} ms" for name, ms in r["imports"])
    return "\n".join([
        table([f"command ({r['runs']} runs each, alternating)", "median s", "min s", "max s"], rows),
        "",
        f"refmail's own share: {fmt(ref - py, 3)} s over the bare interpreter. Slowest imports of "
        f"`refmail.cli.commands` (`-X importtime`, cumulative): {imports}.",
        "",
        table(["target (issue 6)", "measured", "status"], [[t, m, verdict(ok)] for t, m, ok in targets(r)]),
    ])


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    ref = r["refmail_median"]
    return [(f"start-up: `refmail --help` under {TARGET_S} s", f"{fmt(ref, 3)} s", ref < TARGET_S)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.runs)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
