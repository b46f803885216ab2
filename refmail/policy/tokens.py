"""Signed reply tokens: the ``TOKEN`` in ``refs+TOKEN@group.example``.

Every nudge carries a ``Reply-To`` whose plus tag says which referral, which
person and which step a reply answers (SPEC "Replies to nudges": matched by the
plus token, signed, so it cannot be forged or guessed). The planner stores the
issued token with the outbox row; a reply's token is looked up there and
verified against that row's fields, so the token itself only needs to carry the
referral id (for a quick lookup and for logs) and a MAC.

Format: ``r<referral id>.<mac>``, e.g. ``r12.k3j5x8q2abcdmn4p`` where ``mac``
is the first 16 characters (80 bits) of the lower-case base32 HMAC-SHA256 over
the referral id, the recipient (lower-cased), the step and a sequence number.

Why this shape:

- Only ``[a-z0-9.]``: some MTAs lower-case local parts and some clients choke
  on anything but letters, digits and dots, so the token survives both; upper
  case is folded before checking, for the rare MTA that upper-cases.
- 80 bits is far beyond guessing by sending mail (and ≥ 60 bits asked for).
- ``refs+r123456.`` + 16 characters stays well under the 64-octet limit of a
  local part (RFC 5321 §4.5.3.1.1) for any sensible tracker name.
- The MAC input is JSON, so no choice of recipient or step can make two
  different tuples serialise to the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets

__all__ = ["MAC_CHARS", "TokenSigner", "new_secret"]

#: Characters of the MAC part: 16 base32 characters = 80 bits.
MAC_CHARS = 16
#: Longest referral id a token may carry (18 digits fits an SQLite integer).
_MAX_ID_DIGITS = 18
#: Tokens are ASCII only; ``[0-9]`` rather than ``\d`` so that Unicode digits
#: (which ``int()`` would accept) never reach the id.
#: ``r0`` is group-level mail (weekly summaries, notices to admins): no referral.
_TOKEN_RE = re.compile(rf"r(0|[1-9][0-9]{{0,{_MAX_ID_DIGITS - 1}}})\.([a-z2-7]{{{MAC_CHARS}}})", re.ASCII)
#: A version label mixed into the MAC, so a future format can never collide.
_DOMAIN = "refmail-reply-token-v1"


def new_secret() -> bytes:
    """32 random bytes from the OS CSPRNG, for ``TokenSigner``."""
    return secrets.token_bytes(32)


class TokenSigner:
    """Issues and checks reply tokens with one secret.

    The secret lives in the database (created once with :func:`new_secret`);
    whoever does not have it cannot produce a token that :meth:`verify`
    accepts, and a token issued for one (referral, recipient, step, seq) does
    not verify for any other.
    """

    def __init__(self, secret: bytes):
        if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
            # A short or empty key would make every token guessable.
            raise ValueError("the token secret must be at least 16 bytes")
        self._secret = bytes(secret)

    def _mac(self, referral_id: int, recipient: str, step: str, seq: int) -> str:
        message = json.dumps([_DOMAIN, referral_id, recipient.strip().lower(), step, seq])
        digest = hmac.new(self._secret, message.encode("utf-8"), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:MAC_CHARS]

    def issue(self, referral_id: int, recipient: str, step: str, seq: int) -> str:
        """The token for one nudge: ``r<id>.<mac>``.

        ``seq`` tells apart several messages of the same step to the same
        person (reminder 1 and 2), so each has its own token.
        """
        if isinstance(referral_id, bool) or not isinstance(referral_id, int) or referral_id < 0:
            raise ValueError(f"referral_id must be 0 (group mail) or positive, not {referral_id!r}")
        if len(str(referral_id)) > _MAX_ID_DIGITS:
            raise ValueError(f"referral_id {referral_id} is too large for a token")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq must be a non-negative integer, not {seq!r}")
        if not step:
            raise ValueError("step must not be empty")
        return f"r{referral_id}.{self._mac(referral_id, recipient, step, seq)}"

    @staticmethod
    def referral_of(token: str) -> int | None:
        """The referral id ``token`` claims (unverified), or None when malformed.

        Use it to find the candidate outbox rows, then :meth:`verify`.
        """
        if not isinstance(token, str):
            return None
        match = _TOKEN_RE.fullmatch(token.strip().lower())
        return int(match.group(1)) if match else None

    def verify(self, token: str, referral_id: int, recipient: str, step: str, seq: int) -> bool:
        """True only when ``token`` was issued for exactly these fields.

        Never raises: a malformed token, or fields :meth:`issue` would refuse,
        are simply not valid. The MAC is compared in constant time
        (:func:`hmac.compare_digest`).
        """
        try:
            if not isinstance(token, str):
                return False
            match = _TOKEN_RE.fullmatch(token.strip().lower())
            if match is None or int(match.group(1)) != referral_id:
                return False
            expected = self.issue(referral_id, recipient, step, seq)
        except (ValueError, TypeError, AttributeError):
            return False
        # Both sides are ASCII by construction (the regex above), which
        # compare_digest requires of str arguments.
        return hmac.compare_digest(expected, f"r{match.group(1)}.{match.group(2)}")
