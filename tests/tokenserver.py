"""A real OAuth2 token endpoint on 127.0.0.1 for tests: short-lived tokens, rotation, faults.

What refmail's token code talks to in the tests, over real HTTP, with the
paths Microsoft uses (``/TENANT/oauth2/v2.0/token``, ``…/devicecode``,
``…/authorize``) and RFC 7662 introspection (``/introspect``) for the test
Dovecot's ``oauth2`` passdb and the test SMTP server's XOAUTH2 check.

- ``POST …/token`` grants ``client_credentials`` (a fixed mailbox per client),
  ``refresh_token`` (**rotating**: a refresh token works once, as the strictest
  providers do), the device code (RFC 8628: ``authorization_pending`` a few
  times, then a token), ``authorization_code`` with PKCE (RFC 7636, S256) and
  Google's JWT bearer grant for service accounts (RFC 7523, RS256 checked with
  the account's public key).
- ``GET …/authorize`` plays the user who says yes: it redirects to the
  ``redirect_uri`` with a code and the ``state``.
- Knobs: :attr:`lifetime` (seconds; fractions allowed), :meth:`fail` (the next
  requests answer an HTTP status and OAuth error, e.g. 500 or
  ``invalid_grant`` with Microsoft's or Google's words), :meth:`revoke`,
  :meth:`halt` / :meth:`start` (down: connections refused, same port after),
  :attr:`delay` (answer slowly, for timeouts).

Nothing here depends on pytest; ``tests/conftest.py`` wraps it in fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Client", "TokenServer"]

LOOPBACK = "127.0.0.1"
TENANT = "harbornet.example"
#: What the test Dovecot sends with each introspection request.
INTROSPECTION_CLIENT = ("refmail-test-dovecot", "dovecot-s3cret")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Client:
    """An app registration: its secret (None: a public client) and, for app-only, its mailbox."""

    client_id: str
    secret: str | None = None
    mailbox: str | None = None


@dataclass
class _Issued:
    user: str
    expires: float
    kind: str  # "access" | "refresh"
    client_id: str
    scope: str = ""


@dataclass
class _Failure:
    status: int
    error: str
    description: str
    remaining: int | None  # None: until cleared


@dataclass
class _Pending:
    user: str
    client_id: str
    scope: str
    polls_left: int


@dataclass
class Request:
    path: str
    grant_type: str | None
    fields: dict[str, str] = field(repr=False)
    at: float = field(default_factory=time.monotonic)


class TokenServer:
    """The endpoint (see the module docstring). Thread-safe; one in-process HTTP thread."""

    def __init__(self, *, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.delay = 0.0
        self.device_polls = 2
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._tokens: dict[str, _Issued] = {}
        self._failure: _Failure | None = None
        self._pending: dict[str, _Pending] = {}
        # code → user, client, PKCE challenge, redirect_uri, scope
        self._codes: dict[str, tuple[str, str, str, str, str]] = {}
        self._service_accounts: dict[str, bytes] = {}  # client_email → public key PEM
        self.requests: list[Request] = []
        #: Bumped by reset(): a slow request of an earlier test is dropped, not recorded.
        self.generation = 0
        #: The user the authorize endpoint and the device flow sign in.
        self.signed_in_user = "refs"
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life cycle -------------------------------------------------------------
    def start(self) -> TokenServer:
        """Listen (again after :meth:`halt`, on the same port)."""
        if self._server is not None:
            return self
        handler = _handler_for(self)
        deadline = time.monotonic() + 5
        while True:
            try:
                server = ThreadingHTTPServer((LOOPBACK, self.port), handler)
                break
            except OSError:
                if not self.port or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the old socket of this port is still closing
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"token-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def halt(self) -> None:
        """Stop listening and cut open connections: every request fails until :meth:`start`.

        Open keep-alive connections (Dovecot's HTTP client keeps one) are cut
        too, or they would go on being answered by their handler threads.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            open_ones, self._connections = self._connections, set()
        for sock in open_ones:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    stop = halt

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.halt()

    def reset(self) -> None:
        """Forget every client, token and fault (between tests); keep the port."""
        with self._lock:
            self._clients.clear()
            self._tokens.clear()
            self._failure = None
            self._pending.clear()
            self._codes.clear()
            self._service_accounts.clear()
            self.requests.clear()
        self.lifetime, self.delay, self.device_polls, self.signed_in_user = 3600.0, 0.0, 2, "refs"
        self.generation += 1

    # -- addresses ------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    @property
    def token_url(self) -> str:
        return self.url(f"/{TENANT}/oauth2/v2.0/token")

    @property
    def device_url(self) -> str:
        return self.url(f"/{TENANT}/oauth2/v2.0/devicecode")

    @property
    def authorize_url(self) -> str:
        return self.url(f"/{TENANT}/oauth2/v2.0/authorize")

    @property
    def introspection_url(self) -> str:
        return self.url("/introspect")

    # -- what tests set up -----------------------------------------------------------
    def add_client(self, client_id: str, secret: str | None = None, *, mailbox: str | None = None) -> Client:
        client = Client(client_id, secret, mailbox)
        with self._lock:
            self._clients[client_id] = client
        return client

    def add_service_account(self, email: str, public_key_pem: bytes) -> None:
        with self._lock:
            self._service_accounts[email] = public_key_pem

    def issue_refresh_token(self, client_id: str, user: str, scope: str = "mail") -> str:
        """A refresh token as a sign-in would leave it (for tests that write a token file)."""
        with self._lock:
            return self._issue("refresh", user, client_id, scope, lifetime=90 * 86400)

    def fail(self, status: int = 500, error: str = "server_error", description: str = "",
             *, count: int | None = None) -> None:
        """Answer the next ``count`` token requests (all, while None) with this error."""
        with self._lock:
            self._failure = _Failure(status, error, description, count)

    def heal(self) -> None:
        with self._lock:
            self._failure = None

    def revoke(self, user: str | None = None) -> None:
        """Revoke every refresh token (of ``user``): the next refresh gets ``invalid_grant``."""
        with self._lock:
            for value, issued in list(self._tokens.items()):
                if issued.kind == "refresh" and (user is None or issued.user == user):
                    del self._tokens[value]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now."""
        with self._lock:
            for issued in self._tokens.values():
                if issued.kind == "access":
                    issued.expires = 0.0

    # -- what tests look at ------------------------------------------------------------
    def introspect(self, token: str) -> str | None:
        """The user a live access token belongs to; None for anything else."""
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None or issued.kind != "access" or issued.expires <= time.time():
                return None
            return issued.user

    def introspect_over_http(self, token: str) -> str | None:
        """:meth:`introspect` through HTTP, as a real server would call it (raises when down)."""
        body = urlencode({"token": token, "client_id": INTROSPECTION_CLIENT[0],
                          "client_secret": INTROSPECTION_CLIENT[1]}).encode()
        with urllib.request.urlopen(self.introspection_url, data=body, timeout=5) as answer:
            data = json.loads(answer.read())
        return str(data["username"]) if data.get("active") else None

    def issued(self, kind: str = "access") -> list[str]:
        """Every live token of ``kind`` ever issued (for grepping logs)."""
        with self._lock:
            return [v for v, i in self._tokens.items() if i.kind == kind]

    def grants(self, grant_type: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if grant_type is None or r.grant_type == grant_type]

    # -- the endpoint's logic (called from the HTTP thread) ----------------------------------
    def _issue(self, kind: str, user: str, client_id: str, scope: str, *, lifetime: float) -> str:
        value = ("at-" if kind == "access" else "rt-") + secrets.token_urlsafe(24)
        self._tokens[value] = _Issued(user, time.time() + lifetime, kind, client_id, scope)
        return value

    def _answer(self, user: str, client_id: str, scope: str, *, refresh: bool) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._issue("access", user, client_id, scope, lifetime=self.lifetime),
            "expires_in": self.lifetime,
            "scope": scope,
        }
        if refresh:
            body["refresh_token"] = self._issue("refresh", user, client_id, scope, lifetime=90 * 86400)
        return 200, body

    def handle_token(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = fields.get("grant_type")
        with self._lock:
            self.requests.append(Request("token", grant, fields))
            failure = self._failure
            if failure is not None:
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failure = None
                return failure.status, {"error": failure.error, "error_description": failure.description}
            if grant == JWT_GRANT:
                return self._jwt_grant(fields)
            client = self._clients.get(fields.get("client_id", ""))
            if client is None:
                return 400, {"error": "unauthorized_client",
                             "error_description": "AADSTS700016: Application not found in the directory."}
            if client.secret is not None and fields.get("client_secret") != client.secret:
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret provided."}
            if client.secret is None and "client_secret" in fields:
                return 400, {"error": "invalid_request",
                             "error_description": "AADSTS700025: Client is public so neither "
                             "'client_assertion' nor 'client_secret' should be presented."}
            scope = fields.get("scope", "mail")
            if grant == "client_credentials":
                if client.secret is None or client.mailbox is None:
                    return 400, {"error": "unauthorized_client",
                                 "error_description": "not an app-only client"}
                return self._answer(client.mailbox, client.client_id, scope, refresh=False)
            if grant == "refresh_token":
                issued = self._tokens.pop(fields.get("refresh_token", ""), None)  # rotation: used once
                if issued is None or issued.kind != "refresh" or issued.client_id != client.client_id:
                    return 400, {"error": "invalid_grant", "error_description":
                                 "AADSTS70008: The provided authorization code or refresh token has "
                                 "expired due to inactivity."}
                return self._answer(issued.user, client.client_id, issued.scope or scope, refresh=True)
            if grant == DEVICE_GRANT:
                pending = self._pending.get(fields.get("device_code", ""))
                if pending is None:
                    return 400, {"error": "expired_token", "error_description": "unknown device code"}
                if pending.polls_left > 0:
                    pending.polls_left -= 1
                    return 400, {"error": "authorization_pending", "error_description": "AADSTS70016"}
                del self._pending[fields["device_code"]]
                return self._answer(pending.user, client.client_id, pending.scope, refresh=True)
            if grant == "authorization_code":
                found = self._codes.pop(fields.get("code", ""), None)
                if found is None:
                    return 400, {"error": "invalid_grant", "error_description": "unknown code"}
                user, client_id, challenge, uri, code_scope = found
                verifier = fields.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if client_id != client.client_id or digest.decode() != challenge:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
                if fields.get("redirect_uri") != uri:
                    return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
                return self._answer(user, client.client_id, code_scope, refresh=True)
            return 400, {"error": "unsupported_grant_type", "error_description": str(grant)}

    def _jwt_grant(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        from google.auth import jwt

        assertion = fields.get("assertion", "")
        try:
            claims = jwt.decode(assertion, verify=False)
            key = self._service_accounts[claims["iss"]]
            jwt.decode(assertion, certs=key, verify=True, audience=self.token_url)
        except Exception as exc:  # unknown issuer, bad signature, wrong audience (google-auth's errors)
            return 400, {"error": "unauthorized_client",
                         "error_description": f"bad assertion: {type(exc).__name__}: {exc}"[:200]}
        return self._answer(str(claims["sub"]), "service-account", str(claims.get("scope", "")),
                            refresh=False)

    def handle_device(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(Request("devicecode", None, fields))
            if fields.get("client_id") not in self._clients:
                return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016"}
            device_code = secrets.token_urlsafe(16)
            self._pending[device_code] = _Pending(self.signed_in_user, fields["client_id"],
                                                  fields.get("scope", ""), self.device_polls)
        return 200, {
            "device_code": device_code,
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 0,
            "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                       "and enter the code ABCD-EFGH to authenticate.",
        }

    def handle_authorize(self, query: dict[str, str]) -> str:
        """The user consents: the redirect location, with a code (or the error)."""
        with self._lock:
            self.requests.append(Request("authorize", None, query))
            uri = query.get("redirect_uri", "")
            if query.get("client_id") not in self._clients or query.get("code_challenge_method") != "S256":
                return f"{uri}?{urlencode({'error': 'invalid_request', 'state': query.get('state', '')})}"
            code = secrets.token_urlsafe(16)
            self._codes[code] = (self.signed_in_user, query["client_id"], query.get("code_challenge", ""),
                                 uri, query.get("scope", ""))
        return f"{uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def handle_introspect(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if (fields.get("client_id"), fields.get("client_secret")) != INTROSPECTION_CLIENT:
            return 401, {"error": "invalid_client"}
        user = self.introspect(fields.get("token", ""))
        if user is None:
            return 200, {"active": False}
        return 200, {"active": True, "username": user, "scope": "mail"}


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with contextlib.suppress(OSError):
                super().finish()
            with server._lock:
                server._connections.discard(self.connection)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("ascii", "replace")
            return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}

        def _send(self, status: int, body: dict[str, Any] | None) -> None:
            # None: a web server's own 404 page, not an OAuth answer.
            data = json.dumps(body).encode() if body is not None else b"<html>Not Found</html>"
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body is not None else "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            fields = self._form()
            generation = server.generation
            if server.delay:
                time.sleep(server.delay)
            if generation != server.generation:
                self.close_connection = True
                return
            if path.endswith("/token"):
                self._send(*server.handle_token(fields))
            elif path.endswith("/devicecode"):
                self._send(*server.handle_device(fields))
            elif path == "/introspect":
                self._send(*server.handle_introspect(fields))
            else:
                self._send(404, None)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.endswith("/authorize"):
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", server.handle_authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, None)

    return Handler


# -- the mail servers signing in with OAuth2 (the ``oauth_env`` fixture) ---------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml_sections(sections: dict[str, dict[str, Any]]) -> str:
    """``{"imap": {"host": …}}`` as TOML (flat values only: enough for the tests' configs)."""
    return "".join(
        f"\n[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
        for name, values in sections.items()
    )


@dataclass
class OAuthEnv:
    """``mail_env``'s servers, with refmail signing in by OAuth2 (see tests/conftest.py).

    :attr:`smtp` is the SMTP server refmail sends through (XOAUTH2/OAUTHBEARER
    only, tokens checked with :attr:`tokens`); people's mail goes through the
    plain one, :attr:`people`, as in ``mail_env``. ``app-1`` is an app-only
    client (secret in ``$REFMAIL_TEST_OAUTH_SECRET``) for mailbox ``refs``;
    ``app-2`` a public client a person signs in with (:meth:`sign_in`).
    """

    dovecot: Any
    smtp: Any
    people: Any
    tokens: TokenServer
    dir: Any
    user: str = "refs"
    secret_env: str = "REFMAIL_TEST_OAUTH_SECRET"
    secret: str = "app-secret-for-tests-7Hq"

    @classmethod
    def prepare(cls, mail: Any, smtp: Any, tokens: TokenServer, directory: Any, monkeypatch: Any) -> OAuthEnv:
        env = cls(mail.dovecot, smtp, mail.smtp, tokens, directory)
        monkeypatch.setenv(env.secret_env, env.secret)
        tokens.add_client("app-1", env.secret, mailbox=env.user)
        tokens.add_client("app-2")
        return env

    def send(self, message: Any, mail_from: str | None = None, rcpt_tos: Any = None) -> None:
        """A person's mail, through the plain SMTP server (delivered to Dovecot)."""
        from mailservers import MailEnv

        MailEnv(self.dovecot, self.people).send(message, mail_from, rcpt_tos)

    def imap_settings(self, **overrides: Any) -> Any:
        from mailservers import MailEnv

        return MailEnv(self.dovecot, self.smtp).imap_settings(**overrides)

    def smtp_settings(self, **overrides: Any) -> Any:
        from mailservers import MailEnv

        return MailEnv(self.dovecot, self.smtp).smtp_settings(**overrides)

    @property
    def token_path(self) -> Any:
        return self.dir / "refmail-oauth.json"

    def sections(self, flow: str = "client_credentials", **oauth2: Any) -> dict[str, dict[str, Any]]:
        """[imap], [smtp] and [oauth2] for these servers (microsoft preset, URLs on 127.0.0.1)."""
        common = {"security": "none", "username": self.user, "auth": "oauth2", "timeout": "10s"}
        values: dict[str, Any] = {
            "provider": "microsoft", "flow": flow, "tenant": TENANT, "token_url": self.tokens.token_url,
            "client_id": "app-1" if flow == "client_credentials" else "app-2", "timeout": "5s",
            "token_file": str(self.token_path),
        }
        values["client_secret_env"] = self.secret_env if flow == "client_credentials" else ""
        values.update(oauth2)
        return {
            "imap": {"host": self.dovecot.host, "port": self.dovecot.port, **common},
            "smtp": {"host": self.smtp.host, "port": self.smtp.port, **common},
            "oauth2": values,
        }

    def toml(self, flow: str = "client_credentials", **oauth2: Any) -> str:
        return toml_sections(self.sections(flow, **oauth2))

    def sign_in(self, user: str | None = None) -> str:
        """Leave a token file as `refmail oauth login` would (public client ``app-2``); the refresh token."""
        from refmail.oauth.token_file import SavedTokens, TokenFile

        refresh = self.tokens.issue_refresh_token("app-2", user or self.user)
        TokenFile(self.token_path).write(SavedTokens(
            account=self.user, provider="microsoft", flow="refresh_token", client_id="app-2",
            refresh_token=refresh, signed_in_at=time.time()))
        return refresh

    def config(self, flow: str = "client_credentials", *, extra: str = "", **oauth2: Any) -> Any:
        """A loaded Config for these servers."""
        from refmail.config import load_config

        path = self.dir / "refmail.toml"
        path.write_text('[group]\nname = "G"\ntracking_address = "refs@harbornet.example"\n'
                        + extra + self.toml(flow, **oauth2))
        return load_config(path)
