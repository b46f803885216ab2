"""The sections of the config file, one pydantic model each.

Every section forbids unknown keys (a typo must be an error, not a silently
ignored setting) and is frozen. Secrets never live in the file:
``password_env`` names the environment variable that holds them, and the value
is read only when a connection is made.
"""

from __future__ import annotations

import os
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from refmail.config.values import AutoDuration, Duration, Email, QuietHours, Size, WeeklySlot, is_loopback
from refmail.errors import ConfigError

__all__ = [
    "PROFILE_CHARS",
    "Coach",
    "ConsentSettings",
    "Group",
    "ImapSettings",
    "Member",
    "Nudges",
    "Section",
    "SecuritySettings",
    "SmtpSettings",
    "Storage",
    "Timing",
]


class Section(BaseModel):
    # A typo in a key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


#: A member's words about who they want to meet (or not), at most this long:
#: they are shown in other people's mail, so a stranger-sized essay is refused.
PROFILE_CHARS = 300


class Member(Section):
    """A member of the group: may send intros and receives a weekly summary.

    ``looking_for`` and ``not_looking_for``: what a good referral for them looks
    like, and what does not (seeds 001, 002), in their words; shown to the
    members who introduce someone to them. A member may set both by email
    (``refs+profile@…``), which then wins over these.
    """

    name: str
    email: Email
    business: str = ""
    aliases: list[Email] = Field(default_factory=list)
    looking_for: str = Field(default="", max_length=PROFILE_CHARS)
    not_looking_for: str = Field(default="", max_length=PROFILE_CHARS)

    @field_validator("looking_for", "not_looking_for")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())


class Group(Section):
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
#: How refmail signs in: with the password from ``password_env``, or with an
#: OAuth2 access token from the ``[oauth2]`` section (``refmail.config.oauth``).
Auth = Literal["password", "oauth2"]


class _Server(Section):
    host: str = "localhost"
    security: Security = "ssl"
    username: str = ""
    auth: Auth = "password"
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
        if not self.username or self.auth == "oauth2":
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
    idle_check_interval: AutoDuration = None
    max_message_size: Size = 25 * 1024 * 1024
    #: Bodies fetched per UID FETCH at most, by their RFC822.SIZE (a message
    #: larger than this comes alone): what one batch can hold in memory.
    batch_bytes: Size = 16 * 1024 * 1024
    #: During an outage the daemon tries again after 1–2 s, then waits twice
    #: as long each time (with jitter), never longer than this.
    reconnect_max: Duration = timedelta(seconds=30)

    @field_validator("batch_bytes")
    @classmethod
    def _at_least_a_megabyte(cls, value: int) -> int:
        if value < 1024 * 1024:
            raise ValueError("must be at least 1MB: smaller would fetch ordinary mail one message at a time")
        return value

    @field_validator("reconnect_max")
    @classmethod
    def _not_a_busy_loop(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s: shorter would hammer a server that is down")
        return value


class SmtpSettings(_Server):
    port: int = 465
    from_name: str = ""


class Storage(Section):
    database: str = "refmail.db"


class Timing(Section):
    poll_interval: Duration = timedelta(seconds=60)
    thank_you_after: Duration = timedelta(days=1)
    feedback_after: Duration = timedelta(days=7)
    reminder_every: Duration = timedelta(days=7)
    max_reminders: int = Field(default=2, ge=0, le=20)
    stale_after: Duration = timedelta(days=30)
    quiet_hours: QuietHours = (
        time(21, 0),
        time(7, 0),
    )
    weekly_summary: WeeklySlot = (0, time(8, 0))
    backfill: Duration = timedelta(days=14)


class Nudges(Section):
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


class SecuritySettings(Section):
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


class ConsentSettings(Section):
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


class Coach(Section):
    """The referral coach: the one-to-one the articles recommend (seed 004)."""

    #: A one-to-one with another member is suggested when, within this period,
    #: you gave them business and received no introduction from them.
    one_to_one_period: Duration = timedelta(days=90)
    #: "Business": a won referral, or at least this many introductions.
    one_to_one_introductions: int = Field(default=3, ge=1, le=100)
