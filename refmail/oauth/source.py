"""The token source: one per mailbox, shared by IMAP and SMTP, good for months.

:meth:`TokenSource.token` hands out an access token, obtaining a new one when
the current one is within its refresh margin of expiring (five minutes, or a
fifth of a short token's life), by the configured flow:

- ``client_credentials`` — the app's own secret (Microsoft 365 app-only);
- ``refresh_token`` — the sign-in saved by ``refmail oauth login``; a rotated
  refresh token is written to the token file *before* the access token that
  came with it is handed out;
- ``service_account`` — a JWT signed with a Google service account's key
  (google-auth does the RS256 signing), for domain-wide delegation;
- ``command`` — ``token_command`` prints one, as mbsync's ``PassCmd`` helpers do.

Failures are split as the endpoint's answers are (:mod:`refmail.oauth.endpoint`):
a temporary one (:class:`~refmail.errors.TokenUnavailable`) starts a back-off
(1 s doubling to 30 s, as IMAP reconnects) during which no request is made — and while the
current token has not actually expired it is still handed out, so an endpoint
outage shorter than the margin goes unnoticed; a permanent one
(:class:`~refmail.errors.TokenRefused`) is remembered and raised again without
a request until the token file changes (``refmail oauth login`` wrote a new
one). :meth:`refused` is how a mail server's "no" reaches the source: that
token is dropped, so the next :meth:`token` obtains a new one — the "refresh
once, retry once" of a refused login.

Thread-safe (one lock); processes share the token file under its ``flock``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refmail.errors import TokenRefused, TokenUnavailable
from refmail.oauth.endpoint import EndpointRefusal, Grant, explain, grant_from, post_form
from refmail.oauth.redaction import remember, scrub
from refmail.oauth.token_file import SavedTokens, TokenFile

if TYPE_CHECKING:
    from refmail.config import Config, OAuth2Settings

__all__ = ["REFRESH_MARGIN", "AccessToken", "TokenSource", "refresh_margin"]

log = logging.getLogger(__name__)

#: Renew a token this long before it expires (email-oauth2-proxy uses 600 s,
#: getmail6 100 s): room for a slow endpoint and a login in flight.
REFRESH_MARGIN = 300.0
#: Temporary failures: wait this long before the first retry, doubling up to the cap.
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 30.0
#: Service-account assertions are valid for an hour at most (Google's limit).
_ASSERTION_SECONDS = 3600

Post = Callable[..., dict[str, Any]]


def refresh_margin(lifetime: float | None) -> float:
    """How long before expiry a token is renewed: five minutes, or a fifth of a short life."""
    if lifetime is None or lifetime <= 0:
        return REFRESH_MARGIN
    return min(REFRESH_MARGIN, lifetime / 5)


@dataclass(frozen=True)
class AccessToken:
    """An access token, when it expires (epoch seconds; None: unknown) and when it was obtained.

    ``new`` is True when it was obtained from the endpoint for this very
    request: a server refusing a *new* token will refuse the next one too.
    """

    value: str
    expires_at: float | None
    issued_at: float
    new: bool = False

    def __repr__(self) -> str:  # never the token itself, wherever it is printed
        return f"AccessToken(expires_at={self.expires_at!r}, new={self.new!r})"

    @property
    def lifetime(self) -> float | None:
        return None if self.expires_at is None else self.expires_at - self.issued_at

    def renew_at(self) -> float | None:
        """When to replace it (and end a session that logged in with it); None: never planned."""
        if self.expires_at is None:
            return None
        return self.expires_at - refresh_margin(self.lifetime)

    def fresh(self, now: float) -> bool:
        """Good to use without renewing first."""
        renew = self.renew_at()
        return renew is not None and now < renew

    def usable(self, now: float) -> bool:
        """Not expired yet (with a little grace for the login in flight)."""
        if self.expires_at is None:
            return False
        return now < self.expires_at - min(10.0, refresh_margin(self.lifetime) / 4)


class TokenSource:
    """Access tokens for one mailbox (see the module docstring)."""

    def __init__(
        self,
        settings: OAuth2Settings,
        *,
        account: str,
        token_path: Path | None,
        config_source: Path | None = None,
        clock: Callable[[], float] = time.time,
        post: Post = post_form,
        run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    ) -> None:
        self.settings = settings
        self.account = account
        self.file = TokenFile(token_path) if token_path is not None and settings.flow != "command" else None
        self.config_source = config_source
        self._clock = clock
        self._post = post
        self._run = run
        self._lock = threading.Lock()
        self._cached: AccessToken | None = None
        self._refused: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure: TokenUnavailable | None = None
        self._permanent: tuple[TokenRefused, tuple[int, int, int] | None] | None = None
        self._outage_logged = False

    @classmethod
    def from_config(cls, config: Config) -> TokenSource | None:
        """The source for ``config``'s mailbox; None when neither server signs in with OAuth2."""
        if not config.uses_oauth2:
            return None
        return cls(
            config.oauth2,
            account=config.oauth2_account,
            token_path=config.oauth2_token_path(),
            config_source=config.source,
        )

    @property
    def description(self) -> str:
        """``microsoft (client_credentials) for refs@harbornet.example``."""
        return f"{self.settings.provider} ({self.settings.flow}) for {self.account}"

    # -- handing out tokens ----------------------------------------------------------
    def token(self) -> AccessToken:
        """A token good for at least the refresh margin (see the module docstring).

        Raises :class:`TokenUnavailable` (retry later) or :class:`TokenRefused`.
        """
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is not None and cached.fresh(now):
                return cached
            if now < self._retry_at and self._last_failure is not None:
                if cached is not None and cached.usable(now):
                    return cached
                raise self._last_failure
            if self._permanent is not None:
                error, stamp = self._permanent
                if self.file is None or self.file.stamp() == stamp:
                    raise error
                self._permanent = None  # a new sign-in was saved meanwhile: try it
            try:
                token = self._obtain(now)
            except TokenUnavailable as exc:
                self._failures += 1
                delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (self._failures - 1))
                self._retry_at = now + delay
                self._last_failure = exc
                if cached is not None and cached.usable(now):
                    if not self._outage_logged:
                        log.warning("cannot renew the OAuth2 access token (%s); the current one is valid "
                                    "for another %.0fs", exc, (cached.expires_at or now) - now)
                        self._outage_logged = True
                    return cached
                raise
            except TokenRefused as exc:
                self._permanent = (exc, self.file.stamp() if self.file else None)
                raise
            if self._failures and self._outage_logged:
                log.info("the OAuth2 token endpoint answers again")
            self._failures, self._retry_at, self._last_failure = 0, 0.0, None
            self._outage_logged = False
            if token.expires_at is not None:
                self._cached = replace(token, new=False)  # new for this caller only
            return token

    def forget(self) -> None:
        """Drop the cached token and remembered failures: a new sign-in was just saved."""
        with self._lock:
            self._cached, self._permanent, self._last_failure = None, None, None
            self._failures, self._retry_at = 0, 0.0

    def refused(self, token: AccessToken) -> None:
        """A mail server refused ``token``: never hand it out again (the next one is new)."""
        with self._lock:
            self._refused.add(token.value)
            if self._cached is not None and self._cached.value == token.value:
                self._cached = None

    def seconds_left(self, token: AccessToken) -> float | None:
        """Seconds a session signed in with ``token`` may last; None when its expiry is unknown.

        Until the token's renewal, normally. A token handed out past it (the
        endpoint is down) keeps its session until shortly before it really
        expires, not a moment: else every wait would end in a reconnect.
        """
        renew, now = token.renew_at(), self._clock()
        if renew is None or token.expires_at is None:
            return None
        if now < renew:
            return renew - now
        return max(1.0, token.expires_at - now - min(10.0, refresh_margin(token.lifetime) / 4))

    # -- obtaining ------------------------------------------------------------------------
    def _obtain(self, now: float) -> AccessToken:
        flow = self.settings.flow
        if flow == "command":
            return self._from_command(now)
        assert self.file is not None, "a token file is needed for every flow but command"
        with self.file.locked():
            saved = self.file.read()
            if saved is not None and (saved.account.lower() != self.account.lower() or saved.flow != flow
                                      or saved.client_id != self.settings.client_id):
                if flow == "refresh_token":
                    raise TokenRefused(
                        f"the token file {self.file.path} holds a sign-in for {saved.account} "
                        f"({saved.flow}, app {saved.client_id or '?'}), not {self.account} ({flow}, app "
                        f"{self.settings.client_id})",
                        hint="run `refmail oauth login` to sign in as the configured mailbox and app",
                    )
                saved = None  # another app's token: request our own
            if saved is not None and saved.access_token and saved.access_token not in self._refused:
                # Another process (or this one before a restart) may have renewed it already.
                stored = AccessToken(saved.access_token, saved.expires_at, saved.issued_at or now)
                if stored.fresh(now):
                    return stored
            grant = self._request(saved)
            issued = self._clock()
            expires_at = issued + grant.expires_in if grant.expires_in else None
            base = saved or SavedTokens(
                account=self.account, provider=self.settings.provider, flow=flow,
                client_id=self.settings.client_id, scopes=self.settings.effective_scopes,
            )
            # Written before the token is handed out: a rotated refresh token must survive a crash.
            self.file.write(base.with_access(grant.access_token, expires_at=expires_at, issued_at=issued,
                                             refresh_token=grant.refresh_token, scope=grant.scope))
            log.debug("OAuth2: new access token for %s (%s), %s", self.account, flow,
                      f"valid {grant.expires_in:.0f}s" if grant.expires_in else "expiry unknown")
            return AccessToken(grant.access_token, expires_at, issued, new=True)

    def _request(self, saved: SavedTokens | None) -> Grant:
        s = self.settings
        url = s.effective_token_url
        fields: dict[str, str]
        if s.flow == "client_credentials":
            fields = {"grant_type": "client_credentials", "client_id": s.client_id,
                      "scope": " ".join(s.effective_scopes)}
            secret = s.client_secret()
            if secret is not None:
                fields["client_secret"] = secret
        elif s.flow == "refresh_token":
            if saved is None or not saved.refresh_token:
                assert self.file is not None
                raise TokenRefused(
                    f"no saved OAuth2 sign-in for {self.account} in {self.file.path}",
                    hint="run `refmail oauth login` (as the user the daemon runs as) to sign in once",
                )
            fields = {"grant_type": "refresh_token", "refresh_token": saved.refresh_token,
                      "client_id": s.client_id}
            if s.provider != "google" and s.effective_scopes:
                fields["scope"] = " ".join(s.effective_scopes)  # Microsoft v2 wants them again
            secret = s.client_secret()
            if secret is not None:
                fields["client_secret"] = secret
        else:  # service_account
            url, fields = self._service_account_grant()
        return self._send(url, fields)

    def _send(self, url: str, fields: Mapping[str, str]) -> Grant:
        try:
            data = self._post(url, fields, timeout=self.settings.timeout.total_seconds())
        except EndpointRefusal as refusal:
            raise explain(refusal, account=self.account, provider=self.settings.provider,
                          flow=self.settings.flow, secret_env=self.settings.client_secret_env) from None
        return grant_from(data, url)

    def _service_account_grant(self) -> tuple[str, dict[str, str]]:
        """The JWT bearer grant (RFC 7523) Google's service accounts use, signed by google-auth."""
        s = self.settings
        path = s.resolve(s.service_account_file, self.config_source)
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            email, private_key = info["client_email"], info["private_key"]
        except FileNotFoundError:
            raise TokenRefused(
                f"no service account key file {path}",
                hint="set oauth2.service_account_file to the JSON key you downloaded",
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TokenRefused(
                f"cannot read the service account key {path} ({type(exc).__name__}: {exc})",
                hint="download the key again as JSON (IAM → Service accounts → Keys)",
            ) from None
        remember(private_key)
        try:
            from google.auth import crypt, jwt
        except ImportError:
            raise TokenRefused(
                'flow = "service_account" needs google-auth, which is not installed',
                hint="install it: pip install 'refmail[google]' (or make install in a checkout)",
            ) from None
        url = s.token_url or str(info.get("token_uri") or "") or s.effective_token_url
        now = int(self._clock())
        try:
            signer = crypt.RSASigner.from_service_account_info(info)
            assertion = jwt.encode(signer, {
                "iss": email, "sub": self.account, "scope": " ".join(s.effective_scopes),
                "aud": url, "iat": now, "exp": now + _ASSERTION_SECONDS,
            })
        except (ValueError, TypeError) as exc:
            raise TokenRefused(f"cannot sign with the service account key {path}: {exc}",
                               hint="download the key again as JSON") from None
        value = assertion.decode() if isinstance(assertion, bytes) else str(assertion)
        return url, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": value}

    def _from_command(self, now: float) -> AccessToken:
        argv = list(self.settings.token_command)
        timeout = self.settings.timeout.total_seconds()
        name = argv[0] if argv else "token_command"
        try:
            done = self._run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            raise TokenRefused(f"token_command: no such program {name!r}",
                               hint="write the full path in oauth2.token_command") from None
        except PermissionError:
            raise TokenRefused(f"token_command: {name!r} is not executable",
                               hint="check oauth2.token_command and the file's permissions") from None
        except subprocess.TimeoutExpired:
            raise TokenUnavailable(f"token_command {name!r} gave no token within {timeout:g}s") from None
        except OSError as exc:
            raise TokenUnavailable(f"token_command {name!r} could not run: {exc.strerror or exc}") from None
        out = (done.stdout or "").strip()
        if done.returncode != 0 or not out:
            said = [line for line in (done.stderr or "").splitlines() if line.strip()]
            detail = f": {scrub(said[-1].strip())[:200]}" if said else ""
            raise TokenUnavailable(
                f"token_command {name!r} " + (f"failed (exit status {done.returncode})"
                                              if done.returncode else "printed no token") + detail
            )
        expires_at: float | None = None
        value = out.splitlines()[0].strip()
        if out.startswith("{"):
            try:
                data = json.loads(out)
                value = str(data["access_token"])
                if data.get("expires_in") is not None:
                    expires_at = now + float(data["expires_in"])
                elif data.get("expires_at") is not None:
                    expires_at = float(data["expires_at"])
            except (ValueError, KeyError, TypeError):
                raise TokenUnavailable(f"token_command {name!r} printed JSON without an access_token") \
                    from None
        if not value or any(c.isspace() for c in value):
            raise TokenUnavailable(f"token_command {name!r} did not print a token on its first line")
        remember(value)
        return AccessToken(value, expires_at, now, new=False)

