"""``[security] require_authenticated_sender``: only an authenticated From changes anything.

Run after the chain, on its verdict, because it judges what the chain found:
only an ``intro`` or a ``reply`` can create or change a referral, so only they
need a sender the receiving server vouched for (its own topmost
``Authentication-Results``, :mod:`refmail.mail.authresults`); a bounce or an
ignored message keeps its own reason. A forged From must not create or change
a referral (SPEC "Trust").
"""

from __future__ import annotations

from refmail.config import Config
from refmail.mail.authresults import authenticated
from refmail.reading.classification import Classification, RuleName
from refmail.reading.envelope import Envelope

__all__ = ["require_authenticated_sender"]


def require_authenticated_sender(env: Envelope, config: Config, result: Classification) -> Classification:
    """An intro, a reply or a note about a referral whose From the receiving
    server did not authenticate is ``ignored``; so is an intro forwarded by
    someone who is neither its referrer nor a member, since the forwarded From
    is only text in the body.

    An authenticated verdict keeps its rule, with the evidence added to its reason.
    """
    security = config.security
    asks = result.kind in ("intro", "reply") or result.rule is RuleName.TAGGED_NOTE
    if not security.require_authenticated_sender or not asks:
        return result
    msg = env.message
    from_headers = len(msg.header_all("From"))
    if msg.from_ is None or not msg.from_.address or from_headers != 1:
        why = "no From address" if from_headers <= 1 else f"{from_headers} From headers"
        return env.verdict(RuleName.NOT_AUTHENTICATED, f"sender not authenticated: {why}")
    ok, why = authenticated(
        msg.header_all("Authentication-Results"),
        security.authserv_id,
        msg.from_.address.rpartition("@")[2],
    )
    if not ok:
        return env.verdict(RuleName.NOT_AUTHENTICATED, f"sender not authenticated: {why}")
    sender = env.sender
    vouched = sender == result.referrer or env.is_member(sender)
    if result.kind == "intro" and result.forwarded and not vouched:
        # The forwarded intro's own From is only text in the body: nobody vouches for it
        # but the (authenticated) forwarder, so the forwarder must be someone we trust.
        return env.verdict(
            RuleName.UNVOUCHED_FORWARD,
            f"sender not authenticated: {result.referrer}'s intro forwarded by non-member {sender}",
        )
    fallback = result.as_intro
    if fallback is not None and fallback.forwarded and sender != fallback.referrer and not vouched:
        result.as_intro = None  # the same rule for the reply read as an intro
    result.reason += f"; sender authenticated ({why})"
    result.authenticated = True
    return result
