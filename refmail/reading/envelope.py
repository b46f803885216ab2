"""A message read once: the plain, frozen facts the classification rules judge.

Every rule of :mod:`refmail.reading.rules` asks the same few questions — who
wrote, to whom, is that the tracker, which plus tokens, is that a member, what
is forwarded. Asked of the raw message, each rule would canonicalise the same
addresses against the config again (an alias mapped to its member, the tracker
and its plus forms left out); :func:`read_envelope` answers them all once, in
one pass, and the rules read the answers. It is pure: a parsed message and the
config in, an :class:`Envelope` out.

Two readings of "who wrote to whom" exist side by side, because the SPEC needs
both: the message itself (its From, To and Cc: the fields every classification
carries), and the *letter* an intro is read from — the forwarded message when
the message forwards one (inline or as ``message/rfc822``), else the message
itself (:class:`Letter`).

Addresses are lower-case with member aliases mapped to the member's address
(SPEC "The contracts"), except where a field says *raw*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from refmail.config import Config
from refmail.mail.message import Address, ParsedMessage
from refmail.reading.classification import KIND_OF, Classification, RuleName

__all__ = ["Envelope", "Letter", "read_envelope"]

_DAEMON_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon"})
_DAEMON_NAME = re.compile(r"mail delivery (?:sub)?system|mailer.?daemon|postmaster", re.I)


def local_part(address: str) -> str:
    """The local part of ``address``, lower-case (``""`` without an ``@``)."""
    return address.rpartition("@")[0].lower()


def is_daemon_local(address: str) -> bool:
    """``MAILER-DAEMON@…``, ``postmaster@…`` and their kin: the mail system's own addresses."""
    return local_part(address) in _DAEMON_LOCALS


@dataclass(frozen=True, slots=True)
class Letter:
    """What an introduction is read from: one writer, the people written to, the words.

    The forwarded message when there is one (its own From, To and Cc are the
    intro's referrer and parties, SPEC "Capture"), else the message itself.
    """

    #: The canonical writer, or None when the letter has no sender address.
    writer: str | None
    #: The writer is (canonically) a tracking address: refmail's own mail, forwarded.
    writer_is_tracker: bool
    #: Canonical To and Cc, the tracker and the writer left out, each once, in order.
    parties: tuple[str, ...]
    #: Display names seen (canonical address → name): the letter's own first,
    #: then the enclosing message's, so a forward's names win.
    names: Mapping[str, str]
    #: The letter's text (the forward's own text for a forward).
    text: str
    #: How it was forwarded (:attr:`refmail.mail.message.Forward.style`), None when not forwarded.
    forward_style: str | None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as the classification rules see it; built by :func:`read_envelope`."""

    #: The parsed message, for the rules that read headers (auto-reply marks, reports, text).
    message: ParsedMessage
    #: The canonical From address; ``""`` when From has no address, None without From.
    sender: str | None
    #: The raw From address is a tracking address (refmail's own mail coming back).
    from_is_tracker: bool
    #: From looks like the mail system itself (MAILER-DAEMON, "Mail Delivery System").
    from_mail_system: bool
    #: Canonical To and Cc of the message itself, the tracker left out, each once, in order.
    recipients: tuple[str, ...]
    #: Display names on the message's own From, To and Cc (canonical address → name).
    names: Mapping[str, str]
    #: Plus tags of the tracking address the message came to (To, Cc, then
    #: ``Delivered-To``/``X-Original-To``), in that order: ``refs+TAG@…`` → ``TAG``.
    tokens: tuple[str, ...]
    #: Raw To, Cc and envelope-recipient addresses that are a tracking address.
    tracker_hits: frozenset[str]
    #: What an intro reading reads (:class:`Letter`).
    letter: Letter
    #: The canonical addresses above that belong to members.
    members: frozenset[str]

    @property
    def token(self) -> str | None:
        """The first plus tag: the one a reply to refmail is matched by."""
        return self.tokens[0] if self.tokens else None

    @property
    def threaded(self) -> bool:
        """``In-Reply-To`` or ``References`` present: the message answers another."""
        return bool(self.message.in_reply_to or self.message.references)

    def is_member(self, address: str | None) -> bool:
        """``address`` (canonical, as the fields above hold it) belongs to a member."""
        return address in self.members

    def verdict(self, rule: RuleName, reason: str) -> Classification:
        """A :class:`Classification` decided by ``rule``, with the fields every kind carries."""
        msg = self.message
        return Classification(
            kind=KIND_OF[rule],
            reason=reason,
            rule=rule,
            message_id=msg.message_id,
            sender=self.sender,
            subject=msg.subject,
            date=msg.date_iso,
            in_reply_to=msg.in_reply_to,
            references=list(msg.references),
            recipients=list(self.recipients),
            names=dict(self.names),
        )


def _recipients(addresses: Iterable[Address], config: Config) -> tuple[str, ...]:
    """Canonical addresses, the tracker left out, each once, in order.

    A dict keeps the order and finds a repeat in constant time: a hostile
    message may carry thousands of recipients.
    """
    out: dict[str, None] = {}
    for addr in addresses:
        if addr.address and not config.is_tracking_address(addr.address):
            out.setdefault(config.canonical(addr.address))
    return tuple(out)


def _names(config: Config, addresses: Iterable[Address | None], into: dict[str, str]) -> dict[str, str]:
    """Display names by canonical address; the first name seen for an address wins."""
    for addr in addresses:
        if (
            addr
            and addr.address
            and addr.name
            and "@" not in addr.name
            and not config.is_tracking_address(addr.address)
        ):
            into.setdefault(config.canonical(addr.address), addr.name)
    return into


def _is_mail_system(sender: Address | None) -> bool:
    if sender is None:
        return False
    return is_daemon_local(sender.address) or bool(_DAEMON_NAME.search(sender.name))


def _letter(
    msg: ParsedMessage, config: Config, own_recipients: tuple[str, ...], own_names: Mapping[str, str]
) -> Letter:
    forward = msg.forwarded
    if forward is not None:
        writer, text, style = forward.from_, forward.text, forward.style
        recipients = _recipients([*forward.to, *forward.cc], config)
        names = _names(config, [writer, *forward.to, *forward.cc], {})
        for address, name in own_names.items():
            names.setdefault(address, name)
    else:
        writer, text, style = msg.from_, msg.text, None
        recipients, names = own_recipients, dict(own_names)
    referrer = config.canonical(writer.address) if writer is not None and writer.address else None
    parties = tuple(p for p in recipients if p != referrer)
    return Letter(
        writer=referrer,
        writer_is_tracker=referrer is not None and config.is_tracking_address(referrer),
        parties=parties,
        names=MappingProxyType(names),
        text=text,
        forward_style=style,
    )


def read_envelope(msg: ParsedMessage, config: Config) -> Envelope:
    """Canonicalise ``msg`` against ``config`` once, for every rule to read."""
    sender = msg.from_
    own_names = _names(config, [sender, *msg.to, *msg.cc], {})
    recipients = _recipients([*msg.to, *msg.cc], config)
    tokens: list[str] = []
    hits: set[str] = set()
    for address in [*(a.address for a in (*msg.to, *msg.cc)), *msg.delivered_to]:
        tag = config.plus_tag(address)
        if tag:
            tokens.append(tag)
        if config.is_tracking_address(address):
            hits.add(address)
    letter = _letter(msg, config, recipients, own_names)
    canonical_sender = config.canonical(sender.address) if sender is not None else None
    seen = {canonical_sender, letter.writer, *recipients, *letter.parties}
    return Envelope(
        message=msg,
        sender=canonical_sender,
        from_is_tracker=bool(sender and config.is_tracking_address(sender.address)),
        from_mail_system=_is_mail_system(sender),
        recipients=recipients,
        names=MappingProxyType(own_names),
        tokens=tuple(tokens),
        tracker_hits=frozenset(hits),
        letter=letter,
        members=frozenset(a for a in seen if a and config.is_member(a)),
    )
