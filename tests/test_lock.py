"""One daemon per database: the flock on ``<database>.lock``, across real processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from refmail.errors import LockError, RefmailError, StoreError
from refmail.storage.lock import DaemonLock, lock_path_for

# A stand-in for `refmail run`: take the lock, say so, hold it until stdin closes.
HOLDER = """
import sys
from refmail.errors import LockError
from refmail.storage.lock import DaemonLock
try:
    lock = DaemonLock(sys.argv[1])
    lock.acquire()
except LockError as exc:
    print(f"refmail: {exc}", file=sys.stderr)
    sys.exit(1)
print("locked", flush=True)
sys.stdin.read()
"""


def start(database: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Every process a test starts is killed and reaped, whatever happens."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_lock_file_is_beside_the_database_and_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "refmail.db"
    old = os.umask(0)  # even with a permissive umask
    try:
        with DaemonLock(database) as lock:
            assert lock.path == lock_path_for(database) == tmp_path / "refmail.db.lock"
            assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
            assert lock.path.read_text() == f"{os.getpid()}\n"
    finally:
        os.umask(old)
    assert lock.path.read_text() == ""  # no stale PID once released


def test_second_lock_in_the_same_process_is_refused_then_granted(tmp_path: Path) -> None:
    database = tmp_path / "refmail.db"
    first = DaemonLock(database)
    first.acquire()
    with pytest.raises(LockError) as caught:
        DaemonLock(database).acquire()
    assert caught.value.pid == os.getpid()
    assert f"(PID {os.getpid()})" in str(caught.value)
    assert isinstance(caught.value, StoreError) and isinstance(caught.value, RefmailError)
    first.release()
    with DaemonLock(database) as second:
        assert second.held
    assert not second.held


def test_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot create the daemon lock file"):
        DaemonLock(tmp_path / "missing-dir" / "refmail.db").acquire()


def test_second_daemon_is_refused_and_kill_9_releases_the_lock(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    database = tmp_path / "refmail.db"
    first = start(database)
    processes.append(first)
    assert first.stdout is not None
    assert first.stdout.readline() == "locked\n"

    second = start(database)
    processes.append(second)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one clear line, no traceback
    assert f"another refmail daemon (PID {first.pid}) is already running on {database}" in lines[0]

    # SIGKILL: no cleanup code runs; the kernel drops the flock with the process.
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert lock_path_for(database).read_text() == f"{first.pid}\n"  # stale text, no lock

    third = start(database)
    processes.append(third)
    assert third.stdout is not None
    assert third.stdout.readline() == "locked\n"
    assert lock_path_for(database).read_text() == f"{third.pid}\n"
    out, err = third.communicate(input="", timeout=60)
    assert third.returncode == 0, err
