"""Finding a party's name in an intro's text: whole words, the first letter as written.

:func:`name_pattern` is the definition, a regex per name form. Names are new in
nearly every intro, so compiling one per form per message missed the ``re``
cache every time (29,070 compilations per 10,000 messages in the profile);
:func:`find_form` gives the same matches for ASCII forms with ``str.find``,
and ``tests/test_fast_paths.py`` holds the two equal. Pure, for
:mod:`refmail.reading.roles`.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["IGNORECASE_ASCII", "caseless_key", "find_form", "name_pattern", "plain_form"]


@lru_cache(maxsize=2048)
def name_pattern(form: str) -> re.Pattern[str]:
    """Where ``form`` is mentioned: its first letter as written, the rest in any case,
    words apart by any white space, whole words only."""
    head, rest = form[0], form[1:]
    # The literal first letter leads, so the engine can jump from one
    # capital letter to the next; the boundary is checked behind it.
    pattern = re.escape(head) + f"(?<![\\w'-]{re.escape(head)})"
    if rest:
        pattern += "(?i:" + r"\s+".join(re.escape(w) for w in rest.split(" ")) + ")"
    return re.compile(pattern + r"(?![\w-])")


#: The only characters beyond ASCII that an ASCII letter matches under re.IGNORECASE
#: (İ ı ~ i, ſ ~ s, Kelvin K ~ k; checked over all of Unicode in tests/test_fast_paths.py).
IGNORECASE_ASCII = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def caseless_key(text: str) -> str | None:
    """``text`` with each character replaced by what an ASCII pattern character must be
    to match it under re.IGNORECASE (ASCII letters lower-cased), offsets unchanged; None
    if lower-casing would change the length (it does not after the table above)."""
    key = text.translate(IGNORECASE_ASCII).lower()
    return key if len(key) == len(text) else None


def plain_form(form: str) -> list[str] | None:
    """The pieces :func:`find_form` compares, or None when only the regex is exact:
    a non-ASCII form, or white space other than single spaces between words."""
    if not form.isascii():
        return None
    pieces = form[1:].lower().split(" ")
    if any(not piece or any(ch.isspace() for ch in piece) for piece in pieces[1:]) or any(
            ch.isspace() for ch in pieces[0]):
        return None
    return pieces


def find_form(folded: str, caseless: str, head: str, pieces: list[str]) -> list[tuple[int, int]]:
    """The matches of :func:`name_pattern` for an ASCII form, found with ``str.find``
    (names are new in nearly every intro: a regex each would be compiled per message)."""
    found = []
    size = len(folded)
    pos = 0
    while (i := folded.find(head, pos)) >= 0:
        pos = i + 1
        if i and (folded[i - 1].isalnum() or folded[i - 1] in "_'-"):  # (?<![\w'-])
            continue
        j = i + 1
        for k, piece in enumerate(pieces):
            if k:  # \s+ (greedy: a piece starts with no white space)
                if j >= size or not folded[j].isspace():
                    break
                j += 1
                while j < size and folded[j].isspace():
                    j += 1
            if not caseless.startswith(piece, j):
                break
            j += len(piece)
        else:
            if j < size and (folded[j].isalnum() or folded[j] in "_-"):  # (?![\w-])
                continue
            found.append((i, j))
            pos = j
    return found
