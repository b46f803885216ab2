"""The ``[oauth2]`` section: signing in to the mailbox with OAuth2 instead of a password.

Microsoft 365 and Outlook.com accept no password over IMAP any more (Exchange
Online since October 2022, Outlook.com since September 2024), and Google
Workspace only OAuth or app passwords an admin allows; ``[imap] auth`` and
``[smtp] auth = "oauth2"`` make refmail sign in with an access token from the
flow configured here, one section shared by both servers (one token covers
both scopes). ``docs/oauth2.md`` walks through each provider.

``provider`` is a preset: the token endpoint, the scopes and the mail servers of
Microsoft and Google, so a group writes only its ``client_id`` (and ``tenant``).
``"generic"`` has no preset: ``token_url`` (and ``scopes`` if the server wants
them) say everything. The section is validated in two steps: what is always
wrong (an ``http://`` endpoint on another host, a malformed variable name) when
the file is read, and what is missing for the chosen flow only when a server
actually signs in with it (:meth:`OAuth2Settings.check_usable`), so the
documented, unused section of a password config loads.

Secrets are not written here either: ``client_secret_env`` names the
environment variable with the client secret, like ``password_env``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from refmail.config.sections import Section
from refmail.config.values import Duration, is_loopback
from refmail.errors import ConfigError

__all__ = [
    "PROVIDERS",
    "Flow",
    "Mechanism",
    "OAuth2Settings",
    "Provider",
    "ProviderPreset",
    "ServerPreset",
]

Provider = Literal["microsoft", "google", "generic"]
Flow = Literal["client_credentials", "refresh_token", "service_account", "command"]
Mechanism = Literal["auto", "xoauth2", "oauthbearer"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Microsoft's tenant-independent authorities: fine for a user's sign-in, not
#: for app-only tokens, which are issued by one tenant for its own mailboxes.
_SHARED_TENANTS = {"common", "consumers", "organizations"}


@dataclass(frozen=True)
class ServerPreset:
    host: str
    port: int
    security: Literal["ssl", "starttls"]


@dataclass(frozen=True)
class ProviderPreset:
    """What ``provider = "…"`` stands for. ``{tenant}`` in a URL is the ``tenant`` key."""

    label: str
    token_url: str
    authorize_url: str
    device_url: str
    #: Scopes per flow; the flow's own list, else ``"*"``.
    scopes: dict[str, tuple[str, ...]]
    imap: ServerPreset
    smtp: ServerPreset


#: Endpoints and scopes from the providers' documentation (see
#: ``docs/oauth2.md`` and ``../shared/oauth-notes.md`` for the sources).
PROVIDERS: dict[str, ProviderPreset] = {
    "microsoft": ProviderPreset(
        label="Microsoft 365 / Outlook.com",
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        authorize_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        device_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        scopes={
            # App-only: the permissions granted to the app (IMAP.AccessAsApp, SMTP.SendAsApp).
            "client_credentials": ("https://outlook.office365.com/.default",),
            # Delegated: offline_access is what makes a refresh token come back.
            "*": (
                "offline_access",
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
            ),
        },
        imap=ServerPreset("outlook.office365.com", 993, "ssl"),
        smtp=ServerPreset("smtp.office365.com", 587, "starttls"),
    ),
    "google": ProviderPreset(
        label="Google Workspace / Gmail",
        token_url="https://oauth2.googleapis.com/token",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        device_url="",  # Google's device flow does not allow the mail scope
        scopes={"*": ("https://mail.google.com/",)},
        imap=ServerPreset("imap.gmail.com", 993, "ssl"),
        smtp=ServerPreset("smtp.gmail.com", 465, "ssl"),
    ),
}


def _check_url(value: str) -> str:
    """An endpoint is HTTPS, or plain HTTP on this machine (as ``security = "none"``)."""
    value = value.strip()
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s):// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"{value!r}: a token endpoint must use https:// (http:// only for a loopback host "
            "such as 127.0.0.1): tokens and secrets would cross the network in plain text"
        )
    return value


class OAuth2Settings(Section):
    """The ``[oauth2]`` section (see the module docstring and ``config/refmail.example.toml``)."""

    provider: Provider = "generic"
    flow: Flow = "refresh_token"
    #: Microsoft: the directory (tenant) id or domain; "consumers" for Outlook.com,
    #: "common" (the default) for a user of any tenant.
    tenant: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    #: Where the sign-in (refresh token) and the current access token are kept;
    #: "" = ``refmail-oauth.json`` beside the database.
    token_file: str = ""
    #: ``flow = "command"``: a program that prints an access token (no shell).
    token_command: list[str] = Field(default_factory=list)
    token_url: str = ""
    authorize_url: str = ""
    device_url: str = ""
    scopes: list[str] = Field(default_factory=list)
    mechanism: Mechanism = "auto"
    #: ``flow = "service_account"``: the Google service account's JSON key file.
    service_account_file: str = ""
    #: For one request to the token endpoint, or one run of ``token_command``.
    timeout: Duration = timedelta(seconds=30)

    @field_validator("token_url", "authorize_url", "device_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("client_secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        value = value.strip()
        if value and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name (letters, digits, _)")
        return value

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", value):
            raise ValueError(
                f"{value!r} is not a tenant: write the directory id (a GUID) or a domain such as "
                '"harbornet.onmicrosoft.com", or "consumers" for Outlook.com'
            )
        return value

    @field_validator("token_command", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        # A string is split like a shell would split it, but never run by one:
        # pipes and variables need ["sh", "-c", "…"] written out.
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} cannot be split into words: {exc}") from None
        return value

    # -- what the preset and the overrides make of it ------------------------------
    @property
    def preset(self) -> ProviderPreset | None:
        return PROVIDERS.get(self.provider)

    @property
    def effective_tenant(self) -> str:
        return self.tenant or "common"

    def _from_preset(self, override: str, attribute: str) -> str:
        if override:
            return override
        preset = self.preset
        url = getattr(preset, attribute) if preset else ""
        return str(url).replace("{tenant}", self.effective_tenant)

    @property
    def effective_token_url(self) -> str:
        return self._from_preset(self.token_url, "token_url")

    @property
    def effective_authorize_url(self) -> str:
        return self._from_preset(self.authorize_url, "authorize_url")

    @property
    def effective_device_url(self) -> str:
        if self.device_url:
            return self.device_url
        if self.provider == "microsoft" and self.token_url.endswith("/token"):
            # An overridden Microsoft-style endpoint keeps Microsoft's layout.
            return self.token_url.removesuffix("/token") + "/devicecode"
        return self._from_preset("", "device_url")

    @property
    def effective_scopes(self) -> tuple[str, ...]:
        if self.scopes:
            return tuple(self.scopes)
        preset = self.preset
        if preset is None:
            return ()
        return preset.scopes.get(self.flow, preset.scopes.get("*", ()))

    def client_secret(self) -> str | None:
        """The client secret from ``client_secret_env``; None for a public client (none named).

        Raises :class:`ConfigError` naming the variable, never a value, when it is not set.
        """
        if not self.client_secret_env:
            return None
        value = os.environ.get(self.client_secret_env)
        if value is None:
            raise ConfigError(
                f"the environment variable {self.client_secret_env} (oauth2.client_secret_env) is not set"
            )
        return value

    def resolve(self, path: str, config_source: Path | None) -> Path:
        """A path from this section; relative ones are relative to the config file."""
        resolved = Path(path).expanduser()
        if not resolved.is_absolute() and config_source is not None:
            resolved = config_source.parent / resolved
        return resolved

    # -- complete for the chosen flow? -------------------------------------------------
    def check_usable(self) -> None:
        """Raise ``ValueError("oauth2.KEY: …")`` when the flow lacks a key it needs.

        Called when ``[imap] auth`` or ``[smtp] auth`` is ``"oauth2"``; the
        message says what to write, as every config error does.
        """
        def need(key: str, why: str) -> ValueError:
            return ValueError(f"oauth2.{key}: {why}")

        provider, flow = self.provider, self.flow
        if flow == "command":
            if not self.token_command:
                raise need("token_command", 'flow = "command" needs the program that prints an access '
                           'token, e.g. token_command = ["oama", "access", "refs@harbornet.example"]')
            return
        if flow == "service_account":
            if provider != "google":
                raise need("flow", '"service_account" is Google Workspace\'s flow (domain-wide '
                           'delegation); for Microsoft 365 app-only access use "client_credentials"')
            if not self.service_account_file:
                raise need("service_account_file", "the service account's JSON key file is needed "
                           "(Google Cloud console → IAM → Service accounts → Keys)")
            return
        if provider == "generic" and not self.token_url:
            raise need("token_url", 'provider = "generic" needs the token endpoint, e.g. '
                       'token_url = "https://auth.example.com/oauth2/token"')
        if not self.client_id:
            raise need("client_id", "the application (client) id from the app registration is needed")
        if flow == "client_credentials":
            if provider == "google":
                raise need("flow", 'Google offers no client_credentials flow for mail: use "refresh_token", '
                           'or "service_account" with domain-wide delegation (Workspace)')
            if provider == "microsoft" and self.effective_tenant.lower() in _SHARED_TENANTS:
                raise need("tenant", "app-only access needs your tenant: its directory id or a domain such "
                           'as "harbornet.onmicrosoft.com" (Outlook.com accounts cannot use '
                           'client_credentials: use flow = "refresh_token" with tenant = "consumers")')
            if not self.client_secret_env:
                raise need("client_secret_env", "client_credentials signs in with the app's client secret: "
                           'name the environment variable that holds it, e.g. "REFMAIL_OAUTH_CLIENT_SECRET"')
        if flow == "refresh_token" and provider == "google" and not self.client_secret_env:
            raise need("client_secret_env", "Google's token endpoint wants the client secret of the "
                       'Desktop app client too: name its variable, e.g. "REFMAIL_OAUTH_CLIENT_SECRET"')
