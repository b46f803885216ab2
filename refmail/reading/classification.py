"""What one raw message is, as a value: the result of classification.

This module holds only the result types and their JSON form (the contract of
``refmail parse FILE --json``, SPEC "The contracts"); the rules that produce
them live in :mod:`refmail.reading.classifier`, which is pure — bytes and config in,
a :class:`Classification` out, no I/O — so every rule is testable on a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["STATUSES", "Classification", "Command", "Keyword", "Kind"]

Kind = Literal["intro", "reply", "bounce", "ignored"]

#: The referral status lifecycle (SPEC "Status lifecycle").
STATUSES = (
    "proposed",
    "declined",
    "expired",
    "introduced",
    "contacted",
    "meeting",
    "proposal",
    "won",
    "lost",
    "no_fit",
    "unresponsive",
    "withdrawn",
)


class Keyword(StrEnum):
    """The one-click keywords of refmail's nudges (SPEC "Replies to nudges"), as
    typed names; each is accepted in every language refmail writes in
    (:mod:`refmail.reading.command_words`)."""

    CONTACTED = "contacted"
    MET = "met"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"
    NO_FIT = "no_fit"
    NO_RESPONSE = "no_response"
    THANKS = "thanks"
    STOP = "stop"
    START = "start"
    PROVIDER = "provider"
    WITHDRAW = "withdraw"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Command:
    """What a reply to a nudge asks for, read from its first lines.

    ``status`` is one of :data:`STATUSES` or None; ``value`` the amount that
    came with ``WON`` (an int when whole) and ``currency`` its ISO code when
    one was written; ``thanks`` and ``stop`` are the ``THANKS`` and ``STOP``
    keywords, or the same said in a sentence.

    ``keyword`` is the keyword the reply opens with ("WON 4500", "Gewonnen!"),
    if any; ``from_free_text`` is True when ``status`` was read from a sentence
    ("she signed last week") rather than from that keyword — a caller may want
    the sender to confirm such a reading. ``start`` and ``reopen`` are the
    ``START`` and ``REOPEN`` keywords; ``provider`` the argument of
    ``PROVIDER <name or address>``. Who may use which keyword is not decided
    here (:mod:`refmail.workflow.responses`).
    """

    status: str | None = None
    value: int | float | None = None
    currency: str | None = None
    thanks: bool = False
    stop: bool = False
    keyword: Keyword | None = None
    from_free_text: bool = False
    start: bool = False
    reopen: bool = False
    provider: str | None = None

    @property
    def empty(self) -> bool:
        return (self.status is None and not self.thanks and not self.stop and not self.start
                and not self.reopen and self.provider is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "value": self.value,
            "currency": self.currency,
            "thanks": self.thanks,
            "stop": self.stop,
            "keyword": self.keyword.value if self.keyword else None,
            "from_free_text": self.from_free_text,
            "start": self.start,
            "reopen": self.reopen,
            "provider": self.provider,
        }


@dataclass
class Classification:
    """One message, classified.

    The first block of fields is the SPEC contract; the rest is what the
    tracker needs to act without parsing the message again. Addresses are
    lower-case with member aliases mapped to the member's address.
    """

    kind: Kind
    reason: str
    message_id: str | None = None
    referrer: str | None = None
    provider: str | None = None
    prospects: list[str] = field(default_factory=list)
    parties: list[str] = field(default_factory=list)
    reply_text: str | None = None
    command: Command | None = None

    #: The (canonical) From address of the message itself.
    sender: str | None = None
    subject: str = ""
    #: The Date header as an ISO 8601 string, or None when absent or unreadable.
    date: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    #: Canonical To/Cc addresses of the message itself, the tracker left out.
    recipients: list[str] = field(default_factory=list)
    #: The plus tag of the tracking address this came to (``refs+TAG@…``).
    token: str | None = None
    #: For a bounce: the address that could not be delivered to.
    failed_recipient: str | None = None
    #: Display names seen for addresses (canonical address → name).
    names: dict[str, str] = field(default_factory=dict)
    #: True when the intro came as an inline forward or a message/rfc822 attachment.
    forwarded: bool = False
    #: For a ``reply`` that is not addressed to a plus token: the same message
    #: read as an intro. The tracker uses it when it knows no thread the reply
    #: could belong to (SPEC: "run and import may still treat a reply to a
    #: thread they have never seen as a new intro").
    as_intro: Classification | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``refmail parse --json`` object."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "reason": self.reason,
            "message_id": self.message_id,
            "referrer": self.referrer,
            "provider": self.provider,
            "prospects": list(self.prospects),
            "parties": list(self.parties),
            "reply_text": self.reply_text,
            "command": self.command.to_json() if self.command else None,
            "sender": self.sender,
            "subject": self.subject,
            "date": self.date,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "recipients": list(self.recipients),
            "token": self.token,
            "failed_recipient": self.failed_recipient,
            "forwarded": self.forwarded,
        }
        return data
