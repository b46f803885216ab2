"""The cue tables that :mod:`refmail.reading.roles` reads, and the index that finds them fast.

The tables (:data:`CUES`, :data:`PRONOUNS`) are data, one row per cue and
language. A row is a regular expression matched case-insensitively on *folded* text
(accents removed, so "benötigt" and "benotigt" are one spelling; write the
patterns with their accents, they are folded the same way). A row must begin
with a word, a comma or an apostrophe: rows are looked up by their first word.
Every group must be non-capturing, ``(?:…)``.

Adding a language is adding rows here (and its pronouns to :data:`PRONOUNS`);
``tests/test_roles.py`` holds the intros that each row is meant to read.

Below the tables: :func:`fold` (the accent folding both tables and texts go
through) and :class:`Rows`, which compiles a table once at import and tries a
row only where a word of the text begins like it.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "BOUNDARY", "CLIENTS", "CONJUNCTIONS", "CONJUNCTION_RE", "CUES", "DETERMINERS", "DETERMINER_BEFORE_RE",
    "GREETINGS", "GREETING_RE", "INDEX", "INFINITIVES", "INFINITIVE_BEFORE_RE", "NEGATED_AFTER",
    "NEGATED_AFTER_RE", "NEGATED_NEXT_RE", "NEGATES_NEXT", "NEGATIONS", "NEGATION_RE", "NOT_ONLY",
    "PRONOUNS", "PRONOUN_KINDS", "SOCIAL", "THAT_TRANSPARENT", "THAT_TRANSPARENT_RE",
    "Cue", "Kind", "Rows", "fold", "text_keys", "word_key",
]


# -- text folding -------------------------------------------------------------
def _fold_table() -> dict[int, str]:
    """One character in, one character out, so offsets stay valid in both texts.

    "Björn" → "Bjorn", "Zoë" → "Zoe", "Søren" → "Soren"; quotes and no-break
    spaces become their ASCII forms so the cue patterns need only one spelling.
    """
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base.isascii() and base.isalpha():
            table[code] = base
    extra = {
        "ø": "o", "Ø": "O", "æ": "a", "Æ": "A", "œ": "o", "Œ": "O", "ß": "s",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "t", "Þ": "T", "ı": "i",
        "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
        "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ", "\r": " ",
        "\u2013": "-", "\u2014": "-",
    }
    table.update({ord(k): v for k, v in extra.items()})
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Accent-insensitive, length-preserving form of an NFC ``text`` (case kept)."""
    return text.translate(_FOLD)


# -- the tables ------------------------------------------------------------------
Kind = Literal["provider", "prospect"]


@dataclass(frozen=True)
class Cue:
    """One cue row: a regex (matched case-insensitively on folded text).

    ``weight`` only matters when a party has evidence both ways; ``after``
    means the subject is the name right *after* the cue ("I recommend Omar");
    ``noun`` drops the cue after a determiner ("her needs"); ``verb`` drops it
    after an infinitive marker ("to look after"); ``social`` drops it before
    "to meet/talk…" ("Omar wants to meet you" is no need). ``requires``: the row
    is tried only on a text holding one of these (folded, lower-case) pieces of
    words — a cheap test that spares texts the costly rows they cannot match.
    """

    lang: str
    kind: Kind
    weight: int
    pattern: str
    after: bool = False
    noun: bool = False
    verb: bool = False
    social: bool = False
    requires: tuple[str, ...] = ()


# "looking for new clients" is what a provider says.
CLIENTS = (
    r"(?:(?:new|more|some|a\s+few|additional|neue|mehr|weitere|nuevos|nuevas|más|des|"
    r"de\s+nouveaux|plus\s+de)\s+){0,2}(?:clients?|customers?|referrals?|leads|kunden|"
    r"mandanten|aufträge|empfehlungen|clientes|pacientes|referencias|clientèle|patients|"
    r"patienten)\b|(?:new|more)\s+(?:business|work|projects)\b"
)
SOCIAL = (
    r"(?!\s+(?:to\s+(?:meet|connect|chat|talk|speak|hear|say|introduce|thank|know)\b|"
    r"(?:\S+\s+){0,2}(?:kennenlernen|kennen\s+lernen|treffen|sprechen|conocer\w*|hablar|"
    r"reunirse|rencontrer|parler|remercier)\b))"
)
_MENTIONED_WORDS_EN = ("mention", "told", "talk", "spoke", "recommend")
_MENTIONED_EN = (
    r"(?:(?:I|we)\s+(?:have\s+|had\s+)?(?:mentioned|told\s+you\s+about|talked\s+about|"
    r"spoke\s+(?:to\s+you\s+)?(?:about|of)|was\s+telling\s+you\s+about|recommended)|"
    r"(?:I|we)'(?:ve|d)\s+(?:mentioned|told\s+you\s+about|recommended))"
)
# "is", "'s", "was", with an adverb or not ("Priya is also an IT expert")
_IS_EN = (
    r"(?:is|'s|was)\s+(?:(?:also|really|truly|just|actually|exactly|definitely|certainly|"
    r"absolutely|simply|honestly)\s+)?"
)
_GREAT_EN = (
    r"great|excellent|fantastic|terrific|brilliant|superb|wonderful|amazing|outstanding|"
    r"trusted|reliable|top-notch|first-rate|talented|skilled"
)
# "the client I mentioned" is no trade: such a noun right after the article
# leaves the phrase without a cue (the IT person, the estate lawyer still count).
_NOT_A_TRADE = (
    r"(?!(?:person|people|client|customer|friend|neighbou?r|guy|lady|woman|man|couple|family|"
    r"one|colleague|prospect|kunde|kundin|freund|freundin|mensch|nachbar|nachbarin|"
    r"persona|cliente|amig[oa]|vecin[oa]|personne|ami|amie|voisin|voisine)(?:s|es|en)?[\s,])"
)
_NOT_A_TRADE_EN = (
    r"(?!(?:friend|person|client|customer|neighbou?r|guy|woman|man|lady|fellow|human|mom|"
    r"dad|mother|father|family|people|cook|host|listener)s?\b)"
)

#: Cue rows per language. Provider rows first: at one position the first
#: matching row wins, so "looking for new clients" is read before "looking for".
CUES: tuple[Cue, ...] = (
    # ---- provider: a provider looking for clients (all languages). "Needs more
    # customers" is no cue either way: it is also what a marketer's prospect says.
    Cue("*", "provider", 2,
        r"(?:looking\s+for|searching\s+for|seeking|sucht|suchen|busca|buscan|buscando|cherche|"
        r"recherche)\s+(?:" + CLIENTS + ")"),
    # ---- English provider
    Cue("en", "provider", 3,
        r"(?:is|'s|was|,)\s+(?:(?:really|also|just|exactly|actually)\s+)?(?:the|my|our|a|an|"
        r"that)\s+" + _NOT_A_TRADE + r"(?:[\w'-]+\s+){0,4}?" + _MENTIONED_EN,
        requires=_MENTIONED_WORDS_EN),
    Cue("en", "provider", 3,
        r"(?:the|my|our)\s+" + _NOT_A_TRADE + r"(?:[\w'-]+\s+){0,4}?" + _MENTIONED_EN
        + r"\s+(?:is|was)", after=True, requires=_MENTIONED_WORDS_EN),
    Cue("en", "provider", 1,
        r"(?:I|we)\s+(?:can\s+|would\s+|highly\s+|warmly\s+|strongly\s+|always\s+)*recommend",
        after=True, requires=("recommend",)),
    Cue("en", "provider", 2,
        _IS_EN + r"(?:the|my)\s+best\s+(?:[\w-]+\s+){1,2}(?:I|we)\s+(?:know|have\s+found)",
        requires=("best",)),
    Cue("en", "provider", 2,
        r"(?:can|could|will|would)\s+(?:(?:really|definitely|certainly|surely|probably|also|"
        r"easily|absolutely|totally|maybe|likely)\s+){0,2}help|will\s+be\s+able\s+to\s+help|"
        r"would\s+be\s+(?:a\s+)?(?:great|perfect|good|ideal)\s+(?:fit|help|match)|"
        + _IS_EN + r"(?:the\s+)?(?:right|perfect|ideal|best)\s+(?:person|man|woman|guy|one|"
        r"fit|pro)\s+(?:for|to)"),
    Cue("en", "provider", 2,
        r"speciali[sz](?:es|ed|ing)\s+in|" + _IS_EN + r"(?:an?\s+|the\s+)?(?:[\w-]+\s+)?"
        r"(?:experts?|specialists?)|is\s+a\s+pro"),
    Cue("en", "provider", 1,
        _IS_EN + r"(?:an?|one\s+of\s+the)\s+(?:really\s+|truly\s+)?(?:" + _GREAT_EN
        + r")\s+" + _NOT_A_TRADE_EN + r"[\w-]+"),
    Cue("en", "provider", 1,
        _IS_EN + r"(?:really\s+)?(?:great|good|excellent|amazing|brilliant)\s+(?:at|with)|"
        r"did\s+a\s+(?:great|fantastic|wonderful|excellent|brilliant)\s+job", verb=True),
    Cue("en", "provider", 1,
        r"(?:looks|looking|looked|look)\s+after(?!\s+(?:you|him|her|them|yourself|himself|"
        r"herself|themselves)\b)|(?:takes|took|taking)\s+care\s+of|handles|handled|fixes|fixed|"
        r"repairs|repaired|installs|installed|offers|provides|helped|helps|works\s+with|"
        r"does(?!\s+(?:not|have|need|want|seem|look|know|so|too|that|this|it|nothing)\b)",
        verb=True),
    # ---- German provider
    Cue("de", "provider", 3,
        r"(?:ist|,)\s+(?:der|die|das|mein|meine|unser|unsere|ein|eine)\s+" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?"
        r"[\w-]+,?\s+(?:von\s+(?:dem|der|denen)|über\s+(?:den|die|das)|den|die|das)\s+"
        r"(?:ich|wir)\s+(?:(?:dir|ihnen|euch|schon|bereits)\s+){0,2}"
        r"(?:erzählt|erwähnt|berichtet|empfohlen)",
        requires=("erzahl", "erwahn", "bericht", "empfohl")),
    Cue("de", "provider", 2,
        r"(?:kann|könnte|wird)\s+(?:\S+\s+){0,5}?(?:weiter)?helfen|(?:weiter)?helfen\s+"
        r"(?:kann|könnte)"),
    Cue("de", "provider", 2,
        r"(?:ist|hat\s+sich)\s+(?:auf\s+.{0,40}?\s+)?spezialisiert|spezialisiert\s+sich|"
        r"ist\s+(?:ein\s+|eine\s+|der\s+|die\s+)?(?:echter\s+|echte\s+|absoluter\s+|absolute\s+)?"
        r"\w*(?:experte|expertin|profi|spezialist|spezialistin|fachmann|fachfrau)"),
    Cue("de", "provider", 1,
        r"ist\s+(?:ein|eine)\s+(?:toller|tolle|großartiger|großartige|hervorragender|"
        r"hervorragende|super|sehr\s+guter|sehr\s+gute|zuverlässiger|zuverlässige)\s+"
        r"(?!(?:freund|freundin|mensch|kunde|kundin|nachbar|nachbarin|typ)\b)\w+"),
    Cue("de", "provider", 1,
        r"kümmert\s+sich\s+(?:\S+\s+){0,3}?um|betreut|bietet|repariert|installiert", verb=True),
    # ---- Spanish provider
    Cue("es", "provider", 3,
        r"(?:es|,)\s+(?:el|la|mi|nuestro|nuestra|un|una)\s+" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?(?:del\s+que|"
        r"de\s+la\s+que|de\s+quien|que|quien)\s+(?:ya\s+)?(?:te|le|les|os)\s+(?:hablé|"
        r"mencioné|comenté|recomendé|había\s+hablado|había\s+mencionado)",
        requires=("habl", "mencion", "coment", "recomend")),
    Cue("es", "provider", 2,
        r"(?:te\s+|le\s+|os\s+|les\s+)?(?:puede|podría|pueda|podrá)\s+(?:\S+\s+){0,1}?ayudar\w*|"
        r"puede\s+echarte\s+una\s+mano"),
    Cue("es", "provider", 2,
        r"se\s+especializa|está\s+especializad[oa]|es\s+especialista|"
        r"es\s+(?:un\s+|una\s+|el\s+|la\s+)?(?:gran\s+)?expert[oa]s?"),
    Cue("es", "provider", 1,
        r"es\s+(?:un|una)\s+(?:gran|excelente|estupend[oa]|fantástic[oa]|magnífic[oa]|"
        r"muy\s+buen[oa])\s+(?!(?:amig[oa]|persona|cliente|vecin[oa]|tipo)\b)\w+"),
    Cue("es", "provider", 1,
        r"ofrece|se\s+encarga\s+de|lleva\s+(?:mi|mis|la|las|nuestra|nuestras)\s+(?:contabilidad|"
        r"cuentas|libros)|arregla|repara|instala", verb=True),
    # ---- French provider
    Cue("fr", "provider", 3,
        r"(?:est|,)\s+(?:le|la|l'|mon|ma|notre|un|une)\s*" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?(?:dont|que|qui)"
        r"\s+(?:je\s+|j'|nous\s+)(?:t'|vous\s+|te\s+|t'en\s+|vous\s+en\s+)?(?:ai|avais|avons)"
        r"\s+(?:déjà\s+)?(?:parl|mentionn|recommand)ée?s?",
        requires=("parl", "mentionn", "recommand")),
    Cue("fr", "provider", 2,
        r"(?:peut|pourrait|puisse|pourra)\s+(?:(?:t'|vous\s+|l'|les\s+|te\s+|certainement\s+|"
        r"sûrement\s+|vraiment\s+|bien\s+|sans\s+doute\s+)){0,2}aider"),
    Cue("fr", "provider", 2,
        r"est\s+spécialisée?|se\s+spécialise|est\s+(?:un\s+|une\s+|le\s+|la\s+)?(?:grand\s+|"
        r"grande\s+|véritable\s+|vrai\s+|vraie\s+)?(?:experte?|spécialiste|pro)"),
    Cue("fr", "provider", 1,
        r"est\s+(?:un|une)\s+(?:excellent|excellente|super|formidable|très\s+bon|très\s+bonne|"
        r"génial|géniale)\s+(?!(?:ami|amie|personne|client|cliente|voisin|voisine|type)\b)\w+"),
    Cue("fr", "provider", 1,
        r"s'occupe\s+(?:de|des|du)|propose|répare|installe|gère\s+(?:ma|mes|la|les|notre|nos)",
        verb=True),
    # ---- English provider, said indirectly ("Maria is who I go to for …")
    Cue("en", "provider", 2,
        r"(?:is|'s)\s+(?:the\s+(?:one|person)\s+)?(?:who|whom)\s+(?:I|we)\s+(?:always\s+)?(?:go|turn)\s+to"
        r"|keeps\s+(?:the\s+)?books\s+for|runs\s+(?:a|an|the|her|his|their)\s+(?:[\w-]+\s+){0,3}?"
        r"(?:practice|business|firm|company|agency|studio|shop|office|consultancy)"
        r"|has\s+(?:\w+\s+)?(?:years|decades)\s+of\s+experience|(?:has\s+)?(?:done|kept)\s+(?:our|my)\s+"
        r"(?:books|taxes|accounts|payroll)"),
    # ---- role labels, as a table or a list lays them out ("Needs: …", "Offers: …")
    Cue("*", "provider", 2,
        r"(?:offers|offering|provides|services|expertise|can\s+help\s+with|bietet|angebot|leistungen|"
        r"ofrece|servicios|offre|propose|services|offre|offerta|servizi|oferece|serviços|biedt|diensten|"
        r"oferuje|usługi|erbjuder|tjänster|tilbyder|tilbyr)\s*:"),
    # ---- Italian provider
    Cue("it", "provider", 3,
        r"(?:è|,)\s+(?:il|la|lo|l'|mio|mia|un|una|il\s+mio|la\s+mia)\s*" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?(?:di\s+cui|che|del\s+quale|della\s+quale)\s+(?:ti|vi|le|gli)\s+"
        r"(?:ho|avevo)\s+(?:già\s+)?(?:parlato|accennato|consigliato)",
        requires=("parlat", "accenn", "consigl")),
    Cue("it", "provider", 2,
        r"(?:può|potrebbe|potrà|possa)\s+(?:(?:sicuramente|certamente|davvero)\s+)?(?:aiutar\w*|darti\s+una\s+mano)"
        r"|è\s+(?:specializzat[oa]|espert[oa])|è\s+(?:un|una|il|la)\s+(?:grande\s+)?espert[oa]"),
    Cue("it", "provider", 1,
        r"si\s+occupa\s+di|offre|segue\s+(?:molte|molti|tante|tanti|la|le|i|il|nostr\w+)|lavora\s+con",
        verb=True),
    # ---- Portuguese provider
    Cue("pt", "provider", 3,
        r"(?:é|,)\s+(?:o|a|um|uma|meu|minha|o\s+meu|a\s+minha)\s+" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?(?:de\s+quem|que|sobre\s+quem)\s+(?:te|lhe|vos)\s+(?:falei|mencionei|"
        r"recomendei|tinha\s+falado)", requires=("falei", "falad", "mencion", "recomend")),
    Cue("pt", "provider", 2,
        r"(?:pode|poderia|poderá|possa)\s+(?:te\s+|lhe\s+|vos\s+)?ajudar\w*|é\s+(?:especialista|"
        r"especializad[oa])|é\s+(?:um|uma|o|a)\s+(?:grande\s+)?especialista"),
    Cue("pt", "provider", 1,
        r"trabalha\s+com|oferece|cuida\s+(?:de|da|do|das|dos)|atende", verb=True),
    # ---- Dutch provider
    Cue("nl", "provider", 3,
        r"(?:is|,)\s+(?:de|het|mijn|onze|een)\s+" + _NOT_A_TRADE
        + r"(?:[\w'-]+\s+){0,4}?(?:over\s+wie|waarover|die|van\s+wie)\s+ik\s+(?:je|jou|u|jullie)\s+"
        r"(?:al\s+)?(?:vertelde|verteld\s+heb|vertelde\s+over|over\s+vertelde|aanraadde)",
        requires=("verteld", "aanraad")),
    Cue("nl", "provider", 2,
        r"kan\s+(?:je|jou|u|jullie|jullie\s+daar|je\s+daar|daar)?\s*(?:zeker\s+|goed\s+)?(?:mee\s+)?helpen"
        r"|is\s+gespecialiseerd|is\s+(?:een\s+|de\s+)?(?:echte\s+)?(?:expert|specialist)"),
    Cue("nl", "provider", 1, r"helpt|biedt|verzorgt|werkt\s+met|onderhoudt", verb=True),
    # ---- Polish provider
    Cue("pl", "provider", 2,
        r"może\s+(?:ci\s+|pani\s+|panu\s+|wam\s+)?(?:w\s+tym\s+)?pomóc|specjalizuje\s+się|"
        r"jest\s+(?:ekspertem|ekspertką|specjalistą|specjalistką)"),
    Cue("pl", "provider", 1, r"prowadzi\s+(?:biuro|firmę|kancelarię|gabinet)|oferuje|zajmuje\s+się",
        verb=True),
    # ---- Swedish, Danish, Norwegian provider
    Cue("sv", "provider", 2,
        r"kan\s+(?:hjälpa|hjælpe|hjelpe)|är\s+(?:specialiserad|expert|specialist)|er\s+(?:specialiseret|"
        r"spesialisert|ekspert|specialist)"),
    Cue("sv", "provider", 1, r"erbjuder|hjälper|driver\s+(?:en|ett)|tilbyder|tilbyr|hjælper|hjelper",
        verb=True),
    # ---- English prospect
    Cue("en", "prospect", 2,
        r"looking\s+for|searching\s+for|seeking|in\s+the\s+market\s+for|"
        r"on\s+the\s+lookout\s+for|hunting\s+for", social=True),
    Cue("en", "prospect", 2, r"needs?|needed|in\s+need\s+of", noun=True, social=True),
    Cue("en", "prospect", 1, r"wants?|wanted|would\s+(?:like|love)", noun=True, social=True),
    Cue("en", "prospect", 2,
        r"asked\s+(?:me|us|around)\s+(?:for|about|if|whether)|could\s+(?:really\s+)?use|"
        r"(?:has|have|had|having)\s+(?:a\s+|some\s+|real\s+|serious\s+|big\s+)?"
        r"(?:problems?|issues?|trouble)\s+with|interested\s+in"),
    # ---- German prospect
    Cue("de", "prospect", 2,
        r"sucht|suchen|gesucht|auf\s+der\s+suche|braucht|brauchen|benötigt|benötigen|"
        r"(?:hat|haben)\s+bedarf|bedarf\s+an", social=True),
    Cue("de", "prospect", 1, r"möchte|möchten|hätte\s+gern|würde\s+gern", social=True),
    Cue("de", "prospect", 2,
        r"interessiert\s+sich\s+für|ist\s+interessiert\s+an|(?:hat|haben)\s+(?:ein\s+|einige\s+|"
        r"große\s+|viel\s+)?(?:problem|probleme|ärger|schwierigkeiten)\s+mit|"
        r"(?:hat|fragte)\s+mich\s+nach"),
    # ---- Spanish prospect
    Cue("es", "prospect", 2,
        r"busca|buscan|buscando|en\s+busca\s+de|necesita|necesitan|necesitaba|requiere|"
        r"le\s+hace\s+falta", social=True),
    Cue("es", "prospect", 1, r"quiere|quieren|quería|le\s+gustaría", social=True),
    Cue("es", "prospect", 2,
        r"le\s+interesa|les\s+interesa|está\s+interesad[oa]|están\s+interesad[oa]s|"
        r"tiene\s+(?:un\s+|unos\s+|algunos\s+|muchos\s+)?problemas?\s+con|"
        r"(?:me|nos)\s+(?:pidió|preguntó\s+por)"),
    # ---- French prospect
    Cue("fr", "prospect", 2,
        r"cherche|cherchent|recherche|recherchent|à\s+la\s+recherche|(?:a|ont|avait)\s+besoin",
        noun=True, social=True),
    Cue("fr", "prospect", 1, r"souhaite|souhaitent|voudrait|aimerait|désire", social=True),
    Cue("fr", "prospect", 2,
        r"s'intéresse\s+à|(?:est|sont)\s+intéressée?s?\s+par|a\s+(?:un\s+|des\s+|quelques\s+|"
        r"de\s+gros\s+)?(?:problèmes?|soucis|souci|ennuis)\s+(?:avec|de)|"
        r"(?:m'|nous\s+)a\s+demandé"),
    # ---- English prospect, said indirectly ("has been trying to find someone …")
    Cue("en", "prospect", 2,
        r"(?:has\s+been\s+|have\s+been\s+|'s\s+been\s+|is\s+|was\s+|are\s+)?trying\s+to\s+find"
        r"|(?:has|have|'s)\s+been\s+meaning\s+to|(?:is|'s|was|are)\s+(?:thinking|planning)\s+"
        r"(?:about|of|to)|asked\s+(?:me\s+|us\s+)?(?:if|whether)\s+(?:I|we)\s+(?:knew|know)"
        r"|could\s+do\s+with|(?:is|'s|are|has\s+been)\s+struggling\s+with|needs\s+help|"
        r"(?:is|'s)\s+hoping\s+to\s+find"),
    # ---- role labels ("Needs: …")
    Cue("*", "prospect", 2,
        r"(?:needs|looking\s+for|wants|seeking|sucht|braucht|bedarf|busca|necesita|cherche|besoin|"
        r"recherche|cerca|bisogno|procura|precisa|zoekt|nodig|szuka|potrzebuje|söker|behöver|søger|"
        r"trenger|behov)\s*:"),
    # ---- Italian prospect
    Cue("it", "prospect", 2,
        r"cerca|cercano|sta\s+cercando|stanno\s+cercando|è\s+alla\s+ricerca|(?:ha|hanno)\s+bisogno"
        r"|(?:le|gli)\s+serv(?:e|irebbe)", social=True),
    Cue("it", "prospect", 1, r"vorrebbe|vorrebbero|desidera|è\s+interessat[oa]", social=True),
    # ---- Portuguese prospect
    Cue("pt", "prospect", 2,
        r"procura|procuram|está\s+(?:à\s+procura|procurando|buscando)|precisa|precisam|necessita",
        social=True),
    Cue("pt", "prospect", 1, r"gostaria|gostariam|quer|querem|está\s+interessad[oa]", social=True),
    # ---- Dutch prospect
    Cue("nl", "prospect", 2,
        r"zoekt|zoeken|is\s+op\s+zoek|zijn\s+op\s+zoek|(?:heeft|hebben)\s+(?:\S+\s+){0,4}?nodig",
        social=True),
    Cue("nl", "prospect", 1, r"wil\s+graag|zou\s+graag|heeft\s+interesse", social=True),
    # ---- Polish prospect
    Cue("pl", "prospect", 2, r"szuka|szukają|poszukuje|potrzebuje|potrzebują", social=True),
    Cue("pl", "prospect", 1, r"chciałaby|chciałby|chcieliby|jest\s+zainteresowan\w", social=True),
    # ---- Swedish, Danish, Norwegian prospect
    Cue("sv", "prospect", 2,
        r"letar\s+efter|söker|behöver|leder\s+efter|søger|har\s+brug\s+for|ser\s+etter|trenger",
        social=True),
    Cue("sv", "prospect", 1, r"vill\s+ha|skulle\s+vilja|vil\s+gerne|ønsker", social=True),
)

#: Subject candidates other than names, per kind (case-insensitive, folded).
PRONOUNS: dict[str, str] = {
    # the referrer or their firm: belongs to no party
    "self": r"i|we|ich|wir|yo|nosotros|nosotras|je|j(?=')|nous|io|noi|eu|nós|ik|wij|jag|vi",
    # the party last addressed ("Grace, you mentioned…")
    "you": r"you|du|tú|usted|ustedes|vous|tu|você|vocês|jij|jou|ty|ni",
    # the only party named before it
    "one": r"he|she|er|ella|él|il|elle|lui|lei|ele|ela|hij|zij|ona|han|hon|hun",
    "many": r"they|ellos|ellas|ils|elles|loro|eles|elas|oni",
    "sie": r"sie",  # German: she or they (lower case; "Sie" mid-sentence is "you")
    # relative pronouns: the name right before them, else nobody
    "rel": r"who|whom|which|qui|quien|quienes|cui|który|która|którzy|som",
    "rel_de": r",\s*(?:der|die|das|welche[rsmn]?)",  # German: after a comma only
    "that": r"that|que|che|dat",
    "nobody": r"someone|somebody|anyone|anybody|jemand\w*|alguien|quelqu'un|qualcuno|alguém|iemand|"
              r"ktoś|någon|nogen|noen",
}


#: The small words roles.py reads around a cue, per language (folded, lower case).
#: "not only" / "nicht nur" … negate nothing.
NOT_ONLY = ("only", "just", "nur", "solo", "sólo", "solamente", "seulement", "que", "soltanto",
            "apenas", "alleen", "tylko", "bara", "kun")
#: Words that negate a cue when they stand between its subject and it.
NEGATIONS = ("not", "never", "no longer", "nicht", "nie", "niemals", "kein\\w*", "nunca", "jamás",
             "tampoco", "pas", "jamais", "non", "mai", "più", "não", "nao", "niet", "geen", "nooit",
             "nigdy", "inte", "aldrig", "ikke", "ej")
#: Words that negate the verb right after them ("Pilar no necesita", "Grace ne cherche").
NEGATES_NEXT = ("no", "ne", "nie")
#: Words right after a cue that take it back ("sucht nicht", "cherche pas").
NEGATED_AFTER = ("nicht", "kein\\w*", "pas", "jamais", "nothing", "no", "no one", "nobody", "nadie",
                 "nada", "niet", "geen", "inte", "ikke")
#: A cue noun after these is a possession ("her needs"), no cue.
DETERMINERS = ("her", "his", "their", "your", "my", "our", "the", "its", "whose", "ihre", "seine", "sus",
               "ses", "leurs?", "la", "les", "mes", "tes", "nos", "vos", "il", "lo", "suo", "sua", "seu",
               "sua", "zijn", "haar", "hun", "jego", "jej", "hans", "hennes")
#: A cue verb after these is an infinitive ("to look after"), no cue.
INFINITIVES = ("to", "zu", "para", "pour", "per", "om te", "att", "å")
#: "told me that she needs": after these, "that" is a conjunction, not a relative pronoun.
THAT_TRANSPARENT = ("said", "says", "told\\s+\\w+", "tells\\s+\\w+", "mentioned", "thinks?", "know",
                    "knows", "believe", "sure", "so", "dijo", "dice", "contó", "comentó", "creo", "pienso",
                    "sé", "seguro", "me", "te", "nos", "le", "dit", "pense", "crois", "sais", "sûr",
                    "detto", "penso", "credo", "disse", "acho", "zei", "denk")
#: Words joining two names ("Ann and Bob").
CONJUNCTIONS = ("and", "&", "und", "y", "e", "et", "en", "i", "och", "og", "oraz")
#: Greetings before the names a sentence addresses ("Hi Ann and Bob,").
GREETINGS = ("hi", "hello", "hey", "dear", "hallo", "liebe[rs]?", "hola", "querid[oa]s?", "estimad[oa]s?",
             "bonjour", "salut", "cher", "chere", "coucou", "ciao", "caro", "cara", "cari", "gentile",
             "olá", "ola", "oi", "prezad[oa]", "hoi", "beste", "dag", "cześć", "czesc", "witaj", "drogi",
             "droga", "hej", "kära", "kaere", "kære")



def _words(items: tuple[str, ...]) -> str:
    """An alternation of the words of a table of :mod:`refmail.reading.role_cues`
    (entries may hold regex classes such as ``kein\\w*``); a space is any blanks."""
    return "|".join(sorted((i.replace(" ", r"\s+") for i in items), key=len, reverse=True))


NOT_ONLY_RE = rf"(?!\s+(?:{fold(_words(NOT_ONLY))})\b)"
NEGATION_RE = re.compile(
    fold(rf"(?<!\w)(?:{_words(NEGATIONS)})(?!\w)") + NOT_ONLY_RE + r"|n't(?!\w)" + NOT_ONLY_RE,
    re.IGNORECASE,
)
# "no" and "ne" negate the verb they stand right before ("Pilar no necesita",
# "Grace ne cherche", "n'a pas"); elsewhere "no" is "no IT person".
NEGATED_NEXT_RE = re.compile(rf"(?<!\w)(?:{_words(NEGATES_NEXT)})\s*$|(?<!\w)n'$", re.IGNORECASE)
NEGATED_AFTER_RE = re.compile(fold(rf"\s*(?:{_words(NEGATED_AFTER)})(?!\w)") + NOT_ONLY_RE,
                               re.IGNORECASE)
DETERMINER_BEFORE_RE = re.compile(rf"(?:(?<!\w)(?:{_words(DETERMINERS)})|'s)\s+$", re.IGNORECASE)
INFINITIVE_BEFORE_RE = re.compile(rf"(?<!\w)(?:{_words(INFINITIVES)})\s+$", re.IGNORECASE)
THAT_TRANSPARENT_RE = re.compile(fold(rf"(?<!\w)(?:{_words(THAT_TRANSPARENT)})\s*$"), re.IGNORECASE)
CONJUNCTION_RE = re.compile(rf"\s*,\s*|\s*,?\s+(?:{_words(CONJUNCTIONS)})\s+", re.IGNORECASE)
GREETING_RE = re.compile(fold(rf"\s*[\"']?(?:(?:{_words(GREETINGS)})\s+)?"), re.IGNORECASE)

# -- finding many rows fast ---------------------------------------------------------
_TOKEN_RE = re.compile(r"\w+|[,']")
_KEYS_RE = re.compile(r"(?<!\w)\w{1,3}|[,']")  # the word_key of every word


def word_key(word: str) -> str:
    """How a row and a place in the text meet: the first three letters of a word."""
    return word[:3]


def text_keys(lower: str) -> set[str]:
    """The :func:`word_key` of every word of a lower-case text, and "," and "'"."""
    return set(_KEYS_RE.findall(lower))


def _finder(key: str) -> str:
    """Where a word with this :func:`word_key` begins. The literal leads, so the
    engine can jump from one occurrence to the next; the boundaries follow."""
    if not key[0].isalnum():
        return re.escape(key)
    after = "" if len(key) == 3 else "(?!\\w)"  # a shorter key is the whole word
    return f"{re.escape(key)}(?<!\\w{re.escape(key)}){after}"


def _heads(pattern: str) -> set[str]:
    """The lower-case literal beginnings (up to 4 characters) a regex can match.

    Used only to index rows by first word; :class:`Rows` falls back to trying
    every row everywhere if Python's parser module is not available.
    """
    # re's own parser (private, hence imported by name): if a Python release
    # moves it, Rows falls back to trying every row at every word.
    c = importlib.import_module("re._constants")
    parser = importlib.import_module("re._parser")

    def seq(items: Any) -> set[tuple[str, bool]]:
        current = {("", True)}  # (text so far, still exact)
        for op, av in items:
            options = one(op, av)
            grown = set()
            for text, exact in current:
                if not exact or len(text) >= 4:
                    grown.add((text, False))
                    continue
                for more, more_exact in options:
                    whole = text + more
                    grown.add((whole[:4], more_exact and len(whole) <= 4))
            current = grown
        return current

    def one(op: Any, av: Any) -> set[tuple[str, bool]]:
        if op is c.LITERAL:
            return {(chr(av).lower(), True)}
        if op is c.IN and all(o is c.LITERAL for o, _ in av):
            return {(chr(a).lower(), True) for _, a in av}
        if op is c.SUBPATTERN:
            return seq(av[3])
        if op is c.BRANCH:
            return set().union(*(seq(alt) for alt in av[1]))
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, inner = av
            options = {(t, e and high == 1) for t, e in seq(inner)}
            return options | ({("", True)} if low == 0 else set())
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            return {("", True)}
        return {("", False)}

    heads = {text for text, _ in seq(parser.parse(pattern, re.IGNORECASE))}
    if "" in heads:
        raise ValueError(f"a cue row must begin with a word, a comma or an apostrophe: {pattern!r}")
    return heads


#: Where a row may start: at a word, or at the comma or "'s" that follows a name.
BOUNDARY = "(?:(?<!\\w)(?=\\w)|(?=[,']))"


class Rows:
    """Many regexes searched together, each tried only where its first word occurs.

    One alternation of ~40 rows costs about 1 ms on a 3 KB text (the engine
    tries every row at every word). Here the text's words are collected once,
    and a row is tried only at words that begin like it: ~100 µs.
    """

    def __init__(self, patterns: list[str], requires: list[tuple[str, ...]] | None = None) -> None:
        self.rows = [re.compile(BOUNDARY + f"(?:{p})", re.IGNORECASE) for p in patterns]
        self.by_key: dict[str, list[int]] | None = {}
        try:
            for i, pattern in enumerate(patterns):
                for head in sorted(_heads(pattern)):
                    first = _TOKEN_RE.match(head)
                    if first is None:
                        raise ValueError(f"cannot index the cue row {pattern!r}")
                    rows = self.by_key.setdefault(word_key(first.group()), [])
                    if i not in rows:
                        rows.append(i)
        except (ImportError, AttributeError):  # no parser module: try every row everywhere
            self.by_key = None
        self.finders = {key: re.compile(_finder(key)) for key in self.by_key or ()}
        self.requires = [(i, need) for i, need in enumerate(requires or []) if need]

    def find(self, folded: str, lower: str, keys: set[str]) -> list[tuple[int, int, int]]:
        """``(start, end, row)`` in text order, one per place: the first row (in
        table order) that matches there. Matches may overlap; the caller decides
        which to keep."""
        found: list[tuple[int, int, int]] = []
        skip = {i for i, need in self.requires if not any(piece in lower for piece in need)}
        if self.by_key is None:
            places: list[tuple[int, list[int]]] = [
                (m.start(), list(range(len(self.rows)))) for m in _TOKEN_RE.finditer(folded)
            ]
        else:
            places = [
                (m.start(), self.by_key[key])
                for key in keys & self.by_key.keys()
                for m in self.finders[key].finditer(lower)
            ]
        for start, rows in places:  # a word has one key: each place comes once
            for i in rows:  # in table order
                if i not in skip and (m := self.rows[i].match(folded, start)):
                    found.append((start, m.end(), i))
                    break
        return sorted(found)


def _cue_pattern(cue: Cue) -> str:
    body = fold(cue.pattern)
    if cue.kind == "prospect":  # "looking for new clients" is a provider's line
        body = f"(?:{body})(?!\\s+(?:{fold(CLIENTS)}))"
    if cue.social:
        body += fold(SOCIAL)
    return body + "(?![\\w'])"


PRONOUN_KINDS = list(PRONOUNS)
#: Cue rows, then pronoun rows (row ``len(CUES) + k`` is ``PRONOUN_KINDS[k]``):
#: one index, so a text's words are looked up once for both.
INDEX = Rows(
    [_cue_pattern(cue) for cue in CUES]
    + [f"(?:{fold(PRONOUNS[kind])})(?!\\w)" for kind in PRONOUN_KINDS],
    [cue.requires for cue in CUES],
)
