"""Finding a forwarded message inside a message body.

An introduction often reaches the tracker as a forward: the referrer forgot
to copy the tracker and forwards their own intro afterwards. Mail clients
write the forwarded message's headers as text, each in their own shape and
language, and there is no standard for it:

* Gmail: ``---------- Forwarded message ---------`` then From/Date/Subject/To/Cc;
* Thunderbird: ``-------- Forwarded Message --------`` then Subject/Date/From/To;
* Apple Mail: ``Begin forwarded message:`` then From/Subject/Date/To/Cc;
* Outlook: ``-----Original Message-----`` or just a header block
  ``From: … Sent: … To: … Cc: … Subject:``, localised (``Von:/Gesendet:/An:/Betreff:``,
  ``De:/Enviado:/Para:/Asunto:``, ``De :/Envoyé :/À :/Objet :``).

Outlook writes the same block above quoted history in an ordinary reply, so an
Outlook-shaped block counts as a forward only when the subject says so
("FW:", "WG:", "RV:", "TR:" …). Explicit forward markers always count.

This module is pure text processing and never raises on any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from refmail.mail.addresses import Address, parse_address_list
from refmail.mail.quoting import WROTE, attribution, opens_like_attribution
from refmail.mail.reply_words import all_of, labels_of

if TYPE_CHECKING:
    from refmail.mail.message import ParsedMessage

__all__ = [
    "Forward",
    "find_inline_forward",
    "is_forward_subject",
]

_H = r"[^\S\n]"  # horizontal white space, including the NBSP French puts before ":"


def _phrases(items: list[str]) -> str:
    return "|".join(re.escape(item).replace(r"\ ", r"\s+") for item in items)


# Possessive blanks: "\s*\[?\s*" could split a run of blanks between its two
# halves in every way (quadratic in a Subject of blanks).
_FORWARD_SUBJECT = re.compile(
    rf"^\s*+\[?\s*+(?:{_phrases(all_of('forward_prefixes'))})\s*+[:：]", re.IGNORECASE
)

# The markers and labels are those of every language in refmail.mail.reply_words.
_GMAIL_MARKER = re.compile(rf"^[>\s]*-{{2,}}\s*(?:{_phrases(all_of('forwarded'))})\s*-{{2,}}\s*$",
                           re.IGNORECASE)
_APPLE_MARKER = re.compile(rf"^[>\s]*(?:{_phrases(all_of('forward_intros'))})\s*[:：]\s*$",
                           re.IGNORECASE)
_ORIGINAL_MARKER = re.compile(rf"^[>\s]*-{{2,}}\s*(?:{_phrases(all_of('separators'))})\s*-{{2,}}\s*$",
                              re.IGNORECASE)
_SEPARATOR = re.compile(r"^[>\s]*_{10,}\s*$")

#: Header names as mail clients write them in forwarded blocks, by field.
_FIELDS = {"from": "from", "sent": "date", "to": "to", "cc": "cc", "subject": "subject", "other": "other"}
_KEY_OF = {label.lower(): field for kind, field in _FIELDS.items() for label in labels_of(kind)}
_KEY_LINE = re.compile(
    rf"^[>\s]*\*?(?P<key>{'|'.join(sorted((re.escape(n) for n in _KEY_OF), key=len, reverse=True))})"
    rf"\*?{_H}*[:：]{_H}*\*?{_H}*(?P<value>.*)$",
    re.IGNORECASE,
)

_MAX_BLOCK_LINES = 20
_QUOTE_PREFIX = re.compile(r"^\s*> ?")


@dataclass
class Forward:
    """The message inside a forward: who wrote it, to whom, and its text.

    ``style`` is ``"attachment"`` (message/rfc822) or the inline shape found:
    ``"gmail"``, ``"thunderbird"``, ``"apple"``, ``"outlook"``. ``message`` is the
    parsed inner message for an attachment, None for inline forwards.
    """

    style: str
    from_: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    subject: str = ""
    date: str | None = None
    text: str = ""
    message: ParsedMessage | None = None

    @classmethod
    def from_attachment(cls, inner: ParsedMessage) -> Forward:
        return cls(
            style="attachment",
            from_=inner.from_,
            to=list(inner.to),
            cc=list(inner.cc),
            subject=inner.subject,
            date=inner.date_iso,
            text=inner.text,
            message=inner,
        )


def is_forward_subject(subject: str) -> bool:
    """True when the subject starts with a forward prefix (Fwd:, FW:, WG:, RV:, TR:, Enc: …)."""
    return bool(_FORWARD_SUBJECT.match(subject or ""))


def _key(line: str) -> tuple[str, str] | None:
    match = _KEY_LINE.match(line)
    if not match:
        return None
    return _KEY_OF[match.group("key").lower()], match.group("value").strip()


def _read_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """Read ``Key: value`` lines from ``start`` (skipping a few blank lines first).

    Returns the fields (first occurrence of each wins) and the index of the
    first line after the block. A line without a key continues a To/Cc/From
    value when it carries an address or the value ended with a separator
    (clients wrap long recipient lists).
    """
    fields: dict[str, str] = {}
    i = start
    blanks = 0
    while i < len(lines) and not lines[i].strip(" \t>\u00a0") and blanks < 3:
        i += 1
        blanks += 1
    last: str | None = None
    # A real header block is a handful of lines; the cap keeps scanning linear
    # when a body is one long run of "Key: value" lines.
    limit = min(len(lines), i + _MAX_BLOCK_LINES)
    while i < limit:
        line = lines[i]
        if not line.strip(" \t>\u00a0"):
            break
        found = _key(line)
        if found:
            key, value = found
            if key not in fields:
                fields[key] = value
            last = key
        elif last in ("from", "to", "cc") and ("@" in line or fields[last].rstrip().endswith((",", ";"))):
            fields[last] = f"{fields[last]} {line.strip(' >')}"
        else:
            break
        i += 1
    return fields, i


def _is_outlook_block(fields: dict[str, str]) -> bool:
    return "from" in fields and "subject" in fields and ("date" in fields or "to" in fields)


def _block_start(lines: list[str], i: int) -> tuple[str, int] | None:
    """If line ``i`` starts a forward/quote block: (style, index of its first header line)."""
    line = lines[i]
    if _GMAIL_MARKER.match(line):
        dashes = len(line.strip(" >")) - len(line.strip(" >").lstrip("-"))
        return ("gmail" if dashes >= 10 else "thunderbird"), i + 1
    if _APPLE_MARKER.match(line):
        return "apple", i + 1
    if _ORIGINAL_MARKER.match(line):
        dashes = len(line.strip(" >")) - len(line.strip(" >").lstrip("-"))
        return ("outlook" if dashes == 5 else "thunderbird-original"), i + 1
    found = _key(line)
    if found and found[0] == "from":
        fields, _ = _read_block(lines, i)
        if _is_outlook_block(fields):
            return "outlook-block", i
    return None


def _attribution(line: str) -> bool:
    """An "On … wrote:" line of quoted reply history, in any language of the tables."""
    text = line.lstrip(" \t>")
    if not text or len(text) > 400 or text.rstrip()[-1:] not in (":", "：", "-"):
        return False
    return attribution(text, strict=True) or (opens_like_attribution(text) and bool(WROTE.search(text)))


def _is_history_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _SEPARATOR.match(line):
        return True
    if _attribution(line):
        return True
    # Gmail wraps a long attribution line: "On …, Name <\na@b> wrote:"
    if i + 1 < len(lines) and len(line) < 300 and _attribution(f"{line} {lines[i + 1]}"):
        return opens_like_attribution(line.lstrip(" >"))
    return _block_start(lines, i) is not None


def _inner_body(lines: list[str], start: int) -> str:
    body: list[str] = []
    for i in range(start, len(lines)):
        if body and _is_history_start(lines, i):
            break
        body.append(lines[i])
    text_lines = [line for line in body if line.strip()]
    if text_lines and all(line.lstrip().startswith(">") for line in text_lines):
        body = [_QUOTE_PREFIX.sub("", line) for line in body]
    return "\n".join(body).strip("\n")


def find_inline_forward(text: str, subject: str = "") -> Forward | None:
    """The first forwarded message written inline in ``text``, or None.

    Scanning stops at quoted reply history ("On … wrote:"): a forward marker
    below it belongs to an older message, not to this one.
    """
    try:
        return _find(text, subject)
    except Exception:  # pragma: no cover - defensive: text processing must not raise
        return None


def _find(text: str, subject: str) -> Forward | None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    forward_subject = is_forward_subject(subject)
    for i in range(len(lines)):
        if _attribution(lines[i]):
            return None
        start = _block_start(lines, i)
        if start is None:
            continue
        style, header_at = start
        ambiguous = style in ("outlook", "outlook-block", "thunderbird-original")
        if ambiguous and not forward_subject:
            return None  # an Outlook reply's quoted history, not a forward
        fields, end = _read_block(lines, header_at)
        if "from" not in fields:
            continue
        senders = parse_address_list(fields["from"])
        return Forward(
            style="outlook" if style.startswith("outlook") else style.removesuffix("-original"),
            from_=senders[0] if senders else None,
            to=parse_address_list(fields.get("to", "")),
            cc=parse_address_list(fields.get("cc", "")),
            subject=fields.get("subject", ""),
            date=fields.get("date"),
            text=_inner_body(lines, end),
        )
    return None
