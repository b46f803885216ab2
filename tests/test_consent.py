"""Consent-first introductions end to end, through real Dovecot and SMTP.

A member writes the intro they would like to make to ``refs+ask@…``; refmail
asks first, and only on a yes hands the referrer a ready-to-send introduction.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import lxml.html
import pytest
from mailservers import MailEnv
from test_lifecycle import LINDA, MEI, TOM, TRACKER, World, _text

pytestmark = pytest.mark.servers

ASK = "refs+ask@harbornet.example"


@pytest.fixture
def world(mail_env: MailEnv, tmp_path: Path) -> Iterator[World]:
    w = World(mail_env, tmp_path, extra="\n[consent]\nremind_after = \"3d\"\nexpire_after = \"7d\"\n")
    try:
        yield w
    finally:
        w.store.close()


@pytest.fixture
def world_asking_providers(mail_env: MailEnv, tmp_path: Path) -> Iterator[World]:
    w = World(mail_env, tmp_path, extra="\n[consent]\nask_provider = true\n")
    try:
        yield w
    finally:
        w.store.close()


def propose(world: World, body: str | None = None, subject: str = "Linda and Tom?") -> None:
    msg = EmailMessage()
    msg["From"] = f"Mei Chen <{MEI}>"
    msg["To"] = f"Harbor Referrals <{ASK}>"
    msg["Subject"] = subject
    msg["Message-ID"] = "<ask-1@mail.chencpa.example>"
    msg["Date"] = format_datetime(world.clock())
    msg.set_content(body or (
        "I'd like to introduce Linda Park <linda@parkfamily.example> to Tom Becker "
        f"({TOM}).\n\nLinda is looking for a roofer before winter; Tom is the roofer "
        "I told you about.\n\nMei\n"
    ))
    world.env.send(msg, MEI, [ASK])


def ready_link(message: EmailMessage) -> str:
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    tree = lxml.html.fromstring(str(html.get_content()))
    links = [a.get("href") for a in tree.iter("a") if (a.get("href") or "").startswith("mailto:")]
    intro = [link for link in links if "refs+" not in link.split("?")[0]]
    assert len(intro) == 1, links
    return intro[0]


def test_yes_then_the_real_intro_joins_the_proposal(world: World) -> None:
    propose(world)
    world.cycle()
    row = world.referral()
    assert row["status"] == "proposed"
    assert (row["provider"], row["prospects"]) == (TOM, [LINDA])
    (ack,) = world.received(MEI)
    assert "Linda" in _text(ack)
    (request,) = world.received(LINDA)
    assert world.received(TOM) == []  # the provider is not asked unless the group wants it

    world.reply(request, LINDA, "Yes please, that would be great!")
    world.clock.advance(minutes=5)
    world.cycle()
    ready = world.received(MEI)[-1]
    link = urlsplit(ready_link(ready))
    assert link.scheme == "mailto"
    assert sorted(unquote(link.path).split(",")) == sorted([LINDA, TOM])
    query = parse_qs(link.query)
    assert query["cc"] == [TRACKER]
    assert query["subject"][0].startswith("Introduction:")
    assert "roofer" in query["body"][0] and "\r\n" in query["body"][0]
    assert world.received(TOM) == []

    # Mei sends it from her own mail client, as the link prepared it.
    intro = EmailMessage()
    intro["From"] = f"Mei Chen <{MEI}>"
    intro["To"] = ", ".join(unquote(link.path).split(","))
    intro["Cc"] = query["cc"][0]
    intro["Subject"] = query["subject"][0]
    intro["Message-ID"] = "<the-intro@mail.chencpa.example>"
    intro["Date"] = format_datetime(world.clock())
    intro.set_content(query["body"][0].replace("\r\n", "\n"))
    world.clock.advance(hours=1)
    world.env.send(intro)
    world.cycle()
    assert world.store.count_referrals() == 1
    row = world.referral()
    assert row["status"] == "introduced"
    assert [e["kind"] for e in row["events"]][-2:] == ["status", "introduced"]
    # ... and then the normal lifecycle: the provider is nudged to thank Mei.
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    assert any("thank" in _text(m).lower() for m in world.received(TOM))


def test_a_no_is_told_kindly_and_the_provider_hears_nothing(world: World) -> None:
    propose(world)
    world.cycle()
    (request,) = world.received(LINDA)
    world.reply(request, LINDA, "No thanks - we found someone already.")
    world.clock.advance(minutes=5)
    world.cycle()
    row = world.referral()
    assert row["status"] == "declined"
    declined = world.received(MEI)[-1]
    assert "found someone already" in _text(declined)
    world.clock.advance(days=30)
    world.cycle()
    assert world.received(TOM) == []
    assert len(world.received(LINDA)) == 1  # never asked twice


def test_provider_says_not_work_i_do(world_asking_providers: World) -> None:
    world = world_asking_providers
    propose(world)
    world.cycle()
    (to_tom,) = world.received(TOM)
    world.reply(to_tom, TOM, "NOT WORK I DO - I only do commercial roofs.")
    world.clock.advance(minutes=5)
    world.cycle()
    assert world.referral()["status"] == "declined"
    assert "commercial roofs" in _text(world.received(MEI)[-1])


def test_no_answer_gets_one_reminder_then_expires(world: World) -> None:
    propose(world)
    world.cycle()
    world.clock.advance(days=3, minutes=5)
    world.cycle()
    assert len(world.received(LINDA)) == 2  # the request and one gentle reminder
    world.clock.advance(days=4)
    world.cycle()
    assert world.referral()["status"] == "expired"
    assert str(world.received(MEI)[-1]["Subject"]).endswith("No answer from Linda about your introduction")
    world.clock.advance(days=30)
    world.cycle()
    assert len(world.received(LINDA)) == 2
    assert world.received(TOM) == []


def test_forged_or_third_party_answers_change_nothing(world: World) -> None:
    propose(world)
    world.cycle()
    (request,) = world.received(LINDA)
    world.reply(request, TOM, "Yes please")  # Tom answering for Linda
    local, domain = parseaddr(str(request["Reply-To"]))[1].split("@")
    world.reply(request, LINDA, "Yes please", to=f"{local[:-2]}zz@{domain}")  # a guessed token
    world.clock.advance(minutes=5)
    world.cycle()
    assert world.referral()["status"] == "proposed"
    assert not any(e["kind"] == "consent" for e in world.referral()["events"])
    assert len(world.received(MEI)) == 1  # only the acknowledgement


def test_a_german_proposal_with_bare_addresses(world: World) -> None:
    propose(
        world,
        body=(
            "Hallo,\n\nich möchte Linda Park (linda@parkfamily.example) mit Tom Becker bekannt machen,\n"
            f"{TOM}\n\nLinda sucht einen Dachdecker; Tom ist der Dachdecker, "
            "von dem ich dir erzählt habe.\n\n"
            "Mei\n"
        ),
        subject="Vorstellung",
    )
    world.cycle()
    row = world.referral()
    assert row["status"] == "proposed"
    assert (row["provider"], row["prospects"]) == (TOM, [LINDA])



def test_nobody_is_shown_an_address_before_they_said_yes(world_asking_providers: World) -> None:
    world = world_asking_providers
    roofer = "info@harborroofing.example"  # no name to be read from it
    propose(world, body=(
        f"I'd like to introduce linda.park@parkfamily.example to {roofer}.\n\n"
        "Linda is looking for a roofer before winter; they are the roofers I told you about.\n\nMei\n"
    ))
    world.cycle()
    (to_linda,) = world.received("linda.park@parkfamily.example")
    (to_roofer,) = world.received(roofer)
    for request, other, name in ((to_linda, roofer, "a contact of Mei's"),
                                 (to_roofer, "linda.park@parkfamily.example", "Linda Park")):
        whole = request.as_string()
        assert other not in whole and other.split("@")[1] not in whole
        assert name in " ".join(_text(request).split())
