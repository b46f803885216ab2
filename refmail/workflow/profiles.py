"""A member's profile by email: what they want to be introduced to, said in their own words.

Two ways in, one rule — a profile changes only on its member's word, proven:

- **``refs+profile@…``** (the tag :data:`PROFILE_TAG`), from any of the
  member's addresses: :meth:`ProfileMail.receive`. A sender who is not a
  member gets nothing (refmail never writes to a stranger). A message with no
  "Looking for:" or "Not looking for:" line changes nothing and is answered
  with what is recorded (at most once a day). One with them, whose sender the
  group's server authenticated, is recorded at once and answered with the
  profile as it now reads; without that proof the member is asked, at their
  configured address, to confirm with one click
  (:mod:`refmail.workflow.confirmations`, :attr:`ActionKind.PROFILE`) — a
  forged From changes nothing, and the forger never sees the question.
- **A tokened reply** to the member's weekly summary or to a profile answer
  (their "Change it" links open one): the token proves the member, so it is
  recorded at once (:meth:`ProfileMail.write_proven`, called by
  :mod:`refmail.workflow.responses`).

The answer (template ``profile``) shows the profile as members see it when
someone thinks of introducing them, and how to change it. What a member wrote
is kept in :class:`refmail.storage.profiles.Profiles`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from refmail.config import Config
from refmail.policy.authority import Proof
from refmail.reading.classification import Classification
from refmail.reading.profile import ProfileText, read_profile
from refmail.storage.pending import PendingAction
from refmail.storage.profiles import Profile, Profiles
from refmail.workflow.confirmations import ActionKind, ActionResult, Confirmations
from refmail.workflow.notices import queue_notice
from refmail.workflow.outcomes import OutcomeName
from refmail.workflow.planner import Planner

__all__ = ["PROFILE_STEP", "PROFILE_TAG", "ProfileMail", "profile_context"]

#: ``refs+profile@…``: the address a member writes their profile to (SPEC).
PROFILE_TAG = "profile"
#: The step (and template) of refmail's answer: the profile as it reads.
PROFILE_STEP = "profile"
#: Replies that may carry a profile, proven by their token: to the weekly
#: summary (its "Update" link) and to a profile answer.
PROFILE_REPLY_STEPS = frozenset({"summary_member", PROFILE_STEP})


def profile_context(profile: Profile | None) -> dict[str, Any]:
    """A profile as the templates read it: ``{looking_for, not_looking_for, said, by_email}``."""
    profile = profile or Profile()
    return {"looking_for": profile.looking_for, "not_looking_for": profile.not_looking_for,
            "said": profile.said, "by_email": profile.by_email}


def _summary(said: ProfileText) -> str:
    parts = []
    if said.looking_for is not None:
        parts.append(f"Looking for: {said.looking_for or '-'}")
    if said.not_looking_for is not None:
        parts.append(f"Not looking for: {said.not_looking_for or '-'}")
    return "; ".join(parts)


class ProfileMail:
    """Profiles by email (see the module docstring)."""

    def __init__(self, planner: Planner, confirmations: Confirmations) -> None:
        self.planner = planner
        self.config: Config = planner.config
        self.profiles = Profiles(planner.store, planner.config)
        self.confirmations = confirmations
        confirmations.register(ActionKind.PROFILE, self._confirmed)

    def receive(self, verdict: Classification, now: datetime) -> tuple[OutcomeName, str]:
        """A message to ``refs+profile@…``; call inside the tracker's transaction."""
        sender = self.config.canonical(verdict.sender or "")
        if not sender or not self.config.is_member(sender):
            return OutcomeName.IGNORED, f"a profile from {sender or 'an unknown sender'}, who is not a member"
        text = verdict.reply_text or ""
        said = read_profile(text)
        if said.empty:
            # Nothing to change: an empty message asks what is recorded, anything
            # else was not understood. Answered at most once a day either way.
            day = int(now.astimezone(self.config.zone).strftime("%Y%m%d"))
            queued = self._answer(sender, now, seq=day, changed=False, understood=not text.strip())
            done = "answered with the profile" if queued else "answered today already"
            return OutcomeName.PROFILE, f"a profile message without Looking for / Not looking for: {done}"
        if verdict.authenticated:
            self.write_proven(sender, said, message_id=verdict.message_id, now=now)
            return OutcomeName.PROFILE, f"{sender}'s profile recorded ({Proof.AUTHENTICATED})"
        asked = self.confirmations.ask(
            ActionKind.PROFILE, requester=sender, referral_id=None,
            payload={"looking_for": said.looking_for, "not_looking_for": said.not_looking_for},
            summary=_summary(said), message_id=verdict.message_id, now=now,
        )
        return OutcomeName.CONFIRMATION_ASKED, f"no proof the profile came from {sender}: {asked.reason}"

    def write_proven(self, member: str, said: ProfileText, *, message_id: str | None, now: datetime) -> None:
        """Record what ``member`` wrote (proven) and answer with the profile as it now reads."""
        self.profiles.write(member, looking_for=said.looking_for, not_looking_for=said.not_looking_for,
                            now=now, message_id=message_id)
        self._answer(member, now, seq=int(now.timestamp()), changed=True, understood=True)

    def _confirmed(self, action: PendingAction, now: datetime) -> ActionResult:
        """The handler of :attr:`ActionKind.PROFILE`: the member confirmed their profile."""
        member = action.requester
        if not self.config.is_member(member):
            return ActionResult(False, f"{member} is no longer a member")
        data = action.payload
        self.profiles.write(member, looking_for=data.get("looking_for"), now=now,
                            not_looking_for=data.get("not_looking_for"), message_id=action.message_id)
        profile = self.profiles.of(member)
        return ActionResult(True, f"{member}'s profile recorded (confirmed)", ("profile",),
                            {"profile": profile_context(profile)})

    def _answer(self, member: str, now: datetime, *, seq: int, changed: bool, understood: bool) -> int | None:
        if self.planner.store.blocked_people([member]):
            return None
        return queue_notice(
            self.planner, step=PROFILE_STEP, recipient=member, seq=seq, referral_id=None,
            extra={"profile": profile_context(self.profiles.of(member)), "changed": changed,
                   "understood": understood},
            now=now,
        )
