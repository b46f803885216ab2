"""Who may change what (refmail.policy.authority): pure rules, no server."""

from __future__ import annotations

import pytest

from refmail.policy.authority import Proof, Refusal, Role, reopened_status, roles_of, rule
from refmail.reading.classification import Command, Keyword
from refmail.reading.command import parse_command

REFERRER = frozenset({Role.REFERRER})
PROVIDER = frozenset({Role.PROVIDER})
PROSPECT = frozenset({Role.PROSPECT})
PARTY = frozenset({Role.PARTY})
ADMIN = frozenset({Role.ADMIN})


def test_roles_of_a_referral() -> None:
    kwargs = {"referrer": "mei@x", "provider": "tom@x", "prospects": ["linda@x"],
              "parties": ["tom@x", "linda@x"], "admins": ["mei@x", "ann@x"]}
    assert roles_of("mei@x", **kwargs) == {Role.REFERRER, Role.ADMIN}
    assert roles_of("tom@x", **kwargs) == PROVIDER
    assert roles_of("linda@x", **kwargs) == PROSPECT
    assert roles_of("ann@x", **kwargs) == ADMIN
    assert roles_of("mallory@x", **kwargs) == frozenset()
    unknown = {**kwargs, "provider": None, "prospects": []}
    assert roles_of("tom@x", **unknown) == PARTY


@pytest.mark.parametrize("text", ["WON $99,999", "LOST", "PROPOSAL", "she signed, $5,000"])
@pytest.mark.parametrize("roles", [PROSPECT, PARTY, ADMIN])
def test_business_outcomes_count_only_from_the_provider_or_the_referrer(
        text: str, roles: frozenset[Role]) -> None:
    command = parse_command(text)
    assert command.status in {"won", "lost", "proposal"}
    ruling = rule(command, roles, "contacted", Proof.TOKEN)
    assert ruling.status is None and ruling.value is None
    if roles != ADMIN:
        assert ruling.claimed == command.status  # kept as their words
    for allowed in (PROVIDER, REFERRER, frozenset({Role.REFERRER, Role.ADMIN})):
        assert rule(command, allowed, "contacted", Proof.TOKEN).status == command.status


def test_a_value_comes_only_with_an_allowed_won() -> None:
    won = parse_command("WON 4500 EUR")
    assert (rule(won, PROVIDER, "meeting", Proof.TOKEN).value, rule(won, PROVIDER, "meeting",
            Proof.TOKEN).currency) == (4500, "EUR")
    assert rule(won, PROSPECT, "meeting", Proof.TOKEN).value is None


@pytest.mark.parametrize("text", ["CONTACTED", "MET", "NO FIT", "NO RESPONSE"])
def test_any_party_may_say_how_contact_went(text: str) -> None:
    command = parse_command(text)
    for roles in (PROVIDER, PROSPECT, PARTY, REFERRER):
        assert rule(command, roles, "introduced", Proof.TOKEN).status == command.status


def test_withdraw_is_the_referrers_or_an_admins() -> None:
    command = Command(status="withdrawn", keyword=Keyword.WITHDRAW)
    assert rule(command, REFERRER, "contacted", Proof.TOKEN).status == "withdrawn"
    assert rule(command, ADMIN, "contacted", Proof.TOKEN).status == "withdrawn"
    ruling = rule(command, PROVIDER, "contacted", Proof.TOKEN)
    assert ruling.status is None and ruling.refused == (("withdrawn", Refusal.NOT_REFERRER_OR_ADMIN),)


@pytest.mark.parametrize("closed", ["won", "lost", "no_fit", "unresponsive", "withdrawn"])
def test_a_closed_referral_stays_closed_without_reopen(closed: str) -> None:
    for text in ("WON 5000", "LOST", "CONTACTED"):
        command = parse_command(text)
        if command.status == closed:
            continue
        for roles in (PROVIDER, REFERRER, ADMIN, PROSPECT):
            ruling = rule(command, roles, closed, Proof.TOKEN)
            assert ruling.status is None and not ruling.changes_status
            assert (command.status, Refusal.CLOSED) in ruling.refused or roles == PROSPECT
    # Its tokens may still thank and give feedback.
    assert rule(Command(thanks=True), PROVIDER, closed, Proof.TOKEN).thanks


def test_reopen_by_the_provider_the_referrer_or_an_admin_only() -> None:
    reopen = Command(reopen=True, keyword=Keyword.REOPEN)
    for roles in (PROVIDER, REFERRER, ADMIN):
        assert rule(reopen, roles, "lost", Proof.TOKEN).reopen
    ruling = rule(reopen, PROSPECT, "lost", Proof.TOKEN)
    assert not ruling.reopen and ruling.refused == (("reopen", Refusal.NOT_ALLOWED_TO_REOPEN),)
    assert rule(reopen, PROVIDER, "meeting", Proof.TOKEN).refused == (("reopen", Refusal.NOT_CLOSED),)
    # A declined or expired proposal is not reopened by email: it was never introduced.
    assert not rule(reopen, REFERRER, "declined", Proof.TOKEN).reopen


def test_without_proof_nothing_counts() -> None:
    for text in ("WON 5000", "STOP", "THANKS", "REOPEN"):
        ruling = rule(parse_command(text), frozenset({Role.PROVIDER, Role.REFERRER}), "lost", Proof.NONE)
        assert not (ruling.changes_status or ruling.stop or ruling.thanks or ruling.start)
        assert ruling.refused and all(why is Refusal.NO_PROOF for _, why in ruling.refused)


@pytest.mark.parametrize("proof", [Proof.TOKEN, Proof.AUTHENTICATED, Proof.CONFIRMED])
def test_every_proof_is_enough(proof: Proof) -> None:
    assert rule(parse_command("WON 100"), PROVIDER, "meeting", proof).status == "won"
    assert rule(parse_command("STOP"), PROSPECT, "meeting", proof).stop


def test_nobody_outside_the_referral_changes_it() -> None:
    ruling = rule(parse_command("WON 100"), frozenset(), "meeting", Proof.TOKEN)
    assert ruling.status is None and ruling.refused == (("won", Refusal.NOT_INVOLVED),)


def test_thanks_is_the_providers_note() -> None:
    assert rule(Command(), PROVIDER, "introduced", Proof.TOKEN, step="thank_you").thanks
    assert rule(Command(thanks=True), PROVIDER, "introduced", Proof.TOKEN).thanks
    assert not rule(Command(thanks=True), PROSPECT, "introduced", Proof.TOKEN).thanks


def test_a_proposal_has_no_status_yet() -> None:
    ruling = rule(parse_command("WON"), REFERRER, "proposed", Proof.TOKEN)
    assert ruling.status is None and ruling.refused == (("won", Refusal.NOT_INTRODUCED),)


def test_reopened_status_is_the_one_before_closing() -> None:
    history = [("introduced", "contacted"), ("contacted", "meeting"), ("meeting", "won")]
    assert reopened_status(history, "won") == "meeting"
    assert reopened_status([], "lost") == "introduced"
    # Closed, reopened, closed again from another status: the latest closing counts.
    again = [*history, ("won", "meeting"), ("meeting", "proposal"), ("proposal", "won")]
    assert reopened_status(again, "won") == "proposal"
