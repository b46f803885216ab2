"""refmail: keeps business referrals alive by email.

The library comes first and the ``refmail`` command is a thin layer over it:
:func:`load_config` reads a group's config, :func:`classify` tells what a raw
message is, :class:`Store` keeps referrals in SQLite and :class:`Tracker`
applies classified mail to the store.
"""

from .classification import Classification, Command
from .config import Config, load_config
from .errors import ConfigError, MailboxError, RefmailError, SourceError, StoreError, TransportError

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
