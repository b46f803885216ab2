"""Introductions: a member writing to two people and the tracker.

The last rule of the chain: what reaches it answers no other message and was
not written by a program. It is an intro when the referrer — the writer of
the :class:`~refmail.reading.envelope.Letter`, i.e. of the forwarded message
for a forward — is a member (or membership is open) and at least two parties
besides the referrer are addressed; otherwise ``ignored`` with the reason
(SPEC "Capture"). Roles come from membership and the text
(:mod:`refmail.reading.roles`); when they cannot be told apart they stay
unknown and the referrer is asked, never guessed for.
"""

from __future__ import annotations

from refmail.config import Config
from refmail.mail.reply import extract_reply
from refmail.reading.classification import Classification, RuleName
from refmail.reading.envelope import Envelope
from refmail.reading.roles import Party, assign_roles
from refmail.reading.rules.notes import tagged_note

__all__ = ["ANNOUNCEMENT_AT", "introduction", "read_intro"]

#: From this many parties (recipients besides the referrer and the tracker) a
#: message is an announcement to the group, not an introduction: an intro names
#: two people, sometimes a couple or a small team — five at most in practice.
#: :attr:`RuleName.ANNOUNCEMENT` lets the workflow tell the sender it was not
#: taken as an intro.
ANNOUNCEMENT_AT = 6

_FORWARD_STYLES = {
    "attachment": "forwarded as an attachment",
    "gmail": "inline forward (Gmail)",
    "thunderbird": "inline forward (Thunderbird)",
    "apple": "inline forward (Apple Mail)",
    "outlook": "inline forward (Outlook)",
}


def introduction(env: Envelope, config: Config) -> Classification:
    """The message read as an introduction: ``intro``, or ``ignored`` with why not.

    Always decides: it is the end of the chain.
    """
    return read_intro(env, config)


def read_intro(env: Envelope, config: Config) -> Classification:
    """``env`` read as an introduction: :attr:`RuleName.INTRO`, or
    :attr:`RuleName.FORWARDED_INTRO` when read from a forward, or why not.

    Shared with the reply rules: the forwarded-intro exception reads the
    forward this way, and a reply without a token carries this reading as
    ``as_intro``.
    """
    letter = env.letter
    referrer = letter.writer
    if referrer is None:
        return env.verdict(RuleName.NO_SENDER, "no sender address to take as referrer")
    if letter.writer_is_tracker:
        return env.verdict(RuleName.FORWARDED_OWN_MAIL, "a forward of refmail's own message")
    if not config.group.open_membership and not env.is_member(referrer):
        return env.verdict(
            RuleName.NOT_A_MEMBER,
            f"sender {referrer} is not a member of the group (open_membership is false)",
        )
    parties = list(letter.parties)
    if len(parties) < 2:
        # A note about one referral is read as such; a forward is not a note.
        note = tagged_note(env, referrer) if letter.forward_style is None else None
        if note is not None:
            return note
        who = f" ({parties[0]})" if parties else ""
        return env.verdict(
            RuleName.NO_SECOND_PARTY,
            f"note with no second party: {len(parties)} part{'y' if len(parties) == 1 else 'ies'}"
            f" besides the sender{who}",
        )
    if len(parties) >= ANNOUNCEMENT_AT:
        return env.verdict(
            RuleName.ANNOUNCEMENT,
            f"an announcement to {len(parties)} people, not an introduction (an introduction names "
            f"fewer than {ANNOUNCEMENT_AT} people besides the sender)",
        )
    names = dict(letter.names)
    try:
        roles = assign_roles(
            _intro_text(letter.text),
            [Party(address=p, name=names.get(p, ""), is_member=env.is_member(p)) for p in parties],
            config,
        )
        provider, prospects, roles_reason = roles.provider, list(roles.prospects), roles.reason
    except Exception as exc:  # roles unknown is a valid outcome: the referrer is asked
        provider, prospects, roles_reason = None, [], f"roles unknown ({type(exc).__name__})"
    style = letter.forward_style
    how = "introduction" if style is None else f"{_FORWARD_STYLES.get(style, 'forward')}: introduction"
    rule = RuleName.INTRO if style is None else RuleName.FORWARDED_INTRO
    result = env.verdict(rule, f"{how} by {referrer} to {len(parties)} parties; {roles_reason}")
    result.referrer = referrer
    result.parties = parties
    result.provider = provider
    result.prospects = prospects
    result.names = names
    result.forwarded = style is not None
    return result


def _intro_text(text: str) -> str:
    """The intro's own words: quoted history and signature removed (roles read this)."""
    try:
        own = extract_reply(text)
    except Exception:  # a failure here must not lose the intro
        return text
    return own if own.strip() else text
