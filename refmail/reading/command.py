"""The command in a reply to a nudge: a keyword, a status said in words, an amount.

SPEC "Replies to nudges": keywords on the first lines set the status. Only the
first non-empty lines are read, so a word in paragraph four or in a sign-off
does not change a referral. Two readings, both from the tables of
:mod:`refmail.reading.command_words` (seven languages, every keyword accepted
in every language, accents folded):

* a **keyword** opening the reply — ``WON 4500``, ``Gewonnen!``, ``NO FIT``,
  ``PROVIDER Omar <omar@x>`` — as refmail's one-click links send it;
* otherwise a status **said in a sentence** ("we met on Tuesday", "she signed")
  — marked ``from_free_text`` so a caller can ask the sender to confirm.

What does not count, in every language: a keyword negated in its clause
("haven't contacted", "nicht gewonnen"), followed by "not yet" ("won? not
yet", "noch nicht"), or under a word of intent or future ("will call her",
"werde anrufen", "je vais signer"); and a closing status in a clause that says
it is not final ("no response *yet*", "haven't heard back *so far*",
"todavía sin respuesta"). Pure: text in, a
:class:`~refmail.reading.classification.Command` out.
"""

from __future__ import annotations

import math
import re
import unicodedata

from refmail.reading.classification import Command, Keyword
from refmail.reading.command_words import CLOSING, KEYWORD_STATUS, LANGUAGES

__all__ = ["parse_amount", "parse_command"]


# --------------------------------------------------------------------------- commands

def _fold(text: str) -> str:
    """Lower case without accents, so "Contacté" matches "contacte"."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _longest_first(items: set[str]) -> list[str]:
    return sorted(items, key=lambda s: (-len(s), s))


def _phrases(items: set[str]) -> str:
    """An alternation of literal (folded) phrases; a space matches any blanks."""
    return "|".join(re.escape(i).replace(r"\ ", r"\s+") for i in _longest_first(items))


#: Free-text status patterns in the order of precedence: when a reply names
#: several, the furthest outcome wins ("met twice, then she signed" is won).
_ORDER = ("won", "lost", "no_fit", "unresponsive", "proposal", "meeting", "contacted")
_STATUS_RES = {
    status: re.compile(r"(?<![\w'])(?:" + "|".join(
        _fold(f) for words in LANGUAGES for f in words.statuses.get(status, ())) + r")(?![\w'])")
    for status in _ORDER
}
#: Statuses whose phrases carry their own negation ("no response", "not a fit").
_SELF_NEGATED = {"no_fit", "unresponsive"}
_THANKS_RE = re.compile(r"(?<![\w'])(?:" + "|".join(_fold(f) for w in LANGUAGES for f in w.thanks)
                        + r")(?![\w'])")
_STOP_RE = re.compile(r"(?<![\w'])(?:" + "|".join(_fold(f) for w in LANGUAGES for f in w.stop)
                      + r")(?![\w'])")
_NEGATORS = {_fold(n) for w in LANGUAGES for n in w.negators}
_PENDING = {_fold(p) for w in LANGUAGES for p in w.pending if " " not in p}
_PENDING_PHRASES = re.compile(r"(?<![\w'])(?:" + _phrases(
    {_fold(p) for w in LANGUAGES for p in w.pending if " " in p}) + r")(?![\w'])")
_ONGOING = re.compile(r"(?<![\w'])(?:" + _phrases({_fold(p) for w in LANGUAGES for p in w.ongoing})
                      + r")(?![\w'])")
_NOT_YET = _phrases({_fold(p) for w in LANGUAGES for p in w.not_yet})
_NEG_AFTER = re.compile(rf"^\W*(?:{_NOT_YET})(?![\w'])")
_CLAUSE_END = re.compile(r"[.!?;,:\n]|\s(?:" + _phrases({_fold(b) for w in LANGUAGES for b in w.buts})
                         + r")\s")
_WORD = re.compile(r"[\w']+")

#: Keyword forms (folded) → keyword, tried longest first at the start of the reply.
_KEYWORD_OF = {_fold(form): kw for w in LANGUAGES for kw, forms in w.keywords.items() for form in forms}
_KEYWORD_RE = re.compile(r"^[\s*_\"'(\[>-]*(" + _phrases(set(_KEYWORD_OF)) + r")(?![\w'])")
#: What may follow a keyword on its line: nothing, punctuation, or (WON) an amount.
_AFTER_KEYWORD = re.compile(r"^\s*(?:$|[-–—:!.,;?)\]*]|[$€£¥]|\d|[A-Z]{3}\b)")


def _negated(line: str, start: int, end: int, *, self_negated: bool = False,
             intent: bool = True) -> bool:
    """Is the phrase at ``line[start:end]`` negated, or (with ``intent``) only
    intended or hoped for, within its clause?"""
    before = line[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    clause = before[cut:]
    words = _WORD.findall(clause)[-3:]
    if intent and any(w in _PENDING or w.endswith("'ll") for w in words):
        return True
    if intent and _PENDING_PHRASES.search(" ".join(_WORD.findall(clause)[-4:])):
        return True
    if not self_negated and any(w in _NEGATORS or w.endswith(("n't", "nt'")) or w in {
            "didnt", "havent", "hasnt", "dont", "wasnt", "isnt"} for w in words):
        return True
    return bool(_NEG_AFTER.match(line[end:]))


def _not_final(line: str, start: int, end: int) -> bool:
    """Does the clause around ``line[start:end]`` say it may still change ("yet", "so far")?"""
    left = max((m.end() for m in _CLAUSE_END.finditer(line, 0, start)), default=0)
    right = _CLAUSE_END.search(line, end)
    clause = line[left : right.start() if right else len(line)]
    return bool(_ONGOING.search(clause))


def _first_lines(text: str, count: int = 3) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:count]


def _keyword(first: str) -> tuple[Keyword, str] | None:
    """The keyword the reply opens with, and the rest of its line."""
    folded = _fold(first)
    m = _KEYWORD_RE.match(folded)
    if not m:
        return None
    keyword = _KEYWORD_OF[m.group(1)]
    rest = first[m.end():]
    if keyword is Keyword.PROVIDER:
        return (keyword, rest) if rest.strip(" :-–—") else None
    if not (_AFTER_KEYWORD.match(rest) or first[m.start(1):m.end()].isupper()):
        return None  # "Met her today": a sentence, read as free text below
    if _NEG_AFTER.match(_fold(rest)):
        return None  # "Won? Not yet."
    return keyword, rest


def parse_command(text: str) -> Command:
    """The command on the first non-empty lines of a reply's new text.

    ``text`` should already be :func:`extract_reply` output. A keyword opening
    the first line decides the status; otherwise statuses said in the first
    three non-empty lines count (``from_free_text``), unless negated, intended
    or not final in their clause; among several the furthest outcome wins.
    THANKS and STOP count as keywords or in a sentence. With status ``won`` the
    amount on those lines becomes the value (:func:`parse_amount`).
    """
    lines = _first_lines(text)
    if not lines:
        return Command()
    opening = _keyword(lines[0])
    keyword = opening[0] if opening else None
    status = KEYWORD_STATUS.get(keyword) if keyword else None
    found: set[str] = set()
    thanks = keyword is Keyword.THANKS
    stop = keyword is Keyword.STOP
    for line in lines:
        folded = _fold(line)
        if status is None:
            for name, pattern in _STATUS_RES.items():
                for m in pattern.finditer(folded):
                    if _negated(folded, m.start(), m.end(), self_negated=name in _SELF_NEGATED):
                        continue
                    if name in CLOSING and _not_final(folded, m.start(), m.end()):
                        continue
                    found.add(name)
                    break
        thanks = thanks or any(
            not _negated(folded, m.start(), m.end()) for m in _THANKS_RE.finditer(folded)
        )
        stop = stop or any(not _negated(folded, m.start(), m.end(), intent=False)
                           for m in _STOP_RE.finditer(folded))  # "I want to unsubscribe" is STOP
    free = status is None and bool(found)
    if free:
        status = next(s for s in _ORDER if s in found)
    value: int | float | None = None
    currency: str | None = None
    if status == "won":
        amount = parse_amount("\n".join(lines))
        if amount is not None:
            value, currency = amount
    provider = None
    if keyword is Keyword.PROVIDER and opening:
        provider = " ".join(opening[1].strip(" :-–—").split())[:200] or None
    return Command(status=status, value=value, currency=currency, thanks=thanks, stop=stop,
                   keyword=keyword, from_free_text=free, start=keyword is Keyword.START,
                   reopen=keyword is Keyword.REOPEN, provider=provider)


# --------------------------------------------------------------------------- amounts

_CURRENCIES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "€": "EUR",
    "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP",
    "pounds": "GBP", "chf": "CHF", "fr.": "CHF", "sfr": "CHF", "sfr.": "CHF", "franken": "CHF",
    "cad": "CAD", "ca$": "CAD", "aud": "AUD", "a$": "AUD", "sek": "SEK", "nok": "NOK",
    "dkk": "DKK", "pln": "PLN", "jpy": "JPY", "¥": "JPY",
}
_PRE = r"US\$|CA\$|A\$|USD|EUR|GBP|CHF|CAD|AUD|SEK|NOK|DKK|PLN|JPY|SFr\.?|Fr\.|[$€£¥]"
_POST = (r"USD|EUR|GBP|CHF|CAD|AUD|SEK|NOK|DKK|PLN|JPY|[$€£¥]|dollars?|euros?|pounds?"
         r"|franken")
_AMOUNT = re.compile(
    rf"(?:(?P<pre>{_PRE})\s?)?"
    r"(?<![\w.,'’/:-])(?P<num>\d{1,3}(?P<sep>[,.'’ ])\d{3}(?:(?P=sep)\d{3})*(?:[.,]\d{1,2})?"
    r"|\d+(?:[.,]\d{1,2})?)(?![\d])"
    r"(?P<suffix>[kK]\b|[mM]\b|\s?(?:thousand|million|Mio\.?|Tsd\.?|mil|millones)\b)?"
    rf"(?:\s?(?P<post>(?:{_POST})(?![A-Za-z])))?",
    re.IGNORECASE,
)
#: Spans that hold digits but no amount: phone numbers, dates, times.
_NOT_AMOUNTS = re.compile(
    r"(?:\+|\b00)\d[\d\s().-]{6,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"
    r"|\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b|\b\d{1,2}:\d{2}\b|\b\d{9,}\b"
)
# Matched at the end of a number (``match(text, pos)``), never on a copy of the rest:
# a copy per number was quadratic in a long line of numbers.
_AFTER_NUMBER = re.compile(
    r"\s?-?\s?(?:%|percent|prozent|por ?ciento|pour ?cent|per ?cento|st\b|nd\b|rd\b|th\b|am\b|pm\b"
    r"|x\b|times|months?|years?|weeks?|days?|hours?|hrs?|minutes?|mins?|people|employees|staff"
    r"|seats|users|licen[cs]es|units|sessions|monate?n?|jahre?n?|wochen?|tage?n?|stunden?|meses"
    r"|anos|años|semanas|dias|días|horas|mois|ans|semaines|jours|heures|mesi|anni|settimane"
    r"|giorni|ore)\b|\s?%",
    re.IGNORECASE,
)
_WORD_NEXT = re.compile(r"\s*[A-Za-z]")
_WON_WORD = re.compile(r"(?i)\b(?:" + _phrases(
    {f for w in LANGUAGES for f in w.keywords[Keyword.WON]} | {"gagné"}) + r")\b[\s:!–—-]*")
_MULTIPLIERS = {"k": 1000, "thousand": 1000, "tsd": 1000, "mil": 1000, "m": 1_000_000,
                "million": 1_000_000, "mio": 1_000_000, "millones": 1_000_000}


def _number(num: str, sep: str | None) -> float:
    """The value of a written number; a separator followed by exactly three digits
    groups thousands ("4.500" is 4500, "4,500.50" 4500.5), otherwise it is decimal."""
    if sep:
        head, _, tail = num.rpartition(sep)
        tail, dec = (tail[:3], tail[4:]) if len(tail) > 3 else (tail, "")
        digits = head.replace(sep, "") + tail
        return float(f"{digits}.{dec}" if dec else digits)
    return float(num.replace(",", "."))


def parse_amount(text: str) -> tuple[int | float, str | None] | None:
    """The deal value written in ``text``: (value, ISO currency or None), or None.

    Prefers an amount with a currency ("$4.5k", "4.500 €", "CHF 1'200"), then
    a bare number right after WON ("WON 4500"), then a bare number of at least
    100 that is not a year, a percentage, a count of months or people, a date,
    a time or a phone number. The value is an int when whole.
    """
    text = unicodedata.normalize("NFKC", text)
    masked = _NOT_AMOUNTS.sub(lambda m: "#" * len(m.group(0)), text)
    after_won = {m.end() for m in _WON_WORD.finditer(masked)}
    best: tuple[int, float, str | None] | None = None  # (rank, value, currency)
    for m in _AMOUNT.finditer(masked):
        pre, post, suffix = m.group("pre"), m.group("post"), (m.group("suffix") or "").strip()
        value = _number(m.group("num"), m.group("sep"))
        mult = _MULTIPLIERS.get(suffix.lower().rstrip("."), 1)
        code = _CURRENCIES.get((pre or post or "").lower())
        if suffix.lower() == "m" and not code:
            continue  # "5m" is minutes or metres unless money is named
        value *= mult
        if not math.isfinite(value):
            continue  # float("9" * 400) is inf, and int(inf) raises
        if code:
            rank = 0
        elif _AFTER_NUMBER.match(masked, m.end("num")):
            continue
        elif m.start() in after_won and not _WORD_NEXT.match(masked, m.end()):
            rank = 1
        elif value >= 100 and not (mult == 1 and re.fullmatch(r"(?:19|20)\d\d", m.group("num"))):
            rank = 2
        else:
            continue
        if best is None or rank < best[0]:
            best = (rank, value, code)
    if best is None:
        return None
    value = round(best[1], 2)
    return (int(value) if value == int(value) else value), best[2]
