"""Bounces: delivery reports (RFC 3464) and the free-text bounces of older mail daemons.

A bounce is recorded against the message it returns (SPEC "Mail that must
never start a referral"), so beyond "this is a bounce" these rules find the
address that failed and point the result at the returned original the way a
reply would (``In-Reply-To``/``References``, and the plus token of the address
refmail sent it from), for the tracker to find the nudge it concerns.

They come first in the chain: a bounce often carries ``Auto-Submitted`` or a
null Return-Path too, and must be read as a bounce, not merely ignored.
"""

from __future__ import annotations

import re

from refmail.config import Config
from refmail.mail.message import ParsedMessage, parse_address_list, parse_message
from refmail.reading.classification import Classification, RuleName
from refmail.reading.envelope import Envelope, is_daemon_local

__all__ = ["delivery_report", "text_bounce"]

_DSN_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed)|"
    r"returned mail|failure notice|mail delivery failed|could not be delivered|"
    r"nondeliverable|non remis|unzustellbar|no se puede entregar|rejected|delivery problem",
    re.I,
)
_DSN_BODY = re.compile(
    r"could not be delivered|couldn't be delivered|delivery to the following recipient|"
    r"following address(?:es)? failed|permanent(?:ly)? (?:error|fatal|failed)|"
    r"user unknown|no such user|mailbox unavailable|address rejected|"
    r"recipient address rejected|final-recipient:|\b5\.\d\.\d+\b|\b550\b",
    re.I,
)
_DSN_FAILED_AFTER = re.compile(
    r"(?:final-recipient:\s*rfc822;|following address(?:es)? failed:|"
    r"delivery to the following recipients? failed(?: permanently)?:|"
    r"could not be delivered to(?: one or more recipients)?:?|"
    r"couldn't be delivered to|your message to|message to the following|"
    r"recipient address rejected:|recipient address:|unknown user:?)",
    re.I,
)
_ORIGINAL_IN_TEXT = re.compile(
    r"copy of the (?:original )?message|original message follows|"
    # A run of dashes is entered at its start only, and never given back (possessive):
    # "-{3,}\s*" tried from every dash of a long run was quadratic.
    r"below this line is a copy|(?<!-)-{3,}+\s*+original message\s*-{3,}|returned message",
    re.I,
)
# No "@" in the local part: "[^<>\s]+@" let every "@" of "<a@@@@…" be tried as
# the separator (quadratic); only horizontal blanks before "<", so a match
# starts at a line's start and not at each of a run of blank lines.
_BOUNCED_ID = re.compile(r"message-?id:\s*<([^<>\s@]+@[^<>\s]+)>", re.I)
_FAILED_LINE = re.compile(r"^[ \t]*<([^<>\s@]+@[^<>\s]+)>[ \t]*:", re.M)
_NOT_FAILED = ("delayed", "delivered", "relayed", "expanded")


def delivery_report(env: Envelope, config: Config) -> Classification | None:
    """A ``multipart/report`` with delivery status (RFC 3464): a bounce when a
    recipient failed, ignored when every recipient was only delayed or delivered."""
    msg = env.message
    if not (msg.is_multipart_report and (msg.report_type == "delivery-status" or msg.delivery_status)):
        return None
    failed: str | None = None
    status = ""
    actions = []
    for block in msg.delivery_status:
        recipient = block.get("final-recipient") or block.get("original-recipient")
        if not recipient:
            continue
        action = block.get("action", "").lower()
        actions.append(action or "?")
        # RFC 3464 §2.3.3: Action "failed"; a 5.x.x Status means the same.
        if action == "failed" or (not action and block.get("status", "").startswith("5")):
            addresses = parse_address_list(recipient.partition(";")[2] or recipient)
            if addresses and failed is None:
                failed = addresses[0].address
                status = block.get("status", "")
    if failed is None and actions and all(a in _NOT_FAILED for a in actions):
        return env.verdict(
            RuleName.DSN_NOT_FAILURE,
            f"delivery status notification, not a failure (Action: {', '.join(actions)})",
        )
    if failed is None:
        failed = _failed_from_text(msg.text, _not_the_failure(env, config))
    return _bounce(env, config, RuleName.DSN_FAILURE, failed, status, msg.returned)


def text_bounce(env: Envelope, config: Config) -> Classification | None:
    """A free-text bounce: a null Return-Path or the mail system's From, and a
    subject or text that says delivery failed (qmail, Exim, Exchange, Postfix)."""
    msg = env.message
    if not (msg.return_path == "" or env.from_mail_system):
        return None
    if not (_DSN_SUBJECT.search(msg.subject) or _DSN_BODY.search(msg.text[:8000])):
        return None
    failed = _failed_from_text(msg.text, _not_the_failure(env, config))
    original = msg.attachments[0] if msg.attachments else _original_in_text(msg.text)
    return _bounce(env, config, RuleName.TEXT_BOUNCE, failed, "", original)


def _bounce(
    env: Envelope,
    config: Config,
    rule: RuleName,
    failed: str | None,
    status: str,
    original: ParsedMessage | None,
) -> Classification:
    reason = f"delivery failure for {failed or 'an unknown recipient'}"
    reason += f" (Status: {status})" if status else " (bounce)"
    result = env.verdict(rule, reason)
    result.failed_recipient = failed
    if original is not None:
        # Point at the original like a reply would, so the tracker finds the
        # nudge the bounce concerns through In-Reply-To/References.
        result.in_reply_to = original.message_id or original.in_reply_to
        result.references = [*original.references]
        if original.message_id and original.message_id not in result.references:
            result.references.append(original.message_id)
        for address in (original.return_path or "", original.from_.address if original.from_ else ""):
            tag = config.plus_tag(address) if address else None
            if tag:
                result.token = tag
                break
    if result.token is None:
        result.token = env.token
    return result


def _not_the_failure(env: Envelope, config: Config) -> set[str]:
    """Addresses a bounce's text names that are not the one that failed: ours, the daemon's."""
    ignore = {config.group.tracking_address, *env.tracker_hits}
    if env.message.from_:
        ignore.add(env.message.from_.address)
    return ignore


def _failed_from_text(text: str, ignore: set[str]) -> str | None:
    """The undeliverable address in a free-text bounce, as best we can."""
    # Message-IDs look like addresses ("<1234$abcd@host>"); never report one.
    ids = _BOUNCED_ID.findall(text)
    ignore = ignore | {m.lower() for m in ids}
    for match in _DSN_FAILED_AFTER.finditer(text):
        window = text[match.end() : match.end() + 400]
        for addr in parse_address_list(window):
            if addr.address not in ignore and not is_daemon_local(addr.address):
                return addr.address
    # qmail / Postfix: "<user@host>:" at the start of a line.
    line = _FAILED_LINE.search(text)
    if line and line.group(1).lower() not in ignore:
        return line.group(1).lower()
    for addr in parse_address_list(text[:4000]):
        if addr.address not in ignore and not is_daemon_local(addr.address):
            return addr.address
    return None


def _original_in_text(text: str) -> ParsedMessage | None:
    """The returned original written into a bounce's text (Exim, qmail)."""
    match = _ORIGINAL_IN_TEXT.search(text)
    if not match:
        return None
    line_end = text.find("\n", match.end())
    if line_end < 0:
        return None
    rest = text[line_end + 1 :].lstrip("\n")
    rest = "\n".join(line.lstrip() for line in rest.split("\n"))
    original = parse_message(rest.encode("utf-8", "replace"))
    return original if original.message_id or original.from_ else None
