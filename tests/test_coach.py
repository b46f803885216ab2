"""The referral coach by email, end to end through real Dovecot and SMTP: a
miss still earns a thank-you and a lesson (seed 000).

The ``World`` of ``test_lifecycle``: people's mail over real SMTP into Dovecot,
refmail reading it over IMAP on a controllable clock, and what each person
received read back from the SMTP server as their mail client would.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import lxml.html
import pytest
import test_lifecycle
from mailservers import MailEnv
from test_digest import next_monday
from test_lifecycle import LINDA, MEI, TOM, World, send_intro
from test_lifecycle import world as world  # the fixture: a group, its servers, refmail, a clock

pytestmark = pytest.mark.servers

ADVICE = "Next time: homeowners with pitched roofs are my sweet spot, flat commercial roofs are not."


def _text(message: object) -> str:
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: object) -> str:
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _to_no_fit(world: World) -> None:
    """Intro, thank-you nudge (unanswered), feedback request, Tom's NO FIT."""
    send_intro(world)
    world.cycle()
    world.clock.advance(days=8)
    world.cycle()
    feedback = [m for m in world.received(TOM) if "how" in str(m["Subject"]).lower()][-1]
    world.reply(feedback, TOM, "NO FIT - Linda needs a flat commercial roof; I do pitched roofs on homes.")
    world.clock.advance(minutes=10)
    world.cycle()
    assert world.referral()["status"] == "no_fit"


def test_a_miss_still_thanks_and_teaches(world: World) -> None:
    _to_no_fit(world)
    sent_to_tom = len(world.received(TOM))
    to_mei = len(world.received(MEI))

    # Not at once: a day after it closed (thank_you_after), Tom is asked, kindly, once.
    world.clock.advance(hours=12)
    world.cycle()
    assert len(world.received(TOM)) == sent_to_tom
    world.clock.advance(hours=12)
    world.cycle()
    (nudge,) = world.received(TOM)[sent_to_tom:]
    assert "even though it didn't work out" in str(nudge["Subject"])
    text = _text(nudge)
    assert "not to be a good fit" in text and "better referral" in text and "Mei" in text
    assert "mailto:" in _html(nudge)

    # Until he answers, his weekly summary says it waits on him.
    waiting = world.daemon.digest.render_member(TOM, world.clock())
    assert waiting is not None and "even though it didn't work out" in waiting.text

    # His thanks and his advice reach Mei, worded for a miss.
    world.reply(nudge, TOM, f"Thank you for thinking of me, Mei!\n\n{ADVICE}")
    world.clock.advance(minutes=10)
    world.cycle()
    (relayed,) = world.received(MEI)[to_mei:]
    assert "tip for next time" in str(relayed["Subject"])
    text = _text(relayed)
    assert "didn't work out this time" in text
    assert "Thank you for thinking of me, Mei!" in text and "pitched roofs are my sweet spot" in text
    assert "wrote:" not in text  # only the new text is passed on
    thanks = [e for e in world.referral()["events"] if e["kind"] == "thanks"]
    assert [(e["actor"], e["detail"]["miss"]) for e in thanks] == [(TOM, "no_fit")]
    assert world.referral()["status"] == "no_fit"  # thanks do not reopen anything
    done = world.daemon.digest.render_member(TOM, world.clock())
    assert done is not None and "even though it didn't work out" not in done.text

    # Asked once: nothing more to Tom, however long we wait; Linda hears nothing of it.
    count = len(world.received(TOM))
    for _ in range(4):
        world.clock.advance(days=5)
        world.cycle()
    assert len(world.received(TOM)) == count
    assert not any("didn't work out" in str(m["Subject"]) for m in world.received(LINDA))


def test_no_miss_nudge_once_the_provider_thanked(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    (thank_you,) = world.received(TOM)
    world.reply(thank_you, TOM, "Thanks a lot, Mei!")
    world.clock.advance(days=7)
    world.cycle()
    feedback = world.received(TOM)[-1]
    world.reply(feedback, TOM, "LOST - she went with her brother-in-law.")
    world.clock.advance(minutes=10)
    world.cycle()
    assert world.referral()["status"] == "lost"
    count = len(world.received(TOM))
    world.clock.advance(days=3)
    world.cycle()
    assert len(world.received(TOM)) == count


# --------------------------------------------------------------------------- profiles by email

PROFILE_ADDRESS = "refs+profile@harbornet.example"
LOOKING = "Looking for: homeowners with pitched roofs\nNot looking for: flat commercial roofs"


def _write_profile(world: World, sender: str, body: str, *, name: str = "Tom Becker") -> None:
    """A member writes to refs+profile@ from their own mail client (no token)."""
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = PROFILE_ADDRESS
    message["Subject"] = "My profile"
    message["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    message["Date"] = format_datetime(world.clock())
    message.set_content(f"{body}\n\n-- \n{name}\n")
    world.env.send(message, sender, [PROFILE_ADDRESS])


def _group_mail(world: World, address: str) -> list[EmailMessage]:
    """What refmail sent ``address`` outside referrals (weekly summaries, answers)."""
    return world.summaries(address)


def _profile_of(world: World, address: str) -> tuple[str, str]:
    from refmail.storage.profiles import Profiles

    profile = Profiles(world.store, world.config).of(address)
    assert profile is not None
    return profile.looking_for, profile.not_looking_for


def test_a_profile_by_email_is_confirmed_then_shown_to_who_refers(world: World) -> None:
    _write_profile(world, TOM, LOOKING)
    world.clock.advance(minutes=1)
    world.cycle()
    # No proof it was Tom: nothing changes until he confirms, asked at his own address.
    assert _profile_of(world, TOM) == ("", "")
    (question,) = _group_mail(world, TOM)
    assert "Please confirm: Looking for: homeowners with pitched roofs" in str(question["Subject"])
    world.reply(question, TOM, "YES")
    world.clock.advance(minutes=5)
    world.cycle()
    assert _profile_of(world, TOM) == ("homeowners with pitched roofs", "flat commercial roofs")
    done = _group_mail(world, TOM)[-1]
    now_seen = ("Members now see: looking for homeowners with pitched roofs; "
                "not looking for flat commercial roofs")
    assert now_seen in " ".join(_text(done).split())

    # Mei introduces Linda to Tom: her acknowledgement says what a good referral for Tom looks like.
    send_intro(world)
    world.clock.advance(minutes=1)
    world.cycle()
    (ack,) = world.received(MEI)
    said = " ".join(_text(ack).split())
    assert 'Tom is looking for "homeowners with pitched roofs", and not for "flat commercial roofs".' in said
    # Linda, who is not a member, never sees Tom's profile (she hears nothing yet at all).
    world.clock.advance(days=8)
    world.cycle()
    for message in world.received(LINDA):
        assert "pitched roofs" not in _text(message) and "pitched roofs" not in _html(message)


def test_a_forged_profile_changes_nothing_and_a_stranger_hears_nothing(world: World) -> None:
    # Linda writes in Tom's name: the question goes to Tom's real address, not to her.
    _write_profile(world, TOM, "Looking for: nothing, I'm retiring")
    # A stranger writes a profile: not a member, so not a word back.
    _write_profile(world, "eve@elsewhere.example", LOOKING, name="Eve")
    world.clock.advance(minutes=1)
    world.cycle()
    assert [str(m["Subject"]) for m in _group_mail(world, TOM)] == [
        "[refmail] Please confirm: Looking for: nothing, I'm retiring"]
    assert _group_mail(world, "eve@elsewhere.example") == [] and world.received("eve@elsewhere.example") == []
    world.clock.advance(days=8)  # Tom never confirms; the question expires
    world.cycle()
    assert _profile_of(world, TOM) == ("", "")
    outcomes = {m["outcome"] for m in world.store.messages()}
    assert {"confirmation_asked", "ignored"} <= outcomes


def test_an_empty_profile_message_shows_what_is_recorded_once_a_day(world: World) -> None:
    _write_profile(world, TOM, "")
    world.clock.advance(minutes=1)
    world.cycle()
    (shown,) = _group_mail(world, TOM)
    assert "What the group sees about you" in str(shown["Subject"])
    assert "Nothing yet" in _text(shown)
    _write_profile(world, TOM, "What do you have on me?")  # the same day: not answered again
    world.clock.advance(minutes=1)
    world.cycle()
    assert len(_group_mail(world, TOM)) == 1
    # Its "Change it" button answers with its own token: recorded at once.
    world.reply(shown, TOM, "Looking for: homeowners and small landlords\nNot looking for: -")
    world.clock.advance(minutes=1)
    world.cycle()
    assert _profile_of(world, TOM) == ("homeowners and small landlords", "")
    answer = _group_mail(world, TOM)[-1]
    assert "Your profile is updated" in str(answer["Subject"])
    assert "Looking for: homeowners and small landlords" in _text(answer)


def test_the_weekly_summary_says_what_the_group_should_know_and_its_link_corrects_it(
        mail_env: MailEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tom's profile in the config, as an admin wrote it.
    written = test_lifecycle.GROUP.replace(
        'aliases = ["tbecker71@gmail.example"]\n',
        'aliases = ["tbecker71@gmail.example"]\nlooking_for = "homes with pitched roofs"\n'
        'not_looking_for = "flat roofs"\n')
    assert written != test_lifecycle.GROUP
    monkeypatch.setattr(test_lifecycle, "GROUP", written)
    world = World(mail_env, tmp_path)
    try:
        _to_no_fit(world)  # Tom is Linda's provider; the referral ends as no fit
        world.clock.now = next_monday(world.clock.now)
        world.cycle()
        summary = world.summaries(TOM)[-1]
        text = " ".join(_text(summary).split())
        assert "WHAT YOUR GROUP SHOULD KNOW ABOUT YOU" in text
        assert "Looking for: homes with pitched roofs Not looking for: flat roofs" in text
        assert "1 introduction to you didn't work out, of 1 that closed: not a fit (1)" in text
        # One click: a reply to the summary, its lines filled in, proven by its token.
        doc = lxml.html.document_fromstring(_html(summary))
        (update,) = [a.get("href") for a in doc.iter("a") if a.text_content() == "Update what members see"]
        body = parse_qs(urlsplit(update).query)["body"][0]
        lines = body.replace("\r\n", "\n").split("\n")
        assert lines == ["Looking for: homes with pitched roofs", "Not looking for: flat roofs"]
        assert unquote(urlsplit(update).path) == parseaddr(str(summary["Reply-To"]))[1]
        world.reply(summary, TOM, body.replace("homes with pitched roofs", "homes and barns"))
        world.clock.advance(minutes=5)
        world.cycle()
        assert _profile_of(world, TOM) == ("homes and barns", "flat roofs")
        assert "Your profile is updated" in str(_group_mail(world, TOM)[-1]["Subject"])
    finally:
        world.store.close()
