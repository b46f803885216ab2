"""The group's configuration: a TOML file validated by pydantic.

Import from here; the modules below are how it is organised, not an API.
"""

from __future__ import annotations

from refmail.config.sections import (
    DEFAULT_CONFIG_PATH,
    ENV_VAR,
    Config,
    ConsentSettings,
    Email,
    Group,
    ImapSettings,
    Member,
    Nudges,
    SecuritySettings,
    SmtpSettings,
    Storage,
    Timing,
    config_from_dict,
    find_config_path,
    format_duration,
    is_loopback,
    load_config,
    parse_duration,
    parse_size,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_VAR",
    "Config",
    "ConsentSettings",
    "Email",
    "Group",
    "ImapSettings",
    "Member",
    "Nudges",
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
