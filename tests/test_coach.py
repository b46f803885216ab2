"""The referral coach by email, end to end through real Dovecot and SMTP: a
miss still earns a thank-you and a lesson (seed 000).

The ``World`` of ``test_lifecycle``: people's mail over real SMTP into Dovecot,
refmail reading it over IMAP on a controllable clock, and what each person
received read back from the SMTP server as their mail client would.
"""

from __future__ import annotations

import pytest
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
