"""Secrets never reach a log line, at any verbosity.

refmail's own messages are written not to contain secrets, and its error
messages are scrubbed where a server or library might echo one; this is the
belt to those braces. Every secret refmail handles — passwords, client
secrets, access and refresh tokens, and the base64 SASL strings made of them —
is :func:`remember`-ed, and :class:`RedactingFilter`, installed on the log
handlers by the CLI (:func:`install`), replaces any of them in a formatted
record with ``***`` before it is written. imapclient's protocol log at ``-vv``
(the ``imapclient.imaplib`` logger) passes through the same filter.

The registry is per process and small: a handful of live secrets, the oldest
forgotten first, since a rotated token is worthless a little later.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

__all__ = ["MASK", "RedactingFilter", "install", "remember", "scrub"]

MASK = "***"
#: Secrets kept at once. A daemon refreshes hourly: this covers days of them.
_KEEP = 256
#: Shorter strings are not secrets worth masking and would mangle ordinary text.
_SHORTEST = 6

_lock = threading.Lock()
_secrets: OrderedDict[str, None] = OrderedDict()


def remember(*secrets: str | None) -> None:
    """Register secrets to be masked in every log line and :func:`scrub`-bed text."""
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= _SHORTEST:
                _secrets[secret] = None
                _secrets.move_to_end(secret)
        while len(_secrets) > _KEEP:
            _secrets.popitem(last=False)


def scrub(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***`` (longest first)."""
    with _lock:
        found = [s for s in _secrets if s in text]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message, arguments merged, scrubbed of secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None:
            # Tracebacks are formatted later by the handler; format (and scrub) them now.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (the root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
