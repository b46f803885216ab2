"""refmail: keeps business referrals alive by email.

The library comes first and the ``refmail`` command is a thin layer over it:
:func:`load_config` reads a group's config, :func:`classify` tells what a raw
message is, :class:`Store` keeps referrals in SQLite and :class:`Tracker`
applies classified mail to the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .classification import Classification, Command
from .errors import ConfigError, MailboxError, RefmailError, SourceError, StoreError, TransportError

if TYPE_CHECKING:
    from .config import Config, load_config

__all__ = [
    "Classification",
    "Command",
    "Config",
    "ConfigError",
    "MailboxError",
    "RefmailError",
    "SourceError",
    "StoreError",
    "TransportError",
    "load_config",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``Config`` and ``load_config`` on first use (PEP 562).

    The config imports pydantic, most of ``refmail --help``'s start-up time;
    commands that never read a config should not pay for it.
    """
    if name in ("Config", "load_config"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
