"""One mailbox as a value, and address lists as people and clients write them.

Kept apart from :mod:`refmail.mail.message` and :mod:`refmail.mail.forwarding`
so that both can use :class:`Address` without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Address", "parse_address_list"]


@dataclass(frozen=True)
class Address:
    """One mailbox: a display name (decoded, may be empty) and a lower-case address."""

    name: str
    address: str


# The lookbehind lets a match start only at the beginning of a run of
# local-part characters: without it a long run with no "@" is rescanned from
# every position (quadratic time on hostile input).
_ADDR = re.compile(
    r"(?<![A-Za-z0-9._%+'=!#$&*/?^`{|}~-])"
    r"[A-Za-z0-9_%+-][A-Za-z0-9._%+'=!#$&*/?^`{|}~-]*+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)

_MAILTO_BRACKETS = re.compile(r"\[\s*mailto:([^\]]*)\]", re.IGNORECASE)
_MAILTO = re.compile(r"mailto:", re.IGNORECASE)
_NAME_STRIP = " \t\u00a0,;<>[]()\"'“”«»:"


def parse_address_list(value: str) -> list[Address]:
    """Addresses as clients print them in forward blocks → mailboxes, in order.

    Handles ``Name <a@b>``, ``"Name" <a@b>``, ``a@b``, Outlook's ``Name [mailto:a@b]``,
    "Last, First" names and ``,``/``;`` separators: every address found is a
    mailbox, and the text between it and the previous one is its name.
    """
    text = _MAILTO.sub("", _MAILTO_BRACKETS.sub(r"<\1>", value))
    out: list[Address] = []
    seen: set[str] = set()
    previous = 0
    for match in _ADDR.finditer(text):
        name = text[previous : match.start()].strip(_NAME_STRIP)
        previous = match.end()
        address = match.group(0).lower().rstrip(".")
        if address in seen:
            continue
        seen.add(address)
        if _ADDR.fullmatch(name):
            name = ""
        out.append(Address(" ".join(name.split()), address))
    return out
