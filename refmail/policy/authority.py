"""Who may change what: the proof a message carries, the sender's part in a
referral, and which parts of their command count (pure).

SPEC "Trust" and "Replies to nudges". A ``From`` header is a claim, not a
proof; a message proves its writer by a :class:`Proof`. Without one it changes
nothing by itself: the caller asks the claimed sender to confirm
(:mod:`refmail.workflow.confirmations`), and the confirmed request is ruled on
here like one that came with its token. With one, :func:`rule` says what of
the :class:`~refmail.reading.classification.Command` counts for that person:

======================== ======================================================
part of the command      counts from
======================== ======================================================
``WON``, ``LOST``,       the provider or the referrer; from anyone else the
``PROPOSAL``, a value    words are kept as their feedback (relayed to the
                         referrer) and the status does not change
``WITHDRAW``             the referrer or an admin
other statuses           any party or the referrer (``CONTACTED``, ``MET``,
                         ``NO FIT``, ``NO RESPONSE``)
``REOPEN``               the provider, the referrer or an admin, on a closed
                         referral: back to the status it had before it closed
``THANKS``               the provider (a thank-you note for the referrer);
                         anyone else's thanks are feedback
``STOP``, ``START``      the person themselves (any proof)
feedback text            any party, the referrer or an admin
======================== ======================================================

A closed referral stays closed: a status on it counts only after a
``REOPEN``; its tokens may still thank and give feedback. A consent-first
proposal has no status to report yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from refmail.reading.classification import Command

__all__ = [
    "BUSINESS_STATUSES",
    "CLOSED",
    "THANKS_STEPS",
    "Proof",
    "Refusal",
    "Role",
    "Ruling",
    "reopened_status",
    "roles_of",
    "rule",
]

#: Statuses that say what business came of an introduction: only the two
#: people who know may report them (a prospect's "won" is their opinion).
BUSINESS_STATUSES = frozenset({"won", "lost", "proposal"})
#: Statuses after which nothing changes unless someone entitled reopens.
CLOSED = frozenset({"won", "lost", "no_fit", "unresponsive", "withdrawn", "declined", "expired"})
_OPEN = ("introduced", "contacted", "meeting", "proposal")
#: The nudges that ask the provider to thank the referrer: while the referral
#: is open (or won), and after a miss (``refmail.policy.rules``). The provider's
#: answer to either is their thank-you note, whatever it says.
THANKS_STEPS = frozenset({"thank_you", "miss_thanks"})


class Proof(StrEnum):
    """How a message shows who wrote it (SPEC "Trust")."""

    #: Sent to a plus address refmail gave that very person (signed token).
    TOKEN = "token"
    #: The group's receiving server authenticated its From (DMARC, aligned DKIM/SPF).
    AUTHENTICATED = "authenticated"
    #: The claimed sender confirmed it through a tokened one-click question.
    CONFIRMED = "confirmed"
    #: Only a claim: matched by the ``[R-12]`` tag or ``In-Reply-To``, or a note
    #: to the plain tracker. Changes nothing by itself.
    NONE = "none"

    @property
    def proves(self) -> bool:
        return self is not Proof.NONE


class Role(StrEnum):
    """A person's part in one referral (several at once are possible)."""

    REFERRER = "referrer"
    PROVIDER = "provider"
    PROSPECT = "prospect"
    #: Introduced while the roles are not known yet.
    PARTY = "party"
    #: One of the group's ``[group] admins``.
    ADMIN = "admin"


class Refusal(StrEnum):
    """Why a part of a command did not count (the part is named beside it)."""

    #: Without proof nothing counts; the caller asks for a confirmation.
    NO_PROOF = "no_proof"
    #: WON, LOST, PROPOSAL or a value from someone who is not the provider or
    #: the referrer: kept as their feedback.
    NOT_PROVIDER_OR_REFERRER = "not_provider_or_referrer"
    #: WITHDRAW from someone who is not the referrer or an admin.
    NOT_REFERRER_OR_ADMIN = "not_referrer_or_admin"
    #: REOPEN from someone who is not the provider, the referrer or an admin.
    NOT_ALLOWED_TO_REOPEN = "not_allowed_to_reopen"
    #: A status on a closed referral (REOPEN first).
    CLOSED = "closed"
    #: REOPEN of a referral that is open.
    NOT_CLOSED = "not_closed"
    #: A status on a consent-first proposal, which is not an introduction yet.
    NOT_INTRODUCED = "not_introduced"
    #: The person has no part in the referral (nor is an admin).
    NOT_INVOLVED = "not_involved"


@dataclass(frozen=True)
class Ruling:
    """What of one command counts.

    ``status`` is the new status to set (None: unchanged), with ``value`` and
    ``currency`` when it is ``won``; ``reopen`` sets the status before the
    referral closed (:func:`reopened_status`); ``claimed`` is a status the
    person may not report, whose words are kept as their feedback;
    ``refused`` names each part that did not count, and why.
    """

    status: str | None = None
    value: int | float | None = None
    currency: str | None = None
    reopen: bool = False
    thanks: bool = False
    stop: bool = False
    start: bool = False
    claimed: str | None = None
    refused: tuple[tuple[str, Refusal], ...] = ()

    @property
    def changes_status(self) -> bool:
        return self.status is not None or self.reopen


def roles_of(
    actor: str,
    *,
    referrer: str,
    provider: str | None,
    prospects: Iterable[str],
    parties: Iterable[str],
    admins: Iterable[str],
) -> frozenset[Role]:
    """``actor``'s parts in a referral; addresses compare exactly (canonical, lower case)."""
    roles: set[Role] = set()
    if actor == referrer:
        roles.add(Role.REFERRER)
    if provider is not None and actor == provider:
        roles.add(Role.PROVIDER)
    if actor in set(prospects):
        roles.add(Role.PROSPECT)
    if actor in set(parties) and not roles & {Role.PROVIDER, Role.PROSPECT}:
        roles.add(Role.PARTY)
    if actor in set(admins):
        roles.add(Role.ADMIN)
    return frozenset(roles)


def rule(command: Command, roles: frozenset[Role], status: str, proof: Proof, *,
         step: str | None = None) -> Ruling:
    """What of ``command`` counts from a person with ``roles`` on a referral
    whose status is ``status``, given ``proof`` (see the module's table).

    ``step`` is the nudge the message answers, if known: an answer to the
    thank-you nudge (either: :data:`THANKS_STEPS`) from the provider is their
    thank-you note.
    """
    if not proof.proves:
        parts = [p for p in _parts(command)]
        return Ruling(refused=tuple((p, Refusal.NO_PROOF) for p in parts))
    if not roles:
        return Ruling(refused=tuple((p, Refusal.NOT_INVOLVED) for p in _parts(command)))
    refused: list[tuple[str, Refusal]] = []
    business = bool(roles & {Role.PROVIDER, Role.REFERRER})
    closed = status in CLOSED
    reopen = False
    if command.reopen:
        if not closed or status in {"declined", "expired"}:
            refused.append(("reopen", Refusal.NOT_CLOSED if not closed else Refusal.NOT_INTRODUCED))
        elif business or Role.ADMIN in roles:
            reopen, closed = True, False
        else:
            refused.append(("reopen", Refusal.NOT_ALLOWED_TO_REOPEN))
    new: str | None = None
    claimed: str | None = None
    wanted = command.status
    if wanted is not None and wanted != status:
        if status == "proposed" or status in {"declined", "expired"}:
            refused.append((wanted, Refusal.NOT_INTRODUCED))
        elif closed:
            refused.append((wanted, Refusal.CLOSED))
        elif wanted in BUSINESS_STATUSES and not business:
            refused.append((wanted, Refusal.NOT_PROVIDER_OR_REFERRER))
            claimed = wanted
        elif wanted == "withdrawn" and not roles & {Role.REFERRER, Role.ADMIN}:
            refused.append((wanted, Refusal.NOT_REFERRER_OR_ADMIN))
        elif wanted != "withdrawn" and roles == {Role.ADMIN}:
            # An admin outside the referral reports no outcome they did not see.
            refused.append((wanted, Refusal.NOT_INVOLVED))
        else:
            new = wanted
    thanks = Role.PROVIDER in roles and (step in THANKS_STEPS or command.thanks)
    return Ruling(
        status=new,
        value=command.value if new == "won" else None,
        currency=command.currency if new == "won" else None,
        reopen=reopen,
        thanks=thanks,
        stop=command.stop,
        start=command.start and not command.stop,
        claimed=claimed,
        refused=tuple(refused),
    )


def _parts(command: Command) -> Sequence[str]:
    parts = [command.status] if command.status else []
    parts += [name for name, on in (("reopen", command.reopen), ("stop", command.stop),
                                    ("start", command.start), ("thanks", command.thanks)) if on]
    return parts


def reopened_status(history: Iterable[tuple[str | None, str | None]], current: str) -> str:
    """The status a reopened referral returns to: the open status it had when
    it last became ``current``, else ``introduced``.

    ``history`` is the referral's status changes as ``(from, to)``, oldest first.
    """
    before = "introduced"
    for old, new in history:
        if new == current and old in _OPEN:
            before = old
    return before
