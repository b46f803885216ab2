"""The fast paths of classification give exactly what the slow, obvious code gave.

Classification avoids work that used to run for every message: a regex compiled
per party name (:func:`refmail.reading.name_search.find_form` matches ASCII names with
``str.find``), headers decoded whether read or not (:class:`ParsedMessage`
decodes by name, on first use). Each fast path is checked here against the
code it replaces, on inputs chosen to hit its edges: case variants beyond
ASCII, white space of every kind, name boundaries, raw 8-bit headers.
"""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from refmail.mail.message import decode_header_value, parse_message
from refmail.reading.name_search import IGNORECASE_ASCII, caseless_key, find_form, name_pattern, plain_form

# -- names: str.find against the regex --------------------------------------------


def test_only_the_listed_characters_match_ascii_letters_case_insensitively() -> None:
    """The table :func:`caseless_key` relies on, checked over all of Unicode."""
    ascii_class = re.compile("(?i)[\x20-\x7e]")
    beyond = {cp for cp in range(0x80, 0x110000) if ascii_class.match(chr(cp))}
    assert beyond == set(IGNORECASE_ASCII)
    for cp, letter in IGNORECASE_ASCII.items():
        assert re.fullmatch(f"(?i:{letter})", chr(cp))
    # and lower-casing only changes a length for U+0130, which the table replaces
    assert [cp for cp in range(0x110000) if len(chr(cp).lower()) != 1] == [0x130]


def _regex_spans(form: str, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in name_pattern(form).finditer(text)]


def _fast_spans(form: str, text: str) -> list[tuple[int, int]] | None:
    pieces = plain_form(form)
    caseless = caseless_key(text)
    if pieces is None or caseless is None:
        return None
    return find_form(text, caseless, form[0], pieces)


FORMS = ["Grace", "Grace Liu", "Ann Marie Smith", "O'Neil", "Jean-Luc", "Smiths", "Kim", "Si", "Ik",
         "Bo Li", "A Bc"]
TRICKY = ["Grace", "grace", "GRACE", "Graces", "Grace-", "-Grace", "'Grace", "_Grace", "Grace_", "xGrace",
          "Grace Liu", "Grace  Liu", "Grace\nLiu", "Grace\t\x0b\x1cLiu", "Grace\u2028Liu", "Grace\u00a0Liu",
          "GRACE LIU", "Grace liu", "Grace Liu's", "Grace Lius", "Grace Li", "Kİm", "Kım", "Kim", "KIM",
          "Sİ", "Iſ", "\u212aim", "Ik", "I\u212a", "Bo Li", "Bo   LI.", "A Bc", "A  bc", "Ann Marie Smith",
          "Ann  marie\nSMITH", "O'Neil", "O'NEIL", "O’Neil", "Jean-Luc", "Jean-luc", "Jean-Lucien",
          "Smiths", "SMITHS", "Grace\u0301", "Graceé", "Grace1", "Grace.", " ", "\n", ",", "ſ", "é"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FORMS),
       st.lists(st.one_of(st.sampled_from(TRICKY), st.text(alphabet=string.ascii_letters + " '-_\n.",
                                                           max_size=6)), max_size=12))
def test_names_are_found_where_the_regex_finds_them(form: str, pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _fast_spans(form, text) == _regex_spans(form, text)


def test_some_names_are_found_at_all() -> None:
    """The property above must not pass because nothing matches."""
    text = "Hi Grace  liu, and GRACE Liu and grace Liu and Grace Lius"
    assert _fast_spans("Grace Liu", text) == _regex_spans("Grace Liu", text) == [(3, 13), (19, 28)]
    assert _fast_spans("Kim", "Kım, Kİm and KIM") == [(0, 3), (5, 8), (13, 16)]
    assert _regex_spans("Kim", "Kım, Kİm and KIM") == [(0, 3), (5, 8), (13, 16)]


def test_forms_the_fast_path_leaves_to_the_regex() -> None:
    assert plain_form("Zoë") is None  # not ASCII
    assert plain_form("Ann  Lee") is None  # an empty word between two spaces
    assert plain_form("Ann Lee") == ["nn", "lee"]


# -- headers: decoded on first use ---------------------------------------------------

RAW = (
    b"Received: from x by y; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\n"
    b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n K\xc3\xb6ln\r\n"
    b"X-Note: caf\xe9\r\n"
    b"x-note: second\r\n"
    b"\r\nbody\r\n"
)


def test_headers_decode_by_name_as_they_did_all_at_once() -> None:
    msg = parse_message(RAW)
    assert msg.header("subject") == "Grüße aus Köln"
    assert msg.header("X-NOTE") == "café"
    assert msg.header_all("X-Note") == ["café", "second"]
    assert msg.header("Missing") is None
    assert msg.header_all("Missing") == []
    assert [name for name, _ in msg.headers] == [
        "Received", "DKIM-Signature", "From", "Subject", "X-Note", "x-note"]
    assert msg.headers == [(name, decode_header_value(value)) for name, value in msg.raw_headers]
    assert msg.headers[3] == ("Subject", "Grüße aus Köln")
    # a returned list is the caller's: changing it changes nothing inside
    msg.header_all("X-Note").append("x")
    assert msg.header_all("X-Note") == ["café", "second"]
