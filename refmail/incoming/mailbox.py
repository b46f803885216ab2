"""The IMAP side: read new mail from the tracking folder, exactly once, across outages.

refmail remembers where it stopped as a :class:`Position` — the folder's
UIDVALIDITY and the last UID it processed (RFC 3501 §2.3.1.1: a UID names the
same message for as long as UIDVALIDITY does not change). :meth:`Mailbox.fetch_new`
yields every message after that position, oldest first; when the server has
assigned a new UIDVALIDITY (migration, lost indexes) it starts again from UID 1
and the caller drops what it already knows by Message-ID / content hash.

Usage (the daemon's loop)::

    from refmail.incoming.mailbox import Mailbox, Retry

    with Mailbox(config.imap) as mailbox:
        while not stopping():
            for item in mailbox.fetch_new(store.position(), retry=Retry(), stop=stopping):
                if item.too_large:
                    mailbox.flag(item.uid, uidvalidity=item.uidvalidity)
                else:
                    process(item.raw)
                store.save_position(item.position)   # after the message is committed
            mailbox.wait_for_mail(config.timing.poll_interval.total_seconds(), stopping)

Errors: every failure is a :class:`~refmail.errors.MailboxError` with a plain
message that never contains the password. :class:`MailboxUnavailable` (a
subclass) marks failures that retrying may cure — refused or dropped
connections, timeouts; wrong passwords, TLS failures and missing folders are
plain ``MailboxError`` and are not retried; ``MailboxError.kind`` says which
for code that decides. While it retries (``fetch_new`` with ``retry``) or
waits (``wait_for_mail``), the Mailbox logs one WARNING when an outage starts
and one INFO when the connection is back; an error it raises without having
logged it (``MailboxUnavailable.logged`` is False, e.g. from a plain
``connect()`` when no outage is known yet) is the caller's to report, or to
hand to :meth:`Mailbox.note_outage`. Until the connection is back, every
further failure counts as that same outage and is raised with ``logged`` True.
When to try again is :class:`Retry`'s schedule: never at once, then less and
less often, with jitter, up to a cap.

Waiting for new mail (IDLE, checks with NOOP, polling) is :mod:`refmail.incoming.idling`,
mixed into :class:`Mailbox`.

A Mailbox is one IMAP connection and is not thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    IMAPClientReadOnlyError,
    LoginError,
)

from refmail.config import ImapSettings, is_loopback
from refmail.errors import MailboxError, MailboxUnavailable
from refmail.incoming.idling import LOST as _LOST
from refmail.incoming.idling import IdleWaiting
from refmail.incoming.login import ImapLogin
from refmail.incoming.reconnect import Retry
from refmail.incoming.responses import Command, failure_kind, response_code, server_words, without_code
from refmail.oauth.redaction import scrub
from refmail.oauth.source import TokenSource

__all__ = [
    "FAILED_KEYWORD",
    "HEADER_BYTES",
    "Fetched",
    "Mailbox",
    "MailboxUnavailable",
    "Position",
    "Retry",
    "byte_batches",
    "choose_flag",
]

log = logging.getLogger(__name__)

#: Keyword set on messages refmail could not process, so a person sees them in
#: their mail client (RFC 3501 §2.3.2: keywords are atoms; "$" marks a
#: client-defined one by convention).
FAILED_KEYWORD = "$RefmailFailed"



@dataclass(frozen=True, order=True)
class Position:
    """Where reading stopped: everything up to ``last_uid`` under ``uidvalidity`` is done."""

    uidvalidity: int
    last_uid: int


#: Bytes of the header fields fetched of a message too large to download:
#: enough to know who sent it, and what it is about (RFC 3501 §6.4.5 partial fetch).
HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """One message from the folder. ``raw`` is empty when ``too_large``; ``header``
    then holds (the first :data:`HEADER_BYTES` of) its header fields."""

    uid: int
    uidvalidity: int
    raw: bytes
    size: int
    internaldate: datetime | None
    too_large: bool = False
    header: bytes = b""

    @property
    def position(self) -> Position:
        """The position to store once this message has been processed."""
        return Position(self.uidvalidity, self.uid)


def choose_flag(permanent_flags: Iterable[bytes | str] | None, keyword: str) -> str | None:
    """The flag to mark a failed message with, given the folder's PERMANENTFLAGS.

    RFC 3501 §7.1: ``\\*`` means new keywords may be created; a missing
    PERMANENTFLAGS means every flag can be stored. Servers that allow neither
    the keyword nor ``\\*`` usually still allow ``\\Flagged``, which every mail
    client shows. None: nothing can be stored.
    """
    if permanent_flags is None:
        return keyword
    allowed = {f.decode() if isinstance(f, bytes) else f for f in permanent_flags}
    lowered = {f.lower() for f in allowed}
    if "\\*" in allowed or keyword.lower() in lowered:
        return keyword
    if "\\flagged" in lowered:
        return "\\Flagged"
    return None


def byte_batches(sizes: Iterable[tuple[int, int]], max_bytes: int) -> list[list[int]]:
    """``(uid, RFC822.SIZE)`` in order → UID groups of at most ``max_bytes`` in all, in order.

    What one UID FETCH of bodies may bring into memory: imaplib reads a whole
    response before returning it, so a batch of 200 messages of 24.5 MB was
    4.9 GB. A message larger than ``max_bytes`` is a group of its own.
    """
    groups: list[list[int]] = []
    total = 0
    for uid, size in sizes:
        if not groups or (total + size > max_bytes and groups[-1]):
            groups.append([])
            total = 0
        groups[-1].append(uid)
        total += size
    return groups


class Mailbox(IdleWaiting):
    """One IMAP connection to the configured folder (see the module docstring)."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenSource | None = None,
    ) -> None:
        """``tokens`` is the OAuth2 token source, needed when ``settings.auth`` is "oauth2"."""
        # The config already refuses this; checked again because a Mailbox can
        # be built from settings made in code, and plain text would expose
        # the password on the network.
        if settings.security == "none" and not is_loopback(settings.host):
            raise MailboxError(
                f'security = "none" is only allowed for a loopback host, not {settings.host!r}'
            )
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._client: IMAPClient | None = None
        self._select_info: dict[bytes, Any] | None = None
        self._seen: Position | None = None  # the last search on this connection
        self._outage_since: float | None = None
        self._password: str | None = None
        self._login = ImapLogin(settings, tokens)
        #: When (on ``clock``) this session should be replaced: its OAuth2 token
        #: is about to expire, and Exchange ends a session whose token expired
        #: (``BYE … AccessTokenExpired``). None: no limit (passwords).
        self._renew_at: float | None = None
        #: The folder answered SELECT with [READ-ONLY]: EXAMINE it on this connection.
        self._examine = False
        self._warned: set[tuple[object, ...]] = set()
        #: True while an IDLE command is running (for tests and diagnostics).
        self.idling = False

    # -- connection ---------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, secure the connection and log in (no-op when connected).

        Raises :class:`MailboxError` (:class:`MailboxUnavailable` when retrying
        may help), or :class:`~refmail.errors.ConfigError` when the password's
        environment variable is not set.
        """
        if self._client is not None:
            return
        s = self.settings
        if not s.username:
            raise MailboxError("no IMAP username configured ([imap] username)")
        password = s.password() or ""
        self._password = password
        context: ssl.SSLContext | None = None
        if s.security != "none":
            try:
                context = ssl.create_default_context(cafile=s.ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise MailboxError(f"cannot read ca_file {s.ca_file!r}: {exc}") from None
        client: IMAPClient | None = None
        try:
            client = IMAPClient(
                s.host,
                port=s.port,
                ssl=s.security == "ssl",
                ssl_context=context,
                timeout=s.timeout.total_seconds(),
            )
            if s.security == "starttls":
                client.starttls(context)
            renew = self._login.sign_in(client, self.where)
        except BaseException as exc:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.shutdown()
            if isinstance(exc, Exception):
                raise self._connect_error(exc) from None
            raise
        client.normalise_times = False  # keep INTERNALDATE's zone: backfill compares instants
        self._client = client
        self._renew_at = None if renew is None else self._clock() + renew
        self._select_info = None
        self._examine = False  # rights may have changed: SELECT again first
        self._seen = None
        self._back()
        log.debug("logged in to %s as %s", self.where, s.username)

    def renew_if_due(self) -> bool:
        """End a session whose OAuth2 token is about to expire; True if it did.

        The next command signs in again with a new token (the source renews
        it at the same margin). Exchange would otherwise end the session
        itself when the token expires (``BYE … AccessTokenExpired``), which
        looks like an outage; this is a quiet, planned reconnect.
        """
        if self._client is None or self._renew_at is None or self._clock() < self._renew_at:
            return False
        log.debug("renewing the IMAP session to %s: its OAuth2 token expires soon", self.where)
        self.close()
        return True

    def close(self) -> None:
        """Log out (best effort) and forget the connection."""
        client, self._client = self._client, None
        self._select_info = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

    def _connect_error(self, exc: Exception) -> MailboxError:
        s = self.settings
        if isinstance(exc, MailboxUnavailable):  # said by the login ([UNAVAILABLE], no token yet)
            unavailable = self._unavailable(str(exc))
            unavailable.code = exc.code
            return unavailable
        if isinstance(exc, MailboxError):  # the login's own words (a token refused)
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailboxError(
                f"certificate verify failed for host {s.host}: {exc.verify_message}"
                + ("" if s.ca_file else " (set [imap] ca_file for a private CA)"),
                kind="tls",
            )
        if isinstance(exc, ssl.SSLError):
            return MailboxError(
                f"TLS handshake with {self.where} failed ({exc.reason or exc}); "
                f'is security = "{s.security}" right for port {s.port}?',
                kind="tls",
            )
        if isinstance(exc, ConnectionRefusedError):
            return self._unavailable(f"cannot connect to {self.where}: connection refused")
        if isinstance(exc, socket.gaierror):
            return self._unavailable(f"cannot connect to {self.where}: unknown host {s.host!r}")
        if isinstance(exc, TimeoutError):
            return self._unavailable(
                f"cannot connect to {self.where}: no answer within "
                f"{s.timeout.total_seconds():g}s"
            )
        if isinstance(exc, LoginError):
            # A refusal: what retrying may cure ([UNAVAILABLE]…) the login raised already.
            words = self._scrub(server_words(exc))
            code = response_code(words)
            return MailboxError(
                f"login refused for user {s.username}: {without_code(words)}", kind="login", code=code
            )
        if isinstance(exc, CapabilityError):
            return MailboxError(
                f'{self.where} does not offer STARTTLS; use security = "ssl" or check the port',
                kind="tls",
            )
        if isinstance(exc, OSError):
            return self._unavailable(
                f"cannot connect to {self.where}: {exc.strerror or exc.__class__.__name__}"
            )
        if isinstance(exc, IMAPClientAbortError | EOFError):
            return self._unavailable(
                f"connection to {self.where} closed during login: {self._scrub(server_words(exc))}"
            )
        return MailboxError(f"cannot log in to {self.where}: {self._scrub(server_words(exc))}")

    def _scrub(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "***")
        return scrub(text)

    def _unavailable(self, message: str, *, code: str | None = None) -> MailboxUnavailable:
        # During an outage this Mailbox has already reported (IDLE lost, retries),
        # later failures — refused, reset, timed out — are the same outage.
        return MailboxUnavailable(message, logged=self._outage_since is not None, code=code)

    @property
    def outage(self) -> bool:
        """True from the first failure of an outage until the connection is back."""
        return self._outage_since is not None

    def note_outage(self, exc: MailboxUnavailable) -> None:
        """Count ``exc`` as part of the current outage, logging its start once."""
        self._note_outage(exc)

    def _note_outage(self, exc: MailboxUnavailable) -> None:
        """Log the start of an outage once (later failures at DEBUG).

        Only failures the Mailbox absorbs itself (retries, IDLE) are logged
        here; one raised straight to the caller is the caller's to report —
        logging it too would print every error twice.
        """
        if self._outage_since is None:
            self._outage_since = self._clock()
            log.warning("IMAP server unavailable: %s; will retry", exc)
        else:
            log.debug("IMAP server still unavailable: %s", exc)
        exc.logged = True

    def _back(self) -> None:
        if self._outage_since is not None:
            log.info(
                "IMAP connection to %s restored after %.0fs",
                self.where,
                self._clock() - self._outage_since,
            )
            self._outage_since = None

    def _lost(self, exc: BaseException, doing: str) -> MailboxUnavailable:
        """Drop a connection that failed mid-command; the next call reconnects."""
        client, self._client = self._client, None
        self._select_info = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()
        detail = self._scrub(server_words(exc)) or exc.__class__.__name__
        return self._unavailable(f"connection to {self.where} lost while {doing}: {detail}")

    @contextlib.contextmanager
    def _command(self, doing: str, command: Command = "other") -> Iterator[IMAPClient]:
        """Run IMAP commands, turning library errors into MailboxError.

        A refusal is decided on its response code, else on ``command``
        (:func:`~refmail.incoming.responses.failure_kind`): one that retrying
        may cure (``[UNAVAILABLE]``, ``[INUSE]``…) drops the connection and is
        raised as :class:`MailboxUnavailable`, like a lost connection.
        """
        self.connect()
        assert self._client is not None
        try:
            yield self._client
        except _LOST as exc:
            raise self._lost(exc, doing) from None
        except IMAPClientError as exc:
            raise self._refused(exc, doing, command) from None

    def _refused(self, exc: IMAPClientError, doing: str, command: Command) -> MailboxError:
        words = self._scrub(server_words(exc))
        code = response_code(words)
        kind = failure_kind(command, code)
        if kind == "unavailable":
            self._lost(exc, doing)  # a new session is the likeliest cure
            return self._unavailable(
                f"{self.where} refused {doing} for now: {without_code(words)}", code=code
            )
        return MailboxError(f"the server refused {doing}: {without_code(words)}", kind=kind, code=code)

    # -- folder ---------------------------------------------------------------
    def select(self) -> int:
        """Open the folder, read-write if the server lets us; returns its UIDVALIDITY.

        A folder the account may only read — a shared mailbox with the RFC 4314
        rights ``lr`` — is answered ``OK [READ-ONLY]`` (RFC 3501 §6.3.1), which
        imaplib raises as an abort although the connection is fine and the
        folder is selected. It is then opened with EXAMINE (§6.3.2), the rest
        of this connection too: refmail reads with BODY.PEEK and keeps its
        position in its own database, so all it loses is flagging the
        messages it cannot process (:meth:`flag` sets nothing there).
        """
        folder = self.settings.folder
        doing = f"opening folder {folder!r}"
        with self._command(doing, "select") as client:
            try:
                info = client.select_folder(folder, readonly=self._examine)
            except IMAPClientReadOnlyError:
                self._examine = True
                self._warn_once(
                    ("read-only", folder),
                    logging.INFO,
                    "folder %r is read-only for %s: reading it with EXAMINE; messages refmail "
                    "cannot process are recorded but not flagged on the server",
                    folder,
                    self.settings.username,
                )
                info = client.select_folder(folder, readonly=True)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                raise self._not_opened(client, exc) from None
        self._select_info = info
        return int(info[b"UIDVALIDITY"])

    def _not_opened(self, client: IMAPClient, exc: IMAPClientError) -> MailboxError:
        """Why SELECT failed: by its response code, else by asking LIST whether the folder exists."""
        folder = self.settings.folder
        words = self._scrub(server_words(exc))
        code = response_code(words)
        kind = failure_kind("select", code)
        if kind == "unavailable":
            return self._refused(exc, f"opening folder {folder!r}", "select")
        if code is None:
            # No code (Cyrus: "NO Mailbox does not exist"): LIST tells a missing
            # folder from one this account may not open (RFC 3501 §6.3.8).
            with contextlib.suppress(IMAPClientError):
                if not client.list_folders("", folder):
                    code = "NONEXISTENT"
        if code in ("NONEXISTENT", "TRYCREATE"):
            return MailboxError(f"no folder {folder!r} on the server", kind="folder", code=code)
        return MailboxError(f"cannot open folder {folder!r}: {without_code(words)}", kind=kind, code=code)

    @property
    def read_only(self) -> bool:
        """Is the folder, as last opened, read-only (EXAMINE, or ``[READ-ONLY]``)?"""
        return self._examine or b"READ-ONLY" in (self._select_info or {})

    def _warn_once(self, key: tuple[object, ...], level: int, message: str, *args: object) -> None:
        """Log ``message`` the first time ``key`` is seen by this Mailbox, at DEBUG afterwards.

        A condition that lasts (a read-only folder, flags the server will not
        keep, a new UIDVALIDITY) is news once, not at every cycle or message.
        """
        if key in self._warned:
            log.debug(message, *args)
            return
        self._warned.add(key)
        log.log(level, message, *args)

    # -- reading ----------------------------------------------------------------
    def fetch_new(
        self,
        position: Position | None,
        *,
        retry: Retry | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Fetched]:
        """Yield every message after ``position``, oldest first.

        Without ``retry`` a lost connection raises :class:`MailboxUnavailable`;
        the caller resumes from the last position it stored. With ``retry`` the
        generator reconnects by itself and resumes after the last message it
        yielded (a generator is only resumed once the caller is done with the
        previous item), so nothing is skipped or repeated. ``stop()`` ends the
        generator quietly during a backoff wait.
        """
        self.renew_if_due()
        if retry is None:
            yield from self._fetch_once(position)
            return
        failures = 0
        outage_started: float | None = None
        while True:
            try:
                for item in self._fetch_once(position):
                    failures, outage_started = 0, None
                    yield item
                    position = item.position
                return
            except MailboxUnavailable as exc:
                self._note_outage(exc)
                failures += 1
                now = self._clock()
                outage_started = outage_started if outage_started is not None else now
                delay = retry.delay(failures)
                if failures >= retry.attempts or now + delay - outage_started > retry.within:
                    raise
                if not self._pause(delay, stop):
                    return

    def _fetch_once(self, position: Position | None) -> Iterator[Fetched]:
        uidvalidity = self.select()
        last = 0
        if position is not None:
            if position.uidvalidity == uidvalidity:
                last = position.last_uid
            else:
                self._warn_once(
                    ("uidvalidity", self.settings.folder, position.uidvalidity, uidvalidity),
                    logging.WARNING,
                    "UIDVALIDITY of %r changed from %d to %d (the server renumbered its "
                    "messages); reading the whole folder again, known messages are skipped",
                    self.settings.folder,
                    position.uidvalidity,
                    uidvalidity,
                )
        watched = self._take_watch()  # how IDLE did since the last fetch, judged below
        with self._command("searching for new mail", "search") as client:
            # EXISTS responses from before this search concern messages it
            # will find; forget them so wait_for_mail() only sees newer ones.
            self._take_exists(client)
            found = client.search(f"UID {last + 1}:*")
        # RFC 3501 §6.4.8: "N:*" includes the highest UID even when N is larger,
        # so "UID 8:*" on a folder whose last UID is 7 returns 7.
        uids = sorted(uid for uid in found if uid > last)
        self._seen = Position(uidvalidity, max(uids, default=last))
        if uids:
            log.debug("%d new message(s) in %r after UID %d", len(uids), self.settings.folder, last)
        batch = self.settings.batch_size
        for start in range(0, len(uids), batch):
            yield from self._fetch_batch(
                uids[start : start + batch], uidvalidity, watched=watched if start == 0 else None
            )

    def _fetch_batch(
        self, uids: list[int], uidvalidity: int, *, watched: tuple[datetime, bool] | None = None
    ) -> Iterator[Fetched]:
        limit = self.settings.max_message_size
        # Sizes first: cheap, and an oversize message's body is never downloaded.
        with self._command("fetching message sizes", "fetch") as client:
            meta = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
        if watched is not None:  # the oldest new messages: did IDLE tell of them in time?
            self._judge_idle(watched, (m.get(b"INTERNALDATE") for m in meta.values()))
        sizes = [(u, int(meta[u].get(b"RFC822.SIZE", 0))) for u in uids if u in meta]
        groups = byte_batches([(u, n) for u, n in sizes if n <= limit], self.settings.batch_bytes)
        group_of = {uid: i for i, group in enumerate(groups) for uid in group}
        bodies: dict[int, dict[bytes, Any]] = {}
        fetched: int | None = None  # the group ``bodies`` holds
        too_large = [u for u, n in sizes if n > limit]
        headers: dict[int, dict[bytes, Any]] = {}
        if too_large:
            with self._command("fetching the header fields of large messages", "fetch") as client:
                headers = client.fetch(too_large, [f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>"])
        for uid in uids:
            if uid not in meta:
                continue  # expunged since the search
            size = int(meta[uid].get(b"RFC822.SIZE", 0))
            internaldate = meta[uid].get(b"INTERNALDATE")
            if size > limit:
                log.warning(
                    "message UID %d is %d bytes, over max_message_size (%d); not downloaded",
                    uid,
                    size,
                    limit,
                )
                header = bytes(headers.get(uid, {}).get(b"BODY[HEADER]<0>") or b"")
                yield Fetched(uid, uidvalidity, b"", size, internaldate, too_large=True, header=header)
                continue
            if group_of[uid] != fetched:
                fetched = group_of[uid]
                bodies = {}  # the last group's bytes go before the next group's arrive
                with self._command("fetching messages", "fetch") as client:
                    # BODY.PEEK[] leaves \Seen alone (RFC 3501 §6.4.5): people
                    # reading the shared inbox still see what is new to them.
                    bodies = client.fetch(groups[fetched], ["BODY.PEEK[]"])
            raw = bodies.pop(uid, {}).get(b"BODY[]")
            if raw is None:
                continue  # expunged between the two fetches
            yield Fetched(uid, uidvalidity, bytes(raw), size, internaldate)

    # -- flags ------------------------------------------------------------------
    def flag(
        self, uid: int, keyword: str = FAILED_KEYWORD, *, uidvalidity: int | None = None
    ) -> str | None:
        """Mark message ``uid`` so a person notices it; returns the flag set.

        Sets ``keyword`` when PERMANENTFLAGS allows it, else ``\\Flagged``.
        Returns None, setting nothing, when the folder is read-only or
        ``uidvalidity`` no longer matches (the UID may now be another message).
        """
        if self._select_info is None:
            self.select()
        info = self._select_info or {}
        current = int(info.get(b"UIDVALIDITY", 0))
        if uidvalidity is not None and uidvalidity != current:
            log.warning("not flagging UID %d: UIDVALIDITY changed since it was fetched", uid)
            return None
        if self.read_only:
            log.debug("not flagging UID %d: folder %r is read-only", uid, self.settings.folder)
            return None
        flag = choose_flag(info.get(b"PERMANENTFLAGS"), keyword)
        if flag is None:
            self._warn_once(
                ("no-flags", self.settings.folder),
                logging.WARNING,
                "folder %r keeps no flag refmail could set (PERMANENTFLAGS): messages refmail "
                "cannot process are recorded in its database but not flagged on the server",
                self.settings.folder,
            )
            log.debug("not flagging UID %d: no permanent flag allowed", uid)
            return None
        with self._command(f"flagging message {uid}", "store") as client:
            client.add_flags([uid], [flag], silent=True)
        return flag
