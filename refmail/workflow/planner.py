"""From "what is due" to queued mail: rules, policy, rendering and the outbox.

:mod:`refmail.policy.rules` decides which steps are due for a referral; the planner
applies the delivery policy (weekly cap, quiet hours), renders the message,
signs its reply token and enqueues it — all inside the caller's transaction,
so a status change and the update it causes are committed together or not at
all (the durable-outbox rule). Sending is the outbox's job, not the planner's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from refmail.config import Config
from refmail.outgoing.outbox import Outbox, OutboxItem
from refmail.policy.consent import CONSENT_STEPS, consent_due, consent_state, should_expire
from refmail.policy.rules import (
    CAP_EXEMPT,
    Due,
    Event,
    ReferralView,
    due_messages,
    over_weekly_cap,
    quiet_until,
)
from refmail.policy.tokens import TokenSigner, new_secret
from refmail.render.composer import compose, new_message_id
from refmail.render.renderer import Renderer
from refmail.storage.profiles import Profiles
from refmail.storage.store import Store, unusable

__all__ = ["Planner", "signer_for"]

log = logging.getLogger(__name__)

#: How long after its last change a closed referral is still looked at for
#: event-driven messages (status updates, relayed thanks).
RECENT = timedelta(days=30)
#: Referrals read together by :meth:`Planner.plan_all` (each id is one SQL parameter).
PLAN_BATCH = 500
#: The steps that answer the referrer's own intro (the acknowledgement, or the
#: question that takes its place when the roles are unknown): ``Auto-Submitted:
#: auto-replied`` (RFC 3834 §5); everything else refmail writes is ``auto-generated``.
ANSWERS = frozenset({"ack", "roles_question"})


def signer_for(store: Store) -> TokenSigner:
    """The token signer, with the secret made at first run and kept in the database."""
    secret = store.setting("token_secret")
    if secret is None:
        with store.transaction():
            secret = store.setting("token_secret")
            if secret is None:
                secret = new_secret().hex()
                store.set_setting("token_secret", secret)
    return TokenSigner(bytes.fromhex(secret))


def _first_name(name: str, address: str) -> str:
    if name and "@" not in name:
        return name.split()[0]
    local = address.split("@")[0]
    return local.replace(".", " ").replace("_", " ").split()[0].capitalize() if local else address


#: The steps whose provider carries their profile (``looking_for``,
#: ``not_looking_for``), when the recipient is a member: the referrer's
#: acknowledgement, the consent-first question to the provider, and what the
#: referrer is told while it waits. Never to someone outside the group.
PROFILE_SHOWN = frozenset({"ack", "consent_request", "consent_reminder", "proposal_ack"})
_PEOPLE_KEYS = ("referrer", "provider", "prospects", "parties", "asked")


def before_consent(context: dict[str, Any], recipient: str) -> dict[str, Any]:
    """``context`` for someone asked whether they want an introduction: nobody
    else's address in it (SPEC "Trust": no address is shown to anyone before
    they have consented).

    Every person but the recipient and the referrer (who wrote the proposal
    and knows them) loses their address, and one known by no name but their
    address (the proposal reads names from the text and from addresses like
    "linda.park@…", but not from "info@…") becomes "a contact of Mei's".
    """
    referrer = context["referrer"]
    keep = {recipient.lower(), str(referrer["email"]).lower()}

    def private(person: Any) -> Any:
        if not isinstance(person, dict) or str(person.get("email", "")).lower() in keep:
            return person
        name = str(person.get("name", ""))
        if "@" in name or not name.strip():
            name, first = f"a contact of {referrer['first_name']}'s", "they"
        else:
            first = str(person.get("first_name") or name.split()[0])
        return {**person, "name": name, "first_name": first, "email": ""}

    out = dict(context)
    for key in _PEOPLE_KEYS:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [private(p) for p in value]
        elif value is not None:
            out[key] = private(value)
    return out


class Planner:
    """Plans and enqueues refmail's messages for referrals."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        outbox: Outbox | None = None,
        renderer: Renderer | None = None,
        signer: TokenSigner | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.outbox = outbox or Outbox(store)
        self.renderer = renderer or Renderer(config, config.nudges.template_path(config.source))
        self.signer = signer or signer_for(store)
        #: Referrals whose planning raised, warned about once (see :meth:`_plan_one`).
        self._unplannable: set[int] = set()

    # -- views -----------------------------------------------------------------
    @staticmethod
    def view(row: Mapping[str, Any]) -> ReferralView:
        events = tuple(
            Event(
                id=int(e["id"]),
                kind=e["kind"],
                at=datetime.fromisoformat(e["at"]),
                actor=e["actor"],
                detail=e["detail"],
            )
            for e in row["events"]
        )
        return ReferralView(
            id=int(row["id"]),
            status=row["status"],
            referrer=row["referrer"],
            provider=row["provider"],
            prospects=tuple(row["prospects"]),
            parties=tuple(row["parties"]),
            silent=bool(row["silent"]),
            introduced_at=datetime.fromisoformat(row["introduced_at"]),
            events=events,
        )

    def person(self, address: str, names: Mapping[str, str]) -> dict[str, str]:
        member = self.config.member(address)
        name = names.get(address) or (member.name if member else "") or address
        person = {"name": name, "first_name": _first_name(name, address), "email": address}
        if member is not None and member.business:
            person["business"] = member.business
        return person

    # -- planning ----------------------------------------------------------------
    def plan(self, referral_id: int, now: datetime) -> list[int]:
        """Enqueue every message due now for one referral; returns the outbox ids."""
        row = self.store.referral(referral_id)
        if row is None or row["silent"]:
            return []
        view = self.view(row)
        recipients = {view.referrer, *view.parties}
        with self.store.transaction():
            if should_expire(view, self.config, now):
                # A clock-driven change: made here so its message is queued with it.
                self.store.set_status(referral_id, "expired", now)
                self.store.add_event(
                    referral_id, "status", at=now, actor=None,
                    detail={"from": "proposed", "to": "expired", "consent": True},
                )
                row = self.store.referral(referral_id) or row
                view = self.view(row)
            already = self.outbox.enqueued(referral_id)
            blocked = self.store.blocked_people(recipients)
            dues = [
                *due_messages(view, self.config, now, already=already, blocked=blocked),
                *consent_due(view, self.config, now, already=already, blocked=blocked),
            ]
            queued = []
            for due in dues:
                item_id = self._enqueue(row, view, due, now)
                if item_id is not None:
                    queued.append(item_id)
        return queued

    def held(self, referral_id: int, now: datetime) -> list[tuple[Due, str]]:
        """What is due for one referral but held back, and why in words; writes nothing.

        :meth:`plan` asks the same questions: a message it would not queue now
        because of the weekly cap is held, and queued at the first cycle the
        week allows it (``refmail show``, ``refmail outbox``).
        """
        row = self.store.referral(referral_id)
        if row is None or row["silent"]:
            return []
        view = self.view(row)
        already = self.outbox.enqueued(referral_id)
        blocked = self.store.blocked_people({view.referrer, *view.parties})
        held: list[tuple[Due, str]] = []
        for due in due_messages(view, self.config, now, already=already, blocked=blocked):
            if due.step in CAP_EXEMPT:
                continue
            recent = self.outbox.recent_to(due.recipient, now - timedelta(days=7), exclude_steps=CAP_EXEMPT)
            if over_weekly_cap(recent, now, self.config):
                room = (min(recent) + timedelta(days=7)).astimezone(self.config.zone)
                held.append((due, f"weekly cap: {len(recent)} messages to {due.recipient} in 7 days "
                                  f"([nudges] max_per_week = {self.config.nudges.max_per_week}); "
                                  f"room again after {room:%a %d %b %H:%M}"))
        return held

    def plan_all(self, now: datetime) -> int:
        """Plan every referral that may have something due (time-based steps).

        Queues exactly what :meth:`plan` on each referral, in id order, would:
        the candidates are read :data:`PLAN_BATCH` at a time (a handful of
        queries per batch, not five per referral) and the pure rules run on
        each; only a referral with something due, or a proposal to expire, goes
        through :meth:`plan`, which reads it again and decides again in its own
        transaction. In the steady state almost nothing is due: five queries
        and a ``BEGIN IMMEDIATE``/``COMMIT`` per candidate, nearly always for
        nothing, were most of a daemon cycle at a million referrals.

        Skipping on the batch's reading is sound because what is due for one
        referral depends only on its own rows, its own outbox rows and the
        people table, and planning a referral writes only its own rows and
        outbox rows: planning the earlier referrals of a batch cannot make a
        later one due. (The weekly cap, which does look across referrals, is
        applied inside :meth:`plan`, in the same order as before.)
        """
        total = 0
        ids = self.store.referral_ids_to_plan(now - RECENT)
        for start in range(0, len(ids), PLAN_BATCH):
            for referral_id in self._with_something_due(ids[start : start + PLAN_BATCH], now):
                total += len(self._plan_one(referral_id, now))
        return total

    def _plan_one(self, referral_id: int, now: datetime) -> list[int]:
        """:meth:`plan` for :meth:`plan_all`: one referral that cannot be planned
        (a template that raises on its data) must not stop the others, nor the daemon.

        Its transaction is rolled back and it is tried again next cycle; the
        warning is logged once per referral and process.
        """
        try:
            return self.plan(referral_id, now)
        except Exception as exc:
            if unusable(exc):
                raise
            if referral_id not in self._unplannable:
                self._unplannable.add(referral_id)
                log.warning("R-%d could not be planned: %s: %s", referral_id, type(exc).__name__,
                            str(exc)[:200])
                log.debug("planning R-%d failed", referral_id, exc_info=True)
            return []

    def _with_something_due(self, referral_ids: list[int], now: datetime) -> list[int]:
        """Which of ``referral_ids`` :meth:`plan` would act on (expire or queue), by id.

        The same questions :meth:`plan` asks with the same inputs — the view,
        the referral's outbox keys, which of its recipients are blocked — read
        for the whole batch at once. A referral whose due messages would all be
        held by the weekly cap is still returned: the cap is :meth:`plan`'s.
        """
        rows = self.store.referrals(referral_ids)
        enqueued = self.outbox.enqueued_many(r["id"] for r in rows)
        addresses = sorted({a for r in rows for a in (r["referrer"], *r["parties"]) if a})
        blocked_all: set[str] = set()
        for start in range(0, len(addresses), PLAN_BATCH):
            blocked_all |= self.store.blocked_people(addresses[start : start + PLAN_BATCH])
        busy = []
        for row in rows:
            if row["silent"]:
                continue
            view = self.view(row)
            if should_expire(view, self.config, now):
                busy.append(view.id)
                continue
            already = enqueued[view.id]
            # As blocked_people({referrer, *parties}) in plan(): addresses compare exactly.
            blocked = {a for a in (view.referrer, *view.parties) if a in blocked_all}
            if due_messages(view, self.config, now, already=already, blocked=blocked) or consent_due(
                view, self.config, now, already=already, blocked=blocked
            ):
                busy.append(view.id)
        return busy

    def _enqueue(self, row: Mapping[str, Any], view: ReferralView, due: Due, now: datetime) -> int | None:
        if due.step not in CAP_EXEMPT:
            recent = self.outbox.recent_to(
                due.recipient, now - timedelta(days=7), exclude_steps=CAP_EXEMPT
            )
            if over_weekly_cap(recent, now, self.config):
                # DEBUG: a held message is looked at again every cycle until the week allows it.
                log.debug("R-%d: %s to %s held back by the weekly cap", view.id, due.step, due.recipient)
                return None
        context = self.context(row, view, due, now)
        rendered = self.renderer.render(self._template(due, view), context)
        token = context["token"]
        message_id = new_message_id(self.config, view.id, due.step)
        intro = row.get("intro_message_id")
        raw = compose(
            self.config,
            rendered,
            to=(context["recipient"]["name"], due.recipient),
            message_id=message_id,
            reply_token=token,
            referral_id=view.id,
            tag=f"R-{view.id}",
            in_reply_to=intro,
            references=[intro] if intro else [],
            date=now,
            auto_submitted="auto-replied" if due.step in ANSWERS else "auto-generated",
        )
        return self.outbox.enqueue(
            referral_id=view.id,
            step=due.step,
            recipient=due.recipient,
            seq=due.seq,
            message_id=message_id,
            token=token,
            subject=rendered.subject,
            raw=raw,
            now=now,
            not_before=quiet_until(now, self.config) or now,
        )

    @staticmethod
    def _template(due: Due, view: ReferralView) -> str:
        if due.step in {"consent_request", "consent_reminder"}:
            return "consent_request_provider" if due.recipient == view.provider else (
                "consent_request_prospect" if due.step == "consent_request" else "consent_reminder"
            )
        return due.step

    def _consent_context(
        self, view: ReferralView, due: Due, names: Mapping[str, str], now: datetime
    ) -> dict[str, Any]:
        """What the consent-first templates add: who is asked, the answer, the draft."""
        from refmail.policy.draft import intro_draft, intro_mailto
        from refmail.reading.proposal import Person, Proposal

        state = consent_state(view, now)
        proposed = next((e for e in view.events if e.kind == "proposed"), None)
        text = str(proposed.detail.get("text", "")) if proposed else ""
        extra: dict[str, Any] = {"asked": [self.person(a, names) for a in state.asked]}
        if due.step == "consent_expired":
            extra["asked"] = [self.person(a, names) for a in state.unanswered()]
        if due.step == "consent_reminder":
            extra["is_provider"] = due.recipient == view.provider
        if due.step == "proposal_ack":
            deadline = state.proposed_at + self.config.consent.expire_after if state.proposed_at else now
            extra["deadline"] = deadline.astimezone(self.config.zone).strftime("%b %-d")
        no = next(
            (e for e in reversed(view.events) if e.kind == "consent" and e.detail.get("decision") != "yes"),
            None,
        )
        if no is not None:
            extra["answer"] = {
                "decision": no.detail.get("decision") or "no",
                "does_work": no.detail.get("does_work"),
                "reason": no.detail.get("reason", ""),
                "by": self.person(no.actor or "", names),
            }
        else:
            extra["answer"] = None
        if due.step == "consent_ready":
            people = [Person(a, names.get(a, "") or self.person(a, names)["name"]) for a in view.parties]
            proposal = Proposal(people=people, provider=view.provider,
                                prospects=list(view.prospects), text=text)
            referrer_name = self.person(view.referrer, names)["name"]
            subject, body = intro_draft(proposal, referrer_name, self.config)
            extra["draft"] = {"subject": subject, "body": body}
            extra["intro_link"] = intro_mailto(
                referrer_name=referrer_name, to=people,
                cc=self.config.group.tracking_address, subject=subject, body=body,
            )
        return extra

    def context(
        self, row: Mapping[str, Any], view: ReferralView, due: Due, now: datetime | None = None
    ) -> dict[str, Any]:
        """The template context of ``due`` (render/templates/README.md)."""
        context = self._context(row, view, due, now)
        if due.step in PROFILE_SHOWN and view.provider and self.config.is_member(due.recipient):
            # What a good referral for the provider looks like, in their words:
            # for the members who refer to them, and for themselves when asked first.
            profile = Profiles(self.store, self.config).of(view.provider)
            if profile is not None and profile.said and context.get("provider"):
                context["provider"] = {**context["provider"], "looking_for": profile.looking_for,
                                       "not_looking_for": profile.not_looking_for}
        if due.step in {"consent_request", "consent_reminder"}:
            context = before_consent(context, due.recipient)
        return context

    def _context(
        self, row: Mapping[str, Any], view: ReferralView, due: Due, now: datetime | None = None
    ) -> dict[str, Any]:
        names: Mapping[str, str] = row.get("names", {})
        token = self.signer.issue(view.id, due.recipient, due.step, due.seq)
        local, domain = self.config.group.tracking_address.split("@")
        won = next(
            (e for e in reversed(view.events) if e.kind == "status" and e.detail.get("to") == "won"),
            None,
        )
        event: dict[str, Any] | None = None
        if due.event_id is not None:
            source = next((e for e in view.events if e.id == due.event_id), None)
            if source is not None:
                # Feedback carries words, not a status change: the template
                # must not announce the referral's status as news again.
                status = source.detail.get("to") if source.kind == "status" else None
                event = {
                    "kind": source.kind,
                    "text": source.detail.get("text", ""),
                    "status": status,
                    "status_label": str(status or "").replace("_", " "),
                    "value": source.detail.get("value"),
                    "currency": source.detail.get("currency"),
                    "actor": self.person(source.actor or "", names),
                }
        reminder = None
        if due.step in {"stale_reminder", "no_news"}:
            reminder = {"number": due.seq, "max": self.config.timing.max_reminders}
        zone = self.config.zone
        extra: dict[str, Any] = {}
        if due.step in CONSENT_STEPS:
            extra = self._consent_context(view, due, names, now or datetime.now(self.config.zone))
        return extra | {
            "token": token,
            "group": {
                "name": self.config.group.name,
                "tracking_address": self.config.group.tracking_address,
            },
            "referral": {
                "id": view.id,
                "tag": f"R-{view.id}",
                "subject": row.get("subject", ""),
                "status": view.status,
                "status_label": view.status.replace("_", " "),
                "introduced_on": view.introduced_at.astimezone(zone).strftime("%b %-d"),
                "value": won.detail.get("value") if won else None,
                "currency": won.detail.get("currency") if won else None,
            },
            "recipient": self.person(due.recipient, names),
            "referrer": self.person(view.referrer, names),
            "provider": self.person(view.provider, names) if view.provider else None,
            "prospects": [self.person(a, names) for a in view.prospects],
            "parties": [self.person(a, names) for a in view.parties],
            "event": event,
            "reminder": reminder,
            "reply_address": f"{local}+{token}@{domain}",
        }

    # -- failures ------------------------------------------------------------------
    def notify_failure(self, item: OutboxItem, error: str, now: datetime) -> int | None:
        """Tell the referrer (or, for mail to the referrer, the admins) that a
        message could not be delivered, and stop mail to that address."""
        self.store.bounce_person(item.recipient, error, now)
        if item.referral_id is None:
            return None
        self.store.add_event(
            item.referral_id, "send_failed", at=now, actor=item.recipient,
            detail={"step": item.step, "error": error[:300]},
        )
        row = self.store.referral(item.referral_id)
        if row is None:
            return None
        view = self.view(row)
        targets: Iterable[str] = (
            [view.referrer] if item.recipient != view.referrer else self.config.group.admins
        )
        last = None
        for target in targets:
            if target in self.store.blocked_people([target]):
                continue
            due = Due("send_failed", target, item.id, f"message to {item.recipient} failed")
            context = self.context(row, view, due)
            context["event"] = {
                "kind": "send_failed",
                "text": error[:300],
                "status": view.status,
                "status_label": view.status.replace("_", " "),
                "value": None,
                "currency": None,
                "actor": self.person(item.recipient, row.get("names", {})),
            }
            rendered = self.renderer.render("send_failed", context)
            message_id = new_message_id(self.config, view.id, "send_failed")
            raw = compose(
                self.config, rendered, to=(context["recipient"]["name"], target),
                message_id=message_id, reply_token=context["token"], referral_id=view.id,
                tag=f"R-{view.id}", in_reply_to=None, references=[], date=now,
            )
            last = self.outbox.enqueue(
                referral_id=view.id, step="send_failed", recipient=target, seq=item.id,
                message_id=message_id, token=context["token"], subject=rendered.subject,
                raw=raw, now=now, not_before=now,
            )
        return last
