"""Classification of raw messages: the ``refmail parse`` contract (SPEC "The contracts")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailbuild import build, rfc822_part
from shared import SHARED

import refmail.reading.rules.intro as intro_rules
import refmail.reading.rules.replies as reply_rules
from refmail.config import Config, load_config
from refmail.mail.message import parse_message
from refmail.reading.classification import KIND_OF, Classification, RuleName
from refmail.reading.classifier import classify, classify_parsed
from refmail.reading.roles import Roles

HERE = Path(__file__).parent
MAIL = HERE / "data" / "mail"
SAMPLES = SHARED / "samples"
CPYTHON = SHARED / "corpus" / "mime" / "cpython-test-email"
KINDS = {"intro", "reply", "bounce", "ignored"}

NADIA = ("Nadia Flores", "nadia@floresmarketing.example")
NADIA_ALIAS = ("Nadia Flores", "nadia.flores@gmail.example")
OMAR = ("Omar Haddad", "omar@haddadtech.example")
GRACE = ("Grace Liu", "grace@lumendental.example")
SAM = ("Sam Porter", "sam@outsider.example")
REFS = ("Harbor Referrals", "refs@harbornet.example")
INTRO_TEXT = (
    "Omar, meet Grace. Grace runs Lumen Dental and is looking for someone to look after "
    "her computers.\n\nGrace, Omar is the IT person I told you about.\n\nNadia\n"
)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(MAIL / "group.toml")


@pytest.fixture(scope="module")
def open_config() -> Config:
    from refmail.config import config_from_dict

    return config_from_dict(
        {
            "group": {
                "name": "Open",
                "tracking_address": "refs@harbornet.example",
                "open_membership": True,
            },
            "members": [{"name": "Omar Haddad", "email": "omar@haddadtech.example"}],
        }
    )


def run(raw: bytes, config: Config) -> Classification:
    """classify() without its last-resort catch, so a bug fails the test."""
    return classify_parsed(parse_message(raw), config)


def intro(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "sender": NADIA,
        "to": [OMAR, GRACE],
        "cc": [REFS],
        "subject": "Intro: Grace <> Omar",
        "plain": INTRO_TEXT,
    }
    fields.update(overrides)
    return build(**fields)


# -- the fixture messages, each against the full contract ------------------------
FIXTURES: dict[str, dict[str, Any]] = {
    "intro-cc.eml": {
        "kind": "intro",
        "rule": "intro",
        "reason": "introduction by nadia@floresmarketing.example to 2 parties",
        "message_id": "<CAE7s9kQ2=Vn3xYpL0qq@mail.gmail.example>",
        "referrer": "nadia@floresmarketing.example",
        "provider": "omar@haddadtech.example",
        "prospects": ["grace@lumendental.example"],
        "parties": ["omar@haddadtech.example", "grace@lumendental.example"],
        "recipients": ["omar@haddadtech.example", "grace@lumendental.example"],
        "date": "2026-11-12T10:02:11-05:00",
        "names": {"omar@haddadtech.example": "Omar Haddad", "grace@lumendental.example": "Grace Liu"},
    },
    "intro-bcc.eml": {
        "kind": "intro",
        "rule": "intro",
        "referrer": "tom.becker@beckerroofing.example",  # sent from an alias
        "sender": "tom.becker@beckerroofing.example",
        "provider": "mei@chencpa.example",
        "prospects": ["dave@fischerbakery.example"],
        "parties": ["mei@chencpa.example", "dave@fischerbakery.example"],
        "names": {"dave@fischerbakery.example": "Dave Fischer"},
    },
    "fwd-gmail-inline.eml": {
        "kind": "intro",  # despite In-Reply-To/References
        "rule": "forwarded_intro",
        "reason": "inline forward (Gmail)",
        "message_id": "<CAE7s9kR88fwd0001@mail.gmail.example>",
        "referrer": "nadia@floresmarketing.example",
        "provider": "omar@haddadtech.example",
        "prospects": ["grace@lumendental.example"],
        "parties": ["omar@haddadtech.example", "grace@lumendental.example"],
        "forwarded": True,
        "in_reply_to": "<CAE7s9kQ2=Vn3xYpL0qq@mail.gmail.example>",
    },
    "fwd-outlook-inline.eml": {
        "kind": "intro",
        "rule": "forwarded_intro",
        "reason": "inline forward (Outlook)",
        "referrer": "tom.becker@beckerroofing.example",
        "provider": "bjorn@lindqvistlaw.example",
        "parties": [
            "bjorn@lindqvistlaw.example",
            "sara.okafor@okaforhomes.example",
            "mei@chencpa.example",
        ],
        "forwarded": True,
        "names": {"sara.okafor@okaforhomes.example": "Sara Okafor"},
    },
    "fwd-apple.eml": {
        "kind": "intro",
        "rule": "forwarded_intro",
        "reason": "inline forward (Apple Mail)",
        "referrer": "mei@chencpa.example",
        "provider": "omar@haddadtech.example",
        "parties": [
            "priya@ramanyoga.example",
            "omar@haddadtech.example",
            "jorge@alvarezlandscaping.example",
        ],
        "forwarded": True,
    },
    "fwd-attachment.eml": {
        "kind": "intro",  # despite In-Reply-To/References
        "rule": "forwarded_intro",
        "reason": "forwarded as an attachment",
        "message_id": "<BY5PR11MB3990FWD2ATT@BY5PR11MB3990.namprd11.prod.outlook.example>",
        "referrer": "nadia@floresmarketing.example",  # alias mapped to the member
        "provider": "lucia@gomezarquitectos.example",
        "prospects": ["jorge@alvarezlandscaping.example"],
        "parties": ["lucia@gomezarquitectos.example", "jorge@alvarezlandscaping.example"],
        "forwarded": True,
        "names": {"lucia@gomezarquitectos.example": "Lucía Gómez"},
    },
    "fwd-outlook-de.eml": {
        "kind": "intro",
        "rule": "forwarded_intro",
        "referrer": "klaus@weber-steuer.example",
        "provider": "bjorn@lindqvistlaw.example",
        "prospects": ["juergen@mueller-werkstatt.example"],
        "parties": ["juergen@mueller-werkstatt.example", "bjorn@lindqvistlaw.example"],
        "forwarded": True,
        "subject": "WG: Vorstellung: Jürgen Müller & Björn Lindqvist",
    },
    "intro-html-only.eml": {
        "kind": "intro",
        "rule": "intro",
        "referrer": "omar@haddadtech.example",
        "provider": "mei@chencpa.example",
        "prospects": ["carla@rossicafe.example"],
        "parties": ["mei@chencpa.example", "carla@rossicafe.example"],
        "subject": "Intro: Carla – Mei",
        "names": {"omar@haddadtech.example": "Haddad, Omar"},
    },
    "intro-de.eml": {
        "kind": "intro",
        "rule": "intro",
        "referrer": "klaus@weber-steuer.example",
        "provider": "bjorn@lindqvistlaw.example",
        "prospects": ["juergen@mueller-werkstatt.example"],
        "parties": ["juergen@mueller-werkstatt.example", "bjorn@lindqvistlaw.example"],
        "subject": "Vorstellung: Jürgen Müller & Björn Lindqvist",
        "names": {
            "juergen@mueller-werkstatt.example": "Jürgen Müller",
            "bjorn@lindqvistlaw.example": "Björn Lindqvist",
        },
    },
    "intro-es.eml": {
        "kind": "intro",
        "rule": "intro",
        "referrer": "nadia@floresmarketing.example",
        "provider": "lucia@gomezarquitectos.example",
        "prospects": ["jorge@alvarezlandscaping.example"],
        "parties": ["lucia@gomezarquitectos.example", "jorge@alvarezlandscaping.example"],
        "subject": "Presentación: Jorge Álvarez y Lucía Gómez",
        "names": {"jorge@alvarezlandscaping.example": "Jorge Álvarez"},
    },
    "intro-fr.eml": {
        "kind": "intro",
        "rule": "intro",
        "referrer": "mei@chencpa.example",
        "provider": "elodie@martin-conseil.example",
        "prospects": ["helene@cliniquedubois.example"],
        "parties": ["elodie@martin-conseil.example", "helene@cliniquedubois.example"],
        "subject": "Présentation : Hélène – Élodie",
        "names": {"helene@cliniquedubois.example": "Hélène Dubois"},
    },
    "reply-all-thread.eml": {
        "kind": "reply",
        "rule": "thread_reply",
        "reason": "reply in a thread",
        "message_id": "<CAGrace0reply77@mail.gmail.example>",
        "referrer": None,
        "parties": [],
        "in_reply_to": "<CAE7s9kQ2=Vn3xYpL0qq@mail.gmail.example>",
        "references": ["<CAE7s9kQ2=Vn3xYpL0qq@mail.gmail.example>"],
        "recipients": ["omar@haddadtech.example", "nadia@floresmarketing.example"],
        "sender": "grace@lumendental.example",
        "token": None,
        "reply_text": "Thanks Nadia! Omar, could you come by on Tuesday morning? We open at 9.\n\nGrace",
        "as_intro": None,  # Grace is not a member
    },
    "reply-token-html.eml": {
        "kind": "reply",
        "rule": "token_reply",
        "reason": "plus token r12.q7w8",
        "token": "r12.q7w8",
        "sender": "tom.becker@beckerroofing.example",
        "reply_text": "THANKS – I called Mei yesterday to say thank you.\nTom",
        "command": {"thanks": True, "status": None, "stop": False},
        "as_intro": None,
    },
    "auto-reply.eml": {
        "rule": "auto_submitted",
        "kind": "ignored",
        "reason": "auto-reply (Auto-Submitted: auto-replied",
    },
    "oof-exchange.eml": {
        "rule": "exchange_generated",
        "kind": "ignored",
        "reason": "out-of-office (Exchange",
    },
    "list-newsletter.eml": {"rule": "list_mail", "kind": "ignored", "reason": "mailing-list mail (List-Id"},
    "dsn-bounce.eml": {
        "kind": "bounce",
        "rule": "dsn_failure",
        "reason": "delivery failure for grace@lumendental.example (Status: 5.1.1)",
        "message_id": "<20261123130005.9C1F2E3D@mx.harbornet.example>",
        "failed_recipient": "grace@lumendental.example",
        "in_reply_to": "<refmail.7.feedback.grace@harbornet.example>",
        "references": [
            "<CAE7s9kQ2=Vn3xYpL0qq@mail.gmail.example>",
            "<refmail.7.feedback.grace@harbornet.example>",
        ],
        "token": "r7.x2k9",
    },
    "bounce-exim.eml": {
        "kind": "bounce",
        "rule": "text_bounce",
        "failed_recipient": "bjorn@lindqvist-law.example",
        "in_reply_to": "<refmail.9.thanks.bjorn@harbornet.example>",
        "token": "r9.a1b2",
    },
    "refmail-own.eml": {
        "rule": "own_mail",
        "kind": "ignored",
        "reason": "refmail's own message coming back (X-Refmail",
    },
    "note-no-second-party.eml": {
        "kind": "ignored",
        "rule": "no_second_party",
        "reason": "note with no second party",
        "recipients": ["grace@lumendental.example"],
    },
    "non-member.eml": {
        "kind": "ignored",
        "rule": "not_a_member",
        "reason": "sender sam@outsider.example is not a member",
    },
}


def test_every_fixture_file_has_expectations() -> None:
    assert sorted(p.name for p in MAIL.glob("*.eml")) == sorted(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_contract(name: str, config: Config) -> None:
    result = run((MAIL / name).read_bytes(), config)
    expected = FIXTURES[name]
    data = result.to_json()
    assert set(data) >= {
        "kind",
        "reason",
        "message_id",
        "referrer",
        "provider",
        "prospects",
        "parties",
        "reply_text",
        "command",
    }
    json.dumps(data)  # the parse --json output must serialise
    assert data["rule"] == result.rule and result.kind == KIND_OF[result.rule]
    for key, value in expected.items():
        if key == "reason":
            assert value in result.reason, result.reason
        elif key == "names":
            assert {k: result.names.get(k) for k in value} == value
        elif key == "command":
            assert result.command is not None
            assert {k: getattr(result.command, k) for k in value} == value
        elif key == "as_intro":
            assert (result.as_intro is None) is (value is None)
        else:
            assert getattr(result, key) == value, key
    if result.kind == "intro":
        assert result.parties and result.referrer not in result.parties
        assert all(not config.is_tracking_address(a) for a in [*result.parties, *result.recipients])
        assert set(result.prospects) <= set(result.parties)
        assert result.reply_text is None and result.command is None
    if result.kind == "reply":
        assert result.reply_text and result.command is not None
    if result.kind in ("bounce", "ignored"):
        assert result.referrer is None and result.parties == []


# -- the shared samples ---------------------------------------------------------------
def test_samples_give_expected_json() -> None:
    config = load_config(SAMPLES / "group.toml")
    expected = json.loads((SAMPLES / "expected.json").read_text())
    for name, want in expected.items():
        got = classify((SAMPLES / name).read_bytes(), config).to_json()
        for key, value in want.items():
            if key == "reply_text_starts":
                assert got["reply_text"].startswith(value), name
            elif key == "command":
                assert {k: got["command"][k] for k in value} == value, name
            else:
                assert got[key] == value, (name, key)


def test_sample_reply_fields() -> None:
    config = load_config(SAMPLES / "group.toml")
    result = classify((SAMPLES / "reply-outlook.eml").read_bytes(), config)
    assert result.token == "r7.x2k9"
    assert result.message_id == "<SN6PR01MB4422C0FFEE@SN6PR01MB4422.namprd01.prod.outlook.example>"
    assert result.reply_text is not None and "How did it go?" not in result.reply_text
    assert result.as_intro is None


# -- 1. mail that must never start a referral ------------------------------------------------
@pytest.mark.parametrize(
    ("header", "reason", "rule"),
    [
        (("Auto-Submitted", "auto-generated"), "Auto-Submitted: auto-generated", "auto_submitted"),
        (("Auto-Submitted", "auto-replied; owner-email=x@y.example"), "Auto-Submitted", "auto_submitted"),
        (("X-Autoreply", "yes"), "X-Autoreply", "autoreply_header"),
        (("X-Autorespond", "Out of office"), "X-Autorespond", "autoreply_header"),
        (("Precedence", "bulk"), "Precedence: bulk", "precedence"),
        (("Precedence", "junk"), "Precedence: junk", "precedence"),
        (("Precedence", "list"), "Precedence: list", "precedence"),
        (("Precedence", "auto_reply"), "Precedence: auto_reply", "precedence"),
        (("X-MS-Exchange-Inbox-Rules-Loop", "omar@haddadtech.example"), "Exchange", "exchange_generated"),
        (("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"), "Exchange", "exchange_generated"),
        (("List-Id", "<news.harborchamber.example>"), "List-Id", "list_mail"),
        (("List-Unsubscribe", "<mailto:unsub@x.example>"), "List-Unsubscribe", "list_mail"),
        (("List-Post", "<mailto:list@x.example>"), "List-Post", "list_mail"),
        # Nadia is not the tracker: to this group, that is another refmail writing.
        (("X-Refmail", "0.1.0"), "refmail's own message", "other_refmail"),
    ],
)
def test_automatic_mail_is_ignored_even_when_it_looks_like_an_intro(
    header: tuple[str, str], reason: str, rule: str, config: Config
) -> None:
    assert run(intro(), config).kind == "intro"  # the same message without the header
    result = run(intro(headers=[header]), config)
    assert (result.kind, result.rule) == ("ignored", rule)
    assert reason in result.reason


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Intro",
        "Out of Office: Intro",
        "Abwesenheitsnotiz: Vorstellung",
        "Respuesta automática: Presentación",
        "Réponse automatique : Présentation",
        "RE: Automatic reply: Intro",
    ],
)
def test_out_of_office_subjects(subject: str, config: Config) -> None:
    result = run(intro(subject=subject), config)
    assert (result.kind, result.reason.split(" (")[0]) == ("ignored", "out-of-office")
    assert result.rule == RuleName.OUT_OF_OFFICE_SUBJECT


def test_auto_submitted_no_and_outlook_suppress_header_are_ordinary_mail(config: Config) -> None:
    result = run(
        intro(client="outlook", headers=[("Auto-Submitted", "no")]), config
    )  # outlook shape carries X-Auto-Response-Suppress: All
    assert result.kind == "intro"


def test_mail_from_the_tracking_address_is_ignored(config: Config) -> None:
    for sender in ("refs@harbornet.example", "Refs+r7.x2k9@HarborNet.example"):
        result = run(intro(sender=("Harbor Referrals", sender)), config)
        assert result.kind == "ignored" and "refmail's own message" in result.reason


def test_refmail_reply_loop_with_thread_headers_is_ignored(config: Config) -> None:
    raw = intro(
        in_reply_to="<refmail.7.feedback.omar@harbornet.example>",
        headers=[("X-Refmail", "0.1.0"), ("Auto-Submitted", "auto-generated")],
    )
    assert run(raw, config).kind == "ignored"


def test_non_member_intro_is_ignored_but_non_member_reply_is_a_reply(config: Config) -> None:
    assert run(intro(sender=SAM), config).kind == "ignored"
    reply = run(
        build(
            sender=GRACE,
            to=[("Harbor Referrals", "refs+r7.x2k9@harbornet.example")],
            subject="Re: [R-7] How did it go?",
            plain="MET - we met on Tuesday.",
        ),
        config,
    )
    assert (reply.kind, reply.token) == ("reply", "r7.x2k9")
    assert reply.command is not None and reply.command.status == "meeting"


def test_open_membership_accepts_any_referrer(open_config: Config) -> None:
    result = run(intro(sender=SAM), open_config)
    assert result.kind == "intro" and result.referrer == "sam@outsider.example"


@pytest.mark.parametrize(
    ("to", "cc", "count"),
    [
        ([REFS], [], 0),
        ([REFS], [GRACE], 1),
        ([OMAR], [NADIA_ALIAS, ("Refs", "REFS@HarborNet.example")], 1),  # alias = referrer
    ],
)
def test_notes_with_fewer_than_two_parties_are_ignored(
    to: list[Any], cc: list[Any], count: int, config: Config
) -> None:
    result = run(intro(to=to, cc=cc), config)
    assert result.kind == "ignored"
    assert f"note with no second party: {count} part" in result.reason


def test_dsn_delay_is_not_a_bounce(config: Config) -> None:
    raw = (MAIL / "dsn-bounce.eml").read_bytes().replace(b"Action: failed", b"Action: delayed")
    result = run(raw.replace(b"Status: 5.1.1", b"Status: 4.4.7"), config)
    assert result.kind == "ignored" and "Action: delayed" in result.reason


def test_null_return_path_without_a_bounce_body_is_ignored(config: Config) -> None:
    result = run(intro(headers=[("Return-Path", "<>")]), config)
    assert result.kind == "ignored" and "null Return-Path" in result.reason


def test_read_receipt_report_is_ignored(config: Config) -> None:
    raw = (
        b"From: Omar Haddad <omar@haddadtech.example>\r\nTo: refs@harbornet.example\r\n"
        b"Subject: Read: Intro\r\nMessage-ID: <mdn.1@x.example>\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n'
        b"\r\n--R\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
        b"--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--R--\r\n"
    )
    result = run(raw, config)
    assert result.kind == "ignored" and "disposition-notification" in result.reason


def test_free_text_bounce_from_mailer_daemon_without_original(config: Config) -> None:
    raw = build(
        sender=("Mail Delivery Subsystem", "MAILER-DAEMON@relay.example"),
        to=["refs+r3.zz@harbornet.example"],
        subject="failure notice",
        plain="Hi. This is the qmail-send program at relay.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<nobody@gone.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n",
    )
    result = run(raw, config)
    assert result.kind == "bounce"
    assert result.failed_recipient == "nobody@gone.example"
    assert result.token == "r3.zz"  # the envelope sender it came back to


# -- 2. replies -------------------------------------------------------------------------------
def test_reply_all_in_thread_is_a_reply_with_intro_reading(config: Config) -> None:
    raw = build(
        sender=OMAR,
        to=[GRACE, NADIA],
        cc=[REFS],
        subject="Re: Intro: Grace <> Omar",
        plain="Grace, happy to help. Tuesday 9am works.\n\nOmar\n\n"
        "On Thu, Nov 12, 2026 at 10:02 AM Nadia Flores <nadia@floresmarketing.example> wrote:\n"
        "> Omar, meet Grace.\n",
        in_reply_to="<intro.1@mail.gmail.example>",
        references="<intro.1@mail.gmail.example>",
    )
    result = run(raw, config)
    assert result.kind == "reply" and result.token is None
    assert result.reply_text == "Grace, happy to help. Tuesday 9am works.\n\nOmar"
    assert result.recipients == ["grace@lumendental.example", "nadia@floresmarketing.example"]
    assert result.as_intro is not None and result.as_intro.kind == "intro"
    assert result.as_intro.referrer == "omar@haddadtech.example"
    assert result.as_intro.parties == ["grace@lumendental.example", "nadia@floresmarketing.example"]


def test_references_alone_make_a_reply(config: Config) -> None:
    result = run(intro(references="<older.1@x.example> <intro.1@x.example>"), config)
    assert result.kind == "reply" and "References <intro.1@x.example>" in result.reason
    assert result.as_intro is not None and result.as_intro.kind == "intro"


def test_plus_token_in_delivered_to_only_is_a_reply(config: Config) -> None:
    raw = build(
        sender=OMAR,
        to=["omar.assistant@haddadtech.example"],
        subject="x",
        plain="WON 1,200 EUR",
        headers=[("Delivered-To", "refs+r4.k2@harbornet.example")],
    )
    result = run(raw, config)
    assert (result.kind, result.token) == ("reply", "r4.k2")
    assert result.command is not None and result.command.status == "won"
    assert result.as_intro is None


def test_forward_of_refmail_nudge_with_thread_headers_stays_a_reply(config: Config) -> None:
    text = (
        "See below.\n\n---------- Forwarded message ---------\n"
        "From: Harbor Referrals <refs+r7.x2k9@harbornet.example>\n"
        "Date: Mon, Nov 23, 2026\nSubject: [R-7] How did it go?\n"
        "To: Omar Haddad <omar@haddadtech.example>\n\nHi Omar, how did it go?\n"
    )
    raw = build(
        sender=OMAR,
        to=[GRACE],
        cc=[("R", "refs+r7.x2k9@harbornet.example")],
        subject="Fwd: [R-7] How did it go?",
        plain=text,
        in_reply_to="<refmail.7.feedback.omar@harbornet.example>",
    )
    result = run(raw, config)
    assert (result.kind, result.token) == ("reply", "r7.x2k9")


def test_forward_as_attachment_with_thread_headers_is_an_intro(config: Config) -> None:
    inner = intro(message_id="<inner@x.example>")
    raw = build(
        sender=NADIA,
        to=[REFS],
        subject="Intro for the tracker",
        plain="attached",
        in_reply_to="<inner@x.example>",
        attachments=[rfc822_part(inner)],
    )
    result = run(raw, config)
    assert result.kind == "intro" and result.forwarded
    assert result.parties == ["omar@haddadtech.example", "grace@lumendental.example"]


def test_forward_by_someone_else_keeps_the_original_referrer(config: Config) -> None:
    # Grace forwards Nadia's intro to the tracker: Nadia is still the referrer.
    text = (
        "FYI\n\n---------- Forwarded message ---------\n"
        "From: Nadia Flores <nadia.flores@gmail.example>\nDate: Thu\nSubject: Intro\n"
        "To: Omar Haddad <omar@haddadtech.example>, Grace Liu <grace@lumendental.example>\n\n" + INTRO_TEXT
    )
    result = run(build(sender=GRACE, to=[REFS], subject="Fwd: Intro", plain=text), config)
    assert result.kind == "intro"
    assert result.referrer == "nadia@floresmarketing.example"
    assert result.sender == "grace@lumendental.example"
    assert result.parties == ["omar@haddadtech.example", "grace@lumendental.example"]


# -- 3. intros ---------------------------------------------------------------------------------
def test_bcc_intro_has_no_tracker_in_headers(config: Config) -> None:
    raw = intro(cc=[], headers=[("Delivered-To", "refs@harbornet.example")])
    result = run(raw, config)
    assert result.kind == "intro" and result.parties == [
        "omar@haddadtech.example",
        "grace@lumendental.example",
    ]


def test_parties_are_canonical_deduplicated_and_ordered(config: Config) -> None:
    raw = intro(
        sender=NADIA_ALIAS,
        to=[("Omar", "OMAR@haddadtech.example"), GRACE, ("Tom", "tbecker71@gmail.example")],
        cc=[REFS, ("Refs", "Refs@HARBORNET.example"), ("Omar H", "omar@haddadtech.example"), NADIA],
    )
    result = run(raw, config)
    assert result.referrer == "nadia@floresmarketing.example"
    assert result.parties == [
        "omar@haddadtech.example",
        "grace@lumendental.example",
        "tom.becker@beckerroofing.example",
    ]
    assert result.names["tom.becker@beckerroofing.example"] == "Tom"
    assert "refs@harbornet.example" not in result.names


def test_encoded_display_names_reach_names(config: Config) -> None:
    result = run(intro(to=[("Björn Lindqvist", "bjorn@lindqvistlaw.example"), GRACE]), config)
    assert result.names["bjorn@lindqvistlaw.example"] == "Björn Lindqvist"


class _RolesSpy:
    """Stands in for assign_roles to see exactly what the classifier hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def __call__(self, text: str, parties: list[Any], config: Config) -> Roles:
        self.calls.append((text, parties))
        return Roles(provider=None, prospects=[], reason="spy")


def test_roles_get_the_inner_text_and_parties_of_a_forward(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _RolesSpy()
    monkeypatch.setattr(intro_rules, "assign_roles", spy)
    text = (
        "Please track.\n\n---------- Forwarded message ---------\n"
        "From: Nadia Flores <nadia@floresmarketing.example>\nDate: Thu\nSubject: Intro\n"
        "To: Omar Haddad <omar@haddadtech.example>, Grace Liu <grace@lumendental.example>\n\n"
        "Omar, meet Grace.\n\nOn Wed, Nov 11, 2026 at 9:00 AM Grace Liu <grace@x.example> wrote:\n"
        "> Do you know an IT person?\n"
    )
    result = run(build(sender=NADIA, to=[REFS], subject="Fwd: Intro", plain=text), config)
    assert result.kind == "intro" and result.provider is None and result.prospects == []
    assert result.reason.endswith("; spy")
    ((roles_text, parties),) = spy.calls
    assert roles_text == "Omar, meet Grace."
    assert [(p.address, p.name, p.is_member) for p in parties] == [
        ("omar@haddadtech.example", "Omar Haddad", True),
        ("grace@lumendental.example", "Grace Liu", False),
    ]


def test_roles_failure_leaves_roles_unknown(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str, parties: list[Any], config: Config) -> Roles:
        raise ValueError("boom")

    monkeypatch.setattr(intro_rules, "assign_roles", broken)
    result = classify(intro(), config)
    assert result.kind == "intro" and result.provider is None
    assert "roles unknown (ValueError)" in result.reason


def test_reply_extraction_failure_keeps_the_whole_text(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str, **kwargs: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(reply_rules, "extract_reply", broken)
    monkeypatch.setattr(intro_rules, "extract_reply", broken)
    result = classify(intro(in_reply_to="<x@y.example>", plain="WON 300"), config)
    assert result.kind == "reply" and result.reply_text == "WON 300"
    assert "RuntimeError" in result.reason


# -- robustness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(CPYTHON.glob("msg_*.txt")), ids=lambda p: p.name)
def test_cpython_corpus_classifies(path: Path, config: Config) -> None:
    result = run(path.read_bytes(), config)
    assert result.kind in KINDS
    assert result.reason.strip()
    json.dumps(result.to_json())


FIXTURE_BYTES = [p.read_bytes() for p in sorted(MAIL.glob("*.eml"))]
FIXTURE_BYTES += [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]


def _check(raw: bytes, config: Config) -> None:
    result = run(raw, config)
    assert result.kind in KINDS and result.reason
    assert result.kind == KIND_OF[result.rule]
    json.dumps(result.to_json())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw: bytes, config: Config) -> None:
    _check(raw, config)


MUTATION = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "cut", "dup-line"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.binary(min_size=1, max_size=12)
    | st.sampled_from(
        [
            b"\r\n",
            b"\n\n",
            b"=?",
            b"?=",
            b"--",
            b"<",
            b">",
            b"@",
            b":",
            b"\x00",
            b"=?utf-8?b?",
            b"Content-Type: multipart/mixed; boundary=x\r\n",
            b"\xff",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(FIXTURE_BYTES), mutations=st.lists(MUTATION, max_size=12))
def test_never_raises_on_mutated_fixtures(
    base: bytes, mutations: list[tuple[str, int, bytes]], config: Config
) -> None:
    data = bytearray(base)
    for op, position, chunk in mutations:
        at = position % (len(data) + 1)
        if op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at : at + len(chunk)]
        elif op == "replace":
            data[at : at + len(chunk)] = chunk
        elif op == "cut":
            del data[at:]
        else:
            end = data.find(b"\n", at)
            line = data[at : end + 1] if end >= 0 else data[at:]
            data[at:at] = line
    _check(bytes(data), config)


def test_mail_to_the_ask_address_is_routed_by_its_token(config: Config) -> None:
    # Consent-first intros go to refs+ask@ (SPEC): the tag reaches the tracker as a token.
    raw = intro(
        to=[("Refs", "refs+ask@harbornet.example")],
        cc=[],
        plain="Could I introduce grace@lumendental.example to omar@haddadtech.example?",
    )
    result = run(raw, config)
    assert (result.kind, result.token, result.as_intro) == ("reply", "ask", None)
    assert result.reply_text is not None and "grace@lumendental.example" in result.reply_text
