"""Mail on disk for ``refmail import``: ``.eml`` files, mbox files and Maildirs.

Reading is kept apart from tracking: these functions only yield raw bytes with
a label saying where each message came from, so the same
:class:`~refmail.workflow.tracker.Tracker` handles imported and fetched mail alike.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from refmail.errors import SourceError

__all__ = ["MailSource", "iter_messages", "open_sources"]


@dataclass(frozen=True)
class MailSource:
    """One path to import from and what it is: ``eml``, ``mbox`` or ``maildir``."""

    path: Path
    kind: str

    def count(self) -> int:
        """How many messages it holds (for a progress bar)."""
        if self.kind == "eml":
            return 1
        if self.kind == "maildir":
            return sum(
                1
                for sub in ("cur", "new")
                for name in os.listdir(self.path / sub)
                if not name.startswith(".")
            )
        box = mailbox.mbox(self.path, create=False)
        try:
            return len(box.keys())
        finally:
            box.close()

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """``(label, raw bytes)`` for each message, in file order."""
        if self.kind == "eml":
            yield str(self.path), self.path.read_bytes()
            return
        if self.kind == "maildir":
            # Read the files directly, oldest first by name (Maildir names
            # start with the delivery time), without mailbox.Maildir's parse.
            names = sorted(
                (sub, name)
                for sub in ("new", "cur")
                for name in os.listdir(self.path / sub)
                if not name.startswith(".")
            )
            for sub, name in sorted(names, key=lambda item: _delivery_order(item[1])):
                file = self.path / sub / name
                yield str(file), file.read_bytes()
            return
        box = mailbox.mbox(self.path, create=False)
        try:
            for index, key in enumerate(box.iterkeys(), start=1):
                yield f"{self.path}#{index}", box.get_bytes(key)
        finally:
            box.close()


def _looks_like_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def open_sources(paths: Iterable[str | os.PathLike[str]]) -> list[MailSource]:
    """Resolve each path to a :class:`MailSource`, or raise :class:`SourceError`.

    A directory is a Maildir when it has ``cur``/``new``/``tmp``; otherwise its
    ``.eml`` files (recursively) are imported. A file starting with ``From ``
    is an mbox; any other file is one message.
    """
    sources: list[MailSource] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        if path.is_dir():
            if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
                sources.append(MailSource(path, "maildir"))
                continue
            emls = sorted(p for p in path.rglob("*.eml") if p.is_file())
            if not emls:
                raise SourceError(
                    f"{path}: a directory that is neither a Maildir (cur/new/tmp) "
                    "nor holds any .eml files"
                )
            sources.extend(MailSource(p, "eml") for p in emls)
            continue
        try:
            kind = "mbox" if _looks_like_mbox(path) else "eml"
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
        sources.append(MailSource(path, kind))
    return sources


def iter_messages(sources: Iterable[MailSource]) -> Iterator[tuple[str, bytes]]:
    for source in sources:
        try:
            yield from source.messages()
        except OSError as exc:
            raise SourceError(f"{source.path}: cannot read: {exc.strerror or exc}") from None


_MAILDIR_NAME = re.compile(r"^(\d+)\.(?:M(\d+))?(?:P\d+)?(?:Q(\d+))?")


def _delivery_order(name: str) -> tuple[int, int, int, str]:
    """A Maildir file name as its delivery order: seconds, then microseconds,
    then the sequence number. Python's ``mailbox`` (and others) write
    ``1795442531.M8123P42Q3.host`` with the microseconds unpadded, so in one
    second "M99999" sorts after "M123456" as text; as numbers it does not."""
    m = _MAILDIR_NAME.match(name)
    if m is None:
        return (0, 0, 0, name)
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), name)
