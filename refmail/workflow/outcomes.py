"""What processing one message did: the typed name of each outcome, and the result value.

The tracker records every message once with its outcome (the ``messages``
table, ``refmail inbox``, the daemon's cycle report, the demo). Code decides on
:class:`OutcomeName` — never on the human ``reason`` beside it, whose words may
change — and the names are the values stored in the database, so they are
part of the record: add names, never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from refmail.reading.classification import Classification

__all__ = ["FAILURES", "Outcome", "OutcomeName"]


class OutcomeName(StrEnum):
    """What the tracker did with one message."""

    #: A new referral.
    CREATED = "created"
    #: An intro already tracked (the same referrer and people, recently): an event on it.
    DUPLICATE_INTRO = "duplicate_intro"
    #: The real introduction of a consent-first proposal: it joins the proposal.
    PROPOSAL_INTRODUCED = "proposal_introduced"
    #: A consent-first proposal (``refs+ask@``): a referral waiting for consent.
    PROPOSED = "proposed"
    #: A message in a tracked intro's thread, recorded as an event.
    THREAD_EVENT = "thread_event"
    #: The provider wrote to a prospect in the intro's thread: evidence of first contact.
    FIRST_CONTACT = "first_contact"
    #: A reply to a thread refmail does not track.
    REPLY_UNMATCHED = "reply_unmatched"
    #: A reply to one of refmail's messages, accepted and applied.
    NUDGE_REPLY = "nudge_reply"
    #: A reply refmail will not act on: a token it did not issue, or the wrong sender.
    REPLY_REJECTED = "reply_rejected"
    #: A request without proof of its sender (no token, not authenticated): not
    #: applied; the claimed sender was asked to confirm it (``refmail.workflow.confirmations``).
    CONFIRMATION_ASKED = "confirmation_asked"
    #: A yes to such a question: the request it confirms was carried out.
    CONFIRMED = "confirmed"
    #: A member's profile by email (``refs+profile@…``): recorded, or shown back
    #: when the message changed nothing.
    PROFILE = "profile"
    #: A bounce, recorded against the message it returns when that is known.
    BOUNCE = "bounce"
    #: Nothing to do (the classification says why: an auto-reply, list mail, …).
    IGNORED = "ignored"
    #: Over ``[security] max_messages_per_sender_per_hour``: recorded, not applied.
    RATE_LIMITED = "rate_limited"
    #: Could not be read or applied: recorded, flagged, never retried by itself.
    FAILED = "failed"
    #: Over ``[imap] max_message_size``: recorded without being downloaded.
    TOO_LARGE = "too_large"
    #: Processed before (a re-delivery, a UIDVALIDITY reset, the same import): nothing done.
    SEEN = "seen"


#: The outcomes of a message that could not be processed (``refmail inbox --failed``).
FAILURES = frozenset({OutcomeName.FAILED, OutcomeName.TOO_LARGE})


@dataclass(frozen=True)
class Outcome:
    """What processing one message did: its :class:`OutcomeName` and why, in words.

    ``kind`` is the message's classification kind (``intro``, ``reply``,
    ``bounce``, ``ignored``), or ``seen`` / ``failed`` when it was not classified.
    """

    key: str
    kind: str
    outcome: OutcomeName
    reason: str
    referral_id: int | None = None
    classification: Classification | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES
