"""What ``refmail check`` learns of the IMAP folder beyond "it opens".

A folder can open and still not serve refmail well, in ways that would
otherwise show only weeks later: it is read-only (nothing can be flagged),
it keeps no flag refmail could set (PERMANENTFLAGS, RFC 3501 §7.1), its IDLE
accepts clients and tells them nothing (Cyrus without ``idled``), or the
server rewrote 8-bit header bytes to ``X`` on delivery (Cyrus's
``munge8bit``: "Jürgen Müller" became "JXXrgen MXXller"). :class:`FolderProbe`
finds each out with the connection ``check`` already has, read-only except
for the opt-in IDLE test, which APPENDs one message flagged ``\\Seen
\\Deleted`` and removes it again by UID at once (UIDPLUS, RFC 4315).

The parts that only look at text are pure: :func:`munged_words`.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, replace
from email.utils import format_datetime, localtime

from refmail.errors import MailboxError, MailboxUnavailable
from refmail.incoming.mailbox import FAILED_KEYWORD, Mailbox, choose_flag

__all__ = ["FolderProbe", "FolderSurvey", "IdleTest", "munged_words"]

#: How long the IDLE test waits for the server to tell of its message.
IDLE_TEST_SECONDS = 5.0
#: Recent messages whose headers are looked at for X runs.
HEADER_SAMPLE = 50

# Two or more X where a lower-case letter is next to them: each byte of a
# UTF-8 letter (two for "ü") became one X. Real words seldom look like it.
_X_RUN = re.compile(r"\S*(?:[a-z]X{2,}|X{2,}[a-z])\S*")
_FIELDS = ("FROM", "TO", "CC", "SUBJECT")


def munged_words(headers: str) -> list[str]:
    """Words of ``headers`` (From, To, Cc, Subject as received) that look 8-bit-munged."""
    unfolded = re.sub(r"\r?\n[ \t]+", " ", headers)
    found: list[str] = []
    for line in unfolded.splitlines():
        name, _colon, value = line.partition(":")
        if name.strip().upper() in _FIELDS:
            found += [w.strip("<>\"',;()") for w in _X_RUN.findall(value)]
    return found


@dataclass(frozen=True)
class IdleTest:
    """The IDLE test's outcome: told after ``told_after`` seconds, or not within the wait (None)."""

    told_after: float | None
    #: False when the test message could not be removed again (say so: a person must).
    removed: bool = True
    #: How long the test waited for the server to tell.
    waited: float = IDLE_TEST_SECONDS


@dataclass(frozen=True)
class FolderSurvey:
    messages: int
    read_only: bool
    idle: bool
    #: What a message refmail cannot process would be marked with; None: nothing can be.
    flag: str | None
    #: The PERMANENTFLAGS the server announced, as text ("" when it sent none).
    permanent_flags: str
    #: Header words that look rewritten by the server, and in how many messages.
    munged: tuple[str, ...] = ()
    munged_messages: int = 0
    sampled: int = 0
    idle_test: IdleTest | None = None
    #: Why the IDLE test was not run, when it was asked for.
    idle_untested: str | None = None


class FolderProbe(Mailbox):
    """A Mailbox that also reports what ``refmail check`` shows."""

    def survey(self, *, test_idle: bool = False) -> FolderSurvey:
        self.select()
        info = self._select_info or {}
        with self._command("asking for the server's capabilities") as client:
            idle = bool(client.has_capability("IDLE"))
            uidplus = bool(client.has_capability("UIDPLUS"))
            gmail = bool(client.has_capability("X-GM-EXT-1"))
        permanent = info.get(b"PERMANENTFLAGS")
        flag = None if self.read_only else choose_flag(permanent, FAILED_KEYWORD)
        shown = " ".join(f.decode() if isinstance(f, bytes) else str(f) for f in permanent or ())
        words, messages, sampled = self._munged_headers(info)
        result = FolderSurvey(
            messages=int(info.get(b"EXISTS", 0)), read_only=self.read_only, idle=idle, flag=flag,
            permanent_flags=shown, munged=tuple(words[:3]), munged_messages=messages, sampled=sampled,
        )
        if not test_idle:
            return result
        why = None
        if not idle or not self.settings.idle:
            why = "no IDLE to test" if not idle else "IDLE is switched off in the config"
        elif self.read_only:
            why = "the folder is read-only, so no test message can be added"
        elif not uidplus:
            why = "the server lacks UIDPLUS, so a test message could not be removed alone"
        elif gmail:
            why = "on Gmail a removed test message would stay in All Mail"
        if why:
            return replace(result, idle_untested=why)
        try:
            return replace(result, idle_test=self._time_idle())
        except MailboxError as exc:
            return replace(result, idle_untested=f"the test failed: {exc}")

    def folder_names(self) -> list[str]:
        with self._command("listing folders") as client:
            return [
                name.decode() if isinstance(name, bytes) else str(name)
                for _flags, _delimiter, name in client.list_folders()
            ]

    def _munged_headers(self, info: dict[bytes, object]) -> tuple[list[str], int, int]:
        """Look at the From, To, Cc and Subject of the newest messages for X runs.

        A server that refuses the look (an odd FETCH) costs the warning, not the check.
        """
        try:
            return self._read_headers(info)
        except MailboxUnavailable:
            raise
        except MailboxError:
            return [], 0, 0

    def _read_headers(self, info: dict[bytes, object]) -> tuple[list[str], int, int]:
        messages = int(str(info.get(b"EXISTS", 0) or 0))
        if not messages:
            return [], 0, 0
        uidnext = int(str(info.get(b"UIDNEXT", 0) or 0))
        low = max(1, uidnext - 10 * HEADER_SAMPLE) if uidnext else 1
        with self._command("reading recent headers", "search") as client:
            uids = sorted(client.search(f"UID {low}:*"))[-HEADER_SAMPLE:]
        if not uids:
            return [], 0, 0
        item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(_FIELDS)})]"
        with self._command("reading recent headers", "fetch") as client:
            fetched = client.fetch(uids, [item])
        words: list[str] = []
        hit = 0
        for data in fetched.values():
            raw = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
            found = munged_words(bytes(raw or b"").decode("latin-1"))
            if found:
                hit += 1
                words += [w for w in found if w not in words]
        return words, hit, len(uids)

    def _time_idle(self) -> IdleTest:
        """APPEND a test message on a second connection; how soon does IDLE here tell of it?"""
        folder = self.settings.folder
        poster = Mailbox(self.settings, tokens=self._login.tokens)  # the same sign-in
        marker = f"<refmail-check.{uuid.uuid4().hex}@refmail.invalid>"
        raw = (
            "From: refmail check <refmail-check@refmail.invalid>\r\n"
            f"To: {self.settings.username or 'refmail'} <refmail-check@refmail.invalid>\r\n"
            "Subject: refmail check: IDLE test (removed at once)\r\n"
            f"Date: {format_datetime(localtime())}\r\nMessage-ID: {marker}\r\n"
            "X-Refmail: check\r\nAuto-Submitted: auto-generated\r\n\r\n"
            "`refmail check --test-idle` added this message to time the server's IDLE and\r\n"
            "removed it at once. If you can read this, delete it.\r\n"
        ).encode()
        try:
            poster.select()
            with self._command("waiting in IDLE") as watcher:
                watcher.idle()
                try:
                    started, wait = time.monotonic(), IDLE_TEST_SECONDS
                    with poster._command("adding the IDLE test message", "append") as client:
                        answer = client.append(folder, raw, flags=(b"\\Seen", b"\\Deleted"))
                    told = None
                    while (left := started + wait - time.monotonic()) > 0:
                        responses = watcher.idle_check(timeout=left)
                        if any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                            told = time.monotonic() - started
                            break
                finally:
                    watcher.idle_done()
            found = re.search(rb"APPENDUID \d+ (\d+)", answer if isinstance(answer, bytes) else b"")
            removed = False
            if found:
                try:
                    with poster._command("removing the IDLE test message") as client:
                        client.uid_expunge([int(found.group(1))])
                    removed = True
                except MailboxError:
                    pass  # reported: the test message is still there
            return IdleTest(told, removed, wait)
        finally:
            poster.close()
