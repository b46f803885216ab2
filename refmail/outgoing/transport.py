"""The SMTP side: hand rendered messages to the group's mail server.

:class:`SmtpTransport` keeps one authenticated connection open and reuses it
for every message of a delivery run (a thousand nudges must not cost a
thousand TLS handshakes and logins). When the server has closed an idle
connection in the meantime (RFC 5321 §4.5.3.2.7: servers time out after
about five minutes), the next :meth:`SmtpTransport.send` reconnects once,
transparently.

Every failure is a :class:`~refmail.errors.TransportError`, split by what the
caller should do with the message:

- :class:`TemporaryFailure` — a 4xx reply (RFC 5321 §4.2.1: "transient
  negative completion"), a refused, timed-out or dropped connection: keep the
  message and try again later;
- :class:`PermanentFailure` — a 5xx reply about *this* message or recipient
  (unknown mailbox, content refused): never retry;
- a plain :class:`~refmail.errors.TransportError` — the configuration is wrong
  (login refused, certificate not trusted, no STARTTLS, sender refused): no
  message is at fault, and retrying will not help until a person fixes it;
  :class:`~refmail.errors.TransportSignInFailed` is the OAuth2 case of it (a
  new token refused, SMTP AUTH turned off for the mailbox), which stops the
  daemon until a person acts.

With ``auth = "oauth2"`` the login is SASL XOAUTH2 or OAUTHBEARER with a token
from the shared :class:`~refmail.oauth.source.TokenSource`; a 454 or the token
endpoint being down is a :class:`TemporaryFailure` like any other, and a 535
for a saved token gets one retry with a new token.

Usage::

    with SmtpTransport(config.smtp) as smtp:
        smtp.send(raw, mail_from=config.group.tracking_address, rcpt_tos=["carl@client.example"])

TLS is on by default and certificates are verified; ``ca_file`` adds a private
CA. Error messages and logs never contain the password. Not thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from typing import Any, Protocol, cast

from refmail.config import SmtpSettings, is_loopback
from refmail.errors import ConfigError, TokenRefused, TokenUnavailable, TransportError, TransportSignInFailed
from refmail.oauth.redaction import remember, scrub
from refmail.oauth.sasl import choose_mechanism, responder
from refmail.oauth.source import TokenSource

__all__ = [
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "WrongProtocol",
]


class Transport(Protocol):
    """What the outbox needs from a sender: SMTP in production, files in the demo."""

    @property
    def where(self) -> str: ...

    def send(
        self, raw: bytes, *, mail_from: str, rcpt_tos: Sequence[str]
    ) -> dict[str, tuple[int, str]]: ...

log = logging.getLogger(__name__)

#: RFC 5321 §3.8 / §4.2.2: "421 Service not available, closing transmission
#: channel" — the server is going away; the connection is unusable.
_CLOSING = 421
#: RFC 1870 §6.1 / RFC 5321 §4.2.2: 552 at MAIL FROM with a SIZE parameter
#: (and RFC 3463's X.3.4) means this message is too big — a message fault.
_TOO_BIG = 552


class TemporaryFailure(TransportError):
    """Try again later: a 4xx reply, or the server could not be reached."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class PermanentFailure(TransportError):
    """The server refused this message or recipient for good (a 5xx reply)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class WrongProtocol(TransportError):
    """The port answered in another protocol (``* OK`` is IMAP's greeting): a wrong port.

    ``spoken`` names the protocol heard, e.g. ``IMAP``; ``greeting`` is its first line.
    """

    def __init__(self, message: str, *, spoken: str, greeting: str) -> None:
        super().__init__(message)
        self.spoken = spoken
        self.greeting = greeting


def _greeting_protocol(code: int, text: str) -> str | None:
    """The protocol of a greeting that is not SMTP's ``220``.

    smtplib reads the first three characters as the reply code (-1 when they
    are not digits) and keeps the rest from the fifth on: an IMAP server's
    ``* OK [CAPABILITY IMAP4rev1 …] ready`` (RFC 9051 §7.1) arrives as -1 and
    ``[CAPABILITY IMAP4rev1 …] ready``. None when it is an SMTP reply code.
    """
    if code != -1:
        return None
    if re.search(r"\bIMAP4|^\[CAPABILITY|^\*\s+(?:OK|PREAUTH|BYE)\b", text, re.IGNORECASE):
        return "IMAP"
    return "another protocol"


def _text(reply: bytes | str) -> str:
    """A server reply as one printable line (multi-line replies are joined)."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())[:300]


def _by_code(code: int, message: str) -> TransportError:
    """4xx → temporary, 5xx → permanent (RFC 5321 §4.2.1); anything else is
    not a valid reply here and is treated as temporary, the safe side."""
    if 500 <= code < 600:
        return PermanentFailure(message, code=code)
    return TemporaryFailure(message, code=code)


def _about_us(code: int, text: str) -> bool:
    """Is a 5xx refusal at RCPT about refmail's standing rather than the recipient?

    refmail talks to its own submission server, which hands mail on; a remote
    mailbox's problems come back later as bounces (DSNs). A synchronous
    refusal in RFC 3463's class X.7 (security or policy: "relaying denied",
    "authentication required") or a 530 (RFC 4954 §6) means this server will
    not take mail from us for *anyone* — a configuration error, not a failed
    recipient. Mailbox problems use X.1 (address) and X.2 (mailbox) instead.
    """
    return code == 530 or (500 <= code < 600 and text.startswith("5.7."))


class SmtpTransport:
    """One reusable SMTP connection configured by :class:`~refmail.config.SmtpSettings`."""

    def __init__(self, settings: SmtpSettings, *, tokens: TokenSource | None = None) -> None:
        # The config already refuses this; checked again because settings can
        # be built in code, and plain text would expose the password and every
        # referral on the network.
        if settings.security == "none" and not is_loopback(settings.host):
            raise TransportError(
                f'security = "none" is only allowed for a loopback host, not {settings.host!r}'
            )
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        self._password: str | None = None
        self._tokens = tokens
        #: How many connections were opened (and logged in): proves reuse in tests.
        self.connections_opened = 0

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection -----------------------------------------------------------
    def connect(self) -> None:
        """Open, secure and log in (no-op when connected). Called by :meth:`send`."""
        if self._conn is None:
            self._conn = self._open()
            self.connections_opened += 1

    def check(self) -> dict[str, str]:
        """Connect, secure and log in exactly as :meth:`send` would, then QUIT without sending.

        For ``refmail check``: proves the settings before a real message is at
        stake. Returns the EHLO extensions offered (after STARTTLS, RFC 3207
        §4.2), lower-case keyword to parameters, e.g. ``{"size": "35882577"}``.
        Raises what :meth:`connect` raises. A connection that was already open
        is used and left open.
        """
        fresh = self._conn is None
        self.connect()
        assert self._conn is not None
        features = dict(self._conn.esmtp_features)
        if fresh:
            self.close()
        return features

    def close(self) -> None:
        """Say QUIT politely and drop the connection; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()

    def _drop(self) -> None:
        """Forget a connection that failed, without talking to the server again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.settings.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"cannot read ca_file {self.settings.ca_file!r}: {exc}") from None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.timeout.total_seconds()
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                # Implicit TLS from the first byte (RFC 8314 §3.3, port 465).
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=self._context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=timeout)
            conn.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    # Never fall back to plain text: that is exactly what a
                    # downgrade attacker would arrange (RFC 3207 §6).
                    raise TransportError(
                        f"SMTP server {self.where} does not offer STARTTLS; refusing to send "
                        'in plain text (use security = "ssl" if it speaks implicit TLS)'
                    )
                conn.starttls(context=self._context())
                conn.ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS
            if s.username:
                self._login(conn)
            return conn
        except TransportError:
            self._discard(conn)
            raise
        except ssl.SSLCertVerificationError as exc:
            self._discard(conn)
            raise TransportError(
                f"the TLS certificate of SMTP server {self.where} was not accepted "
                f"({exc.verify_message}); set [smtp] ca_file if it is signed by a private CA"
            ) from None
        except ssl.SSLError as exc:
            # Checked before OSError (its base): a wrong security setting
            # typically shows up as WRONG_VERSION_NUMBER.
            self._discard(conn)
            raise TransportError(
                f"TLS with SMTP server {self.where} failed ({exc.reason or exc}); "
                f"does security = {s.security!r} match what the port speaks?"
            ) from None
        except smtplib.SMTPConnectError as exc:  # a greeting other than 220
            self._discard(conn)
            spoken = _greeting_protocol(exc.smtp_code, _text(exc.smtp_error))
            if spoken is not None:
                greeting = _text(exc.smtp_error)[:120]
                raise WrongProtocol(
                    f"port {s.port} of {s.host} speaks {spoken}, not SMTP (it said: {greeting}); "
                    "set [smtp] port to the SMTP server's port, usually 465 (ssl) or 587 (starttls)",
                    spoken=spoken, greeting=greeting,
                ) from None
            message = (
                f"SMTP server {self.where} refused the connection: {exc.smtp_code} {_text(exc.smtp_error)}"
            )
            raise (
                TransportError(message)
                if 500 <= exc.smtp_code < 600
                else TemporaryFailure(message, code=exc.smtp_code)
            ) from None
        except smtplib.SMTPResponseException as exc:  # EHLO/STARTTLS refused
            self._discard(conn)
            message = f"SMTP server {self.where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            raise (
                TemporaryFailure(message, code=exc.smtp_code)
                if 400 <= exc.smtp_code < 500
                else TransportError(message)
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard(conn)
            raise TemporaryFailure(f"cannot connect to SMTP server {self.where}: {exc}") from None

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH with smtplib's choice of CRAM-MD5, PLAIN or LOGIN (RFC 4954), or OAuth2."""
        s = self.settings
        if s.auth == "oauth2":
            self._oauth_login(conn)
            return
        try:
            password = s.password() or ""
        except ConfigError as exc:
            raise TransportError(f"cannot log in to SMTP server {self.where}: {exc}") from None
        self._password = password
        remember(password)
        try:
            conn.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            # 454 (RFC 4954 §6) is a temporary authentication failure.
            reply = self._scrub(f"{exc.smtp_code} {_text(exc.smtp_error)}")
            message = f"login refused for user {s.username} on {self.where} ({reply})"
            if 400 <= exc.smtp_code < 500:
                raise TemporaryFailure(message, code=exc.smtp_code) from None
            raise TransportError(message) from None
        except smtplib.SMTPNotSupportedError:
            raise TransportError(
                f"SMTP server {self.where} does not offer AUTH; clear [smtp] username "
                "if it accepts mail without a login"
            ) from None
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            raise TransportError(
                f"login for user {s.username} on {self.where} failed: {self._scrub(str(exc))}"
            ) from None

    def _oauth_login(self, conn: smtplib.SMTP) -> None:
        """AUTH XOAUTH2 / OAUTHBEARER with a token; one retry with a new one if a saved one is refused."""
        s, tokens = self.settings, self._tokens
        if tokens is None:
            raise TransportSignInFailed(
                f'[smtp] auth = "oauth2" but no token source for {s.username}',
                hint="build the transport with tokens=TokenSource.from_config(config)",
            )
        if not conn.has_extn("auth"):
            raise TransportError(f"SMTP server {self.where} does not offer AUTH, needed for an OAuth2 login")
        mechanism = choose_mechanism(tokens.settings.mechanism, conn.esmtp_features.get("auth", "").split())
        for attempt in (1, 2):
            try:
                token = tokens.token()
            except TokenUnavailable as exc:
                raise TemporaryFailure(f"no OAuth2 token for SMTP ({s.username}): {exc}") from None
            except TokenRefused as exc:
                raise TransportSignInFailed(f"SMTP sign-in for {s.username}: {exc.reason}",
                                            hint=exc.hint) from None
            try:
                answer = responder(mechanism, s.username, token.value)
                conn.auth(mechanism, cast(Any, answer))  # typeshed wants an overloaded callable
                return
            except smtplib.SMTPAuthenticationError as exc:
                code, text = exc.smtp_code, scrub(_text(exc.smtp_error))
                reply = f"{code} {text}"
                if 400 <= code < 500:  # 454 (RFC 4954 §6): temporary authentication failure
                    raise TemporaryFailure(f"SMTP server {self.where} cannot check the token now ({reply})",
                                           code=code) from None
                tokens.refused(token)
                if "5.7.139" in text:  # Exchange: SMTP AUTH is off for the tenant or the mailbox
                    raise TransportSignInFailed(
                        f"SMTP server {self.where} refused {s.username}: SMTP AUTH is disabled ({reply})",
                        hint=f"an Exchange admin must enable it: Set-CASMailbox -Identity {s.username} "
                        "-SmtpClientAuthenticationDisabled $false (and allow it for the tenant)",
                    ) from None
                if code == 504:  # RFC 4954 §6: mechanism not supported
                    raise TransportSignInFailed(
                        f"SMTP server {self.where} does not accept {mechanism} ({reply})",
                        hint='set oauth2.mechanism to what the server offers ("xoauth2" or "oauthbearer")',
                    ) from None
                if attempt == 1 and not token.new:
                    log.debug("SMTP %s refused a saved OAuth2 token (%s); trying a new one",
                              self.where, reply)
                    continue
                raise TransportSignInFailed(
                    f"SMTP server {self.where} refused the OAuth2 token for {s.username} ({reply})",
                    hint=f"the app or account needs permission to send as {s.username} (Microsoft: "
                    "SMTP.SendAsApp or SMTP.Send with consent; Google: the https://mail.google.com/ scope)",
                ) from None
            except smtplib.SMTPNotSupportedError:
                raise TransportError(f"SMTP server {self.where} does not offer AUTH") from None

    def _scrub(self, text: str) -> str:
        """Belt and braces: no server reply or library message may echo the password."""
        if self._password:
            text = text.replace(self._password, "***")
        return scrub(text)

    @staticmethod
    def _discard(conn: smtplib.SMTP | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- sending ----------------------------------------------------------------
    def send(self, raw: bytes, *, mail_from: str, rcpt_tos: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Send ``raw`` unchanged to ``rcpt_tos`` with envelope sender ``mail_from``.

        ``mail_from`` should be the tracking address: delivery status
        notifications go to the envelope sender (RFC 5321 §4.5.5), so bounces
        come back to refmail's own inbox. Returns the recipients the server
        refused while accepting the message for the others (empty when all
        were accepted); raises :class:`TemporaryFailure`,
        :class:`PermanentFailure` or :class:`TransportError` (see the module).
        """
        if not rcpt_tos:
            raise ValueError("send() needs at least one recipient")
        for attempt in (1, 2):
            reused = self._conn is not None
            self.connect()
            try:
                return self._send_once(raw, mail_from, list(rcpt_tos))
            except TransportError as exc:
                # smtplib closes the socket on 421 and on a lost connection;
                # a connection in that state must not be reused.
                if self._conn is not None and getattr(self._conn, "sock", None) is None:
                    self._drop()
                gone = isinstance(exc, TemporaryFailure) and (
                    exc.code in (None, _CLOSING) and self._conn is None
                )
                if attempt == 1 and reused and gone:
                    # A reused connection the server had closed while idle:
                    # one fresh connection settles whether it is really down.
                    log.debug("SMTP connection to %s was closed; reconnecting once", self.where)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, tuple[int, str]]:
        conn = self._conn
        assert conn is not None
        options: list[str] = []
        if not raw.isascii() and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")  # RFC 6152
        if not all(a.isascii() for a in (mail_from, *rcpt_tos)):
            # RFC 6531: internationalized addresses need SMTPUTF8 end to end.
            if not conn.has_extn("smtputf8"):
                raise PermanentFailure(
                    f"SMTP server {self.where} does not support SMTPUTF8, needed for "
                    f"{', '.join(a for a in rcpt_tos if not a.isascii()) or mail_from}"
                )
            options.append("SMTPUTF8")
        try:
            refused = conn.sendmail(mail_from, rcpt_tos, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused; retry only if one of them might take it later.
            replies = {a: (code, _text(text)) for a, (code, text) in exc.recipients.items()}
            detail = "; ".join(f"{a}: {code} {text}" for a, (code, text) in replies.items())
            codes = [code for code, _ in replies.values()]
            message = f"SMTP server {self.where} refused the recipient: {detail}"
            if any(_about_us(code, text) for code, text in replies.values()):
                # A relay refusing to relay for us would otherwise mark every
                # recipient as failed (and, downstream, as bounced).
                raise TransportError(
                    f"{message} — the server will not relay for refmail; check [smtp] "
                    "username and that the tracking address may send through it"
                ) from None
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentFailure(message, code=codes[0]) from None
            raise TemporaryFailure(message, code=next((c for c in codes if c < 500), None)) from None
        except smtplib.SMTPSenderRefused as exc:
            message = (
                f"SMTP server {self.where} refused the sender {mail_from}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}"
            )
            if exc.smtp_code == _TOO_BIG:
                raise PermanentFailure(message, code=exc.smtp_code) from None
            if 500 <= exc.smtp_code < 600:
                # Not this message's fault: every message would be refused the
                # same way (wrong sender for this login, AUTH required, ...).
                raise TransportError(message) from None
            raise TemporaryFailure(message, code=exc.smtp_code) from None
        except smtplib.SMTPDataError as exc:
            raise _by_code(
                exc.smtp_code,
                f"SMTP server {self.where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise TemporaryFailure(f"SMTP server {self.where} closed the connection: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(
                exc.smtp_code,
                f"SMTP server {self.where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
            ) from None
        except OSError as exc:  # timeouts, resets (smtplib wraps most, not all)
            self._drop()
            raise TemporaryFailure(f"SMTP connection to {self.where} failed: {exc}") from None
        except smtplib.SMTPException as exc:
            self._drop()
            raise TransportError(f"SMTP error with {self.where}: {exc}") from None
        return {a: (code, _text(text)) for a, (code, text) in refused.items()}
