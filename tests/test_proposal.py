"""Consent-first introductions: reading proposals and answers, and the ready-to-send link."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refmail.config import Config, config_from_dict
from refmail.policy.draft import MAX_MAILTO, intro_draft, intro_mailto
from refmail.reading.proposal import (
    ANSWER_KEYWORDS,
    Answer,
    Person,
    Proposal,
    read_answer,
    read_proposal,
)
from refmail.render.renderer import mailto_link

TRACKER = "refs@harbornet.example"
NADIA = "nadia@ruiz.example"  # the referrer in every proposal below


@pytest.fixture(scope="module")
def config() -> Config:
    return config_from_dict({
        "group": {"name": "Harbor Business Network", "tracking_address": TRACKER},
        "members": [
            {"name": "Nadia Ruiz", "email": NADIA, "aliases": ["nadia.ruiz@gmail.example"]},
            {"name": "Omar Haddad", "email": "omar@haddad-it.example",
             "business": "IT support for small offices", "aliases": ["omar.h@gmail.example"]},
            {"name": "Tom Becker", "email": "tom@beckerroofing.example", "business": "Residential roofing"},
        ],
    })


CARL = ("carl@winters.example", "Carl Winters")
BETTY = ("betty@smithbooks.example", "Betty Smith")
OMAR = ("omar@haddad-it.example", "Omar Haddad")

#: (id, text, the people expected in order as (address, name)).
PROPOSALS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("angle-brackets",
     "Hi,\n\nI'd like to introduce Carl Winters <carl@winters.example> to Betty Smith "
     "<betty@smithbooks.example>.\n\nThanks,\nNadia", [CARL, BETTY]),
    ("bare-addresses",
     "Could you check with carl.winters@winters.example and betty@smithbooks.example?",
     [("carl.winters@winters.example", "Carl Winters"), ("betty@smithbooks.example", "Betty")]),
    ("parentheses",
     "Please ask Carl Winters (carl@winters.example) whether he'd like to meet Betty Smith "
     "(betty@smithbooks.example).", [CARL, BETTY]),
    ("rfc822-comment",
     "carl@winters.example (Carl Winters) and betty@smithbooks.example (Betty Smith)", [CARL, BETTY]),
    ("mailto-inline",
     "Carl Winters mailto:carl@winters.example should meet Betty Smith mailto:betty@smithbooks.example",
     [CARL, BETTY]),
    ("outlook-html-to-text",
     "I'd like Carl Winters [mailto:carl@winters.example] to meet Betty Smith "
     "[mailto:betty@smithbooks.example].", [CARL, BETTY]),
    ("angle-mailto",
     "Carl Winters <mailto:carl@winters.example> and\n"
     "betty@smithbooks.example<mailto:betty@smithbooks.example>",
     [CARL, ("betty@smithbooks.example", "Betty")]),
    ("quoted-last-first",
     'To: "Winters, Carl" <carl@winters.example>, "Betty Smith" <betty@smithbooks.example>', [CARL, BETTY]),
    ("name-line-then-address",
     "Please ask these two:\n\nCarl Winters\ncarl@winters.example\n\nBetty Smith\nbetty@smithbooks.example\n",
     [CARL, BETTY]),
    ("labelled-lines",
     "Name: Carl Winters\nEmail: carl@winters.example\n\nName: Betty Smith\nE-Mail: betty@smithbooks.example",
     [CARL, BETTY]),
    ("bullets",
     "I'd like to introduce:\n- Carl Winters <carl@winters.example>, who needs a bookkeeper\n"
     "* Betty Smith, betty@smithbooks.example\n", [CARL, BETTY]),
    ("numbered-dashes",
     "1. Carl Winters – carl@winters.example\n2. Betty Smith: betty@smithbooks.example", [CARL, BETTY]),
    ("markdown-links",
     "[Carl Winters](mailto:carl@winters.example) meet [Betty Smith](mailto:betty@smithbooks.example)",
     [CARL, BETTY]),
    ("german",
     "Hallo,\n\nich möchte Carl Winters (carl@winters.example) mit Betty Schmidt (betty@schmidt.example) "
     "bekannt machen.\n\nViele Grüße\nNadia",
     [CARL, ("betty@schmidt.example", "Betty Schmidt")]),
    ("german-titles",
     "Bitte frag Herrn Carl Winters (carl@winters.example), ob er Frau Betty Schmidt "
     "<betty@schmidt.example> kennenlernen möchte.", [CARL, ("betty@schmidt.example", "Betty Schmidt")]),
    ("german-noun-before-name",
     "Ich würde gern meinen Kunden Carl Winters (carl.winters@winters.example) mit Omar bekannt machen: "
     "omar@haddad-it.example", [("carl.winters@winters.example", "Carl Winters"), OMAR]),
    ("spanish",
     "Hola,\n\nMe gustaría presentar a Carl Winters (carl@winters.example) a Betty Smith "
     "(betty@smithbooks.example).\n\nSaludos,\nNadia", [CARL, BETTY]),
    ("spanish-accents",
     "Quiero presentar a José Núñez <jose@nunez.example> y María López (maria.lopez@lopez.example).",
     [("jose@nunez.example", "José Núñez"), ("maria.lopez@lopez.example", "María López")]),
    ("french",
     "Bonjour,\n\nJ'aimerais présenter Carl Winters (carl@winters.example) à Betty Smith "
     "<betty@smithbooks.example>.\n\nCordialement,\nNadia", [CARL, BETTY]),
    ("french-particle",
     "J'aimerais présenter Anne de la Roche <anne@delaroche.example> à Jean-Luc Martin (jl@martin.example).",
     [("anne@delaroche.example", "Anne de la Roche"), ("jl@martin.example", "Jean-Luc Martin")]),
    ("apostrophe-names",
     "Seán O'Brien <sean@obrien.example> should meet Betty Smith <betty@smithbooks.example>",
     [("sean@obrien.example", "Seán O'Brien"), BETTY]),
    ("referrer-signature-excluded",
     "Please ask Carl Winters <carl@winters.example> about Betty Smith <betty@smithbooks.example>.\n\n"
     "-- \nNadia Ruiz\nRuiz Consulting\nnadia@ruiz.example | +1 555 0100", [CARL, BETTY]),
    ("referrer-alias-excluded",
     "From me (nadia.ruiz@gmail.example): Carl Winters <carl@winters.example> and Betty Smith "
     "<betty@smithbooks.example>", [CARL, BETTY]),
    ("tracker-excluded",
     "cc refs@harbornet.example and refs+ask@harbornet.example: Carl Winters <carl@winters.example>, "
     "Betty Smith <betty@smithbooks.example>", [CARL, BETTY]),
    ("duplicates-and-case",
     "Carl.Winters@Winters.Example is Carl Winters <carl.winters@winters.example>; Betty "
     "<BETTY@smithbooks.example> (betty@smithbooks.example)",
     [("carl.winters@winters.example", "Carl Winters"), ("betty@smithbooks.example", "Betty")]),
    ("member-alias-canonical",
     "Carl Winters <carl@winters.example> would like to meet Omar <omar.h@gmail.example>.", [CARL, OMAR]),
    ("member-name-from-config",
     "carl@winters.example should talk to omar@haddad-it.example", [("carl@winters.example", "Carl"), OMAR]),
    ("generic-mailbox-with-name",
     "Lumen Dental (info@lumendental.example) needs Omar Haddad <omar@haddad-it.example>",
     [("info@lumendental.example", "Lumen Dental"), OMAR]),
    ("generic-mailbox",
     "Their office, info@lumendental.example, needs Omar Haddad <omar@haddad-it.example>",
     [("info@lumendental.example", ""), OMAR]),
    ("sentence-end",
     "Betty's address is betty@smithbooks.example. Carl's is carl@winters.example.",
     [("betty@smithbooks.example", "Betty"), ("carl@winters.example", "Carl")]),
    ("three-people",
     "Ann Lee <ann@lee.example> and Bob Lee <bob@lee.example> need a roofer: Tom Becker "
     "<tom@beckerroofing.example>.",
     [("ann@lee.example", "Ann Lee"), ("bob@lee.example", "Bob Lee"),
      ("tom@beckerroofing.example", "Tom Becker")]),
    ("quoted-history-ignored",
     "Please ask Carl Winters <carl@winters.example> and Betty Smith <betty@smithbooks.example>.\n\n"
     "On Mon, Nov 13, 2023 at 9:00 AM Dana Jones <dana@jones.example> wrote:\n"
     "> Dana Jones <dana@jones.example> here, happy to help.\n", [CARL, BETTY]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in PROPOSALS],
                         ids=[i for i, _, _ in PROPOSALS])
def test_people_named_in_the_text(config: Config, text: str, expected: list[tuple[str, str]]) -> None:
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert [(p.address, p.name) for p in proposal.people] == expected
    assert all(p.address == p.address.lower() for p in proposal.people)
    assert NADIA not in {p.address for p in proposal.people}
    assert not any(config.is_tracking_address(p.address) for p in proposal.people)


def test_there_are_enough_proposal_cases() -> None:
    assert len(PROPOSALS) >= 25


def test_roles_from_the_text(config: Config) -> None:
    text = ("I'd like to introduce Carl Winters <carl@winters.example> to Betty Smith "
            "<betty@smithbooks.example>. Carl is looking for a bookkeeper.")
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert proposal.provider == "betty@smithbooks.example"
    assert proposal.prospects == ["carl@winters.example"]
    assert "Carl" in proposal.reason


def test_roles_from_membership(config: Config) -> None:
    text = ("Bitte frag Grace Liu (grace@lumendental.example), ob sie Omar (omar@haddad-it.example) "
            "treffen will.")
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert proposal.provider == "omar@haddad-it.example"
    assert proposal.prospects == ["grace@lumendental.example"]


def test_roles_are_never_guessed(config: Config) -> None:
    text = "Carl Winters <carl@winters.example> and Betty Smith <betty@smithbooks.example> should meet."
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert proposal.provider is None and proposal.prospects == []
    assert "roles unknown" in proposal.reason


def test_referrer_given_as_an_alias_is_excluded(config: Config) -> None:
    text = ("Carl Winters <carl@winters.example>, Betty Smith <betty@smithbooks.example>\n"
            "-- \nnadia@ruiz.example")
    proposal = read_proposal(text, referrer="Nadia.Ruiz@gmail.example", config=config)
    assert [p.address for p in proposal.people] == [CARL[0], BETTY[0]]


def test_text_is_the_members_own_words(config: Config) -> None:
    text = ("Please ask Carl Winters <carl@winters.example> about Betty Smith <betty@smithbooks.example>.\n\n"
            "On Mon, Nov 13, 2023 at 9:00 AM Dana Jones <dana@jones.example> wrote:\n> old news\n\n"
            "-- \nNadia Ruiz\nnadia@ruiz.example\n")
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert proposal.text.startswith("Please ask Carl Winters")
    assert "old news" not in proposal.text and "nadia@ruiz.example" not in proposal.text


def test_addresses_in_a_forward_below_are_read_when_the_words_name_nobody(config: Config) -> None:
    text = ("Could you check whether these two would like an intro?\n\n"
            "---------- Forwarded message ---------\n"
            "From: Carl Winters <carl@winters.example>\nDate: Mon, Nov 13, 2023\nSubject: bookkeeping\n"
            "To: Nadia Ruiz <nadia@ruiz.example>\n\nDo you know a bookkeeper? Betty Smith "
            "<betty@smithbooks.example> was mentioned.\n")
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert [(p.address, p.name) for p in proposal.people] == [CARL, BETTY]


def test_html_mailto_anchors(config: Config) -> None:
    html = ('<div>Please ask <a href="mailto:carl@winters.example">Carl Winters</a> and '
            '<a href="MAILTO:betty@smithbooks.example?subject=hi"><b>Betty Smith</b></a> &amp; thanks</div>')
    proposal = read_proposal("", referrer=NADIA, config=config, html=html)
    assert [(p.address, p.name) for p in proposal.people] == [CARL, BETTY]


@pytest.mark.parametrize(
    "text", ["", "Just me: nadia@ruiz.example", "Only Carl <carl@winters.example>, sorry"]
)
def test_fewer_than_two_people(config: Config, text: str) -> None:
    proposal = read_proposal(text, referrer=NADIA, config=config)
    assert len(proposal.people) < 2
    assert proposal.provider is None and "two people" in proposal.reason


def test_person_first_name() -> None:
    assert Person("carl@winters.example", "Carl Winters").first_name == "Carl"
    assert Person("info@lumendental.example", "").first_name == "info@lumendental.example"


# --------------------------------------------------------------------------- answers

#: (reply, decision, does_work)
ANSWERS: list[tuple[str, str | None, bool | None]] = [
    ("YES", "yes", None), ("yes please", "yes", None), ("Sure, happy to!", "yes", None),
    ("Sounds great", "yes", None), ("Of course, I'd love that.", "yes", None), ("Gerne", "yes", None),
    ("Ja, sehr gerne!", "yes", None), ("Sí, claro", "yes", None), ("oui volontiers", "yes", None),
    ("Avec plaisir", "yes", None), ("No problem, happy to", "yes", None),
    ("NO", "no", None), ("No thanks", "no", None), ("not interested", "no", None), ("Nein danke", "no", None),
    ("no gracias", "no", None), ("Non merci", "no", None), ("I'd rather not.", "no", None),
    ("NOT NOW", "later", None), ("not now", "later", None), ("Maybe later", "later", None),
    ("Not right now, we're moving offices.", "later", None), ("Später", "later", None),
    ("Vielleicht später", "later", None), ("ahora no", "later", None), ("pas maintenant", "later", None),
    ("Yes, but not right now", "later", None), ("No, not at the moment", "later", None),
    ("NOT WORK I DO", "no", False), ("Not work I do, sorry", "no", False),
    ("That's not something I do", "no", False), ("Outside my area, I'm afraid.", "no", False),
    ("I don't do that kind of work", "no", False), ("Das mache ich nicht", "no", False),
    ("No es lo mío", "no", False), ("Ce n'est pas mon domaine", "no", False),
    ("Yes, that's exactly what I do", "yes", True), ("That's exactly what I do!", "yes", True),
    ("Right up my street, but not this month", "later", True),
    ("not sure yet", None, None), ("I'm not happy about being asked", None, None),
    ("Let me think about it", None, None), ("Who is this?", None, None), ("", None, None),
    ("Thanks for thinking of me.\n\nI'd love to, yes.", "yes", None),
]


@pytest.mark.parametrize(("text", "decision", "does_work"), ANSWERS)
def test_answers(text: str, decision: str | None, does_work: bool | None) -> None:
    answer = read_answer(text)
    assert isinstance(answer, Answer)
    assert (answer.decision, answer.does_work) == (decision, does_work)


def test_there_are_enough_answer_cases() -> None:
    assert len(ANSWERS) >= 30
    assert {d for _, d, _ in ANSWERS} == {"yes", "no", "later", None}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("YES ", ""),
        ("NOT NOW ", ""),
        ("No thanks, I already have an accountant.", "I already have an accountant."),
        ("NO\nWe just hired someone for this.", "We just hired someone for this."),
        ("Not work I do, sorry. Try Dana Jones, she does payroll.", "Try Dana Jones, she does payroll."),
        ("Thanks for asking, but not right now: we're moving.",
         "Thanks for asking, but not right now: we're moving."),
        ("not sure yet", "not sure yet"),
        ("Hi Nadia,\nYes please!\nLooking forward to it.", "Hi Nadia,\nLooking forward to it."),
    ],
)
def test_free_text_is_kept_as_the_reason(text: str, reason: str) -> None:
    assert read_answer(text).reason == reason


def test_only_the_first_lines_decide() -> None:
    text = "Hello Nadia,\nthanks for the note.\nI will think about it.\nNo rush.\nYes, I read it all."
    assert read_answer(text).decision is None
    assert "Yes, I read it all." in read_answer(text).reason


def test_quoted_lines_are_not_answers() -> None:
    assert read_answer("> Reply YES, NO or NOT NOW\nLet me check my calendar").decision is None


@pytest.mark.parametrize(("keyword", "decision", "does_work"),
                         [("YES", "yes", None), ("NO", "no", None), ("NOT NOW", "later", None),
                          ("NOT WORK I DO", "no", False)])
def test_one_click_answers_mean_what_they_say(keyword: str, decision: str, does_work: bool | None) -> None:
    """The contract with the templates' buttons: the body a button sends is read as its keyword."""
    assert keyword in ANSWER_KEYWORDS
    body = parse_qs(urlsplit(mailto_link("refs+t@harbornet.example", "R-3", keyword)).query)["body"][0]
    answer = read_answer(body)
    assert (answer.decision, answer.does_work, answer.reason) == (decision, does_work, "")


# --------------------------------------------------------------------------- the introduction


def parse_link(uri: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(uri)
    assert parts.scheme == "mailto"
    # RFC 6068 never uses "+" for a space; nothing here may be read that way.
    assert " " not in uri and "+" not in parts.query and "\n" not in uri
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True, strict_parsing=True).items()}
    return [unquote(a) for a in parts.path.split(",")], query


PEOPLE = [Person("carl@winters.example", "Carl Winters"),
          Person("betty+intro@smithbooks.example", "Betty Smith")]


def test_intro_mailto_round_trips() -> None:
    body = ("Hi Carl and Betty,\n\nMeet each other: 50% = fine & more? #1\nJosé Müller says “hi”.\n\n"
            "Best,\nNadia\n")
    uri = intro_mailto(referrer_name="Nadia Ruiz", to=PEOPLE, cc=TRACKER,
                       subject="Introduction: Carl <> Betty", body=body)
    to, query = parse_link(uri)
    assert to == ["carl@winters.example", "betty+intro@smithbooks.example"]
    assert set(query) == {"cc", "subject", "body"}
    assert query["cc"] == TRACKER
    assert query["subject"] == "Introduction: Carl <> Betty"
    assert query["body"] == body.replace("\n", "\r\n")  # RFC 6068: CRLF line breaks
    assert "%0D%0A" in uri and "%20" in uri and "%26" in uri and "%3D" in uri and "%23" in uri
    assert uri.startswith("mailto:carl@winters.example,betty+intro@smithbooks.example?cc=")
    assert len(uri) <= MAX_MAILTO


@pytest.mark.parametrize("filler", ["word ", "très long é ", "日本語のテキスト "])
def test_a_long_body_is_shortened_to_fit(filler: str) -> None:
    body = ("Hi Carl and Betty,\n\nI'm delighted to introduce you.\n\n" + filler * 400
            + "\n\nI'll let you take it from here.\n\nBest,\nNadia\n")
    uri = intro_mailto(referrer_name="Nadia Ruiz", to=PEOPLE, cc=TRACKER,
                       subject="Introduction: Carl <> Betty", body=body)
    assert len(uri) <= MAX_MAILTO
    to, query = parse_link(uri)
    assert to == [p.address for p in PEOPLE] and query["cc"] == TRACKER
    text = query["body"]
    assert text.startswith("Hi Carl and Betty,\r\n\r\n")
    assert text.endswith("I'll let you take it from here.\r\n\r\nBest,\r\nNadia\r\n")
    assert "[…]" in text
    assert len(text) > 200, "as much of the middle as fits is kept"
    kept = text.split("[…]")[0]
    assert filler.strip() in kept


def test_a_short_body_is_not_touched() -> None:
    body = "Hi,\n\nMeet.\n"
    _, query = parse_link(intro_mailto(referrer_name="Nadia", to=PEOPLE, cc=TRACKER, subject="S", body=body))
    assert query["body"] == "Hi,\r\n\r\nMeet.\r\n"


def test_a_body_without_paragraphs_is_cut_hard() -> None:
    uri = intro_mailto(referrer_name="Nadia", to=PEOPLE, cc=TRACKER, subject="S", body="x" * 5000)
    assert len(uri) <= MAX_MAILTO
    _, query = parse_link(uri)
    assert query["body"] and set(query["body"]) == {"x"}


def test_intro_draft(config: Config) -> None:
    text = ("Hi refmail,\n\nI'd like to introduce Grace Liu <grace@lumendental.example> to Omar "
            "(omar@haddad-it.example). Grace runs Lumen Dental and needs someone for her computers.\n\n"
            "Thanks!\nNadia")
    proposal = read_proposal(text, referrer=NADIA, config=config)
    subject, body = intro_draft(proposal, "Nadia Ruiz", config)
    assert subject == "Introduction: Grace <> Omar"
    assert body.startswith("Hi Grace and Omar,\n")
    assert "Grace runs Lumen Dental and needs someone for her computers." in body
    assert "Omar: IT support for small offices" in body  # the member's line from the config
    assert "@" not in body and "refmail" not in body
    assert body.rstrip().endswith("Best,\nNadia")
    uri = intro_mailto(referrer_name="Nadia Ruiz", to=proposal.people, cc=TRACKER, subject=subject, body=body)
    to, query = parse_link(uri)
    assert to == ["grace@lumendental.example", "omar@haddad-it.example"]
    assert query["body"].replace("\r\n", "\n") == body


def test_intro_draft_for_three(config: Config) -> None:
    proposal = Proposal([Person("ann@lee.example", "Ann Lee"), Person("bob@lee.example", "Bob Lee"),
                         Person("tom@beckerroofing.example", "Tom Becker")], None, [], "", "")
    subject, body = intro_draft(proposal, "Nadia Ruiz", config)
    assert subject == "Introduction: Ann <> Bob <> Tom"
    assert body.startswith("Hi Ann, Bob and Tom,\n")


# --------------------------------------------------------------------------- robustness


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(alphabet="<>()[]\"'@.:,-_ \nabcXYZ mailto", max_size=200))
def test_read_proposal_never_raises(config: Config, text: str, noise: str) -> None:
    for candidate in (text, noise, noise + " carl@winters.example " + text):
        proposal = read_proposal(candidate, referrer=NADIA, config=config)
        assert all("@" in p.address and p.address == p.address.lower() for p in proposal.people)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_read_answer_never_raises(text: str) -> None:
    answer = read_answer(text)
    assert answer.decision in {"yes", "no", "later", None}
    assert answer.does_work in {True, False, None}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=3000), st.text(max_size=80))
def test_intro_mailto_always_fits_and_parses(body: str, subject: str) -> None:
    uri = intro_mailto(referrer_name="Nadia Ruiz", to=PEOPLE, cc=TRACKER, subject=subject, body=body)
    assert len(uri) <= MAX_MAILTO
    to, query = parse_link(uri)
    assert to == [p.address for p in PEOPLE] and query["cc"] == TRACKER


def test_long_hostile_input_stays_fast(config: Config) -> None:
    hostile = "a#" * 20000 + "@" + "b" * 5000 + " " * 20000 + "(" * 5000
    proposal = read_proposal(hostile, referrer=NADIA, config=config)
    assert proposal.people == []
    assert read_answer("yes " * 10000).decision == "yes"
