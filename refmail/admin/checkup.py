"""``refmail check``: does this config work, and if not, what exactly to fix.

A new administrator's first run usually fails for one of a handful of
reasons: the password variable is not set or wrong, the server's certificate
is not trusted, the port does not speak the configured security mode, the
server cannot be reached, or the folder does not exist. Each check here
connects exactly as the daemon would (:class:`~refmail.incoming.mailbox.Mailbox`,
:class:`~refmail.outgoing.transport.SmtpTransport`), sends nothing, and turns a failure
into a :class:`CheckResult` that says which of those it is and what to change.

Port/mode mismatches are told apart by what the port says first: an IMAP or
SMTP server on a plain-text or STARTTLS port greets at once (``* OK``,
``220``, RFC 3501 §7.1.1, RFC 5321 §4.2), while an implicit-TLS port
(RFC 8314 §3.3) stays silent until the client starts the TLS handshake.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from refmail.admin.imap_survey import FolderProbe, FolderSurvey
from refmail.config import Config, ImapSettings, SmtpSettings, load_config
from refmail.errors import (
    ConfigError,
    MailboxError,
    MailboxSignInFailed,
    RefmailError,
    TokenRefused,
    TokenUnavailable,
    TransportError,
    TransportSignInFailed,
)
from refmail.incoming.mailbox import MailboxUnavailable
from refmail.oauth.source import TokenSource

__all__ = [
    "CheckResult",
    "Checkup",
    "Greeting",
    "check_database",
    "check_imap",
    "check_smtp",
    "probe",
    "run_checks",
]

#: How long to wait for a server's greeting when telling plain text from TLS.
GREETING_WAIT = 5.0


@dataclass(frozen=True)
class CheckResult:
    """One line of the checklist.

    ``problem`` names the kind of failure for programs and tests:
    ``config``, ``env``, ``unreachable``, ``certificate``, ``tls``,
    ``wrong_port``, ``login``, ``oauth`` (an OAuth2 sign-in refused for good),
    ``no_auth``, ``folder``, ``database`` or ``error``; None when ``ok``.
    ``hints`` are what to do about it (or, for a passing check, worth knowing).
    """

    name: str
    ok: bool
    target: str
    text: str
    problem: str | None = None
    hints: tuple[str, ...] = ()
    #: For a passing check: what works, but not as refmail would want (no
    #: flags, headers rewritten, an IDLE that does not tell). Shown with "!".
    warnings: tuple[str, ...] = ()

    def body(self) -> str:
        """``IMAP 127.0.0.1:993 (TLS, certificate ok) — folder INBOX, 3 messages``."""
        target = f" {self.target}" if self.target else ""
        joiner = " " if self.ok and self.text.startswith("(") else (" — " if self.ok else ": ")
        return f"{self.name}{target}{joiner}{self.text}"

    def line(self) -> str:
        """The body with its mark: ``✓ IMAP …`` or ``✗ SMTP …: login refused …``."""
        return f"{'✓' if self.ok else '✗'} {self.body()}"


@dataclass(frozen=True)
class Checkup:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


#: The default ports of each protocol, for the hint when a port speaks another one.
_USUAL_PORTS = {"IMAP": "993 (ssl) or 143 (starttls)", "SMTP": "465 (ssl) or 587 (starttls)"}


def protocol_of(greeting: str | None) -> str | None:
    """The protocol a server's first line belongs to: ``IMAP`` (``* OK``, RFC 9051 §7.1),
    ``SMTP`` (``220``, RFC 5321 §4.2), ``POP3`` (``+OK``, RFC 1939 §4); None when unknown."""
    if not greeting:
        return None
    if re.match(r"^\* (?:OK|PREAUTH|BYE)\b", greeting, re.IGNORECASE):
        return "IMAP"
    if re.match(r"^(?:220|421|554)(?:[ -]|$)", greeting):
        return "SMTP"
    if greeting.startswith("+OK"):
        return "POP3"
    return None


def other_protocol(name: str, port: int, greeting: str | None, section: str) -> tuple[str, str] | None:
    """``("port 993 speaks IMAP, not SMTP", hint)`` when ``greeting`` is another protocol's."""
    spoken = protocol_of(greeting)
    if spoken is None or spoken == name:
        return None
    usual = _USUAL_PORTS.get(name, "")
    return (f"port {port} speaks {spoken}, not {name} (it said: {greeting})",
            f"set [{section}] port to the {name} server's port" + (f", usually {usual}" if usual else ""))


@dataclass(frozen=True)
class Greeting:
    """What a port said right after the TCP connection: its first line, or None (silent)."""

    text: str | None

    @property
    def plain(self) -> bool:
        return self.text is not None


def probe(host: str, port: int, *, timeout: float, wait: float | None) -> Greeting:
    """Connect over TCP; with ``wait``, read the greeting for up to ``wait`` seconds.

    Raises :class:`OSError` when the connection itself fails.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if wait is None:
            return Greeting(None)
        sock.settimeout(wait)
        try:
            data = sock.recv(512)
        except TimeoutError:
            return Greeting(None)
        except OSError:
            return Greeting(None)
    if not data:
        return Greeting(None)
    first = data.split(b"\n", 1)[0].strip()
    # A TLS record (handshake 0x16 / alert 0x15) is not a greeting.
    if first[:1] in (b"\x15", b"\x16"):
        return Greeting(None)
    # "* OK [CAPABILITY IMAP4rev1 …] Dovecot ready." → "* OK Dovecot ready."
    text = re.sub(r"\s*\[[^\]]*\]", "", first.decode("ascii", "replace"))
    return Greeting(text if len(text) <= 60 else text[:59] + "…")


def _unreachable(exc: OSError, where: str, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"unknown host {where.rpartition(':')[0]!r}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    return exc.strerror or type(exc).__name__


def _cause(exc: BaseException) -> BaseException | None:
    """The library error a refmail error was raised while handling.

    Mailbox and SmtpTransport raise their own plain messages ``from None``;
    Python still records the original in ``__context__``, which says exactly
    what went wrong without parsing the message.
    """
    return exc.__cause__ or exc.__context__


def _security_label(security: str) -> str:
    return {"ssl": "TLS", "starttls": "STARTTLS", "none": "plain text, loopback"}[security]


def _env_missing(settings: ImapSettings | SmtpSettings, section: str) -> str | None:
    if settings.auth == "oauth2":
        return None  # no password: the token is the [oauth2] check's
    if settings.username and settings.password_env and settings.password_env not in os.environ:
        return settings.password_env
    if settings.username and not settings.password_env:
        return f"[{section}] password_env"
    return None


def _reachability(
    name: str, settings: ImapSettings | SmtpSettings, wait: float
) -> tuple[CheckResult | None, Greeting | None]:
    """Connect first: an unreachable server, or a port that does not speak the
    configured mode, is reported before any login attempt (which, on a silent
    implicit-TLS port, would only time out)."""
    where = f"{settings.host}:{settings.port}"
    timeout = settings.timeout.total_seconds()
    plain_expected = settings.security != "ssl"
    try:
        greeting = probe(settings.host, settings.port, timeout=timeout,
                         wait=min(wait, timeout) if plain_expected else None)
    except OSError as exc:
        if isinstance(exc, socket.gaierror):
            hint = f"check the spelling of [{name.lower()}] host, and that this machine can resolve names"
        else:
            hint = (f"check [{name.lower()}] host and port, that the server is running, and that no "
                    f"firewall blocks port {settings.port} from this machine")
        return CheckResult(
            name, False, where, f"cannot connect: {_unreachable(exc, where, timeout)}", "unreachable",
            (hint,),
        ), None
    wrong = other_protocol(name, settings.port, greeting.text, name.lower())
    if wrong is not None:
        return CheckResult(name, False, where, wrong[0], "wrong_protocol", (wrong[1],)), greeting
    if plain_expected and not greeting.plain:
        tls_port = 993 if name == "IMAP" else 465
        return CheckResult(
            name, False, where,
            f"port {settings.port} sent no greeting: it probably expects TLS from the first byte",
            "wrong_port",
            (f'use security = "ssl" for this port (usually {tls_port})',),
        ), greeting
    return None, greeting


def _tls_failure(name: str, settings: ImapSettings | SmtpSettings, cause: BaseException | None,
                 message: str, wait: float) -> CheckResult:
    """A certificate that is not trusted, or TLS spoken to a plain-text port."""
    where = f"{settings.host}:{settings.port}"
    section = name.lower()
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = cause.verify_message or "not trusted"
        if "hostname" in why.lower() or "ip address mismatch" in why.lower():
            hints = (f"the certificate is for another name: set [{section}] host to the name it is "
                     "issued for",)
        elif settings.ca_file:
            hints = (f"ca_file {settings.ca_file} does not vouch for this certificate; point "
                     f"[{section}] ca_file at the CA (or the self-signed certificate) in PEM form",)
        else:
            hints = (f'if the server uses a private CA or a self-signed certificate, set [{section}] '
                     'ca_file = "/path/to/ca.pem" (that CA, or the certificate itself, in PEM form)',)
        return CheckResult(name, False, where, f"certificate not trusted ({why})", "certificate", hints)
    if settings.security == "ssl":
        with contextlib.suppress(OSError):
            timeout = settings.timeout.total_seconds()
            greeting = probe(settings.host, settings.port, timeout=timeout, wait=min(wait, timeout))
            wrong = other_protocol(name, settings.port, greeting.text, section)
            if wrong is not None:
                return CheckResult(name, False, where, wrong[0], "wrong_protocol", (wrong[1],))
            if greeting.plain:
                plain_port = 143 if name == "IMAP" else 587
                tls_port = 993 if name == "IMAP" else 465
                return CheckResult(
                    name, False, where,
                    f"port {settings.port} speaks plain text first ({greeting.text}), not TLS",
                    "wrong_port",
                    (f'use security = "starttls" on this port (usually {plain_port}), or port '
                     f'{tls_port} with security = "ssl"',),
                )
    return CheckResult(name, False, where, message, "tls",
                       (f'check that security = "{settings.security}" is what port {settings.port} '
                        "speaks",))


# -- IMAP -----------------------------------------------------------------------------
def check_imap(
    settings: ImapSettings,
    *,
    wait: float = GREETING_WAIT,
    poll_interval: timedelta | None = None,
    test_idle: bool = False,
    tokens: TokenSource | None = None,
) -> CheckResult:
    """Connect, secure, log in and select the folder, as the daemon would.

    ``poll_interval`` only words the note when the server offers no IDLE.
    ``test_idle`` adds a test message (flagged deleted, removed at once) to
    time how soon IDLE tells of it (:class:`~refmail.admin.imap_survey.FolderProbe`).
    """
    where = f"{settings.host}:{settings.port}"
    missing = _env_missing(settings, "imap")
    if missing:
        return CheckResult("IMAP", False, where, f"the environment variable {missing} is not set", "env",
                           (f"export {missing}=… (for the service: put it in its EnvironmentFile)",))
    failed, _greeting = _reachability("IMAP", settings, wait)
    if failed:
        return failed
    mailbox = FolderProbe(settings, tokens=tokens)
    try:
        try:
            mailbox.connect()
        except MailboxSignInFailed as exc:
            return CheckResult("IMAP", False, where, exc.reason, "oauth", (exc.hint,) if exc.hint else ())
        except MailboxUnavailable as exc:
            return CheckResult("IMAP", False, where, str(exc).removeprefix(f"cannot connect to {where}: "),
                               "unreachable")
        except MailboxError as exc:
            return _imap_login_failure(settings, exc, wait)
        except ConfigError as exc:
            return CheckResult("IMAP", False, where, str(exc), "env")
        try:
            survey = mailbox.survey(test_idle=test_idle)
        except MailboxError as exc:
            return _folder_failure(mailbox, settings, exc)
    finally:
        mailbox.close()
    return _imap_ok(settings, survey, poll_interval)


def _imap_ok(settings: ImapSettings, survey: FolderSurvey, poll_interval: timedelta | None) -> CheckResult:
    """The passing line, and what is worth a warning about the folder."""
    where = f"{settings.host}:{settings.port}"
    folder = f"folder {settings.folder}"
    if survey.read_only:
        # Read with EXAMINE: everything works but flagging what could not be processed.
        folder += " (read-only: read with EXAMINE, nothing is flagged)"
    parts = [folder, f"{survey.messages} message{'s' * (survey.messages != 1)}"]
    warnings: list[str] = []
    if survey.idle:
        idle = "IDLE" if settings.idle else "IDLE (switched off in the config)"
        if survey.idle_test is not None and survey.idle_test.told_after is not None:
            idle += f" (told of a test message in {survey.idle_test.told_after:.1f}s)"
        elif survey.idle_test is not None:
            idle += " (silent)"
            warnings.append(
                f"IDLE did not tell of a test message within {survey.idle_test.waited:g}s: the server "
                "accepts IDLE but does not announce new mail; refmail notices and polls instead "
                "(on Cyrus, start idled: see docs/servers.md)"
            )
        elif survey.idle_untested:
            idle += f" (not tested: {survey.idle_untested})"
        parts.append(idle)
    else:
        every = f" every {poll_interval.total_seconds():g}s" if poll_interval else ""
        parts.append(f"no IDLE (polling{every})")
    if survey.idle_test is not None and not survey.idle_test.removed:
        warnings.append("the IDLE test message could not be removed: delete "
                        "'refmail check: IDLE test' from the folder by hand")
    if not survey.read_only and survey.flag is None:
        allowed = survey.permanent_flags or "none"
        warnings.append(
            f"the folder keeps no flag refmail can set (PERMANENTFLAGS: {allowed}): messages it "
            "cannot process will be recorded in its database but not flagged for people to see"
        )
    if survey.munged:
        examples = ", ".join(repr(w) for w in survey.munged)
        warnings.append(
            f"headers of {survey.munged_messages} of the last {survey.sampled} messages look rewritten "
            f"by the server ({examples}): 8-bit characters replaced by X on delivery, names arrive "
            "damaged; on Cyrus set munge8bit: no (see docs/servers.md)"
        )
    tls = _security_label(settings.security) + (", certificate ok" if settings.security != "none" else "")
    return CheckResult("IMAP", True, where, f"({tls}) — {', '.join(parts)}", None, (), tuple(warnings))


def _imap_login_failure(settings: ImapSettings, exc: MailboxError, wait: float) -> CheckResult:
    from imapclient.exceptions import CapabilityError, LoginError

    where = f"{settings.host}:{settings.port}"
    cause = _cause(exc)
    if isinstance(cause, LoginError):
        server = str(exc).partition(": ")[2]
        return CheckResult(
            "IMAP", False, where,
            f"login refused for user {settings.username} (check {settings.password_env})", "login",
            ((f"the server said: {server}",) if server else ())
            + ("some providers need an app password, or the full address as the username",),
        )
    if isinstance(cause, ssl.SSLError):
        return _tls_failure("IMAP", settings, cause, str(exc), wait)
    if isinstance(cause, CapabilityError):
        return CheckResult(
            "IMAP", False, where, f"port {settings.port} does not offer STARTTLS", "wrong_port",
            ('use security = "ssl" with its implicit-TLS port (usually 993)',),
        )
    return CheckResult("IMAP", False, where, str(exc), "error")


def _folder_failure(mailbox: FolderProbe, settings: ImapSettings, exc: MailboxError) -> CheckResult:
    where = f"{settings.host}:{settings.port}"
    try:
        names = mailbox.folder_names()
    except RefmailError:
        return CheckResult("IMAP", False, where, str(exc), "folder")
    wanted = settings.folder.upper() if settings.folder.upper() == "INBOX" else settings.folder
    if wanted not in names:
        return CheckResult(
            "IMAP", False, where, f"no folder {settings.folder!r} on the server", "folder",
            (f"folders there: {', '.join(sorted(names))}; set [imap] folder to one of them",),
        )
    if exc.kind == "folder":  # it exists, and this account may not open it
        return CheckResult("IMAP", False, where, str(exc), "folder",
                           (f"the folder exists: ask its owner to let {settings.username} read it "
                            "(the IMAP rights \"lr\"; reading is all refmail needs)",))
    problem = "unreachable" if exc.kind == "unavailable" else "error"
    return CheckResult("IMAP", False, where, str(exc), problem)


# -- SMTP -------------------------------------------------------------------------------
def check_smtp(
    settings: SmtpSettings, *, wait: float = GREETING_WAIT, tokens: TokenSource | None = None
) -> CheckResult:
    """Connect, secure, say EHLO, log in if configured, and QUIT without sending."""
    import smtplib

    from refmail.outgoing.transport import SmtpTransport, WrongProtocol

    where = f"{settings.host}:{settings.port}"
    missing = _env_missing(settings, "smtp")
    if missing:
        return CheckResult("SMTP", False, where, f"the environment variable {missing} is not set", "env",
                           (f"export {missing}=… (for the service: put it in its EnvironmentFile)",))
    failed, _greeting = _reachability("SMTP", settings, wait)
    if failed:
        return failed
    try:
        features = SmtpTransport(settings, tokens=tokens).check()
    except TransportSignInFailed as exc:
        return CheckResult("SMTP", False, where, exc.reason, "oauth", (exc.hint,) if exc.hint else ())
    except TransportError as exc:
        if isinstance(exc, WrongProtocol):
            hint = f"set [smtp] port to the SMTP server's port, usually {_USUAL_PORTS['SMTP']}"
            said = f"port {settings.port} speaks {exc.spoken}, not SMTP (it said: {exc.greeting})"
            return CheckResult("SMTP", False, where, said, "wrong_protocol", (hint,))
        cause = _cause(exc)
        if isinstance(cause, smtplib.SMTPAuthenticationError):
            return CheckResult(
                "SMTP", False, where,
                f"login refused for user {settings.username} (check {settings.password_env})", "login",
                (f"the server said: {cause.smtp_code} {_text(cause.smtp_error)}",),
            )
        if isinstance(cause, smtplib.SMTPNotSupportedError):
            return CheckResult("SMTP", False, where, "the server does not offer AUTH", "no_auth",
                               ("clear [smtp] username if it accepts mail from this machine without a "
                                "login, or use the submission port (587 or 465)",))
        if isinstance(cause, ssl.SSLError):
            return _tls_failure("SMTP", settings, cause, str(exc), wait)
        if settings.security == "starttls" and "STARTTLS" in str(exc):
            return CheckResult("SMTP", False, where, f"port {settings.port} does not offer STARTTLS",
                               "wrong_port", ('use security = "ssl" with port 465, or port 587 for '
                                             "STARTTLS",))
        if isinstance(cause, OSError):
            return CheckResult("SMTP", False, where, str(exc), "unreachable")
        return CheckResult("SMTP", False, where, str(exc), "error")
    parts = [f"AUTH as {settings.username}" if settings.username else "no login (username empty)"]
    size = features.get("size", "").strip()
    if size.isdigit() and int(size):
        parts.append(f"messages up to {int(size) / 1_000_000:.0f} MB")
    hints: tuple[str, ...] = ()
    if settings.security == "none" and "starttls" in features:
        hints = ('the server offers STARTTLS: security = "starttls" keeps mail encrypted, and some '
                 "servers refuse mail without it",)
    tls = _security_label(settings.security) + (", certificate ok" if settings.security != "none" else "")
    return CheckResult("SMTP", True, where, f"({tls}) — {', '.join(parts)}, nothing sent", None, hints)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- database --------------------------------------------------------------------------------
def check_database(config: Config) -> CheckResult:
    """Can the daemon write its database (and its WAL files, beside it)?"""
    path = config.database_path()
    directory = path.parent
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(directory, os.W_OK | os.X_OK):
            return CheckResult("database", False, str(path), "not writable by this user", "database",
                               ("the daemon's user must be able to write the file and its directory "
                                "(SQLite keeps -wal and -shm files beside it)",))
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                count = conn.execute("SELECT count(*) FROM referrals").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return CheckResult("database", False, str(path), f"not a refmail database ({exc})", "database")
        return CheckResult("database", True, str(path), f"{count} referral{'s' * (count != 1)}")
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return CheckResult("database", False, str(path), f"cannot be created: {existing} is not writable",
                           "database", (f"create {directory} for the daemon's user",))
    return CheckResult("database", True, str(path), "new; created on the first run")


def run_checks(
    config_path: str | os.PathLike[str] | None, *, wait: float = GREETING_WAIT, test_idle: bool = False
) -> Checkup:
    """Every check, in the order a new administrator fixes things (``test_idle``: see :func:`check_imap`)."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return Checkup((CheckResult("config", False, "", str(exc), "config"),))
    source = str(config.source or Path(config_path or ""))
    members = len(config.members)
    first = CheckResult(
        "config", True, source,
        f"{config.group.name}, {members} member{'s' * (members != 1)}, tracking "
        f"{config.group.tracking_address}",
        None,
        () if members or config.group.open_membership
        else ("no [[members]] yet: intros from non-members are not tracked",),
    )
    tokens = TokenSource.from_config(config)
    results = [first, check_database(config)]
    if tokens is not None:
        results.append(check_oauth(tokens))
    token_failed = tokens is not None and not results[-1].ok
    for name, settings in (("IMAP", config.imap), ("SMTP", config.smtp)):
        if token_failed and settings.auth == "oauth2":
            # The same missing token again would only repeat the line above.
            results.append(CheckResult(name, False, f"{settings.host}:{settings.port}",
                                       "not tried: no OAuth2 token (see above)", "oauth"))
        elif name == "IMAP":
            results.append(check_imap(config.imap, wait=wait, poll_interval=config.timing.poll_interval,
                                      test_idle=test_idle, tokens=tokens))
        else:
            results.append(check_smtp(config.smtp, wait=wait, tokens=tokens))
    return Checkup(tuple(results))


def check_oauth(tokens: TokenSource) -> CheckResult:
    """Get an access token as the daemon would; say when it expires, or what to do."""
    target = f"{tokens.settings.provider} ({tokens.settings.flow})"
    try:
        token = tokens.token()
    except TokenRefused as exc:
        return CheckResult("OAuth2", False, target, exc.reason, "oauth", (exc.hint,) if exc.hint else ())
    except TokenUnavailable as exc:
        return CheckResult("OAuth2", False, target, str(exc), "unreachable",
                           ("try again in a moment; if it persists, check that this machine reaches the "
                            "token endpoint (a proxy, a firewall?)",))
    except ConfigError as exc:
        return CheckResult("OAuth2", False, target, str(exc), "env",
                           (f"export {tokens.settings.client_secret_env}=… (for the service: put it in its "
                            "EnvironmentFile)",))
    left = tokens.seconds_left(token)
    life = "expiry unknown" if left is None else f"renewed in {left / 60:.0f} min"
    return CheckResult("OAuth2", True, target, f"a token for {tokens.account} ({life})")
