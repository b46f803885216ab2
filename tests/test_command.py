"""The keyword command of a reply, in the seven languages refmail writes in.

Every keyword of every language is accepted whatever the group's language
(refmail.reading.command_words); negation and tense never close a referral and
never count as thanks, in any of them.
"""

from __future__ import annotations

import pytest

from refmail.reading.classification import Command, Keyword
from refmail.reading.command import parse_command
from refmail.reading.command_words import CLOSING, KEYWORD_STATUS, LANGUAGES

FORMS = [(w.lang, kw, form) for w in LANGUAGES for kw, forms in w.keywords.items() for form in forms]


def test_every_language_has_every_keyword() -> None:
    assert {w.lang for w in LANGUAGES} == {"en", "de", "es", "fr", "it", "pt", "nl"}
    for words in LANGUAGES:
        assert set(words.keywords) == set(Keyword), words.lang
        assert set(words.statuses) >= {"won", "lost", "no_fit", "unresponsive", "proposal", "meeting",
                                       "contacted"}, words.lang
        assert words.thanks and words.stop and words.negators and words.not_yet and words.pending


@pytest.mark.parametrize(("lang", "keyword", "form"), FORMS, ids=[f"{lang}-{f}" for lang, _, f in FORMS])
def test_each_keyword_form_opens_a_reply(lang: str, keyword: Keyword, form: str) -> None:
    text = form.upper() + (" Omar Haddad <omar@haddadtech.example>" if keyword is Keyword.PROVIDER else "")
    command = parse_command(text)
    assert command.keyword is keyword
    assert command.status == KEYWORD_STATUS.get(keyword)
    assert not command.from_free_text
    assert command.thanks == (keyword is Keyword.THANKS)
    assert command.stop == (keyword is Keyword.STOP)
    assert command.start == (keyword is Keyword.START)
    assert command.reopen == (keyword is Keyword.REOPEN)
    # as people type them: lower case, with punctuation or a note after it
    if keyword is not Keyword.PROVIDER:
        assert parse_command(f"{form.capitalize()}! See you soon.").keyword is keyword


@pytest.mark.parametrize(("lang", "keyword", "form"),
                         [f for f in FORMS if f[1] in (Keyword.WON, Keyword.CONTACTED, Keyword.MET,
                                                       Keyword.PROPOSAL, Keyword.LOST)],
                         ids=lambda v: str(v))
def test_a_keyword_followed_by_not_yet_sets_nothing(lang: str, keyword: Keyword, form: str) -> None:
    for words in LANGUAGES:
        for not_yet in words.not_yet:
            command = parse_command(f"{form.capitalize()}? {not_yet.capitalize()}.")
            assert command.status is None, (form, not_yet, command)


CASES = [
    # the examples
    ("Muito obrigado pela indicação", Command(thanks=True)),
    ("Gewonnen", Command(status="won", keyword=Keyword.WON)),
    ("Perdido", Command(status="lost", keyword=Keyword.LOST)),
    ("grazie mille", Command(thanks=True)),
    ("GANHO 3000", Command(status="won", keyword=Keyword.WON, value=3000)),
    ("Vinto! 2.000 €", Command(status="won", keyword=Keyword.WON, value=2000, currency="EUR")),
    ("Gewonnen 4.500 EUR", Command(status="won", keyword=Keyword.WON, value=4500, currency="EUR")),
    # free text, marked as such
    ("We met on Tuesday at her office", Command(status="meeting", from_free_text=True)),
    ("Ci siamo incontrati ieri", Command(status="meeting", from_free_text=True)),
    ("Ze heeft getekend, opdracht binnen!", Command(status="won", from_free_text=True)),
    ("Fechamos o contrato ontem", Command(status="won", from_free_text=True)),
    ("Não respondeu", Command(status="unresponsive", from_free_text=True)),
    ("Geen reactie ontvangen", Command(status="unresponsive", from_free_text=True)),
    ("Nessuna risposta", Command(status="unresponsive", keyword=Keyword.NO_RESPONSE)),
    ("Hartelijk dank voor de introductie", Command(thanks=True)),
    ("Obrigada pela indicação!", Command(thanks=True)),
    ("OBRIGADA!", Command(thanks=True, keyword=Keyword.THANKS)),
    # negation and tense: never closing, never thanks, in every language
    ("not yet", Command()),
    ("Will do", Command()),
    ("Will do!", Command()),
    ("I haven't heard back from her so far", Command()),
    ("No response yet", Command()),
    ("Still no answer, I'll try again", Command()),
    ("Noch nicht gewonnen", Command()),
    ("Noch keine Antwort", Command()),
    ("Todavía no hemos ganado", Command()),
    ("Todavía sin respuesta", Command()),
    ("Pas encore de réponse", Command()),
    ("Pas encore gagné", Command()),
    ("Non abbiamo ancora vinto", Command()),
    ("Ancora nessuna risposta", Command()),
    ("Ainda não fechamos", Command()),
    ("Ainda sem resposta", Command()),
    ("Nog niet gewonnen", Command()),
    ("Nog geen reactie", Command()),
    ("We will sign next week", Command()),
    ("I'll call her tomorrow", Command()),
    ("Ich werde sie morgen anrufen", Command()),
    ("Voy a llamarla mañana", Command()),
    ("Je vais l'appeler demain", Command()),
    ("Spero di firmare presto", Command()),
    ("Vou ligar para ela amanhã", Command()),
    ("Ik ga haar morgen bellen", Command()),
    ("We hope to close the deal soon", Command()),
    ("I will thank Nadia", Command()),
    ("No thanks", Command()),
    ("Nein danke", Command()),
    ("Nee, bedankt", Command(thanks=True)),  # "nee" ends at the comma: then thanks
    # STOP is STOP also when wanted
    ("Je veux me désabonner", Command(stop=True)),
    ("Quiero darme de baja", Command(stop=True)),
    ("Ik wil me afmelden", Command(stop=True)),
    # the referrer's and admins' keywords
    ("PROVIDER Omar Haddad <omar@haddadtech.example>",
     Command(keyword=Keyword.PROVIDER, provider="Omar Haddad <omar@haddadtech.example>")),
    ("Anbieter: omar@haddadtech.example", Command(keyword=Keyword.PROVIDER,
                                                   provider="omar@haddadtech.example")),
    ("PROVIDER", Command()),
    ("WITHDRAW", Command(status="withdrawn", keyword=Keyword.WITHDRAW)),
    ("Reopen please", Command()),
    ("REOPEN", Command(keyword=Keyword.REOPEN, reopen=True)),
    ("START", Command(keyword=Keyword.START, start=True)),
    ("Hervatten", Command(keyword=Keyword.START, start=True)),
    # a sentence that begins with a keyword's word is free text, not the keyword
    ("Met her today, she's keen", Command(status="meeting", from_free_text=True)),
    ("Lost my phone, will call her next week", Command()),
    ("Stop by anytime", Command()),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[t[:40] for t, _ in CASES])
def test_commands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


def test_closing_statuses_are_the_lifecycle_ends() -> None:
    assert {"won", "lost", "no_fit", "unresponsive", "withdrawn"} == CLOSING


def test_the_json_form_carries_the_typed_names() -> None:
    data = parse_command("We met on Tuesday").to_json()
    assert data["status"] == "meeting" and data["from_free_text"] is True and data["keyword"] is None
    assert parse_command("WON $10").to_json()["keyword"] == "won"
