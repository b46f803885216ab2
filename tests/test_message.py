"""Reading raw messages: headers, addresses, bodies, charsets, forwards, reports."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from mailbuild import build, encoded_word, file_part, rfc822_part

from refmail.mail.message import (
    Address,
    decode_bytes,
    decode_header_value,
    is_forward_subject,
    parse_address_list,
    parse_message,
)

MAIL = Path(__file__).parent / "data" / "mail"
NADIA = ("Nadia Flores", "nadia@floresmarketing.example")
OMAR = ("Omar Haddad", "omar@haddadtech.example")
GRACE = ("Grace Liu", "grace@lumendental.example")


# -- headers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?Bj=C3=B6rn?= Lindqvist", "Björn Lindqvist"),
        ("=?UTF-8?B?THVjw61hIEfDs21leg==?=", "Lucía Gómez"),
        ("=?iso-8859-1?q?J=FCrgen?= =?iso-8859-1?q?_M=FCller?=", "Jürgen Müller"),
        ("=?windows-1252?Q?Pr=E9sentation_=96_test?=", "Présentation – test"),
        ("=?shift_jis?b?k/qWe4zq?=", "日本語"),
        ("Plain ASCII subject", "Plain ASCII subject"),
        ("Intro:\r\n Grace <> Omar", "Intro: Grace <> Omar"),
    ],
)
def test_decode_header_value(raw: str, expected: str) -> None:
    assert decode_header_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "=?utf-8?b?abc?=",  # bad base64 padding
        "=?bogus-charset?q?caf=E9?=",  # unknown charset
        "=?utf-8?q?unterminated",
        "=?utf-8?x?abc?=",  # unknown encoding letter
        "=?utf-8?q?=FF=FE?= end",  # invalid UTF-8
    ],
)
def test_broken_encoded_words_never_raise(raw: str) -> None:
    decoded = decode_header_value(raw)
    assert isinstance(decoded, str) and decoded


def test_unknown_charset_word_still_readable() -> None:
    assert decode_header_value("=?x-unknown?q?caf=C3=A9?=") == "café"


def test_raw_8bit_utf8_header_is_decoded() -> None:
    raw = "From: Björn <bjorn@x.example>\r\nSubject: Grüße\r\n\r\nbody".encode()
    msg = parse_message(raw)
    assert msg.subject == "Grüße"
    assert msg.from_ == Address("Björn", "bjorn@x.example")


def test_raw_8bit_latin1_header_is_decoded() -> None:
    raw = "Subject: Grüße aus Köln\r\nFrom: a@x.example\r\n\r\nbody".encode("latin-1")
    assert parse_message(raw).subject == "Grüße aus Köln"


# -- addresses ------------------------------------------------------------------
def test_addresses_are_lower_case_with_decoded_names() -> None:
    raw = build(
        sender=("Björn Lindqvist", "Bjorn@LindqvistLaw.example"),
        to=[("Doe, John", "JOHN@doe.example"), "plain@x.example"],
        cc=[("Lucía Gómez", "lucia@gomezarquitectos.example")],
    )
    msg = parse_message(raw)
    assert msg.from_ == Address("Björn Lindqvist", "bjorn@lindqvistlaw.example")
    assert msg.to == [Address("Doe, John", "john@doe.example"), Address("", "plain@x.example")]
    assert msg.cc == [Address("Lucía Gómez", "lucia@gomezarquitectos.example")]


def test_encoded_comma_in_display_name_does_not_split_the_address() -> None:
    name = encoded_word("Doe, John")
    raw = f"From: a@x.example\r\nTo: {name} <john@doe.example>, b@y.example\r\n\r\nhi".encode()
    msg = parse_message(raw)
    assert [a.address for a in msg.to] == ["john@doe.example", "b@y.example"]
    assert msg.to[0].name == "Doe, John"


def test_envelope_recipients_collect_all_three_headers() -> None:
    raw = build(
        sender=NADIA,
        to=[OMAR],
        headers=[
            ("Delivered-To", "Refs@harbornet.example"),
            ("X-Original-To", "refs+ask@harbornet.example"),
            ("X-Forwarded-To", "archive@harbornet.example"),
        ],
    )
    assert parse_message(raw).delivered_to == [
        "refs@harbornet.example",
        "refs+ask@harbornet.example",
        "archive@harbornet.example",
    ]


def test_null_return_path() -> None:
    assert parse_message(b"Return-Path: <>\r\n\r\nx").return_path == ""
    assert parse_message(b"Return-Path: <A@B.example>\r\n\r\nx").return_path == "a@b.example"
    assert parse_message(b"Subject: x\r\n\r\nx").return_path is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Nadia Flores <nadia@x.example>", [("Nadia Flores", "nadia@x.example")]),
        ('"Nadia Flores" <nadia@x.example>', [("Nadia Flores", "nadia@x.example")]),
        ("nadia@x.example", [("", "nadia@x.example")]),
        ("Nadia Flores [mailto:Nadia@X.example]", [("Nadia Flores", "nadia@x.example")]),
        ("Nadia Flores <mailto:nadia@x.example>", [("Nadia Flores", "nadia@x.example")]),
        ("nadia@x.example <nadia@x.example>", [("", "nadia@x.example")]),
        (
            "Flores, Nadia <nadia@x.example>; 'Liu, Grace' <grace@y.example>",
            [("Flores, Nadia", "nadia@x.example"), ("Liu, Grace", "grace@y.example")],
        ),
        (
            "Omar Haddad < omar@h.example >, Grace Liu < grace@y.example >",
            [("Omar Haddad", "omar@h.example"), ("Grace Liu", "grace@y.example")],
        ),
        ("Tom Becker", []),
    ],
)
def test_parse_address_list(value: str, expected: list[tuple[str, str]]) -> None:
    assert [(a.name, a.address) for a in parse_address_list(value)] == expected


# -- identifiers and dates -----------------------------------------------------
def test_message_ids_keep_angle_brackets() -> None:
    raw = (
        b"Message-ID:  <CAE7s9kQ2=Vn3@mail.gmail.example>  \r\n"
        b"In-Reply-To: <a.1@x.example> (Nadia's message of Thu)\r\n"
        b"References: <r.1@x.example>\r\n <r.2@x.example>\r\n"
        b"References: <r.3@x.example>\r\n\r\nx"
    )
    msg = parse_message(raw)
    assert msg.message_id == "<CAE7s9kQ2=Vn3@mail.gmail.example>"
    assert msg.in_reply_to == "<a.1@x.example>"
    assert msg.references == ["<r.1@x.example>", "<r.2@x.example>", "<r.3@x.example>"]


def test_date_iso_and_unreadable_date() -> None:
    assert parse_message(build(sender=NADIA)).date_iso == "2026-11-12T10:02:11-05:00"
    unknown_zone = parse_message(b"Date: Thu, 12 Nov 2026 10:02:11 -0000\r\n\r\nx")
    assert unknown_zone.date is not None and unknown_zone.date.tzinfo == UTC
    bad = parse_message(b"Date: the day after tomorrow\r\n\r\nx")
    assert bad.date is None
    assert any("Date" in d for d in bad.defects)


# -- bodies and charsets ---------------------------------------------------------
TEXT = "Grüße, café – “quoted” naïve"


@pytest.mark.parametrize(
    ("charset", "cte"),
    [
        ("utf-8", "8bit"),
        ("utf-8", "base64"),
        ("utf-8", "quoted-printable"),
        ("iso-8859-1", "quoted-printable"),
        ("windows-1252", "quoted-printable"),
        ("windows-1252", "base64"),
    ],
)
def test_body_charsets_and_transfer_encodings(charset: str, cte: str) -> None:
    text = TEXT if charset != "iso-8859-1" else "Grüße, café naïve"
    msg = parse_message(build(sender=NADIA, plain=text, charset=charset, cte=cte))
    assert msg.text == text


def test_shift_jis_body() -> None:
    text = "オマールさん、グレースさんを紹介します。"
    msg = parse_message(build(sender=NADIA, plain=text, charset="shift_jis", cte="base64"))
    assert msg.text == text


def test_mislabelled_and_unknown_charsets_fall_back() -> None:
    # 8-bit UTF-8 declared as us-ascii: the common lie.
    mislabelled = parse_message(b'Content-Type: text/plain; charset="us-ascii"\r\n\r\n' + "café".encode())
    assert mislabelled.text == "café"
    unknown_utf8 = parse_message(b"Content-Type: text/plain; charset=x-klingon\r\n\r\n" + "café".encode())
    assert unknown_utf8.text == "café"
    unknown_latin1 = parse_message(
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n" + "café crème".encode("latin-1")
    )
    assert unknown_latin1.text == "café crème"
    not_text_codec = parse_message(b"Content-Type: text/plain; charset=base64\r\n\r\nhello")
    assert not_text_codec.text == "hello"


def test_decode_bytes_prefers_the_declared_charset() -> None:
    assert decode_bytes("Grüße".encode("cp1252"), "windows-1252") == "Grüße"
    assert decode_bytes("Grüße".encode(), "iso-8859-1") == "Grüße"  # mislabelled UTF-8
    assert decode_bytes(b"\x81\x82 broken sjis \x80", "shift_jis")  # replacement, no raise


def test_alternative_prefers_plain_and_keeps_html_text() -> None:
    msg = parse_message(build(sender=NADIA, plain="plain words", html="<p>html <b>words</b></p>"))
    assert msg.text == "plain words"
    assert msg.html_text == "html words"
    assert not msg.text_from_html


def test_html_only_message_is_converted() -> None:
    html = "<html><body><p>Omar, meet Grace.</p><p>She&#39;s looking for IT help.</p></body></html>"
    msg = parse_message(build(sender=NADIA, plain=None, html=html, cte="quoted-printable"))
    assert msg.text == "Omar, meet Grace.\n\nShe's looking for IT help."
    assert msg.text_from_html


def test_html_with_xml_declaration_and_meta_charset() -> None:
    html = (
        '<?xml version="1.0" encoding="utf-8"?><html><head><meta charset="windows-1252">'
        "</head><body>caf\xe9</body></html>"
    )
    raw = b"Content-Type: text/html\r\n\r\n" + html.encode("cp1252")
    assert parse_message(raw).text == "café"


def test_attachments_are_skipped_and_inline_parts_kept() -> None:
    raw = build(
        sender=NADIA,
        plain="The intro text.",
        attachments=[
            file_part("application/pdf", "brochure.pdf", b"%PDF-1.4 binary"),
            file_part("text/plain", "notes.txt", b"attached notes, not the body"),
        ],
    )
    msg = parse_message(raw)
    assert msg.text == "The intro text."
    assert msg.attachments == [] and msg.forwarded is None


def test_multipart_related_html_inside_alternative_without_plain() -> None:
    raw = (
        b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n'
        b'--A\r\nContent-Type: multipart/related; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/html\r\n\r\n<div>From <i>related</i></div>\r\n"
        b"--B\r\nContent-Type: image/png\r\n\r\nPNG\r\n--B--\r\n--A--\r\n"
    )
    assert parse_message(raw).text == "From related"


# -- forwards ----------------------------------------------------------------------
GMAIL_FWD = """Please track this.

---------- Forwarded message ---------
From: Nadia Flores <nadia@floresmarketing.example>
Date: Thu, Nov 12, 2026 at 10:02 AM
Subject: Intro: Grace <> Omar
To: Omar Haddad <omar@haddadtech.example>, Grace Liu <grace@lumendental.example>
Cc: Tom Becker <tom.becker@beckerroofing.example>


Omar, meet Grace.

Nadia
"""

OUTLOOK_FWD = """FYI

________________________________
{from_}: Nadia Flores <nadia@floresmarketing.example>
{sent}: Thursday, 12 November 2026 16:02
{to}: Omar Haddad <omar@haddadtech.example>; Grace Liu <grace@lumendental.example>
{cc}: Tom Becker <tom.becker@beckerroofing.example>
{subject}: Intro

Omar, meet Grace.
"""


def _assert_intro_forward(msg_text: str, subject: str, style: str) -> None:
    msg = parse_message(build(sender=NADIA, to=["refs@harbornet.example"], subject=subject, plain=msg_text))
    forward = msg.forwarded
    assert forward is not None, msg_text
    assert forward.style == style
    assert forward.from_ == Address("Nadia Flores", "nadia@floresmarketing.example")
    assert [a.address for a in forward.to] == ["omar@haddadtech.example", "grace@lumendental.example"]
    assert [(a.name, a.address) for a in forward.cc] == [("Tom Becker", "tom.becker@beckerroofing.example")]
    assert forward.text.startswith("Omar, meet Grace.")
    assert "Please track" not in forward.text and "FYI" not in forward.text


def test_gmail_inline_forward() -> None:
    _assert_intro_forward(GMAIL_FWD, "Fwd: Intro: Grace <> Omar", "gmail")


@pytest.mark.parametrize(
    ("words", "prefix"),
    [
        (("From", "Sent", "To", "Cc", "Subject"), "FW:"),
        (("Von", "Gesendet", "An", "Cc", "Betreff"), "WG:"),
        (("De", "Enviado", "Para", "CC", "Asunto"), "RV:"),
        (("De ", "Envoyé ", "À ", "Cc ", "Objet "), "TR :"),
        (("De\u00a0", "Envoyé\u00a0", "À\u00a0", "Cc\u00a0", "Objet\u00a0"), "TR:"),
        # issue 16: the labels and prefixes of every language in refmail.mail.reply_words
        (("Da", "Inviato", "A", "Cc", "Oggetto"), "I:"),
        (("De", "Enviado", "Para", "Cc", "Assunto"), "ENC:"),
        (("Van", "Verzonden", "Aan", "CC", "Onderwerp"), "Doorst:"),
        (("Od", "Wysłano", "Do", "DW", "Temat"), "PD:"),
        (("Från", "Skickat", "Till", "Kopia", "Ämne"), "VB:"),
        (("Fra", "Sendt", "Til", "Cc", "Emne"), "VS:"),
        (("Lähettäjä", "Lähetetty", "Vastaanottaja", "Kopio", "Aihe"), "VL:"),
        (("Feladó", "Elküldve", "Címzett", "Másolat", "Tárgy"), "Tov:"),
    ],
)
def test_outlook_inline_forwards_in_many_languages(words: tuple[str, ...], prefix: str) -> None:
    text = OUTLOOK_FWD.format(**dict(zip(("from_", "sent", "to", "cc", "subject"), words, strict=True)))
    _assert_intro_forward(text, f"{prefix} Intro", "outlook")


def test_outlook_original_message_marker_with_mailto() -> None:
    text = (
        "FYI\n\n-----Original Message-----\n"
        "From: Nadia Flores [mailto:nadia@floresmarketing.example]\n"
        "Sent: Thursday, November 12, 2026 10:02 AM\n"
        "To: Omar Haddad; Grace Liu\n"
        "Cc: Tom Becker [mailto:tom.becker@beckerroofing.example]\n"
        "Subject: Intro\n\nOmar, meet Grace.\n"
    )
    msg = parse_message(build(sender=NADIA, subject="FW: Intro", plain=text))
    assert msg.forwarded is not None
    assert msg.forwarded.from_ == Address("Nadia Flores", "nadia@floresmarketing.example")
    # Exchange wrote only names for the To line: nothing to guess from.
    assert msg.forwarded.to == []
    assert msg.forwarded.cc[0].address == "tom.becker@beckerroofing.example"


def test_apple_mail_forward() -> None:
    text = (
        "Please track this.\n\nBegin forwarded message:\n\n"
        "From: Nadia Flores <nadia@floresmarketing.example>\n"
        "Subject: Intro\nDate: November 12, 2026 at 10:02:11 AM EST\n"
        "To: Omar Haddad <omar@haddadtech.example>, Grace Liu <grace@lumendental.example>\n"
        "Cc: Tom Becker <tom.becker@beckerroofing.example>\n\nOmar, meet Grace.\n"
    )
    _assert_intro_forward(text, "Fwd: Intro", "apple")


def test_thunderbird_forward_with_tabs() -> None:
    text = (
        "Please track this.\n\n-------- Forwarded Message --------\n"
        "Subject: \tIntro\nDate: \tThu, 12 Nov 2026 10:02:11 -0500\n"
        "From: \tNadia Flores <nadia@floresmarketing.example>\n"
        "To: \tOmar Haddad <omar@haddadtech.example>, Grace Liu <grace@lumendental.example>\n"
        "CC: \tTom Becker <tom.becker@beckerroofing.example>\n\n\nOmar, meet Grace.\n"
    )
    _assert_intro_forward(text, "Fwd: Intro", "thunderbird")


def test_forward_in_html_only_mail() -> None:
    html = (
        "<div>Please track this.<br><br>---------- Forwarded message ---------<br>"
        "From: <strong>Nadia Flores</strong> <span>&lt;<a href='mailto:nadia@floresmarketing"
        ".example'>nadia@floresmarketing.example</a>&gt;</span><br>Date: Thu<br>"
        "Subject: Intro<br>To: Omar Haddad &lt;omar@haddadtech.example&gt;, Grace Liu &lt;"
        "grace@lumendental.example&gt;<br>Cc: Tom Becker &lt;tom.becker@beckerroofing.example"
        "&gt;<br></div><br><div>Omar, meet Grace.</div>"
    )
    msg = parse_message(build(sender=NADIA, subject="Fwd: Intro", plain=None, html=html))
    assert msg.forwarded is not None and msg.forwarded.style == "gmail"
    assert [a.address for a in msg.forwarded.to] == ["omar@haddadtech.example", "grace@lumendental.example"]
    assert msg.forwarded.text.startswith("Omar, meet Grace.")


def test_outlook_reply_history_is_not_a_forward() -> None:
    text = OUTLOOK_FWD.format(from_="From", sent="Sent", to="To", cc="Cc", subject="Subject")
    assert parse_message(build(sender=NADIA, subject="RE: Intro", plain=text)).forwarded is None


def test_forward_marker_below_quoted_history_is_ignored() -> None:
    text = "Sounds good.\n\nOn Thu, Nov 12, 2026 at 10:02 AM Nadia wrote:\n> hi\n" + GMAIL_FWD
    assert parse_message(build(sender=NADIA, subject="Re: x", plain=text)).forwarded is None


def test_inner_body_stops_at_the_next_quoted_message() -> None:
    text = GMAIL_FWD + "\nOn Wed, Nov 11, 2026 at 9:00 AM Grace Liu <grace@x.example> wrote:\n> old"
    msg = parse_message(build(sender=NADIA, subject="Fwd: Intro", plain=text))
    assert msg.forwarded is not None
    assert msg.forwarded.text == "Omar, meet Grace.\n\nNadia"


def test_forward_as_attachment() -> None:
    inner = build(
        sender=NADIA,
        to=[OMAR, GRACE],
        subject="Intro: Grace <> Omar",
        plain="Omar, meet Grace.",
        message_id="<inner.1@mail.gmail.example>",
    )
    outer = build(sender=NADIA, subject="FW: Intro", plain="see attached", attachments=[rfc822_part(inner)])
    msg = parse_message(outer)
    assert msg.text == "see attached"
    forward = msg.forwarded
    assert forward is not None and forward.style == "attachment"
    assert forward.message is not None and forward.message.message_id == "<inner.1@mail.gmail.example>"
    assert forward.from_ == Address("Nadia Flores", "nadia@floresmarketing.example")
    assert [a.address for a in forward.to] == ["omar@haddadtech.example", "grace@lumendental.example"]
    assert forward.text == "Omar, meet Grace."


def test_eml_file_attached_as_octet_stream_is_a_forward() -> None:
    inner = build(sender=NADIA, to=[OMAR, GRACE], plain="Omar, meet Grace.")
    outer = build(
        sender=NADIA,
        subject="Intro",
        plain="attached",
        attachments=[file_part("application/octet-stream", "intro.eml", inner)],
    )
    forward = parse_message(outer).forwarded
    assert forward is not None and forward.style == "attachment"
    assert forward.text == "Omar, meet Grace."


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Fwd: x", True),
        ("FW: x", True),
        ("WG: x", True),
        ("RV: x", True),
        ("TR : x", True),
        ("Enc: x", True),
        ("[Fwd: x]", True),
        ("Re: Fwd: x", False),
        ("Forward planning", False),
        ("Intro: x", False),
        ("", False),
    ],
)
def test_is_forward_subject(subject: str, expected: bool) -> None:
    assert is_forward_subject(subject) is expected


# -- reports -----------------------------------------------------------------------
def test_delivery_status_report() -> None:
    msg = parse_message((MAIL / "dsn-bounce.eml").read_bytes())
    assert msg.is_multipart_report and msg.report_type == "delivery-status"
    recipient = msg.delivery_status[1]
    assert recipient["final-recipient"] == "rfc822; grace@lumendental.example"
    assert recipient["action"] == "failed" and recipient["status"] == "5.1.1"
    assert msg.returned is not None
    assert msg.returned.message_id == "<refmail.7.feedback.grace@harbornet.example>"
    assert msg.returned.from_ is not None
    assert msg.returned.from_.address == "refs+r7.x2k9@harbornet.example"
    # Only the human-readable notice is the body; the original is not a forward.
    assert "could not\nbe delivered" in msg.text and "X-Refmail" not in msg.text
    assert msg.forwarded is None


# -- robustness ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: text/plain; charset=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!*",
        b'From: <<<>>>@@@, "unterminated\r\nTo: ,,,\r\n\r\n',
    ],
)
def test_malformed_input_never_raises(raw: bytes) -> None:
    msg = parse_message(raw)
    assert isinstance(msg.text, str)
    assert msg.raw_size == len(raw)


def test_absurd_nesting_is_cut_with_a_defect() -> None:
    depth = 200
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)
    )
    raw = head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    msg = parse_message(raw)
    assert msg.text in ("", "deep")
    assert msg.defects


@pytest.mark.parametrize("path", sorted(MAIL.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_parses_without_defects(path: Path) -> None:
    msg = parse_message(path.read_bytes())
    assert msg.defects == []
    assert msg.from_ is not None and msg.message_id and msg.date is not None


# -- calendar parts (issue 16): invitations are read as such, not as intros -----------------
OUTLOOK_INVITE = (
    b"From: Nadia Flores <nadia@floresmarketing.example>\r\n"
    b"To: Grace Liu <grace@lumendental.example>, Omar Haddad <omar@haddadtech.example>\r\n"
    b"CC: refs@riverside.example\r\nSubject: Coffee: Grace and Omar\r\n"
    b"Date: Mon, 23 Nov 2026 09:00:00 -0500\r\nMessage-ID: <BN6PR1@BN6PR1.namprd01.prod.outlook.example>\r\n"
    b"Content-Type: multipart/alternative; boundary=\"_000_BN6PR1_\"\r\nMIME-Version: 1.0\r\n"
    b"Content-class: urn:content-classes:calendarmessage\r\nThread-Topic: Coffee: Grace and Omar\r\n"
    b"Thread-Index: AdrBcDEFghijklmnopqrstuvwxyz\r\n\r\n"
    b"--_000_BN6PR1_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n"
    b"Grace, meet Omar. Grace is looking for IT support; Omar is the IT person I mentioned.\r\n\r\n"
    b"--_000_BN6PR1_\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6UkVRVUVTVA0KRU5EOlZDQUxFTkRBUg0K\r\n\r\n"
    b"--_000_BN6PR1_--\r\n"
)
GMAIL_INVITE = (
    b"From: Nadia Flores <nadia@floresmarketing.example>\r\n"
    b"To: grace@lumendental.example, omar@haddadtech.example, refs@riverside.example\r\n"
    b"Subject: Invitation: Coffee @ Mon Nov 30, 2026 10am - 11am (EST)\r\n"
    b"Message-ID: <000000000000abc123@google.com>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n"
    b"--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
    b"--alt\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\nYou have been invited to Coffee.\r\n"
    b"--alt\r\nContent-Type: text/calendar; charset=\"UTF-8\"\r\n\r\n"
    b"BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nSUMMARY:Coffee\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    b"--alt--\r\n"
    b"--mixed\r\nContent-Type: application/ics; name=\"invite.ics\"\r\n"
    b"Content-Disposition: attachment; filename=\"invite.ics\"\r\n\r\n"
    b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n--mixed--\r\n"
)


def test_calendar_parts_are_found_with_their_method() -> None:
    outlook = parse_message(OUTLOOK_INVITE)
    assert outlook.calendar_method == "REQUEST"
    assert outlook.text.startswith("Grace, meet Omar.")  # the text part is still read
    assert parse_message(GMAIL_INVITE).calendar_method == "REQUEST"  # from METHOD: in the body
    assert parse_message(b"From: a@x.example\r\nSubject: hi\r\n\r\nhello").calendar_method is None
