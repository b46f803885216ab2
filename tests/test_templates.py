"""The emails refmail sends: every step renders, safely, with working links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2
import lxml.etree
import lxml.html
import pytest

from refmail.config import Config, config_from_dict
from refmail.errors import ConfigError
from refmail.render.renderer import (
    BAD_NEWS,
    KEYWORDS,
    STEPS,
    Rendered,
    Renderer,
    format_money,
    mailto_link,
    template_name,
)

TRACKER = "refs@harbornet.example"
REPLY = "refs+r12.k3j5x8q2abcdmn4p@harbornet.example"
EVIL = '<script>alert(1)</script> & "Bob" <b>'
STATUS_KEYWORDS = ["CONTACTED", "MET", "PROPOSAL", "WON", "LOST", "NO FIT", "NO RESPONSE"]


def person(name: str, email: str) -> dict[str, str]:
    return {"name": name, "first_name": name.split()[0], "email": email}


BOB = person("Bob Reyes", "bob@reyeslaw.example")
BETTY = person("Betty Smith", "betty@coachbetty.example")
CARL = person("Carl Jones", "carl@carlsbakery.example")
MEI = person("Mei Chen", "mei@chencpa.example")


def event(status: str | None, text: str = "", actor: dict[str, str] = BETTY, **more: Any) -> dict[str, Any]:
    return {
        "kind": "status" if status else "feedback",
        "text": text,
        "status": status,
        "status_label": (status or "").replace("_", " ") or None,
        "value": more.get("value"),
        "currency": more.get("currency"),
        "actor": actor,
    }


#: Who each step is sent to, and what else it needs.
STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "ack": {"recipient": BOB},
    "roles_question": {"recipient": BOB, "provider": None, "prospects": []},
    "thank_you": {"recipient": BETTY},
    "miss_thanks": {"recipient": BETTY},
    "relay_thanks": {"recipient": BOB, "event": event(None, "Thank you, Bob!\nCarl is a great fit.")},
    "feedback": {"recipient": BETTY},
    "status_update": {"recipient": BOB, "event": event("meeting", "We had coffee on Tuesday.")},
    "stale_reminder": {"recipient": BETTY, "reminder": {"number": 1, "max": 2}},
    "no_news": {"recipient": BOB},
    "closed_thanks": {"recipient": BOB},
    "send_failed": {"recipient": BOB, "event": event(None, "550 5.1.1 user unknown", actor=CARL)},
}


def make_context(step: str, **overrides: Any) -> dict[str, Any]:
    """A realistic context as the planner builds it (templates/README.md)."""
    referral = {
        "id": 12,
        "tag": "R-12",
        "subject": "Betty, meet Carl",
        "status": "contacted",
        "status_label": "contacted",
        "introduced_on": "Nov 16",
        "value": None,
        "currency": None,
    }
    if step == "closed_thanks":
        referral.update(status="won", status_label="won", value=4500, currency="USD")
    if step == "miss_thanks":
        referral.update(status="no_fit", status_label="no fit")
    context: dict[str, Any] = {
        "group": {"name": "Harbor Business Network", "tracking_address": TRACKER},
        "referral": referral,
        "recipient": BOB,
        "referrer": BOB,
        "provider": BETTY,
        "prospects": [CARL],
        "parties": [CARL, BETTY],
        "event": None,
        "reminder": None,
        "reply_address": REPLY,
    }
    context.update(STEP_DEFAULTS[step])
    referral_overrides = overrides.pop("referral", None)
    if referral_overrides:
        context["referral"] = {**referral, **referral_overrides}
    context.update(overrides)
    return context


#: (step, overrides): every step, both feedback audiences, good and bad news.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("ack", {}),
    ("ack", {"provider": None, "prospects": []}),
    ("roles_question", {}),
    ("thank_you", {}),
    ("relay_thanks", {}),
    ("relay_thanks", {"event": event(None, "")}),
    ("miss_thanks", {}),
    ("miss_thanks", {"referral": {"status": "lost", "status_label": "lost"}}),
    ("relay_thanks", {"referral": {"status": "no_fit", "status_label": "no fit"}}),
    ("relay_thanks", {"event": event(None, ""), "referral": {"status": "lost", "status_label": "lost"}}),
    ("feedback", {"recipient": BETTY}),
    ("feedback", {"recipient": CARL}),
    ("status_update", {}),
    ("status_update", {"event": event("won", "", value=4500, currency="USD"),
                       "referral": {"status": "won", "value": 4500, "currency": "USD"}}),
    ("status_update", {"event": event(None, "Carl sent me his plans; looks promising.")}),
    ("status_update", {"event": event("lost", "He went with a cheaper quote.")}),
    ("status_update", {"event": event("no_fit", "", actor=CARL)}),
    ("status_update", {"event": event("unresponsive", "Three calls, no answer.")}),
    ("status_update", {"event": event("unresponsive", "", actor=CARL)}),
    ("stale_reminder", {}),
    ("stale_reminder", {"reminder": {"number": 2, "max": 2}}),
    ("no_news", {}),
    ("closed_thanks", {}),
    ("closed_thanks", {"referral": {"value": None, "currency": None}}),
    ("send_failed", {}),
    ("send_failed", {"recipient": MEI}),
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    step, overrides = case
    bits = [step]
    if "recipient" in overrides:
        bits.append(overrides["recipient"]["first_name"])
    if overrides.get("event"):
        bits.append(str(overrides["event"]["status"]))
    if "provider" in overrides:
        bits.append("no-roles")
    if "reminder" in overrides:
        bits.append("last")
    return "-".join(bits) + f"-{CASES.index(case)}"


@pytest.fixture(scope="module")
def config() -> Config:
    return config_from_dict({"group": {"name": "Harbor Business Network", "tracking_address": TRACKER}})


@pytest.fixture(scope="module")
def renderer(config: Config) -> Renderer:
    return Renderer(config)


def links(html: str) -> list[str]:
    doc = lxml.html.document_fromstring(html)
    return [a.get("href") for a in doc.iter("a")]


def parse_mailto(uri: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(uri)
    assert parts.scheme == "mailto"
    # RFC 6068 never uses "+" for a space; refuse anything that could be read that way.
    assert " " not in uri and "+" not in parts.query
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True, strict_parsing=True).items()}
    return unquote(parts.path), query


def keyword_links(html: str) -> dict[str, str]:
    """keyword → body of each mailto link (the keyword from the subject)."""
    found: dict[str, str] = {}
    for href in links(html):
        if href and href.startswith("mailto:"):
            address, query = parse_mailto(href)
            assert address == REPLY
            found[query["subject"].removeprefix("[R-12] ")] = query["body"]
    return found


def body_words(text: str) -> int:
    return len(text.split("\n-- \n")[0].split())


# --------------------------------------------------------------------------- every step


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_step_renders(renderer: Renderer, case: tuple[str, dict[str, Any]]) -> None:
    step, overrides = case
    context = make_context(step, **overrides)
    out = renderer.render(step, context)
    assert isinstance(out, Rendered)
    assert out.subject and "\n" not in out.subject and not out.subject.startswith("[R-")
    assert out.text.strip() and out.html.strip()
    for part in (out.subject, out.text, out.html):
        assert "{{" not in part and "{%" not in part and "None" not in part
    first = context["recipient"]["first_name"]
    assert f"Hi {first}," in out.text and f"Hi {first}," in out.html
    # The footer: who sends this, and how to stop it.
    assert "Harbor Business Network" in out.text.split("\n-- \n")[1]
    assert "STOP" in keyword_links(out.html)
    # Short: the seeds' readers fear spam.
    assert body_words(out.text) <= 120, out.text


@pytest.mark.parametrize("step", STEPS)
def test_html_is_well_formed_and_self_contained(renderer: Renderer, step: str) -> None:
    html = renderer.render(step, make_context(step)).html
    # Strict XML parsing catches unclosed or misnested tags.
    root = lxml.etree.fromstring(
        html.encode(), lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    )
    assert root.tag.endswith("html")
    doc = lxml.html.document_fromstring(html)
    # No external images, CSS or scripts: nothing is fetched when the mail is opened.
    assert not doc.xpath("//script | //link | //style | //img | //iframe | //object")
    assert not doc.xpath("//@src") and "url(" not in html
    assert all(href.startswith("mailto:") for href in links(html))
    # One centred table of 600px holds the content.
    assert doc.xpath("//table[@width='600']")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_plain_text_offers_the_same_keywords_as_the_buttons(
    renderer: Renderer, case: tuple[str, dict[str, Any]]
) -> None:
    step, overrides = case
    out = renderer.render(step, make_context(step, **overrides))
    offered = keyword_links(out.html)
    assert set(offered) <= {*KEYWORDS, "PROVIDER"}
    for keyword, body in offered.items():
        assert body.startswith(keyword)
        assert body if keyword != "PROVIDER" else True
        if keyword != "PROVIDER":
            assert re.search(rf"\b{keyword}\b", out.text), f"{keyword} missing from the text of {step}"


EXPECTED_KEYWORDS: dict[str, set[str]] = {
    "thank_you": {"THANKS", "CONTACTED", "MET"},
    "miss_thanks": {"THANKS"},
    "feedback_provider": set(STATUS_KEYWORDS),
    "feedback_prospect": {"CONTACTED", "MET", "NO RESPONSE", "NO FIT"},
    "stale_reminder": set(STATUS_KEYWORDS),
    "no_news": {"CONTACTED", "MET", "WON", "LOST", "NO FIT"},
}


@pytest.mark.parametrize(("name", "keywords"), EXPECTED_KEYWORDS.items())
def test_steps_offer_their_keywords(renderer: Renderer, name: str, keywords: set[str]) -> None:
    step = name.rsplit("_", 1)[0] if name.startswith("feedback") else name
    recipient = CARL if name == "feedback_prospect" else STEP_DEFAULTS[step]["recipient"]
    context = make_context(step, recipient=recipient)
    assert template_name(step, context) == name
    offered = keyword_links(renderer.render(step, context).html)
    assert keywords | {"STOP"} == set(offered)


def test_won_link_leaves_room_for_the_amount(renderer: Renderer) -> None:
    html = renderer.render("feedback", make_context("feedback")).html
    won = [href for href in links(html) if "WON" in unquote(href)]
    assert won
    address, query = parse_mailto(won[0])
    assert address == REPLY
    assert query == {"subject": "[R-12] WON", "body": "WON "}


def test_roles_question_has_one_button_per_party(renderer: Renderer) -> None:
    dana = person("Dana Jones", "dana@carlsbakery.example")
    context = make_context("roles_question", parties=[CARL, dana, BETTY])
    out = renderer.render("roles_question", context)
    bodies = []
    for href in links(out.html):
        _, query = parse_mailto(href)
        if query["subject"] == "[R-12] PROVIDER":
            bodies.append(query["body"])
    assert bodies == [f"PROVIDER {p['email']}" for p in (CARL, dana, BETTY)]
    doc = lxml.html.document_fromstring(out.html)
    labels = [a.text_content() for a in doc.iter("a")]
    assert "Dana Jones is the provider" in labels
    for p in (CARL, dana, BETTY):
        assert f"PROVIDER {p['email']}" in out.text


def test_feedback_wording_depends_on_the_recipient(renderer: Renderer) -> None:
    to_provider = renderer.render("feedback", make_context("feedback", recipient=BETTY))
    to_prospect = renderer.render("feedback", make_context("feedback", recipient=CARL))
    assert to_provider.text != to_prospect.text
    # A prospect is not asked about proposals or wins: those are the provider's.
    assert "WON" not in keyword_links(to_prospect.html)
    assert "PROPOSAL" not in to_prospect.text
    # The opt-out is in the message itself, not only in the footer.
    assert "STOP" in to_prospect.text.split("\n-- \n")[0]
    # Roles unknown: nobody is told they are the provider.
    unknown = make_context("feedback", recipient=BETTY, provider=None, prospects=[])
    assert template_name("feedback", unknown) == "feedback_prospect"
    assert "Carl" in renderer.render("feedback", unknown).text


@pytest.mark.parametrize("status", sorted(BAD_NEWS))
def test_bad_news_is_told_kindly(renderer: Renderer, status: str) -> None:
    context = make_context("status_update", event=event(status, "It was not the right time."))
    assert template_name("status_update", context) == "status_update_bad"
    out = renderer.render("status_update", context)
    good = renderer.render("status_update", make_context("status_update"))
    assert out.text.split("\n\n")[2:] != good.text.split("\n\n")[2:]
    assert "Good news" not in out.subject
    assert "It was not the right time." in out.text
    assert "It was not the right time." in lxml.html.document_fromstring(out.html).text_content()


def test_status_from_the_referral_when_the_event_has_none(renderer: Renderer) -> None:
    context = make_context("status_update", event=event(None, "Quick note"), referral={"status": "lost"})
    assert template_name("status_update", context) == "status_update_bad"
    context = make_context("status_update", event=event(None, "Quick note"))
    assert template_name("status_update", context) == "status_update_good"


def test_won_news_carries_the_amount(renderer: Renderer) -> None:
    context = make_context(
        "status_update", event=event("won", value=12000, currency="EUR"),
        referral={"status": "won", "value": 12000, "currency": "EUR"},
    )
    out = renderer.render("status_update", context)
    assert "€12,000" in out.subject and "€12,000" in out.text
    thanks = renderer.render("closed_thanks", make_context("closed_thanks"))
    assert "$4,500" in thanks.text and "$4,500" in thanks.html


def test_relayed_words_reach_the_referrer(renderer: Renderer) -> None:
    out = renderer.render("relay_thanks", make_context("relay_thanks"))
    assert "  > Thank you, Bob!\n  > Carl is a great fit." in out.text
    doc = lxml.html.document_fromstring(out.html)
    assert "Carl is a great fit." in doc.text_content()
    assert doc.xpath("//br")  # the note's line break is kept


def test_after_a_miss_the_provider_is_asked_to_thank_and_teach(renderer: Renderer) -> None:
    """Seed 000: thank the person anyway, and say what would help next time."""
    out = renderer.render("miss_thanks", make_context("miss_thanks"))
    win = renderer.render("thank_you", make_context("thank_you"))
    assert out.subject != win.subject and "didn't work out" in out.subject
    assert "not to be a good fit" in out.text and "better referral" in out.text
    assert "vote of confidence" not in out.text  # the win's wording is not reused
    lost = renderer.render("miss_thanks", make_context("miss_thanks", referral={"status": "lost"}))
    assert "didn't lead to business this time" in lost.text


def test_thanks_after_a_miss_are_relayed_as_such(renderer: Renderer) -> None:
    missed = make_context("relay_thanks", referral={"status": "no_fit", "status_label": "no fit"})
    assert template_name("relay_thanks", missed) == "relay_thanks_miss"
    assert template_name("relay_thanks", make_context("relay_thanks")) == "relay_thanks"
    out = renderer.render("relay_thanks", missed)
    assert "tip for next time" in out.subject
    assert "didn't work out this time" in out.text
    assert "  > Thank you, Bob!\n  > Carl is a great fit." in out.text
    assert "keep you posted" not in out.text  # it is over: nothing more to report
    bare = renderer.render("relay_thanks", {**missed, "event": event(None, "")})
    assert "tip" not in bare.subject and "says thank you" in bare.text


def test_send_failed_names_the_address_and_adapts_to_an_admin(renderer: Renderer) -> None:
    to_referrer = renderer.render("send_failed", make_context("send_failed"))
    to_admin = renderer.render("send_failed", make_context("send_failed", recipient=MEI))
    assert "carl@carlsbakery.example" in to_referrer.text
    assert "550 5.1.1" in to_referrer.text
    assert "your introduction" in to_referrer.text
    assert "Bob's introduction" in to_admin.text


# --------------------------------------------------------------------------- escaping


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@pytest.mark.parametrize("step", STEPS)
def test_other_peoples_words_are_escaped_in_html(renderer: Renderer, step: str) -> None:
    evil = {"name": EVIL, "first_name": EVIL, "email": "evil@example.com"}
    overrides: dict[str, Any] = {"referrer": evil, "prospects": [evil], "parties": [evil, BETTY]}
    if step in ("ack", "roles_question", "relay_thanks", "status_update", "no_news", "closed_thanks",
                "send_failed"):
        overrides["recipient"] = evil
    if step in ("relay_thanks", "status_update", "send_failed"):
        overrides["event"] = event("lost" if step == "status_update" else None, EVIL, actor=evil)
    if step == "roles_question":
        overrides.update(provider=None, prospects=[])
    out = renderer.render(step, make_context(step, **overrides))
    doc = lxml.html.document_fromstring(out.html)
    assert not doc.xpath("//script") and not doc.xpath("//b")
    collector = _TagCollector()
    collector.feed(out.html)
    assert "script" not in collector.tags and "b" not in collector.tags
    assert EVIL in doc.text_content()
    # The text part shows the words as written.
    assert EVIL in out.text


def test_subject_is_not_html_escaped(renderer: Renderer) -> None:
    out = renderer.render("relay_thanks", make_context("relay_thanks", event=event(None, actor=person(
        "Smith & Sons <Ltd>", "s@sons.example"))))
    assert "Smith & Sons <Ltd>" in out.subject


def test_non_ascii_names(renderer: Renderer) -> None:
    josé = person("José Müller-Łukasz", "jose@example.es")
    out = renderer.render("thank_you", make_context("thank_you", recipient=josé, provider=josé))
    assert "Hi José," in out.text and "Hi José," in out.html


# --------------------------------------------------------------------------- mailto


def test_mailto_link_encoding() -> None:
    uri = mailto_link(REPLY, "R-12", "NO FIT", "NO FIT\nwe & they: 50% = ok? #1 + é")
    address, query = parse_mailto(uri)
    assert address == REPLY
    assert query["subject"] == "[R-12] NO FIT"
    assert query["body"] == "NO FIT\r\nwe & they: 50% = ok? #1 + é"  # RFC 6068: CRLF line breaks
    assert "%0D%0A" in uri and "%20" in uri and "%2B" in uri
    assert uri.startswith(f"mailto:{REPLY}?subject=%5BR-12%5D%20NO%20FIT&body=")


def test_mailto_default_body_is_the_keyword() -> None:
    _, query = parse_mailto(mailto_link(REPLY, "R-7", "WON"))
    assert query == {"subject": "[R-7] WON", "body": "WON "}


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [("CONTACTED", "contacted"), ("MET", "meeting"), ("PROPOSAL", "proposal"), ("WON", "won"),
     ("LOST", "lost"), ("NO FIT", "no_fit"), ("NO RESPONSE", "unresponsive"), ("THANKS", "thanks"),
     ("STOP", "stop")],
)
def test_one_click_bodies_are_understood_by_the_reply_parser(keyword: str, expected: str) -> None:
    """The contract with refmail.reading.command: what a button sends is what it means."""
    from refmail.reading.command import parse_command

    _, query = parse_mailto(mailto_link(REPLY, "R-12", keyword))
    command = parse_command(query["body"])
    if expected == "thanks":
        assert command.thanks and command.status is None
    elif expected == "stop":
        assert command.stop and command.status is None
    else:
        assert command.status == expected
    won = parse_command(query["body"] + "4,500 $") if keyword == "WON" else None
    assert won is None or (won.status, won.value, won.currency) == ("won", 4500, "USD")


def test_links_are_attribute_escaped(renderer: Renderer) -> None:
    html = renderer.render("feedback", make_context("feedback")).html
    assert "&amp;body=" in html and "?subject=%5BR-12%5D" in html


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [(4500, "USD", "$4,500"), (1200.5, "CHF", "1,200.50 CHF"), (980, None, "980"), (None, "EUR", ""),
     (3000.0, "gbp", "£3,000")],
)
def test_format_money(value: float | None, currency: str | None, expected: str) -> None:
    assert format_money(value, currency) == expected


# --------------------------------------------------------------------------- overrides and errors


def test_an_override_replaces_one_file_only(config: Config, renderer: Renderer, tmp_path: Path) -> None:
    (tmp_path / "thank_you.subject.txt").write_text("Say thanks to {{ referrer.first_name }}, please\n")
    custom = Renderer(config, tmp_path)
    context = make_context("thank_you")
    mine, builtin = custom.render("thank_you", context), renderer.render("thank_you", context)
    assert mine.subject == "Say thanks to Bob, please"
    assert builtin.subject != mine.subject
    assert (mine.text, mine.html) == (builtin.text, builtin.html)
    assert custom.render("ack", make_context("ack")) == renderer.render("ack", make_context("ack"))


def test_override_directory_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "ack.txt").write_text("{% extends '_base.txt' %}{% block body %}Custom ack{% endblock %}")
    config = config_from_dict({
        "group": {"name": "G", "tracking_address": TRACKER},
        "nudges": {"template_dir": str(tmp_path)},
    })
    out = Renderer(config).render("ack", make_context("ack"))
    assert out.text.startswith("Custom ack\n")
    assert "refmail for" in out.text  # the built-in base still applies


def test_missing_override_directory(config: Config, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Renderer(config, tmp_path / "nope")
    assert info.value.key == "nudges.template_dir"


def test_broken_override_is_a_config_error(config: Config, tmp_path: Path) -> None:
    (tmp_path / "ack.html").write_text("{% if %}")
    with pytest.raises(ConfigError):
        Renderer(config, tmp_path).render("ack", make_context("ack"))


def test_broken_shared_override_is_a_config_error(config: Config, tmp_path: Path) -> None:
    (tmp_path / "_phrases.txt").write_text("{% macro who() %}{{ oops( }}{% endmacro %}")
    with pytest.raises(ConfigError) as info:
        Renderer(config, tmp_path).render("ack", make_context("ack"))
    assert "_phrases.txt" in str(info.value)


def test_unknown_step(renderer: Renderer) -> None:
    with pytest.raises(ValueError):
        renderer.render("weekly_spam", make_context("ack"))


def test_a_missing_context_key_fails_loudly(renderer: Renderer) -> None:
    context = make_context("thank_you")
    del context["referrer"]
    with pytest.raises(jinja2.UndefinedError):
        renderer.render("thank_you", context)
