"""Intros from every client, and what a member sends copying the tracker that is not one (issue 16).

The fixtures in ``tests/data/clients/`` follow the clients' real wire formats:
Yahoo Mail's new message with a ``References`` of its own, Outlook's, Google
Calendar's and Apple Mail's invitations, an announcement to the group.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mailbuild import build

from refmail.config import Config, config_from_dict, load_config
from refmail.reading.classification import RuleName
from refmail.reading.classifier import classify
from refmail.reading.rules.intro import ANNOUNCEMENT_AT

HERE = Path(__file__).parent
CLIENTS = HERE / "data" / "clients"
NADIA = ("Nadia Flores", "nadia@floresmarketing.example")


@pytest.fixture(scope="module")
def config() -> Config:
    base = load_config(HERE / "data" / "mail" / "group.toml")
    data = base.model_dump(exclude={"source"})
    for member in data["members"]:
        if member["email"] == "nadia@floresmarketing.example":
            member["aliases"] = [*member.get("aliases", []), "nadia.flores@yahoo.example"]
    return config_from_dict(data)


def test_a_yahoo_intro_is_an_intro_though_it_carries_references(config: Config) -> None:
    result = classify((CLIENTS / "yahoo-new-intro.eml").read_bytes(), config)
    assert result.rule is RuleName.INTRO, result.reason
    assert result.referrer == "nadia@floresmarketing.example"
    assert result.provider == "omar@haddadtech.example"
    assert result.prospects == ["grace@lumendental.example"]
    assert "names only the message itself" in result.reason


def test_a_yahoo_reply_all_is_still_a_reply(config: Config) -> None:
    result = classify((CLIENTS / "yahoo-reply-all.eml").read_bytes(), config)
    assert result.rule is RuleName.THREAD_REPLY, result.reason


def test_a_reference_to_itself_by_any_client_is_no_reference(config: Config) -> None:
    raw = build(sender=NADIA, to=[("Grace Liu", "grace@lumendental.example"),
                                  ("Omar Haddad", "omar@haddadtech.example")],
                cc=[("Refs", "refs@harbornet.example")], subject="Grace, meet Omar",
                plain="Omar, meet Grace. Grace is looking for an IT person.",
                message_id="<abc123@floresmarketing.example>",
                in_reply_to="<abc123@floresmarketing.example>")
    assert classify(raw, config).rule is RuleName.INTRO
    # another message's id still makes it a reply
    raw = raw.replace(b"In-Reply-To: <abc123@", b"In-Reply-To: <other@")
    assert classify(raw, config).rule is RuleName.THREAD_REPLY


@pytest.mark.parametrize("name", ["outlook-invite.eml", "gmail-invite.eml", "apple-invite.eml"])
def test_calendar_invitations_are_not_intros(name: str, config: Config) -> None:
    result = classify((CLIENTS / name).read_bytes(), config)
    assert result.kind == "ignored"
    assert result.rule is RuleName.CALENDAR_INVITATION, result.reason
    assert "calendar invitation" in result.reason


def test_a_calendar_cancellation_and_answer_are_not_intros_either(config: Config) -> None:
    raw = (CLIENTS / "outlook-invite.eml").read_bytes()
    for method in (b"CANCEL", b"REPLY"):
        result = classify(raw.replace(b"method=REQUEST", b"method=" + method), config)
        assert result.rule is RuleName.CALENDAR_INVITATION
        assert method.decode() in result.reason


def test_an_announcement_to_the_group_is_not_an_intro(config: Config) -> None:
    result = classify((CLIENTS / "announcement.eml").read_bytes(), config)
    assert result.kind == "ignored"
    assert result.rule is RuleName.ANNOUNCEMENT, result.reason
    assert "announcement to 9 people" in result.reason


def test_the_announcement_threshold_is_where_intros_end(config: Config) -> None:
    people = [(f"Person {i}", f"p{i}@example.org") for i in range(ANNOUNCEMENT_AT)]

    def intro_to(n: int) -> bytes:
        return build(sender=NADIA, to=people[:n], cc=[("Refs", "refs@harbornet.example")],
                     subject="Intro", plain="Person 0, meet Person 1. Person 0 is looking for a roofer.")
    assert classify(intro_to(ANNOUNCEMENT_AT - 1), config).rule is RuleName.INTRO
    assert classify(intro_to(ANNOUNCEMENT_AT), config).rule is RuleName.ANNOUNCEMENT



def test_an_html_only_intro_laid_out_as_a_table(config: Config) -> None:
    html = ("<p>Hi both, a quick introduction:</p><table><tr><th>Name</th><th>Needs</th>"
            "<th>Offers</th></tr><tr><td>Grace Liu</td><td>IT support for her dental office</td>"
            "<td></td></tr><tr><td>Sam Porter</td><td></td><td>IT support and backups</td></tr>"
            "</table><p>Nadia</p>")
    raw = build(sender=NADIA, to=[("Grace Liu", "grace@lumendental.example"),
                                  ("Sam Porter", "sam@outsider.example")],
                cc=[("Refs", "refs@harbornet.example")], subject="Intro", plain=None, html=html)
    result = classify(raw, config)
    assert result.rule is RuleName.INTRO, result.reason
    assert (result.provider, result.prospects) == ("sam@outsider.example", ["grace@lumendental.example"])


def test_an_indirect_intro_in_italian_between_two_outsiders(config: Config) -> None:
    raw = build(sender=NADIA, to=[("Giulia Bianchi", "giulia@studio.example"),
                                  ("Marco Conti", "marco@conti.example")],
                cc=[("Refs", "refs@harbornet.example")], subject="Presentazione",
                plain="Ciao Giulia, ciao Marco,\n\nGiulia cerca un commercialista. Marco è il "
                      "commercialista di cui ti ho parlato.\n\nNadia")
    result = classify(raw, config)
    assert (result.provider, result.prospects) == ("marco@conti.example", ["giulia@studio.example"])
