"""The consent-first emails: every step renders, safely, with buttons that mean what they say."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import lxml.etree
import lxml.html
import pytest

from refmail.config import Config, config_from_dict
from refmail.policy.draft import intro_mailto
from refmail.reading.proposal import ANSWER_KEYWORDS, Person, read_answer
from refmail.render.renderer import CONSENT_STEPS, Renderer, template_name

TRACKER = "refs@harbornet.example"
REPLY = "refs+r12.k3j5x8q2abcdmn4p@harbornet.example"
EVIL = '<script>alert(1)</script> & "Bob" <b>'


def person(name: str, email: str, **more: str) -> dict[str, str]:
    return {"name": name, "first_name": name.split()[0], "email": email, **more}


NADIA = person("Nadia Ruiz", "nadia@ruiz.example")
OMAR = person("Omar Haddad", "omar@haddad-it.example", business="IT support for small offices")
GRACE = person("Grace Liu", "grace@lumendental.example")
DRAFT = {"subject": "Introduction: Grace <> Omar",
         "body": "Hi Grace and Omar,\n\nI'm delighted to introduce you to each other.\n\nBest,\nNadia\n"}


def link_for(draft: dict[str, str] = DRAFT, people: tuple[dict[str, str], ...] = (GRACE, OMAR)) -> str:
    return intro_mailto(referrer_name="Nadia Ruiz", to=[Person(p["email"], p["name"]) for p in people],
                        cc=TRACKER, subject=draft["subject"], body=draft["body"])


#: Who each step goes to, and what else it needs (templates/README.md, "Consent-first introductions").
STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "proposal_ack": {"recipient": NADIA, "asked": [GRACE]},
    "consent_request": {"recipient": GRACE},
    "consent_request_prospect": {"recipient": GRACE},
    "consent_request_provider": {"recipient": OMAR},
    "consent_reminder": {"recipient": GRACE},
    "consent_ready": {"recipient": NADIA, "asked": [GRACE, OMAR], "intro_link": link_for(), "draft": DRAFT},
    "consent_declined": {"recipient": NADIA,
                         "answer": {"decision": "no", "does_work": None, "reason": "", "by": GRACE}},
    "consent_expired": {"recipient": NADIA, "asked": [GRACE]},
}


def make_context(step: str, **overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "group": {"name": "Harbor Business Network", "tracking_address": TRACKER},
        "referral": {"id": 12, "tag": "R-12", "subject": "", "status": "proposed", "status_label": "proposed",
                     "introduced_on": "Nov 16", "value": None, "currency": None},
        "referrer": NADIA,
        "provider": OMAR,
        "prospects": [GRACE],
        "parties": [GRACE, OMAR],
        "reply_address": REPLY,
    }
    context.update(STEP_DEFAULTS[step])
    context.update(overrides)
    return context


CASES: list[tuple[str, dict[str, Any]]] = [
    ("proposal_ack", {}),
    ("proposal_ack", {"asked": [GRACE, OMAR], "deadline": "Nov 23"}),
    ("proposal_ack", {"asked": [], "provider": None, "prospects": []}),
    ("consent_request_prospect", {}),
    ("consent_request_prospect", {"note": "Grace's practice keeps losing files."}),
    ("consent_request_prospect", {"provider": None, "prospects": []}),
    ("consent_request_provider", {}),
    ("consent_request_provider", {"note": "Grace runs Lumen Dental."}),
    ("consent_reminder", {}),
    ("consent_reminder", {"recipient": OMAR}),
    ("consent_ready", {}),
    ("consent_ready", {"asked": [GRACE]}),
    ("consent_declined", {}),
    ("consent_declined", {"answer": {"decision": "later", "does_work": None, "reason": "Busy until March.",
                                     "by": GRACE}}),
    ("consent_declined", {"answer": {"decision": "no", "does_work": False, "reason": "I only do networks.",
                                     "by": OMAR}}),
    ("consent_expired", {}),
]
IDS = [f"{step}-{i}" for i, (step, _) in enumerate(CASES)]
#: Every step, and the provider's wording of consent_request (the default recipient is the prospect).
TEMPLATE_SETS = (*CONSENT_STEPS, "consent_request_provider")


@pytest.fixture(scope="module")
def config() -> Config:
    return config_from_dict({"group": {"name": "Harbor Business Network", "tracking_address": TRACKER}})


@pytest.fixture(scope="module")
def renderer(config: Config) -> Renderer:
    return Renderer(config)


def links(html: str) -> list[str]:
    return [a.get("href") for a in lxml.html.document_fromstring(html).iter("a")]


def parse_mailto(uri: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(uri)
    assert parts.scheme == "mailto"
    assert " " not in uri and "+" not in parts.query
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True, strict_parsing=True).items()}
    return unquote(parts.path), query


def buttons(html: str) -> dict[str, str]:
    """keyword → body of each link that answers us (the keyword from the subject)."""
    found: dict[str, str] = {}
    for href in links(html):
        address, query = parse_mailto(href)
        if address == REPLY:
            found[query["subject"].removeprefix("[R-12] ")] = query["body"]
    return found


def body_of(text: str) -> str:
    return text.split("\n-- \n")[0]


def test_the_renderer_knows_the_consent_steps(renderer: Renderer) -> None:
    assert len(CONSENT_STEPS) == 6
    for step in CONSENT_STEPS:
        if step != "consent_request":
            assert template_name(step, make_context(step)) == step
    # One step for whoever is asked; the provider's words also ask "is this work you take on?".
    to_provider = make_context("consent_request", recipient=OMAR)
    to_prospect = make_context("consent_request", recipient=GRACE)
    roles_unknown = make_context("consent_request", recipient=OMAR, provider=None, prospects=[])
    assert template_name("consent_request", to_provider) == "consent_request_provider"
    assert template_name("consent_request", to_prospect) == "consent_request_prospect"
    assert template_name("consent_request", roles_unknown) == "consent_request_prospect"
    assert renderer.render("consent_request", to_provider) == renderer.render("consent_request_provider",
                                                                              to_provider)
    with pytest.raises(ValueError):
        renderer.render("consent_spam", make_context("proposal_ack"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_consent_step_renders(renderer: Renderer, case: tuple[str, dict[str, Any]]) -> None:
    step, overrides = case
    context = make_context(step, **overrides)
    out = renderer.render(step, context)
    assert out.subject and "\n" not in out.subject and not out.subject.startswith("[R-")
    for part in (out.subject, out.text, out.html):
        assert "{{" not in part and "{%" not in part and "None" not in part
    first = context["recipient"]["first_name"]
    assert f"Hi {first}," in out.text and f"Hi {first}," in out.html
    assert "Harbor Business Network" in out.text.split("\n-- \n")[1]
    assert "STOP" in buttons(out.html)
    words = body_of(out.text)
    if step == "consent_ready":  # the draft is shown in full; the email around it stays short
        words = words.replace(context["draft"]["body"].replace("\n", "\n    "), "")
    assert len(words.split()) <= 120, out.text


@pytest.mark.parametrize("step", TEMPLATE_SETS)
def test_html_is_well_formed_and_self_contained(renderer: Renderer, step: str) -> None:
    html = renderer.render(step, make_context(step)).html
    root = lxml.etree.fromstring(
        html.encode(), lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    )
    assert root.tag.endswith("html")
    doc = lxml.html.document_fromstring(html)
    assert not doc.xpath("//script | //link | //style | //img | //iframe | //object")
    assert not doc.xpath("//@src") and "url(" not in html
    assert all(href.startswith("mailto:") for href in links(html))
    assert doc.xpath("//table[@width='600']")


EXPECTED_BUTTONS: list[tuple[str, dict[str, Any], set[str]]] = [
    ("consent_request", {}, {"YES", "NO", "NOT NOW"}),
    ("consent_request", {"recipient": OMAR}, {"YES", "NO", "NOT NOW", "NOT WORK I DO"}),
    ("consent_request_prospect", {}, {"YES", "NO", "NOT NOW"}),
    ("consent_request_provider", {}, {"YES", "NO", "NOT NOW", "NOT WORK I DO"}),
    ("consent_reminder", {}, {"YES", "NO", "NOT NOW"}),
    ("consent_reminder", {"recipient": OMAR}, {"YES", "NO", "NOT NOW", "NOT WORK I DO"}),
    ("proposal_ack", {}, set()),
    ("consent_ready", {}, set()),
    ("consent_declined", {}, set()),
    ("consent_expired", {}, set()),
]


@pytest.mark.parametrize(("step", "overrides", "keywords"), EXPECTED_BUTTONS)
def test_buttons_answer_with_one_click(
    renderer: Renderer, step: str, overrides: dict[str, Any], keywords: set[str]
) -> None:
    out = renderer.render(step, make_context(step, **overrides))
    offered = buttons(out.html)
    assert set(offered) == keywords | {"STOP"}
    expected = {"YES": ("yes", None), "NO": ("no", None), "NOT NOW": ("later", None),
                "NOT WORK I DO": ("no", False)}
    for keyword in keywords:
        assert keyword in ANSWER_KEYWORDS
        answer = read_answer(offered[keyword])
        assert (answer.decision, answer.does_work) == expected[keyword]
        assert answer.reason == ""
        # The plain text names the same answers, for readers without HTML.
        assert re.search(rf"\b{keyword}\b", body_of(out.text)), keyword
    if keywords:  # people who never signed up can opt out in the text itself
        assert "STOP" in body_of(out.text)


def test_requests_are_on_the_referrers_behalf_and_share_nothing(renderer: Renderer) -> None:
    to_prospect = renderer.render("consent_request_prospect", make_context("consent_request_prospect"))
    assert to_prospect.subject == "Nadia would like to introduce you to Omar"
    wanted = "Nadia Ruiz would like to introduce you to Omar Haddad (IT support for small offices)"
    assert wanted in to_prospect.text
    assert "omar@haddad-it.example" not in to_prospect.text + to_prospect.html
    to_provider = renderer.render("consent_request_provider", make_context("consent_request_provider"))
    assert "is this work you take on" in to_provider.text
    assert "grace@lumendental.example" not in to_provider.text + to_provider.html
    assert to_prospect.text != to_provider.text


def test_the_referrers_note_is_shown_when_given(renderer: Renderer) -> None:
    note = "Grace runs Lumen Dental.\nThree PCs."
    out = renderer.render("consent_request_provider", make_context("consent_request_provider", note=note))
    assert "  > Grace runs Lumen Dental.\n  > Three PCs." in out.text
    assert "Three PCs." in lxml.html.document_fromstring(out.html).text_content()
    plain = renderer.render("consent_request_provider", make_context("consent_request_provider"))
    assert "words" not in plain.text


def test_proposal_ack_lists_who_will_be_asked(renderer: Renderer) -> None:
    context = make_context("proposal_ack", asked=[GRACE, OMAR], deadline="Nov 23")
    out = renderer.render("proposal_ack", context)
    assert "we'll ask Grace Liu and Omar Haddad" in out.text
    assert "Nov 23" in out.text and "Nov 23" in out.html
    assert "Grace and Omar" in out.subject
    unknown = renderer.render("proposal_ack", make_context("proposal_ack", asked=[]))
    assert "which of them offers the service" in unknown.text


def test_consent_ready_carries_the_link_and_the_draft(renderer: Renderer) -> None:
    out = renderer.render("consent_ready", make_context("consent_ready"))
    doc = lxml.html.document_fromstring(out.html)
    intro = [a for a in doc.iter("a") if a.get("href") == link_for()]
    assert len(intro) == 1 and intro[0].text_content() == "Open the introduction"
    to, query = parse_mailto(intro[0].get("href"))
    assert to.split(",") == [GRACE["email"], OMAR["email"]]
    assert query["cc"] == TRACKER
    assert query["subject"] == DRAFT["subject"]
    assert query["body"] == DRAFT["body"].replace("\n", "\r\n")
    # The plain text: where to send it, and the words.
    assert f"To: Grace Liu <{GRACE['email']}>, Omar Haddad <{OMAR['email']}>" in out.text
    assert f"Cc: {TRACKER}" in out.text and f"Subject: {DRAFT['subject']}" in out.text
    for line in DRAFT["body"].strip().splitlines():
        assert line in out.text
    assert "Grace and Omar both said yes" in out.text
    partly = renderer.render("consent_ready", make_context("consent_ready", asked=[GRACE]))
    assert "Grace Liu said yes to your introduction of Grace Liu and Omar Haddad" in partly.text


def test_declines_are_told_kindly_with_the_reason(renderer: Renderer) -> None:
    no = renderer.render("consent_declined", make_context("consent_declined", answer={
        "decision": "no", "does_work": None, "reason": "We just hired someone.", "by": GRACE}))
    assert "Grace would rather not be introduced this time" in no.text
    assert "  > We just hired someone." in no.text
    assert "We won't pass this on to Omar" in no.text
    later = renderer.render("consent_declined", make_context("consent_declined", answer={
        "decision": "later", "does_work": None, "reason": "", "by": GRACE}))
    assert "just now" in later.text and "wrote" not in later.text and later.subject.startswith("Not now")
    not_work = renderer.render("consent_declined", make_context("consent_declined", answer={
        "decision": "no", "does_work": False, "reason": "", "by": OMAR}))
    assert "Omar says this isn't work they take on" in not_work.text
    assert "We won't pass this on to Grace" in not_work.text
    for out in (no, later, not_work):
        assert "fault" not in out.text and "unfortunately" not in out.text.lower()


def test_expiry_names_who_did_not_answer(renderer: Renderer) -> None:
    out = renderer.render("consent_expired", make_context("consent_expired"))
    assert "We asked Grace Liu" in out.text and "Grace" in out.subject
    assert "no contact details were shared" in out.text


# --------------------------------------------------------------------------- escaping


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@pytest.mark.parametrize("step", TEMPLATE_SETS)
def test_other_peoples_words_are_escaped_in_html(renderer: Renderer, step: str) -> None:
    evil = person(EVIL, "evil@example.com", business=EVIL)
    overrides: dict[str, Any] = {"referrer": evil, "parties": [evil, GRACE], "note": EVIL}
    if step in ("proposal_ack", "consent_ready", "consent_declined", "consent_expired"):
        overrides["recipient"] = evil
        overrides["asked"] = [evil]
    if step in ("consent_request", "consent_request_prospect", "consent_reminder"):
        overrides.update(provider=evil, prospects=[GRACE])
    if step == "consent_request_provider":
        overrides.update(provider=OMAR, prospects=[evil], recipient=OMAR)
    if step == "consent_declined":
        overrides["answer"] = {"decision": "no", "does_work": None, "reason": EVIL, "by": evil}
    if step == "consent_ready":
        overrides["draft"] = {"subject": EVIL, "body": EVIL}
    out = renderer.render(step, make_context(step, **overrides))
    doc = lxml.html.document_fromstring(out.html)
    assert not doc.xpath("//script") and not doc.xpath("//b")
    collector = _TagCollector()
    collector.feed(out.html)
    assert "script" not in collector.tags and "b" not in collector.tags
    assert EVIL in doc.text_content()
    assert EVIL in out.text
