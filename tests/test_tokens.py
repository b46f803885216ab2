"""Reply tokens: round trip, tamper resistance, and never raising on junk."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refmail.policy.tokens import MAC_CHARS, TokenSigner, new_secret

SECRET = b"k" * 32
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789."


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def test_round_trip(signer: TokenSigner) -> None:
    token = signer.issue(12, "Carl@Bakery.example", "thank_you", 0)
    assert signer.referral_of(token) == 12
    assert signer.verify(token, 12, "carl@bakery.example", "thank_you", 0)


def test_shape_survives_lower_casing_mtas(signer: TokenSigner) -> None:
    token = signer.issue(123456, "carl@bakery.example", "stale_reminder", 2)
    assert re.fullmatch(rf"r123456\.[a-z2-7]{{{MAC_CHARS}}}", token)
    assert MAC_CHARS * 5 >= 60  # bits of MAC
    # RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
    assert len(f"refs+{token}") < 40
    # An MTA that upper-cases the local part does not break the token.
    assert signer.verify(token.upper(), 123456, "carl@bakery.example", "stale_reminder", 2)


def test_every_single_character_change_is_refused(signer: TokenSigner) -> None:
    token = signer.issue(12, "carl@bakery.example", "feedback", 1)
    tried = 0
    for i, original in enumerate(token):
        for replacement in TOKEN_ALPHABET:
            if replacement == original:
                continue
            tampered = token[:i] + replacement + token[i + 1 :]
            assert not signer.verify(tampered, 12, "carl@bakery.example", "feedback", 1), tampered
            tried += 1
    assert tried == len(token) * (len(TOKEN_ALPHABET) - 1)
    assert not signer.verify(token[:-1], 12, "carl@bakery.example", "feedback", 1)
    assert not signer.verify(token + "a", 12, "carl@bakery.example", "feedback", 1)


@pytest.mark.parametrize(
    ("referral_id", "recipient", "step", "seq"),
    [
        (13, "carl@bakery.example", "feedback", 1),  # another referral
        (12, "dana@bakery.example", "feedback", 1),  # another recipient
        (12, "carl@bakery.example", "thank_you", 1),  # another step
        (12, "carl@bakery.example", "feedback", 2),  # another message of the step
    ],
)
def test_token_is_bound_to_its_fields(
    signer: TokenSigner, referral_id: int, recipient: str, step: str, seq: int
) -> None:
    token = signer.issue(12, "carl@bakery.example", "feedback", 1)
    assert not signer.verify(token, referral_id, recipient, step, seq)


def test_the_claimed_id_must_match(signer: TokenSigner) -> None:
    token = signer.issue(12, "carl@bakery.example", "feedback", 1)
    mac = token.split(".", 1)[1]
    assert not signer.verify(f"r13.{mac}", 12, "carl@bakery.example", "feedback", 1)
    # Leading zeros would give one MAC several spellings.
    assert signer.referral_of(f"r012.{mac}") is None
    assert not signer.verify(f"r012.{mac}", 12, "carl@bakery.example", "feedback", 1)


def test_another_secret_cannot_forge(signer: TokenSigner) -> None:
    other = TokenSigner(new_secret())
    forged = other.issue(12, "carl@bakery.example", "feedback", 1)
    assert forged != signer.issue(12, "carl@bakery.example", "feedback", 1)
    assert not signer.verify(forged, 12, "carl@bakery.example", "feedback", 1)


def test_new_secret_is_random_and_long_enough() -> None:
    first, second = new_secret(), new_secret()
    assert len(first) == 32 and first != second


@pytest.mark.parametrize("secret", [b"", b"short"])
def test_short_secrets_are_refused(secret: bytes) -> None:
    with pytest.raises(ValueError):
        TokenSigner(secret)


@pytest.mark.parametrize(
    ("referral_id", "step", "seq"),
    [(-1, "ack", 0), (1, "", 0), (1, "ack", -1), (True, "ack", 0)],
)
def test_issue_refuses_nonsense(signer: TokenSigner, referral_id: int, step: str, seq: int) -> None:
    with pytest.raises(ValueError):
        signer.issue(referral_id, "carl@bakery.example", step, seq)


@pytest.mark.parametrize(
    "token",
    ["", "r", "r12", "r12.", "12.abcdefghijklmnop", "r12.abcdefghijklmno1", "r١٢.abcdefghijklmnop",
     "r12.abcdefghijklmnopq", "r12.ABCDEFGHIJKLMNOP\n", "r12\x00.abcdefghijklmnop", "rr12.abcdefghijklmnop"],
)
def test_malformed_tokens(signer: TokenSigner, token: str) -> None:
    assert not signer.verify(token, 12, "carl@bakery.example", "ack", 0)


def test_referral_of_reads_well_formed_tokens_only(signer: TokenSigner) -> None:
    assert signer.referral_of("r12.abcdefghijklmnop") == 12
    assert signer.referral_of("r١٢.abcdefghijklmnop") is None  # Unicode digits
    assert signer.referral_of("r12.abcdefghijklmno1") is None  # 1 is not base32
    assert signer.referral_of(None) is None  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_junk_never_raises(token: str) -> None:
    signer = TokenSigner(SECRET)
    assert signer.verify(token, 12, "carl@bakery.example", "ack", 0) is False
    claimed = signer.referral_of(token)
    assert claimed is None or (isinstance(claimed, int) and claimed > 0)


@settings(max_examples=100)
@given(
    st.one_of(st.none(), st.integers(), st.text(max_size=5), st.binary(max_size=5)),
    st.one_of(st.none(), st.text(max_size=20), st.integers()),
)
def test_verify_never_raises_on_wrong_types(referral_id: object, recipient: object) -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue(12, "carl@bakery.example", "ack", 0)
    assert signer.verify(token, referral_id, recipient, "ack", 0) in (True, False)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=10**17),
    st.text(min_size=1, max_size=60),
    st.sampled_from(["ack", "thank_you", "feedback", "stale_reminder"]),
    st.integers(min_value=0, max_value=1000),
)
def test_round_trip_for_any_fields(referral_id: int, recipient: str, step: str, seq: int) -> None:
    signer = TokenSigner(SECRET)
    token = signer.issue(referral_id, recipient, step, seq)
    assert re.fullmatch(r"[a-z0-9.]+", token)
    assert signer.referral_of(token) == referral_id
    assert signer.verify(token, referral_id, recipient, step, seq)
    assert not signer.verify(token, referral_id, recipient + "x", step, seq)


def test_group_mail_tokens_use_referral_zero(signer: TokenSigner) -> None:
    token = signer.issue(0, "mei@chencpa.example", "summary_member", 202648)
    assert token.startswith("r0.")
    assert signer.referral_of(token) == 0
    assert signer.verify(token, 0, "mei@chencpa.example", "summary_member", 202648)
    assert not signer.verify(token, 0, "tom@beckerroofing.example", "summary_member", 202648)
