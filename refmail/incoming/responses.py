"""What an IMAP server's refusal means, and its words as plain text (pure; no sockets).

A server that refuses a command answers ``NO`` (or ``BAD``) with a
human-readable text, often led by a response code in brackets (RFC 3501
§7.1; the codes of RFC 5530): ``NO [AUTHENTICATIONFAILED] Authentication
failed.``, ``NO [NONEXISTENT] Mailbox doesn't exist: Foo``, ``NO
[UNAVAILABLE] Temporary authentication failure``. refmail decides on the
code where there is one, and on the command that failed where there is
none — servers differ in their words (Cyrus: "Mailbox does not exist",
Dovecot: "Mailbox doesn't exist") and many send no code at all, so the
text is never parsed for meaning. It is only shown, as text: imaplib hands
some of it over as the ``repr`` of bytes (``b'[AUTHENTICATIONFAILED] …'``),
which :func:`server_words` undoes.

Usage::

    words = server_words(exc)                 # "[NONEXISTENT] Mailbox doesn't exist: Foo"
    code = response_code(words)               # "NONEXISTENT"
    kind = failure_kind("select", code)       # "folder"
    shown = without_code(words)               # "Mailbox doesn't exist: Foo"
"""

from __future__ import annotations

import ast
import re
from typing import Literal

from refmail.errors import MailboxFailure

__all__ = [
    "Command",
    "failure_kind",
    "response_code",
    "server_words",
    "without_code",
]

#: The commands refmail sends whose refusal it interprets (the rest are "other").
Command = Literal["login", "select", "search", "fetch", "store", "append", "other"]

#: The most of a server's text refmail repeats: enough for any real message,
#: not a screenful from a hostile or broken server.
MAX_WORDS = 300

# RFC 5530 §3, by what they tell the client to do.
_TRY_LATER = frozenset({
    "UNAVAILABLE",  # a subsystem is down: "the client may retry later"
    "INUSE",  # a lock the server could not get
    "LIMIT",  # too many connections or commands for now
    "EXPUNGEISSUED",  # another client expunged meanwhile: ask again
    "SERVERBUG",  # the server tripped over itself; a new session may not
})
_CREDENTIALS = frozenset({
    "AUTHENTICATIONFAILED",  # wrong user name or password
    "AUTHORIZATIONFAILED",  # right credentials, not for this identity
    "EXPIRED",  # the password (or account) has expired
    "PRIVACYREQUIRED",  # the server wants TLS first
    "CONTACTADMIN",  # the account is blocked: only its administrator can help
})
_NO_FOLDER = frozenset({"NONEXISTENT", "TRYCREATE"})

# Python's framing, never the server's words: imapclient writes "<command> failed: "
# with the command in lower case, imaplib "<COMMAND> command error: ".
_PREFIX = re.compile(r"^(?:[a-z]+ failed|[A-Z]+ command error): ")
_BYTES_REPR = re.compile(r"""^b(['"]).*\1$""", re.DOTALL)
_CODE = re.compile(r"^\s*\[([A-Za-z0-9][A-Za-z0-9.-]*)[\] ]")
_LEADING_CODE = re.compile(r"^\s*\[[^\]]*\]\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def server_words(error: BaseException | str | bytes) -> str:
    """The server's text from an imaplib/imapclient error (or raw), as one line of text.

    Python's framing is removed ("login failed: ", "select failed: "), a
    ``b'…'`` repr becomes the text it stands for, bytes are read as UTF-8
    (replacing what is not), control characters — a terminal escape from a
    hostile server included — become spaces, and the result is cut to
    :data:`MAX_WORDS` characters.
    """
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    text = _PREFIX.sub("", text.strip())
    if text.startswith("[b") and text.endswith("]") and _BYTES_REPR.match(text[1:-1]):
        text = text[1:-1]  # imaplib's data list with one item
    if _BYTES_REPR.match(text):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1] + "…"


def response_code(words: str) -> str | None:
    """The response code leading a server's text, upper-case; None without one."""
    found = _CODE.match(words)
    return found.group(1).upper() if found else None


def without_code(words: str) -> str:
    """The text without its leading ``[CODE …]``, for people (or the code itself if that is all)."""
    rest = _LEADING_CODE.sub("", words, count=1).strip()
    return rest or words.strip()


def failure_kind(command: Command, code: str | None) -> MailboxFailure:
    """What a refusal of ``command`` with response code ``code`` (or None) means.

    The code decides where there is one; without one, the command: a refused
    LOGIN is a login problem, a refused SELECT a folder problem (missing, or
    not this account's to open), anything else a refusal.
    """
    if code is not None:
        if code in _TRY_LATER:
            return "unavailable"
        if code in _CREDENTIALS:
            return "login"
        if code in _NO_FOLDER:
            return "folder"
        if code == "NOPERM":  # RFC 5530: no access to this mailbox, or not for this command
            return "folder" if command == "select" else "refused"
    if command == "login":
        return "login"
    if command == "select":
        return "folder"
    return "refused"
