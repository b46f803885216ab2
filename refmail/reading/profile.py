"""What a member writes about the referrals they want: "Looking for: …", "Not looking for: …" (pure).

Seeds 001 and 002: "Be clear about what the professional you are referring to
can actually do"; "we must not only convey who we do want to meet but also
those we don't". A member says it in the config (``looking_for``,
``not_looking_for``) or by email, writing to ``refs+profile@…`` or answering
the link in their weekly summary::

    Looking for: real-estate agents who want to grow their team
    Not looking for: restaurants, anyone after free advice

:func:`read_profile` reads such a message in the languages refmail reads
("Ich suche: …", "No busco: …", "Je cherche : …"): a label at the start of a
line, then its value — the rest of the line and the lines under it, up to a
blank line or the next label. A first-person sentence needs no colon ("I'm
looking for family-owned shops"). A value of ``-`` or "nothing" clears it.
Labels are matched on folded text (lower case, no accents); the values are
the member's own words, kept as written, whitespace collapsed and cut to
:data:`~refmail.config.PROFILE_CHARS`. A message with no label changes nothing
(:attr:`ProfileText.empty`): refmail answers with what it has recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refmail.config import PROFILE_CHARS
from refmail.reading.role_cues import fold

__all__ = ["CLEAR_WORDS", "LABELS", "ProfileText", "clean_profile_text", "read_profile"]

#: Labels per field: (``"looking_for"`` | ``"not_looking_for"``, regex over folded
#: lower-case text, needs a colon). Longer labels are tried first, so "not
#: looking for" is never read as "looking for".
LABELS: tuple[tuple[str, str, bool], ...] = (
    # English
    ("not_looking_for", r"(?:i'm|i am|we're|we are) not looking for", False),
    ("not_looking_for", r"not looking for|not a (?:good )?fit|not for me|please don't send|don't send"
                        r"|who i don't want to meet|avoid|no thanks|not", True),
    ("looking_for", r"(?:i'm|i am|we're|we are) (?:always )?looking for", False),
    ("looking_for", r"looking for|who i want to meet|want to meet|a good referral(?: for me)?|good referrals?"
                    r"|ideal (?:referral|client|customer)s?|good fit", True),
    # German
    ("not_looking_for", r"ich suche nicht|wir suchen nicht", False),
    ("not_looking_for", r"nicht gesucht|suche nicht|bitte nicht|nicht", True),
    ("looking_for", r"ich suche|wir suchen", False),
    ("looking_for", r"suche|gesucht|ideale empfehlung|idealer kunde", True),
    # Spanish
    ("not_looking_for", r"no busco|no buscamos|no estoy buscando", False),
    ("not_looking_for", r"no busco|no", True),
    ("looking_for", r"busco|buscamos|estoy buscando", False),
    ("looking_for", r"busco|buscando|cliente ideal", True),
    # French
    ("not_looking_for", r"je ne cherche pas|nous ne cherchons pas", False),
    ("not_looking_for", r"je ne cherche pas|pas pour moi|pas", True),
    ("looking_for", r"je cherche|nous cherchons|je recherche", False),
    ("looking_for", r"je cherche|recherche|client ideal", True),
    # Italian
    ("not_looking_for", r"non cerco|non cerchiamo", False),
    ("not_looking_for", r"non cerco|non", True),
    ("looking_for", r"cerco|cerchiamo|sto cercando", False),
    ("looking_for", r"cerco|cliente ideale", True),
    # Portuguese
    ("not_looking_for", r"nao procuro|nao procuramos", False),
    ("not_looking_for", r"nao procuro|nao", True),
    ("looking_for", r"procuro|procuramos|estou procurando", False),
    ("looking_for", r"procuro|cliente ideal", True),
    # Dutch
    ("not_looking_for", r"ik zoek niet|wij zoeken niet|we zoeken niet", False),
    ("not_looking_for", r"niet gezocht|zoek niet|niet", True),
    ("looking_for", r"ik zoek|wij zoeken|we zoeken", False),
    ("looking_for", r"zoek|gezocht|ideale klant", True),
)
#: A value that clears the field.
CLEAR_WORDS = frozenset({"-", "--", "none", "nothing", "nobody", "n/a", "nichts", "niemand", "nada", "rien",
                         "niente", "nulla", "nenhum", "niets", "geen"})


def _label_pattern() -> re.Pattern[str]:
    alternatives = []
    for i, (_, words, colon) in enumerate(LABELS):
        after = r"[ \t]*[:\-\u2013\u2014][ \t]*" if colon else r"[ \t]*[:\-\u2013\u2014]?[ \t]*"
        alternatives.append(rf"(?P<l{i}>(?:{words}))(?![\w']){after}")
    return re.compile(r"^[ \t>*\-\u2022]*(?:" + "|".join(alternatives) + ")", re.MULTILINE)


_LABEL = _label_pattern()


@dataclass(frozen=True)
class ProfileText:
    """What a profile message says: each field's new value ("" clears it), or None when it said nothing."""

    looking_for: str | None = None
    not_looking_for: str | None = None

    @property
    def empty(self) -> bool:
        return self.looking_for is None and self.not_looking_for is None


def clean_profile_text(value: str) -> str:
    """A member's words as they are kept: one line, whitespace collapsed, no
    control characters, at most :data:`PROFILE_CHARS` (cut at a word, "…")."""
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if text.lower().strip(".") in CLEAR_WORDS:
        return ""
    if len(text) <= PROFILE_CHARS:
        return text
    cut = text[: PROFILE_CHARS - 1]
    if " " in cut[PROFILE_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


def read_profile(text: str) -> ProfileText:
    """The profile fields ``text`` sets (a member's message, quoted history removed)."""
    text = text[: 20 * PROFILE_CHARS]
    folded = fold(text).lower()
    found: list[tuple[int, int, str]] = []  # (label start, value start, field)
    for match in _LABEL.finditer(folded):
        group = next(name for name, value in match.groupdict().items() if value is not None)
        found.append((match.start(), match.end(), LABELS[int(group[1:])][0]))
    values: dict[str, str] = {}
    for n, (_, start, field) in enumerate(found):
        end = found[n + 1][0] if n + 1 < len(found) else len(text)
        value = text[start:end]
        blank = re.search(r"\n[ \t]*\n", value)
        if blank:
            value = value[: blank.start()]
        values.setdefault(field, clean_profile_text(value))  # the first of two same labels wins
    return ProfileText(values.get("looking_for"), values.get("not_looking_for"))
