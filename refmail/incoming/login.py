"""Signing in to IMAP: LOGIN with a password, or AUTHENTICATE with an OAuth2 token.

A part of :class:`refmail.incoming.mailbox.Mailbox`'s connect, kept apart
because deciding what a refused login *means* is a concept of its own. IMAP
servers say it with RFC 5530 response codes:

- ``[UNAVAILABLE]`` — "temporary failure because a subsystem is down" (Dovecot
  answers it when its token introspection endpoint is down): retry later,
  for passwords and tokens alike (:class:`~refmail.errors.MailboxUnavailable`);
- anything else — ``[AUTHENTICATIONFAILED]``, ``[AUTHORIZATIONFAILED]``,
  ``[EXPIRED]`` or a plain ``NO`` — is a refusal. A refused password is a plain
  ``MailboxError`` as before. A refused *token* may just be stale (revoked
  early, or the server's clock is ahead): the source drops it, a new one is
  obtained and tried once; a new token refused is a
  :class:`~refmail.errors.MailboxSignInFailed`, with what to do about it.

Microsoft accepts a token for a mailbox the app may not open and only then
answers every command with ``BAD User is authenticated but not connected``, so
an OAuth2 login is followed by a NOOP before it counts (mutt_oauth2.py does
the same).

The SASL exchange goes through imaplib's ``authenticate`` (imapclient's
``oauth2_login`` would answer the server's error challenge by sending the
token again, where RFC 7628 §3.2.3 wants a dummy response).
"""

from __future__ import annotations

import imaplib
import logging

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from refmail.config import ImapSettings
from refmail.errors import MailboxSignInFailed, MailboxUnavailable, TokenRefused, TokenUnavailable
from refmail.incoming.responses import failure_kind, response_code, server_words, without_code
from refmail.oauth.redaction import remember, scrub
from refmail.oauth.sasl import choose_mechanism, responder
from refmail.oauth.source import TokenSource

__all__ = ["ImapLogin", "response_code"]

log = logging.getLogger(__name__)

def _text(exc: BaseException) -> str:
    """The server's words, as text (:func:`~refmail.incoming.responses.server_words`), secrets masked."""
    return scrub(server_words(exc))


class ImapLogin:
    """How one Mailbox signs in (see the module docstring)."""

    def __init__(self, settings: ImapSettings, tokens: TokenSource | None) -> None:
        self.settings = settings
        self.tokens = tokens

    def sign_in(self, client: IMAPClient, where: str) -> float | None:
        """Log in on ``client``; seconds until this session should be renewed (None: no limit).

        A password login raises imapclient's ``LoginError`` for the Mailbox to
        word, or :class:`MailboxUnavailable` for ``[UNAVAILABLE]``; an OAuth2
        one raises :class:`MailboxUnavailable` or :class:`MailboxSignInFailed`.
        """
        s = self.settings
        if s.auth != "oauth2":
            password = s.password() or ""
            remember(password)
            try:
                client.login(s.username, password)
            except IMAPClientError as exc:
                code = response_code(_text(exc))
                if failure_kind("login", code) == "unavailable":  # [UNAVAILABLE], [INUSE], [LIMIT]…
                    raise MailboxUnavailable(
                        f"{where} cannot check logins right now: {without_code(_text(exc))}", code=code
                    ) from None
                raise
            return None
        return self._oauth(client, where)

    def _oauth(self, client: IMAPClient, where: str) -> float | None:
        tokens = self.tokens
        user = self.settings.username
        if tokens is None:
            raise MailboxSignInFailed(f'[imap] auth = "oauth2" but no token source for {user}',
                                      hint="build the Mailbox with tokens=TokenSource.from_config(config)")
        offered = [c.decode("ascii", "replace")[5:] for c in client.capabilities()
                   if c.upper().startswith(b"AUTH=")]
        mechanism = choose_mechanism(tokens.settings.mechanism, offered)
        for attempt in (1, 2):
            try:
                token = tokens.token()
            except TokenUnavailable as exc:
                raise MailboxUnavailable(f"no OAuth2 token for IMAP ({user}): {exc}") from None
            except TokenRefused as exc:
                raise MailboxSignInFailed(f"IMAP sign-in for {user}: {exc.reason}", hint=exc.hint) from None
            errors: list[dict[str, str]] = []
            try:
                client._imap.authenticate(mechanism, responder(mechanism, user, token.value, errors))
            except imaplib.IMAP4.abort:
                raise  # the connection is gone: the Mailbox's outage handling
            except imaplib.IMAP4.error as exc:
                text, code = _text(exc), response_code(_text(exc))
                if code == "UNAVAILABLE":
                    raise MailboxUnavailable(f"{where} cannot check tokens right now: {text}",
                                             code=code) from None
                tokens.refused(token)
                if attempt == 1 and not token.new:
                    log.debug("IMAP %s refused a saved OAuth2 token (%s); trying a new one", where, text)
                    continue
                raise MailboxSignInFailed(
                    f"{where} refused the OAuth2 token for {user} ({mechanism}: {text})",
                    hint=self._hint(user), code=code,
                ) from None
            break
        self._connected(client, where, user)
        renew = tokens.seconds_left(token)
        log.debug("signed in to IMAP %s as %s with %s%s", where, user, mechanism,
                  f"; the token is renewed in {renew:.0f}s" if renew is not None else "")
        return renew

    def _connected(self, client: IMAPClient, where: str, user: str) -> None:
        """One command after AUTHENTICATE: Microsoft's "authenticated but not connected"."""
        try:
            client.noop()
        except imaplib.IMAP4.abort:
            raise
        except (IMAPClientError, imaplib.IMAP4.error) as exc:
            text = _text(exc)
            raise MailboxSignInFailed(
                f"{where} accepted the OAuth2 token for {user} but opens no mailbox for it ({text})",
                hint=self._hint(user),
            ) from None

    def _hint(self, user: str) -> str:
        assert self.tokens is not None
        oauth = self.tokens.settings
        if oauth.provider == "microsoft" and oauth.flow == "client_credentials":
            return (f"the app needs access to {user}: in Exchange Online PowerShell run New-ServicePrincipal "
                    f"and Add-MailboxPermission -Identity {user} -User <service principal id> -AccessRights "
                    "FullAccess, and grant IMAP.AccessAsApp with admin consent (docs/oauth2.md)")
        if oauth.provider == "microsoft":
            return (f"the signed-in account needs access to {user} (FullAccess for a shared mailbox) and "
                    "IMAP on for the mailbox; or run `refmail oauth login` as the mailbox's own user")
        if oauth.provider == "google":
            return ("check that [imap] username is the mailbox that signed in (or was delegated), and that "
                    "IMAP is on (Gmail settings → Forwarding and POP/IMAP; Admin console for Workspace)")
        return "check [imap] username and the token's scopes (oauth2.scopes)"
