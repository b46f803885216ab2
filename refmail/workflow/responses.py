"""Replies to refmail's own mail: who answered which nudge, and what it changes.

A reply is matched to the nudge it answers by the signed plus token of the
address it was sent to (``refs+TOKEN@…``), else by ``In-Reply-To``/
``References`` naming one of refmail's Message-IDs, else by the ``[R-12]``
subject tag (SPEC "Replies to nudges"). It is accepted only from the person
that nudge went to, or one of their member aliases: anything else is recorded
with its reason and changes nothing — so a forwarded nudge, a guessed token or
a third party cannot move a referral.

What an accepted reply does, from :class:`~refmail.reading.classification.Command`:
a keyword status becomes a ``status`` event (the reply's words kept with it),
``STOP`` ends mail to that person, a reply to the thank-you nudge is the
provider's thank-you note (relayed to the referrer), a reply to the roles
question sets the provider, and other words are kept as ``feedback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from refmail.config import Config
from refmail.outgoing.outbox import Outbox, OutboxItem
from refmail.policy.tokens import TokenSigner
from refmail.reading.classification import Classification
from refmail.storage.store import Store
from refmail.workflow.outcomes import OutcomeName

__all__ = ["Match", "Responses"]

_TAG = re.compile(r"\[R-(\d{1,12})\]")
_KEYWORD_ONLY = re.compile(
    r"^\s*(contacted|met|meeting|proposal|won|lost|no[ _-]?fit|no[ _-]?response|thanks|stop)\b[\s!.:,-]*"
    r"([$€£]?\s?[\d.,']+\s?(k|usd|eur|gbp|chf|[$€£])?)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Match:
    """The nudge a reply answers (``item`` is None when matched by subject tag only)."""

    referral_id: int
    recipient: str
    step: str | None
    how: str
    item: OutboxItem | None = None


@dataclass(frozen=True)
class Verdict:
    """What a reply did: :attr:`OutcomeName.NUDGE_REPLY` or :attr:`OutcomeName.REPLY_REJECTED`."""

    outcome: OutcomeName
    reason: str
    referral_id: int | None


class Responses:
    """Matches replies to nudges and applies them to the store."""

    def __init__(self, config: Config, store: Store, outbox: Outbox, signer: TokenSigner) -> None:
        self.config = config
        self.store = store
        self.outbox = outbox
        self.signer = signer

    # -- matching -------------------------------------------------------------------
    def match(self, verdict: Classification) -> Match | Verdict | None:
        """The nudge ``verdict`` answers, a rejection, or None when it answers none."""
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
                if item is not None and item.referral_id is not None:
                    return Match(item.referral_id, item.recipient, item.step, "in-reply-to", item)
        tag = _TAG.search(verdict.subject or "")
        if tag:
            referral = self.store.referral(int(tag.group(1)))
            sender = self.config.canonical(verdict.sender or "")
            if referral is not None and (
                sender == referral["referrer"] or sender in referral["parties"]
            ):
                return Match(referral["id"], sender, None, "subject tag")
        return None

    # -- applying ---------------------------------------------------------------------
    def apply(self, verdict: Classification, match: Match, now: datetime) -> Verdict:
        """Apply an accepted reply; call inside a transaction."""
        sender = self.config.canonical(verdict.sender or "")
        recipient = self.config.canonical(match.recipient)
        if sender != recipient:
            return Verdict(
                OutcomeName.REPLY_REJECTED,
                f"reply from {sender or 'an unknown sender'} to a message sent to {recipient}",
                match.referral_id,
            )
        if match.referral_id == 0:
            return self._group_mail_reply(verdict, sender, now)
        referral = self.store.referral(match.referral_id)
        assert referral is not None
        rid = match.referral_id
        text = (verdict.reply_text or "").strip()
        command = verdict.command
        done: list[str] = []
        common: dict[str, Any] = {"at": now, "actor": sender, "message_id": verdict.message_id}

        if command is not None and command.stop:
            self.store.stop_person(sender, now)
            self.outbox.cancel_to(sender, "the recipient said STOP")
            self.store.add_event(rid, "stop", **common, detail={"via": match.how})
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} said STOP: no more mail to them", rid)

        if match.step in {"consent_request", "consent_reminder"}:
            return self._consent(referral, sender, text, common, now)

        if match.step == "roles_question":
            provider = self._provider_named(text, referral)
            if provider is None:
                return Verdict(
                    OutcomeName.NUDGE_REPLY, "could not tell from the answer which party is the provider", rid
                )
            self.store.set_roles(rid, provider, now)
            self.store.add_event(rid, "roles_set", **common, detail={"provider": provider})
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} says {provider} is the provider", rid)

        feedback = "" if _KEYWORD_ONLY.match(text) else text
        status = command.status if command is not None else None
        if status and status != referral["status"]:
            detail: dict[str, Any] = {"from": referral["status"], "to": status, "by": sender}
            if command is not None and command.value is not None:
                detail["value"] = command.value
                detail["currency"] = command.currency
            if feedback:
                detail["text"] = feedback[:4000]
            self.store.set_status(rid, status, now)
            self.store.add_event(rid, "status", **common, detail=detail)
            done.append(f"status {referral['status']} → {status}")
            feedback = ""
        thanks = sender == referral["provider"] and (
            match.step == "thank_you" or (command is not None and command.thanks)
        )
        if thanks:
            self.store.add_event(rid, "thanks", **common, detail={"text": feedback[:4000]})
            done.append("thanks")
        elif feedback:
            self.store.add_event(rid, "feedback", **common, detail={"text": feedback[:4000]})
            done.append("feedback")
        if not done:
            return Verdict(OutcomeName.NUDGE_REPLY, f"reply from {sender} with nothing to record", rid)
        return Verdict(OutcomeName.NUDGE_REPLY, f"{sender}: {', '.join(done)}", rid)

    def _group_mail_reply(self, verdict: Classification, sender: str, now: datetime) -> Verdict:
        """A reply to a weekly summary or a notice: only STOP means something."""
        if verdict.command is not None and verdict.command.stop:
            self.store.stop_person(sender, now)
            self.outbox.cancel_to(sender, "the recipient said STOP")
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} said STOP: no more mail to them", None)
        why = f"reply from {sender} to a group message; nothing to record"
        return Verdict(OutcomeName.NUDGE_REPLY, why, None)

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
        if decision in {"no", "later"}:
            # The proposal ends here; nothing more reaches the other person.
            self.store.set_status(rid, "declined", now)
            self.store.add_event(
                rid, "status", **common,
                detail={"from": "proposed", "to": "declined", "consent": True, "by": sender},
            )
            self.outbox.cancel_queued("the proposal was declined", referral_id=rid)
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} declined the introduction ({decision})", rid)
        if decision == "yes":
            return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} would like the introduction", rid)
        return Verdict(OutcomeName.NUDGE_REPLY, f"{sender} answered without a yes or no; kept as a note", rid)

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
