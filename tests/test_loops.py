"""Mail loops stay bounded: misbehaving auto-responders and a second refmail.

Well-behaved automata mark their mail (RFC 3834 Auto-Submitted, X-Refmail)
and refmail never answers it. For the rest, a per-sender rate limit is the
brake: past it, mail is recorded but not applied, and the admins hear once.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from mailservers import MailEnv
from test_lifecycle import MEI, TOM, World, send_intro

pytestmark = pytest.mark.servers


@pytest.fixture
def world(mail_env: MailEnv, tmp_path: Path) -> Iterator[World]:
    w = World(mail_env, tmp_path, extra="\n[security]\nmax_messages_per_sender_per_hour = 5\n")
    try:
        yield w
    finally:
        w.store.close()


def test_an_auto_responder_without_headers_is_braked(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    # Tom's broken responder answers every message refmail sends him, without
    # Auto-Submitted: each answer reads like a real thank-you note.
    for _ in range(30):
        latest = world.received(TOM)[-1]
        world.reply(latest, TOM, "Thank you for your email. I will answer as soon as possible.")
        world.clock.advance(seconds=30)
        world.cycle()
    limited = world.store.messages("rate_limited")
    assert len(limited) >= 20
    # What refmail sent because of it is bounded by the limit, not by the flood.
    relayed = [m for m in world.received(MEI) if "thank-you from" in str(m["Subject"]).lower()]
    assert len(relayed) <= 5
    notices = [m for m in world.summaries(MEI) if "ignoring mail from" in str(m["Subject"])]
    assert len(notices) == 1  # the admin hears once, not thirty times


def test_two_refmail_instances_copying_each_other_do_not_ping_pong(
    mail_env: MailEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_env.dovecot.add_user("refs2", "refs2-secret")
    monkeypatch.setenv("REFMAIL_TEST_IMAP_PASSWORD2", "refs2-secret")
    # Each instance's tracking address is a member of the other's group.
    a_member = '\n[[members]]\nname = "Other Network"\nemail = "refs2@othernet.example"\n'
    b_member = '\n[[members]]\nname = "Harbor Network"\nemail = "refs@harbornet.example"\n'
    first = World(mail_env, tmp_path / "a", a_member)
    second = World(mail_env, tmp_path / "b", b_member, tracker="refs2@othernet.example",
                   imap_user="refs2", password_env="REFMAIL_TEST_IMAP_PASSWORD2", clock=first.clock)
    try:
        intro = EmailMessage()
        intro["From"] = f"Mei Chen <{MEI}>"
        intro["To"] = f"Tom Becker <{TOM}>, Linda Park <linda@parkfamily.example>"
        intro["Cc"] = "refs@harbornet.example, refs2@othernet.example"
        intro["Subject"] = "Intro: Linda <> Tom"
        intro["Message-ID"] = "<both@mail.chencpa.example>"
        intro["Date"] = format_datetime(first.clock())
        intro.set_content("Tom, meet Linda, who is looking for a roofer.\n"
                          "Linda, Tom is the roofer I told you about.\n\nMei\n")
        mail_env.send(intro)
        for _ in range(12):
            first.cycle()
            second.cycle()
            first.clock.advance(days=3)
        trackers = {"refs@harbornet.example", "refs2@othernet.example"}
        between = [
            m for m in mail_env.smtp.messages if m.mail_from in trackers and set(m.rcpt_tos) & trackers
        ]
        # Whatever one instance wrote to the other was recognised as refmail's
        # own mail (X-Refmail) and answered by nothing: a handful, no ping-pong.
        assert len(between) <= 6
        for world in (first, second):
            from_other = [r for r in world.store.messages() if r["sender"] in trackers]
            assert all(r["outcome"] == "ignored" for r in from_other)
        # Both still tracked Mei's introduction, once each.
        assert first.store.count_referrals() == 1 and second.store.count_referrals() == 1
    finally:
        first.store.close()
        second.store.close()
