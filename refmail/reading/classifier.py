"""Deciding what one raw message is: an intro, a reply, a bounce, or ignored.

A message is read once into an :class:`~refmail.reading.envelope.Envelope`,
then judged by :data:`CHAIN`, an ordered list of small named rules (GNU
Mailman 3's chains and rules are the model): the first rule that decides
wins, and its :class:`~refmail.reading.classification.RuleName` travels with
the result beside the human ``reason``. The order is the SPEC contract of
``refmail parse`` ("The contracts"):

1. mail that must never start a referral or a reply loop — bounces,
   refmail's own mail coming back, auto-replies, list mail, reports, the mail
   system, calendar invitations — is ``bounce`` or ``ignored`` first, whatever
   else it looks like;
   bounces lead, because a bounce also carries the marks of automatic mail
   and must still be recorded against the message it returns;
2. then a message that answers another (``In-Reply-To``/``References``, or sent
   to a plus-token address of the tracker) is a ``reply``: a reply-all inside
   an intro thread looks like a new intro from the replier, and is not one —
   except a forward of an intro, which stays an intro even when the mail
   client kept the threading headers (so that exception is tried first);
3. only then an ``intro``, if it comes from a member (unless membership is
   open) and names at least two parties — and fewer than an announcement's
   many (:data:`refmail.reading.rules.intro.ANNOUNCEMENT_AT`).

:data:`CHECKS` then judge the verdict itself: with ``[security]
require_authenticated_sender``, an intro or reply whose From the receiving
server did not authenticate becomes ``ignored``.

:func:`classify` is pure — bytes and config in, a :class:`Classification` out —
and never raises: whatever lands in a shared inbox must not stop the rest.
"""

from __future__ import annotations

from refmail.config import Config
from refmail.mail.message import ParsedMessage, parse_message
from refmail.reading.classification import Classification, RuleName
from refmail.reading.envelope import read_envelope
from refmail.reading.rules import Check, Rule, automatic, bounce, intro, replies
from refmail.reading.rules.authenticity import require_authenticated_sender

__all__ = ["CHAIN", "CHECKS", "classify", "classify_parsed"]

#: The SPEC's precedence, first rule first. Every message reaches the last
#: rule unless an earlier one decides, and the last one always decides.
CHAIN: tuple[Rule, ...] = (
    # 1. mail that must never start a referral or a reply loop
    bounce.delivery_report,
    bounce.text_bounce,
    automatic.own_mail,
    automatic.unsubscribe_request,  # acted on although automatic: it only ever stops mail
    automatic.auto_submitted,
    automatic.autoreply_header,
    automatic.precedence,
    automatic.exchange_generated,
    automatic.out_of_office_subject,
    automatic.list_mail,
    automatic.automatic_report,
    automatic.null_return_path,
    automatic.mail_system,
    automatic.calendar_invitation,
    # 2. a message that answers another is a reply — but a forwarded intro is an intro,
    #    and a new message whose References names only itself (Yahoo) is new
    replies.own_references_only,
    replies.forwarded_intro,
    replies.reply,
    # 3. only then an introduction
    intro.introduction,
)

#: Run on the chain's verdict, in order.
CHECKS: tuple[Check, ...] = (require_authenticated_sender,)


def classify_parsed(msg: ParsedMessage, config: Config) -> Classification:
    """:func:`classify` for an already parsed message."""
    env = read_envelope(msg, config)
    for rule in CHAIN:
        result = rule(env, config)
        if result is not None:
            break
    else:  # pragma: no cover - intro.introduction always decides
        raise AssertionError("the classification chain decided nothing")
    for check in CHECKS:
        result = check(env, config, result)
    return result


def classify(raw: bytes, config: Config) -> Classification:
    """Classify one raw RFC 5322 message (SPEC "The contracts", ``refmail parse``).

    Never raises: an unexpected failure becomes ``ignored`` with the reason.
    """
    try:
        return classify_parsed(parse_message(raw), config)
    except Exception as exc:  # pragma: no cover - last line of defence for the inbox
        return Classification(
            kind="ignored",
            reason=f"could not be classified ({type(exc).__name__})",
            rule=RuleName.UNCLASSIFIABLE,
        )
