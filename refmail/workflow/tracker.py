"""Applying classified mail to the referral store.

The tracker is where a message's classification becomes facts: a new referral,
an event on an existing one, or a recorded reason for ignoring it. It is the
same code for the daemon (IMAP), ``refmail import`` (files) and the demo, so
what a group sees in ``refmail referrals`` does not depend on how mail arrived.

Every message is recorded exactly once, keyed by its Message-ID (or a content
hash when it has none), together with the mailbox position it was read at, in
one transaction: a crash mid-message leaves it unprocessed, never half-done,
and a message seen again (a re-delivery, a UIDVALIDITY reset, an import of the
same mbox) changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING

from refmail.config import Config
from refmail.errors import StoreError
from refmail.mail.limits import MAX_ID_CHARS
from refmail.reading.classification import Classification, RuleName
from refmail.storage.store import PartyRow, Store, unusable
from refmail.workflow.outcomes import Outcome, OutcomeName
from refmail.workflow.profiles import PROFILE_TAG
from refmail.workflow.set_aside import Why, notify_member, read_aside

if TYPE_CHECKING:
    from refmail.workflow.confirmations import Confirmations
    from refmail.workflow.planner import Planner
    from refmail.workflow.profiles import ProfileMail
    from refmail.workflow.responses import Match, Responses

__all__ = ["MessageSource", "Outcome", "OutcomeName", "Tracker", "Unclassifiable", "message_key"]

log = logging.getLogger(__name__)

#: How far back an identical introduction (same referrer, same people) counts
#: as the same referral rather than a new one.
DUPLICATE_WINDOW = timedelta(days=14)
#: The per-sender brake counts mail written within this long before now
#: (``[security] max_messages_per_sender_per_hour``).
BRAKE_WINDOW = timedelta(hours=1)

_HEADER_PARSER = BytesHeaderParser(policy=compat32)


def message_key(raw: bytes) -> tuple[str, str | None]:
    """``(key, message_id)``: the Message-ID, or a content hash when there is none.

    Only the header block is parsed, so deduplication costs little even for a
    large message. RFC 5322 §3.6.4 makes Message-ID optional, hence the hash;
    an id longer than a header line may be is no id either.
    """
    ends = [i + len(mark) // 2 for mark in (b"\r\n\r\n", b"\n\n") if (i := raw.find(mark)) >= 0]
    try:
        value = _HEADER_PARSER.parsebytes(raw[: min(ends)] if ends else raw).get("Message-ID")
    except Exception:  # a header block broken enough to defeat the parser
        value = None
    message_id = " ".join(str(value).split()) if value else None
    if message_id and len(message_id) <= MAX_ID_CHARS:
        return message_id, message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest(), None


@dataclass(frozen=True)
class MessageSource:
    """Where a message was read from; IMAP sources advance the stored position."""

    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None


Classifier = Callable[[bytes, Config], Classification]


@dataclass(frozen=True)
class Unclassifiable:
    """The classifier raised (in a worker process, see ``Daemon``): what is recorded instead.

    An exception does not always survive pickling; its type name and text do.
    """

    error_type: str
    error: str


def _default_classifier() -> Classifier:
    from refmail.reading.classifier import classify

    return classify


def _parse_date(value: str | None, now: datetime) -> datetime:
    if value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return now
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=now.tzinfo)
        # A clock far ahead on the sender's machine must not make a referral
        # look newer than the moment refmail saw it.
        return min(moment, now)
    return now


class Tracker:
    """Applies messages to a :class:`Store` under a group :class:`Config`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        classify: Classifier | None = None,
        planner: Planner | None = None,
    ):
        """``planner`` enables the lifecycle: replies to nudges are applied and
        the messages a change makes due are queued in the same transaction.
        Without it (``refmail import``) mail is tracked and nothing is queued.
        """
        self.config = config
        self.store = store
        self.classify = classify or _default_classifier()
        self.planner = planner
        self.responses: Responses | None = None
        #: Members' profiles by email (``refs+profile@…``).
        self.profiles: ProfileMail | None = None
        #: Requests waiting for their sender's confirmation; other stages
        #: register the kinds of action they ask to confirm here.
        self.confirmations: Confirmations | None = None
        if planner is not None:
            from refmail.workflow.confirmations import Confirmations
            from refmail.workflow.profiles import ProfileMail
            from refmail.workflow.responses import Responses

            self.confirmations = Confirmations(planner)
            self.profiles = ProfileMail(planner, self.confirmations)
            self.responses = Responses(config, store, planner, self.confirmations, self.profiles)

    def _plan(self, referral_id: int | None, now: datetime) -> None:
        if self.planner is not None and referral_id is not None:
            self.planner.plan(referral_id, now)

    # -- entry points ------------------------------------------------------
    def process(
        self,
        raw: bytes,
        *,
        now: datetime,
        source: MessageSource | None = None,
        silent: bool = False,
        classified: Classification | Unclassifiable | None = None,
    ) -> Outcome:
        """Classify ``raw`` and apply it; see :class:`Outcome` for the results.

        ``silent`` marks new referrals as tracked without any outgoing mail
        (``refmail import``); intros older than the backfill window are
        silent anyway. ``classified``: what ``self.classify`` made of ``raw``
        elsewhere (the daemon classifies large fetches in worker processes).
        """
        source = source or MessageSource()
        key, message_id = message_key(raw)
        if self.store.seen(key):
            with self.store.transaction():
                self._advance(source, now)
            return Outcome(key, "seen", OutcomeName.SEEN, "processed before")
        if isinstance(classified, Unclassifiable):
            log.warning("message %s could not be classified: %s", key, classified.error_type)
            return self.record_failure(
                raw, reason=f"could not be parsed: {classified.error_type}: {classified.error}",
                now=now, source=source, why=Why.UNREADABLE, silent=silent,
            )
        try:
            verdict = classified if classified is not None else self.classify(raw, self.config)
        except Exception as exc:  # the classifier must not stop the inbox
            log.warning("message %s could not be classified: %s", key, type(exc).__name__)
            log.debug("classification failure for %s", key, exc_info=True)
            return self.record_failure(
                raw, reason=f"could not be parsed: {type(exc).__name__}: {exc}", now=now,
                source=source, why=Why.UNREADABLE, silent=silent,
            )
        # The brake is for mail written now (a loop runs in real time): an
        # import, or a first start reading weeks of old mail, is history, and
        # must not count against anyone's hourly limit.
        live = not silent and not self._from_the_past(verdict, now)
        sender = verdict.sender if live and verdict.kind in {"intro", "reply"} else None
        batch = self.store.in_transaction
        try:
            with self.store.transaction():
                if sender and self._flooding(sender, now):
                    outcome = self._rate_limited(key, verdict, sender, now)
                else:
                    outcome = self._apply(key, verdict, now=now, silent=silent)
                self.store.record_message(
                    key,
                    sender=sender,
                    message_id=message_id,
                    kind=outcome.kind,
                    outcome=outcome.outcome,
                    reason=outcome.reason,
                    referral_id=outcome.referral_id,
                    now=now,
                    folder=source.folder,
                    uidvalidity=source.uidvalidity,
                    uid=source.uid,
                )
                self._advance(source, now)
        except Exception as exc:
            # The message is the boundary: whatever applying it raised (the
            # store, the planner, a template) is undone by its savepoint and
            # the message is set aside — unless the database itself is unusable
            # or lost the batch's transaction, when setting it aside would skip
            # it, or the messages before it, for good.
            if unusable(exc) or (batch and not self.store.in_transaction):
                if isinstance(exc, StoreError):
                    raise
                raise StoreError(f"the database refused a write: {exc}") from exc
            log.warning("message %s could not be applied: %s", key, type(exc).__name__)
            log.debug("applying %s failed", key, exc_info=True)
            return self.record_failure(
                raw, reason=f"could not be applied: {type(exc).__name__}: {str(exc)[:300]}",
                now=now, source=source, key=key, message_id=message_id, silent=silent,
            )
        return outcome

    def record_failure(
        self,
        raw: bytes,
        *,
        reason: str,
        now: datetime,
        source: MessageSource | None = None,
        outcome: OutcomeName = OutcomeName.FAILED,
        key: str | None = None,
        message_id: str | None = None,
        why: Why | None = None,
        size: int | None = None,
        silent: bool = False,
    ) -> Outcome:
        """Record a message that cannot be processed so it never blocks the inbox.

        ``raw`` is the message, or only its header fields when it was too large
        to download (``size`` is then its size on the server). Its From and
        Subject are kept for the admins' weekly summary, and the member who
        wrote it, if a member did, is told in the same transaction
        (:func:`~refmail.workflow.set_aside.notify_member`) unless ``silent``
        (``refmail import``) or there is no planner.
        """
        source = source or MessageSource()
        if key is None:
            key, message_id = message_key(raw)
        why = why or (Why.TOO_LARGE if outcome == OutcomeName.TOO_LARGE else Why.FAILED)
        aside = read_aside(raw, why, size)
        with self.store.transaction():
            self.store.record_message(
                key,
                message_id=message_id,
                kind="failed",
                outcome=outcome,
                reason=reason,
                now=now,
                folder=source.folder,
                uidvalidity=source.uidvalidity,
                uid=source.uid,
                author=aside.author,
                subject=aside.subject,
            )
            self._advance(source, now)
            if self.planner is not None and not silent:
                notify_member(self.planner, aside, now=now)
        return Outcome(key, "failed", outcome, reason)

    def record_too_large(self, header: bytes, size: int, *, now: datetime, source: MessageSource) -> Outcome:
        """A message over ``[imap] max_message_size``, known by its header fields alone.

        Keyed by its Message-ID like any message (or by its position when the
        server gave no header), so a UIDVALIDITY reset does not set it aside,
        nor tell its member, twice.
        """
        limit = self.config.imap.max_message_size
        key, message_id = message_key(header) if header else (
            f"too-large:{source.uidvalidity}:{source.uid}", None)
        if self.store.seen(key):
            with self.store.transaction():
                self._advance(source, now)
            return Outcome(key, "seen", OutcomeName.SEEN, "processed before")
        return self.record_failure(
            header, reason=f"{size} bytes, over max_message_size ({limit}); not downloaded", now=now,
            source=source, outcome=OutcomeName.TOO_LARGE, key=key, message_id=message_id, size=size,
        )

    # -- the mail-loop brake ------------------------------------------------------
    def _from_the_past(self, verdict: Classification, now: datetime) -> bool:
        """Dated before the brake's hour: history being read, not a live exchange.

        Every turn of a loop is a new message dated when it was written, so a
        loop's mail always falls inside the hour it is counted over; a first
        start reads intros dated across the whole backfill window (two weeks
        by default), dozens per busy member, and must track every one. A
        forged old Date gains little: replies still need a valid token from
        their own recipient, and an intro older than the backfill window is
        tracked silently, without mail.
        """
        return _parse_date(verdict.date, now) < now - BRAKE_WINDOW

    def _flooding(self, sender: str, now: datetime) -> bool:
        limit = self.config.security.max_messages_per_sender_per_hour
        return self.store.recent_from(sender, now - BRAKE_WINDOW) >= limit

    def _rate_limited(self, key: str, verdict: Classification, sender: str, now: datetime) -> Outcome:
        """Over the per-sender limit: recorded, not applied, and the admins told once a day.

        The last line of defence against a loop with another automaton that
        strips the auto-reply headers refmail relies on (RFC 3834): whatever
        it sends, refmail's answers stay bounded.
        """
        limit = self.config.security.max_messages_per_sender_per_hour
        reason = f"more than {limit} messages from {sender} within an hour: recorded, not applied"
        log.warning("rate limit: %s", reason)
        if self.planner is not None:
            from refmail.workflow.digest import Digest

            day = int(now.strftime("%Y%m%d"))
            seq = day * 1000 + zlib.crc32(sender.encode()) % 1000
            Digest(self.planner).notify_admins(
                f"refmail is ignoring mail from {sender}",
                f"refmail received more than {limit} messages from {sender} within an hour, which "
                "looks like a mail loop or a runaway program rather than a person. Further messages "
                "from that address are recorded but not acted on until the rate drops. If this is "
                "expected, raise [security] max_messages_per_sender_per_hour in the config.",
                seq=seq,
                now=now,
            )
        return Outcome(key, verdict.kind, OutcomeName.RATE_LIMITED, reason, None, verdict)

    # -- rules ---------------------------------------------------------------
    def _advance(self, source: MessageSource, now: datetime) -> None:
        if source.folder is None or source.uidvalidity is None or source.uid is None:
            return
        self.store.advance_position(source.folder, source.uidvalidity, source.uid, now)

    def _apply(self, key: str, verdict: Classification, *, now: datetime, silent: bool) -> Outcome:
        if verdict.kind == "intro":
            return self._intro(key, verdict, now=now, silent=silent)
        if verdict.kind == "reply":
            return self._reply(key, verdict, now=now, silent=silent)
        if verdict.kind == "bounce":
            return self._bounce(key, verdict, now=now)
        if verdict.rule is RuleName.TAGGED_NOTE and self.responses is not None:
            noted = self.responses.note(verdict, now)
            self._plan(noted.referral_id if noted.outcome is OutcomeName.NUDGE_REPLY else None, now)
            return Outcome(key, verdict.kind, noted.outcome, noted.reason, noted.referral_id, verdict)
        if verdict.rule is RuleName.OTHER_REFMAIL and verdict.sender:
            # Another refmail (another group's tracker) wrote to us: it is an
            # automaton, so we stop writing to it — the loop ends on our side.
            self.store.stop_person(verdict.sender, now)
            return Outcome(key, verdict.kind, OutcomeName.IGNORED,
                           f"{verdict.reason}; from another refmail, which gets no more mail",
                           None, verdict)
        return Outcome(key, verdict.kind, OutcomeName.IGNORED, verdict.reason, None, verdict)

    def _intro(
        self, key: str, verdict: Classification, *, now: datetime, silent: bool
    ) -> Outcome:
        referrer = verdict.referrer or verdict.sender or ""
        introduced_at = _parse_date(verdict.date, now)
        window = max(DUPLICATE_WINDOW, self.config.consent.match_window)
        existing = self.store.open_referral_with_parties(referrer, verdict.parties, introduced_at - window)
        if existing is not None and self._is_proposal(existing):
            return self._introduce_proposal(key, existing, verdict, introduced_at, now)
        if existing is not None:
            if verdict.message_id:
                self.store.add_thread_message(verdict.message_id, existing)
            self.store.add_event(
                existing,
                "intro_seen_again",
                at=now,
                actor=verdict.sender,
                message_id=verdict.message_id,
                detail={"forwarded": verdict.forwarded},
            )
            return Outcome(
                key, "intro", OutcomeName.DUPLICATE_INTRO,
                f"the same introduction is already tracked as R-{existing}", existing, verdict,
            )
        silent = silent or introduced_at < now - self.config.timing.backfill
        parties = [PartyRow(referrer, verdict.names.get(referrer, ""), "referrer")]
        for address in verdict.parties:
            if address == verdict.provider:
                role = "provider"
            elif address in verdict.prospects:
                role = "prospect"
            else:
                role = "party"
            parties.append(PartyRow(address, verdict.names.get(address, ""), role))
        referral_id = self.store.create_referral(
            referrer=referrer,
            provider=verdict.provider,
            parties=parties,
            subject=verdict.subject,
            intro_message_id=verdict.message_id,
            roles_reason=verdict.reason,
            silent=silent,
            introduced_at=introduced_at,
            now=now,
        )
        self.store.add_event(
            referral_id,
            "introduced",
            at=now,
            actor=referrer,
            message_id=verdict.message_id,
            detail={
                "reason": verdict.reason,
                "roles_known": verdict.provider is not None,
                "forwarded": verdict.forwarded,
                "silent": silent,
            },
            touch=False,  # created at ``now`` a moment ago
        )
        if not silent:
            # Planner.plan sends nothing for a silent referral, yet would load it
            # (three queries and every event) to find that out: 98 % of a first
            # start's intros are silent backfill.
            self._plan(referral_id, now)
        return Outcome(key, "intro", OutcomeName.CREATED, verdict.reason, referral_id, verdict)

    def _is_proposal(self, referral_id: int) -> bool:
        row = self.store.referral(referral_id)
        return row is not None and row["status"] == "proposed"

    def _introduce_proposal(
        self, key: str, referral_id: int, verdict: Classification, introduced_at: datetime, now: datetime
    ) -> Outcome:
        """The real introduction of a consent-first proposal: it joins the proposal."""
        self.store.introduce(referral_id, introduced_at=introduced_at, message_id=verdict.message_id, now=now)
        self.store.add_event(
            referral_id, "status", at=now, actor=verdict.referrer, message_id=verdict.message_id,
            detail={"from": "proposed", "to": "introduced", "consent": True},
        )
        self.store.add_event(
            referral_id, "introduced", at=now, actor=verdict.referrer, message_id=verdict.message_id,
            detail={"reason": verdict.reason, "roles_known": True, "from_proposal": True},
        )
        self._plan(referral_id, now)
        return Outcome(
            key, "intro", OutcomeName.PROPOSAL_INTRODUCED,
            f"the introduction proposed as R-{referral_id} was made", referral_id, verdict,
        )

    def _proposal(self, key: str, verdict: Classification, *, now: datetime) -> Outcome:
        """A member asks refmail to check with the people first (``refs+ask@``)."""
        from refmail.policy.consent import who_to_ask
        from refmail.reading.proposal import read_proposal

        sender = self.config.canonical(verdict.sender or "")
        if not self.config.group.open_membership and not self.config.is_member(sender):
            who = sender or "an unknown sender"
            reason = f"proposal from {who}, who is not a member"
            return Outcome(key, "ignored", OutcomeName.IGNORED, reason, None, verdict)
        proposal = read_proposal(verdict.reply_text or "", referrer=sender, config=self.config)
        people = [p for p in proposal.people if p.address != sender]
        if len(people) < 2:
            return Outcome(key, "ignored", OutcomeName.IGNORED,
                           "a proposal must name the two people with their email addresses", None, verdict)
        parties_addresses = [p.address for p in people]
        provider = proposal.provider if proposal.provider in parties_addresses else None
        prospects = [a for a in proposal.prospects if a in parties_addresses] if provider else []
        rows = [PartyRow(sender, verdict.names.get(sender, ""), "referrer")]
        for person in people:
            role = "provider" if person.address == provider else (
                "prospect" if person.address in prospects else "party")
            rows.append(PartyRow(person.address, person.name, role))
        referral_id = self.store.create_referral(
            referrer=sender, provider=provider, parties=rows, subject=verdict.subject,
            intro_message_id=verdict.message_id, roles_reason=proposal.reason, silent=False,
            introduced_at=now, now=now, status="proposed",
        )
        asked = who_to_ask(provider, prospects, parties_addresses, self.config)
        self.store.add_event(
            referral_id, "proposed", at=now, actor=sender, message_id=verdict.message_id,
            detail={"text": proposal.text[:4000], "asked": asked, "reason": proposal.reason},
            touch=False,  # created at ``now`` a moment ago
        )
        self._plan(referral_id, now)
        return Outcome(key, "reply", OutcomeName.PROPOSED,
                       f"consent-first proposal: asking {', '.join(asked)}", referral_id, verdict)

    def _thread_of(self, verdict: Classification) -> int | None:
        ids = [verdict.in_reply_to or "", *reversed(verdict.references)]
        return self.store.referral_for_thread(ids)

    def _reply(self, key: str, verdict: Classification, *, now: datetime, silent: bool) -> Outcome:
        if verdict.token and verdict.token == self.config.consent.tag:
            return self._proposal(key, verdict, now=now)
        if verdict.token == PROFILE_TAG:
            if self.profiles is None:  # refmail import: no one to answer
                return Outcome(key, "reply", OutcomeName.IGNORED, "a profile message, not applied on import",
                               None, verdict)
            outcome, why = self.profiles.receive(verdict, now)
            return Outcome(key, "reply", outcome, why, None, verdict)
        if self.responses is not None:
            from refmail.workflow.responses import Verdict

            match = self.responses.match(verdict)
            if isinstance(match, Verdict):
                return Outcome(key, "reply", match.outcome, match.reason, match.referral_id, verdict)
            if match is not None:
                return self._answer(key, verdict, match, now)
        referral_id = self._thread_of(verdict)
        if referral_id is None and self.responses is not None:
            # Not in a thread refmail knows: a tag in the subject still
            # names the referral (a member wrote to the plain tracker).
            tagged = self.responses.match_tag(verdict)
            if tagged is not None:
                return self._answer(key, verdict, tagged, now)
        if referral_id is None:
            if verdict.as_intro is not None and verdict.as_intro.kind == "intro":
                # SPEC: a "reply" to a thread never seen may be a new intro
                # (e.g. an introduction written as an answer in an old thread).
                fallback = self._intro(key, verdict.as_intro, now=now, silent=silent)
                return fallback
            return Outcome(
                key, "reply", OutcomeName.REPLY_UNMATCHED,
                "a reply to a thread refmail does not track", None, verdict,
            )
        referral = self.store.referral(referral_id)
        assert referral is not None
        if verdict.message_id:
            self.store.add_thread_message(verdict.message_id, referral_id)
        sender = verdict.sender
        to_prospect = [a for a in verdict.recipients if a in referral["prospects"]]
        if sender and sender == referral["provider"] and to_prospect:
            self.store.add_event(
                referral_id, "first_contact", at=now, actor=sender,
                message_id=verdict.message_id, detail={"to": to_prospect},
            )
            if referral["status"] == "introduced":
                self.store.set_status(referral_id, "contacted", now)
                self.store.add_event(
                    referral_id, "status", at=now, actor=sender,
                    message_id=verdict.message_id,
                    detail={"from": "introduced", "to": "contacted", "why": "first contact"},
                )
                self._plan(referral_id, now)
            return Outcome(
                key, "reply", OutcomeName.FIRST_CONTACT,
                f"{sender} (provider) wrote to {', '.join(to_prospect)}", referral_id, verdict,
            )
        self.store.add_event(
            referral_id, "thread_reply", at=now, actor=sender, message_id=verdict.message_id,
        )
        return Outcome(
            key, "reply", OutcomeName.THREAD_EVENT,
            f"a message in the thread of R-{referral_id} from {sender}", referral_id, verdict,
        )

    def _answer(self, key: str, verdict: Classification, match: Match, now: datetime) -> Outcome:
        """A reply to refmail's mail, or naming a referral: applied, rejected, or
        its sender asked to confirm it (:mod:`refmail.workflow.responses`)."""
        assert self.responses is not None
        applied = self.responses.apply(verdict, match, now)
        if applied.outcome in {OutcomeName.NUDGE_REPLY, OutcomeName.CONFIRMED}:
            self._plan(applied.referral_id, now)
        return Outcome(key, "reply", applied.outcome, applied.reason, applied.referral_id, verdict)

    def _bounce(self, key: str, verdict: Classification, *, now: datetime) -> Outcome:
        if self.planner is not None:
            # A bounce of refmail's own message: that nudge is not retried, the
            # address gets no more mail, and the referrer (or admin) is told.
            for message_id in [verdict.in_reply_to or "", *verdict.references]:
                item = self.planner.outbox.by_message_id(message_id) if message_id else None
                if item is not None:
                    self.planner.outbox.mark_bounced(item.id, verdict.reason, now)
                    self.planner.notify_failure(item, verdict.reason, now)
                    return Outcome(
                        key, "bounce", OutcomeName.BOUNCE, verdict.reason, item.referral_id, verdict
                    )
        referral_id = self._thread_of(verdict)
        if referral_id is not None:
            self.store.add_event(
                referral_id, "bounce", at=now, actor=verdict.failed_recipient,
                message_id=verdict.message_id,
                detail={"failed_recipient": verdict.failed_recipient, "reason": verdict.reason},
            )
        return Outcome(key, "bounce", OutcomeName.BOUNCE, verdict.reason, referral_id, verdict)
