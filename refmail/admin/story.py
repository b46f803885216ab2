"""``refmail show R-5``: one referral's whole story, as an admin needs it to act.

Who is who (and who said STOP or bounced), the status, every event of the
history with its time in the group's time zone and in words, every message
refmail sent or will send about it — sent, queued, held back and why, failed
with the server's last answer — so that "why did Tom not get a nudge?" is
answered without SQL. Read-only: one read of the referral, its outbox rows and
the people table, plus the planner's read-only :meth:`~refmail.workflow.planner.Planner.held`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from refmail.config import Config
from refmail.outgoing.outbox import OutboxItem
from refmail.policy.rules import quiet_until
from refmail.storage.store import Store
from refmail.workflow.planner import Planner

__all__ = ["Mail", "Party", "Story", "StoryEvent", "parse_ref", "referral_story", "story_lines"]

_REF = re.compile(r"^\s*(?:R-?)?(\d{1,12})\s*$", re.IGNORECASE)


def parse_ref(text: str) -> int:
    """``R-5``, ``r5`` or ``5`` → 5; :class:`ValueError` for anything else."""
    match = _REF.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a referral; write it as refmail does, e.g. R-5")
    return int(match.group(1))


@dataclass(frozen=True)
class Party:
    address: str
    name: str
    role: str  # referrer | provider | prospect | party
    member: bool
    #: "said STOP on …" / "bounced on …: reason", or "" when refmail may write to them.
    blocked: str = ""


@dataclass(frozen=True)
class StoryEvent:
    at: datetime  # in the group's zone
    kind: str
    actor: str | None
    text: str  # what happened, in words
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Mail:
    """One message about the referral: sent, queued, held (not yet queued), failed, …"""

    state: str  # sent | queued | held | failed | bounced | cancelled
    step: str
    recipient: str
    subject: str
    #: Sent: when it left; queued: when it may leave; held: now; others: when queued.
    at: datetime
    why: str = ""
    id: int | None = None  # the outbox id (None for held mail, not queued yet)


@dataclass(frozen=True)
class Story:
    id: int
    tag: str
    status: str
    subject: str
    introduced_at: datetime
    silent: bool
    roles_reason: str
    parties: tuple[Party, ...]
    events: tuple[StoryEvent, ...]
    mail: tuple[Mail, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``refmail show --json`` object; times are ISO 8601 in the group's zone."""
        return {
            "id": self.id,
            "tag": self.tag,
            "status": self.status,
            "subject": self.subject,
            "introduced_at": self.introduced_at.isoformat(),
            "silent": self.silent,
            "roles_reason": self.roles_reason,
            "parties": [
                {"address": p.address, "name": p.name, "role": p.role, "member": p.member,
                 "blocked": p.blocked or None}
                for p in self.parties
            ],
            "events": [
                {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "text": e.text,
                 "detail": dict(e.detail)}
                for e in self.events
            ],
            "mail": [
                {"id": m.id, "state": m.state, "step": m.step, "recipient": m.recipient,
                 "subject": m.subject, "at": m.at.isoformat(), "why": m.why or None}
                for m in self.mail
            ],
        }


def _when(text: str | None, config: Config) -> datetime:
    moment = datetime.fromisoformat(text) if text else datetime.min
    return moment.astimezone(config.zone)


def _quote(text: Any, limit: int = 160) -> str:
    words = " ".join(str(text or "").split())
    return f"“{words[:limit]}{'…' if len(words) > limit else ''}”" if words else ""


def _money(detail: Mapping[str, Any]) -> str:
    value = detail.get("value")
    if value is None:
        return ""
    amount = f"{value:,}" if isinstance(value, int | float) else str(value)
    return f" ({amount}{' ' + str(detail['currency']) if detail.get('currency') else ''})"


#: Events told in one sentence of the actor (``who``) and fields of their detail.
_SAID = {
    "thread_reply": "a message from {who} in the intro's thread",
    "roles_set": "{who} named the provider: {provider}",
    "stop": "{who} said STOP: no more mail to them",
    "bounce": "mail to {failed} bounced: {reason}",
    "send_failed": "a {step} to {who} could not be delivered: {error}",
    "intro_seen_again": "the same introduction arrived again from {who}",
    "consent": "{who} answered the consent request: {decision}",
    "correction": "corrected by {who}: {what}",
}


class _Blank(dict[str, str]):
    """A detail without a field reads as a blank, not a KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


def describe(kind: str, actor: str | None, detail: Mapping[str, Any], name: Any) -> str:
    """One event in words; ``name(address)`` gives the display form of a person."""
    who = name(actor) if actor else "refmail"
    text = _quote(detail.get("text"))
    if kind == "introduced":
        how = " (forwarded)" if detail.get("forwarded") else ""
        silent = "; tracked silently (no mail)" if detail.get("silent") else ""
        return f"introduced by {who}{how}{silent}"
    if kind == "status":
        by = detail.get("by") or actor
        why = f", {detail['why']}" if detail.get("why") else ""
        line = (f"status {str(detail.get('from', '?')).replace('_', ' ')} → "
                f"{str(detail.get('to', '?')).replace('_', ' ')}{_money(detail)} by "
                f"{name(by) if by else 'refmail'}{why}")
        return f"{line}: {text}" if text else line
    if kind == "feedback":
        return f"feedback from {who}: {text}"
    if kind == "thanks":
        return f"{who} thanked the referrer" + (f": {text}" if text else "")
    if kind == "first_contact":
        to = ", ".join(name(a) for a in detail.get("to", []))
        return f"{who} wrote to {to} in the intro's thread (first contact)"
    if kind == "proposed":
        return f"proposed by {who} (consent first), asking {', '.join(map(name, detail.get('asked', [])))}"
    if kind in _SAID:
        values = {key: str(value) for key, value in detail.items()}
        values |= {"who": who, "provider": name(detail.get("provider")),
                   "failed": name(detail.get("failed_recipient"))}
        return _SAID[kind].format_map(_Blank(values))
    rest = ", ".join(f"{k}={v}" for k, v in sorted(detail.items()) if v not in (None, "", [], {}))
    return f"{kind.replace('_', ' ')} by {who}" + (f" ({rest})" if rest else "")


def _mail_of(item: OutboxItem, now: datetime, config: Config) -> Mail:
    zone = config.zone
    created = (item.created_at or item.next_attempt_at).astimezone(zone)
    if item.status == "sent":
        sent = item.sent_at or item.created_at or item.next_attempt_at
        return Mail("sent", item.step, item.recipient, item.subject, sent.astimezone(zone), "", item.id)
    if item.status == "queued":
        due = item.next_attempt_at.astimezone(zone)
        if item.attempts and item.last_error:
            why = f"retrying (attempt {item.attempts + 1}); the server said: {item.last_error}"
        elif due > now:
            quiet = quiet_until(item.created_at, config) if item.created_at else None
            why = "quiet hours" if quiet is not None and abs((quiet - due).total_seconds()) < 1 else (
                "waiting for its time")
            why = f"{why}: leaves at {due:%a %d %b %H:%M}"
        else:
            why = "due now: goes out at the daemon's next cycle"
        return Mail("queued", item.step, item.recipient, item.subject, due, why, item.id)
    why = item.last_error or ""
    return Mail(item.status, item.step, item.recipient, item.subject, created, why, item.id)


def referral_story(store: Store, config: Config, referral_id: int, now: datetime,
                   planner: Planner | None = None) -> Story | None:
    """The story of one referral as of ``now``, or None when there is no such referral."""
    row = store.referral(referral_id)
    if row is None:
        return None
    names: dict[str, str] = row.get("names", {})
    roles = {p["address"]: p["role"] for p in _parties(store, referral_id)}

    def name(address: Any) -> str:
        if not address:
            return "?"
        member = config.member(str(address))
        shown = names.get(str(address)) or (member.name if member else "")
        return f"{shown} <{address}>" if shown else str(address)

    people = {p["address"]: p for p in _people(store, list(roles))}
    parties = []
    for address, role in roles.items():
        member = config.member(address)
        state = people.get(address)
        blocked = ""
        if state and state["stopped_at"]:
            blocked = f"said STOP on {_when(state['stopped_at'], config):%d %b %Y}"
        elif state and state["bounced_at"]:
            blocked = (f"bounced on {_when(state['bounced_at'], config):%d %b %Y}: "
                       f"{state['bounce_reason'] or ''}").rstrip(": ")
        parties.append(Party(address, names.get(address) or (member.name if member else ""), role,
                             member is not None, blocked))
    events = tuple(
        StoryEvent(_when(e["at"], config), e["kind"], e["actor"],
                   describe(e["kind"], e["actor"], e["detail"], name), e["detail"])
        for e in row["events"]
    )
    planner = planner or Planner(config, store)
    local_now = now.astimezone(config.zone)
    mail = [_mail_of(item, local_now, config) for item in planner.outbox.items(referral_id=referral_id)]
    for due, why in planner.held(referral_id, now):
        mail.append(Mail("held", due.step, due.recipient, "", local_now, why))
    return Story(
        id=int(row["id"]), tag=row["tag"], status=row["status"], subject=row["subject"],
        introduced_at=_when(row["introduced_at"], config), silent=bool(row["silent"]),
        roles_reason=row["roles_reason"], parties=tuple(parties), events=events, mail=tuple(mail),
    )


def _parties(store: Store, referral_id: int) -> list[dict[str, Any]]:
    return list(store.db.query(
        "SELECT address, name, role FROM parties WHERE referral_id = ? ORDER BY rowid", [referral_id]))


def _people(store: Store, addresses: list[str]) -> list[dict[str, Any]]:
    if not addresses:
        return []
    marks = ",".join("?" * len(addresses))
    return list(store.db.query(f"SELECT * FROM people WHERE address IN ({marks})", addresses))


def story_lines(story: Story) -> list[str]:
    """The story as text for a terminal."""
    silent = " · tracked silently" if story.silent else ""
    lines = [f"{story.tag} · {story.status.replace('_', ' ')}{silent}"]
    if story.subject:
        lines.append(f"  {story.subject}")
    lines += [f"  introduced {story.introduced_at:%a %d %b %Y %H:%M %Z}", "", "People:"]
    for p in story.parties:
        who = f"{p.name} <{p.address}>" if p.name else p.address
        extra = ", member" if p.member and p.role != "referrer" else ""
        lines.append(f"  {p.role:<9} {who}{extra}" + (f"  ! {p.blocked}" if p.blocked else ""))
    if story.roles_reason:
        lines.append(f"  roles: {story.roles_reason}")
    lines += ["", "History:"]
    lines += [f"  {e.at:%d %b %H:%M}  {e.text}" for e in story.events] or ["  (nothing yet)"]
    lines += ["", "Mail:"]
    if not story.mail:
        lines.append("  nothing sent or queued")
    for m in story.mail:
        ident = f"#{m.id}" if m.id is not None else "—"
        lines.append(f"  {m.state:<9} {ident:>6}  {m.at:%d %b %H:%M}  {m.step} to {m.recipient}"
                     + (f"  ({m.why})" if m.why else ""))
    return lines
