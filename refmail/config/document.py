"""The whole configuration: the :class:`Config` model, and finding and reading the file.

The file is found via ``--config PATH``, else ``$REFMAIL_CONFIG``, else
``./config/refmail.toml`` (SPEC, "The contracts"). Every validation problem
becomes one :class:`~refmail.errors.ConfigError` naming the file, the dotted
key and what is wrong, because the person reading it is a group administrator
editing TOML, not a Python developer.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from refmail.config.oauth import OAuth2Settings
from refmail.config.sections import (
    Coach,
    ConsentSettings,
    Group,
    ImapSettings,
    Member,
    Nudges,
    Section,
    SecuritySettings,
    SmtpSettings,
    Storage,
    Timing,
)
from refmail.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_VAR",
    "Config",
    "config_from_dict",
    "find_config_path",
    "load_config",
    "member_conflicts",
]

DEFAULT_CONFIG_PATH = Path("config/refmail.toml")
ENV_VAR = "REFMAIL_CONFIG"


class Config(Section):
    """The whole configuration, with address helpers used by classification."""

    group: Group
    members: list[Member] = Field(default_factory=list)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    storage: Storage = Field(default_factory=Storage)
    timing: Timing = Field(default_factory=Timing)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    coach: Coach = Field(default_factory=Coach)
    nudges: Nudges = Field(default_factory=Nudges)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    oauth2: OAuth2Settings = Field(default_factory=OAuth2Settings)

    #: The file this config was read from (None when built in code).
    source: Path | None = None

    _by_address: dict[str, Member] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _index_members(self) -> Config:
        seen: dict[str, str] = {}
        for i, member in enumerate(self.members):
            for address in (member.email, *member.aliases):
                taken = address in seen and self._by_address[address] is not member
                if taken:
                    raise ValueError(
                        f"members[{i}]: {address} also belongs to {seen[address]}; "
                        "an address can belong to one member only"
                    )
                seen[address] = member.email
                self._by_address[address] = member
        return self

    @model_validator(mode="after")
    def _oauth2_complete(self) -> Config:
        # The [oauth2] section may sit unused in a password config (the example
        # documents it); only a server that signs in with it needs it complete.
        users = [name for name, s in (("imap", self.imap), ("smtp", self.smtp)) if s.auth == "oauth2"]
        for name in users:
            if not getattr(self, name).username:
                raise ValueError(
                    f'{name}.username: auth = "oauth2" signs in as a mailbox: write its address, '
                    'e.g. username = "refs@harbornet.example"'
                )
        if users:
            self.oauth2.check_usable()
        return self

    @property
    def uses_oauth2(self) -> bool:
        return "oauth2" in (self.imap.auth, self.smtp.auth)

    @property
    def oauth2_account(self) -> str:
        """The mailbox the OAuth2 token is for: the IMAP username, else the SMTP one."""
        return self.imap.username if self.imap.auth == "oauth2" else self.smtp.username

    def oauth2_token_path(self) -> Path:
        """The token file: ``[oauth2] token_file``, else ``refmail-oauth.json`` beside the database.

        Beside the database by default because the daemon must be able to
        write it (refresh tokens rotate), and the database's directory is the
        one place it surely may (``ReadWritePaths`` in the systemd unit).
        """
        if self.oauth2.token_file:
            return self.oauth2.resolve(self.oauth2.token_file, self.source)
        return self.database_path().parent / "refmail-oauth.json"

    # -- addresses --------------------------------------------------------
    @property
    def tracker_local(self) -> str:
        return self.group.tracking_address.rsplit("@", 1)[0]

    @property
    def tracker_domain(self) -> str:
        return self.group.tracking_address.rsplit("@", 1)[1]

    def is_tracking_address(self, address: str) -> bool:
        """The tracking address itself or any plus-tagged form of it."""
        local, _, domain = address.lower().rpartition("@")
        if domain != self.tracker_domain:
            return False
        return local == self.tracker_local or local.startswith(self.tracker_local + "+")

    def plus_tag(self, address: str) -> str | None:
        """``refs+TAG@group`` → ``TAG``; None for other addresses."""
        if not self.is_tracking_address(address):
            return None
        local = address.lower().rpartition("@")[0]
        tag = local[len(self.tracker_local) + 1 :]
        return tag or None

    def member(self, address: str) -> Member | None:
        """The member owning ``address`` (its main address or an alias)."""
        return self._by_address.get(address.lower())

    def canonical(self, address: str) -> str:
        """Lower-case ``address``, with a member alias mapped to the member's address."""
        address = address.lower()
        member = self._by_address.get(address)
        return member.email if member else address

    def is_member(self, address: str) -> bool:
        return address.lower() in self._by_address

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.group.timezone)

    def database_path(self) -> Path:
        """The database file; a relative path is relative to the config file."""
        path = Path(self.storage.database).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$REFMAIL_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return DEFAULT_CONFIG_PATH


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


def _problem(error: Any) -> tuple[str | None, str]:
    """One pydantic error as ``(dotted key, message for the person editing the file)``."""
    key = _key(tuple(error["loc"])) or None
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key (see config/refmail.example.toml for the keys refmail reads)"
    elif error["type"] == "missing":
        message = "this key is required"
    else:
        message = message.removeprefix("Value error, ")
    return key, message


def _normal(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def member_conflicts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Addresses claimed by two ``[[members]]`` entries, each with both entries named.

    Read from the document as written, so these are reported beside every
    other mistake in the file rather than only once the rest is valid. A
    duplicate is never resolved by taking one of the two: the later entry
    would silently take the address over (Bob's summary opening "Hi Hugo,").
    """
    members = data.get("members")
    if not isinstance(members, list):
        return []
    owner: dict[str, tuple[int, str, str]] = {}  # address -> (index, key, member's name)
    problems: list[tuple[str, str]] = []
    for i, member in enumerate(members):
        if not isinstance(member, dict):
            continue
        name = str(member.get("name") or f"members[{i}]")
        aliases = member.get("aliases")
        keyed = [(f"members[{i}].email", member.get("email"))]
        if isinstance(aliases, list):
            keyed += [(f"members[{i}].aliases[{j}]", a) for j, a in enumerate(aliases)]
        for key, value in keyed:
            address = _normal(value)
            if address is None:
                continue
            first = owner.get(address)
            if first is None:
                owner[address] = (i, key, name)
            elif first[0] != i:
                problems.append((key, (
                    f"{address} is already {first[1]} ({first[2]}); an address can belong to one "
                    f"member only: remove the duplicate entry, or give {name} their own address"
                )))
    return problems


def config_from_dict(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate ``data`` (a parsed TOML document) into a :class:`Config`.

    Every problem is reported at once (one line each, :class:`ConfigError`'s
    ``problems``): fixing one mistake only to be shown the next is a slow way
    to edit a file.
    """
    where = str(path) if path else None
    conflicts: list[tuple[str | None, str]] = list(member_conflicts(data))
    try:
        config = Config.model_validate({**data, "source": path})
    except ValidationError as exc:
        found = [_problem(error) for error in exc.errors()]
        if conflicts:
            # The model's own check of shared addresses (no key) says less.
            found = [p for p in found if p[0] is not None or "one member only" not in p[1]]
        problems = [*found, *conflicts]
    else:
        if not conflicts:
            return config
        problems = conflicts
    key, message = problems[0]
    raise ConfigError(message, path=where, key=key, problems=problems)


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find, read and validate the configuration (see :func:`find_config_path`)."""
    path = find_config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file; pass --config PATH, set REFMAIL_CONFIG, or create it from "
            "config/refmail.example.toml",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(path)) from None
    return config_from_dict(data, path=path.resolve())
