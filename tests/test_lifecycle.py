"""The referral lifecycle by email, end to end through real Dovecot and SMTP.

People's mail goes over real SMTP into Dovecot; refmail reads it over IMAP,
queues its own mail in the outbox and hands it to the real SMTP server, where
the test reads what each person received. Time is a controllable clock, so a
week of follow-up runs in a second.
"""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mailservers import Accepted, MailEnv

from refmail.config import load_config
from refmail.daemon import Daemon
from refmail.incoming.mailbox import Retry
from refmail.storage.store import Store

pytestmark = pytest.mark.servers

TRACKER = "refs@harbornet.example"
MEI = "mei@chencpa.example"
TOM = "tom.becker@beckerroofing.example"
LINDA = "linda@parkfamily.example"
START = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago"))

GROUP = f"""
[group]
name = "Harbor Business Network"
tracking_address = "{TRACKER}"
admins = ["{MEI}"]
timezone = "America/Chicago"

[[members]]
name = "Mei Chen"
email = "{MEI}"
business = "CPA for small businesses"

[[members]]
name = "Tom Becker"
email = "{TOM}"
business = "Residential roofing"
aliases = ["tbecker71@gmail.example"]

[timing]
thank_you_after = "1d"
feedback_after = "7d"
stale_after = "30d"
reminder_every = "7d"
max_reminders = 2
quiet_hours = "21:00-07:00"

[nudges]
prospect_feedback = 1
max_per_week = 4

[storage]
database = "refmail.db"
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class World:
    """The group, its servers and refmail, with helpers to act as people."""

    def __init__(
        self,
        env: MailEnv,
        tmp_path: Path,
        extra: str = "",
        *,
        tracker: str = TRACKER,
        imap_user: str | None = None,
        password_env: str | None = None,
        clock: Clock | None = None,
        servers: str | None = None,
    ) -> None:
        """``servers``: TOML for the [imap] and [smtp] sections (and more) instead of ``env``'s."""
        self.env = env
        imap = env.imap_settings()
        smtp = env.smtp_settings()
        tmp_path.mkdir(parents=True, exist_ok=True)
        text = GROUP.replace(TRACKER, tracker) + extra + "\n[imap]\n" + "\n".join(
            f"{k} = {json.dumps(v)}" for k, v in {
                "host": imap.host, "port": imap.port, "security": "none",
                "username": imap_user or imap.username,
                "password_env": password_env or imap.password_env, "timeout": "10s"}.items()
        ) + "\n[smtp]\n" + "\n".join(
            f"{k} = {json.dumps(v)}" for k, v in {
                "host": smtp.host, "port": smtp.port, "security": "none", "username": "",
                "timeout": "10s"}.items()
        ) + "\n"
        if servers is not None:
            text = GROUP.replace(TRACKER, tracker) + extra + servers
        path = tmp_path / "refmail.toml"
        path.write_text(text)
        self.config = load_config(path)
        self.store = Store.open(self.config.database_path())
        self.clock = clock or Clock(START)
        self.daemon = Daemon(self.config, self.store, clock=self.clock,
                             retry=Retry(attempts=3, within=10, first_delay=0.1, max_delay=0.5))

    def cycle(self) -> Any:
        return self.daemon.cycle()

    def received(self, address: str) -> list[EmailMessage]:
        """What refmail sent to ``address`` about referrals (parsed), oldest first."""
        return [m for m in self._from_refmail(address) if m["X-Refmail-Referral"] != "0"]

    def summaries(self, address: str) -> list[EmailMessage]:
        """The weekly summaries refmail sent to ``address``."""
        return [m for m in self._from_refmail(address) if m["X-Refmail-Referral"] == "0"]

    def _from_refmail(self, address: str) -> list[EmailMessage]:
        return [m.message() for m in self.env.smtp.sent_to(address) if m.mail_from == TRACKER]

    def all_sent(self) -> list[Accepted]:
        """Every message about a referral refmail sent (weekly summaries left out)."""
        return [m for m in self.env.smtp.messages
                if m.mail_from == TRACKER and m.message()["X-Refmail-Referral"] != "0"]

    def reply(self, to_message: EmailMessage, sender: str, body: str, **headers: str) -> None:
        """Reply as ``sender``'s mail client would: to Reply-To, threaded, quoting."""
        reply = EmailMessage()
        reply["From"] = sender
        reply["To"] = headers.pop("to", None) or to_message["Reply-To"]
        reply["Subject"] = "RE: " + str(to_message["Subject"])
        reply["Message-ID"] = email.utils.make_msgid(domain=sender.split("@")[1])
        reply["In-Reply-To"] = to_message["Message-ID"]
        reply["References"] = to_message["Message-ID"]
        reply["Date"] = email.utils.format_datetime(self.clock())
        for name, value in headers.items():
            reply[name.replace("_", "-")] = value
        quoted = "\n".join("> " + line for line in _text(to_message).splitlines())
        reply.set_content(
            f"{body}\n\nOn Mon, Nov 23, 2026 at 10:00 AM Harbor Business Network <{TRACKER}> wrote:\n"
            f"{quoted}\n"
        )
        self.env.send(reply, sender, [parseaddr(str(reply["To"]))[1]])

    def referral(self, referral_id: int = 1) -> dict[str, Any]:
        row = self.store.referral(referral_id)
        assert row is not None
        return row


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def world(mail_env: MailEnv, tmp_path: Path) -> Iterator[World]:
    w = World(mail_env, tmp_path)
    try:
        yield w
    finally:
        w.store.close()


def send_intro(world: World, *, to: str = LINDA, name: str = "Linda Park", n: int = 1) -> None:
    intro = EmailMessage()
    intro["From"] = f"Mei Chen <{MEI}>"
    intro["To"] = f"Tom Becker <{TOM}>, {name} <{to}>"
    intro["Cc"] = f"Harbor Referrals <{TRACKER}>"
    intro["Subject"] = f"Intro: {name} <> Tom (roofing)"
    intro["Message-ID"] = f"<intro-{n}@mail.chencpa.example>"
    intro["Date"] = email.utils.format_datetime(world.clock())
    intro.set_content(
        f"Tom, meet {name.split()[0]}. {name.split()[0]} is looking for a roofer before winter.\n"
        f"{name.split()[0]}, Tom is the roofer I told you about.\n\nMei\n"
    )
    world.env.send(intro)


def test_the_whole_lifecycle_by_email(world: World) -> None:
    send_intro(world)
    world.cycle()
    # The referrer is acknowledged at once; nobody else hears anything yet.
    acks = world.received(MEI)
    assert len(acks) == 1
    ack = acks[0]
    assert str(ack["Subject"]).startswith("[R-1] ")
    assert ack["Auto-Submitted"] == "auto-replied"  # it answers the intro (RFC 3834 §5)
    assert ack["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert ack["In-Reply-To"] == "<intro-1@mail.chencpa.example>"
    assert parseaddr(str(ack["Reply-To"]))[1].startswith("refs+")
    assert ack.get_body(preferencelist=("html",)) is not None
    assert world.received(TOM) == [] and world.received(LINDA) == []

    # A day later the provider is nudged to thank the referrer.
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    (thank_you,) = world.received(TOM)
    assert "thank" in str(thank_you["Subject"]).lower() or "thank" in _text(thank_you).lower()

    # Tom replies from his client, quoted history included.
    world.reply(thank_you, TOM, "Thank you so much, Mei! Linda's roof is in good hands.")
    world.clock.advance(minutes=10)
    world.cycle()
    relayed = world.received(MEI)[1:]
    assert len(relayed) == 1
    assert "Thank you so much, Mei!" in _text(relayed[0])
    assert "wrote:" not in _text(relayed[0])  # only the new text is passed on

    # After a week, both parties are asked how it went.
    world.clock.advance(days=7)
    world.cycle()
    feedback_tom = world.received(TOM)[-1]
    feedback_linda = world.received(LINDA)[-1]
    assert feedback_tom["Message-ID"] != thank_you["Message-ID"]
    assert "mailto:" in str(feedback_tom.get_body(preferencelist=("html",)).get_content())
    assert feedback_linda["List-Unsubscribe"] is not None  # an easy opt-out for the prospect

    # The provider closes it.
    world.reply(feedback_tom, TOM, "WON $4,500 - Linda signed for the full roof.")
    world.clock.advance(minutes=10)
    world.cycle()
    row = world.referral()
    assert row["status"] == "won"
    status_events = [e for e in row["events"] if e["kind"] == "status"]
    assert status_events[-1]["detail"]["value"] == 4500
    after_won = world.received(MEI)[2:]
    assert len(after_won) == 2  # the status update and the closed-business thanks
    assert any("4,500" in _text(m) for m in after_won)

    # Nothing more is sent for a closed referral, however long we wait.
    count = len(world.all_sent())
    for _ in range(5):
        world.clock.advance(days=10)
        world.cycle()
    assert len(world.all_sent()) == count


def test_forged_and_third_party_replies_change_nothing(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    (thank_you,) = world.received(TOM)
    reply_to = parseaddr(str(thank_you["Reply-To"]))[1]
    local, domain = reply_to.split("@")
    forged = local[:-3] + ("aaa" if not local.endswith("aaa") else "bbb") + "@" + domain
    world.reply(thank_you, TOM, "WON $1,000,000", to=forged)
    # Linda uses Tom's genuine token: not the person that nudge went to.
    world.reply(thank_you, LINDA, "LOST")
    world.clock.advance(minutes=5)
    world.cycle()
    row = world.referral()
    assert row["status"] == "introduced"
    rejected = world.store.messages("reply_rejected")
    assert len(rejected) == 2
    assert {"reply token is not one refmail issued"} <= {r["reason"] for r in rejected}
    assert len(world.received(MEI)) == 1  # only the acknowledgement


def test_auto_reply_to_a_nudge_starts_no_loop(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    (thank_you,) = world.received(TOM)
    before = len(world.all_sent())
    for _ in range(3):
        world.reply(thank_you, TOM, "I am out of the office until Monday.",
                    Auto_Submitted="auto-replied", X_Autoreply="yes")
        world.clock.advance(minutes=5)
        world.cycle()
    assert len(world.all_sent()) == before
    assert len(world.store.messages("ignored")) == 3


def test_stop_is_honoured(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=8)
    world.cycle()
    feedback_linda = world.received(LINDA)[-1]
    world.reply(feedback_linda, LINDA, "STOP")
    world.clock.advance(minutes=5)
    world.cycle()
    count = len(world.received(LINDA))
    world.clock.advance(days=40)
    world.cycle()
    assert len(world.received(LINDA)) == count
    assert any(e["kind"] == "stop" for e in world.referral()["events"])


def test_bounced_prospect_nudge_is_recorded_not_retried_and_reported(world: World) -> None:
    send_intro(world, to="nobody@gone.example", name="Ben Gone")
    world.cycle()
    world.clock.advance(days=8)
    world.cycle()
    (nudge,) = world.received("nobody@gone.example")
    dsn = (
        f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.harbornet.example\r\nTo: {TRACKER}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        "Message-ID: <dsn-1@mail.harbornet.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.harbornet.example\r\n\r\n"
        "Final-Recipient: rfc822; nobody@gone.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {nudge['Message-ID']}\r\n"
        f"From: {TRACKER}\r\nTo: nobody@gone.example\r\n\r\n--B--\r\n"
    ).encode()
    world.env.send(dsn, "", [TRACKER])
    world.clock.advance(minutes=5)
    world.cycle()
    assert world.store.blocked_people(["nobody@gone.example"]) == {"nobody@gone.example"}
    notices = [m for m in world.received(MEI) if "nobody@gone.example" in _text(m)]
    assert len(notices) == 1
    world.clock.advance(days=40)
    world.cycle()
    assert len(world.received("nobody@gone.example")) == 1


def test_smtp_refusing_for_a_while_loses_nothing(world: World) -> None:
    world.env.smtp.refuse(451, recipients=[MEI])
    send_intro(world)
    world.cycle()
    assert world.received(MEI) == []
    world.clock.advance(minutes=30)
    world.cycle()
    assert world.received(MEI) == []
    world.env.smtp.accept()
    world.clock.advance(hours=2)
    world.cycle()
    assert len(world.received(MEI)) == 1


def test_quiet_hours_hold_mail_until_morning(world: World) -> None:
    world.clock.now = START.replace(hour=22)
    send_intro(world)
    world.cycle()
    assert world.received(MEI) == []  # queued, not sent at night
    world.clock.now = START.replace(hour=6, minute=59) + timedelta(days=1)
    world.cycle()
    assert world.received(MEI) == []
    world.clock.now = START.replace(hour=7, minute=1) + timedelta(days=1)
    world.cycle()
    assert len(world.received(MEI)) == 1


def test_weekly_cap_holds(world: World) -> None:
    # Tom is introduced six times in a day: he gets at most max_per_week nudges in 7 days.
    for n in range(6):
        send_intro(world, to=f"client{n}@town.example", name=f"Client{n} Town", n=n)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    world.clock.advance(days=1)
    world.cycle()
    assert len(world.received(TOM)) == world.config.nudges.max_per_week
    world.clock.advance(days=7)
    world.cycle()
    assert len(world.received(TOM)) > world.config.nudges.max_per_week


def test_parse_sees_refmail_own_mail_as_ignored(world: World) -> None:
    from refmail.reading.classifier import classify

    send_intro(world)
    world.cycle()
    (ack,) = world.received(MEI)
    verdict = classify(ack.as_bytes(policy=policy.SMTP), world.config)
    assert verdict.kind == "ignored"


def test_due_mail_goes_out_while_the_imap_server_is_down(world: World) -> None:
    from refmail.errors import MailboxError

    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.daemon.mailbox.close()
    world.env.dovecot.halt()
    try:
        with pytest.raises(MailboxError):
            world.cycle()
        # The thank-you nudge was due and SMTP is up: it went out anyway.
        assert len(world.received(TOM)) == 1
    finally:
        world.env.dovecot.start()
