"""The values a config holds, parsed from what people write in TOML.

Durations (``"90s"``, ``"2d"``), sizes (``"25MB"``), email addresses, quiet
hours and the weekly summary's slot: each parser raises ``ValueError`` with a
message written for the person editing the file, which
:func:`refmail.config.document.config_from_dict` turns into one line naming
the key.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "AutoDuration",
    "Duration",
    "Email",
    "QuietHours",
    "Size",
    "WeeklySlot",
    "format_duration",
    "is_loopback",
    "parse_duration",
    "parse_size",
]

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


Email = Annotated[str, BeforeValidator(_email)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
#: A duration, or ``"auto"`` (None: the program decides).
AutoDuration = Annotated[timedelta | None, BeforeValidator(_auto_duration)]
#: ``"21:00-07:00"`` → (start, end) in the group's time zone; ``""`` → None.
QuietHours = Annotated[tuple[time, time] | None, BeforeValidator(_quiet_hours)]
#: ``"mon 08:00"`` → (weekday 0–6, time).
WeeklySlot = Annotated[tuple[int, time], BeforeValidator(_weekly)]
