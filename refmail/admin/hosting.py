"""Who hosts the tracking mailbox: its servers, how refmail signs in, what the admin must do.

``refmail init`` asks this first, so a group on a big provider answers with
one word: the servers are known, and so is the sign-in — OAuth2 for Microsoft
365, Outlook.com and Google (passwords are turned off there, or soon), an app
password for Yahoo, Fastmail and iCloud (which offer no OAuth2 to a
self-hosted program). ``docs/oauth2.md`` has the steps each note points to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from refmail.config import PROVIDERS
from refmail.config.oauth import ServerPreset

__all__ = ["HOSTINGS", "Hosting", "OAuthAnswers", "oauth_answers", "valid_hosting"]


@dataclass(frozen=True)
class Hosting:
    label: str
    imap: ServerPreset | None = None
    smtp: ServerPreset | None = None
    #: ``[oauth2] provider`` when the mailbox signs in with OAuth2; None: a password.
    oauth: str | None = None
    #: A fixed Microsoft tenant ("consumers" for Outlook.com); "" = asked.
    tenant: str = ""
    #: The flows that make sense here, the usual one first.
    flows: tuple[str, ...] = ()
    #: What the admin must do besides (said after the config is written).
    note: str = ""


_MS = PROVIDERS["microsoft"]
_GOOGLE = PROVIDERS["google"]

HOSTINGS: dict[str, Hosting] = {
    "microsoft365": Hosting(
        "Microsoft 365 / Exchange Online", _MS.imap, _MS.smtp, "microsoft", flows=(
            "client_credentials", "refresh_token"),
        note="Microsoft 365 turned off IMAP passwords; the tenant's admin registers an app for refmail "
        "(IMAP.AccessAsApp and SMTP.SendAsApp, admin consent, New-ServicePrincipal, "
        "Add-MailboxPermission) and enables SMTP AUTH for the mailbox: docs/oauth2.md, step by step.",
    ),
    "outlook": Hosting(
        "Outlook.com / Hotmail", _MS.imap, ServerPreset("smtp-mail.outlook.com", 587, "starttls"),
        "microsoft", tenant="consumers", flows=("refresh_token",),
        note="Outlook.com accepts no passwords (app passwords included) since September 2024: register "
        "an app for personal accounts and sign in once (docs/oauth2.md, Outlook.com).",
    ),
    "google": Hosting(
        "Google Workspace / Gmail", _GOOGLE.imap, _GOOGLE.smtp, "google",
        flows=("refresh_token", "service_account"),
        note="Create an OAuth client of type Desktop app (Internal for Workspace, or published \"In "
        "production\": an app left in Testing loses its sign-in after 7 days): docs/oauth2.md, Google.",
    ),
    "yahoo": Hosting(
        "Yahoo Mail", ServerPreset("imap.mail.yahoo.com", 993, "ssl"),
        ServerPreset("smtp.mail.yahoo.com", 465, "ssl"),
        note="Yahoo needs an app password (Account security → Generate app password, with 2-step "
        "verification on); Yahoo takes no new OAuth2 apps for mail.",
    ),
    "fastmail": Hosting(
        "Fastmail", ServerPreset("imap.fastmail.com", 993, "ssl"),
        ServerPreset("smtp.fastmail.com", 465, "ssl"),
        note="Fastmail needs an app password for IMAP and SMTP (Settings → Privacy & Security → "
        "App passwords); its OAuth2 is only for apps it registers by hand.",
    ),
    "icloud": Hosting(
        "iCloud Mail", ServerPreset("imap.mail.me.com", 993, "ssl"),
        ServerPreset("smtp.mail.me.com", 587, "starttls"),
        note="iCloud needs an app-specific password (account.apple.com → Sign-In and Security, with "
        "two-factor authentication on); the username is the whole iCloud address.",
    ),
    "other": Hosting("another provider or your own server"),
}


def valid_hosting(value: str) -> str:
    key = value.strip().lower().replace(" ", "").replace(".com", "").replace("-", "")
    key = {"microsoft": "microsoft365", "m365": "microsoft365", "office365": "microsoft365",
           "exchange": "microsoft365", "hotmail": "outlook", "gmail": "google", "workspace": "google",
           "": "other"}.get(key, key)
    if key not in HOSTINGS:
        raise ValueError(f"{value!r}: choose one of {', '.join(HOSTINGS)}")
    return key


@dataclass(frozen=True)
class OAuthAnswers:
    """The ``[oauth2]`` keys ``refmail init`` fills in (docs/oauth2.md says what each is)."""

    provider: str
    flow: str
    tenant: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    service_account_file: str = ""


def oauth_answers(
    answer: Callable[[str, str, Any, Callable[[Any], Any]], Any], hosting: Hosting
) -> OAuthAnswers | None:
    """The sign-in questions for a provider that wants OAuth2 (docs/oauth2.md explains each)."""
    provider = hosting.oauth
    if provider is None:
        return None
    flows = hosting.flows
    flow = flows[0]
    if len(flows) > 1:
        flow = answer("oauth_flow", f"How refmail signs in ({', '.join(flows)})", flows[0], _choice(flows))
    tenant = hosting.tenant
    if provider == "microsoft" and not tenant:
        tenant = answer(
            "tenant", "Microsoft tenant (its domain, e.g. contoso.onmicrosoft.com, or its id)",
            None if flow == "client_credentials" else "common", _needed,
        )
    service_account_file = client_id = ""
    if flow == "service_account":
        service_account_file = answer("service_account_file", "The service account's JSON key file", None,
                                      _needed)
    else:
        client_id = answer("client_id", "Application (client) id of the app registration", None, _needed)
    needs_secret = flow == "client_credentials" or (provider == "google" and flow == "refresh_token")
    secret_env = "" if flow == "service_account" else answer(
        "client_secret_env", "Environment variable holding the client secret (empty: none)",
        "REFMAIL_OAUTH_CLIENT_SECRET" if needs_secret else "", _env_or_empty,
    )
    return OAuthAnswers(provider, flow or flows[0], tenant or "", client_id or "", secret_env or "",
                        service_account_file or "")


def _choice(options: Sequence[str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError(f"{value!r}: choose {' or '.join(options)}")
        return text

    return convert


def _env_or_empty(value: Any) -> str:
    return _env_name(str(value)) if str(value).strip() else ""


def _needed(value: Any) -> str:
    if not str(value).strip():
        raise ValueError("an answer is needed here")
    return str(value).strip()


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value.strip()):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, _)")
    return value.strip()
