"""The classification chain: a message read once, then judged by named rules in the SPEC's order.

:mod:`tests.test_classifier` checks what messages classify as (the ``refmail
parse`` contract); this file checks the machinery: the envelope each rule
reads, the order and shape of the chain, that every rule name can be reached
and implies one kind, and that the tracker decides on names, not on words.
"""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mailbuild import build, rfc822_part

import refmail.reading.classifier as classifier
from refmail.config import Config, load_config
from refmail.mail.message import parse_message
from refmail.reading.classification import KIND_OF, Classification, RuleName
from refmail.reading.classifier import CHAIN, CHECKS, classify, classify_parsed
from refmail.reading.envelope import Envelope, read_envelope
from refmail.reading.rules import automatic, bounce, intro, replies
from refmail.storage.store import Store
from refmail.workflow.outcomes import OutcomeName
from refmail.workflow.tracker import Tracker

MAIL = Path(__file__).parent / "data" / "mail"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

NADIA = ("Nadia Flores", "nadia@floresmarketing.example")
NADIA_ALIAS = ("N. Flores", "nadia.flores@gmail.example")
OMAR = ("Omar Haddad", "omar@haddadtech.example")
GRACE = ("Grace Liu", "grace@lumendental.example")
SAM = ("Sam Porter", "sam@outsider.example")
REFS = ("Harbor Referrals", "refs@harbornet.example")
TEXT = "Omar, meet Grace. Grace is looking for an IT person.\n\nGrace, Omar is the IT person.\n\nNadia\n"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(MAIL / "group.toml")


@pytest.fixture(scope="module")
def strict() -> Config:
    data = load_config(MAIL / "group.toml").model_dump()
    data["security"].update(require_authenticated_sender=True, authserv_id="mx.harbornet.example")
    return Config.model_validate(data)


def mail(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "sender": NADIA, "to": [OMAR, GRACE], "cc": [REFS], "subject": "Intro", "plain": TEXT,
    }
    fields.update(overrides)
    return build(**fields)


def envelope(raw: bytes, config: Config) -> Envelope:
    return read_envelope(parse_message(raw), config)


# -- the envelope -------------------------------------------------------------------------------
def test_the_envelope_canonicalises_once(config: Config) -> None:
    raw = mail(
        sender=NADIA_ALIAS,
        to=[OMAR, ("Grace", "Grace@LumenDental.example"), ("Refs", "refs+r7.x2k9@harbornet.example")],
        cc=[OMAR],
        headers=[("Delivered-To", "refs+second@harbornet.example")],
    )
    env = envelope(raw, config)
    assert env.sender == "nadia@floresmarketing.example"  # the alias, mapped to the member
    assert env.recipients == ("omar@haddadtech.example", "grace@lumendental.example")  # once each
    assert env.tokens == ("r7.x2k9", "second") and env.token == "r7.x2k9"  # To first, then Delivered-To
    assert env.tracker_hits == {"refs+r7.x2k9@harbornet.example", "refs+second@harbornet.example"}
    assert env.members == {"nadia@floresmarketing.example", "omar@haddadtech.example"}
    assert env.is_member("omar@haddadtech.example") and not env.is_member("grace@lumendental.example")
    assert env.names["nadia@floresmarketing.example"] == "N. Flores"
    assert not env.from_is_tracker and not env.from_mail_system
    letter = env.letter
    assert letter.writer == "nadia@floresmarketing.example" and letter.forward_style is None
    assert letter.parties == ("omar@haddadtech.example", "grace@lumendental.example")


def test_the_letter_of_a_forward_is_the_forwarded_message(config: Config) -> None:
    inner = build(sender=NADIA, to=[OMAR, GRACE], subject="Intro", plain=TEXT)
    raw = build(sender=("Tom", "tom@beckerroofing.example"), to=[REFS], subject="Fwd: Intro",
                plain="Please track.", attachments=[rfc822_part(inner)])
    env = envelope(raw, config)
    assert env.sender == "tom@beckerroofing.example" and env.recipients == ()
    assert env.letter.writer == "nadia@floresmarketing.example"
    assert env.letter.parties == ("omar@haddadtech.example", "grace@lumendental.example")
    assert env.letter.forward_style == "attachment"
    assert env.is_member("nadia@floresmarketing.example")


def test_the_envelope_is_frozen(config: Config) -> None:
    env = envelope(mail(), config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.sender = "someone@else.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.names["x@y.example"] = "X"  # type: ignore[index]


# -- the chain ----------------------------------------------------------------------------------
def test_the_chain_follows_the_spec_precedence() -> None:
    """Bounces, then the rest of automatic mail, then replies (the forward exception
    first), and the intro last: SPEC "The contracts", ``refmail parse``."""
    stages = [inspect.getmodule(rule) for rule in CHAIN]
    order = [bounce, automatic, replies, intro]
    ranks = [order.index(stage) for stage in stages]  # type: ignore[arg-type]
    assert ranks == sorted(ranks) and set(ranks) == {0, 1, 2, 3}
    assert CHAIN.index(replies.forwarded_intro) < CHAIN.index(replies.reply)
    assert CHAIN.index(replies.own_references_only) < CHAIN.index(replies.forwarded_intro)
    assert CHAIN[-1] is intro.introduction


def test_every_rule_is_a_named_unit_with_a_docstring() -> None:
    names = [rule.__name__ for rule in (*CHAIN, *CHECKS)]
    assert len(set(names)) == len(names)
    for rule in (*CHAIN, *CHECKS):
        assert (rule.__doc__ or "").strip(), f"{rule.__name__} says nothing about why"


def test_every_rule_name_implies_one_kind() -> None:
    assert set(KIND_OF) == set(RuleName)
    assert set(KIND_OF.values()) == {"intro", "reply", "bounce", "ignored"}
    assert {name.value for name in RuleName} == {name.name.lower() for name in RuleName}


DSN = (
    "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
    "Final-Recipient: rfc822; {who}\r\nAction: {action}\r\nStatus: {status}\r\n--B--\r\n"
)


def _dsn(action: str, status: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.harbornet.example>\r\n"
        "To: refs@harbornet.example\r\nSubject: Delivery Status Notification\r\n"
        "Message-ID: <dsn@mx.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        + DSN.format(who="grace@lumendental.example", action=action, status=status)
    ).encode()


def _forwarded(sender: tuple[str, str]) -> bytes:
    inner = build(sender=NADIA, to=[OMAR, GRACE], subject="Intro", plain=TEXT)
    return build(sender=sender, to=[REFS], subject="Fwd: Intro", plain="FYI",
                 attachments=[rfc822_part(inner)], in_reply_to="<older@x.example>")


#: One message for every rule name, decided by the rule of that name.
REACHES: dict[RuleName, bytes] = {
    RuleName.DSN_FAILURE: _dsn("failed", "5.1.1"),
    RuleName.DSN_NOT_FAILURE: _dsn("delayed", "4.4.7"),
    RuleName.TEXT_BOUNCE: mail(sender=("Mail Delivery System", "mailer-daemon@mx.example"),
                               subject="Undelivered Mail Returned to Sender",
                               plain="This message could not be delivered to grace@lumendental.example"),
    RuleName.OWN_MAIL: mail(sender=REFS),
    RuleName.OTHER_REFMAIL: mail(sender=("Other", "refs@othergroup.example"), headers=[("X-Refmail", "0.1")]),
    RuleName.AUTO_SUBMITTED: mail(headers=[("Auto-Submitted", "auto-replied")]),
    RuleName.AUTOREPLY_HEADER: mail(headers=[("X-Autoreply", "yes")]),
    RuleName.PRECEDENCE: mail(headers=[("Precedence", "bulk")]),
    RuleName.EXCHANGE_GENERATED: mail(headers=[("X-MS-Exchange-Inbox-Rules-Loop", "nadia@x.example")]),
    RuleName.OUT_OF_OFFICE_SUBJECT: mail(subject="Out of Office: Intro"),
    RuleName.LIST_MAIL: mail(headers=[("List-Id", "<news.example>")]),
    RuleName.AUTOMATIC_REPORT: (
        b"From: Omar <omar@haddadtech.example>\r\nTo: refs@harbornet.example\r\nSubject: Read: Intro\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nRead.\r\n--B--\r\n"
    ),
    RuleName.NULL_RETURN_PATH: mail(headers=[("Return-Path", "<>")]),
    RuleName.MAIL_SYSTEM: mail(sender=("Postmaster", "postmaster@harbornet.example"), subject="Hello"),
    RuleName.UNSUBSCRIBE: mail(to=[("Refs", "refs+r7.x2k9@harbornet.example")], cc=[], subject="STOP",
                               plain="", headers=[("Auto-Submitted", "auto-generated")]),
    RuleName.TOKEN_REPLY: mail(to=[("Refs", "refs+r7.x2k9@harbornet.example")], cc=[], plain="WON 300"),
    RuleName.THREAD_REPLY: mail(in_reply_to="<intro@x.example>"),
    RuleName.INTRO: mail(),
    RuleName.FORWARDED_INTRO: _forwarded(NADIA),
    RuleName.NO_SENDER: mail().replace(b"From: Nadia Flores <nadia@floresmarketing.example>\r\n", b""),
    RuleName.FORWARDED_OWN_MAIL: build(sender=NADIA, to=[REFS], subject="Fwd: Your referral",
                                       attachments=[rfc822_part(build(sender=REFS, to=[NADIA]))]),
    RuleName.NOT_A_MEMBER: mail(sender=SAM),
    RuleName.NO_SECOND_PARTY: mail(to=[OMAR]),
    RuleName.TAGGED_NOTE: mail(to=[REFS], cc=[], subject="R-9", plain="R-9 won 2.000 EUR\n"),
    RuleName.CALENDAR_INVITATION: mail(headers=[("Content-class", "urn:content-classes:calendarmessage")]),
    RuleName.ANNOUNCEMENT: mail(to=[(f"Member {i}", f"m{i}@example.org") for i in range(6)]),
}
STRICT_REACHES: dict[RuleName, bytes] = {
    RuleName.NOT_AUTHENTICATED: mail(),
    RuleName.UNVOUCHED_FORWARD: _forwarded(SAM),
}


@pytest.mark.parametrize("rule", sorted(REACHES), ids=str)
def test_every_rule_name_is_reached(rule: RuleName, config: Config) -> None:
    result = classify_parsed(parse_message(REACHES[rule]), config)
    assert result.rule == rule, result.reason
    assert result.kind == KIND_OF[rule]
    assert result.to_json()["rule"] == rule.value


@pytest.mark.parametrize("rule", sorted(STRICT_REACHES), ids=str)
def test_every_trust_rule_name_is_reached(rule: RuleName, strict: Config) -> None:
    raw = STRICT_REACHES[rule]
    if rule is RuleName.UNVOUCHED_FORWARD:  # the forwarder's domain authenticated, the forwarder not trusted
        passed = b"Authentication-Results: mx.harbornet.example; dmarc=pass header.from=outsider.example\r\n"
        raw = passed + raw
    result = classify_parsed(parse_message(raw), strict)
    assert (result.rule, result.kind) == (rule, "ignored"), result.reason


def test_unclassifiable_is_the_last_line_of_defence(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Envelope:
        raise RuntimeError("boom")

    monkeypatch.setattr(classifier, "read_envelope", broken)
    result = classify(mail(), config)
    assert (result.kind, result.rule) == ("ignored", RuleName.UNCLASSIFIABLE)
    assert "RuntimeError" in result.reason


def test_every_rule_name_is_covered_here() -> None:
    assert set(REACHES) | set(STRICT_REACHES) | {RuleName.UNCLASSIFIABLE} == set(RuleName)


def test_the_first_rule_that_decides_wins(config: Config) -> None:
    """A bounce from the mail system with Auto-Submitted is a bounce (bounces lead);
    an auto-reply in a thread is ignored, not a reply (automatic mail before replies)."""
    dsn = _dsn("failed", "5.1.1").replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:")
    assert classify(dsn, config).rule == RuleName.DSN_FAILURE
    auto = mail(in_reply_to="<intro@x.example>", headers=[("Auto-Submitted", "auto-replied")])
    assert classify(auto, config).rule == RuleName.AUTO_SUBMITTED


# -- the tracker decides on names ---------------------------------------------------------------
def _verdict(rule: RuleName, reason: str, sender: str) -> Classification:
    return Classification(kind=KIND_OF[rule], reason=reason, rule=rule, message_id="<m@x>", sender=sender)


def test_another_refmail_is_told_by_the_rule_name_not_the_reason(config: Config) -> None:
    store = Store.memory()
    other = "refs@othergroup.example"
    cases = [
        # The words of the own-mail reason, but not the rule: nobody is stopped.
        (_verdict(RuleName.LIST_MAIL, "refmail's own message coming back (X-Refmail: 1)", other), False),
        # The rule, with any words: the other refmail gets no more mail.
        (_verdict(RuleName.OTHER_REFMAIL, "written by a program", other), True),
    ]
    for n, (verdict, stopped) in enumerate(cases):
        tracker = Tracker(config, store, classify=lambda raw, cfg, v=verdict: v)
        outcome = tracker.process(f"Message-ID: <m{n}@x>\r\n\r\n".encode(), now=NOW)
        assert outcome.outcome is OutcomeName.IGNORED
        assert (store.blocked_people([other]) == {other}) is stopped
        assert ("from another refmail" in outcome.reason) is stopped


def test_outcome_names_are_what_the_store_records(config: Config) -> None:
    store = Store.memory()
    tracker = Tracker(config, store)
    first = tracker.process(mail(), now=NOW)
    again = tracker.process(mail(), now=NOW)
    assert (first.outcome, again.outcome) == (OutcomeName.CREATED, OutcomeName.SEEN)
    (row,) = store.messages()
    assert row["outcome"] == "created" and type(row["outcome"]) is str
    assert store.messages(OutcomeName.CREATED) == [row]


@pytest.mark.parametrize(("subject", "plain", "status", "value"), [
    ("R-9", "R-9 won 2.000 EUR\n", "won", 2000),
    ("[R-9] LOST", "", "lost", None),
    ("Re: [R-9] update", "NO FIT - they chose someone in-house\n", "no_fit", None),
    ("quick update", "R-9: we met on Tuesday\n", "meeting", None),
])
def test_a_members_note_about_one_referral_carries_it(
        config: Config, subject: str, plain: str, status: str, value: int | None) -> None:
    result = classify_parsed(parse_message(mail(to=[REFS], cc=[], subject=subject, plain=plain)), config)
    assert (result.rule, result.kind, result.referral_tag) == (RuleName.TAGGED_NOTE, "ignored", 9)
    assert result.command is not None and result.command.status == status
    assert result.command.value == value
    assert result.to_json()["referral_tag"] == 9


def test_a_note_naming_no_referral_is_just_a_note(config: Config) -> None:
    for subject, plain in (("Hi", "Thanks for the lunch, R-9 was fun\n"), ("PR-9 status", "won\n")):
        result = classify_parsed(parse_message(mail(to=[REFS], cc=[], subject=subject, plain=plain)), config)
        assert result.rule is RuleName.NO_SECOND_PARTY and result.referral_tag is None
