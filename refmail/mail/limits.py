"""How much of one message refmail reads: the bounds that keep work linear and small.

Anyone can send the tracking address anything, so the cost of reading one
message must not be the sender's to choose. Each bound sits well above what
real mail needs — an intro names a handful of people, a thread's References
a few dozen ids, the new text of a reply a few kilobytes — and past it refmail
reads the first part (or, for References, the nearest ids), notes a defect,
and goes on. Nothing past a bound is an error: a member's long mail is still
tracked from what was read.

These are constants, not settings: a group has no reason to raise them, and
an attacker every reason to want them raised. The helpers apply them to the
raw values the parser holds, before anything decodes or searches them.
"""

from __future__ import annotations

__all__ = [
    "ADDRESS_FIELDS",
    "MAX_ADDRESSES",
    "MAX_ADDRESS_CHARS",
    "MAX_BODY_CHARS",
    "MAX_HEADER_CHARS",
    "MAX_ID_CHARS",
    "MAX_PARTS",
    "MAX_REFERENCES",
    "MAX_TEXT_CHARS",
    "Budget",
    "bounded_field",
    "cut_at_line",
]

#: Message ids kept from ``References``: the first (the thread's root, RFC 5322
#: §3.6.4) and the nearest, i.e. the last, ones. Thread matching looks at no more.
MAX_REFERENCES = 100
#: A Message-ID longer than a header line may be (RFC 5322 §2.1.1) is garbage.
MAX_ID_CHARS = 998
#: Distinct addresses read from one address field (To, Cc, …): no intro needs more,
#: and ``[security] max_parties`` is far below it.
MAX_ADDRESSES = 100
#: Characters of one address field parsed (several hundred addresses' worth).
MAX_ADDRESS_CHARS = 32 * 1024
#: Characters of any other header field kept (a Subject is one line).
MAX_HEADER_CHARS = 64 * 1024
#: Characters of body parts read per message, forwarded and returned messages
#: included, before transfer decoding: text and HTML parts are read in order
#: until this is spent, and what is past it is never decoded.
MAX_BODY_CHARS = 512 * 1024
#: Leaf parts looked at per message; real mail has a handful.
MAX_PARTS = 500
#: Characters of body text handed to the classifiers (roles, replies, commands, forwards).
MAX_TEXT_CHARS = 256 * 1024

#: Header fields that hold address lists (RFC 5322 §3.6.2, §3.6.3, §3.6.6) and the
#: envelope recipients delivering servers record.
ADDRESS_FIELDS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
    "resent-cc", "resent-bcc", "delivered-to", "x-original-to", "x-forwarded-to",
})


def cut_at_line(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, ending at a line end when one is near."""
    if len(text) <= limit:
        return text
    end = text.rfind("\n", limit // 2, limit)
    return text[: end + 1] if end >= 0 else text[:limit]


def bounded_field(name: str, value: str) -> tuple[str, str | None]:
    """``(value, defect)``: a raw header value within its bound, and what was cut (None: nothing).

    An address list is cut after the last comma before its bound, so no
    address is read half; ``References`` keeps its first id and its nearest
    (last) ones, as :data:`MAX_REFERENCES` does with the ids; any other field
    keeps its beginning.
    """
    key = name.lower()
    limit = MAX_ADDRESS_CHARS if key in ADDRESS_FIELDS else MAX_HEADER_CHARS
    if len(value) <= limit:
        return value, None
    if key in ADDRESS_FIELDS:
        comma = value.rfind(",", 0, limit)
        kept = value[:comma] if comma > 0 else value[:limit]
    elif key == "references":
        head = 4 * MAX_ID_CHARS
        # Ids cut at either seam lose their "<" or ">", and are not read as ids.
        kept = value[:head] + " " + value[-(limit - head) :]
    else:
        kept = value[:limit]
    return kept, f"{name}: {len(value):,} characters; {len(kept):,} read"


class Budget:
    """The characters of body parts one message may still have read (:data:`MAX_BODY_CHARS`)."""

    def __init__(self, chars: int = MAX_BODY_CHARS, parts: int = MAX_PARTS) -> None:
        self.chars = chars
        self.parts = parts
        self.spent = False

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` characters of the next part may be read (0: none)."""
        if self.parts <= 0 or self.chars <= 0:
            self.spent = True
            return 0
        self.parts -= 1
        allowed = min(wanted, self.chars)
        self.chars -= allowed
        self.spent = self.spent or allowed < wanted
        return allowed
