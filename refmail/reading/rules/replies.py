"""Replies: a message that answers another is a reply, not a new introduction.

A reply-all inside an intro's thread looks exactly like a new intro from the
replier — a member writing to two people and the tracker — and is not one
(SPEC "The contracts", ``refmail parse``). So anything that answers another
message, by ``In-Reply-To``/``References`` or by writing to a plus-token
address of the tracker, is a reply — except a forward of an intro, which some
clients send with the threading headers of the mail it forwards.
"""

from __future__ import annotations

from refmail.config import Config
from refmail.mail.message import ParsedMessage, is_forward_subject
from refmail.mail.reply import extract_reply
from refmail.reading.classification import Classification, Command, Keyword, RuleName
from refmail.reading.command import parse_command
from refmail.reading.envelope import Envelope
from refmail.reading.rules import short
from refmail.reading.rules.intro import read_intro
from refmail.reading.rules.notes import subject_command

__all__ = ["forwarded_intro", "own_references_only", "reply"]


def forwarded_intro(env: Envelope, config: Config) -> Classification | None:
    """The exception to the reply rule: a forward that carries an intro is an
    intro, even when the mail client kept the threading headers.

    A forward here is a ``message/rfc822`` part, or a forward subject ("Fwd:",
    "WG:", …) with a forward block found in the text; when what it carries
    does not read as an intro, the reply rule decides.
    """
    if not (env.token is not None or env.threaded):
        return None
    style = env.letter.forward_style
    if style is None or not (style == "attachment" or is_forward_subject(env.message.subject)):
        return None
    reading = read_intro(env, config)
    return reading if reading.kind == "intro" else None


def reply(env: Envelope, config: Config) -> Classification | None:
    """A reply: sent to a plus-token address of the tracker, or in a thread.

    It carries the new text only (quoted history and signature removed) and
    the keyword command read from it. A reply without a token is also read as
    an intro (``as_intro``): the tracker uses that when it knows no thread the
    reply belongs to (SPEC: "run and import may still treat a reply to a
    thread they have never seen as a new intro").
    """
    msg = env.message
    token = env.token
    if token:
        result = env.verdict(RuleName.TOKEN_REPLY, f"reply to refmail (plus token {token})")
    elif msg.in_reply_to:
        why = f"reply in a thread (In-Reply-To {short(msg.in_reply_to)})"
        result = env.verdict(RuleName.THREAD_REPLY, why)
    elif msg.references:
        why = f"reply in a thread (References {short(msg.references[-1])})"
        result = env.verdict(RuleName.THREAD_REPLY, why)
    else:
        return None
    result.token = token
    try:
        result.reply_text = _reply_text(msg)
    except Exception as exc:
        result.reply_text = msg.text
        result.reason += f"; quoted text not removed ({type(exc).__name__})"
    try:
        result.command = parse_command(result.reply_text)
    except Exception as exc:
        result.command = Command()
        result.reason += f"; command not read ({type(exc).__name__})"
    if result.command.empty:
        # A List-Unsubscribe mailto (RFC 2369) says STOP in its subject only.
        from_subject = subject_command(msg.subject or "")
        if from_subject.keyword in {Keyword.STOP, Keyword.START}:
            result.command = from_subject
    if token is None:
        reading = read_intro(env, config)
        result.as_intro = reading if reading.kind == "intro" else None
    return result


def _reply_text(msg: ParsedMessage) -> str:
    """The new text only. An HTML-only reply is cut on its HTML structure
    (blockquotes, Outlook reply headers), which survives better than text."""
    if msg.text_from_html and msg.html_parts:
        own = extract_reply("", html="\n".join(msg.html_parts))
        if own.strip():
            return own
    return extract_reply(msg.text)


def _own_ids(msg: ParsedMessage) -> set[str]:
    """The message's own id and Yahoo's ``.ref`` twin of it, lower-case."""
    own = (msg.message_id or "").strip().lower()
    if not own.startswith("<") or "@" not in own:
        return set()
    local, _, domain = own[1:-1].rpartition("@")
    return {own, f"<{local}.ref@{domain}>"}


def own_references_only(env: Envelope, config: Config) -> Classification | None:
    """A new message whose threading headers name only itself is read as new.

    Yahoo Mail writes ``References: <id.ref@mail.yahoo.com>`` on *new*
    messages — its own Message-ID with ``.ref`` added — so without this rule an
    intro from a Yahoo user would be read as a reply and never tracked. Gmail,
    Outlook (``Thread-Index``/``Thread-Topic`` only) and Apple Mail write no
    ``In-Reply-To``/``References`` on a new message; a reference to the message
    itself, in any client, is no reference. A plus-token address still makes
    it a reply to refmail.
    """
    msg = env.message
    if env.token is not None or not env.threaded:
        return None
    own = _own_ids(msg)
    ids = [i.strip().lower() for i in [msg.in_reply_to or "", *msg.references] if i and i.strip()]
    if not own or not ids or any(i not in own for i in ids):
        return None
    result = read_intro(env, config)
    result.reason += f"; its threading header names only the message itself ({short(ids[-1], 50)})"
    return result
