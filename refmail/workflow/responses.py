"""Replies to refmail's mail and notes about a referral: who asks, with what proof, and what it changes.

**Matching.** A reply is matched to the message it answers by the signed plus
token of the address it was sent to (``refs+TOKEN@…``), else by
``In-Reply-To``/``References`` naming one of refmail's Message-IDs
(:meth:`Responses.match`), else — after the introduction's own thread, whose
reply-alls are evidence of first contact and nothing more — by the ``[R-12]``
subject tag (:meth:`Responses.match_tag`). A member's note to the plain
tracker ("R-9 won 2.000 EUR") names its referral itself
(:attr:`~refmail.reading.classification.RuleName.TAGGED_NOTE`, :meth:`Responses.note`).

**Proof** (SPEC "Trust", :class:`~refmail.policy.authority.Proof`). A token
proves that its recipient wrote the reply, and is accepted only from that
address or their member aliases: a token that does not verify, or one used by
someone else, is rejected and nothing else is tried. A sender the receiving
server authenticated proves itself. Anything else — a tag, an
``In-Reply-To``, a note — proves nothing and is not applied: when the claimed
sender has a part in the referral (or is an admin) they are asked, at their
own address, to confirm with one click (:mod:`refmail.workflow.confirmations`,
:attr:`~refmail.workflow.confirmations.ActionKind.REPLY`), and the confirmed
request is carried out exactly as the original would have been; anyone else
gets nothing.

**Carrying out** a proven request (:meth:`Responses.carry_out`):
:func:`refmail.policy.authority.rule` decides which parts of the
:class:`~refmail.reading.classification.Command` count for that person.
``STOP`` ends mail to them and answers with a note offering ``START``
(template ``stopped``); ``START`` undoes a STOP; an answer to the
consent-first question or to the roles question is read as such; a status
becomes a ``status`` event (``REOPEN`` one back to the status before the
referral closed); the provider's reply to a thank-you nudge (after a miss
too: ``detail["miss"]`` then holds the status, and their words are also
advice for next time), or their THANKS, is a thank-you note relayed to the
referrer; other words — and a
status the person may not report, such as a prospect's ``WON`` — are kept as
``feedback``, with who the message was written to (``detail["shared_with"]``), so that
summaries show feedback only to those it was meant for. Every event records
its proof (``detail["proof"]``). :class:`Effect` names what was done, which
the answer to a confirmation (template ``confirm_result``) puts in words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from refmail.config import Config
from refmail.outgoing.outbox import OutboxItem
from refmail.policy.authority import Proof, Refusal, Role, Ruling, reopened_status, roles_of, rule
from refmail.policy.rules import MISSES
from refmail.reading.classification import Classification, Command, Keyword
from refmail.reading.profile import read_profile
from refmail.render.renderer import format_money
from refmail.storage.pending import PendingAction
from refmail.storage.store import Store
from refmail.workflow.confirmations import (
    ASK_STEP,
    ActionKind,
    ActionResult,
    Confirmations,
)
from refmail.workflow.notices import queue_notice
from refmail.workflow.outcomes import OutcomeName
from refmail.workflow.planner import Planner
from refmail.workflow.profiles import PROFILE_REPLY_STEPS, ProfileMail

__all__ = ["Effect", "Match", "Request", "Responses", "Verdict"]

_TAG = re.compile(r"\[R-(\d{1,12})\]")
_KEYWORD_ONLY = re.compile(
    r"^\s*(contacted|met|meeting|proposal|won|lost|no[ _-]?fit|no[ _-]?response|thanks|stop)\b[\s!.:,-]*"
    r"([$€£]?\s?[\d.,']+\s?(k|usd|eur|gbp|chf|[$€£])?)?\s*$",
    re.IGNORECASE,
)
#: The step of the note that confirms a STOP and offers START.
STOPPED_STEP = "stopped"
#: The step of the answer to a proven reply that asked for something its
#: sender may not do (a status on a closed referral, WITHDRAW by the provider …).
REFUSED_STEP = "refused"
_CONSENT_STEPS = frozenset({"consent_request", "consent_reminder"})
#: How each status is said as the keyword that sets it (for "We got 'LOST'").
_SAID = {"contacted": "CONTACTED", "meeting": "MET", "proposal": "PROPOSAL", "won": "WON",
         "lost": "LOST", "no_fit": "NO FIT", "unresponsive": "NO RESPONSE", "withdrawn": "WITHDRAW"}


class Effect(StrEnum):
    """What carrying out a request did (the typed names ``confirm_result`` words)."""

    STATUS = "status"
    REOPEN = "reopen"
    THANKS = "thanks"
    FEEDBACK = "feedback"
    STOP = "stop"
    START = "start"
    ROLES = "roles"
    CONSENT = "consent"
    PROFILE = "profile"


@dataclass(frozen=True)
class Match:
    """What a reply answers: a referral (0 for group mail), whose message, which
    step (None when matched by subject tag only) and how it was matched."""

    referral_id: int
    recipient: str
    step: str | None
    how: str
    item: OutboxItem | None = None


@dataclass(frozen=True)
class Verdict:
    """What a reply did, as the tracker records it (an :class:`OutcomeName` and why)."""

    outcome: OutcomeName
    reason: str
    referral_id: int | None
    effects: tuple[Effect, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One person's request about one referral (0: group mail), with its proof."""

    referral_id: int
    actor: str
    step: str | None
    command: Command
    text: str
    message_id: str | None
    proof: Proof
    via: str
    #: The referral's people the message was written to, besides the tracker.
    to: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {"step": self.step, "command": self.command.to_json(), "text": self.text[:4000],
                "via": self.via, "to": list(self.to)}

    @classmethod
    def confirmed(cls, action: PendingAction) -> Request:
        data = action.payload
        return cls(
            referral_id=action.referral_id or 0, actor=action.requester, step=data.get("step"),
            command=_command(data.get("command") or {}), text=str(data.get("text", "")),
            message_id=action.message_id, proof=Proof.CONFIRMED, via=f"confirmed {data.get('via')}",
            to=tuple(data.get("to") or ()),
        )


def _command(data: dict[str, Any]) -> Command:
    keyword = data.get("keyword")
    return Command(
        status=data.get("status"), value=data.get("value"), currency=data.get("currency"),
        thanks=bool(data.get("thanks")), stop=bool(data.get("stop")),
        keyword=Keyword(keyword) if keyword in set(Keyword) else None,
        from_free_text=bool(data.get("from_free_text")), start=bool(data.get("start")),
        reopen=bool(data.get("reopen")), provider=data.get("provider"),
    )


class Responses:
    """Matches replies and notes to referrals, asks for proof where there is none, and applies them."""

    def __init__(self, config: Config, store: Store, planner: Planner, confirmations: Confirmations,
                 profiles: ProfileMail | None = None) -> None:
        self.config = config
        self.store = store
        self.planner = planner
        self.outbox = planner.outbox
        self.signer = planner.signer
        self.confirmations = confirmations
        #: Where a member's profile in a tokened reply goes (their summary's "Update" link).
        self.profiles = profiles
        confirmations.register(ActionKind.REPLY, self._confirmed)

    # -- matching -------------------------------------------------------------------
    def match(self, verdict: Classification) -> Match | Verdict | None:
        """The message of refmail's ``verdict`` answers (by token, then by
        ``In-Reply-To``/``References``), a rejection, or None."""
        if verdict.token:
            item = self.outbox.by_token(verdict.token)
            if item is None or not self.signer.verify(
                verdict.token, item.referral_id or 0, item.recipient, item.step, item.seq
            ):
                # Never fall back to weaker matching for a token that fails:
                # that is exactly what a forgery looks like.
                return Verdict(OutcomeName.REPLY_REJECTED, "reply token is not one refmail issued", None)
            return Match(item.referral_id or 0, item.recipient, item.step, "token", item)
        for message_id in [verdict.in_reply_to or "", *reversed(verdict.references)]:
            if message_id.startswith("<refmail."):
                item = self.outbox.by_message_id(message_id)
                if item is not None:
                    return Match(item.referral_id or 0, item.recipient, item.step, "in-reply-to", item)
        return None

    def match_tag(self, verdict: Classification) -> Match | None:
        """The referral a reply's ``[R-12]`` subject tag names, if it exists."""
        tag = _TAG.search(verdict.subject or "")
        if tag is None or self.store.referral(int(tag.group(1))) is None:
            return None
        return Match(int(tag.group(1)), self.config.canonical(verdict.sender or ""), None, "subject tag")

    # -- entry points ---------------------------------------------------------------
    def apply(self, verdict: Classification, match: Match, now: datetime) -> Verdict:
        """Apply a matched reply, or ask its sender to confirm it; call inside a transaction."""
        sender = self.config.canonical(verdict.sender or "")
        recipient = self.config.canonical(match.recipient)
        step = match.step
        if match.how == "token":
            if sender != recipient:
                return Verdict(
                    OutcomeName.REPLY_REJECTED,
                    f"reply from {sender or 'an unknown sender'} to a message sent to {recipient}",
                    match.referral_id or None,
                )
            if step == ASK_STEP and match.item is not None:
                answered = self.confirmations.answer(match.item, text=verdict.reply_text or "", now=now)
                return Verdict(answered.outcome, answered.reason, answered.referral_id)
            proof = Proof.TOKEN
        else:
            if step == ASK_STEP:
                # Only the question's own address confirms: a reply that lost it
                # proves nothing, and asking again would only repeat the question.
                return Verdict(OutcomeName.NUDGE_REPLY, f"an answer from {sender} to a confirmation, "
                               "without its token: nothing done", match.referral_id or None)
            proof = Proof.AUTHENTICATED if verdict.authenticated else Proof.NONE
            if sender != recipient or step == STOPPED_STEP:
                step = None  # what the reply says is theirs, whoever the message went to
        request = Request(
            referral_id=match.referral_id, actor=sender, step=step,
            command=verdict.command or Command(), text=(verdict.reply_text or "").strip(),
            message_id=verdict.message_id, proof=proof, via=match.how,
            to=self._addressed(verdict, match.referral_id),
        )
        return self.request(request, now)

    def note(self, verdict: Classification, now: datetime) -> Verdict:
        """A member's note to the plain tracker about one referral (``TAGGED_NOTE``)."""
        rid = verdict.referral_tag or 0
        if self.store.referral(rid) is None:
            return Verdict(OutcomeName.IGNORED, f"a note about R-{rid}, which does not exist", None)
        request = Request(
            referral_id=rid, actor=self.config.canonical(verdict.sender or ""), step=None,
            command=verdict.command or Command(), text=(verdict.reply_text or "").strip(),
            message_id=verdict.message_id,
            proof=Proof.AUTHENTICATED if verdict.authenticated else Proof.NONE, via="note",
            to=self._addressed(verdict, rid),
        )
        return self.request(request, now)

    def request(self, request: Request, now: datetime) -> Verdict:
        """Carry out ``request`` if it is proven, else ask its sender to confirm it."""
        if not self._involved(request):
            who = request.actor or "an unknown sender"
            where = f"R-{request.referral_id}" if request.referral_id else "group mail"
            return Verdict(OutcomeName.REPLY_REJECTED, f"{who} has no part in {where}",
                           request.referral_id or None)
        if request.proof.proves:
            return self.carry_out(request, now)
        return self._ask(request, now)

    # -- asking first -----------------------------------------------------------------
    def _ask(self, request: Request, now: datetime) -> Verdict:
        said = _said(request.command, request.text)
        rid = request.referral_id or None
        if said is None:
            return Verdict(OutcomeName.NUDGE_REPLY, f"unproven reply from {request.actor} with nothing to "
                           "record", rid)
        asked = self.confirmations.ask(
            ActionKind.REPLY, requester=request.actor, referral_id=rid, payload=request.payload(),
            summary=said, quote=request.text, message_id=request.message_id, now=now,
            despite_stop=request.command.start and not request.command.stop,
        )
        why = f"no proof it came from {request.actor} ({request.via}): {asked.reason}"
        return Verdict(OutcomeName.CONFIRMATION_ASKED, why, rid)

    def _confirmed(self, action: PendingAction, now: datetime) -> ActionResult:
        """The handler of :attr:`ActionKind.REPLY`: the request, now confirmed."""
        request = Request.confirmed(action)
        if not self._involved(request):
            return ActionResult(False, f"{request.actor} no longer has a part in R-{request.referral_id}")
        done = self.carry_out(request, now)
        if done.referral_id and done.outcome is OutcomeName.NUDGE_REPLY:
            self.planner.plan(done.referral_id, now)
        return ActionResult(bool(done.effects), done.reason, tuple(str(e) for e in done.effects), done.detail)

    # -- carrying out -----------------------------------------------------------------
    def carry_out(self, request: Request, now: datetime) -> Verdict:
        """Apply a proven (or confirmed) request; call inside a transaction."""
        actor, rid = request.actor, request.referral_id
        command = request.command
        common: dict[str, Any] = {"at": now, "actor": actor, "message_id": request.message_id}
        proof = str(request.proof)
        if command.stop:
            return self._stop(request, common, now)
        if command.start:
            return self._start(request, common, now)
        if rid == 0:
            return self._group_reply(request, now)
        referral = self.store.referral(rid)
        assert referral is not None
        if request.step in _CONSENT_STEPS:
            return self._consent(referral, actor, request.text, common, now)
        if request.step == "roles_question":
            return self._roles(referral, request, common, now)
        roles = self._roles_of(actor, referral)
        ruling = rule(command, roles, referral["status"], request.proof, step=request.step)
        text = request.text
        feedback = "" if _KEYWORD_ONLY.match(text) and ruling.claimed is None else text
        effects: list[Effect] = []
        detail: dict[str, Any] = {"refused": [[part, str(why)] for part, why in ruling.refused]}
        done: list[str] = []
        new = self._new_status(referral, ruling)
        if new is not None:
            event: dict[str, Any] = {"from": referral["status"], "to": new, "by": actor, "proof": proof}
            if ruling.reopen:
                event["reopen"] = True
            if ruling.value is not None:
                event["value"] = ruling.value
                event["currency"] = ruling.currency
            if feedback:
                event["text"] = feedback[:4000]
                event["shared_with"] = list(request.to)
            self.store.set_status(rid, new, now)
            self.store.add_event(rid, "status", **common, detail=event)
            effects.append(Effect.REOPEN if ruling.reopen else Effect.STATUS)
            detail.update(status=new, status_label=new.replace("_", " "), value=ruling.value,
                          currency=ruling.currency)
            done.append(f"status {referral['status']} → {new}")
            feedback = ""
        # A bare keyword that did not count ("LOST" on a won referral) is no
        # thank-you, even in answer to the thank-you nudge.
        bare_refusal = bool(ruling.refused) and not feedback and new is None and not command.thanks
        if ruling.thanks and not bare_refusal:
            thanks: dict[str, Any] = {"text": feedback[:4000], "proof": proof}
            if referral["status"] in MISSES:
                thanks["miss"] = referral["status"]  # thanks and advice after a miss (seed 000)
            self.store.add_event(rid, "thanks", **common, detail=thanks)
            effects.append(Effect.THANKS)
            done.append("thanks")
        elif feedback:
            note: dict[str, Any] = {"text": feedback[:4000], "shared_with": list(request.to), "proof": proof}
            if ruling.claimed:
                note["claimed"] = ruling.claimed  # kept as their words, not as the status
            self.store.add_event(rid, "feedback", **common, detail=note)
            effects.append(Effect.FEEDBACK)
            done.append("feedback" + (f" (said {ruling.claimed}, which is not theirs to report)"
                                      if ruling.claimed else ""))
        if ruling.refused:
            self._answer_refusal(request, referral, roles, ruling, bool(done), now)
        refused = "; ".join(f"{part}: {why}" for part, why in ruling.refused)
        if not done:
            why = f"reply from {actor} with nothing to record" + (f" ({refused})" if refused else "")
            return Verdict(OutcomeName.NUDGE_REPLY, why, rid, (), detail)
        why = f"{actor}: {', '.join(done)}" + (f"; not applied: {refused}" if refused else "")
        return Verdict(OutcomeName.NUDGE_REPLY, why, rid, tuple(effects), detail)

    def _answer_refusal(self, request: Request, referral: dict[str, Any], roles: frozenset[Role],
                        ruling: Ruling, applied: bool, now: datetime) -> None:
        """Say what did not count, and why, to a member or a person of the business.

        SPEC: no member's mail goes unanswered. Not to a prospect from outside
        the group (their words went to the referrer, which is what they were
        told), not for a confirmed request (its answer says it), not to a reply
        to this very answer, and at most once a day per referral and person.
        """
        business = bool(roles & {Role.PROVIDER, Role.REFERRER, Role.ADMIN})
        if request.proof is Proof.CONFIRMED or request.step == REFUSED_STEP:
            return
        if not (business or self.config.is_member(request.actor)):
            return
        if self.store.blocked_people([request.actor]):
            return
        said = _said(request.command, request.text) or ""
        closed = any(why is Refusal.CLOSED for _, why in ruling.refused)
        local = now.astimezone(self.config.zone)
        queue_notice(
            self.planner, step=REFUSED_STEP, recipient=request.actor,
            seq=local.year * 10000 + local.month * 100 + local.day, referral_id=int(referral["id"]),
            extra={"action": {"kind": "reply", "summary": said, "quote": "", "expires_on": ""},
                   "result": {"applied": applied, "effects": [], "status": None, "status_label": "",
                              "value": None, "currency": None,
                              "refused": [[part, str(why)] for part, why in ruling.refused],
                              "may_reopen": closed and business}},
            now=now,
        )

    def _group_reply(self, request: Request, now: datetime) -> Verdict:
        """A proven reply to group mail: a profile (to the weekly summary or a
        profile answer, :mod:`refmail.workflow.profiles`), else nothing to record."""
        said = read_profile(request.text) if request.step in PROFILE_REPLY_STEPS else None
        if said is not None and not said.empty and self.profiles is not None \
                and self.config.is_member(request.actor):
            self.profiles.write_proven(request.actor, said, message_id=request.message_id, now=now)
            return Verdict(OutcomeName.PROFILE, f"{request.actor}'s profile recorded ({request.proof})", None,
                           (Effect.PROFILE,))
        return Verdict(OutcomeName.NUDGE_REPLY, f"reply from {request.actor} to a group message; nothing to "
                       "record", None)

    def _new_status(self, referral: dict[str, Any], ruling: Ruling) -> str | None:
        if ruling.reopen:
            history = [(e["detail"].get("from"), e["detail"].get("to"))
                       for e in referral["events"] if e["kind"] == "status"]
            return reopened_status(history, referral["status"])
        return ruling.status

    def _stop(self, request: Request, common: dict[str, Any], now: datetime) -> Verdict:
        actor, rid = request.actor, request.referral_id
        self.store.stop_person(actor, now)
        self.outbox.cancel_to(actor, "the recipient said STOP")
        if rid:
            self.store.add_event(rid, "stop", **common, detail=_how(request))
        # The one message after a STOP: it says so, and offers START (tokened).
        queue_notice(self.planner, step=STOPPED_STEP, recipient=actor, seq=int(now.timestamp()),
                     referral_id=rid or None, extra={}, now=now)
        return Verdict(OutcomeName.NUDGE_REPLY, f"{actor} said STOP: no more mail to them", rid or None,
                       (Effect.STOP,))

    def _start(self, request: Request, common: dict[str, Any], now: datetime) -> Verdict:
        actor, rid = request.actor, request.referral_id
        was_stopped = self.store.start_person(actor)
        if rid:
            self.store.add_event(rid, "start", **common, detail=_how(request))
        why = f"{actor} said START: " + ("mail to them resumes" if was_stopped else "they had not said STOP")
        return Verdict(OutcomeName.NUDGE_REPLY, why, rid or None, (Effect.START,))

    def _roles(self, referral: dict[str, Any], request: Request, common: dict[str, Any],
               now: datetime) -> Verdict:
        rid = int(referral["id"])
        if request.actor != referral["referrer"] and request.actor not in self.config.group.admins:
            return Verdict(OutcomeName.NUDGE_REPLY, f"{request.actor} may not say who provides", rid)
        provider = self._provider_named(request.text, referral)
        if provider is None:
            return Verdict(OutcomeName.NUDGE_REPLY, "could not tell from the answer which party is the "
                           "provider", rid)
        self.store.set_roles(rid, provider, now)
        self.store.add_event(rid, "roles_set", **common, detail={"provider": provider})
        return Verdict(OutcomeName.NUDGE_REPLY, f"{request.actor} says {provider} is the provider", rid,
                       (Effect.ROLES,), {"provider": provider})

    def _consent(
        self, referral: dict[str, Any], sender: str, text: str, common: dict[str, Any], now: datetime
    ) -> Verdict:
        """An answer to "would you like the introduction?"."""
        from refmail.reading.proposal import read_answer

        rid = int(referral["id"])
        if referral["status"] != "proposed":
            return Verdict(OutcomeName.NUDGE_REPLY, f"answer from {sender} after the proposal ended", rid)
        answer = read_answer(text)
        decision = answer.decision
        if answer.does_work is False:
            decision = "no"
        detail: dict[str, Any] = {"decision": decision, "does_work": answer.does_work,
                                  "reason": answer.reason[:2000]}
        self.store.add_event(rid, "consent", **common, detail=detail)
        effects = (Effect.CONSENT,)
        if decision in {"no", "later"}:
            # The proposal ends here; nothing more reaches the other person.
            self.store.set_status(rid, "declined", now)
            self.store.add_event(
                rid, "status", **common,
                detail={"from": "proposed", "to": "declined", "consent": True, "by": sender},
            )
            self.outbox.cancel_queued("the proposal was declined", referral_id=rid)
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} declined the introduction ({decision})", rid,
                           effects, {"decision": decision})
        if decision == "yes":
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} would like the introduction", rid, effects,
                           {"decision": decision})
        return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} answered without a yes or no; kept as a note", rid,
                       effects, {"decision": None})

    # -- who ------------------------------------------------------------------------
    def _roles_of(self, actor: str, referral: dict[str, Any]) -> frozenset[Role]:
        return roles_of(actor, referrer=referral["referrer"], provider=referral["provider"],
                        prospects=referral["prospects"], parties=referral["parties"],
                        admins=self.config.group.admins)

    def _involved(self, request: Request) -> bool:
        """Has the actor a part in the referral (or, for group mail, in the group)?"""
        if not request.actor:
            return False
        if request.referral_id == 0:
            return self.config.is_member(request.actor) or request.actor in self.config.group.admins \
                or request.proof is Proof.TOKEN
        referral = self.store.referral(request.referral_id)
        return referral is not None and bool(self._roles_of(request.actor, referral))

    def _addressed(self, verdict: Classification, referral_id: int) -> tuple[str, ...]:
        """Which of the referral's people the message was written to (besides the tracker)."""
        referral = self.store.referral(referral_id) if referral_id else None
        if referral is None:
            return ()
        people = {referral["referrer"], *referral["parties"]}
        return tuple(a for a in dict.fromkeys(verdict.recipients) if a in people)

    def _provider_named(self, text: str, referral: dict[str, Any]) -> str | None:
        """The one party an answer to the roles question names (address, then name)."""
        parties: list[str] = referral["parties"]
        lowered = text.lower()
        by_address = [p for p in parties if p in lowered]
        if len(by_address) == 1:
            return by_address[0]
        names: dict[str, str] = referral.get("names", {})
        by_name = [
            p for p in parties
            if names.get(p) and re.search(rf"\b{re.escape(names[p].split()[0].lower())}\b", lowered)
        ]
        return by_name[0] if len(by_name) == 1 else None


def _how(request: Request) -> dict[str, str]:
    return {"via": request.via, "proof": str(request.proof)}


def _said(command: Command, text: str) -> str | None:
    """What a request asks, in a few words ("WON $4,500", "STOP"), or None when nothing."""
    words: list[str] = []
    if command.stop:
        words.append("STOP")
    elif command.start:
        words.append("START")
    if command.reopen:
        words.append("REOPEN")
    if command.status:
        said = _SAID.get(command.status, command.status.upper())
        if command.value is not None:
            said += " " + format_money(command.value, command.currency)
        words.append(said)
    if command.thanks and not command.status:
        words.append("THANKS")
    if command.provider:
        words.append(f"PROVIDER {command.provider}")
    if words:
        return ", ".join(words)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return None
    return first if len(first) <= 60 else first[:59].rstrip() + "…"
