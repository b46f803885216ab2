"""A referral's status as people write it: the words of refmail's own emails, not SQL names.

An admin types what the emails say — ``--status "no fit"``, ``won``, ``met``,
``no response`` — and refmail's keywords in the languages it writes in
(``GEWONNEN``, ``ganado``) mean the same; ``open`` and ``closed`` stand for
their groups of statuses. A word that names no status is an error listing the
ones that do: "No referrals tracked yet." for a typo, with 77 referrals
tracked, was the wrong answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from refmail.policy.rules import CLOSED_STATUSES, OPEN_STATUSES
from refmail.reading.classification import STATUSES
from refmail.reading.command_words import KEYWORD_STATUS, LANGUAGES

__all__ = ["GROUPS", "StatusWordError", "label", "status_named", "statuses_named"]

#: Words for a set of statuses.
GROUPS: dict[str, frozenset[str]] = {
    "open": OPEN_STATUSES,
    "closed": CLOSED_STATUSES,
}

#: Everyday words beside the keywords, folded: what the emails and reports print.
_SYNONYMS = {
    "met": "meeting",
    "meet": "meeting",
    "no response": "unresponsive",
    "no answer": "unresponsive",
    "nofit": "no_fit",
    "not a fit": "no_fit",
    "withdraw": "withdrawn",
    "new": "introduced",
    "intro": "introduced",
}


class StatusWordError(ValueError):
    """A word that names no status; the message lists the words that do."""


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[\s_-]+", " ", text).strip()


def _vocabulary() -> dict[str, str]:
    words = {_fold(status): status for status in STATUSES}
    words.update({_fold(status.replace("_", " ")): status for status in STATUSES})
    for language in LANGUAGES:
        for keyword, forms in language.keywords.items():
            status = KEYWORD_STATUS.get(keyword)
            if status is not None:
                words.update({_fold(form): status for form in forms})
    words.update(_SYNONYMS)
    return words


_WORDS = _vocabulary()


def label(status: str) -> str:
    """How the emails write a status: ``no_fit`` → ``no fit``."""
    return status.replace("_", " ")


def _known() -> str:
    return ", ".join([*(label(s) for s in STATUSES), *GROUPS])


def status_named(word: str) -> str:
    """The one status ``word`` names (``"No Fit"`` → ``no_fit``); :class:`StatusWordError` otherwise."""
    status = _WORDS.get(_fold(word))
    if status is None:
        raise StatusWordError(f"{word!r} is not a status; use one of: {_known()}")
    return status


def statuses_named(words: str | Iterable[str]) -> frozenset[str]:
    """The statuses ``words`` name: comma-separated statuses, ``open`` or ``closed``."""
    items = words.split(",") if isinstance(words, str) else list(words)
    found: set[str] = set()
    for item in items:
        if not item.strip():
            continue
        group = GROUPS.get(_fold(item))
        found |= group if group is not None else {status_named(item)}
    if not found:
        raise StatusWordError(f"no status given; use one of: {_known()}")
    return frozenset(found)
