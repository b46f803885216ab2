"""Why a referral did not work out, read from people's own words (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refmail.reading.failure_reasons import CUES, Reason, reasons_in, why_it_failed

R = Reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # What providers and prospects write in the shared corpora and the demo.
        ("Carla's practice runs on Macs and I only support Windows networks.", (R.NO_FIT,)),
        ("He went with a cheaper quote.", (R.ELSEWHERE, R.PRICE)),
        ("Three calls, no answer.", (R.NO_RESPONSE,)),
        ("It was not the right time.", (R.TIMING,)),
        ("too small for us, and the timing was off", (R.NO_FIT, R.TIMING)),
        ("She only wanted free advice, then asked me out on a date.", (R.NOT_SERIOUS,)),  # seed 001
        ("She went with her brother-in-law.", (R.ELSEWHERE,)),
        ("Never heard back after the first call.", (R.NO_RESPONSE,)),
        ("Over budget this year; maybe next spring.", (R.PRICE, R.TIMING)),
        # Six more languages.
        ("Passt leider nicht, zu klein. Außerdem zu teuer.", (R.NO_FIT, R.PRICE)),
        ("Keine Rückmeldung seit zwei Wochen.", (R.NO_RESPONSE,)),
        ("Es demasiado caro y no es el momento.", (R.PRICE, R.TIMING)),
        ("Pas le bon moment, l'an prochain peut-être.", (R.TIMING,)),
        ("Non è il mio campo, e comunque troppo caro.", (R.NO_FIT, R.PRICE)),
        ("Não respondeu aos meus e-mails.", (R.NO_RESPONSE,)),
        ("Heeft al een boekhouder, en het is te duur.", (R.ELSEWHERE, R.PRICE)),
        # Nothing said.
        ("Thanks for thinking of me!", ()),
        ("", ()),
    ],
)
def test_reasons_in_their_words(text: str, expected: tuple[Reason, ...]) -> None:
    assert reasons_in(text) == expected


def test_a_cleared_reason_is_not_given() -> None:
    """"The price was fine" says what was not the problem."""
    assert reasons_in("The price was fine, but the timing was wrong.") == (R.TIMING,)
    assert reasons_in("Budget wasn't the issue; she went with someone else.") == (R.ELSEWHERE,)
    assert reasons_in("Nothing to do with price: not the right time.") == (R.TIMING,)
    assert reasons_in("The price was the problem.") == (R.PRICE,)


def test_the_leading_keyword_is_the_status_not_a_reason() -> None:
    assert reasons_in("NO FIT - too expensive") == (R.PRICE,)
    assert reasons_in("NO RESPONSE") == ()
    assert reasons_in("VERLOREN: zu teuer") == (R.PRICE,)


@pytest.mark.parametrize(
    ("status", "texts", "expected"),
    [
        ("no_fit", ["NO FIT - Carla runs on Macs."], (R.NO_FIT,)),
        ("no_fit", ["NO FIT - too expensive"], (R.NO_FIT, R.PRICE)),
        ("unresponsive", [], (R.NO_RESPONSE,)),
        ("lost", ["LOST - he went with a cheaper quote", "Cheaper, yes."], (R.ELSEWHERE, R.PRICE)),
        ("lost", ["LOST"], (R.OTHER,)),
        ("lost", [], (R.OTHER,)),
        ("won", ["too expensive, but they paid"], (R.PRICE,)),
        ("withdrawn", [], ()),
    ],
)
def test_why_it_failed(status: str, texts: list[str], expected: tuple[Reason, ...]) -> None:
    assert why_it_failed(status, texts) == expected


def test_every_reason_has_cues_in_seven_languages() -> None:
    for reason in Reason:
        if reason is R.OTHER:
            assert reason not in CUES
            continue
        assert set(CUES[reason]) == {"en", "de", "es", "fr", "it", "pt", "nl"}, reason


def test_a_long_pasted_thread_is_read_in_bounded_time() -> None:
    text = "We talked. " * 50_000 + "too expensive"
    assert reasons_in(text) == ()  # only the first MAX_CHARS are read


@given(st.text(max_size=2000))
def test_never_crashes(text: str) -> None:
    assert all(isinstance(r, Reason) for r in reasons_in(text))
