"""The command in a reply to a nudge: a status keyword, thanks, STOP, an amount.

SPEC "Replies to nudges": keywords on the first lines set the status. Only the
first non-empty lines are read, so a word in paragraph four or in a sign-off
does not change a referral. Keywords are matched with accents folded, in
English, German, Spanish, French and Italian; a negation just before a keyword
("haven't contacted", "not won yet") cancels it. Pure: text in, a
:class:`~refmail.reading.classification.Command` out.
"""

from __future__ import annotations

import math
import re
import unicodedata

from refmail.reading.classification import Command

__all__ = ["parse_amount", "parse_command"]


# --------------------------------------------------------------------------- commands

#: Keywords per status, in folded form (lower case, accents removed), in the
#: order of precedence: when a reply names several, the furthest outcome wins
#: ("met twice, then she signed" is won).
_STATUS_WORDS: dict[str, str] = {
    "won": r"won|(?:it'?s|a|big|another) win|signed (?:them|him|her|the (?:contract|deal)|on|up|with)"
    r"|(?:she|he|they|client) signed|contract signed|closed (?:the|a) (?:deal|sale)|closed (?:it|them)"
    r"|deal (?:is )?closed|(?:hired|booked|retained|engaged) (?:me|us)|(?:became|is now) a (?:client"
    r"|customer)|gewonnen|auftrag (?:erhalten|bekommen)|zuschlag|unterschrieben|ganado|ganamos|gane"
    r"|firmado|firmamos|cerramos|me contrato|gagne|(?:a|ont|avons|ai) signe|contrat signe"
    r"|affaire conclue|vinto|abbiamo vinto|firmato",
    "lost": r"lost(?! (?:touch|contact|track|my|the (?:file|email|number)))"
    r"|went (?:with|for) (?:someone|somebody|another|a different|a competitor|the other|a cheaper)"
    r"|(?:chose|picked|hired) (?:someone|somebody|another|a different|a competitor)|verloren"
    r"|abgesagt|anderen anbieter|perdido|perdimos|perdi|eligio a otro|perdu|a choisi (?:un autre"
    r"|quelqu'un)|perso|persa",
    "no_fit": r"no fit|passt (?:\w+ ){0,2}nicht|not (?:a|the) (?:good |great |right |real )?fit"
    r"|(?:isn't|wasn't|is not|was not|not) (?:a )?(?:good |great |right )?(?:fit|match)"
    r"|(?:poor|bad) fit|no match"
    r"|nicht passend|keine? (?:gute )?passung|no encaja|no (?:es|era) (?:un )?buen (?:encaje|fit)"
    r"|no (?:es|era) adecuad|pas adapte|ne correspond pas|pas (?:un )?bon (?:fit|match)|non adatt"
    r"|non fa per",
    "unresponsive": r"no (?:response|reply|answer|word)|never (?:heard|got a reply|got an answer"
    r"|responded|replied|answered|called back|got back)|(?:haven't|havent|have not|hasn't|hasnt"
    r"|has not|didn't|didnt|did not) (?:heard|hear) (?:back|anything)|not heard back"
    r"|(?:no|not) responding|(?:doesn't|does not|didn't|did not|won't) (?:respond|reply|answer"
    r"|call back|get back)|ghosted|unresponsive|keine (?:antwort|ruckmeldung|reaktion)"
    r"|nie geantwortet|antwortet nicht|sin respuesta|no (?:responde|contesta|respondio|contesto)"
    r"|nunca respondio|ninguna respuesta|pas de (?:reponse|retour|nouvelles)|aucune (?:reponse"
    r"|nouvelle|retour)|(?:ne|n') ?(?:repond|a (?:jamais|pas) repondu)|nessuna risposta"
    r"|non risponde",
    "proposal": r"proposal|(?:sent|send|sending|submitted|gave|made) (?:her |him |them )?(?:a|an|the"
    r"|my|our) (?:quote|offer|estimate|bid|proposal|pitch)|quoted|angebot|kostenvoranschlag"
    r"|propuesta|presupuesto|cotizacion|oferta|devis|proposition|offre|preventivo|proposta"
    r"|offerta",
    "meeting": r"met|meeting|(?:we'll|we will|going to|will) meet|appointment|(?:had|have|booked"
    r"|scheduled) (?:a|our) (?:meeting|coffee|lunch)|getroffen|treffen|termin|besprechung"
    r"|reunion|reunimos|nos vimos|cita|rencontre(?:e|es|s)?|rendez-vous|rdv|incontrato|incontro|riunione"
    r"|appuntamento",
    "contacted": r"contacted|contact (?:made|established)|made contact|reached out|got in touch"
    r"|(?:we|i) (?:spoke|talked)|(?:spoke|talked|chatted) (?:to|with)|(?:called|phoned|rang|emailed"
    r"|texted|messaged) (?:her|him|them|back)|had a (?:call|chat|phone call)|kontaktiert"
    r"|kontakt aufgenommen|gesprochen|angerufen|telefoniert|contactado|contactada|contacte"
    r"|contactee|contactees|hablamos|hable con|llame|appele|appelee|on a parle|parle (?:avec|a)"
    r"|contattato|contattata|sentiti|chiamato|parlato",
}
_STATUS_RES = {s: re.compile(rf"(?<![\w'])(?:{p})(?![\w'])") for s, p in _STATUS_WORDS.items()}
#: Statuses whose keywords carry their own negation ("no response", "not a fit").
_SELF_NEGATED = {"no_fit", "unresponsive"}
_THANKS_RE = re.compile(
    r"(?<![\w'])(?:thanks|thank you|thx|many thanks|grateful|appreciate|danke|dankeschon"
    r"|vielen dank|gracias|merci|grazie|bedankt)(?![\w'])"
)
_STOP_RE = re.compile(
    r"^\W*(?:stop|unsubscribe|abmelden|baja|alto|desabonner|desinscrire|arret|basta)\W*$"
    r"|(?<![\w'])(?:unsubscribe|stop (?:e-?mailing|mailing|sending|contacting|messaging|bugging"
    r"|writing|these|this|the (?:e-?mails|messages|reminders|nudges)|it)|please stop"
    r"|opt(?:-| )?(?:me )?out|remove me|no more (?:e-?mails|messages|reminders)|(?:don't|do not)"
    r" (?:e-?mail|contact|message|write) me|abmelden|abbestellen|keine (?:weiteren )?(?:e-?mails"
    r"|nachrichten|erinnerungen)|(?:darme|dar|me) de baja|no me (?:escriban|escribas|envien"
    r"|contacten)|dejen de|desabonner|desinscrire|desabonne|arretez|ne plus recevoir|disiscriv"
    r"|cancellami|non scrivermi)(?![\w'])"
)
_NEGATORS = {
    "not", "no", "never", "nicht", "kein", "keine", "keinen", "nie", "nunca", "jamas", "pas",
    "ne", "jamais", "non", "mai", "nada", "nein", "nope",
}
_NEG_AFTER = re.compile(
    r"^\W*(?:not yet|no\W*$|noch nicht|pas encore|todavia no|aun no|ancora no|non ancora|nicht)"
)
_CLAUSE_END = re.compile(r"[.!?;,:\n]| but | aber | pero | mais | ma | sondern ")


def _fold(text: str) -> str:
    """Lower case without accents, so "Contacté" matches "contacte"."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _negated(line: str, start: int, end: int) -> bool:
    """Is the keyword at ``line[start:end]`` negated within its clause?"""
    before = line[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    words = re.findall(r"[\w']+", before[cut:])[-3:]
    if any(w in _NEGATORS or w.endswith(("n't", "nt'")) or w in {"didnt", "havent", "hasnt",
                                                                  "dont", "wasnt", "isnt"}
           for w in words):
        return True
    return bool(_NEG_AFTER.match(line[end:]))


def _first_lines(text: str, count: int = 3) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:count]


def parse_command(text: str) -> Command:
    """The command on the first non-empty lines of a reply's new text.

    ``text`` should already be :func:`extract_reply` output. Keywords found in
    the first three non-empty lines count, unless negated in their clause;
    among several statuses the furthest outcome wins. With status ``won`` the
    amount on those lines becomes the value (:func:`parse_amount`).
    """
    lines = _first_lines(text)
    found: set[str] = set()
    thanks = stop = False
    for line in lines:
        folded = _fold(line)
        for name, pattern in _STATUS_RES.items():
            for m in pattern.finditer(folded):
                if name in _SELF_NEGATED or not _negated(folded, m.start(), m.end()):
                    found.add(name)
                    break
        thanks = thanks or any(
            not _negated(folded, m.start(), m.end()) for m in _THANKS_RE.finditer(folded)
        )
        stop = stop or bool(_STOP_RE.search(folded))
    status = next((s for s in _STATUS_WORDS if s in found), None)
    value: int | float | None = None
    currency: str | None = None
    if status == "won":
        amount = parse_amount("\n".join(lines))
        if amount is not None:
            value, currency = amount
    return Command(status=status, value=value, currency=currency, thanks=thanks, stop=stop)


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
_AFTER_NUMBER = re.compile(
    r"^\s?-?\s?(?:%|percent|prozent|por ?ciento|pour ?cent|per ?cento|st\b|nd\b|rd\b|th\b|am\b|pm\b"
    r"|x\b|times|months?|years?|weeks?|days?|hours?|hrs?|minutes?|mins?|people|employees|staff"
    r"|seats|users|licen[cs]es|units|sessions|monate?n?|jahre?n?|wochen?|tage?n?|stunden?|meses"
    r"|anos|años|semanas|dias|días|horas|mois|ans|semaines|jours|heures|mesi|anni|settimane"
    r"|giorni|ore)\b|^\s?%",
    re.IGNORECASE,
)
_WON_WORD = re.compile(r"(?i)\b(?:won|gewonnen|ganado|gagn[ée]|vinto)\b[\s:!–—-]*")
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
        elif _AFTER_NUMBER.match(masked[m.end("num") :]):
            continue
        elif m.start() in after_won and not re.match(r"\s*[A-Za-z]", masked[m.end() :]):
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
