"""``refmail oauth login`` and ``refmail oauth status``: the one-time sign-in, and the token's state.

For ``flow = "refresh_token"`` a person signs in once, as the mailbox's user,
and refmail keeps the refresh token (:mod:`refmail.oauth.token_file`):

- :func:`device_login` — the device authorization grant (RFC 8628), what a
  headless server wants: it prints a URL and a code, the person opens the URL
  on any device, and refmail polls the token endpoint until they are done
  (Microsoft; Google's device flow does not allow the mail scope);
- :func:`browser_login` — the authorization code grant with PKCE (RFC 7636)
  and a loopback redirect (RFC 8252 §7.3) to ``http://127.0.0.1:PORT/``, what
  Google's "Desktop app" clients use since the copy-paste flow was retired;
  on a server without a browser the person forwards the port (``ssh -L``);
- :func:`import_refresh_token` — a refresh token obtained with another tool.

Each ends with the sign-in saved, a first access token obtained with it (which
proves it works), and the result of :func:`token_status`. Printing is the
caller's (``say``), so the CLI stays a thin layer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from refmail.errors import TokenRefused, TokenUnavailable
from refmail.oauth.endpoint import EndpointRefusal, Grant, explain, grant_from, post_form
from refmail.oauth.redaction import remember
from refmail.oauth.source import TokenSource
from refmail.oauth.token_file import SavedTokens

__all__ = [
    "DEVICE_GRANT",
    "TokenStatus",
    "browser_login",
    "default_method",
    "device_login",
    "import_refresh_token",
    "token_status",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Say = Callable[[str], None]


def _refused(message: str, hint: str = "") -> TokenRefused:
    return TokenRefused(message, hint=hint)


def _check_flow(source: TokenSource) -> None:
    flow = source.settings.flow
    if flow != "refresh_token":
        raise _refused(
            f'there is nothing to sign in with flow = "{flow}": refmail gets its tokens by itself',
            hint="`refmail check` gets one and signs in to both servers with it",
        )
    if not source.settings.client_id:
        raise _refused("oauth2.client_id is empty", hint="write the app registration's client id in [oauth2]")


def default_method(source: TokenSource) -> str:
    """``"device"`` where the provider has a device flow (Microsoft), else ``"browser"``."""
    return "device" if source.settings.effective_device_url else "browser"


def _token_fields(source: TokenSource, fields: dict[str, str]) -> dict[str, str]:
    secret = source.settings.client_secret()
    if secret is not None:
        fields["client_secret"] = secret
    return fields


def _save(source: TokenSource, grant: Grant, now: float) -> SavedTokens:
    if not grant.refresh_token:
        raise _refused(
            "the sign-in worked but the provider gave no refresh token, so it would end within the hour",
            hint='Microsoft: keep "offline_access" in oauth2.scopes; Google: sign in again (refmail asks '
            "for offline access and consent each time)",
        )
    assert source.file is not None
    s = source.settings
    saved = SavedTokens(
        account=source.account, provider=s.provider, flow=s.flow, client_id=s.client_id,
        scopes=tuple(grant.scope.split()) if grant.scope else s.effective_scopes,
        refresh_token=grant.refresh_token, access_token=grant.access_token,
        expires_at=now + grant.expires_in if grant.expires_in else None, issued_at=now,
        signed_in_at=now, refreshed_at=now,
    )
    with source.file.locked():
        source.file.write(saved)
    source.forget()
    return saved


def _post(source: TokenSource, url: str, fields: dict[str, str]) -> dict[str, Any]:
    try:
        return post_form(url, fields, timeout=source.settings.timeout.total_seconds())
    except EndpointRefusal as refusal:
        raise explain(refusal, account=source.account, provider=source.settings.provider,
                      flow="sign-in", secret_env=source.settings.client_secret_env) from None


# -- the device flow (RFC 8628) --------------------------------------------------------------
def device_login(
    source: TokenSource,
    *,
    say: Say,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SavedTokens:
    """Sign in with a code entered on another device; the saved sign-in."""
    _check_flow(source)
    s = source.settings
    url = s.effective_device_url
    if not url:
        raise _refused(f"provider {s.provider!r} has no device code sign-in configured",
                       hint="use --browser, or set oauth2.device_url")
    start = _post(source, url, {"client_id": s.client_id, "scope": " ".join(s.effective_scopes)})
    device_code = str(start.get("device_code") or "")
    if not device_code:
        raise TokenUnavailable(f"the device code endpoint {urlsplit(url).netloc} answered without a code")
    remember(device_code)
    say(str(start.get("message") or f"Open {start.get('verification_uri')} and enter the code "
                                    f"{start.get('user_code')}"))
    say(f"Sign in as {source.account} (or an account with access to it). Waiting…")
    given = start.get("interval")  # RFC 8628 §3.2: 5 seconds when not given
    interval = max(0.1, float(given) if isinstance(given, int | float) else 5.0)
    deadline = clock() + float(start.get("expires_in") or 900)
    while True:
        if clock() > deadline:
            raise _refused("the code expired before the sign-in was finished", hint="run it again")
        sleep(interval)
        try:
            data = post_form(s.effective_token_url, _token_fields(source, {
                "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": s.client_id,
            }), timeout=s.timeout.total_seconds())
        except EndpointRefusal as refusal:
            if refusal.error == "authorization_pending":
                continue
            if refusal.error == "slow_down":  # RFC 8628 §3.5: add 5 seconds
                interval += 5
                continue
            if refusal.error == "expired_token":
                raise _refused("the code expired before the sign-in was finished",
                               hint="run it again") from None
            if refusal.error in ("access_denied", "authorization_declined"):
                raise _refused("the sign-in was declined", hint="run it again and accept") from None
            raise explain(refusal, account=source.account, provider=s.provider, flow="sign-in",
                          secret_env=s.client_secret_env) from None
        return _save(source, grant_from(data, s.effective_token_url), time.time())


# -- the browser flow (authorization code + PKCE, loopback redirect) -------------------------------
class _Redirect(BaseHTTPRequestHandler):
    """Receives the one redirect with ``code`` and ``state``; says the window may close."""

    query: dict[str, str] | None = None

    def do_GET(self) -> None:
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" not in params and "error" not in params:
            self.send_response(404)
            self.end_headers()
            return
        type(self).query = params
        ok = "code" in params
        body = (b"<!doctype html><meta charset=utf-8><title>refmail</title><p>"
                + (b"Signed in. You can close this window and go back to the terminal."
                   if ok else b"The sign-in did not finish; the terminal says why.") + b"</p>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the code is a secret: no access log
        pass


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def browser_login(
    source: TokenSource,
    *,
    say: Say,
    port: int = 0,
    open_browser: Callable[[str], object] | None = None,
    timeout: float = 300.0,
) -> SavedTokens:
    """Sign in in a browser that can reach ``127.0.0.1:port`` here; the saved sign-in."""
    _check_flow(source)
    s = source.settings
    authorize = s.effective_authorize_url
    if not authorize:
        raise _refused(f"provider {s.provider!r} has no browser sign-in configured",
                       hint="set oauth2.authorize_url (and token_url)")
    class handler(_Redirect):  # a class of its own: the query lands on it
        query = None
    try:
        server = HTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise _refused(f"cannot listen on 127.0.0.1:{port} for the sign-in: {exc.strerror or exc}",
                       hint="pick another --port") from None
    listening = server.server_address[1]
    redirect_uri = f"http://127.0.0.1:{listening}/"
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    remember(verifier)
    url = authorize + ("&" if "?" in authorize else "?") + urlencode({
        "client_id": s.client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": " ".join(s.effective_scopes), "state": state, "code_challenge": challenge,
        "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent",
        "login_hint": source.account,
    })
    say(f"Open this address in a browser and sign in as {source.account}:\n\n  {url}\n")
    say(f"Waiting for the browser to come back to {redirect_uri} … (on a server without a browser, "
        f"run `ssh -L {listening}:127.0.0.1:{listening} THIS-SERVER` on your computer first and "
        "open the address there; start with --port to choose the port)")
    if open_browser is not None:
        open_browser(url)
    server.timeout = 0.5
    deadline = time.monotonic() + timeout
    try:
        while handler.query is None:
            if time.monotonic() > deadline:
                raise _refused(f"no sign-in came back within {timeout:.0f}s", hint="run it again")
            server.handle_request()
    finally:
        server.server_close()
    query = handler.query
    if query.get("state") != state:
        raise _refused("the sign-in came back with the wrong state (another browser tab?)",
                       hint="run it again")
    if "error" in query:
        said = query["error"] + (f": {query['error_description']}" if query.get("error_description") else "")
        raise _refused(f"the provider did not sign you in ({said})",
                       hint="ask your admin to allow (consent to) the app if it says so")
    code = query["code"]
    remember(code)
    data = _post(source, s.effective_token_url, _token_fields(source, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": s.client_id, "code_verifier": verifier,
    }))
    return _save(source, grant_from(data, s.effective_token_url), time.time())


def import_refresh_token(source: TokenSource, refresh_token: str) -> SavedTokens:
    """Save a refresh token obtained elsewhere, and prove it by getting an access token with it."""
    _check_flow(source)
    refresh_token = refresh_token.strip()
    if not refresh_token or any(c.isspace() for c in refresh_token):
        raise _refused("that is not a refresh token (one line, no spaces)")
    remember(refresh_token)
    s = source.settings
    assert source.file is not None
    with source.file.locked():
        source.file.write(SavedTokens(account=source.account, provider=s.provider, flow=s.flow,
                                      client_id=s.client_id, scopes=s.effective_scopes,
                                      refresh_token=refresh_token, signed_in_at=time.time()))
    source.forget()
    source.token()
    saved = source.file.read()
    assert saved is not None
    return saved


# -- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenStatus:
    """What ``refmail oauth status`` shows. Times are epoch seconds (None: unknown or never)."""

    account: str
    provider: str
    flow: str
    client_id: str
    path: Path | None
    signed_in: bool
    owner_only: bool
    scopes: tuple[str, ...] = ()
    expires_at: float | None = None
    refreshed_at: float | None = None
    signed_in_at: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account, "provider": self.provider, "flow": self.flow,
            "client_id": self.client_id, "token_file": str(self.path) if self.path else None,
            "signed_in": self.signed_in, "owner_only": self.owner_only, "scopes": list(self.scopes),
            "expires_at": self.expires_at, "refreshed_at": self.refreshed_at,
            "signed_in_at": self.signed_in_at, "note": self.note,
        }


def token_status(source: TokenSource) -> TokenStatus:
    """The saved sign-in's state, read from the token file; nothing is requested."""
    s = source.settings

    def status(**values: Any) -> TokenStatus:
        return TokenStatus(account=source.account, provider=s.provider, flow=s.flow,
                           client_id=s.client_id, **values)

    if source.file is None:
        return status(path=None, signed_in=True, owner_only=True, scopes=s.effective_scopes,
                           note=f"tokens come from token_command ({' '.join(s.token_command[:1])}); "
                           "refmail saves none")
    saved = source.file.read()
    if saved is None:
        note = ("not signed in yet: run `refmail oauth login`" if s.flow == "refresh_token"
                else "no token yet: one is requested when refmail first needs it (`refmail check`)")
        return status(path=source.file.path, signed_in=s.flow != "refresh_token",
                           owner_only=True, scopes=s.effective_scopes, note=note)
    note = ""
    if saved.account.lower() != source.account.lower():
        note = f"the file is for {saved.account}, not {source.account}: run `refmail oauth login`"
    elif s.flow == "refresh_token" and not saved.refresh_token:
        note = "the file holds no refresh token: run `refmail oauth login`"
    return status(
        path=source.file.path, signed_in=bool(saved.refresh_token) or s.flow != "refresh_token",
        owner_only=source.file.owner_only(), scopes=saved.scopes or s.effective_scopes,
        expires_at=saved.expires_at, refreshed_at=saved.refreshed_at, signed_in_at=saved.signed_in_at,
        note=note,
    )

