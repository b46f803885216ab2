"""refmail: keeps business referrals alive by email.

The library comes first and the ``refmail`` command is a thin layer over it:
:func:`load_config` reads a group's config, :func:`classify` tells what a raw
message is, :class:`Store` keeps referrals in SQLite and :class:`Tracker`
applies classified mail to the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refmail._version import __version__
from refmail.errors import ConfigError, MailboxError, RefmailError, SourceError, StoreError, TransportError
from refmail.reading.classification import Classification, Command

if TYPE_CHECKING:
    from refmail.config import Config, load_config

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
    "__version__",
    "load_config",
]



def __getattr__(name: str) -> Any:
    """``Config`` and ``load_config`` on first use (PEP 562).

    The config imports pydantic, most of ``refmail --help``'s start-up time;
    commands that never read a config should not pay for it.
    """
    if name in ("Config", "load_config"):
        from refmail import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
