"""The weekly digest: when summaries are due, and queuing them exactly once.

At ``[timing] weekly_summary`` (a weekday and a time in the group's zone)
every member with referrals gets their summary and every admin the group's
(SPEC "Weekly summaries"). The outbox's unique key — step, recipient and
``seq`` = the ISO year and week of the slot — makes "once per person per
week" a property of the database: a restart, a second cycle or a crash
between queuing and sending cannot send it twice. After downtime only the
latest missed slot is sent, once; older ones are not worth a burst of mail.

Group-level mail (summaries, notices to admins) has no referral: its reply
token is issued for referral 0, so a STOP still works.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from refmail.config import Config
from refmail.outgoing.outbox import Outbox
from refmail.render.composer import compose, new_message_id
from refmail.render.renderer import Rendered
from refmail.storage.one_to_ones import OneToOnes
from refmail.storage.store import Store
from refmail.summaries.member import (
    MemberSummary,
    admin_summary,
    member_summary,
    summary_context,
    with_coaching,
)
from refmail.workflow.planner import Planner

__all__ = ["Digest", "latest_slot", "week_key"]

log = logging.getLogger(__name__)

#: The tag in a summary's subject (``[Weekly] …``).
TAG = "Weekly"


def latest_slot(now: datetime, config: Config) -> datetime:
    """The most recent scheduled summary moment at or before ``now`` (aware, group zone)."""
    weekday, at = config.timing.weekly_summary
    local = now.astimezone(config.zone)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, at, tzinfo=config.zone)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), at, tzinfo=config.zone)
    return slot


def week_key(slot: datetime) -> int:
    """``202648`` for ISO week 48 of 2026: the outbox ``seq`` of that week's summaries."""
    year, week, _ = slot.isocalendar()
    return year * 100 + week


class Digest:
    """Plans and queues the weekly summaries through the planner's outbox."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.config: Config = planner.config
        self.store: Store = planner.store
        self.outbox: Outbox = planner.outbox

    def plan(self, now: datetime) -> int:
        """Queue this week's summaries if their slot has passed; how many were queued."""
        slot = latest_slot(now, self.config)
        installed = self._installed(now)
        if installed > slot:
            return 0  # refmail was not running yet at that slot: nothing was missed
        seq = week_key(slot)
        queued = 0
        for member in self.config.members:
            if self.outbox.has("summary_member", member.email, seq):
                continue
            if self.queue_member(member.email, now, seq=seq) is not None:
                queued += 1
        for admin in self.config.group.admins:
            if self.outbox.has("summary_admin", admin, seq):
                continue
            if self.queue_admin(admin, now, seq=seq) is not None:
                queued += 1
        if queued:
            log.info("queued %d weekly summaries for the week of %s", queued, f"{slot:%b %d}")
        return queued

    def _installed(self, now: datetime) -> datetime:
        value = self.store.setting("installed_at")
        if value is None:
            self.store.set_setting("installed_at", now.isoformat())
            return now
        return datetime.fromisoformat(value)

    # -- one summary ---------------------------------------------------------------
    def render_member(self, member: str, now: datetime, reply_address: str | None = None) -> Rendered | None:
        """The member's summary, or None when they have no referral at all."""
        found = self._member(member, now, reply_address)
        return found[1] if found else None

    def _member(self, member: str, now: datetime,
                reply_address: str | None) -> tuple[MemberSummary, Rendered] | None:
        summary = member_summary(self.store, self.config, member, now)
        if not summary.given_total and not summary.received_total:
            return None
        summary = with_coaching(summary, self.store, self.config, now)
        context = summary_context(summary, self.config, reply_address=reply_address)
        return summary, self.planner.renderer.render("summary_member", context)

    def render_admin(self, admin: str, now: datetime, reply_address: str | None = None) -> Rendered:
        summary = admin_summary(self.store, self.config, now)
        context = summary_context(summary, self.config, recipient=admin, reply_address=reply_address)
        return self.planner.renderer.render("summary_admin", context)

    def queue_member(self, member: str, now: datetime, *, seq: int) -> int | None:
        """Queue ``member``'s summary of week ``seq``; a one-to-one it suggests is
        recorded with it, in one transaction, so it is never suggested twice."""
        if self.store.blocked_people([member]):
            return None
        token = self.planner.signer.issue(0, member, "summary_member", seq)
        with self.store.transaction():
            found = self._member(member, now, self._reply_address(token))
            if found is None:
                return None
            summary, rendered = found
            queued = self._queue("summary_member", member, seq, token, rendered, now)
            suggested = summary.one_to_one
            if queued is not None and suggested is not None:
                OneToOnes(self.store).record(
                    summary.member.email, suggested.other.email, week=seq, now=now,
                    referrals=(int(line.tag.removeprefix("R-")) for line in suggested.agenda),
                )
        return queued

    def queue_admin(self, admin: str, now: datetime, *, seq: int) -> int | None:
        if self.store.blocked_people([admin]):
            return None
        token = self.planner.signer.issue(0, admin, "summary_admin", seq)
        rendered = self.render_admin(admin, now, self._reply_address(token))
        return self._queue("summary_admin", admin, seq, token, rendered, now)

    def notify_admins(self, title: str, text: str, *, seq: int, now: datetime) -> int:
        """A notice to every admin about refmail itself, once per ``seq``."""
        queued = 0
        for admin in self.config.group.admins:
            if self.store.blocked_people([admin]) or self.outbox.has("admin_notice", admin, seq):
                continue
            token = self.planner.signer.issue(0, admin, "admin_notice", seq)
            member = self.config.member(admin)
            name = member.name if member else admin
            context = {
                "referral": {"id": None, "tag": "refmail", "subject": "", "status": None,
                             "status_label": "", "introduced_on": "", "value": None, "currency": None},
                "recipient": {"name": name, "first_name": name.split()[0], "email": admin},
                "reply_address": self._reply_address(token),
                "notice": {"title": title, "text": text},
            }
            rendered = self.planner.renderer.render("admin_notice", context)
            if self._queue("admin_notice", admin, seq, token, rendered, now) is not None:
                queued += 1
        return queued

    def _reply_address(self, token: str) -> str:
        return f"{self.config.tracker_local}+{token}@{self.config.tracker_domain}"

    def _queue(self, step: str, recipient: str, seq: int, token: str, rendered: Rendered,
               now: datetime) -> int | None:
        member = self.config.member(recipient)
        message_id = new_message_id(self.config, 0, step)
        raw = compose(
            self.config, rendered, to=(member.name if member else "", recipient),
            message_id=message_id, reply_token=token, referral_id=0, tag=TAG,
            in_reply_to=None, references=[], date=now,
        )
        return self.outbox.enqueue(
            referral_id=None, step=step, recipient=recipient, seq=seq, message_id=message_id,
            token=token, subject=rendered.subject, raw=raw, now=now, not_before=now,
        )
