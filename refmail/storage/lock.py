"""One daemon per database: an exclusive ``flock`` on ``<database>.lock``.

Two daemons on one database would both fetch the same new mail and both send
what is due: duplicate nudges are the thing refmail must never do. SQLite's own
locking keeps the file consistent, not the work unique, so the daemon holds
this lock for as long as it runs.

Why ``flock(2)`` on a separate file, and not a PID file or a lock on the
database itself:

- the kernel releases a ``flock`` when the holder's last file descriptor
  closes — including on SIGKILL, a crash or power loss — so there is never a
  stale lock to clean up by hand, unlike a PID file whose process may be gone
  (or whose PID may now belong to someone else);
- SQLite takes POSIX ``fcntl`` locks on the database, which are per process
  and dropped when *any* descriptor of the file closes; a separate file keeps
  the two mechanisms apart.

The file holds the holder's PID as text, only so that the refusal can name it;
the lock itself is the ``flock``. The file is created owner-only (0600), like
the database, and is never deleted: unlinking a lock file races with a process
that has just opened it and would then lock a file nobody else sees.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from refmail.errors import LockError

__all__ = ["DaemonLock", "lock_path_for"]


def lock_path_for(database: str | os.PathLike[str]) -> Path:
    """``refmail.db`` → ``refmail.db.lock`` (beside the database)."""
    path = Path(database)
    return path.with_name(path.name + ".lock")


def _holder(fd: int) -> int | None:
    """The PID written in the lock file by its holder, if readable."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class DaemonLock:
    """An exclusive, non-blocking lock on ``<database>.lock``; a context manager.

    ``DaemonLock(database)`` takes the path of the *database*; the lock file is
    :func:`lock_path_for` of it. Entering raises :class:`~refmail.errors.LockError`
    at once (never waits) when another process holds the lock, with a one-line
    message naming that process's PID::

        with DaemonLock(config.database_path()):
            daemon.run()

    The lock is released on exit, and by the kernel if the process dies.
    """

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.database = Path(database)
        self.path = lock_path_for(self.database)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LockError` naming the holder."""
        if self._fd is not None:
            return
        try:
            # O_CLOEXEC: a program the daemon starts must not inherit (and so
            # keep alive) the lock after the daemon itself has died.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LockError(f"{self.path}: cannot create the daemon lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockError(f"{self.path}: cannot lock: {exc.strerror}") from None
            who = f"PID {pid}" if pid is not None else "another process"
            raise LockError(
                f"another refmail daemon ({who}) is already running on {self.database} "
                f"(lock: {self.path}); stop it first",
                pid=pid,
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            pass  # the PID is only for the message; the flock is the lock
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (and blank the PID, so it is never shown stale)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
