"""Where quoted history and signatures begin: the word tables compiled into line tests.

:mod:`refmail.mail.reply_words` holds the phrases, per language; this module
turns them into the few predicates :mod:`refmail.mail.reply` (plain text) and
:mod:`refmail.mail.reply_html` (HTML) ask of a line: is it an attribution
("On … wrote:"), a separator ("-----Original Message-----"), the start of an
Outlook header block, a phone footer, a sign-off? Everything is compiled once
at import; every function is pure and linear in its input.
"""

from __future__ import annotations

import re

from refmail.mail.reply_words import all_of, labels_of

__all__ = [
    "DATEISH",
    "FROM_LABEL",
    "HEADER_LABEL",
    "SENT_FROM",
    "SEPARATOR",
    "SIGN_OFF",
    "THANKS_OFF",
    "WROTE",
    "attribution",
    "header_block",
    "is_separator",
]


def _alternation(items: list[str]) -> str:
    """A regex alternation of literal phrases; spaces match any run of blanks."""
    return "|".join(re.escape(item).replace(r"\ ", r"\s+") for item in items)


# -- attribution lines ------------------------------------------------------------
_WROTE_WORDS = _alternation(all_of("wrote"))
#: An attribution's verb of writing, as a whole word (CJK verbs need no boundary).
WROTE = re.compile(rf"(?:^|(?<=\W)|(?<=\d)|(?<=[^\x00-\u024f]))(?:{_WROTE_WORDS})(?!\w)", re.IGNORECASE)
_OPENERS = _alternation(all_of("openers"))
_OPENER = re.compile(rf"^(?:{_OPENERS})(?!\w)|^\d", re.IGNORECASE)
#: A date, a time or an address: what an attribution carries besides its verb.
DATEISH = re.compile(
    r"@|(?<!\d)\d{1,2}[:.]\d{2}(?!\d)|(?<!\d)(?:19|20)\d{2}(?!\d)|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
    r"|\d{1,4}年\d{1,2}月|\d{1,2}월"
)
_TIME_OR_ADDRESS = re.compile(r"@|(?<!\d)\d{1,2}[:.]\d{2}(?!\d)")
_COLON_END = re.compile(r"[:：]\s*$")
# After the verb: the name (Swedish "skrev Anna <a>:"), a parenthesis (Hungarian
# "ezt írta (időpont: …):"), or nothing, then the colon.
_WROTE_THEN_COLON = re.compile(rf"(?:{WROTE.pattern})(?:\W.{{0,150}})?\s?[:：]\s*$", re.IGNORECASE)
_WROTE_AT_END = re.compile(rf"(?:{WROTE.pattern})\s*$", re.IGNORECASE)
# Attributions with no verb at all end with the address: Gmail ru/ja
# ("ср, 30 апр. 2025 г. в 15:19, John <j@x>:"), Yandex, old Gmail ISO dates.
_ADDRESS_COLON = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?\)?\s*[:：]\s*$")
_DATE_FIRST = re.compile(
    r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}|[^\W\d_]{2,12}\.?,?\s+\d{1,2}\.?\s+[^\W\d_]{3,}"
    r"|\d{4}年)"
)
_DASHES_AROUND = re.compile(r"^[-=_*\s]{2,}|[-=_*\s]{2,}$")


_WROTE_ENDINGS = tuple(w.lower() for w in all_of("wrote"))
_ATTRIBUTION_LAST = frozenset(":：-=_*")


def may_end_attribution(line: str) -> bool:
    """A cheap test before :func:`attribution`: does ``line`` end like one can?"""
    line = line.rstrip()
    return bool(line) and (line[-1] in _ATTRIBUTION_LAST or line.lower().endswith(_WROTE_ENDINGS))


def attribution(text: str, *, strict: bool) -> bool:
    """Does ``text`` (one line, or a wrapped attribution joined) read like
    "On <date>, <name> wrote:" in some language?

    ``strict`` is for a line with no ``>`` quote under it, which then ends the
    new text: it must name a verb of writing and carry a date, time or address
    — or, with no verb, be a date-first line ending with an address and a colon
    (``30.09.2017, 18.30, "X" <x@y>:``). A verb at the very end with no colon
    counts when the line opens like an attribution and has a time or an
    address ("On … John <j@x> wrote"). Zoho writes ``---- On … wrote ----``.
    Beside a ``>`` quote, a line ending in ``:`` with a date or address suffices.
    """
    text = text.strip()
    if len(text) > 400:
        return False
    dashed = _DASHES_AROUND.search(text) is not None
    core = _DASHES_AROUND.sub("", text).strip()
    if _COLON_END.search(core):
        if _WROTE_THEN_COLON.search(core) and DATEISH.search(core):
            return True
        if _ADDRESS_COLON.search(core) and DATEISH.search(core[: core.rfind("@")] or core):
            return True
        if not strict:
            return bool(WROTE.search(core) or _DATE_FIRST.match(core) or DATEISH.search(core))
        return False
    if _WROTE_AT_END.search(core) and _TIME_OR_ADDRESS.search(core):
        return bool(dashed or _OPENER.match(core) or _DATE_FIRST.match(core))
    return False


def opens_like_attribution(text: str) -> bool:
    """Does ``text`` begin the way attributions begin ("On", "Am", "Le", a digit)?"""
    return bool(_OPENER.match(text.strip()))


# -- separators ---------------------------------------------------------------------
_SEPARATOR_WORDS = _alternation(sorted({*all_of("separators"), *all_of("forwarded")},
                                        key=lambda s: (-len(s), s)))
_FORWARD_INTROS = _alternation(all_of("forward_intros"))
#: "-----Original Message-----", "---------- Forwarded message ---------",
#: "-------- Oprindelig besked --------", "Begin forwarded message:".
SEPARATOR = re.compile(
    rf"^\s*(?:[-=_*]{{2,}}|>)\s*(?:{_SEPARATOR_WORDS})\s*(?:[-=_*]{{2,}}|<)\s*$"
    rf"|^\s*(?:{_FORWARD_INTROS})\s?[:：]\s*$",
    re.IGNORECASE,
)
#: The same, anywhere at the start of a block of HTML text (no line ends there).
SEPARATOR_START = re.compile(
    rf"^\s*(?:[-=_*]{{2,}}|>)\s*(?:{_SEPARATOR_WORDS})\s*(?:[-=_*]{{2,}}|<)"
    rf"|^\s*(?:{_FORWARD_INTROS})\s?[:：]",
    re.IGNORECASE,
)


def is_separator(line: str) -> bool:
    """Is ``line`` an "original message" / "forwarded message" rule or intro line?"""
    line = line.strip()
    return bool(line) and (line[0] in "-=_*>" or line[-1] in ":：") and bool(SEPARATOR.match(line))


# -- Outlook header blocks ---------------------------------------------------------------
_FROM_WORDS = _alternation(labels_of("from"))
_OTHER_WORDS = _alternation(
    sorted({*labels_of("sent"), *labels_of("to"), *labels_of("cc"), *labels_of("subject"),
            *labels_of("other")}, key=lambda s: (-len(s), s))
)
_SENT_WORDS = _alternation(labels_of("sent"))
# A label line, optionally bold in Markdown style ("*From:* …"); French puts a
# (no-break) space before the colon, CJK clients a full-width colon.
HEADER_LABEL = re.compile(
    rf"^\s*\*{{0,2}}(?:({_FROM_WORDS})|{_OTHER_WORDS})(?:[ \u00a0]?:(?:\*{{1,2}})?(?:\s|$)|：)",
    re.IGNORECASE,
)
#: Anywhere in a run of HTML text: "From: … Sent: …" written on one line.
HEADER_LABEL_ANYWHERE = re.compile(
    rf"(?:^|\s)\*{{0,2}}(?:({_FROM_WORDS})|{_OTHER_WORDS})[ \u00a0]?[:：]", re.IGNORECASE
)
FROM_LABEL = re.compile(rf"^\s*\*{{0,2}}(?:{_FROM_WORDS})[ \u00a0]?[:：]", re.IGNORECASE)
_FROM_INLINE = re.compile(
    rf"^\s*\*{{0,2}}(?:{_FROM_WORDS})[ \u00a0]?[:：].*\s\*{{0,2}}(?:{_SENT_WORDS})[ \u00a0]?[:：]",
    re.IGNORECASE,
)


def _keys(items: list[str]) -> frozenset[str]:
    return frozenset(item.lower()[:2] for item in items)


_LABEL_KEYS = _keys([*labels_of("from"), *labels_of("sent"), *labels_of("to"), *labels_of("cc"),
                     *labels_of("subject"), *labels_of("other")])


def may_be_label(line: str) -> bool:
    """A cheap test before :func:`header_block`: a label's first letters and a colon."""
    head = line.lstrip(" \t*")[:2].lower()
    return head in _LABEL_KEYS and (":" in line[:60] or "：" in line[:60])


def header_block(lines: list[str], i: int) -> bool:
    """An Outlook header block starts at ``lines[i]``: a run of label lines with a From.

    A label line may wrap ("From: Human Resources" then "<hr@x>" on the next
    line), so one unlabelled line between labels is allowed.
    """
    if _FROM_INLINE.match(lines[i]):
        return True
    if not HEADER_LABEL.match(lines[i]):
        return False
    labels = froms = 0
    unlabelled = 0
    for line in lines[i : i + 9]:
        if not line.strip():
            break
        m = HEADER_LABEL.match(line)
        if m:
            labels += 1
            froms += bool(m.group(1))
            unlabelled = 0
        else:
            unlabelled += 1
            if unlabelled > 1:
                break
    return labels >= 2 and froms >= 1


def header_block_end(lines: list[str], i: int) -> int:
    """The index just past the header block starting at ``lines[i]``."""
    j = i
    while j < len(lines) and lines[j].strip() and j - i < 12:
        j += 1
    return j


# -- signatures ---------------------------------------------------------------------------
def _sent_from_pattern(phrase: str) -> str:
    """A phone footer phrase as a regex: "…" is the device or app, else it follows."""
    if "…" in phrase:
        head, _, tail = phrase.partition("…")
        return (re.escape(head.strip()).replace(r"\ ", r"\s+") + r"\s?\S.{0,40}?\s?"
                + re.escape(tail.strip()).replace(r"\ ", r"\s+"))
    return re.escape(phrase).replace(r"\ ", r"\s+") + r"(?:\s+[^\s,;!?]+){0,6}?"


_FOOTER_KEYS = _keys([p for p in all_of("sent_from") if not p.startswith("…")])
_FOOTER_TAILS = tuple(p.partition("…")[2].strip().lower() for p in all_of("sent_from") if p.startswith("…"))
_SIGN_OFF_KEYS = _keys([*all_of("sign_offs"), *all_of("thanks")])


def may_be_footer(line: str) -> bool:
    """A cheap test before :data:`SENT_FROM`: the start of a footer phrase, or its end."""
    line = line.strip()
    return line[:2].lower() in _FOOTER_KEYS or line.rstrip(".").lower().endswith(_FOOTER_TAILS)


def may_sign_off(line: str) -> bool:
    """A cheap test before :data:`SIGN_OFF`: short, and starting like a sign-off."""
    line = line.strip()
    return len(line) <= 80 and line[:2].lower() in _SIGN_OFF_KEYS


_URL_TAIL = r"\s*(?:<[^<>\s]{1,300}>|\(?https?://\S{1,300}\)?)?"
#: Phone and app footers ("Sent from my iPhone", "Von meinem iPad gesendet",
#: "Get Outlook for iOS<https://aka.ms/…>"), a few words and a link at most:
#: "Sent from my desk, is much easier…" is a sentence, not one.
SENT_FROM = re.compile(
    r"^\s*(?:" + "|".join(_sent_from_pattern(p) for p in all_of("sent_from")) + r")\.?"
    + _URL_TAIL + r"\s*$",
    re.IGNORECASE,
)
#: Closing formulas; a block starting with one near the end is the sign-off.
SIGN_OFF = re.compile(
    r"^\s*(?:" + _alternation(sorted({*all_of("sign_offs"), *all_of("thanks")}, key=lambda s: (-len(s), s)))
    + r")\s*[,.!]*(?:\s+[\w.'-]+){0,3}\s*$",
    re.IGNORECASE,
)
#: Sign-offs that are also thanks: alone at the end ("Thanks!") they are the
#: THANKS command, so they start a signature only with a name under them or a comma.
THANKS_OFF = re.compile(r"^\s*(?:" + _alternation(all_of("thanks")) + r")(?!\w)", re.IGNORECASE)
