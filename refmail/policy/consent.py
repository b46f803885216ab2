"""Consent-first introductions: what is due while a proposal waits for its yes.

A member writes the intro they would like to make to ``refs+ask@…``; the
tracker records a ``proposed`` referral, and these pure rules (clock passed
in, like :mod:`refmail.policy.rules`) decide the mail of the double opt-in (SPEC
"Consent-first introductions"):

================== ========= ==== ==================================================
step               recipient seq  due when
================== ========= ==== ==================================================
proposal_ack       referrer  0    the proposal is recorded (status ``proposed``)
consent_request    asked     0    the proposal is recorded; one per person asked
consent_reminder   asked     1    ``remind_after`` elapsed, that person has not answered
consent_ready      referrer  0    everyone asked said yes (the ready-to-send link)
consent_declined   referrer  0    someone said no / not now / not work I do
consent_expired    referrer  0    ``expire_after`` elapsed without every yes
================== ========= ==== ==================================================

Who is asked is fixed when the proposal is recorded (the ``proposed`` event's
``asked``): the prospects, plus the provider when the group's config says so,
or everyone when the roles cannot be told apart. Nobody is asked twice; a no
ends the proposal and nothing more reaches anyone but the referrer.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from refmail.config import Config
from refmail.policy.rules import Due, Event, ReferralView

__all__ = ["CONSENT_STEPS", "ConsentState", "consent_due", "consent_state", "should_expire", "who_to_ask"]

CONSENT_STEPS = (
    "proposal_ack",
    "consent_request",
    "consent_reminder",
    "consent_ready",
    "consent_declined",
    "consent_expired",
)


def who_to_ask(provider: str | None, prospects: list[str], parties: list[str], config: Config) -> list[str]:
    """The people whose yes the proposal needs."""
    if provider is None:
        return list(parties)  # roles unknown: ask everyone rather than guess
    asked = list(prospects)
    if config.consent.ask_provider:
        asked.append(provider)
    return asked


@dataclass(frozen=True)
class ConsentState:
    proposed_at: datetime | None
    asked: tuple[str, ...]
    answers: dict[str, Event]  # latest ``consent`` event per person asked

    @property
    def all_yes(self) -> bool:
        return bool(self.asked) and all(
            self.answers.get(a) is not None and self.answers[a].detail.get("decision") == "yes"
            for a in self.asked
        )

    def unanswered(self) -> list[str]:
        return [
            a for a in self.asked
            if a not in self.answers or self.answers[a].detail.get("decision") is None
        ]


def consent_state(view: ReferralView, now: datetime) -> ConsentState:
    proposed = next((e for e in view.events if e.kind == "proposed"), None)
    asked = tuple(proposed.detail.get("asked", ())) if proposed else ()
    answers: dict[str, Event] = {}
    for event in view.events:
        if event.kind == "consent" and event.at <= now and event.actor and event.actor in asked:
            answers[event.actor] = event
    return ConsentState(proposed.at if proposed else None, asked, answers)


def should_expire(view: ReferralView, config: Config, now: datetime) -> bool:
    """A proposal still waiting after ``expire_after`` ends as ``expired``."""
    if view.status != "proposed":
        return False
    state = consent_state(view, now)
    if state.proposed_at is None or state.all_yes:
        return False
    return now >= state.proposed_at + config.consent.expire_after


def consent_due(
    view: ReferralView,
    config: Config,
    now: datetime,
    *,
    already: Set[tuple[str, str, int]],
    blocked: Set[str],
) -> list[Due]:
    """The consent-first messages due for ``view`` at ``now`` (not in ``already``)."""
    state = consent_state(view, now)
    if state.proposed_at is None:
        return []
    dues: list[Due] = []
    referrer = view.referrer
    if view.status == "proposed":
        dues.append(Due("proposal_ack", referrer, 0, "proposal recorded"))
        for person in state.asked:
            dues.append(Due("consent_request", person, 0, "ask before introducing"))
        if now >= state.proposed_at + config.consent.remind_after:
            for person in state.unanswered():
                if ("consent_request", person, 0) in already:
                    dues.append(Due("consent_reminder", person, 1, "no answer yet: one gentle reminder"))
        if state.all_yes:
            dues.append(Due("consent_ready", referrer, 0, "everyone asked said yes"))
    elif view.status == "declined":
        no = next(
            (e for e in reversed(view.events) if e.kind == "consent" and e.detail.get("decision") != "yes"),
            None,
        )
        dues.append(Due("consent_declined", referrer, 0, "a person asked said no",
                        event_id=no.id if no else None))
    elif view.status == "expired":
        dues.append(Due("consent_expired", referrer, 0, "no answer in time"))
    return [
        d for d in dues
        if (d.step, d.recipient, d.seq) not in already and d.recipient not in blocked
    ]
