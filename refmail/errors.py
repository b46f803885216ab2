"""The exceptions refmail raises on purpose.

Every expected failure derives from :class:`RefmailError`, so the CLI can turn
each into one clear line for the user instead of a traceback (imapclient keeps
the same discipline with a single root exception and documented subclasses).

- :class:`ConfigError` — the config file is missing, not TOML, or has a wrong
  value. Carries the file and the key so the message can name both, and
  every problem found when there were several (one line each).
- :class:`StoreError` — the SQLite database cannot be opened or migrated
  (:class:`refmail.storage.migrations.NewerDatabase`: a newer refmail wrote it).
- :class:`LockError` — another refmail daemon already runs on the same
  database (a :class:`StoreError`, so code that handles those handles it).
- :class:`MailboxError` — the IMAP server cannot be reached, refuses the login,
  has no such folder, or a TLS policy forbids the connection.
- :class:`MailboxUnavailable` — a :class:`MailboxError` where retrying may
  help: the server cannot be reached or dropped the connection.
- :class:`TransportError` — the same for the SMTP server.
- :class:`SignInFailed` — a sign-in was refused for good and only a person can
  fix it: the saved OAuth2 sign-in was revoked or expired, the client secret
  is wrong, the app may not open the mailbox, the server turned off this way
  of signing in. Carries ``hint``, what to run or whom to ask. ``refmail run``
  stops on it with exit status 78 (EX_CONFIG) instead of retrying.
- :class:`OAuthError` — no OAuth2 access token could be obtained;
  :class:`TokenUnavailable` (the token endpoint is down, slow or answers 5xx:
  retried with back-off) or :class:`TokenRefused` (a :class:`SignInFailed`:
  ``invalid_grant``, ``invalid_client``, …).
- :class:`MailboxSignInFailed`, :class:`TransportSignInFailed` — the IMAP or
  SMTP server refused a fresh token (a :class:`MailboxError` or
  :class:`TransportError` that is also a :class:`SignInFailed`).
- :class:`SourceError` — a path given to ``refmail import`` is not an ``.eml``
  file, an mbox or a Maildir.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = [
    "ConfigError",
    "LockError",
    "MailboxError",
    "MailboxFailure",
    "MailboxSignInFailed",
    "MailboxUnavailable",
    "OAuthError",
    "RefmailError",
    "SignInFailed",
    "SourceError",
    "StoreError",
    "TokenRefused",
    "TokenUnavailable",
    "TransportError",
    "TransportSignInFailed",
]


class RefmailError(Exception):
    """Root of every error refmail expects and explains to its user."""


class ConfigError(RefmailError):
    """The configuration is missing or invalid.

    ``path`` is the file that was read (or looked for) and ``key`` the dotted
    key that is wrong, e.g. ``timing.feedback_after``; both may be ``None``
    when the problem is not tied to one of them.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        problems: Sequence[tuple[str | None, str]] = (),
    ):
        """``problems``: every ``(key, message)`` found, when there were several;
        the first is ``key`` and ``message``. Each gets a line of its own."""
        self.path = path
        self.key = key
        self.detail = message
        self.problems: tuple[tuple[str | None, str], ...] = tuple(problems) or ((key, message),)
        where = f"{path}: " if path else ""
        if len(self.problems) > 1:
            lines = [f"{where}{len(self.problems)} problems"]
            lines += [f"  {k}: {m}" if k else f"  {m}" for k, m in self.problems]
            super().__init__("\n".join(lines))
            return
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")


class StoreError(RefmailError):
    """The referral database cannot be opened, migrated or written."""


class LockError(StoreError):
    """Another process holds the database's daemon lock; ``pid`` is its PID when known."""

    def __init__(self, message: str, *, pid: int | None = None):
        self.pid = pid
        super().__init__(message)


#: What went wrong on the IMAP side, for code that decides what to do next
#: (the message is for people and never parsed):
#:
#: - ``unavailable``: the server cannot be reached, dropped the connection or
#:   said ``[UNAVAILABLE]`` (RFC 5530); retrying soon may help.
#: - ``login``: the credentials were refused; retrying soon will not help.
#: - ``tls``: the certificate is not trusted, or the port speaks another mode.
#: - ``folder``: the folder does not exist or cannot be opened; it may be
#:   created (again) at any time.
#: - ``refused``: the server refused a command for another reason.
#: - ``error``: anything else.
MailboxFailure = Literal["unavailable", "login", "tls", "folder", "refused", "error"]


class MailboxError(RefmailError):
    """The IMAP side failed: connection, TLS, login or folder.

    ``kind`` says which (:data:`MailboxFailure`); ``code`` is the server's
    response code when it gave one (``"NONEXISTENT"``, ``"AUTHENTICATIONFAILED"``,
    RFC 5530), else None.
    """

    def __init__(self, message: str, *, kind: MailboxFailure = "error", code: str | None = None) -> None:
        super().__init__(message)
        self.kind: MailboxFailure = kind
        self.code = code


class MailboxUnavailable(MailboxError):
    """The server cannot be reached or dropped the connection; retrying may help.

    ``logged`` is True when the Mailbox has already logged this outage (it
    retried before giving up), so the caller need not report it again.
    """

    def __init__(self, message: str, *, logged: bool = False, code: str | None = None) -> None:
        super().__init__(message, kind="unavailable", code=code)
        self.logged = logged


class TransportError(RefmailError):
    """The SMTP side failed: connection, TLS, login or a refused message."""


class SourceError(RefmailError):
    """A path given to ``refmail import`` cannot be read as mail."""


class SignInFailed(RefmailError):
    """A sign-in refused for good: retrying cannot help until a person acts.

    ``hint`` says what to do (run ``refmail oauth login``, ask the tenant's
    admin for consent, …); it is part of the message too.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        #: The message without the hint.
        self.reason = message
        self.hint = hint


class OAuthError(RefmailError):
    """No OAuth2 access token could be obtained from the configured flow."""


class TokenUnavailable(OAuthError):
    """The token endpoint (or ``token_command``) failed in a way that may pass: retry later."""


class TokenRefused(OAuthError, SignInFailed):
    """The token endpoint refused the sign-in for good (``invalid_grant``, ``invalid_client``, …)."""


class MailboxSignInFailed(MailboxError, SignInFailed):
    """The IMAP server refused a fresh access token (or it opens no mailbox)."""

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        SignInFailed.__init__(self, message, hint=hint)
        self.kind: MailboxFailure = "login"
        self.code = code


class TransportSignInFailed(TransportError, SignInFailed):
    """The SMTP server refused a fresh access token, or SMTP AUTH is turned off for the mailbox."""
