"""Messages set aside, and the short answer their member gets.

A message refmail cannot act on — too large to download, unreadable, or one
whose processing raised — is recorded with its reason and mailbox position
and flagged on the server (:meth:`refmail.workflow.tracker.Tracker.record_failure`),
and the inbox goes on. "No member's mail goes unanswered" (SPEC): when the
message comes from a member, that member is told, in a few lines, that it was
not tracked, why, and what to do. The admins see the week's set-aside
messages in their weekly summary (:mod:`refmail.summaries.group`).

Who is told, and how often, is decided here with an attacker in mind: only a
member (never a stranger, whose address may be anyone's), at most once per
member per day whatever arrives in their name (a forged From costs nothing),
never about mail older than the backfill window (a first start must not
answer last year's mail), never someone who said STOP or whose mail bounces,
and not in quiet hours. The notice goes through the outbox like every other
message: queued in the same transaction as the record, sent by the daemon.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from refmail.config import Config
from refmail.mail.message import parse_message
from refmail.policy.rules import quiet_until
from refmail.render.composer import compose, new_message_id
from refmail.storage.store import unusable

if TYPE_CHECKING:
    from refmail.workflow.planner import Planner

__all__ = ["NOTICE_STEP", "SetAside", "Why", "notify_member", "read_aside"]

log = logging.getLogger(__name__)

#: The outbox step of the notice; its ``seq`` is the day (YYYYMMDD, group time).
NOTICE_STEP = "set_aside"
#: Characters of a subject shown back: enough to recognise one's own message.
SUBJECT_CHARS = 80


class Why(StrEnum):
    """Why a message was set aside: what its notice says and suggests."""

    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    FAILED = "failed"


@dataclass(frozen=True)
class SetAside:
    """What the header fields of a set-aside message say about it."""

    why: Why
    author: str | None  # the From address, lower-case, as written
    subject: str
    date: datetime | None
    size: int


_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S*")


def _shown(subject: str) -> str:
    """A stranger's subject as it may be repeated to a member: one line, no links, short."""
    text = " ".join(_URL.sub("…", subject).split())
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1] + "…"


def read_aside(raw: bytes, why: Why, size: int | None = None) -> SetAside:
    """The header fields of ``raw`` (a whole message, or only its header block).

    Only the header block is read (the body is what could not be read), with
    the mail stage's bounds, so this never raises and costs little whatever
    ``raw`` holds.
    """
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    head = raw[: min(ends)] if ends else raw
    msg = parse_message(head + b"\r\n\r\n")
    return SetAside(
        why=why,
        author=msg.from_.address if msg.from_ else None,
        subject=_shown(msg.subject),
        date=msg.date,
        size=size if size is not None else len(raw),
    )


def notify_member(planner: Planner, aside: SetAside, *, now: datetime) -> int | None:
    """Queue the notice for ``aside`` when its author is a member who may hear of it now.

    Returns the outbox id, or None when nothing is queued (not a member,
    already told today, stopped or bounced, mail from before the backfill
    window). A notice that cannot be rendered is logged and skipped: the
    record of the message must not be lost to it.
    """
    config = planner.config
    member = config.member(aside.author) if aside.author else None
    if member is None or config.is_tracking_address(member.email):
        return None
    if aside.date is not None and aside.date < now - config.timing.backfill:
        return None
    day = int(now.astimezone(config.zone).strftime("%Y%m%d"))
    outbox = planner.outbox
    if planner.store.blocked_people([member.email]) or outbox.has(NOTICE_STEP, member.email, day):
        return None
    try:
        return _queue(planner, config, aside, member.email, member.name, day, now)
    except Exception as exc:
        if unusable(exc):
            raise
        log.warning("could not queue the set-aside notice to %s: %s", member.email, type(exc).__name__)
        return None


def _size(n: int) -> str:
    """``"30.4 MB"``, ``"25 MB"``, ``"64 KB"``: a size as the notice shows it."""
    if n < 1024 * 1024:
        return f"{max(1, round(n / 1024))} KB"
    mb = n / 1024 / 1024
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def _name(config: Config, address: str) -> str:
    member = config.member(address)
    return member.name if member else address


def _queue(planner: Planner, config: Config, aside: SetAside, address: str, name: str, day: int,
           now: datetime) -> int | None:
    token = planner.signer.issue(0, address, NOTICE_STEP, day)
    reply_address = f"{config.tracker_local}+{token}@{config.tracker_domain}"
    zone = config.zone
    context = {
        "referral": {"id": None, "tag": "refmail", "subject": "", "status": None, "status_label": "",
                     "introduced_on": "", "value": None, "currency": None},
        "recipient": {"name": name, "first_name": name.split()[0] if name else address, "email": address},
        "reply_address": reply_address,
        "aside": {
            "why": str(aside.why),
            "subject": aside.subject,
            "sent_on": aside.date.astimezone(zone).strftime("%b %-d") if aside.date else "",
            "size": _size(aside.size),
            "limit": _size(config.imap.max_message_size),
            "admins": [_name(config, a) for a in config.group.admins],
        },
    }
    rendered = planner.renderer.render(NOTICE_STEP, context)
    message_id = new_message_id(config, 0, NOTICE_STEP)
    raw = compose(
        config, rendered, to=(name, address), message_id=message_id, reply_token=token, referral_id=0,
        tag="refmail", in_reply_to=None, references=[], list_unsubscribe=False, date=now,
    )
    return planner.outbox.enqueue(
        referral_id=None, step=NOTICE_STEP, recipient=address, seq=day, message_id=message_id,
        token=token, subject=rendered.subject, raw=raw, now=now,
        not_before=quiet_until(now, config) or now,
    )
