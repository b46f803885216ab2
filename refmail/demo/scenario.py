"""The demo's second act: five weeks of follow-up on a simulated clock.

After the sample inbox is captured, people answer refmail's mail the way
they would — a thank-you, an answer to the roles question, a win, a "no fit",
a prospect's praise, a STOP — and the clock moves on to feedback requests and
stale reminders. Every message refmail sends goes through the real planner
and outbox into :class:`FileTransport`, which writes it to disk (``.eml`` and
an ``.html`` preview) instead of handing it to an SMTP server.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from refmail.outgoing.outbox import OutboxItem
from refmail.workflow.digest import Digest
from refmail.workflow.planner import Planner
from refmail.workflow.tracker import Outcome, Tracker

__all__ = ["REPLIES", "FileTransport", "Reply", "SentMail", "play"]


@dataclass(frozen=True)
class SentMail:
    """One message refmail sent in the demo, as written to disk."""

    at: datetime
    to: str
    step: str
    referral: str
    subject: str
    path: Path


class FileTransport:
    """A :class:`~refmail.outgoing.transport.Transport` that writes messages to a folder."""

    where = "the demo's sent folder"

    def __init__(self, folder: Path, clock: Callable[[], datetime]) -> None:
        self.folder = folder
        self.clock = clock
        self.sent: list[SentMail] = []
        folder.mkdir(parents=True, exist_ok=True)

    def send(
        self, raw: bytes, *, mail_from: str, rcpt_tos: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        found = re.match(r"<refmail\.(\d+)\.(\w+)\.", str(message["Message-ID"]))
        referral, step = (f"R-{found.group(1)}", found.group(2)) if found else ("", "message")
        if referral == "R-0":
            referral = ""  # group mail (a weekly summary): no referral
        to = rcpt_tos[0]
        stem = f"{len(self.sent) + 1:02d}-{referral or 'group'}-{step}-{to.split('@')[0]}"
        path = self.folder / f"{stem}.eml"
        path.write_bytes(raw)
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            (self.folder / f"{stem}.html").write_text(str(html.get_content()), encoding="utf-8")
        self.sent.append(SentMail(self.clock(), to, step, referral, str(message["Subject"]), path))
        return {}


@dataclass(frozen=True)
class Reply:
    """Someone answering the latest ``step`` message refmail sent them."""

    day: int
    time: str
    step: str
    sender: str
    body: str
    referral: str = ""  # "R-3": which referral's message, when the sender has several


#: The people's side of the story (days after the demo's start).
REPLIES: tuple[Reply, ...] = (
    Reply(0, "10:40", "thank_you", "tom.becker@beckerroofing.example",
          "Thank you so much, Mei! Linda's bakery roof is exactly the kind of job I love. "
          "I'll drop by on Wednesday to take a look."),
    Reply(0, "11:15", "roles_question", "greg@lindqvistinsurance.example",
          "PROVIDER daniel@okaforlaw.example\n\nDaniel is the lawyer - Priya wants her office "
          "lease looked at before she signs."),
    Reply(7, "09:40", "feedback", "tom.becker@beckerroofing.example",
          "WON $4,500 - Linda signed for the full roof replacement. Starting next week."),
    Reply(7, "10:05", "feedback", "priya@ramanit.example",
          "NO FIT - Carla's practice runs on Macs and I only support Windows networks. "
          "I gave her the name of a good Mac consultant.", "R-3"),
    Reply(7, "13:20", "feedback", "linda@parkfamilybakery.example",
          "Tom was wonderful: quick, honest and tidy. Thank you for the introduction!"),
    Reply(8, "08:30", "feedback", "javier@lacocinaderuiz.example", "STOP"),
)


def _latest_to(
    transport: FileTransport, step: str, recipient: str, referral: str = ""
) -> EmailMessage | None:
    for sent in reversed(transport.sent):
        if sent.step == step and sent.to == recipient and referral in (sent.referral, ""):
            message = email.message_from_bytes(sent.path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            return message
    return None


def reply_to(nudge: EmailMessage, sender: str, body: str, when: datetime) -> bytes:
    """A reply as a mail client writes it: threaded, quoting, to the Reply-To."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(nudge["Reply-To"])
    reply["Subject"] = "Re: " + str(nudge["Subject"])
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    reply["In-Reply-To"] = str(nudge["Message-ID"])
    reply["References"] = str(nudge["Message-ID"])
    text = nudge.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in str(text.get_content() if text else "").splitlines())
    name, address = parseaddr(str(nudge["From"]))
    reply.set_content(f"{body}\n\nOn {format_datetime(when)}, {name} <{address}> wrote:\n{quoted}\n")
    return reply.as_bytes(policy=policy.SMTP)


def play(
    tracker: Tracker,
    planner: Planner,
    transport: FileTransport,
    clock: list[datetime],
    *,
    mail_from: str,
    on_reply: Callable[[Reply, Outcome | None], None] | None = None,
) -> None:
    """Run the replies and the passing weeks; ``clock[0]`` is the simulated now."""
    start = clock[0]

    def failed(item: OutboxItem, error: str) -> None:
        planner.notify_failure(item, error, clock[0])

    digest = Digest(planner)

    def deliver() -> None:
        planner.plan_all(clock[0])
        digest.plan(clock[0])
        planner.outbox.deliver(
            transport, mail_from=mail_from, now=lambda: clock[0], on_permanent=failed
        )

    deliver()
    for reply in REPLIES:
        hour, minute = (int(x) for x in reply.time.split(":"))
        moment = (start + timedelta(days=reply.day)).replace(hour=hour, minute=minute)
        if moment > clock[0]:
            # Let the clock run to the reply, sending what falls due on the way.
            clock[0] = moment.replace(hour=9, minute=0) if moment.date() != clock[0].date() else moment
            deliver()
            clock[0] = moment
        nudge = _latest_to(transport, reply.step, reply.sender, reply.referral)
        outcome = None
        if nudge is not None:
            outcome = tracker.process(reply_to(nudge, reply.sender, reply.body, moment), now=moment)
        if on_reply is not None:
            on_reply(reply, outcome)
        deliver()
    # Weeks later: whatever went quiet is chased.
    for day in (20, 38):
        clock[0] = start + timedelta(days=day)
        deliver()
