"""The token file: a saved sign-in (the refresh token) and the current access token.

Written by ``refmail oauth login`` and rewritten whenever tokens change —
providers rotate refresh tokens on every use (Microsoft: "replace themselves
with a fresh token upon every use"), so a new one must be on disk before the
access token that came with it is used: a crash in between would otherwise
leave only the spent one.

Each write goes to a temporary file in the same directory, is flushed to disk
and renamed over the old one (POSIX ``rename`` is atomic), with mode 0600 from
the start: a reader sees the old file or the new one, never half of either,
and nobody but the owner ever sees a token. Processes sharing the file (the
daemon, ``refmail check``, ``refmail oauth status``) take an exclusive
``flock`` on ``FILE.lock`` around read-refresh-write, so two of them never
spend the same rotating refresh token.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from refmail.errors import TokenRefused, TokenUnavailable
from refmail.oauth.redaction import remember

__all__ = ["FORMAT_VERSION", "SavedTokens", "TokenFile"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SavedTokens:
    """What the token file holds. Times are seconds since the epoch."""

    account: str
    provider: str
    flow: str
    client_id: str = ""
    scopes: tuple[str, ...] = ()
    refresh_token: str | None = None
    access_token: str | None = None
    #: When the access token expires and when it was obtained (None: unknown).
    expires_at: float | None = None
    issued_at: float | None = None
    #: The sign-in (``refmail oauth login``) and the last refresh.
    signed_in_at: float | None = None
    refreshed_at: float | None = None
    version: int = field(default=FORMAT_VERSION)

    def with_access(self, token: str, *, expires_at: float | None, issued_at: float,
                    refresh_token: str | None, scope: str | None) -> SavedTokens:
        """This sign-in with a new access token (and the rotated refresh token, if one came)."""
        return replace(
            self,
            access_token=token,
            expires_at=expires_at,
            issued_at=issued_at,
            refresh_token=refresh_token or self.refresh_token,
            scopes=tuple(scope.split()) if scope else self.scopes,
            refreshed_at=issued_at,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedTokens:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["scopes"] = tuple(values.get("scopes") or ())
        saved = cls(**values)
        remember(saved.access_token, saved.refresh_token)
        return saved


class TokenFile:
    """One token file on disk (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def stamp(self) -> tuple[int, int, int] | None:
        """Identifies the file's current version (inode, size, mtime); None when missing."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self) -> SavedTokens | None:
        """The saved tokens; None when there is no file. A damaged file is a :class:`TokenRefused`."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenRefused(
                f"cannot read the OAuth2 token file {self.path}: {exc.strerror or exc}",
                hint="it must be readable (and writable) by the user refmail runs as",
            ) from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return SavedTokens.from_json(data)
        except (ValueError, TypeError) as exc:
            raise TokenRefused(
                f"the OAuth2 token file {self.path} is damaged ({exc})",
                hint="run `refmail oauth login` to sign in again",
            ) from None

    def write(self, saved: SavedTokens) -> None:
        """Replace the file atomically, owner-only (see the module docstring)."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{self.path.name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(saved.to_json(), out, indent=2)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                self._hand_to_owner(tmp)
                tmp.replace(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            with contextlib.suppress(OSError):  # the rename itself on disk
                dir_fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise TokenRefused(
                f"cannot write the OAuth2 token file {self.path}: {exc.strerror or exc}",
                hint="the directory must be writable by the user refmail runs as ([oauth2] token_file)",
            ) from None

    def _hand_to_owner(self, path: Path) -> None:
        """Run as root (``sudo refmail oauth login``), give the file to the directory's owner.

        The daemon runs as its own user and could not read a root-owned 0600
        file; the directory it lives in (``/var/lib/refmail``) is that user's.
        """
        if os.geteuid() != 0:
            return
        st = path.parent.stat()
        if st.st_uid != 0:
            os.chown(path, st.st_uid, st.st_gid)

    def owner_only(self) -> bool:
        """True when neither group nor others may read the file."""
        try:
            return self.path.stat().st_mode & 0o077 == 0
        except OSError:
            return False

    @contextlib.contextmanager
    def locked(self, timeout: float = 30.0) -> Iterator[None]:
        """Hold the exclusive lock of this token file (waiting up to ``timeout`` seconds)."""
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._hand_to_owner(self.lock_path)  # `sudo refmail oauth login` must not lock the daemon out
        except OSError as exc:
            raise TokenRefused(
                f"cannot create the lock file {self.lock_path}: {exc.strerror or exc}",
                hint="the token file's directory must be writable by the user refmail runs as",
            ) from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TokenUnavailable(
                            f"another refmail process has held {self.lock_path} for more than {timeout:g}s"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock
