"""How much of one message refmail reads: the bounds that keep work linear and small.

Anyone can send the tracking address anything, so the cost of reading one
message must not be the sender's to choose. Each bound sits well above what
real mail needs — an intro names a handful of people, a thread's References
a few dozen ids, the new text of a reply a few kilobytes — and past it refmail
reads the first part (or, for References, the nearest ids), notes a defect,
and goes on. Nothing past a bound is an error: a member's long mail is still
tracked from what was read.

These are constants, not settings: a group has no reason to raise them, and
an attacker every reason to want them raised.
"""

from __future__ import annotations

__all__ = ["MAX_ID_CHARS", "MAX_REFERENCES"]

#: Message ids kept from ``References``: the first (the thread's root, RFC 5322
#: §3.6.4) and the nearest, i.e. the last, ones. Thread matching looks at no more.
MAX_REFERENCES = 100
#: A Message-ID longer than a header line may be (RFC 5322 §2.1.1) is garbage.
MAX_ID_CHARS = 998
