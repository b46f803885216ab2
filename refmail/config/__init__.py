"""The group's configuration: a TOML file validated by pydantic.

Import from here; the modules are how it is organised: the values people
write (:mod:`~refmail.config.values`), the file's sections
(:mod:`~refmail.config.sections`) and the whole document, found and read
(:mod:`~refmail.config.document`).
"""

from __future__ import annotations

from refmail.config.document import (
    DEFAULT_CONFIG_PATH,
    ENV_VAR,
    Config,
    config_from_dict,
    find_config_path,
    load_config,
)
from refmail.config.oauth import PROVIDERS, OAuth2Settings
from refmail.config.sections import (
    PROFILE_CHARS,
    Coach,
    ConsentSettings,
    Group,
    ImapSettings,
    Member,
    Nudges,
    SecuritySettings,
    SmtpSettings,
    Storage,
    Timing,
)
from refmail.config.values import Email, format_duration, is_loopback, parse_duration, parse_size

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_VAR",
    "PROFILE_CHARS",
    "PROVIDERS",
    "Coach",
    "Config",
    "ConsentSettings",
    "Email",
    "Group",
    "ImapSettings",
    "Member",
    "Nudges",
    "OAuth2Settings",
    "SecuritySettings",
    "SmtpSettings",
    "Storage",
    "Timing",
    "config_from_dict",
    "find_config_path",
    "format_duration",
    "is_loopback",
    "load_config",
    "parse_duration",
    "parse_size",
]
