"""The group's configuration: a TOML file validated by pydantic.

The file is found via ``--config PATH``, else ``$REFMAIL_CONFIG``, else
``./config/refmail.toml`` (SPEC, "The contracts"). Secrets never live in the
file: ``password_env`` names the environment variable that holds them, and the
value is read only when a connection is made.

Every validation problem becomes one :class:`~refmail.errors.ConfigError`
naming the file, the dotted key and what is wrong, because the person reading
it is a group administrator editing TOML, not a Python developer.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from refmail.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConsentSettings",
    "Group",
    "ImapSettings",
    "Member",
    "Nudges",
    "SecuritySettings",
    "SmtpSettings",
    "Storage",
    "Timing",
    "find_config_path",
    "format_duration",
    "is_loopback",
    "load_config",
    "parse_duration",
    "parse_size",
]

DEFAULT_CONFIG_PATH = Path("config/refmail.toml")
ENV_VAR = "REFMAIL_CONFIG"

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|k|mb|m|gb|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"2d"``, ``"1w"`` → :class:`timedelta`.

    Short units keep the lifecycle testable in seconds while reading naturally
    in a config file. A bare number is refused: "7" could mean days or seconds.
    """
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f'expected a duration such as "90s", "15m", "2d" or "1w", got {value!r}')
    match = _DURATION_RE.match(value)
    if not match:
        raise ValueError(
            f'{value!r} is not a duration; write a number and a unit: "90s", "15m", "2h", "2d", "1w"'
        )
    return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()])


def format_duration(delta: timedelta) -> str:
    """The config's own notation back: ``7d``, ``36h``, ``90s``, ``0.2s`` (for messages and reasons)."""
    total = delta.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    seconds = int(total)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_size(value: Any) -> int:
    """``"25MB"``, ``"512k"``, ``1048576`` → a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE_RE.match(str(value))
    if not match or isinstance(value, bool):
        raise ValueError(f'{value!r} is not a size; write e.g. "25MB", "512KB" or a number of bytes')
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip().lower()


def _auto_duration(value: Any) -> timedelta | None:
    """``"auto"`` → None (the program decides), else a duration as :func:`parse_duration`."""
    return None if value is None or value == "auto" else parse_duration(value)


Email = Annotated[str, BeforeValidator(_email)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Section(BaseModel):
    # A typo in a key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Section):
    """A member of the group: may send intros and receives a weekly summary."""

    name: str
    email: Email
    business: str = ""
    aliases: list[Email] = Field(default_factory=list)


class Group(_Section):
    name: str
    tracking_address: Email
    admins: list[Email] = Field(default_factory=list)
    timezone: str = "UTC"
    open_membership: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'") from None
        return value


Security = Literal["ssl", "starttls", "none"]


class _Server(_Section):
    host: str = "localhost"
    security: Security = "ssl"
    username: str = ""
    password_env: str = ""
    ca_file: str = ""
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _tls_unless_loopback(self) -> _Server:
        # Plain text would send the password and every referral across the
        # network; it is only acceptable when the server is this machine.
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(
                f'security = "none" is only allowed for a loopback host (127.0.0.1, ::1, '
                f'localhost), not {self.host!r}; use "ssl" or "starttls"'
            )
        return self

    def password(self) -> str | None:
        """The secret from the environment variable named by ``password_env``.

        Raises :class:`ConfigError` naming the variable (never a value) when a
        username is set but the variable is not.
        """
        if not self.username:
            return None
        if not self.password_env:
            raise ConfigError("a username is set but password_env names no environment variable")
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"the environment variable {self.password_env} (password_env) is not set"
            )
        return value


class ImapSettings(_Server):
    port: int = 993
    folder: str = "INBOX"
    batch_size: int = Field(default=200, ge=1, le=5000)
    idle: bool = True
    #: While waiting in IDLE, also ask the server for news this often (see
    #: ``Mailbox.wait_for_mail``). None ("auto"): 0.2 s for a loopback server,
    #: off elsewhere; "0s": off.
    idle_check_interval: Annotated[timedelta | None, BeforeValidator(_auto_duration)] = None
    max_message_size: Size = 25 * 1024 * 1024


class SmtpSettings(_Server):
    port: int = 465
    from_name: str = ""


class Storage(_Section):
    database: str = "refmail.db"


def _quiet_hours(value: Any) -> tuple[time, time] | None:
    if value in ("", None):
        return None
    if isinstance(value, tuple):
        return value
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(value))
    if not match:
        raise ValueError(f'{value!r} is not a range of hours such as "21:00-07:00" (or "" for none)')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{value!r} has an hour or minute out of range") from None


def _weekly(value: Any) -> tuple[int, time]:
    if isinstance(value, tuple):
        return value
    match = re.fullmatch(r"\s*([a-zA-Z]{3})[a-zA-Z]*\s+(\d{1,2}):(\d{2})\s*", str(value))
    if not match or match.group(1).lower() not in _WEEKDAYS:
        raise ValueError(f'{value!r} is not a weekday and time such as "mon 08:00"')
    try:
        return _WEEKDAYS.index(match.group(1).lower()), time(int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise ValueError(f"{value!r} has an hour or minute out of range") from None


class Timing(_Section):
    poll_interval: Duration = timedelta(seconds=60)
    thank_you_after: Duration = timedelta(days=1)
    feedback_after: Duration = timedelta(days=7)
    reminder_every: Duration = timedelta(days=7)
    max_reminders: int = Field(default=2, ge=0, le=20)
    stale_after: Duration = timedelta(days=30)
    quiet_hours: Annotated[tuple[time, time] | None, BeforeValidator(_quiet_hours)] = (
        time(21, 0),
        time(7, 0),
    )
    weekly_summary: Annotated[tuple[int, time], BeforeValidator(_weekly)] = (0, time(8, 0))
    backfill: Duration = timedelta(days=14)


class Nudges(_Section):
    """Policy for refmail's own mail: how much, to whom, in which words."""

    #: Feedback requests to each prospect: 0 switches them off, at most 2.
    prospect_feedback: int = Field(default=1, ge=0, le=2)
    #: At most this many messages to one person in any 7 days (acknowledgements
    #: of the person's own intro excepted).
    max_per_week: int = Field(default=4, ge=1, le=50)
    #: A directory whose templates override the built-in ones (same file names).
    template_dir: str = ""

    def template_path(self, config_source: Path | None) -> Path | None:
        if not self.template_dir:
            return None
        path = Path(self.template_dir).expanduser()
        if not path.is_absolute() and config_source is not None:
            path = config_source.parent / path
        return path


class SecuritySettings(_Section):
    """Who may change referrals: checks on top of membership.

    ``require_authenticated_sender`` makes an intro or reply count only when
    the receiving mail server authenticated its From domain (DMARC, or aligned
    DKIM/SPF), as recorded in its ``Authentication-Results`` header — so a
    forged From cannot create or change a referral. Only headers carrying
    ``authserv_id`` are believed (RFC 8601 §5): anyone can write such a header
    into the mail they send. See :mod:`refmail.mail.authresults` for the policy.
    """

    require_authenticated_sender: bool = False
    #: Messages from one sender applied per hour at most; the rest are recorded
    #: and ignored, and the admins hear of it once a day (mail-loop brake).
    max_messages_per_sender_per_hour: int = Field(default=30, ge=1, le=10000)
    #: The receiving server's authserv-id: the first word of the
    #: Authentication-Results headers it writes (e.g. "mx.google.com").
    authserv_id: str = ""

    @field_validator("authserv_id")
    @classmethod
    def _one_word(cls, value: str) -> str:
        value = value.strip()
        if any(c.isspace() or c in ';()"' for c in value):
            raise ValueError(
                f"{value!r} is not an authserv-id: write the first word of your server's "
                "Authentication-Results headers, e.g. \"mx.harbornet.example\""
            )
        return value

    @model_validator(mode="after")
    def _id_when_required(self) -> SecuritySettings:
        if self.require_authenticated_sender and not self.authserv_id:
            raise ValueError(
                "require_authenticated_sender = true needs authserv_id: the first word of the "
                "Authentication-Results headers your receiving mail server adds (RFC 8601), "
                'e.g. authserv_id = "mx.harbornet.example"; only those headers are trusted'
            )
        return self


class ConsentSettings(_Section):
    """Consent-first introductions (SPEC "Consent-first introductions")."""

    #: The plus tag members write proposals to: ``refs+ask@group.example``.
    tag: str = "ask"
    #: Ask the provider too ("is this work you take on?"), not only the prospect.
    ask_provider: bool = False
    #: One gentle reminder to whoever has not answered after this long.
    remind_after: Duration = timedelta(days=3)
    #: No full yes after this long ends the proposal as expired.
    expire_after: Duration = timedelta(days=7)
    #: How long after a yes the real introduction is matched to its proposal.
    match_window: Duration = timedelta(days=30)

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[a-z0-9-]{1,20}", value) or re.fullmatch(r"r\d+", value):
            raise ValueError(f"{value!r} is not a usable plus tag: letters, digits and '-' only")
        return value


class Config(_Section):
    """The whole configuration, with address helpers used by classification."""

    group: Group
    members: list[Member] = Field(default_factory=list)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    storage: Storage = Field(default_factory=Storage)
    timing: Timing = Field(default_factory=Timing)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    nudges: Nudges = Field(default_factory=Nudges)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    #: The file this config was read from (None when built in code).
    source: Path | None = None

    _by_address: dict[str, Member] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _index_members(self) -> Config:
        seen: dict[str, str] = {}
        for i, member in enumerate(self.members):
            for address in (member.email, *member.aliases):
                if address in seen and seen[address] != member.email:
                    raise ValueError(
                        f"members[{i}]: {address} also belongs to {seen[address]}; "
                        "an address can belong to one member only"
                    )
                seen[address] = member.email
                self._by_address[address] = member
        return self

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


def config_from_dict(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate ``data`` (a parsed TOML document) into a :class:`Config`."""
    where = str(path) if path else None
    try:
        return Config.model_validate({**data, "source": path})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _key(tuple(error["loc"]))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (see config/refmail.example.toml for the keys refmail reads)"
        elif error["type"] == "missing":
            message = "this key is required"
        else:
            message = message.removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(message, path=where, key=key or None) from None


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
