"""Why a referral did not work out, read from people's own words (pure).

Failed referrals are how a group learns (seeds 000-002): "maybe the two parties
also learned how to better educate you and others about their business". When
a referral closes as lost, no fit or no response, the people say why in a line
("NO FIT - Carla's practice runs on Macs", "LOST, he went with a cheaper
quote", "passt leider nicht, zu klein"). :func:`reasons_in` names the reasons
a text gives, as typed :class:`Reason` values, in the languages refmail reads;
:func:`why_it_failed` adds what the status itself says ("no fit", "no
response"; a lost referral whose words name nothing is "other"). The weekly
summaries count them per member and per month (:mod:`refmail.summaries.lessons`);
nothing decides on the words themselves.

The tables are data: :data:`CUES` maps each reason to regular-expression
fragments, per language, matched as whole words on *folded* text (lower case,
accents removed by :func:`refmail.reading.role_cues.fold`, ``’`` as ``'``) —
write them with their accents, they are folded the same way. A cue followed in
its clause by "was fine" or "wasn't the issue", or preceded by "nothing to do
with", is a reason cleared, not given ("the price was fine, the timing wasn't").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

from refmail.reading.classification import Keyword
from refmail.reading.command_words import LANGUAGES
from refmail.reading.role_cues import fold

__all__ = ["CUES", "STATUS_REASON", "Reason", "reasons_in", "why_it_failed"]


class Reason(StrEnum):
    """Why a referral did not turn into business; the order is the one summaries list them in."""

    #: Not the work the provider does, not the client they serve (size, trade, place).
    NO_FIT = "no_fit"
    #: The two never got hold of each other.
    NO_RESPONSE = "no_response"
    #: Too expensive, no budget.
    PRICE = "price"
    #: Not now: not ready, too late, next year.
    TIMING = "timing"
    #: Went with someone else, already had someone, did it in-house.
    ELSEWHERE = "elsewhere"
    #: Was not really looking: free advice, just curious (seed 001's "free advice").
    NOT_SERIOUS = "not_serious"
    #: Something else, or no reason given for a lost referral.
    OTHER = "other"


#: What a closed status says by itself, when the words name no reason.
STATUS_REASON: Mapping[str, Reason] = {
    "no_fit": Reason.NO_FIT,
    "unresponsive": Reason.NO_RESPONSE,
    "lost": Reason.OTHER,
}

_WHO = r"(?:i|we|she|he|they|you)"
_THEIR = r"(?:my|our|her|his|their|your)"

#: Per reason, per language: regex fragments over folded, lower-case text.
CUES: Mapping[Reason, Mapping[str, tuple[str, ...]]] = {
    Reason.NO_FIT: {
        "en": (
            r"(?:not|no|never|wasn't|isn't|was not|is not) (?:a |the |really a )?"
            r"(?:good |great |right |real )?(?:fit|match)",
            r"(?:wrong|poor|bad) (?:fit|match)", r"mismatch",
            rf"not (?:what|the (?:kind|sort|type) of (?:work|client|job)|something) {_WHO} "
            r"(?:do|does|offer|offers|take on|takes on)",
            rf"(?:outside|out of) {_THEIR} (?:area|field|expertise|scope|wheelhouse|line of work|patch)",
            rf"not {_THEIR} (?:area|field|specialty|speciality|expertise|line of work|kind of client)",
            rf"{_WHO} only (?:do|does|work with|works with|support|supports|serve|serves|handle|handles"
            r"|take on)",
            rf"{_WHO} (?:don't|doesn't|do not|does not) (?:do|offer|handle|take on|work with) "
            r"(?:that|this|those)",
            r"too (?:small|big|large|far away|far)",
            r"wrong (?:kind|type|size|area|industry|sector|trade|location|part of town)",
        ),
        "de": (
            r"passt(?:e)? (?:leider |einfach |doch )?(?:nicht|nicht so)", r"hat (?:leider )?nicht gepasst",
            r"kein(?:e)? (?:guter? )?(?:fit|match|passung)", r"nicht (?:der|die|das) richtige",
            r"nicht (?:mein|unser) (?:bereich|fachgebiet|gebiet|metier|schwerpunkt)",
            r"außerhalb (?:meines|unseres) (?:bereichs|fachgebiets)",
            r"(?:mache|machen) (?:ich|wir) (?:leider )?nicht", r"zu (?:klein|groß|weit weg)",
            r"falsche (?:branche|zielgruppe|größe|region)",
        ),
        "es": (
            r"no (?:encaja|encajaba|encajó|era lo que|es lo que|era para|es para)",
            r"no (?:era|es|fue) (?:un )?buen (?:encaje|perfil|match)",
            r"no es (?:mi|nuestra?) (?:área|campo|especialidad|rubro)",
            r"fuera de (?:mi|nuestra?) (?:área|campo)",
            r"no me dedico a",
            r"no (?:hago|hacemos) (?:eso|esto|ese tipo)",
            r"demasiado (?:pequeño|grande|lejos)",
        ),
        "fr": (
            r"ne correspond(?:ait)? pas", r"pas (?:le bon|un bon) (?:profil|fit|match|client)", r"pas adapté",
            r"pas (?:mon|notre) (?:domaine|métier|rayon)", r"(?:hors|en dehors) de (?:mon|notre) domaine",
            r"(?:je|nous) ne (?:fais|faisons) pas", r"trop (?:petit|gros|grand|loin)",
        ),
        "it": (
            r"non (?:era|è) (?:adatt[oa]|il profilo giusto|quello che)", r"non (?:fa|faceva) per",
            r"non (?:è|era) il mio (?:campo|settore|ambito)", r"fuori dal mio (?:campo|settore)",
            r"non (?:mi occupo|ci occupiamo)", r"troppo (?:piccol[oa]|grande|lontan[oa])",
        ),
        "pt": (
            r"não (?:era|é) (?:o perfil|o que|adequad[oa])", r"não (?:encaixa|encaixava|combina|combinava)",
            r"não é a minha (?:área|especialidade)", r"fora da minha (?:área|especialidade)",
            r"não trabalho com", r"muito (?:pequen[oa]|grande|longe)",
        ),
        "nl": (
            r"past(?:te)? (?:eigenlijk )?niet", r"geen (?:goede )?(?:match|fit|klik)",
            r"niet (?:mijn|ons) (?:vak|gebied|terrein)", r"buiten (?:mijn|ons) (?:vak|gebied)",
            r"(?:doe ik|doen wij|doen we) niet", r"te (?:klein|groot|ver weg)",
        ),
    },
    Reason.NO_RESPONSE: {
        "en": (
            r"(?:never|didn't|did not|couldn't|could not|can't|cannot|haven't|have not) "
            r"(?:hear back|heard back|heard from|get (?:hold of|through|back)|got (?:hold of|through|back)"
            r"|reach|reached|reply|replied|respond|responded|answer|answered|get in touch"
            r"|return(?:ed)? (?:my|our) calls?|call(?:ed)? back)",
            r"no (?:reply|response|answer|reaction|word back)",
            r"ghosted",
            r"went (?:quiet|silent|dark|cold)",
            r"stopped (?:replying|responding|answering)", r"unresponsive", r"unreachable",
        ),
        "de": (
            r"keine (?:antwort|rückmeldung|reaktion)",
            r"nicht (?:erreicht|erreichbar|zurückgerufen|geantwortet)",
            r"nie (?:geantwortet|gemeldet|zurückgerufen)", r"(?:meldet|meldete) sich nicht",
            r"hat sich (?:nie |nicht )(?:mehr )?(?:gemeldet|zurückgemeldet)",
        ),
        "es": (
            r"sin respuesta", r"no (?:contestó|respondió|responde|contesta|devolvió)",
            r"nunca (?:contestó|respondió|llamó)", r"no (?:pude|pudimos) (?:contactar|localizar|hablar)",
        ),
        "fr": (
            r"pas de (?:réponse|nouvelles|retour)", r"aucune (?:réponse|nouvelle)", r"injoignable",
            r"(?:n'a|n'ont) (?:jamais |pas )(?:répondu|rappelé)", r"impossible de (?:le|la|les) joindre",
        ),
        "it": (
            r"nessuna risposta", r"non (?:ha|hanno) (?:mai )?(?:risposto|richiamato)", r"irraggiungibile",
            r"non (?:sono riuscit[oa]|riesco) a (?:contattarl|raggiungerl|sentirl)",
        ),
        "pt": (
            r"sem resposta",
            r"não (?:respondeu|responderam|retornou|atendeu)",
            r"nunca (?:respondeu|retornou)",
            r"não consegui (?:contato|contatar|falar)",
        ),
        "nl": (
            r"geen (?:reactie|antwoord)", r"niet (?:bereikbaar|teruggebeld|gereageerd)",
            r"nooit (?:gereageerd|teruggebeld|geantwoord)", r"reageert niet",
        ),
    },
    Reason.PRICE: {
        "en": (
            r"too (?:expensive|pricey|costly|dear)", r"expensive", r"cheaper", r"cheapest", r"pricey",
            r"budget",
            r"(?:can't|couldn't|cannot|could not) afford",
            r"afford",
            r"price",
            r"prices",
            r"pricing",
            r"(?:cost|costs|fee|fees|rate|rates|quote) (?:was |were |is )?too high", r"cost too much",
            r"lower (?:price|quote|bid|rate)",
        ),
        "de": (r"zu teuer", r"teuer", r"budget", r"günstiger", r"preis", r"kosten", r"nicht leisten"),
        "es": (
            r"(?:muy |demasiado )?caro",
            r"presupuesto",
            r"más barat[oa]",
            r"precio",
            r"no (?:podía|puede|pudo) pagar",
        ),
        "fr": (r"trop cher", r"cher", r"budget", r"moins cher", r"prix", r"tarifs?", r"pas les moyens"),
        "it": (r"troppo car[oa]", r"costos[oa]", r"budget", r"prezzo", r"più economic[oa]", r"permetterselo"),
        "pt": (r"muito car[oa]", r"car[oa]", r"orçamento", r"preço", r"mais barat[oa]", r"não (?:podia|pode) "
               r"pagar"),
        "nl": (r"te duur", r"duur", r"budget", r"goedkoper", r"prijs", r"niet betalen"),
    },
    Reason.TIMING: {
        "en": (
            r"not (?:the )?(?:right|best|good) (?:time|moment)", r"(?:bad|wrong) timing", r"timing",
            r"not (?:yet )?ready",
            r"(?:next|later this) (?:year|quarter|month|spring|summer|autumn|fall|winter)",
            r"too (?:late|early|soon)", r"on hold", r"postponed", r"put (?:it |things )?off", r"not now",
            r"maybe later", r"(?:in|after) (?:a few|a couple of|some) (?:months|weeks)", r"too busy",
        ),
        "de": (
            r"nicht der richtige zeitpunkt", r"zeitpunkt", r"zu (?:früh|spät)", r"später", r"nächstes jahr",
            r"(?:im moment|derzeit|gerade) nicht", r"verschoben", r"keine zeit", r"noch nicht so weit",
        ),
        "es": (
            r"no (?:es|era) (?:el )?(?:buen )?momento",
            r"más (?:adelante|tarde)",
            r"el (?:año|mes) que viene",
            r"(?:el )?próximo (?:año|mes)", r"(?:todavía|aún) no (?:está|estaba) list[oa]", r"pospuesto",
            r"aplazado", r"demasiado (?:pronto|tarde)",
        ),
        "fr": (
            r"pas le (?:bon )?moment", r"plus tard", r"l'année prochaine", r"l'an prochain",
            r"pas (?:encore )?prêt", r"reporté", r"trop (?:tôt|tard)", r"pas le temps",
        ),
        "it": (
            r"non (?:è|era) il momento", r"più avanti", r"l'anno prossimo", r"il prossimo anno",
            r"non (?:ancora )?pront[oa]", r"rimandat[oa]", r"troppo (?:presto|tardi)",
        ),
        "pt": (
            r"não (?:é|era) o (?:melhor )?momento", r"mais tarde", r"ano que vem", r"próximo ano",
            r"ainda não (?:está|estava) pront[oa]", r"adiad[oa]", r"muito (?:cedo|tarde)",
        ),
        "nl": (
            r"niet het (?:juiste )?moment", r"volgend jaar", r"nog niet (?:zover|klaar)", r"uitgesteld",
            r"te (?:vroeg|laat)", r"geen tijd",
        ),
    },
    Reason.ELSEWHERE: {
        "en": (
            r"went (?:with|for) (?:someone|somebody|another|a different|a cheaper|a local"
            rf"|an? ?\w* ?competitor|{_THEIR})",
            r"(?:chose|picked|hired|found|used|prefers|preferred) (?:someone|somebody|another|a different)",
            r"someone else",
            r"somebody else",
            r"(?:already|still) (?:has|had|have|uses|used|using|working with|works with|got)",
            r"in-house",
            r"competitor",
            r"(?:did|do|does|doing) it (?:themselves|himself|herself|ourselves|myself)",
            r"(?:brother|sister|cousin|friend|son|daughter|father|mother|uncle)(?:-in-law)? "
            r"(?:did|does|will do|is doing|took care)",
        ),
        "de": (
            r"(?:für |einen |eine )?(?:anderen|andere|jemand anderen) (?:anbieter|genommen|beauftragt|gewählt"
            r"|entschieden)", r"hat (?:schon|bereits) (?:einen|eine|jemanden)", r"selbst gemacht",
            r"intern (?:gelöst|gemacht)", r"konkurrenz",
        ),
        "es": (
            r"(?:eligió|escogió|contrató) a otr[oa]", r"se fue con (?:otr[oa]|la competencia|un)",
            r"ya (?:tiene|tenía|trabaja con)", r"otro (?:proveedor|abogado|contador|asesor)",
            r"la competencia", r"lo hizo (?:él|ella) mism[oa]",
        ),
        "fr": (
            r"(?:a|ont) choisi (?:un autre|une autre|quelqu'un)", r"quelqu'un d'autre",
            r"(?:a|ont) déjà (?:un|une|quelqu'un)", r"concurrent", r"en interne", r"un autre prestataire",
        ),
        "it": (
            r"(?:ha|hanno) scelto (?:un altro|un'altra|qualcun)", r"qualcun altro",
            r"(?:ha|hanno) già (?:un|una|qualcuno)", r"concorrente", r"internamente",
        ),
        "pt": (r"escolheu (?:outr[oa]|alguém)", r"outra pessoa", r"já (?:tem|tinha|trabalha com)",
               r"concorrente", r"contratou outr[oa]"),
        "nl": (r"(?:gekozen|gegaan) voor (?:een )?(?:ander|iemand anders)", r"iemand anders",
               r"(?:heeft|had) al (?:een|iemand)", r"concurrent", r"zelf gedaan"),
    },
    Reason.NOT_SERIOUS: {
        "en": (
            r"free advice", r"free consult(?:ation)?", r"just (?:looking|browsing|curious|wanted (?:to talk"
            r"|advice|information|info|a chat|to pick))", r"not (?:really )?(?:serious|interested|looking)",
            r"(?:tyre|tire)[- ]kick(?:er|ing)?", r"(?:no|didn't have a) real need",
            r"didn't (?:really )?need", r"changed (?:her|his|their) mind", r"pick (?:my|our) brain",
        ),
        "de": (r"kostenlose? (?:beratung|tipps|rat)", r"nur (?:informieren|umschauen|neugierig)",
               r"kein (?:echtes )?interesse", r"nicht ernst"),
        "es": (
            r"(?:asesoría|consejos?) gratis",
            r"(?:solo|solamente) (?:quería|buscaba) (?:información|consejo)",
               r"no (?:estaba|está) (?:realmente )?interesad[oa]", r"no (?:iba|va) en serio"),
        "fr": (r"conseils? gratuits?", r"(?:juste|seulement) (?:curieux|se renseigner|des conseils)",
               r"pas (?:vraiment )?(?:sérieux|intéressée?)"),
        "it": (r"consigli gratis", r"consulenza gratuita", r"(?:solo|soltanto) (?:curios[oa]|informarsi)",
               r"non (?:era )?(?:davvero )?(?:interessat[oa]|seri[oa])"),
        "pt": (r"(?:conselho|consultoria) grátis", r"(?:só|apenas) (?:queria|curios[oa])",
               r"não (?:estava )?(?:realmente )?interessad[oa]"),
        "nl": (r"gratis advies", r"(?:alleen|gewoon) (?:nieuwsgierig|informatie|oriënteren)",
               r"niet (?:echt )?(?:serieus|geïnteresseerd)"),
    },
}

#: A cue cleared rather than given: "the price was fine", "timing wasn't the issue".
_CLEARED_AFTER = re.compile(
    r"\s+(?:\w+\s+){0,2}?(?:(?:was|were|is|are)\s+(?:fine|ok|okay|good|great|right|no\s+(?:issue|problem)"
    r"|not\s+(?:the\s+|an\s+|a\s+)?(?:issue|problem|reason))|(?:wasn't|weren't|isn't|aren't)\s+(?:the\s+|an\s+"
    r"|a\s+)?(?:issue|problem|reason))"
)
_CLEARED_BEFORE = re.compile(
    r"(?:nothing to do with|not about|not because of|no (?:problem|issue) with)(?:\s+(?:the|his|her|their|my"
    r"|our))?\s*$"
)
#: Where a clause ends: a cleared cue is looked at up to here.
_CLAUSE_END = re.compile(r"[.;!?\n]|,\s*but\b|\bbut\b")
#: The words read at most (a note is a line or two; a pasted thread is not read whole).
MAX_CHARS = 4000


#: The keyword a reply starts with ("NO FIT - …", "VERLOREN: …") is the status,
#: which :func:`why_it_failed` already knows: only the words after it are read.
_KEYWORD = re.compile(
    r"^\W*(?:" + "|".join(sorted(
        {re.escape(fold(k).lower()) for words in LANGUAGES for kw in (Keyword.LOST, Keyword.NO_FIT,
         Keyword.NO_RESPONSE) for k in words.keywords.get(kw, ())}, key=len, reverse=True))
    + r")(?![\w'])[\s\W]*"
)


def _compile(cues: Iterable[str]) -> re.Pattern[str]:
    folded = sorted({fold(c).lower() for c in cues}, key=lambda c: (-len(c), c))
    return re.compile(r"(?<![\w'])(?:" + "|".join(folded) + r")(?![\w'])")


_PATTERNS: tuple[tuple[Reason, re.Pattern[str]], ...] = tuple(
    (reason, _compile(c for fragments in CUES[reason].values() for c in fragments)) for reason in CUES
)


def _cleared(text: str, start: int, end: int) -> bool:
    if _CLEARED_BEFORE.search(text[max(0, start - 40) : start]):
        return True
    stop = _CLAUSE_END.search(text, end)
    return bool(_CLEARED_AFTER.match(text[end : stop.start() if stop else len(text)]))


def reasons_in(text: str) -> tuple[Reason, ...]:
    """The reasons ``text`` gives for a referral that did not work out, in the order it gives them.

    ``"LOST - too small for us, and the timing was off"`` →
    ``(Reason.NO_FIT, Reason.TIMING)``. Empty when the words name none; a
    leading status keyword ("NO FIT - …") is not read as a reason (the status
    is :func:`why_it_failed`'s).
    """
    folded = fold(text[:MAX_CHARS]).lower()
    keyword = _KEYWORD.match(folded)
    if keyword is not None:
        folded = folded[keyword.end() :]
    found: list[tuple[int, Reason]] = []
    for reason, pattern in _PATTERNS:
        for match in pattern.finditer(folded):
            if not _cleared(folded, match.start(), match.end()):
                found.append((match.start(), reason))
                break
    return tuple(reason for _, reason in sorted(found))


def why_it_failed(status: str, texts: Iterable[str]) -> tuple[Reason, ...]:
    """Why a referral closed as ``status`` failed, each reason once, in order.

    "No fit" and "no response" are reasons in themselves (whoever pressed the
    button said so), followed by what the words add ("NO FIT - too
    expensive" is not a fit *and* price); a lost referral has the reasons its
    words give, else :attr:`Reason.OTHER` (:data:`STATUS_REASON`).
    """
    reasons: dict[Reason, None] = {}
    said = STATUS_REASON.get(status)
    if said is not None and said is not Reason.OTHER:
        reasons[said] = None
    for text in texts:
        for reason in reasons_in(text):
            reasons.setdefault(reason)
    if not reasons and said is not None:
        reasons[said] = None
    return tuple(reasons)
