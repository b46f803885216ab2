"""What a change to classification changes: every message at hand, classified by two versions.

A refactor of :mod:`refmail.reading` must change nothing; a new rule should
change exactly the messages it is about. This classifies every message the
repository and the shared corpora hold — ``tests/data``, the demo inbox,
``../shared/corpus`` and ``../shared/samples``, plus generated mail of
``bench/corpus.py`` and any ``--extra`` files — under several configs (the
test group, open and strict variants of it, the demo's, the samples', the
bench's), once with this checkout and once with ``--base`` (a git revision,
exported with ``git archive``), and compares the full results (the ``refmail
parse --json`` object, the names seen and the ``as_intro`` reading).

It prints how many classifications differ, each change of rule (or of kind and
reason for a base without rule names) with its count, and the first
``--show`` differences in full. Fields only one side has (a new field of the
JSON contract) are listed once and left out of the comparison. Exit status 1
when anything differs and ``--check`` is given.

Run: .venv/bin/python bench/classify_diff.py [--base main] [--n 1500] [--show 5] [--check]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The shared corpora, found as tests/shared.py finds them; without them the repository's mail only.
SHARED = next(
    (p for p in (Path(os.environ.get("REFMAIL_SHARED", "/nonexistent")), ROOT.parent / "shared",
                 Path("/work/shared")) if (p / "corpus").is_dir()),
    ROOT / "missing-shared",
)
_SKIP_SUFFIXES = {".toml", ".json", ".md", ".py"}


# -- the inputs: written once, read by both versions --------------------------------------
def _message_files(extra: list[Path]) -> list[Path]:
    bases = [ROOT / "tests" / "data", ROOT / "refmail" / "demo" / "data" / "inbox",
             SHARED / "corpus", SHARED / "samples", *extra]
    files: list[Path] = []
    for base in bases:
        if base.is_file():
            files.append(base)
        elif base.is_dir():
            files += sorted(p for p in base.rglob("*") if p.is_file() and p.suffix not in _SKIP_SUFFIXES)
    return files


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _configs() -> dict[str, dict[str, Any]]:
    """Config documents by name, as plain data both versions can validate: the test
    group, the same group open to anyone and requiring authenticated senders, the demo's."""
    group = _toml(ROOT / "tests" / "data" / "mail" / "group.toml")
    strict = {"require_authenticated_sender": True, "authserv_id": "mx.harbornet.example"}
    configs = {
        "group": group,
        "group-open": {**group, "group": {**group["group"], "open_membership": True}},
        "group-strict": {**group, "security": {**group.get("security", {}), **strict}},
        "demo": _toml(ROOT / "refmail" / "demo" / "data" / "group.toml"),
    }
    samples = SHARED / "samples" / "group.toml"
    if samples.exists():
        configs["samples"] = _toml(samples)
    return configs


def write_inputs(work: Path, n: int, extra: list[Path]) -> int:
    """Messages as numbered files and ``jobs.json``: which message under which config."""
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    raw_dir = work / "raw"
    raw_dir.mkdir()
    seen: dict[bytes, str] = {}
    names: list[str] = []

    def add(raw: bytes, label: str) -> str:
        if raw not in seen:
            seen[raw] = f"{len(seen):06d}"
            (raw_dir / seen[raw]).write_bytes(raw)
            names.append(label)
        return seen[raw]

    configs = _configs()
    files = [add(p.read_bytes(), str(p)) for p in _message_files(extra)]
    jobs = [(m, c) for m in dict.fromkeys(files) for c in configs]
    group = corpus.make_group(7)
    configs["bench"] = tomllib.loads(corpus.config_toml(group, imap_port=1, database="unused.db"))
    jobs += [(add(mail.raw, f"bench corpus #{i}"), "bench") for i, mail in enumerate(corpus.generate(7, n))]
    (work / "jobs.json").write_text(json.dumps({"configs": configs, "jobs": jobs, "labels": names}))
    return len(jobs)


# -- one version's results -------------------------------------------------------------
def _full(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = result.to_json()
    data["names"] = dict(result.names)
    data["as_intro"] = _full(result.as_intro) if result.as_intro is not None else None
    return data


def dump(work: Path, out: Path) -> None:
    """Classify every job with the refmail this interpreter imports (``--dump``)."""
    from refmail.config import config_from_dict
    from refmail.reading.classifier import classify

    spec = json.loads((work / "jobs.json").read_text())
    configs = {name: config_from_dict(data) for name, data in spec["configs"].items()}
    started = time.process_time()
    with out.open("w", encoding="utf-8") as f:
        for message, config in spec["jobs"]:
            result = classify((work / "raw" / message).read_bytes(), configs[config])
            f.write(json.dumps([message, config, _full(result)], ensure_ascii=False) + "\n")
    print(f"{len(spec['jobs'])} classified in {time.process_time() - started:.1f} s CPU", file=sys.stderr)


def _run(work: Path, out: Path, pythonpath: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    subprocess.run([sys.executable, __file__, "--dump", str(work), str(out)], env=env, check=True)


def _export(base: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", base, "refmail"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


# -- the comparison -------------------------------------------------------------------------
def _load(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, c): r for m, c, r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _without(data: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: (_without(v, keys) if isinstance(v, dict) and k == "as_intro" else v)
            for k, v in data.items() if k not in keys}


def _label(result: dict[str, Any]) -> str:
    """The rule that decided (the kind, for a version before rule names)."""
    return str(result.get("rule") or result["kind"])


def compare(base: Path, head: Path, labels: list[str], show: int) -> int:
    old, new = _load(base), _load(head)
    any_old, any_new = next(iter(old.values())), next(iter(new.values()))
    only = (set(any_old) ^ set(any_new))
    if only:
        print(f"fields on one side only (not compared): {', '.join(sorted(only))}")
    changes: collections.Counter[str] = collections.Counter()
    shown = 0
    for key in old:
        a, b = _without(old[key], only), _without(new[key], only)
        if a == b:
            continue
        fields = sorted(k for k in a if a[k] != b.get(k))
        changes[f"{_label(old[key])} → {_label(new[key])} ({', '.join(fields)})"] += 1
        if shown < show:
            shown += 1
            print(f"\n{labels[int(key[0])]} under {key[1]}: {', '.join(fields)}")
            for k in fields:
                print(f"  - {k}: {json.dumps(a[k], ensure_ascii=False)[:300]}")
                print(f"  + {k}: {json.dumps(b[k], ensure_ascii=False)[:300]}")
    total = sum(changes.values())
    print(f"\n{len(old):,} classifications of {len(labels):,} messages: {total:,} differ")
    for change, count in changes.most_common():
        print(f"  {count:6,}  {change}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision to compare with (default: main)")
    parser.add_argument("--n", type=int, default=1500, help="generated bench-corpus messages (default 1500)")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="more message files or folders (repeatable)")
    parser.add_argument("--show", type=int, default=5, help="differences printed in full (default 5)")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when anything differs")
    parser.add_argument("--dump", nargs=2, type=Path, metavar=("WORK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(*args.dump)
        return
    with tempfile.TemporaryDirectory(prefix="refmail-classify-diff-") as tmp:
        work = Path(tmp)
        jobs = write_inputs(work, args.n, args.extra)
        print(f"classifying {jobs:,} message × config pairs with {args.base} and with this checkout…",
              file=sys.stderr)
        _export(args.base, work / "base")
        _run(work, work / "base.jsonl", work / "base")
        _run(work, work / "head.jsonl", ROOT)
        labels = json.loads((work / "jobs.json").read_text())["labels"]
        differ = compare(work / "base.jsonl", work / "head.jsonl", labels, args.show)
    sys.exit(1 if differ and args.check else 0)


if __name__ == "__main__":
    main()
