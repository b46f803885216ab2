"""The token endpoint: one form POST per grant, and what its answers mean.

Every grant refmail uses — client credentials, refresh token, device code,
authorization code, JWT bearer (RFC 6749 §4.4, §6, RFC 8628 §3.4, RFC 6749
§4.1.3, RFC 7523) — is a single ``application/x-www-form-urlencoded`` POST
answered with JSON. The standard library does that (``urllib``, TLS with
certificate checks), which is also what mutt_oauth2.py, getmail6,
email-oauth2-proxy and sasl-xoauth2 do; see README's dependency table.

The answer decides what refmail does next (RFC 6749 §5.2 error codes, plus
Microsoft's ``AADSTS`` numbers in ``error_description``):

- cannot connect, a timeout, HTTP 5xx or 429, ``temporarily_unavailable``,
  ``server_error`` → :class:`~refmail.errors.TokenUnavailable`: try again later;
- ``invalid_grant`` (revoked, expired, password changed), ``invalid_client``
  (wrong or expired secret), consent missing, a 4xx without JSON (a wrong URL)
  → :class:`~refmail.errors.TokenRefused`, with a hint saying what to do.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit

from refmail._version import __version__
from refmail.config.values import is_loopback
from refmail.errors import TokenRefused, TokenUnavailable
from refmail.oauth.redaction import remember, scrub

__all__ = ["EndpointRefusal", "Grant", "explain", "grant_from", "post_form"]

#: The longest error text quoted from a token endpoint.
_QUOTE = 300
#: Most bytes read from one answer: a token response is a few KB.
_MAX_ANSWER = 1 << 20


@dataclass(frozen=True)
class Grant:
    """A successful token response (RFC 6749 §5.1)."""

    access_token: str
    expires_in: float | None
    refresh_token: str | None
    scope: str | None
    fields: Mapping[str, Any]


class EndpointRefusal(Exception):
    """A 4xx answer with an OAuth error object; :func:`explain` turns it into a refmail error.

    Kept apart from the refmail errors because some are not failures to the
    caller: ``authorization_pending`` is the device flow's "not yet".
    """

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.status = status
        self.error = error
        self.description = description

    @property
    def aadsts(self) -> str | None:
        """Microsoft's error number, e.g. ``"AADSTS700082"``."""
        found = re.search(r"\bAADSTS\d+\b", self.description)
        return found.group(0) if found else None


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urlsplit(url).hostname or ""
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.HTTPSHandler(context=ssl.create_default_context())
    ]
    if is_loopback(host):
        handlers.append(urllib.request.ProxyHandler({}))  # never via a proxy
    return urllib.request.build_opener(*handlers)


def _quote(text: str) -> str:
    line = " ".join(scrub(text).split())
    return line if len(line) <= _QUOTE else line[: _QUOTE - 1] + "…"


def post_form(url: str, fields: Mapping[str, str], *, timeout: float) -> dict[str, Any]:
    """POST ``fields`` to ``url``; the JSON object of a 200 answer.

    Raises :class:`EndpointRefusal` for a 4xx with an OAuth error object,
    :class:`TokenUnavailable` when retrying may help, :class:`TokenRefused`
    for other 4xx answers and untrusted certificates.
    """
    remember(*(v for k, v in fields.items() if k in _SECRET_FIELDS))
    where = urlsplit(url).netloc
    request = urllib.request.Request(
        url,
        data=urlencode(fields).encode("ascii"),
        headers={
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"refmail/{__version__}",
        },
        method="POST",
    )
    try:
        with _opener(url).open(request, timeout=timeout) as answer:
            status, body = answer.status, answer.read(_MAX_ANSWER)
            headers: Message = answer.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
        try:
            body = exc.read(_MAX_ANSWER)
        except OSError:
            body = b""
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise TokenRefused(
                f"the certificate of the token endpoint {where} is not trusted "
                f"({reason.verify_message})",
                hint="check token_url; a proxy that inspects TLS must be trusted by this machine",
            ) from None
        raise TokenUnavailable(f"cannot reach the token endpoint {where}: {_reason(reason)}") from None
    except TimeoutError:
        raise TokenUnavailable(f"the token endpoint {where} did not answer within {timeout:g}s") from None
    except (OSError, ValueError) as exc:  # reset mid-answer, a malformed answer
        raise TokenUnavailable(f"the token endpoint {where} failed: {_reason(exc)}") from None
    data = _json(body)
    if status == 200 and data is not None:
        return data
    if status == 429 or status >= 500 or status == 200:
        retry = headers.get("Retry-After") if headers else None
        what = "answered with no token" if status == 200 else f"answered HTTP {status}"
        raise TokenUnavailable(
            f"the token endpoint {where} {what}"
            + (f" (retry after {retry}s)" if retry and retry.isdigit() else "")
        )
    if data is not None and isinstance(data.get("error"), str):
        description = data.get("error_description")
        raise EndpointRefusal(status, data["error"], _quote(str(description or "")))
    raise TokenRefused(
        f"the token endpoint {url} answered HTTP {status} without an OAuth error",
        hint="check token_url (and tenant): it is probably not a token endpoint",
    )


#: Form fields whose values are secrets (registered before they are sent).
_SECRET_FIELDS = {"client_secret", "refresh_token", "code", "code_verifier", "assertion", "device_code"}


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return _quote(str(reason)) or type(reason).__name__


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def grant_from(data: Mapping[str, Any], where: str) -> Grant:
    """A :class:`Grant` from a 200 answer, or :class:`TokenUnavailable` if it holds none."""
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenUnavailable(f"the token endpoint {where} answered without an access_token")
    refresh = data.get("refresh_token")
    expires = data.get("expires_in")
    try:
        expires_in = float(expires) if expires is not None else None
    except (TypeError, ValueError):
        expires_in = None
    remember(token, refresh if isinstance(refresh, str) else None)
    scope = data.get("scope")
    return Grant(
        access_token=token,
        expires_in=expires_in,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=scope if isinstance(scope, str) else None,
        fields=data,
    )


# -- what a refusal means, and what to do about it ----------------------------------------
#: Microsoft's error numbers with the cause in plain words (learn.microsoft.com,
#: "Microsoft Entra authentication and authorization error codes").
_AADSTS: dict[str, str] = {
    "AADSTS700082": "it was not used for 90 days",
    "AADSTS70043": "the tenant's sign-in frequency policy ended it",
    "AADSTS700084": "it reached the end of its lifetime",
    "AADSTS50173": "the account's password was changed or its sessions revoked",
    "AADSTS70008": "it expired or was revoked",
    "AADSTS50076": "the tenant now requires multi-factor authentication",
    "AADSTS7000215": "the client secret is wrong",
    "AADSTS7000222": "the client secret has expired",
    "AADSTS700016": "the tenant knows no application with this client_id",
    "AADSTS7000218": "the app registration does not allow public client flows",
    "AADSTS700025": "a public client may not send a client secret",
    "AADSTS65001": "the app has not been given consent",
    "AADSTS90002": "the tenant does not exist",
    "AADSTS50034": "the account does not exist in this tenant",
    "AADSTS53003": "a Conditional Access policy blocked the sign-in",
}


def explain(refusal: EndpointRefusal, *, account: str, provider: str, flow: str,
            secret_env: str) -> TokenRefused | TokenUnavailable:
    """The refmail error for a token endpoint's refusal: the cause, and what to do."""
    error, code = refusal.error, refusal.aadsts
    said = f"{error}: {refusal.description}" if refusal.description else error
    cause = _AADSTS.get(code or "")
    if error in ("temporarily_unavailable", "server_error"):
        return TokenUnavailable(f"the token endpoint is unavailable ({said})")
    login = "`refmail oauth login`"
    if code == "AADSTS7000218":
        return TokenRefused(
            f"the token endpoint wants a client secret ({cause}): {said}",
            hint="in the app registration: Authentication → Allow public client flows → Yes "
            "(or set oauth2.client_secret_env)",
        )
    if code == "AADSTS700025":
        return TokenRefused(f"the token endpoint refused the client secret ({cause}): {said}",
                            hint='set oauth2.client_secret_env = "" for this app')
    if error in ("consent_required", "interaction_required") or code in ("AADSTS65001", "AADSTS50076"):
        return TokenRefused(
            f"the sign-in for {account} needs a person{f' ({cause})' if cause else ''}: {said}",
            hint="ask the tenant's admin to grant consent to the app (Enterprise applications → "
            f"Permissions → Grant admin consent), then run {login}",
        )
    if error == "invalid_grant" and flow == "refresh_token":
        hint = f"sign in again: run {login} as the user the daemon runs as, then start refmail again"
        if provider == "google":
            hint += ("; if this recurs after 7 days, the Google app is still in \"Testing\": publish it "
                     "(or make it Internal in Workspace) so its sign-ins last")
        reason = f" ({cause})" if cause else ""
        return TokenRefused(
            f"the saved OAuth2 sign-in for {account} is no longer valid{reason}: {said}", hint=hint
        )
    if error == "invalid_client" or code in ("AADSTS7000215", "AADSTS7000222", "AADSTS700016"):
        where = f"${secret_env}" if secret_env else "the client secret"
        return TokenRefused(
            f"the token endpoint refused the app's credentials{f' ({cause})' if cause else ''}: {said}",
            hint=f"check oauth2.client_id and {where}; client secrets expire (Microsoft: 24 months at "
            "most): make a new one in the app registration and put it in " + where,
        )
    if error == "invalid_scope":
        return TokenRefused(f"the token endpoint refused the scopes: {said}",
                            hint="check oauth2.scopes and the app's API permissions")
    if error == "unauthorized_client":
        return TokenRefused(f"the app may not use the {flow} flow: {said}",
                            hint="allow this grant type in the app registration, or pick another flow")
    if error == "invalid_grant":
        return TokenRefused(f"the token endpoint refused the grant for {account}: {said}",
                            hint="for a service account: check domain-wide delegation of its client id "
                            "with the mail scope in the Admin console"
                            if flow == "service_account" else "check the [oauth2] settings")
    return TokenRefused(f"the token endpoint refused the sign-in for {account}: {said}",
                        hint="check the [oauth2] settings (docs/oauth2.md)")
