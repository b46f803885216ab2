"""A member's note to the plain tracking address about one referral ("R-9 won 2.000 EUR").

Such a note answers no message and introduces nobody, so it is not an intro
(SPEC "Mail that must never start a referral": notes without a second party);
but it names a referral, by its tag in the subject or on its first line, and
says something about it. It is ``ignored`` as the contract has it, with rule
:attr:`~refmail.reading.classification.RuleName.TAGGED_NOTE`, the referral
and the command read from it: the tracker never applies it as it stands — a
note proves nothing about its sender — but asks the member to confirm it
(:mod:`refmail.workflow.responses`).
"""

from __future__ import annotations

import re

from refmail.mail.reply import extract_reply
from refmail.reading.classification import Classification, Command, RuleName
from refmail.reading.command import parse_command
from refmail.reading.envelope import Envelope

__all__ = ["TAG", "subject_command", "tagged_note"]

#: A referral's tag as people write it: ``R-9``, ``[R-9]``, ``r-9``, ``R 9`` is not one.
TAG = re.compile(r"(?<![\w-])\[?R-(\d{1,12})\]?(?![\w-])", re.IGNORECASE)
#: Reply and forward prefixes in front of a subject ("Re:", "AW:", "Fwd:").
_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|vs|wg|fw|fwd|tr|rv|r)\s*:\s*)+", re.IGNORECASE)
#: A subject is read as a command only when this short: "[R-9] LOST", not a sentence.
_SUBJECT_COMMAND_CHARS = 60


def tagged_note(env: Envelope, sender: str) -> Classification | None:
    """``env`` as a note about one referral, or None when it names none.

    The tag is looked for in the subject, then at the start of the first line
    of the new text; the command comes from the text with the tag taken out, else from a
    short subject that opens with a keyword ("[R-9] LOST").
    """
    msg = env.message
    subject = msg.subject or ""
    try:
        text = extract_reply(msg.text or "")
    except Exception:  # the note's words are still worth reading
        text = msg.text or ""
    lines = [line for line in text.splitlines() if line.strip()]
    # In the subject anywhere ("Re: update"); in the text only opening
    # the first line ("R-9 won …"), not mentioned in passing.
    found = TAG.search(subject) or (TAG.match(lines[0].lstrip()) if lines else None)
    if found is None:
        return None
    referral = int(found.group(1))
    body = TAG.sub(" ", text).strip()
    command = _command(body)
    if command.empty:
        from_subject = subject_command(subject)
        if from_subject.keyword is not None:
            command = from_subject
            body = body or _bare(subject)
    why = f"a note from {sender} about R-{referral}, with no second party"
    result = env.verdict(RuleName.TAGGED_NOTE, why)
    result.referral_tag = referral
    result.reply_text = body
    result.command = command
    return result


def _bare(subject: str) -> str:
    return _PREFIX.sub("", TAG.sub(" ", subject)).strip()


def subject_command(subject: str) -> Command:
    """The command of a short subject that opens with a keyword ("[R-9] LOST",
    "STOP"), prefixes and tags left out; an empty command otherwise.

    A ``List-Unsubscribe`` ``mailto:`` (RFC 2369) sends its ``subject=STOP``
    with no body; a note's subject may be all it says. A sentence is never
    read as a command here ("Re: Thank you: your introduction …" is a subject
    refmail wrote, not a THANKS).
    """
    bare = _bare(subject)
    if not bare or len(bare) > _SUBJECT_COMMAND_CHARS:
        return Command()
    command = _command(bare)
    return command if command.keyword is not None else Command()


def _command(text: str) -> Command:
    try:
        return parse_command(text)
    except Exception:  # a command that cannot be read is no command
        return Command()
