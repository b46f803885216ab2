"""What a member writes about the referrals they want, read (pure), and kept within bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refmail.config import PROFILE_CHARS, config_from_dict
from refmail.errors import ConfigError
from refmail.reading.profile import ProfileText, clean_profile_text, read_profile


@pytest.mark.parametrize(
    ("text", "looking", "not_looking"),
    [
        ("Looking for: real-estate agents who want to grow\nNot looking for: restaurants, free advice",
         "real-estate agents who want to grow", "restaurants, free advice"),
        # A sentence needs no colon; the greeting and the sign-off are not read.
        ("Hi refmail,\n\nI'm looking for family-owned shops in the Harbor district.\n\nThanks, Betty",
         "family-owned shops in the Harbor district.", None),
        # A value runs on over the lines under it, to a blank line or the next label.
        ("Looking for: homeowners\n  with pitched roofs\n\nBest,\nTom",
         "homeowners with pitched roofs", None),
        ("* Looking for - offices of 5 to 50\n* Not looking for - home users",
         "offices of 5 to 50", "home users"),
        ("Not looking for: -", None, ""),  # a dash clears it
        ("Ich suche: Handwerksbetriebe mit 5 bis 50 Mitarbeitern\nBitte nicht: Privatkunden",
         "Handwerksbetriebe mit 5 bis 50 Mitarbeitern", "Privatkunden"),
        ("Busco: tiendas familiares\nNo busco: restaurantes", "tiendas familiares", "restaurantes"),
        ("Je cherche : des artisans\nJe ne cherche pas : des particuliers",
         "des artisans", "des particuliers"),
        ("Cerco: studi professionali", "studi professionali", None),
        ("Procuro: clínicas pequenas\nNão procuro: hospitais", "clínicas pequenas", "hospitais"),
        ("Ik zoek: familiebedrijven\nIk zoek niet: starters", "familiebedrijven", "starters"),
    ],
)
def test_read_profile(text: str, looking: str | None, not_looking: str | None) -> None:
    assert read_profile(text) == ProfileText(looking, not_looking)


@pytest.mark.parametrize("text", ["", "What is my profile?", "Hi! Could you send me what you have on me?",
                                  "I was looking at my summary and it looks great."])
def test_without_a_label_nothing_changes(text: str) -> None:
    assert read_profile(text).empty


def test_words_are_kept_as_written_but_bounded() -> None:
    assert clean_profile_text("  Bob  &  Sons\t<b>roofs</b>\x00 ") == "Bob & Sons <b>roofs</b>"
    long = "word " * 200
    kept = clean_profile_text(long)
    assert len(kept) <= PROFILE_CHARS and kept.endswith("…")
    said = read_profile("Looking for: " + long + "\nNot looking for: x")
    assert said.looking_for is not None and len(said.looking_for) <= PROFILE_CHARS
    assert said.not_looking_for == "x"


def test_the_config_refuses_a_profile_too_long_to_show() -> None:
    group = {"name": "G", "tracking_address": "refs@g.example"}
    member = {"name": "Betty", "email": "betty@g.example", "looking_for": "x" * (PROFILE_CHARS + 1)}
    with pytest.raises((ConfigError, ValueError)) as info:
        config_from_dict({"group": group, "members": [member]})
    assert "looking_for" in str(info.value) and str(PROFILE_CHARS) in str(info.value)
    member["looking_for"] = "Real-estate\n  agents"
    config = config_from_dict({"group": group, "members": [member]})
    assert config.members[0].looking_for == "Real-estate agents"


@given(st.text(max_size=3000))
def test_never_crashes_and_stays_bounded(text: str) -> None:
    said = read_profile(text)
    for value in (said.looking_for, said.not_looking_for):
        assert value is None or (len(value) <= PROFILE_CHARS and "\n" not in value)
