"""The answers refmail writes to what someone did: a confirmation question, its result, STOP confirmed."""

from __future__ import annotations

from typing import Any

import lxml.etree
import pytest
from test_templates import BETTY, BOB, EVIL, REPLY, body_words, keyword_links, make_context

from refmail.config import Config, config_from_dict
from refmail.reading.command import parse_command
from refmail.reading.proposal import read_answer
from refmail.render.renderer import ANSWERS, Renderer

TRACKER = "refs@harbornet.example"
ACTION = {"kind": "reply", "summary": "LOST", "quote": "LOST, she went with a cheaper quote",
          "expires_on": "Dec 1"}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    config: Config = config_from_dict({"group": {"name": "Harbor Business Network",
                                                 "tracking_address": TRACKER}})
    return Renderer(config)


def context(step: str, **more: Any) -> dict[str, Any]:
    base = make_context("ack", recipient=BETTY)
    base["action"] = dict(ACTION)
    base["result"] = {"applied": True, "effects": ["status"], "status": "lost", "status_label": "lost",
                      "value": None, "currency": None, "refused": []}
    base.update(more)
    return base


def group_context(step: str, **more: Any) -> dict[str, Any]:
    """Group mail: no referral (a STOP on a weekly summary)."""
    out = context(step, **more)
    out["referral"] = {"id": None, "tag": "refmail", "subject": "", "status": None, "status_label": "",
                       "introduced_on": "", "value": None, "currency": None}
    for key in ("provider", "referrer"):
        out[key] = None
    out["prospects"] = out["parties"] = []
    return out


RESULTS: list[dict[str, Any]] = [
    {"applied": True, "effects": ["status"], "status": "won", "status_label": "won", "value": 4500,
     "currency": "USD"},
    {"applied": True, "effects": ["reopen"], "status": "meeting", "status_label": "meeting"},
    {"applied": True, "effects": ["thanks"]},
    {"applied": True, "effects": ["feedback"], "refused": [["won", "not_provider_or_referrer"]]},
    {"applied": False, "effects": [], "refused": [["lost", "closed"]]},
    {"applied": False, "effects": [], "refused": [["withdrawn", "not_referrer_or_admin"]]},
    {"applied": False, "effects": [], "refused": [["reopen", "not_allowed_to_reopen"]]},
    {"applied": False, "effects": [], "refused": [["reopen", "not_closed"]]},
    {"applied": False, "effects": [], "refused": [["won", "not_introduced"]]},
    {"applied": True, "effects": ["start"]},
    {"applied": True, "effects": ["roles"]},
    {"applied": True, "effects": ["consent"]},
    {"applied": False, "effects": ["expired"]},
    {"applied": False, "effects": []},
]


def cases() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [("confirm", context("confirm")),
                                             ("confirm", group_context("confirm")),
                                             ("stopped", context("stopped")),
                                             ("stopped", group_context("stopped"))]
    out += [("confirm_result", context("confirm_result", result=r)) for r in RESULTS]
    out += [("refused", context("refused", result={**r, "may_reopen": i == 4}))
            for i, r in enumerate(RESULTS) if r.get("refused")]
    profile = {"applied": True, "effects": ["profile"],
               "profile": {"looking_for": "Real-estate agents", "not_looking_for": ""}}
    out.append(("confirm_result", group_context("confirm_result", result=profile)))
    return out


CASES = cases()


@pytest.mark.parametrize(("step", "ctx"), CASES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(CASES)])
def test_every_answer_renders_short_and_well_formed(
        renderer: Renderer, step: str, ctx: dict[str, Any]) -> None:
    out = renderer.render(step, ctx)
    assert out.subject and "\n" not in out.subject
    for part in (out.subject, out.text, out.html):
        assert "{{" not in part and "{%" not in part and "None" not in part
    assert "Hi Betty," in out.text and "Hi Betty," in out.html
    assert body_words(out.text) <= 120, out.text
    lxml.etree.fromstring(out.html.encode(), lxml.etree.XMLParser(recover=False, no_network=True))
    offered = {k.removeprefix("[refmail] ") for k in keyword_links(out.html)}
    assert "STOP" in offered
    assert offered <= {"STOP", "YES", "START", "REOPEN"}


def test_answers_are_the_notice_steps() -> None:
    assert set(ANSWERS) == {"confirm", "confirm_result", "stopped", "refused", "profile"}


def test_the_question_names_what_was_asked_and_for_which_introduction(renderer: Renderer) -> None:
    out = renderer.render("confirm", context("confirm"))
    assert out.subject == "Please confirm: LOST"
    text = " ".join(out.text.split())
    assert '"LOST" from your address for Bob\'s introduction of Carl Jones to Betty Smith' in text
    assert "LOST, she went with a cheaper quote" in text and "until Dec 1" in text
    assert "ignore this email: nothing changes" in text
    assert keyword_links(out.html)["YES"] == "YES "
    assert "reply YES" in out.text


def test_one_click_answers_are_understood() -> None:
    assert read_answer("YES ").decision == "yes"
    assert parse_command("START ").start


def test_stopped_offers_start(renderer: Renderer) -> None:
    out = renderer.render("stopped", context("stopped"))
    assert keyword_links(out.html)["START"] == "START "
    assert "Reply START" in out.text


def test_the_result_says_what_changed(renderer: Renderer) -> None:
    won = renderer.render("confirm_result", context("confirm_result", result=RESULTS[0]))
    assert won.subject == "Done: LOST" and "marked won ($4,500)" in won.text
    claimed = renderer.render("confirm_result", context("confirm_result", result=RESULTS[3]))
    assert "Only Betty or Bob can report how the business went" in " ".join(claimed.text.split())
    late = renderer.render("confirm_result", context("confirm_result", result=RESULTS[-2]))
    assert late.subject.startswith("Too late:") and "nothing changed" in late.text


def test_a_refusal_says_why_and_offers_reopen(renderer: Renderer) -> None:
    won = {**make_context("ack")["referral"], "status": "won", "status_label": "won"}
    closed = renderer.render("refused", context("refused", referral=won,
                                                result={**RESULTS[4], "may_reopen": True}))
    assert closed.subject == "Not changed: LOST"
    assert "closed (won)" in closed.text and "reply REOPEN" in closed.text
    assert keyword_links(closed.html)["REOPEN"] == "REOPEN "
    withdraw = renderer.render("refused", context("refused", result={**RESULTS[5], "may_reopen": False}))
    assert "Only Bob or an admin can withdraw" in " ".join(withdraw.text.split())
    assert "REOPEN" not in keyword_links(withdraw.html)


def test_the_persons_words_are_escaped(renderer: Renderer) -> None:
    ctx = context("confirm", action={**ACTION, "summary": EVIL, "quote": EVIL + " more"})
    out = renderer.render("confirm", ctx)
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert EVIL in out.text  # the text part shows it as written
    assert REPLY in out.html.replace("%2B", "+")
    assert BOB["first_name"] in out.text
