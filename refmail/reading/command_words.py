"""The words of a reply's command, one table per language refmail writes in (data).

refmail's nudges offer one-click keywords (SPEC "Replies to nudges"):
``CONTACTED``, ``MET``, ``PROPOSAL``, ``WON [amount]``, ``LOST``, ``NO FIT``,
``NO RESPONSE``, ``THANKS``, ``STOP``, ``START`` and, for the referrer and
admins, ``PROVIDER <name or address>``, ``WITHDRAW``, ``REOPEN``. A group
writes in one of seven languages (``[group] language``), and a member may
answer in another, so every keyword is accepted in every language: each
:class:`CommandWords` row lists the keyword as refmail's templates in that
language write it (:attr:`CommandWords.keywords`) and the everyday phrases
people use instead (:attr:`CommandWords.statuses`, regex fragments).

Everything is matched on *folded* text (lower case, accents removed, ``’`` as
``'``), so write the words with their accents: :mod:`refmail.reading.command`
folds the tables the same way. The negation and tense words decide what does
*not* count: "not yet won", "will do", "haven't heard back so far", "noch
nicht", "todavía no", "pas encore" never close a referral and never count as
thanks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refmail.reading.classification import Keyword

__all__ = ["CLOSING", "KEYWORD_STATUS", "LANGUAGES", "CommandWords"]

#: The status each keyword sets; the other keywords are flags or actions.
KEYWORD_STATUS: dict[Keyword, str] = {
    Keyword.CONTACTED: "contacted",
    Keyword.MET: "meeting",
    Keyword.PROPOSAL: "proposal",
    Keyword.WON: "won",
    Keyword.LOST: "lost",
    Keyword.NO_FIT: "no_fit",
    Keyword.NO_RESPONSE: "unresponsive",
    Keyword.WITHDRAW: "withdrawn",
}
#: Statuses that close a referral: free text must be final to set one.
CLOSING = frozenset({"won", "lost", "no_fit", "unresponsive", "withdrawn"})


@dataclass(frozen=True)
class CommandWords:
    """One language's command words.

    ``keywords``: each keyword as a reply's first word(s) ("GEWONNEN",
    "NO FIT"). ``statuses``: free-text regex fragments per status ("signed the
    contract"). ``thanks`` and ``stop``: fragments for THANKS and STOP in a
    sentence. ``negators``: words that cancel a keyword after them in its
    clause ("not", "nicht", "pas"). ``not_yet``: phrases that cancel a keyword
    right after it ("won? not yet"). ``pending``: words of intent, hope or
    future ("will", "going to", "werde", "vais") that cancel a keyword after
    them — it has not happened. ``ongoing``: "so far", "yet", "still": a
    closing status in such a clause is not final. ``buts``: words that end a
    clause ("but", "aber").
    """

    lang: str
    keywords: dict[Keyword, tuple[str, ...]]
    statuses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    thanks: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    negators: tuple[str, ...] = ()
    not_yet: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    ongoing: tuple[str, ...] = ()
    buts: tuple[str, ...] = ()


K = Keyword

LANGUAGES: tuple[CommandWords, ...] = (
    CommandWords(
        "en",
        keywords={
            K.CONTACTED: ("contacted",), K.MET: ("met",), K.PROPOSAL: ("proposal",), K.WON: ("won",),
            K.LOST: ("lost",), K.NO_FIT: ("no fit",), K.NO_RESPONSE: ("no response",),
            K.THANKS: ("thanks", "thank you"), K.STOP: ("stop", "unsubscribe"),
            K.START: ("start", "resume"), K.PROVIDER: ("provider",), K.WITHDRAW: ("withdraw",),
            K.REOPEN: ("reopen",),
        },
        statuses={
            "won": (r"won", r"(?:it'?s|a|big|another) win",
                    r"signed (?:them|him|her|the (?:contract|deal)|on|up|with)",
                    r"(?:she|he|they|client) signed", r"contract signed",
                    r"closed (?:the|a) (?:deal|sale)", r"closed (?:it|them)", r"deal (?:is )?closed",
                    r"(?:hired|booked|retained|engaged) (?:me|us)",
                    r"(?:became|is now) a (?:client|customer)"),
            "lost": (r"lost(?! (?:touch|contact|track|my|the (?:file|email|number)))",
                     r"went (?:with|for) (?:someone|somebody|another|a different|a competitor|the other"
                     r"|a cheaper)",
                     r"(?:chose|picked|hired) (?:someone|somebody|another|a different|a competitor)"),
            "no_fit": (r"no fit", r"not (?:a|the) (?:good |great |right |real )?fit",
                       r"(?:isn't|wasn't|is not|was not|not) (?:a )?(?:good |great |right )?(?:fit|match)",
                       r"(?:poor|bad) fit", r"no match"),
            "unresponsive": (r"no (?:response|reply|answer|word)",
                             r"never (?:heard|got a reply|got an answer|responded|replied|answered"
                             r"|called back|got back)",
                             r"(?:haven't|havent|have not|hasn't|hasnt|has not|didn't|didnt|did not)"
                             r" (?:heard|hear) (?:back|anything)",
                             r"not heard back", r"(?:no|not) responding",
                             r"(?:doesn't|does not|didn't|did not|won't) (?:respond|reply|answer|call back"
                             r"|get back)", r"ghosted", r"unresponsive"),
            "proposal": (r"proposal",
                         r"(?:sent|send|sending|submitted|gave|made) (?:her |him |them )?(?:a|an|the|my|our)"
                         r" (?:quote|offer|estimate|bid|proposal|pitch)", r"quoted"),
            "meeting": (r"met", r"meeting", r"(?:we'll|we will|going to|will) meet", r"appointment",
                        r"(?:had|have|booked|scheduled) (?:a|our) (?:meeting|coffee|lunch)"),
            "contacted": (r"contacted", r"contact (?:made|established)", r"made contact", r"reached out",
                          r"got in touch", r"(?:we|i) (?:spoke|talked)",
                          r"(?:spoke|talked|chatted) (?:to|with)",
                          r"(?:called|phoned|rang|emailed|texted|messaged) (?:her|him|them|back)",
                          r"had a (?:call|chat|phone call)"),
        },
        thanks=(r"thanks", r"thank you", r"thx", r"many thanks", r"grateful", r"appreciate(?:d)?",
                r"cheers for"),
        stop=(r"unsubscribe", r"stop (?:e-?mailing|mailing|sending|contacting|messaging|bugging|writing"
              r"|these|this|the (?:e-?mails|messages|reminders|nudges)|it)", r"please stop",
              r"opt(?:-| )?(?:me )?out", r"remove me", r"no more (?:e-?mails|messages|reminders)",
              r"(?:don't|do not) (?:e-?mail|contact|message|write) me"),
        negators=("not", "no", "never", "nope", "hardly", "without"),
        not_yet=("not yet", "no", "not really", "not quite"),
        pending=("will", "'ll", "going", "gonna", "plan", "planning", "hope", "hoping", "should",
                 "might", "may", "could", "would", "expect", "expecting", "about", "soon", "want",
                 "wants", "try", "trying", "once", "if", "when", "until", "before"),
        ongoing=("yet", "so far", "still", "for now", "as of now", "at the moment"),
        buts=("but", "although", "though", "however"),
    ),
    CommandWords(
        "de",
        keywords={
            K.CONTACTED: ("kontaktiert",), K.MET: ("getroffen",), K.PROPOSAL: ("angebot",),
            K.WON: ("gewonnen",), K.LOST: ("verloren",), K.NO_FIT: ("passt nicht",),
            K.NO_RESPONSE: ("keine antwort",), K.THANKS: ("danke",), K.STOP: ("stopp", "abmelden"),
            K.START: ("fortsetzen", "anmelden"), K.PROVIDER: ("anbieter",),
            K.WITHDRAW: ("zurückziehen",), K.REOPEN: ("wiedereröffnen", "wieder öffnen"),
        },
        statuses={
            "won": (r"gewonnen", r"auftrag (?:erhalten|bekommen)", r"zuschlag", r"unterschrieben"),
            "lost": (r"verloren", r"abgesagt", r"anderen anbieter"),
            "no_fit": (r"passt (?:\w+ ){0,2}nicht", r"nicht passend", r"keine? (?:gute )?passung"),
            "unresponsive": (r"keine (?:antwort|rückmeldung|reaktion)", r"nie geantwortet",
                             r"antwortet nicht", r"meldet sich nicht"),
            "proposal": (r"angebot", r"kostenvoranschlag"),
            "meeting": (r"getroffen", r"treffen", r"termin", r"besprechung"),
            "contacted": (r"kontaktiert", r"kontakt aufgenommen", r"gesprochen", r"angerufen",
                          r"telefoniert"),
        },
        thanks=(r"danke(?:schön)?", r"vielen dank", r"herzlichen dank", r"besten dank", r"dankbar"),
        stop=(r"abmelden", r"abbestellen", r"keine (?:weiteren )?(?:e-?mails|nachrichten|erinnerungen)"),
        negators=("nicht", "kein", "keine", "keinen", "nie", "niemals", "nein", "ohne"),
        not_yet=("noch nicht", "nicht", "noch nichts", "leider nicht"),
        pending=("werde", "werden", "wird", "will", "wollen", "möchte", "hoffe", "hoffentlich", "sollte",
                 "bald", "demnächst", "vielleicht", "wenn", "falls", "sobald", "bevor"),
        ongoing=("noch", "bisher", "bislang", "immer noch", "vorerst", "momentan"),
        buts=("aber", "sondern", "jedoch", "doch"),
    ),
    CommandWords(
        "es",
        keywords={
            K.CONTACTED: ("contactado", "contactada"), K.MET: ("reunidos", "nos reunimos"),
            K.PROPOSAL: ("propuesta",), K.WON: ("ganado",), K.LOST: ("perdido",),
            K.NO_FIT: ("no encaja",), K.NO_RESPONSE: ("sin respuesta",), K.THANKS: ("gracias",),
            K.STOP: ("baja", "parar"), K.START: ("reanudar", "alta"), K.PROVIDER: ("proveedor",),
            K.WITHDRAW: ("retirar",), K.REOPEN: ("reabrir",),
        },
        statuses={
            "won": (r"ganado", r"ganamos", r"gane", r"firmado", r"firmamos", r"cerramos", r"me contrato"),
            "lost": (r"perdido", r"perdimos", r"perdi", r"eligio a otro"),
            "no_fit": (r"no encaja", r"no (?:es|era) (?:un )?buen (?:encaje|fit)", r"no (?:es|era) adecuad"),
            "unresponsive": (r"sin respuesta", r"no (?:responde|contesta|respondio|contesto)",
                             r"nunca respondio", r"ninguna respuesta"),
            "proposal": (r"propuesta", r"presupuesto", r"cotizacion", r"oferta"),
            "meeting": (r"reunion", r"reunimos", r"nos vimos", r"cita"),
            "contacted": (r"contactado", r"contactada", r"hablamos", r"hable con", r"llame"),
        },
        thanks=(r"gracias", r"muchas gracias", r"mil gracias", r"agradecid[oa]"),
        stop=(r"(?:darme|dar|me) de baja", r"no me (?:escriban|escribas|envien|contacten)", r"dejen de"),
        negators=("no", "nunca", "jamás", "nada", "sin", "tampoco"),
        not_yet=("todavía no", "aún no", "no"),
        pending=("voy", "vamos", "va", "van", "espero", "esperamos", "debería", "pronto", "quizás",
                 "quiero", "si", "cuando", "antes"),
        ongoing=("todavía", "aún", "hasta ahora", "por ahora", "de momento", "sigue"),
        buts=("pero", "sino", "aunque"),
    ),
    CommandWords(
        "fr",
        keywords={
            K.CONTACTED: ("contacté", "contactée"), K.MET: ("rencontré", "rencontrée"),
            K.PROPOSAL: ("devis", "proposition"), K.WON: ("gagné",), K.LOST: ("perdu",),
            K.NO_FIT: ("pas adapté", "ne convient pas"), K.NO_RESPONSE: ("pas de réponse",),
            K.THANKS: ("merci",), K.STOP: ("stop", "arrêt", "désabonner"),
            K.START: ("reprendre",), K.PROVIDER: ("prestataire",), K.WITHDRAW: ("retirer",),
            K.REOPEN: ("rouvrir",),
        },
        statuses={
            "won": (r"gagne", r"(?:a|ont|avons|ai) signe", r"contrat signe", r"affaire conclue"),
            "lost": (r"perdu", r"a choisi (?:un autre|quelqu'un)"),
            "no_fit": (r"pas adapte", r"ne correspond pas", r"ne convient pas",
                       r"pas (?:un )?bon (?:fit|match)"),
            "unresponsive": (r"pas de (?:reponse|retour|nouvelles)", r"aucune (?:reponse|nouvelle|retour)",
                             r"(?:ne|n') ?(?:repond|a (?:jamais|pas) repondu)"),
            "proposal": (r"devis", r"proposition", r"offre"),
            "meeting": (r"rencontre(?:e|es|s)?", r"rendez-vous", r"rdv"),
            "contacted": (r"contacte", r"contactee", r"contactees", r"appele", r"appelee", r"on a parle",
                          r"parle (?:avec|a)"),
        },
        thanks=(r"merci", r"merci beaucoup", r"mille mercis", r"reconnaissant"),
        stop=(r"desabonner", r"desinscrire", r"desabonne", r"arretez", r"ne plus recevoir"),
        negators=("pas", "ne", "n'", "jamais", "non", "aucun", "aucune", "sans", "rien"),
        not_yet=("pas encore", "pas", "non"),
        pending=("vais", "va", "allons", "vont", "espère", "espérons", "devrait", "bientôt", "peut-être",
                 "veux", "si", "quand", "avant"),
        ongoing=("encore", "toujours", "pour l'instant", "jusqu'à présent", "pour le moment"),
        buts=("mais", "cependant", "pourtant"),
    ),
    CommandWords(
        "it",
        keywords={
            K.CONTACTED: ("contattato", "contattata"), K.MET: ("incontrato", "incontrata"),
            K.PROPOSAL: ("proposta", "preventivo"), K.WON: ("vinto",), K.LOST: ("perso",),
            K.NO_FIT: ("non adatto",), K.NO_RESPONSE: ("nessuna risposta",), K.THANKS: ("grazie",),
            K.STOP: ("stop", "basta"), K.START: ("riprendi",), K.PROVIDER: ("fornitore",),
            K.WITHDRAW: ("ritirare",), K.REOPEN: ("riaprire",),
        },
        statuses={
            "won": (r"vinto", r"abbiamo vinto", r"firmato", r"contratto firmato", r"affare fatto",
                    r"chiuso il contratto"),
            "lost": (r"perso", r"persa", r"ha scelto (?:un altro|qualcun altro)"),
            "no_fit": (r"non adatt\w", r"non fa per", r"non e adatt\w"),
            "unresponsive": (r"nessuna risposta", r"non risponde", r"non ha (?:mai )?risposto",
                             r"nessun riscontro"),
            "proposal": (r"preventivo", r"proposta", r"offerta"),
            "meeting": (r"incontrat[oaie]", r"incontro", r"riunione", r"appuntamento",
                        r"ci siamo visti"),
            "contacted": (r"contattat[oaie]", r"sentiti", r"chiamato", r"chiamata", r"parlato"),
        },
        thanks=(r"grazie", r"grazie mille", r"ti ringrazio", r"vi ringrazio", r"grat[oa]"),
        stop=(r"disiscriv", r"cancellami", r"non scrivermi", r"basta (?:e-?mail|messaggi)"),
        negators=("non", "mai", "nessun", "nessuna", "niente", "senza", "né"),
        not_yet=("non ancora", "ancora no", "non"),
        pending=("vado", "andrò", "spero", "speriamo", "dovrebbe", "presto", "forse", "voglio", "se",
                 "quando", "prima"),
        ongoing=("ancora", "finora", "per ora", "per il momento", "tuttora"),
        buts=("ma", "però", "tuttavia"),
    ),
    CommandWords(
        "pt",
        keywords={
            K.CONTACTED: ("contactado", "contatado", "contatada"), K.MET: ("reunidos", "encontrado"),
            K.PROPOSAL: ("proposta", "orçamento"), K.WON: ("ganho", "ganhamos"), K.LOST: ("perdido",),
            K.NO_FIT: ("não se encaixa", "sem encaixe"), K.NO_RESPONSE: ("sem resposta",),
            K.THANKS: ("obrigado", "obrigada"), K.STOP: ("parar", "sair"), K.START: ("retomar",),
            K.PROVIDER: ("fornecedor", "prestador"), K.WITHDRAW: ("retirar",), K.REOPEN: ("reabrir",),
        },
        statuses={
            "won": (r"ganho", r"ganhamos", r"fechamos", r"fechado", r"contrato assinado", r"assinou",
                    r"assinamos", r"negocio fechado"),
            "lost": (r"perdido", r"perdemos", r"escolheu outr[oa]"),
            "no_fit": (r"nao se encaixa", r"nao (?:e|era) adequad", r"sem encaixe", r"nao serve"),
            "unresponsive": (r"sem resposta", r"nao responde", r"nao respondeu", r"nunca respondeu",
                             r"nenhuma resposta", r"sem retorno"),
            "proposal": (r"proposta", r"orcamento", r"cotacao"),
            "meeting": (r"reuniao", r"nos reunimos", r"encontramos", r"nos encontramos", r"nos vimos"),
            "contacted": (r"contactad[oa]", r"contatad[oa]", r"falamos", r"falei com", r"liguei"),
        },
        thanks=(r"obrigad[oa]", r"muito obrigad[oa]", r"agradec\w*", r"valeu"),
        stop=(r"descadastr\w*", r"cancelar inscricao", r"nao me (?:envie|mande|escreva)"),
        negators=("não", "nao", "nunca", "nenhum", "nenhuma", "nada", "sem"),
        not_yet=("ainda não", "ainda nao", "não", "nao"),
        pending=("vou", "vamos", "vai", "espero", "esperamos", "deve", "deveria", "em breve", "talvez",
                 "quero", "se", "quando", "antes"),
        ongoing=("ainda", "até agora", "por enquanto", "por agora", "no momento"),
        buts=("mas", "porém", "contudo"),
    ),
    CommandWords(
        "nl",
        keywords={
            K.CONTACTED: ("gecontacteerd", "contact gehad"), K.MET: ("ontmoet", "gesproken"),
            K.PROPOSAL: ("offerte", "voorstel"), K.WON: ("gewonnen",), K.LOST: ("verloren",),
            K.NO_FIT: ("past niet",), K.NO_RESPONSE: ("geen reactie",), K.THANKS: ("bedankt", "dank je"),
            K.STOP: ("stop", "afmelden"), K.START: ("hervatten",), K.PROVIDER: ("aanbieder", "leverancier"),
            K.WITHDRAW: ("intrekken",), K.REOPEN: ("heropenen",),
        },
        statuses={
            "won": (r"gewonnen", r"getekend", r"opdracht (?:binnen|gekregen)", r"deal (?:rond|gesloten)"),
            "lost": (r"verloren", r"(?:koos|kiest|gekozen) voor (?:een )?(?:ander|iemand anders)"),
            "no_fit": (r"past (?:\w+ ){0,2}niet", r"geen (?:goede )?match", r"niet geschikt"),
            "unresponsive": (r"geen (?:reactie|antwoord)", r"reageert niet", r"nooit gereageerd",
                             r"niets (?:meer )?gehoord"),
            "proposal": (r"offerte", r"voorstel"),
            "meeting": (r"ontmoet", r"afspraak", r"vergadering", r"bijeenkomst", r"koffie gedronken"),
            "contacted": (r"gecontacteerd", r"contact (?:gehad|opgenomen)", r"gebeld", r"gemaild",
                          r"gesproken"),
        },
        thanks=(r"bedankt", r"dank je(?: wel)?", r"dank u(?: wel)?", r"hartelijk dank", r"dankjewel"),
        stop=(r"afmelden", r"uitschrijven", r"geen (?:e-?mails|berichten) meer"),
        negators=("niet", "geen", "nooit", "nee", "zonder", "niets"),
        not_yet=("nog niet", "niet", "nog geen"),
        pending=("ga", "gaan", "zal", "zullen", "hoop", "hopen", "zou", "binnenkort", "misschien", "wil",
                 "als", "wanneer", "voordat"),
        ongoing=("nog", "tot nu toe", "voorlopig", "nog steeds", "momenteel"),
        buts=("maar", "echter", "toch"),
    ),
)
