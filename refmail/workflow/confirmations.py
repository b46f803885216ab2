"""Confirmations: a request without proof is applied only when its claimed sender confirms it.

SPEC "Trust": refmail never acts on a stranger's word. When a message asks for
a change but proves nothing about who wrote it (no reply token, no sender
authentication), refmail does not apply it and does not drop it: it records a
*pending action* and writes to the claimed sender's real address — the
member's configured address, or the party's recorded one — with a one-click,
tokened question ("We got 'LOST' for your introduction of Carl to Betty:
confirm?"). Only their answer carries it out, exactly as the original would
have been, and they are told what it did. A forger never sees the question,
so a forged ``From`` alone changes nothing.

The API (one :class:`Confirmations` per tracker, ``Tracker.confirmations``)::

    confirmations.register(kind, handler)          # once, at start-up
    asked = confirmations.ask(kind, requester=…, referral_id=…, payload={…},
                              summary="LOST", quote="LOST, she chose …",
                              message_id=…, now=now)

- ``kind`` names what is to be done (:class:`ActionKind`; add a member for a
  new use) and picks the ``handler`` that does it.
- ``payload`` is JSON: everything the handler needs to act later, when the
  message that asked is long gone.
- ``summary`` is what was asked, in a few words ("LOST", "WON $4,500"),
  ``quote`` the person's own words (cut to :data:`QUOTE_CHARS`); both are shown
  only to the requester, at their own address, with any links taken out
  (:func:`defang`): they may be a forger's words.
- ``ask`` joins the caller's transaction: it records the action (migration
  0009, :mod:`refmail.storage.pending`) and queues the question to
  ``requester``, or says why it did not (:class:`Asked`): the same request is
  already waiting, the person has been asked :data:`PER_DAY` times in a day,
  or said STOP.

The question's one-click button is a ``mailto:`` to ``refs+TOKEN@…`` with
``YES``: the token is refmail's signed reply token (:mod:`refmail.policy.tokens`)
of that message, step ``confirm``, ``seq`` = the action's id, so it is bound to
the action and to the requester's address. :meth:`Confirmations.answer` takes
the reply to it (the tracker routes replies to step ``confirm`` here): a yes
within :data:`EXPIRE_AFTER` moves the action out of ``pending`` once (a second
click finds it done), calls ``handler(action, now)`` in the same transaction
and queues the result (:class:`ActionResult`) to the requester (step
``confirm_result``); a no declines it; after the expiry it is expired and the
requester is told nothing changed. Handlers must not raise for an expected
refusal — they say so in the result — and may queue mail of their own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from refmail.outgoing.outbox import OutboxItem
from refmail.storage.pending import ActionState, PendingAction, PendingActions
from refmail.workflow.notices import queue_notice
from refmail.workflow.outcomes import OutcomeName
from refmail.workflow.planner import Planner

__all__ = [
    "EXPIRE_AFTER",
    "PER_DAY",
    "ActionKind",
    "ActionResult",
    "Answered",
    "Asked",
    "Confirmations",
    "Handler",
    "defang",
]

log = logging.getLogger(__name__)

#: How long a question may be answered.
EXPIRE_AFTER = timedelta(days=7)
#: At most this many questions to one person in 24 hours: forged mail in
#: someone's name must not become a flood of questions to them.
PER_DAY = 5
#: The person's words quoted back to them, at most.
QUOTE_CHARS = 300
#: The steps of the two messages (template names and outbox steps).
ASK_STEP = "confirm"
RESULT_STEP = "confirm_result"


_LINK = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+")


def defang(text: str) -> str:
    """``text`` without links: what a forger wrote reaches a member in mail from
    the group's own address, and must not carry them anywhere."""
    return _LINK.sub("[link removed]", text)


class ActionKind(StrEnum):
    """What a pending action does once confirmed; each has one handler."""

    #: A reply or a note about a referral that came without proof of its
    #: sender: carried out as if it had come with its reply token
    #: (:mod:`refmail.workflow.responses`).
    REPLY = "reply"
    #: A member's profile ("Looking for: …") sent to ``refs+profile@…`` without
    #: proof of its sender: recorded once they confirm
    #: (:mod:`refmail.workflow.profiles`).
    PROFILE = "profile"


@dataclass(frozen=True)
class ActionResult:
    """What a handler did, for the requester's answer (template ``confirm_result``).

    ``applied``: anything changed. ``effects``: typed names of what was done,
    which the template words (:mod:`refmail.workflow.responses` documents its
    own). ``detail``: plain data for the template. ``reason``: for the log.
    """

    applied: bool
    reason: str
    effects: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[PendingAction, datetime], ActionResult]


@dataclass(frozen=True)
class Asked:
    """What :meth:`Confirmations.ask` did: ``action_id`` of the recorded (or
    already waiting) action, ``queued`` True when a question was queued."""

    action_id: int | None
    queued: bool
    reason: str


@dataclass(frozen=True)
class Answered:
    """What an answer to a question did, as the tracker records it."""

    outcome: OutcomeName
    reason: str
    referral_id: int | None


class Confirmations:
    """Pending actions, their questions and their answers (see the module docstring)."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.store = planner.store
        self.actions = PendingActions(planner.store)
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: ActionKind, handler: Handler) -> None:
        self._handlers[str(kind)] = handler

    # -- asking ----------------------------------------------------------------
    def ask(
        self,
        kind: ActionKind,
        *,
        requester: str,
        referral_id: int | None,
        payload: Mapping[str, Any],
        summary: str,
        quote: str = "",
        message_id: str | None,
        now: datetime,
        expires_after: timedelta = EXPIRE_AFTER,
        despite_stop: bool = False,
    ) -> Asked:
        """Record a pending action and queue its question to ``requester``; call
        inside a transaction. ``despite_stop``: ask even someone who said STOP
        (only for a request to START again)."""
        if str(kind) not in self._handlers:
            raise ValueError(f"no handler registered for {kind!r}")
        summary = defang(" ".join(summary.split()))[:120]
        same = self.actions.open_like(kind=str(kind), referral_id=referral_id, requester=requester,
                                      summary=summary, now=now)
        if same is not None:
            return Asked(same.id, False, f"the same request from {requester} already waits (#{same.id})")
        self.actions.expire(requester, now)
        if not despite_stop and self.store.blocked_people([requester]):
            return Asked(None, False, f"{requester} said STOP or bounced: not asked to confirm")
        if self.actions.asked_since(requester, now - timedelta(days=1)) >= PER_DAY:
            log.warning("not asking %s to confirm another request today (%d asked)", requester, PER_DAY)
            return Asked(None, False, f"{requester} was asked to confirm {PER_DAY} requests today")
        action_id = self.actions.create(
            kind=str(kind), referral_id=referral_id, requester=requester, payload=dict(payload),
            summary=summary, message_id=message_id, now=now, expires_at=now + expires_after,
        )
        expires = (now + expires_after).astimezone(self.planner.config.zone)
        quoted = defang(" ".join(quote.split()))
        if len(quoted) > QUOTE_CHARS:
            quoted = quoted[: QUOTE_CHARS - 1].rstrip() + "…"
        queued = queue_notice(
            self.planner, step=ASK_STEP, recipient=requester, seq=action_id, referral_id=referral_id,
            extra={"action": {"kind": str(kind), "summary": summary, "quote": quoted,
                              "expires_on": expires.strftime("%b %-d")}},
            now=now,
        )
        why = f"asked {requester} to confirm {summary!r} (#{action_id})"
        return Asked(action_id, queued is not None, why)

    # -- answering -------------------------------------------------------------
    def answer(self, item: OutboxItem, *, text: str, now: datetime) -> Answered:
        """The requester answered the question ``item`` (its token already verified,
        from its recipient); call inside a transaction."""
        from refmail.reading.proposal import read_answer

        action = self.actions.get(item.seq)
        if action is None or action.requester != item.recipient:
            why = "an answer to a confirmation refmail has no record of"
            return Answered(OutcomeName.REPLY_REJECTED, why, item.referral_id)
        rid = action.referral_id
        decision = read_answer(text).decision
        if action.state is ActionState.EXPIRED or action.expired(now):
            self.actions.resolve(action.id, ActionState.EXPIRED, now)  # if not swept yet
            if decision == "yes":  # they meant it: say it came too late (once, like every result)
                self._tell(action, ActionResult(False, "expired", ("expired",)), now)
            return Answered(OutcomeName.NUDGE_REPLY, f"confirmation #{action.id} came after it expired", rid)
        if action.state is not ActionState.PENDING:
            return Answered(OutcomeName.NUDGE_REPLY, f"confirmation #{action.id} was already {action.state}",
                            rid)
        if decision in {"no", "later"}:
            self.actions.resolve(action.id, ActionState.DECLINED, now)
            return Answered(OutcomeName.NUDGE_REPLY, f"{action.requester} declined #{action.id}", rid)
        if decision != "yes":
            return Answered(OutcomeName.NUDGE_REPLY,
                            f"answer to confirmation #{action.id} without a yes or no: still waiting", rid)
        handler = self._handlers.get(action.kind)
        if handler is None:
            # Recorded by a version that knew this kind: keep it for one that does.
            return Answered(OutcomeName.NUDGE_REPLY, f"no handler for {action.kind!r}: #{action.id} waits",
                            rid)
        if not self.actions.resolve(action.id, ActionState.DONE, now):
            return Answered(OutcomeName.NUDGE_REPLY, f"confirmation #{action.id} was already answered", rid)
        result = handler(action, now)
        self.actions.set_result(action.id, {"applied": result.applied, "reason": result.reason,
                                            "effects": list(result.effects), "detail": dict(result.detail)})
        self._tell(action, result, now)
        return Answered(OutcomeName.CONFIRMED, f"{action.requester} confirmed #{action.id}: {result.reason}",
                        rid)

    def _tell(self, action: PendingAction, result: ActionResult, now: datetime) -> None:
        queue_notice(
            self.planner, step=RESULT_STEP, recipient=action.requester, seq=action.id,
            referral_id=action.referral_id,
            extra={
                "action": {"kind": action.kind, "summary": action.summary, "quote": "",
                           "expires_on": ""},
                "result": {"applied": result.applied, "effects": list(result.effects),
                           **dict(result.detail)},
            },
            now=now,
        )

