"""The phrases that answer a consent request, per meaning and language — data only.

Read by :func:`refmail.reading.proposal.read_answer`. Every phrase is a regular
expression over *folded* text: lower case, accents removed ("später" is
``spater``), typographic apostrophes as ``'``. Phrases match whole words. A
group of phrases is tried in the order of :data:`KINDS`, and a span of text
matched by an earlier group is not read again by a later one — that is how
"no problem, happy to" is a yes and "not sure yet" no answer at all.

Languages: English, German, Spanish, French (the group's members write in
all four; see SPEC "Consent-first introductions").
"""

from __future__ import annotations

__all__ = ["DOES_WORK", "LATER", "LATER_ALONE", "NEGATORS", "NEUTRAL", "NO", "NOT_WORK", "YES"]

_NOT = r"(?:not|don't|dont|do not|doesn't|does not)"

#: The provider's "this is not work I do": ``does_work=False`` and a no.
NOT_WORK = (
    r"not work (?:i|we) do",
    rf"{_NOT} (?:really )?(?:the )?(?:kind of |sort of |type of )?(?:work|something|what|a service|a job"
    r"|an area) (?:that )?(?:i|we) (?:do|offer|take on|handle|provide|cover)",
    r"not something (?:i|we) (?:do|offer|take on|handle)",
    r"not (?:really )?(?:in )?(?:my|our) (?:area|field|line(?: of work)?|thing|specialty|speciality|expertise"
    r"|wheelhouse|cup of tea)",
    r"outside (?:of )?(?:my|our) (?:area|field|expertise|scope|remit|wheelhouse|line of work)",
    r"(?:i|we) (?:don't|dont|do not|no longer) (?:do|offer|handle|take on|provide) (?:that|this|it|those"
    r"|these)(?: kind of work| sort of work| type of work| work)?",
    r"(?:i|we) (?:don't|do not) do \w+ work",
    # German
    r"(?:das|so etwas|sowas) (?:mache|machen) (?:ich|wir) (?:leider )?nicht",
    r"(?:mache|machen) (?:ich|wir) (?:leider )?nicht",
    r"bieten? (?:ich|wir) (?:leider )?nicht an",
    r"nicht (?:mein|unser) (?:bereich|fachgebiet|gebiet|metier|ding)",
    r"nicht (?:in )?(?:meinem|unserem) (?:bereich|fachgebiet)",
    r"ausserhalb (?:meines|unseres) (?:bereichs|fachgebiets)",
    # Spanish
    r"no es lo (?:mio|nuestro)",
    r"no es (?:mi|nuestra?) (?:area|campo|especialidad|rubro)",
    r"no me dedico a (?:eso|esto)",
    r"no (?:hago|hacemos) (?:eso|esto|ese tipo de trabajo)",
    r"fuera de (?:mi|nuestra?) (?:area|campo|especialidad)",
    # French
    r"(?:ce )?n'est pas (?:mon|notre) (?:domaine|metier|rayon)",
    r"pas (?:mon|notre) (?:domaine|metier|rayon)",
    r"(?:je|nous) ne (?:fais|faisons) pas (?:ca|cela|ce genre)",
    r"(?:hors|en dehors) de (?:mon|notre) domaine",
)

#: The provider's "yes, that's what I do": ``does_work=True`` (a yes unless another answer is given).
DOES_WORK = (
    r"(?:exactly|just|precisely) what (?:i|we) do",
    r"(?:that's|that is|this is|it's|it is) (?:exactly |just )?what (?:i|we) do",
    r"(?:exactly |just )?the (?:kind|sort|type) of work (?:i|we) (?:do|take on)",
    r"work (?:i|we) (?:do|take on)",
    r"right up (?:my|our) (?:street|alley)",
    r"(?:that's|that is|this is|it's|it is|exactly|right in) (?:my|our) (?:specialty|speciality|area|field"
    r"|line of work)",
    r"(?:i|we) (?:do|take on|handle) (?:that|this|exactly that)"
    r"(?: kind of work| sort of work| all the time)?",
    r"genau (?:mein|unser) (?:bereich|ding|fachgebiet)",
    r"(?:genau )?das (?:mache|machen) (?:ich|wir)",
    r"das ist (?:mein|unser) (?:bereich|fachgebiet)",
    r"(?:es )?(?:justo |exactamente )?lo que (?:hago|hacemos)",
    r"es (?:justo |exactamente )?lo (?:mio|nuestro)",
    r"es (?:mi|nuestra?) (?:especialidad|area)",
    r"c'est (?:exactement |tout a fait )?(?:mon|notre) (?:domaine|metier|rayon)",
    r"c'est (?:exactement )?ce que (?:je fais|nous faisons)",
    r"(?:je|nous) (?:fais|faisons) (?:exactement )?(?:ca|cela)",
)

#: Not now, maybe later.
LATER = (
    r"not (?:just |right |quite )?now",
    r"not at (?:the|this) (?:moment|time|stage)",
    r"not yet",
    r"not this (?:week|month|year|quarter|season)",
    r"not for now",
    r"(?:maybe|perhaps|possibly) later",
    r"later (?:maybe|perhaps|please|on)",
    r"(?:ask|check with|try) (?:me )?(?:again )?later",
    r"(?:another|some other) time",
    r"in a (?:few|couple of) (?:weeks|months)",
    r"next (?:week|month|year|quarter)",
    r"after the (?:holidays|summer)",
    r"too busy",
    # German
    r"nicht (?:jetzt|gerade|sofort)",
    r"(?:jetzt|gerade|im moment|momentan|zurzeit|derzeit|aktuell) (?:noch )?nicht",
    r"(?:vielleicht|gerne) spater",
    r"spater (?:vielleicht|gerne)",
    r"noch nicht",
    r"(?:im )?nachsten monat",
    # Spanish
    r"ahora (?:mismo )?no",
    r"(?:en este momento|por ahora|de momento|todavia|aun) no",
    r"(?:quizas|quiza|tal vez) mas tarde",
    r"mas adelante",
    # French
    r"pas (?:maintenant|tout de suite|encore|pour (?:l'instant|le moment)|en ce moment)",
    r"(?:peut-etre|plutot) plus tard",
    r"une autre fois",
)
#: "Later" alone on its line (elsewhere "talk later!" is not an answer).
LATER_ALONE = r"^\W*(?:later|spater|mas tarde|plus tard)\W*$"

#: Phrases that look like an answer and are none: read first, then ignored.
NEUTRAL = (
    r"no (?:idea|clue|rush|hurry|pressure|need to|doubt)",
    r"no se",  # Spanish "no sé", I don't know
    r"not sure(?: yet)?",
    r"keine (?:ahnung|eile)",
    r"sin prisa",
    r"pas (?:sur|presse)",
)

YES = (
    r"yes(?: please)?", r"yeah", r"yep", r"yup", r"sure(?: thing)?", r"of course", r"absolutely",
    r"definitely", r"certainly",
    r"(?:i'd be |i would be |i'm |i am |more than )?(?:happy|glad|delighted|keen) to",
    r"(?:i'd|i would|we'd|would) (?:love|like) (?:to|that|it)", r"love to",
    r"sounds (?:good|great|lovely|perfect|fine|fab|wonderful|interesting)",
    r"(?:please )?go ahead", r"go for it", r"please do", r"ok(?:ay)?",
    r"(?:that|this) would be (?:great|lovely|helpful|wonderful|perfect)", r"count me in", r"why not",
    r"(?:i'm |i am |very )?interested", r"no problem", r"no worries",
    # German
    r"(?:sehr )?gerne?", r"ja", r"klar", r"naturlich", r"auf jeden fall", r"einverstanden", r"warum nicht",
    r"kein problem",
    # Spanish ("si" without its accent is also "if": only as an answer on its own)
    r"si(?=\s*(?:[,.!]|$|claro|por favor|gracias|me interesa|con gusto|encantad))",
    r"claro(?: que si)?", r"por supuesto", r"encantad[oa]s?", r"me encantaria", r"con (?:mucho )?gusto",
    r"vale", r"de acuerdo", r"me interesa", r"sin problema", r"no hay problema",
    # French
    r"oui", r"volontiers", r"avec plaisir", r"bien sur", r"d'accord", r"pourquoi pas", r"je veux bien",
    r"(?:ca )?m'interesse", r"pas de (?:probleme|souci)",
)

NO = (
    r"no(?: thanks?| thank you)?", r"nope", r"nah", r"not interested", r"not for (?:me|us)",
    r"(?:i'll|i will) pass", r"(?:i'd|i would|we'd) rather not", r"rather not", r"please don't",
    r"(?:i )?don't think so", r"not really",
    # German
    r"nein(?: danke)?", r"lieber nicht", r"kein interesse", r"nicht interessiert", r"eher nicht",
    # Spanish
    r"no gracias", r"no me interesa", r"mejor no",
    # French
    r"non(?: merci)?", r"pas interesse", r"ne m'interesse pas", r"(?:je prefere|plutot) (?:ne )?pas",
)

#: Words that negate a yes phrase when among the three words before it in its clause.
NEGATORS = frozenset({
    "not", "no", "never", "nicht", "kein", "keine", "nie", "nunca", "jamas", "pas", "ne", "non", "nein",
    "dont", "didnt", "wouldnt", "cant", "isnt", "wasnt",
})
