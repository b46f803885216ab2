"""Provider and prospect(s) of an introduction: refmail.reading.roles.

The realistic intros live in tests/data/roles.json (one object per case: the
text, the parties as the classifier passes them, and the expected provider
and prospects). Each case asserts both exactly; "unknown" cases expect
``provider`` None and no prospects — refmail then asks the referrer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refmail.config import config_from_dict
from refmail.reading.roles import CUES, Party, Roles, assign_roles, fold

CASES = json.loads((Path(__file__).parent / "data" / "roles.json").read_text(encoding="utf-8"))


def _parties(case: dict) -> list[Party]:
    return [Party(p["address"], p["name"], p["member"]) for p in case["parties"]]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_intro_cases(case: dict) -> None:
    roles = assign_roles(case["text"], _parties(case))
    assert (roles.provider, roles.prospects) == (case["provider"], case["prospects"]), roles.reason
    assert roles.reason


def test_the_cases_cover_what_the_brief_asks() -> None:
    langs = {c["lang"] for c in CASES}
    assert {"en", "de", "es", "fr", "it", "pt", "nl", "pl", "sv"} <= langs
    assert len(CASES) >= 30
    assert any(c["provider"] is None for c in CASES)
    assert any(len(c["prospects"]) > 1 for c in CASES)
    assert any(not p["name"] for c in CASES for p in c["parties"])


# -- one sentence per cue row: "Ann <phrase>", Ann and Bob, nobody a member ----------
ANN, BOB = Party("ann@example.org", "Ann Lee", False), Party("bob@example.org", "Bob Roe", False)

PROVIDER_PHRASES = [
    "is the accountant I mentioned",
    "is the roofer I told you about",
    "is a great electrician",
    "can help you with that",
    "could definitely help",
    "specializes in payroll for restaurants",
    "is an expert in old houses",
    "has been looking after my books for years",
    "fixes roofs all over town",
    "is looking for new clients in the area",
    "ist der Dachdecker, von dem ich dir erzählt habe",
    "kann dir sicher helfen",
    "ist spezialisiert auf Steuerrecht",
    "ist Expertin für Netzwerke",
    "betreut seit Jahren unsere Buchhaltung",
    "es el contable del que te hablé",
    "puede ayudarte con eso",
    "se especializa en seguros",
    "es experta en marketing",
    "est le comptable dont je t'ai parlé",
    "peut t'aider",
    "est spécialisée dans les successions",
    "est experte en informatique",
    "s'occupe de nos comptes depuis des années",
]
PROSPECT_PHRASES = [
    "needs a new roof",
    "is looking for an accountant",
    "'s looking for a photographer",
    "is searching for a good lawyer",
    "asked me for a recommendation",
    "could use some help with her website",
    "has a problem with his laptop",
    "is interested in solar panels",
    "wants a new kitchen",
    "sucht einen Steuerberater",
    "braucht eine neue Website",
    "ist auf der Suche nach einem Fotografen",
    "benötigt Hilfe bei der Buchhaltung",
    "hat Bedarf an einer IT-Betreuung",
    "busca un abogado",
    "necesita un fontanero",
    "está buscando una diseñadora",
    "cherche un plombier",
    "recherche un avocat",
    "a besoin d'un comptable",
    "est à la recherche d'un photographe",
    "souhaite refaire sa cuisine",
]


@pytest.mark.parametrize("phrase", PROVIDER_PHRASES)
def test_provider_cue(phrase: str) -> None:
    roles = assign_roles(f"Bob, meet Ann. Ann {phrase}.", [BOB, ANN])
    assert (roles.provider, roles.prospects) == (ANN.address, [BOB.address]), roles.reason


@pytest.mark.parametrize("phrase", PROSPECT_PHRASES)
def test_prospect_cue(phrase: str) -> None:
    roles = assign_roles(f"Bob, meet Ann. Ann {phrase}.", [BOB, ANN])
    assert (roles.provider, roles.prospects) == (BOB.address, [ANN.address]), roles.reason


@pytest.mark.parametrize("phrase", [
    "doesn't need a roof",
    "is not looking for an accountant",
    "no longer needs a lawyer",
    "braucht keinen Steuerberater",
    "sucht nicht mehr",
    "no necesita abogado",
    "ne cherche pas de plombier",
    "n'a pas besoin d'un comptable",
    "wants to meet you",
    "would like to say hello",
    "is looking after her mother",  # not "looking for"
    "was great company at dinner",
])
def test_not_a_cue(phrase: str) -> None:
    roles = assign_roles(f"Bob, meet Ann. Ann {phrase}.", [BOB, ANN])
    assert roles.provider is None and roles.prospects == [], roles.reason


def test_names_match_accents_either_way() -> None:
    parties = [Party("zoe@example.fr", "Zoë Martin", False), Party("f@example.fr", "Francois D", False)]
    roles = assign_roles("Francois, voici Zoe. Zoe est la comptable dont je t'ai parlé.", parties)
    assert roles.provider == "zoe@example.fr"
    roles = assign_roles("François cherche un comptable, Zoë aussi peut-être.", parties)
    assert roles.provider == "zoe@example.fr" and roles.prospects == ["f@example.fr"]


def test_name_from_config_when_the_header_has_none() -> None:
    config = config_from_dict({
        "group": {"name": "G", "tracking_address": "refs@g.example"},
        "members": [{"name": "Omar Haddad", "email": "oh@haddadtech.example"}],
    })
    parties = [Party("oh@haddadtech.example", "", True), Party("g@l.example", "Grace Liu", False)]
    roles = assign_roles("Grace, Omar is the IT person I told you about.", parties, config)
    assert "Omar" in roles.reason and roles.provider == "oh@haddadtech.example"


def test_fewer_than_two_parties_is_unknown_and_duplicates_count_once() -> None:
    for parties in ([ANN], [], [ANN, ANN]):
        roles = assign_roles("Ann needs a roofer.", parties)
        assert isinstance(roles, Roles)
        assert (roles.provider, roles.prospects) == (None, []) and "two" in roles.reason
    roles = assign_roles("Bob, meet Ann. Ann needs a roofer.", [ANN, ANN, BOB])
    assert (roles.provider, roles.prospects) == (BOB.address, [ANN.address])


def test_an_unknown_verdict_says_why() -> None:
    roles = assign_roles("Ann, meet Bob. Enjoy!", [ANN, BOB])
    assert roles.provider is None and "no role cues" in roles.reason and "member" in roles.reason


def test_the_reason_says_what_was_found_and_what_is_missing() -> None:
    roles = assign_roles("Ann, say hello to my friend. Enjoy!", [ANN, BOB])
    assert roles.provider is None
    assert "names Ann (and not Bob)" in roles.reason and "what Ann needs or offers" in roles.reason
    roles = assign_roles("Hi both, you should talk.", [ANN, BOB])
    assert "names neither Ann nor Bob" in roles.reason


def test_roles_laid_out_in_an_html_table() -> None:
    from refmail.mail.decoding import html_to_text

    html = ("<p>Introducing you two:</p><table><tr><th>Name</th><th>Needs</th><th>Offers</th></tr>"
            "<tr><td>Ann Lee</td><td>a new roof</td><td></td></tr>"
            "<tr><td>Bob Roe</td><td></td><td>roofing, 20 years</td></tr></table>")
    roles = assign_roles(html_to_text(html), [ANN, BOB])
    assert (roles.provider, roles.prospects) == (BOB.address, [ANN.address]), roles.reason
    labelled = "<table><tr><td>Ann Lee</td><td>Sucht: ein Dach</td></tr><tr><td>Bob Roe</td>" \
               "<td>Bietet: Dächer</td></tr></table>"
    roles = assign_roles(html_to_text(labelled), [ANN, BOB])
    assert (roles.provider, roles.prospects) == (BOB.address, [ANN.address]), roles.reason


def test_fold_keeps_length() -> None:
    text = "Björn Søren Zoë François Łukasz Straße “quoted” it’s"
    assert len(fold(text)) == len(text)
    assert fold(text) == "Bjorn Soren Zoe Francois Lukasz Strase \"quoted\" it's"


def test_every_cue_row_is_indexed_and_groups_do_not_capture() -> None:
    import re

    from refmail.reading import role_cues as module

    assert module.INDEX.by_key is not None  # first-word index built (else slow fallback)
    indexed = {i for rows in module.INDEX.by_key.values() for i in rows}
    assert indexed == set(range(len(module.INDEX.rows)))
    for cue in CUES:
        assert re.compile(fold(cue.pattern)).groups == 0, cue.pattern


def test_a_long_text_is_read_in_bounded_time_and_gives_an_answer() -> None:
    text = CASES[0]["text"] * 400  # ~80 KB: only the first MAX_CHARS are read
    roles = assign_roles(text, _parties(CASES[0]))
    assert roles.provider == CASES[0]["provider"]


# -- properties ----------------------------------------------------------------------
_WORDS = st.sampled_from([
    "Ann", "Bob", "Zoë", "needs", "is looking for", "is the accountant I mentioned", "can help",
    "meet", ",", ".", ";", ":", "\n", "\n\n", "she", "he", "they", "you", "who", "that", "I",
    "doesn't", "sucht", "braucht", "kann dir helfen", "busca", "cherche", "peut t'aider",
    "(", ")", "'s", "and", "et", "und", "y", "Hi", "Dear", "Sie", "sie", "él", "el", ">",
    "From: x", "the", "her", "to look after", "new clients", "Dr.", "J.", "…", "ß", "İ",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(_WORDS | st.text(max_size=8), max_size=40),
    members=st.lists(st.booleans(), min_size=0, max_size=4),
    names=st.lists(st.sampled_from(["Ann Lee", "Bob Roe", "", "Zoë", "ann", "A", "Lee, Ann"]),
                   min_size=4, max_size=4),
)
def test_never_raises_never_invents_parties(words: list[str], members: list[bool],
                                            names: list[str]) -> None:
    addresses = ["ann@x.example", "bob.roe@y.example", "zoe@z.example", "info@w.example"]
    parties = [Party(a, n, m) for a, n, m in zip(addresses, names, members, strict=False)]
    roles = assign_roles(" ".join(words), parties)
    known = {p.address for p in parties}
    assert roles.provider is None or roles.provider in known
    assert set(roles.prospects) <= known
    assert roles.provider not in roles.prospects
    assert len(roles.prospects) == len(set(roles.prospects))
    if roles.provider is None:
        assert roles.prospects == []
    else:
        assert sorted([roles.provider, *roles.prospects]) == sorted(known)
    assert roles.reason
    # the order the headers list the parties in decides nothing
    again = assign_roles(" ".join(words), parties[::-1])
    assert (again.provider, sorted(again.prospects)) == (roles.provider, sorted(roles.prospects))


# -- traps found while reading real intros ------------------------------------------
@pytest.mark.parametrize(("text", "provider", "prospects"), [
    # a client is no trade: "the client I mentioned" does not make Ann the provider
    ("Bob, this is Ann, the client I mentioned who needs a new roof.", None, []),
    # "no" before a noun is no negation of the verb
    ("Bob, meet Ann. Ann has no bookkeeper and needs one.", "bob@example.org", ["ann@example.org"]),
    # "not only" negates nothing
    ("Bob, meet Ann. Ann braucht nicht nur eine Website, sondern auch ein Logo.",
     "bob@example.org", ["ann@example.org"]),
    # "you" is whoever was addressed last
    ("Hi Ann,\n\nBob is an amazing photographer. You were looking for one, right?",
     "bob@example.org", ["ann@example.org"]),
    # a vocative before an appositive: the addressee is not the one described
    ("Ann, the accountant I told you about is Bob Roe.", "bob@example.org", ["ann@example.org"]),
    # "Ann and Bob" share the cue; Carl is left
    ("Carl, Ann and Bob are looking for a roofer.", "carl@example.org",
     ["ann@example.org", "bob@example.org"]),
    # "needs more customers" is no cue either way (a marketer's prospect says it too)
    ("Bob needs more customers; Ann is the marketing expert I told you about.",
     "ann@example.org", ["bob@example.org"]),
])
def test_traps(text: str, provider: str | None, prospects: list[str]) -> None:
    carl = Party("carl@example.org", "Carl Diaz", False)
    parties = [ANN, BOB, carl] if "Carl" in text else [ANN, BOB]
    roles = assign_roles(text, parties)
    assert (roles.provider, roles.prospects) == (provider, prospects), roles.reason


def test_the_word_index_finds_what_trying_every_row_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    from refmail.reading import role_cues

    def no_parser(pattern: str) -> set[str]:
        raise ImportError("no parser")

    patterns = [row.pattern[len(role_cues.BOUNDARY):] for row in role_cues.INDEX.rows]
    monkeypatch.setattr(role_cues, "_heads", no_parser)
    everywhere = role_cues.Rows(patterns, [cue.requires for cue in CUES])
    assert everywhere.by_key is None  # the fallback: every row at every word
    texts = [case["text"] for case in CASES] + [f"Ann {p}." for p in PROVIDER_PHRASES]
    for text in texts:
        folded = fold(text)
        lower = folded.lower()
        keys = role_cues.text_keys(lower)
        assert role_cues.INDEX.find(folded, lower, keys) == everywhere.find(folded, lower, keys)
