"""One message to one person, outside the follow-up rules: an answer to what
they (or someone in their name) just did.

The rules of :mod:`refmail.policy.rules` decide the nudges; some mail is not a
nudge but an answer: the question that asks the claimed sender to confirm a
request (:mod:`refmail.workflow.confirmations`), the word that says what the
confirmation did, the note that confirms a ``STOP`` and offers ``START``, and
the answer to a reply whose sender asked for what they may not do.
Each is queued here in the caller's transaction, with its own signed reply
token, exactly once per ``(referral, step, recipient, seq)`` like every other
message (the outbox's unique key). Like the acknowledgement they are answers
to the person's own action, so the weekly cap does not hold them
(:data:`refmail.policy.rules.CAP_EXEMPT`); quiet hours do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from refmail.policy.rules import Due, quiet_until
from refmail.render.composer import compose, new_message_id
from refmail.workflow.planner import Planner

__all__ = ["queue_notice"]


def queue_notice(
    planner: Planner,
    *,
    step: str,
    recipient: str,
    seq: int,
    referral_id: int | None,
    extra: Mapping[str, Any],
    now: datetime,
) -> int | None:
    """Render template ``step`` for ``recipient`` and queue it; the outbox id, or
    None when this ``(referral, step, recipient, seq)`` was queued before.

    ``extra`` is added to the template context: for a referral the planner's
    whole context (its people, status and tag), for group mail (``referral_id``
    None) the greeting, the group and a ``refmail`` tag. The message goes even
    to someone who said STOP: the caller decides whether it should (only the
    STOP confirmation and a START confirmation do).
    """
    config = planner.config
    row = planner.store.referral(referral_id) if referral_id else None
    if row is not None:
        view = planner.view(row)
        context = planner.context(row, view, Due(step, recipient, seq, step), now)
        names: Mapping[str, str] = row.get("names", {})
        context["recipient"] = planner.person(recipient, names)
        tag, intro = f"R-{view.id}", row.get("intro_message_id")
    else:
        referral_id = None
        token = planner.signer.issue(0, recipient, step, seq)
        context = {
            "token": token,
            "referral": {"id": None, "tag": "refmail", "subject": "", "status": None,
                         "status_label": "", "introduced_on": "", "value": None, "currency": None},
            "recipient": planner.person(recipient, {}),
            "reply_address": f"{config.tracker_local}+{token}@{config.tracker_domain}",
        }
        tag, intro = "refmail", None
    context.update(extra)
    rendered = planner.renderer.render(step, context)
    message_id = new_message_id(config, referral_id or 0, step)
    raw = compose(
        config, rendered, to=(context["recipient"]["name"], recipient), message_id=message_id,
        reply_token=context["token"], referral_id=referral_id or 0, tag=tag, in_reply_to=intro,
        references=[intro] if intro else [], list_unsubscribe=False, date=now,
        auto_submitted="auto-replied",  # RFC 3834 §5: each answers a message
    )
    return planner.outbox.enqueue(
        referral_id=referral_id, step=step, recipient=recipient, seq=seq, message_id=message_id,
        token=context["token"], subject=rendered.subject, raw=raw, now=now,
        not_before=quiet_until(now, config) or now,
    )
