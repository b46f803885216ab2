"""Waiting for new mail on an IMAP connection: IDLE, checks with NOOP, polling.

A part of :class:`refmail.incoming.mailbox.Mailbox`, kept apart because it is a
concept of its own: how long to wait, when to ask the server, how to leave
IDLE cleanly (RFC 2177) and how a lost connection while waiting becomes a
reconnect on the next fetch rather than an error. The connection itself —
TLS, login, folder, fetching — stays in :mod:`refmail.incoming.mailbox`, which mixes
this class in; the methods here use that class's connection and outage
reporting, declared below for the type checker.
"""

from __future__ import annotations

import contextlib
import math
import select
import ssl
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from refmail.config import ImapSettings, is_loopback
from refmail.errors import MailboxError, MailboxUnavailable

__all__ = [
    "IDLE_RENEW_SECONDS",
    "LOOPBACK_IDLE_CHECK_SECONDS",
    "LOST",
    "MIN_IDLE_CHECK_SECONDS",
    "STOP_CHECK_SECONDS",
    "IdleWaiting",
]

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

# Failures that mean "the connection is gone": socket errors, TLS errors on an
# established stream, EOF and BYE (imaplib raises IMAP4.abort for both).
LOST = (IMAPClientAbortError, OSError, EOFError)


def _announces_mail(responses: Iterable[tuple[Any, ...]]) -> bool:
    """Does a list of untagged responses include ``* N EXISTS`` (RFC 3501 §7.3.1)?"""
    return any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


class IdleWaiting:
    """:meth:`wait_for_mail` and its helpers, for :class:`refmail.incoming.mailbox.Mailbox`."""

    settings: ImapSettings
    idling: bool
    _client: IMAPClient | None
    _clock: Callable[[], float]
    _sleep: Callable[[float], None]
    _seen: object | None
    _select_info: dict[bytes, Any] | None

    if TYPE_CHECKING:  # provided by Mailbox

        def _command(self, doing: str) -> AbstractContextManager[IMAPClient]: ...

        def _lost(self, exc: BaseException, doing: str) -> MailboxUnavailable: ...

        def _note_outage(self, exc: MailboxUnavailable) -> None: ...

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
        """
        stop = stop or (lambda: False)
        deadline = self._clock() + timeout
        client = self._client
        if client is None or not self.settings.idle:
            return self._pause(timeout, stop)
        check = self.idle_check_seconds()
        has_idle = client.has_capability("IDLE")
        if not has_idle and check is None:
            return self._pause(timeout, stop)
        try:
            if has_idle:
                return self._idle(client, deadline, stop, check)
            return self._noop_loop(deadline, stop, check or 0)
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
