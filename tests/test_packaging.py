"""refmail installs like any other package: a wheel, outside the checkout, runs.

The wheel is built from this checkout with pip (as ``pip install .`` builds
it), installed into a fresh virtual environment in a temporary directory, and
``refmail demo`` and ``refmail parse`` are run from a directory that is not the
checkout, so nothing can be read from the source tree by accident. The build
must print no warning: a user who sees pages of setuptools deprecations stops
trusting the rest.

The new environment gets refmail's dependencies from this test run's own
environment (a ``.pth`` line), not from PyPI: the test checks refmail's
packaging, not the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_INTRO = ROOT / "refmail" / "demo" / "data" / "inbox" / "02-intro-cc-gmail.eml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "refmail"
    # Build from a copy of what git tracks, as a clean clone would: no build/, no .venv.
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        dest = source / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        elif src.is_file():
            shutil.copy2(src, dest)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list(out.glob("refmail-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], build.stdout + build.stderr


def test_building_the_wheel_prints_no_warning(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    # "byte-compiling is disabled" only echoes PYTHONDONTWRITEBYTECODE of the environment.
    warnings = [
        line for line in output.splitlines() if "warning" in line.lower() and "byte-compil" not in line
    ]
    assert warnings == [], "\n".join(warnings)


@pytest.fixture(scope="module")
def installed(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         str(wheel[0])],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    # The dependencies, from this environment; after the new site-packages on sys.path,
    # so the wheel's refmail is the one imported.
    Path(purelib, "refmail-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _run(
    venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "refmail"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONSAFEPATH": "1", **(env or {})},
    )


def test_the_installed_refmail_is_the_wheel(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import refmail, refmail.render; print(refmail.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert str(installed) in where and str(ROOT) not in where


def test_wheel_runs_the_demo_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, "demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    sent = list((tmp_path / "demo").rglob("*.eml"))
    assert len(sent) > 20, "the demo wrote too few messages"
    assert list((tmp_path / "demo").rglob("*.html")), "the demo wrote no HTML"


def test_wheel_parses_a_message_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    group = tmp_path / "group.toml"
    shutil.copy(ROOT / "refmail" / "demo" / "data" / "group.toml", group)
    result = _run(installed, "--config", str(group), "parse", str(SAMPLE_INTRO), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["kind"] == "intro"
    assert parsed["referrer"] and len(parsed["parties"]) == 2


def test_init_finds_the_packaged_example(installed: Path, tmp_path: Path) -> None:
    target = tmp_path / "refmail.toml"
    result = _run(
        installed, "--config", str(target), "init", "--defaults",
        "--group-name", "Test Group", "--tracking-address", "refs@group.example",
        "--admin", "admin@group.example", "--imap-host", "mail.group.example", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[group]" in target.read_text(encoding="utf-8")
