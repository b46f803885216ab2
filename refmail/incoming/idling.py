"""Waiting for new mail on an IMAP connection: IDLE, checks with NOOP, polling.

A part of :class:`refmail.incoming.mailbox.Mailbox`, kept apart because it is a
concept of its own: how long to wait, when to ask the server, how to leave
IDLE cleanly (RFC 2177) and how a lost connection while waiting becomes a
reconnect on the next fetch rather than an error. The connection itself —
TLS, login, folder, fetching — stays in :mod:`refmail.incoming.mailbox`, which mixes
this class in; the methods here use that class's connection and outage
reporting, declared below for the type checker.

IDLE health. A server may accept IDLE and still tell nothing, or tell a
minute late: Cyrus without its ``idled`` helper polls its own mailbox once
a minute for an IDLE client. refmail notices from the mail it finds: when a
message is found :data:`IDLE_LATE_SECONDS` or more after it arrived (by the
server's INTERNALDATE) although IDLE was watching the folder all that time —
found by a NOOP, at the end of IDLE, by the next poll, or announced that
late — it is a late find; :data:`IDLE_LATE_LIMIT` of them in a row (no
message told in time between them) and the server is treated as one without
IDLE, said once in the log: NOOP checks at ``idle_check_interval`` if set,
else a poll every ``poll_interval``, rather than IDLE re-issued for nothing.
While checks run faster than that (a loopback server: every 0.2 s), every
message is found young and nothing is judged: the checks find it anyway.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import ssl
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from refmail.config import ImapSettings, is_loopback
from refmail.errors import MailboxError, MailboxUnavailable

__all__ = [
    "IDLE_LATE_LIMIT",
    "IDLE_LATE_SECONDS",
    "IDLE_RENEW_SECONDS",
    "LOOPBACK_IDLE_CHECK_SECONDS",
    "LOST",
    "MIN_IDLE_CHECK_SECONDS",
    "STOP_CHECK_SECONDS",
    "IdleWaiting",
    "unannounced_for",
]

log = logging.getLogger(__name__)

#: RFC 2177 §3: clients should re-issue IDLE at least every 29 minutes, or the
#: server may log them out as inactive.
IDLE_RENEW_SECONDS = 25 * 60
#: ``idle_check_interval = "auto"`` on a loopback server: a NOOP this often
#: while idling. Dovecot 2.3 holds IDLE notifications back for 500 ms
#: (NOTIFY_DELAY_MSECS in src/lib-storage/mailbox-watch.c), a NOOP sees a
#: delivered message within milliseconds; 0.2 s brings the median wake-up to
#: about 0.1 s for some 1.7 ms of loopback round trips a check.
LOOPBACK_IDLE_CHECK_SECONDS = 0.2
#: The shortest check interval honoured, whatever the configuration says: a
#: check in IDLE is up to three commands (DONE, NOOP, IDLE), and anything
#: shorter is a busy loop in disguise.
MIN_IDLE_CHECK_SECONDS = 0.05
#: Longest uninterrupted sleep, so ``stop()`` (a SIGTERM) is honoured promptly.
STOP_CHECK_SECONDS = 1.0

#: A message found this long after it arrived, while IDLE was watching, was
#: not told of in time. Dovecot tells within 0.5 s, the big providers within
#: a few seconds; Cyrus without ``idled``, up to a minute late.
IDLE_LATE_SECONDS = 15.0
#: Late finds in a row before IDLE is no longer trusted: one can be chance
#: (a copy with an old date, a slow moment), two in a row are the server.
IDLE_LATE_LIMIT = 2
#: INTERNALDATE has whole seconds, and the two clocks may differ a little.
_ARRIVAL_SLACK = timedelta(seconds=2)

# Failures that mean "the connection is gone": socket errors, TLS errors on an
# established stream, EOF and BYE (imaplib raises IMAP4.abort for both).
LOST = (IMAPClientAbortError, OSError, EOFError)


def unannounced_for(
    watching_since: datetime, arrivals: Iterable[datetime | None], now: datetime
) -> float | None:
    """How long the earliest message that arrived while IDLE watched went untold, at least.

    ``arrivals`` are the INTERNALDATEs of the messages just found (RFC 3501
    §2.3.3: when the server received them). Those from before the watch
    began (a message copied into the folder keeps its old date) say nothing
    about IDLE and are left out; None when no message is left. INTERNALDATE
    has whole seconds, so a second is taken off: the figure errs on the
    side of the server.
    """
    since = watching_since - _ARRIVAL_SLACK
    during = [a for a in arrivals if a is not None and a.tzinfo is not None and a >= since]
    if not during:
        return None
    return max(0.0, (now - min(during)).total_seconds() - 1.0)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _announces_mail(responses: Iterable[tuple[Any, ...]]) -> bool:
    """Does a list of untagged responses include ``* N EXISTS`` (RFC 3501 §7.3.1)?"""
    return any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


class IdleWaiting:
    """:meth:`wait_for_mail` and its helpers, for :class:`refmail.incoming.mailbox.Mailbox`."""

    settings: ImapSettings
    idling: bool
    #: IDLE tells of new mail too late or never (see the module docstring):
    #: waiting is done as for a server without IDLE. Kept for the life of
    #: the Mailbox; a restart tries IDLE again.
    idle_silent: bool = False
    #: When IDLE began watching the folder since the last fetch (wall clock,
    #: compared with INTERNALDATE), and whether it announced mail meanwhile.
    _watching_since: datetime | None = None
    _announced: bool = False
    _late_finds: int = 0
    _client: IMAPClient | None
    _clock: Callable[[], float]
    _sleep: Callable[[float], None]
    _seen: object | None
    _select_info: dict[bytes, Any] | None
    _renew_at: float | None

    if TYPE_CHECKING:  # provided by Mailbox

        def _command(self, doing: str) -> AbstractContextManager[IMAPClient]: ...

        def _lost(self, exc: BaseException, doing: str) -> MailboxUnavailable: ...

        def _note_outage(self, exc: MailboxUnavailable) -> None: ...

        def renew_if_due(self) -> bool: ...

    def idle_check_seconds(self) -> float | None:
        """How often :meth:`wait_for_mail` asks the server with NOOP; None: never.

        Servers may take their time to tell an IDLE client of new mail
        (Dovecot 2.3: 0.5 s). Checking costs the server a few commands each
        time, nothing for a server on this machine, but a remote server should
        not be asked several times a second unless its owner chose so
        (``idle_check_interval``): by default only loopback servers are.
        """
        configured = self.settings.idle_check_interval
        if configured is None:
            return LOOPBACK_IDLE_CHECK_SECONDS if is_loopback(self.settings.host) else None
        seconds = configured.total_seconds()
        return max(MIN_IDLE_CHECK_SECONDS, seconds) if seconds > 0 else None

    def wait_for_mail(self, timeout: float, stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to ``timeout`` seconds for new mail; True when it is worth fetching.

        With ``idle`` on and IDLE (RFC 2177) offered, returns True as soon as
        the server reports a new message, False on timeout; every
        :meth:`idle_check_seconds` it also leaves IDLE to ask with NOOP, so a
        server that announces mail late (Dovecot: 0.5 s) is not waited for.
        A server without IDLE is asked with NOOP at that interval instead.
        With ``idle`` off, without IDLE nor checks, or while disconnected,
        sleeps until the timeout and returns True (polling).
        Returns False at once when ``stop()`` turns true (checked every second).
        Never raises for server trouble: a connection lost (or confused) while
        idling is dropped and True returned, so the next fetch reconnects.
        A session signed in with an OAuth2 token is left (and True returned)
        when the token is about to expire, so the next fetch signs in anew.
        """
        stop = stop or (lambda: False)
        if self.renew_if_due():
            return True
        deadline = self._clock() + timeout
        if self._renew_at is not None:
            deadline = min(deadline, self._renew_at)
        client = self._client
        if client is None or not self.settings.idle:
            return self._pause(timeout, stop)
        check = self.idle_check_seconds()
        has_idle = client.has_capability("IDLE") and not self.idle_silent
        if not has_idle and check is None:
            return self._pause(timeout, stop)
        try:
            if has_idle:
                news = self._idle(client, deadline, stop, check)
            else:
                news = self._noop_loop(deadline, stop, check or 0)
            return news or (not stop() and self.renew_if_due())
        except MailboxUnavailable as exc:
            self._note_outage(exc)  # lost; the caller's next fetch reconnects
            return True
        except (MailboxError, IMAPClientError, *LOST) as exc:
            # Whatever went wrong, a fresh connection is the cure; the next
            # fetch makes it and reports what it cannot fix.
            self._note_outage(self._lost(exc, "waiting for new mail (IDLE)"))
            return True

    def _idle(
        self, client: IMAPClient, deadline: float, stop: Callable[[], bool], check: float | None
    ) -> bool:
        if self._seen is None or self._select_info is None:
            return True  # nothing fetched on this connection yet
        # IDLE only announces what the server has not told us yet. Mail that
        # arrived since the last search was announced with an EXISTS at the
        # end of some earlier command (RFC 3501 §7.3.1), which imaplib kept
        # aside; NOOP makes the server catch up with anything newer still.
        if self._noop_news():
            return True
        client.idle()
        self.idling = True
        if self._watching_since is None:
            self._watching_since = _utc_now()
        try:
            news = self._idle_loop(client, deadline, stop, check)
        except BaseException:
            if self.idling:
                self.idling = False
                with contextlib.suppress(Exception):
                    client.idle_done()
            raise
        if not self.idling:
            return news  # a check found mail and left IDLE already
        self.idling = False
        _text, late = client.idle_done()
        return news or (not stop() and _announces_mail(late))

    def _idle_loop(
        self, client: IMAPClient, deadline: float, stop: Callable[[], bool], check: float | None
    ) -> bool:
        """Wait in IDLE until news, timeout or stop.

        IDLE is still running on return unless ``self.idling`` says otherwise
        (a check or renewal that found mail does not re-enter it).
        """
        renew_at = self._clock() + IDLE_RENEW_SECONDS
        check_at = self._clock() + check if check else math.inf
        while True:
            if stop():
                return False
            now = self._clock()
            if now >= deadline:
                return False
            if now >= renew_at or now >= check_at:
                # A check re-issues IDLE, so it renews it too (RFC 2177 §3).
                if self._restart_idle(client, ask=now >= check_at):
                    return True
                now = self._clock()
                renew_at = now + IDLE_RENEW_SECONDS
                check_at = now + check if check else math.inf
                continue
            step = min(STOP_CHECK_SECONDS, deadline - now, renew_at - now, check_at - now)
            if not self._readable(client, step):
                continue
            responses = client.idle_check(timeout=0)
            if not responses:
                # Readable, yet no line: end of stream (or a TLS record
                # without data). Leaving IDLE tells which: it raises on EOF.
                if self._restart_idle(client, ask=False):
                    return True
                continue
            if any(r and r[0] == b"BYE" for r in responses):
                raise IMAPClientAbortError("the server said BYE")
            if _announces_mail(responses):
                self._announced = True
                return True

    def _restart_idle(self, client: IMAPClient, *, ask: bool) -> bool:
        """DONE, then (``ask``) NOOP, then IDLE again; True if the server announced mail.

        On news IDLE is not re-entered: the caller fetches next. Dovecot
        reports new mail at the end of DONE already; RFC 3501 promises it only
        for NOOP (§6.1.2), hence the NOOP when DONE brought nothing.
        """
        self.idling = False
        _text, responses = client.idle_done()
        news = _announces_mail(responses)
        if ask and not news:
            _text, responses = client.noop()
            news = _announces_mail(responses)
        # imaplib kept a copy of each response; at several checks a second,
        # for weeks, they must not pile up.
        self._forget_updates(client)
        if news:
            return True
        client.idle()
        self.idling = True
        return False

    def _take_watch(self) -> tuple[datetime, bool] | None:
        """For a fetch: since when IDLE watched and whether it announced anything; then forget it."""
        watched = (self._watching_since, self._announced) if self._watching_since else None
        self._watching_since, self._announced = None, False
        return watched

    def _judge_idle(self, watched: tuple[datetime, bool], arrivals: Iterable[datetime | None]) -> None:
        """Count a late find against IDLE, or a timely announcement for it (module docstring)."""
        since, announced = watched
        untold = unannounced_for(since, arrivals, _utc_now())
        if untold is None:
            return
        if untold < IDLE_LATE_SECONDS:
            if announced:
                self._late_finds = 0  # told in time: IDLE works
            return
        self._late_finds += 1
        log.debug("new mail found %.0fs after it arrived; IDLE had not told of it", untold)
        if self._late_finds >= IDLE_LATE_LIMIT and not self.idle_silent:
            self.idle_silent = True
            check = self.idle_check_seconds()
            instead = (f"asking with NOOP every {check:g}s" if check
                       else "polling every [timing] poll_interval")
            log.warning(
                "IMAP server %s:%d accepts IDLE but does not tell of new mail in time (%d messages "
                "in a row were found %.0fs or more after they arrived); %s instead. On Cyrus, "
                "start idled (docs/servers.md); or the two machines' clocks differ",
                self.settings.host, self.settings.port, self._late_finds, IDLE_LATE_SECONDS, instead,
            )

    def _noop_loop(self, deadline: float, stop: Callable[[], bool], every: float) -> bool:
        """Without IDLE: ask with NOOP every ``every`` seconds until news, timeout or stop."""
        if self._seen is None or self._select_info is None:
            return True  # nothing fetched on this connection yet
        while True:
            if self._noop_news():
                return True
            left = deadline - self._clock()
            if left <= 0:
                return False
            if not self._pause(min(every, left), stop):
                return False

    def _noop_news(self) -> bool:
        """NOOP: did the server announce mail, now or since the last search?"""
        with self._command("checking for new mail") as client:
            client.noop()
            news = self._take_exists(client)
            self._forget_updates(client)
            return news

    @staticmethod
    def _forget_updates(client: IMAPClient) -> None:
        """Drop the mailbox updates imaplib filed (see :meth:`_take_exists`)."""
        for name in ("EXISTS", "RECENT", "EXPUNGE", "FETCH"):
            client._imap.untagged_responses.pop(name, None)

    @staticmethod
    def _take_exists(client: IMAPClient) -> bool:
        """Pop the ``* N EXISTS`` responses imaplib collected; True if there were any.

        imaplib files every untagged response by name until someone asks for
        it; ``IMAP4.response()`` hands them over and forgets them.
        imapclient exposes no equivalent, hence the underlying object.
        """
        _name, data = client._imap.response("EXISTS")
        return any(item is not None for item in data)

    @staticmethod
    def _readable(client: IMAPClient, timeout: float) -> bool:
        """Is a server response waiting? Looks at imaplib's buffer, then the socket.

        imaplib reads through a buffered file: a notification that arrived in
        the same packet as IDLE's "+ idling" sits in that buffer, where poll()
        on the socket cannot see it. imapclient has no public API for this.
        """
        sock = client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        file = getattr(client._imap, "file", None)
        if file is not None:
            previous = sock.gettimeout()
            sock.setblocking(False)
            try:
                if file.peek(1):
                    return True
            except OSError:
                pass  # would block: nothing buffered
            finally:
                sock.settimeout(previous)
        # poll() rather than select(): no limit on the descriptor's number.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout * 1000))))

    def _pause(self, seconds: float, stop: Callable[[], bool] | None) -> bool:
        """Sleep in steps of at most a second; False if ``stop()`` turned true."""
        end = self._clock() + seconds
        while True:
            if stop is not None and stop():
                return False
            left = end - self._clock()
            if left <= 0:
                return True
            self._sleep(min(STOP_CHECK_SECONDS, left))
