"""The SASL side of OAuth2: what IMAP AUTHENTICATE and SMTP AUTH send (pure).

Two mechanisms carry a bearer token:

- ``XOAUTH2`` (Google's, also Microsoft's and Yahoo's): ``user=…^Aauth=Bearer
  …^A^A`` (developers.google.com/gmail/imap/xoauth2-protocol);
- ``OAUTHBEARER`` (RFC 7628 §3.1): a GS2 header naming the user, then the same
  ``auth=Bearer …`` key.

On a refused token both servers answer with an error challenge, a JSON object
(RFC 7628 §3.2.2: ``{"status": "invalid_token", "scope": …}``); the client must
then send a dummy response — ``^A`` for OAUTHBEARER, an empty line for XOAUTH2 —
and the server ends the exchange with its failure reply. Sending the token
again instead (as imapclient's ``oauth2_login`` does) is a protocol error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Literal

from refmail.oauth.redaction import remember

__all__ = [
    "SaslName",
    "choose_mechanism",
    "error_challenge",
    "initial_response",
    "responder",
]

SaslName = Literal["XOAUTH2", "OAUTHBEARER"]


def initial_response(mechanism: SaslName, user: str, token: str) -> str:
    """The client's first message for ``mechanism`` (before base64)."""
    if mechanism == "OAUTHBEARER":
        # RFC 5801 §4: "," and "=" in the authorization identity are escaped.
        identity = user.replace("=", "=3D").replace(",", "=2C")
        text = f"n,a={identity},\x01auth=Bearer {token}\x01\x01"
    else:
        text = f"user={user}\x01auth=Bearer {token}\x01\x01"
    # Whoever logs the wire (a debug log) shows it base64-encoded.
    remember(text, base64.b64encode(text.encode()).decode())
    return text


def choose_mechanism(configured: str, offered: Iterable[str]) -> SaslName:
    """The mechanism to use, from ``[oauth2] mechanism`` and what the server advertises.

    ``"auto"`` takes XOAUTH2 where offered (Microsoft offers nothing else,
    Google both), else OAUTHBEARER where offered (the standard one; Yahoo),
    else XOAUTH2, whose refusal then names the problem.
    """
    if configured == "xoauth2":
        return "XOAUTH2"
    if configured == "oauthbearer":
        return "OAUTHBEARER"
    names = {name.upper() for name in offered}
    if "XOAUTH2" not in names and "OAUTHBEARER" in names:
        return "OAUTHBEARER"
    return "XOAUTH2"


def error_challenge(data: bytes | str) -> dict[str, str] | None:
    """The server's JSON error challenge, flattened to strings; None when it is not one."""
    if isinstance(data, str):
        data = data.encode()
    text = data.strip()
    if not text.startswith(b"{"):
        try:
            text = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def responder(
    mechanism: SaslName, user: str, token: str, errors: list[dict[str, str]] | None = None
) -> Callable[[bytes | None], str]:
    """A callback for imaplib/smtplib: the initial response, then the dummy answer to an error.

    imaplib calls it with each (decoded) server challenge; smtplib calls it
    with no argument for the initial response, then with each challenge.
    Error challenges are appended to ``errors`` when given.
    """
    sent = False

    def answer(challenge: bytes | None = None) -> str:
        nonlocal sent
        if not sent:
            sent = True
            return initial_response(mechanism, user, token)
        if errors is not None and challenge:
            found = error_challenge(challenge)
            if found:
                errors.append(found)
        return "\x01" if mechanism == "OAUTHBEARER" else ""

    return answer
