"""A fast reader of the MIME shapes nearly all mail has, exact or nothing.

The standard library's ``FeedParser`` reads a message line by line in Python:
every line goes through a generator, a deque and a regex per enclosing
boundary, and every multipart compiles a boundary regex of its own (new for
nearly every message, so the ``re`` cache always misses). For the message
classification reads — a few parts, each a header block and a body — that is
most of the parse. :func:`read_simple` cuts the same message with ``str.find``
and two regexes run over whole header blocks, and builds the *same*
``email.message.Message`` tree (``policy.compat32``) that
``BytesParser(policy=compat32).parsebytes`` builds: same header fields byte for
byte, same payload strings, preamble and epilogue, no defects.

It returns None — the caller then runs the standard parser — for anything where
the two could differ or the line-by-line rules matter: a lone CR anywhere
(``FeedParser`` ends lines at CR as well), header blocks with a line that is not
a plain field or fold (a Unix ``From`` line, a leading fold, a missing colon or
name, vertical tab, form feed or other separators), no blank line after the
headers, message/* parts (forwards, bounces: RFC 822 inside), multipart/digest
(its parts default to message/rfc822), multiparts without a boundary, with a
transfer encoding other than 7bit/8bit/binary, without a start or close
delimiter, with adjacent delimiters, or nested deeper than :data:`MAX_NESTING`.
Those are the messages where the defects and the standard parser's recovery
rules are worth their cost. ``tests/test_mime_fast.py`` holds the two readers to
the same tree on real, generated, damaged and purpose-built mail.
"""

from __future__ import annotations

import re
from email.message import Message
from itertools import pairwise

__all__ = ["MAX_NESTING", "read_simple"]

#: Multiparts nested deeper than this go to the standard parser (mixed → alternative → related is 3).
MAX_NESTING = 4

# A header block FeedParser reads as fields and folds only: every line is a field
# ``name:`` with a name of printable ASCII but ":" (its ``headerRE``), or a fold
# starting with space or tab after a field; lines end in LF or CRLF. Vertical tab,
# form feed and the file/group/record separators are refused, though FeedParser
# does not break lines at them: str.splitlines does, so they are left to the parser.
_LINE = r"[^\r\n\x0b\x0c\x1c-\x1e]*\r?\n"
_BLOCK = re.compile(rf"(?:[\x21-\x39\x3b-\x7e]+:{_LINE}(?:[ \t]{_LINE})*)*")
# One field of a block _BLOCK accepted, as compat32's ``header_source_parse`` cuts it:
# the name before the first colon; the value without the blanks after the colon, its
# folds kept, its trailing line ends removed (by the caller).
_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*)")


def read_simple(raw: bytes) -> Message | None:
    """``BytesParser(policy=compat32).parsebytes(raw)``, for the shapes read here; else None.

    None means "use the standard parser"; it is not a judgement on the message.
    """
    text = raw.decode("ascii", "surrogateescape")
    if text.count("\r") != text.count("\r\n"):  # a lone CR ends a line for FeedParser
        return None
    return _entity(text, 0, len(text), 0)


def _strip_eol(value: str) -> str:
    """The last line end removed, as FeedParser's ``NLCRE_eol`` does (no lone CR reaches here)."""
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith("\n"):
        return value[:-1]
    return value


def _entity(text: str, start: int, end: int, depth: int) -> Message | None:
    """The message (``depth`` 0) or body part in ``text[start:end]`` (a part: between its delimiters).

    RFC 2046: the line end before a delimiter belongs to the delimiter, so a part's
    payload (or, for a multipart part, its epilogue) loses its last line end.
    """
    if text.startswith("\n", start, end):  # no header fields at all
        block, body = "", start + 1
    elif text.startswith("\r\n", start, end):
        block, body = "", start + 2
    else:
        lf = text.find("\n\n", start, end)
        crlf = text.find("\n\r\n", start, end)
        if crlf != -1 and (lf == -1 or crlf < lf):
            block, body = text[start : crlf + 1], crlf + 3
        elif lf != -1:
            block, body = text[start : lf + 1], lf + 2
        else:
            return None  # no blank line after the headers
        if _BLOCK.fullmatch(block) is None:
            return None
    msg = Message()
    for name, value in _FIELD.findall(block):  # what FeedParser does with each field
        msg.set_raw(name, value.rstrip("\r\n"))
    ctype = msg.get_content_type()
    maintype = ctype.split("/")[0]
    if maintype == "message":  # includes message/delivery-status, read as header blocks
        return None
    if maintype != "multipart":
        msg.set_payload(_strip_eol(text[body:end]) if depth else text[body:end])
        return msg
    if ctype == "multipart/digest" or depth >= MAX_NESTING:
        return None  # digest parts default to message/rfc822
    boundary = msg.get_boundary()
    if boundary is None:
        return None
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        return None
    delimiters = _delimiters(text, body, end, "--" + boundary)
    if len(delimiters) < 2 or delimiters[0][2] or not delimiters[-1][2]:
        return None  # no start delimiter, or no close delimiter
    first = delimiters[0][0]
    if first > body:
        # RFC 2046: the line end before a delimiter belongs to the delimiter.
        msg.preamble = _strip_eol(text[body:first])
    parts: list[Message | str] = []  # set_payload's type
    for (_, part_start, _), (part_end, _, _) in pairwise(delimiters):
        if part_start >= part_end:
            return None  # adjacent delimiters: FeedParser skips them
        part = _entity(text, part_start, part_end, depth + 1)
        if part is None:
            return None
        parts.append(part)
    msg.set_payload(parts)
    epilogue = text[delimiters[-1][1] : end]
    msg.epilogue = (_strip_eol(epilogue) if epilogue else None) if depth else epilogue
    return msg


def _delimiters(text: str, body: int, end: int, separator: str) -> list[tuple[int, int, bool]]:
    """The delimiter lines of a multipart body, up to and including the first close delimiter.

    Each is ``(line start, line end including its line end, is the close delimiter)``.
    A delimiter line is what FeedParser's boundary regex matches on a whole line:
    ``--boundary``, then ``--`` for the close, then spaces or tabs only.
    """
    found: list[tuple[int, int, bool]] = []
    size = len(separator)
    at = text.find(separator, body, end)
    while at != -1:
        if at == body or text[at - 1] == "\n":
            newline = text.find("\n", at + size, end)
            tail = text[at + size : end if newline == -1 else newline]
            close = tail.startswith("--")
            rest = (tail[2:] if close else tail).lstrip(" \t")
            if not rest or rest == "\r":
                line_end = end if newline == -1 else newline + 1
                found.append((at, line_end, close))
                if close:
                    break
                at = text.find(separator, line_end, end)
                continue
        at = text.find(separator, at + 1, end)
    return found
