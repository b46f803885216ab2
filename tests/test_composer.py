"""The MIME message: headers, threading, loop protection and no header injection."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refmail import __version__
from refmail.config import Config, config_from_dict
from refmail.render.composer import clean_header_text, compose, new_message_id
from refmail.render.renderer import Rendered

TRACKER = "refs@harbornet.example"
TOKEN = "r12.k3j5x8q2abcdmn4p"
INTRO_ID = "<CAF7x=intro+1@mail.gmail.example>"
DATE = datetime(2024, 11, 18, 9, 30, tzinfo=timezone(timedelta(hours=-6)))
RENDERED = Rendered(
    subject="A quick thank-you to Bob?",
    text="Hi Betty,\n\nBob introduced you to Carl.\n\n-- \nrefmail for Harbor Business Network\n",
    html="<!DOCTYPE html>\n<html><body><p>Hi Betty,</p></body></html>\n",
)


def make_config(**smtp: Any) -> Config:
    return config_from_dict({
        "group": {"name": "Harbor Business Network", "tracking_address": TRACKER},
        "smtp": smtp,
    })


CONFIG = make_config()


def build(
    *,
    config: Config = CONFIG,
    rendered: Rendered = RENDERED,
    to: tuple[str, str] = ("Betty Smith", "betty@coach.example"),
    **overrides: Any,
) -> bytes:
    kwargs: dict[str, Any] = {
        "message_id": "<refmail.12.thank_you.0123456789abcdef@harbornet.example>",
        "reply_token": TOKEN,
        "referral_id": 12,
        "tag": "R-12",
        "in_reply_to": INTRO_ID,
        "references": [INTRO_ID],
        "list_unsubscribe": False,
        "date": DATE,
    }
    kwargs.update(overrides)
    return compose(config, rendered, to=to, **kwargs)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_wire_format(raw: bytes) -> None:
    """CRLF only, 7-bit, no line over 998 octets (RFC 5322 §2.1.1, §2.3)."""
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_headers(tmp_path: Any) -> None:
    raw = build()
    assert_wire_format(raw)
    msg = parse(raw)
    assert msg["From"].addresses[0].display_name == "Harbor Business Network"
    assert msg["From"].addresses[0].addr_spec == TRACKER
    assert [a.addr_spec for a in msg["To"].addresses] == ["betty@coach.example"]
    assert msg["To"].addresses[0].display_name == "Betty Smith"
    assert msg["Reply-To"].addresses[0].addr_spec == f"refs+{TOKEN}@harbornet.example"
    assert msg["Subject"] == "[R-12] A quick thank-you to Bob?"
    assert parsedate_to_datetime(msg["Date"]) == DATE
    assert msg["Message-ID"] == "<refmail.12.thank_you.0123456789abcdef@harbornet.example>"
    assert msg["In-Reply-To"] == INTRO_ID
    assert msg["References"] == INTRO_ID
    assert msg["Auto-Submitted"] == "auto-generated"
    # Out-of-office and rule replies held back, delivery reports not (they record bounces).
    assert msg["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert msg["X-Refmail"] == __version__
    assert msg["X-Refmail-Referral"] == "12"
    assert msg["List-Unsubscribe"] is None
    assert msg["Bcc"] is None and msg["Cc"] is None


def test_from_name_can_be_overridden() -> None:
    msg = parse(build(config=make_config(from_name="Harbor Referrals")))
    assert msg["From"].addresses[0].display_name == "Harbor Referrals"
    assert msg["From"].addresses[0].addr_spec == TRACKER


def test_body_is_multipart_alternative_text_then_html() -> None:
    rendered = Rendered(subject="s", text="Grüße, José — “thanks”\n", html="<p>Grüße, José</p>\n")
    raw = build(rendered=rendered)
    assert_wire_format(raw)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n") == rendered.html
    assert all(p["MIME-Version"] is None for p in parts)
    assert msg["MIME-Version"] == "1.0"


def test_an_answer_is_auto_replied_the_rest_auto_generated() -> None:
    """RFC 3834 §5: ``auto-replied`` for a message that answers another (the acknowledgement)."""
    assert parse(build(auto_submitted="auto-replied"))["Auto-Submitted"] == "auto-replied"
    with pytest.raises(ValueError, match="Auto-Submitted"):
        build(auto_submitted="no")


def test_list_unsubscribe_by_default() -> None:
    assert parse(build(list_unsubscribe=False))["List-Unsubscribe"] is None
    raw = build(list_unsubscribe=True)
    assert f"\r\nList-Unsubscribe: <mailto:refs+{TOKEN}@harbornet.example?subject=STOP>\r\n".encode() in raw
    msg = parse(raw)
    value = msg["List-Unsubscribe"]
    assert value.startswith("<") and value.endswith(">")
    uri = urlsplit(value[1:-1])
    assert (uri.scheme, uri.path, uri.query) == ("mailto", f"refs+{TOKEN}@harbornet.example", "subject=STOP")


def test_no_threading_headers_for_a_fresh_message() -> None:
    msg = parse(build(in_reply_to=None, references=[]))
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_long_message_ids_are_folded_between_ids_never_encoded() -> None:
    long_ids = [f"<{'a' * 90}{i}@mail.gmail.example>" for i in range(3)]
    raw = build(in_reply_to=long_ids[-1], references=long_ids[:-1])
    assert_wire_format(raw)
    assert b"=?" not in raw.split(b"\r\n\r\n")[0].replace(b"Subject", b"")
    msg = parse(raw)
    assert msg["References"].split() == long_ids
    assert msg["In-Reply-To"] == long_ids[-1]


def test_references_keep_the_intro_and_the_latest() -> None:
    ids = [f"<m{i}@x.example>" for i in range(30)]
    msg = parse(build(in_reply_to=ids[-1], references=ids))
    kept = msg["References"].split()
    assert kept[0] == ids[0] and kept[-1] == ids[-1] and len(kept) == 10


@pytest.mark.parametrize(
    "bad",
    ["<a@b>\r\nBcc: evil@x.example", "a@b\nBcc: x@y", "<no-at-sign>", "<a@b> <c@d>", "<é@x>",
     "<=?utf-8?q?a=0D=0ABcc:_x@y?=>", "=?utf-8?q?=3Ca=0D=0ABcc:_x@y=3E?="],
)
def test_foreign_message_ids_cannot_inject(bad: str) -> None:
    raw = build(in_reply_to=bad, references=[bad])
    assert_wire_format(raw)
    head = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert not [line for line in head if line.lower().startswith(b"bcc")]
    for line in head:
        if line.startswith((b"In-Reply-To:", b"References:")):
            for token in line.split(b" ")[1:]:
                # Kept verbatim (never decoded, never encoded) and only when a clean msg-id.
                assert re.fullmatch(rb"<[!-;=?-~]+@[!-;=?-~]+>", token)
                assert token.strip(b"<>") in bad.encode()
    assert parse(raw)["Bcc"] is None


INJECTIONS = [
    "Evil\r\nBcc: x@y.example",
    "Evil\nBcc: x@y.example",
    "Evil\rBcc: x@y.example",
    "Evil\r\n\r\n<html>body</html>",
    "Evil\x00\x1b[31m\x7f",
    "Evil\u2028Bcc: x@y.example",
    "Evil\x85Bcc: x@y.example",
    'Evil" <x@y.example>, "Other',
    "Evil\u202egnp.exe",
]


@pytest.mark.parametrize("name", INJECTIONS)
def test_header_injection_in_display_names(name: str) -> None:
    raw = build(to=(name, "carl@bakery.example"), config=make_config(from_name=name))
    assert_wire_format(raw)
    msg = parse(raw)
    assert len(msg.get_all("To")) == 1
    assert [a.addr_spec for a in msg["To"].addresses] == ["carl@bakery.example"]
    assert [a.addr_spec for a in msg["From"].addresses] == [TRACKER]
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert not msg.defects and all(not p.defects for p in msg.walk())
    shown = msg["To"].addresses[0].display_name
    assert "\r" not in shown and "\n" not in shown and "\u202e" not in shown
    assert shown.startswith("Evil")


@pytest.mark.parametrize("subject", INJECTIONS)
def test_header_injection_in_subjects(subject: str) -> None:
    raw = build(rendered=Rendered(subject=subject, text="t", html="<p>h</p>"))
    assert_wire_format(raw)
    msg = parse(raw)
    assert len(msg.get_all("Subject")) == 1 and len(msg.get_all("To")) == 1
    assert msg["Bcc"] is None
    assert msg["Subject"].startswith("[R-12] Evil")
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg.get_content_type() == "multipart/alternative"


def test_non_ascii_names_round_trip() -> None:
    raw = build(to=("José Müller 山田", "jose@example.es"), config=make_config(from_name="Réseau d’Affaires"))
    assert_wire_format(raw)
    msg = parse(raw)
    assert msg["To"].addresses[0].display_name == "José Müller 山田"
    assert msg["From"].addresses[0].display_name == "Réseau d’Affaires"


def test_international_domains_become_idna_and_local_parts_are_refused() -> None:
    msg = parse(build(to=("Jörg", "joerg@müller.example")))
    assert msg["To"].addresses[0].addr_spec == "joerg@xn--mller-kva.example"
    with pytest.raises(ValueError):
        build(to=("Jörg", "jörg@example.de"))


def test_name_that_is_the_address_is_dropped() -> None:
    raw = build(to=("carl@bakery.example", "carl@bakery.example"))
    assert b"To: carl@bakery.example\r\n" in raw


def test_long_lines_and_long_subjects_stay_within_limits() -> None:
    rendered = Rendered(subject="word " * 200 + "x" * 300, text="y" * 5000, html="<p>" + "z" * 5000 + "</p>")
    raw = build(rendered=rendered, to=("N" * 300, "carl@bakery.example"))
    assert_wire_format(raw)
    msg = parse(raw)
    assert len(msg["Subject"]) <= 200
    html = msg.get_body(("html",))
    assert html is not None and html.get_content().strip() == rendered.html


@pytest.mark.parametrize(
    "overrides",
    [
        {"date": datetime(2024, 11, 18, 9, 30)},  # naive
        {"reply_token": "r12.x@evil.example"},
        {"reply_token": "r12.ABC\r\nBcc: x"},
        {"tag": "R-12]\r\nBcc: x@y"},
        {"message_id": "not an id"},
    ],
)
def test_refuses_values_refmail_never_produces(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build(**overrides)


@pytest.mark.parametrize("address", ["", "carl", "carl@bakery.example\r\nBcc: x@y", "a b@c.example"])
def test_refuses_bad_addresses(address: str) -> None:
    with pytest.raises(ValueError):
        build(to=("Carl", address))


def test_new_message_id() -> None:
    first = new_message_id(CONFIG, 12, "thank_you")
    second = new_message_id(CONFIG, 12, "thank_you")
    assert re.fullmatch(r"<refmail\.12\.thank_you\.[0-9a-f]{16}@harbornet\.example>", first)
    assert first != second
    odd = new_message_id(CONFIG, 3, "x\r\ny")
    assert re.fullmatch(r"<refmail\.3\.x-y\.[0-9a-f]{16}@harbornet\.example>", odd)


def test_clean_header_text() -> None:
    assert clean_header_text("  a\r\n\tb\x00c\u2028d\u202ee  ") == "a b c d e"


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=120), subject=st.text(max_size=300))
def test_any_name_or_subject_gives_one_clean_message(name: str, subject: str) -> None:
    rendered = Rendered(subject=subject, text="t", html="<p>h</p>")
    raw = build(to=(name, "carl@bakery.example"), rendered=rendered)
    assert_wire_format(raw)
    msg = parse(raw)
    assert len(msg.get_all("To")) == 1 and len(msg.get_all("Subject")) == 1
    assert [a.addr_spec for a in msg["To"].addresses] == ["carl@bakery.example"]
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert msg["Subject"].startswith("[R-12]")
    assert msg["X-Refmail-Referral"] == "12"
    assert msg.get_content_type() == "multipart/alternative"


def test_date_in_utc_round_trips() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsedate_to_datetime(parse(build(date=when))["Date"]) == when


def test_long_non_ascii_subject_keeps_its_spaces() -> None:
    """Regression: folded encoded-words lost the space in "Jürgen Müller"."""
    from refmail.config import config_from_dict

    config = config_from_dict({"group": {"name": "G", "tracking_address": "refs@g.example"}})
    subject = "Got it: your introduction of Robert Nash and Emily Nash to Jürgen Müller"
    raw = compose(
        config, Rendered(subject, "text", "<p>html</p>"), to=("Jürgen Müller", "j@x.example"),
        message_id="<a@b.example>", reply_token="r7.abcdefghijklmnop", referral_id=7, tag="R-7",
        in_reply_to=None, references=[], list_unsubscribe=False,
        date=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == "[R-7] " + subject
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
