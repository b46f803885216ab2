"""Only the right people can change a referral: attacks by forged mail, through real Dovecot and SMTP.

Each attack is what anyone who knows a member's address can send to the
tracking address: a forged ``From``, a ``[R-1]`` subject tag, an
``In-Reply-To``, a note to the plain tracker. None of them may change a
referral or reach anyone but the real member, who is asked — at their own
address, with a tokened one-click question — whether it was them. And the
other side: the real member still gets everything done, with no extra click
when their reply carries its token, and with one when it does not
(``docs/security.md`` lists each row).
"""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from typing import Any

import pytest
from test_lifecycle import LINDA, MEI, TOM, TRACKER, World, _text, send_intro
from test_lifecycle import world as world  # the fixture

from refmail.admin.report import group_report
from refmail.summaries.member import member_summary
from refmail.workflow.outcomes import OutcomeName

pytestmark = pytest.mark.servers

MALLORY = "mallory@evil.example"


def write(world: World, sender: str, subject: str, body: str, *, to: str = TRACKER,
          envelope_from: str | None = None, **headers: str) -> None:
    """A message as anyone can send it: ``sender`` is only the From header."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="client.example")
    msg["Date"] = email.utils.format_datetime(world.clock())
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body + "\n")
    world.env.send(msg, envelope_from or MALLORY, [email.utils.parseaddr(to)[1]])


def click(world: World, message: EmailMessage, sender: str, keyword: str, extra: str = "") -> None:
    """Press the one-click button ``keyword`` of ``message`` and Send, as ``sender``."""
    world.reply(message, sender, f"{keyword} {extra}".strip())


def step(world: World, minutes: int = 5) -> None:
    world.clock.advance(minutes=minutes)
    world.cycle()


def from_refmail(world: World) -> list[Any]:
    """Everything refmail sent, summaries and notices included."""
    return [m for m in world.env.smtp.messages if m.mail_from == TRACKER]


def outcomes(world: World) -> list[str]:
    return [row["outcome"] for row in world.store.messages()]


def events(world: World, kind: str, referral_id: int = 1) -> list[dict[str, Any]]:
    return [e for e in world.referral(referral_id)["events"] if e["kind"] == kind]


def confirmations(world: World, address: str) -> list[EmailMessage]:
    return [m for m in world.received(address) if "Please confirm" in str(m["Subject"])]


def started(world: World) -> None:
    """R-1: Mei introduced Linda to Tom; the ack went out, and a day later the thank-you nudge."""
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()


# -- a change needs proof ------------------------------------------------------------


def test_a_subject_tag_reply_in_a_members_name_changes_nothing_and_asks_the_member(world: World) -> None:
    started(world)
    before = {a: len(world.received(a)) for a in (MEI, TOM, LINDA)}
    # Mallory writes to the plain tracker as Tom, with the tag and any In-Reply-To.
    write(world, f"Tom Becker <{TOM}>", "Re: [R-1] LOST", "LOST", In_Reply_To="<whatever@x.example>")
    step(world)
    row = world.referral()
    assert row["status"] == "introduced" and not events(world, "status")
    assert outcomes(world)[-1] == OutcomeName.CONFIRMATION_ASKED
    # Only the real Tom hears of it, at his configured address; nobody else.
    (question,) = confirmations(world, TOM)
    assert len(world.received(TOM)) == before[TOM] + 1
    assert len(world.received(MEI)) == before[MEI] and len(world.received(LINDA)) == before[LINDA]
    assert world.env.smtp.sent_to(MALLORY) == []
    text = _text(question)
    assert '"LOST"' in text and "Linda Park to Tom Becker" in text and "reply YES" in text
    assert email.utils.parseaddr(str(question["Reply-To"]))[1].startswith("refs+r1.")


def test_the_real_member_confirms_with_one_click_and_is_told(world: World) -> None:
    started(world)
    write(world, f"Tom Becker <{TOM}>", "Re: [R-1] roof", "WON $4,500 - she signed",
          In_Reply_To="<lost-the-plus-address@x.example>")
    step(world)
    (question,) = confirmations(world, TOM)
    mei_before = len(world.received(MEI))
    click(world, question, TOM, "YES")
    step(world)
    row = world.referral()
    assert row["status"] == "won"
    (won,) = events(world, "status")
    assert won["detail"]["value"] == 4500 and won["detail"]["proof"] == "confirmed"
    assert won["actor"] == TOM
    # Applied exactly as Tom's tokened reply would have been: Mei hears the news
    # and the closed-business thanks; Tom is told what his click did.
    assert len(world.received(MEI)) == mei_before + 2
    (result,) = [m for m in world.received(TOM) if str(m["Subject"]).startswith("[R-1] Done:")]
    assert "marked won ($4,500)" in " ".join(_text(result).split())
    assert outcomes(world)[-1] == OutcomeName.CONFIRMED


def test_a_confirmation_is_single_use_and_expires(world: World) -> None:
    started(world)
    write(world, TOM, "[R-1] MET", "MET", In_Reply_To="<x1@x.example>")
    write(world, TOM, "[R-1] NO FIT", "NO FIT", In_Reply_To="<x2@x.example>")
    step(world)
    met, no_fit = sorted(confirmations(world, TOM), key=lambda m: str(m["Subject"]))
    assert "MET" in str(met["Subject"]) and "NO FIT" in str(no_fit["Subject"])
    click(world, met, TOM, "YES")
    step(world)
    click(world, met, TOM, "YES", "really")  # a second click finds it done
    step(world)
    assert [e["detail"]["to"] for e in events(world, "status")] == ["meeting"]
    # The other question, answered after its week: expired, nothing changes, Tom is told.
    world.clock.advance(days=8)
    click(world, no_fit, TOM, "YES")
    step(world)
    assert world.referral()["status"] == "meeting"
    assert [m for m in world.received(TOM) if str(m["Subject"]).startswith("[R-1] Too late:")]


def test_a_forged_token_reply_is_rejected_whoever_it_claims_to_be(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    linda_nudge = world.received(LINDA)[-1]
    # Linda uses her own genuine token with a forged From: Tom.
    world.reply(linda_nudge, f"Tom Becker <{TOM}>", "WON $99,999")
    step(world)
    assert world.referral()["status"] == "introduced"
    assert outcomes(world)[-1] == OutcomeName.REPLY_REJECTED
    assert confirmations(world, TOM) == []  # a token is never downgraded to a claim


def test_a_note_to_the_plain_tracker_is_confirmed_first(world: World) -> None:
    started(world)
    write(world, f"Tom Becker <{TOM}>", "R-1", "R-1 won 2.000 EUR\n\nTom")
    step(world)
    assert world.referral()["status"] == "introduced"
    (question,) = confirmations(world, TOM)
    assert '"WON €2,000"' in _text(question)
    click(world, question, TOM, "YES")
    step(world)
    (won,) = events(world, "status")
    assert (won["detail"]["value"], won["detail"]["currency"]) == (2000, "EUR")


def test_a_forgers_words_reach_the_member_without_links(world: World) -> None:
    started(world)
    write(world, f"Tom Becker <{TOM}>", "R-1",
          "R-1 LOST\nYour account expires: renew at https://evil.example/login or www.evil.example today")
    step(world)
    (question,) = confirmations(world, TOM)
    whole = question.as_string()
    assert "evil.example" not in whole and "[link removed]" in _text(question)


def test_forged_requests_in_a_members_name_are_not_a_flood_of_questions(world: World) -> None:
    started(world)
    for n, word in enumerate(["MET", "LOST", "NO FIT", "PROPOSAL", "CONTACTED", "WON 1", "WON 2", "WON 3"]):
        write(world, f"Tom Becker <{TOM}>", f"R-1 {word}", f"R-1 {word}")
        if n % 3 == 2:
            step(world)
    step(world)
    assert len(confirmations(world, TOM)) == 5  # a day's worth, then nothing
    assert world.referral()["status"] == "introduced"


def test_a_note_from_someone_with_no_part_mails_nobody(world: World) -> None:
    started(world)
    sent = len(from_refmail(world))
    # Not a member: a note is not even read; a tagged reply from no party is asked nothing.
    write(world, MALLORY, "R-1 LOST", "R-1 LOST")
    write(world, "nobody@harbornet.example", "[R-1] LOST", "LOST", In_Reply_To="<y@x.example>")
    step(world)
    assert world.referral()["status"] == "introduced"
    assert len(from_refmail(world)) == sent


# -- a reply-all in the intro's thread is evidence, not a command ----------------------


def test_a_reply_all_in_the_intro_thread_is_first_contact_only(world: World) -> None:
    started(world)
    reply = EmailMessage()
    reply["From"] = f"Tom Becker <{TOM}>"
    reply["To"] = f"Linda Park <{LINDA}>, Mei Chen <{MEI}>"
    reply["Cc"] = TRACKER
    reply["Subject"] = "Re: [R-1] Intro: Linda Park <> Tom (roofing)"
    reply["Message-ID"] = "<tom-reply-all@beckerroofing.example>"
    reply["In-Reply-To"] = "<intro-1@mail.chencpa.example>"
    reply["Date"] = email.utils.format_datetime(world.clock())
    reply.set_content("WON $50,000. STOP\n\nLinda, happy to help - when can I come by?\n")
    world.env.send(reply, TOM, [TRACKER])
    step(world)
    row = world.referral()
    assert row["status"] == "contacted"  # first contact, nothing else
    assert not world.store.blocked_people([TOM])
    assert confirmations(world, TOM) == []
    assert outcomes(world)[-1] == OutcomeName.FIRST_CONTACT


# -- roles on keywords -----------------------------------------------------------------


def test_a_prospects_won_is_their_feedback_and_credits_nobody(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    linda_nudge = world.received(LINDA)[-1]
    mei_before = len(world.received(MEI))
    world.reply(linda_nudge, LINDA, "WON $99,999")
    step(world)
    row = world.referral()
    assert row["status"] == "introduced" and not events(world, "status")
    (said,) = events(world, "feedback")
    assert said["detail"]["claimed"] == "won" and "99,999" in said["detail"]["text"]
    # Relayed to the referrer as Linda's words...
    (relayed,) = world.received(MEI)[mei_before:]
    assert "WON $99,999" in _text(relayed)
    # ... and credited to no one: not in the report, not in Tom's summary.
    report = group_report(world.store, world.config)
    tom = next(line for line in report.members if line.address == TOM)
    assert (report.group.won, report.group.value, tom.won, tom.value) == (0, {}, 0, {})
    summary = member_summary(world.store, world.config, TOM, world.clock())
    assert summary.business_received.count == 0 and summary.business_received.value == ()


def test_won_lost_won_by_forged_mail_stays_won(world: World) -> None:
    started(world)
    (thank_you,) = world.received(TOM)
    world.reply(thank_you, TOM, "WON $4,500")  # the real Tom, with his token
    step(world)
    assert world.referral()["status"] == "won"
    for keyword in ("LOST", "WON $1"):
        write(world, f"Tom Becker <{TOM}>", f"[R-1] {keyword}", keyword, In_Reply_To="<f@x.example>")
        write(world, f"Mei Chen <{MEI}>", f"R-1 {keyword}", f"R-1 {keyword}")
        step(world)
    assert world.referral()["status"] == "won"
    assert [e["detail"]["to"] for e in events(world, "status")] == ["won"]
    # Even Tom's own token cannot move a closed referral, except by REOPEN:
    # he is told so, with the button.
    world.reply(thank_you, TOM, "LOST")
    step(world)
    assert world.referral()["status"] == "won"
    (answer,) = [m for m in world.received(TOM) if str(m["Subject"]).startswith("[R-1] Not changed: LOST")]
    assert "closed (won)" in " ".join(_text(answer).split()) and "reply REOPEN" in _text(answer)
    click(world, answer, TOM, "REOPEN")
    step(world)
    assert world.referral()["status"] == "introduced"
    reopened = events(world, "status")[-1]["detail"]
    assert reopened["reopen"] is True and reopened["from"] == "won"


def test_reopen_only_by_the_provider_the_referrer_or_an_admin(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    linda_nudge = world.received(LINDA)[-1]
    world.reply(linda_nudge, LINDA, "NO FIT")  # a prospect may say it was no fit
    step(world)
    assert world.referral()["status"] == "no_fit"
    world.reply(linda_nudge, LINDA, "REOPEN")
    step(world)
    assert world.referral()["status"] == "no_fit"
    mei_mail = world.received(MEI)[-1]
    world.reply(mei_mail, MEI, "REOPEN")
    step(world)
    assert world.referral()["status"] == "introduced"


# -- STOP needs proof, START undoes it -------------------------------------------------


def test_a_forged_stop_does_not_silence_the_admin(world: World) -> None:
    started(world)
    (ack,) = world.received(MEI)
    # By subject tag, and by In-Reply-To the Message-ID of refmail's own mail to her.
    write(world, f"Mei Chen <{MEI}>", "Re: [R-1] STOP", "STOP", In_Reply_To="<s@x.example>")
    write(world, f"Mei Chen <{MEI}>", "STOP", "STOP", In_Reply_To=str(ack["Message-ID"]))
    step(world)
    assert not world.store.blocked_people([MEI])
    assert outcomes(world)[-2:] == [OutcomeName.CONFIRMATION_ASKED] * 2
    assert len(confirmations(world, MEI)) == 1  # the same request is asked once
    # Mei still hears about her referrals.
    (thank_you,) = world.received(TOM)
    before = len(world.received(MEI))
    world.reply(thank_you, TOM, "Thanks a lot, Mei!")
    step(world)
    assert len(world.received(MEI)) == before + 1


def test_stop_by_token_then_start(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    linda_nudge = world.received(LINDA)[-1]
    world.reply(linda_nudge, LINDA, "STOP")
    step(world)
    assert world.store.blocked_people([LINDA]) == {LINDA}
    (stopped,) = [m for m in world.received(LINDA) if "won't hear from us" in str(m["Subject"])]
    assert "START" in _text(stopped)
    count = len(world.received(LINDA))
    world.clock.advance(days=8)
    world.cycle()
    assert len(world.received(LINDA)) == count
    click(world, stopped, LINDA, "START")
    step(world)
    assert not world.store.blocked_people([LINDA])
    assert [e["kind"] for e in world.referral()["events"] if e["kind"] in {"stop", "start"}] == [
        "stop", "start"]


def test_list_unsubscribe_stops(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    nudge = world.received(LINDA)[-1]
    # What a mail client's "Unsubscribe" sends: the mailto of List-Unsubscribe, subject STOP, no body.
    target = str(nudge["List-Unsubscribe"]).strip("<>").removeprefix("mailto:")
    address, _, query = target.partition("?")
    assert query == "subject=STOP"
    write(world, LINDA, "STOP", "", to=address, envelope_from=LINDA)
    step(world)
    assert world.store.blocked_people([LINDA]) == {LINDA}


AUTHENTICATED = "\n[security]\nrequire_authenticated_sender = true\nauthserv_id = \"mx.harbornet.example\"\n"


def passed(domain: str) -> str:
    return f"mx.harbornet.example; dmarc=pass header.from={domain}"


def test_a_member_whose_mail_is_authenticated_needs_no_click(mail_env: Any, tmp_path: Any) -> None:
    world = World(mail_env, tmp_path, AUTHENTICATED)
    try:
        intro = EmailMessage()
        intro["Authentication-Results"] = passed("chencpa.example")
        intro["From"] = f"Mei Chen <{MEI}>"
        intro["To"] = f"Tom Becker <{TOM}>, Linda Park <{LINDA}>"
        intro["Cc"] = TRACKER
        intro["Subject"] = "Intro: Linda <> Tom (roofing)"
        intro["Message-ID"] = "<intro-auth@mail.chencpa.example>"
        intro["Date"] = email.utils.format_datetime(world.clock())
        intro.set_content("Tom, meet Linda. Linda is looking for a roofer before winter.\n"
                          "Linda, Tom is the roofer I told you about.\n\nMei\n")
        world.env.send(intro)
        world.cycle()
        # Tom writes to the plain tracker from his own, authenticated, mail server.
        write(world, f"Tom Becker <{TOM}>", "R-1", "R-1 WON $3,000", envelope_from=TOM,
              Authentication_Results=passed("beckerroofing.example"))
        step(world)
        (won,) = events(world, "status")
        assert won["detail"]["proof"] == "authenticated" and won["detail"]["value"] == 3000
        assert confirmations(world, TOM) == []
    finally:
        world.store.close()


# -- privacy: feedback reaches only those it was meant for ----------------------------


def test_a_prospects_words_reach_the_provider_only_when_she_wrote_to_him(world: World) -> None:
    started(world)
    world.clock.advance(days=7)
    world.cycle()
    linda_nudge = world.received(LINDA)[-1]
    world.reply(linda_nudge, LINDA, "He seemed nice but his quote was twice the others.")
    step(world)
    def news(member: str) -> str:
        summary = member_summary(world.store, world.config, member, world.clock())
        lines = [*summary.given, *summary.received]
        return " ".join(line.last_news.text for line in lines if line.last_news)
    assert "twice the others" in news(MEI)  # the referrer: it was written for her
    assert "twice the others" not in news(TOM)  # the provider: it was not
    # Written to Tom as well (Cc): then it was meant for him too.
    world.reply(linda_nudge, LINDA, "Tom, could you send the quote again?", Cc=TOM)
    step(world)
    assert "send the quote again" in news(TOM)
    (note,) = [e for e in events(world, "feedback") if "quote again" in e["detail"]["text"]]
    assert note["detail"]["shared_with"] == [TOM]
