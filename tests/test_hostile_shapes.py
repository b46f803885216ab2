"""The hostile shapes of issue 13, read by the parser and the classifier.

Each shape (``tests/hostile_mail.py``, generated once per session, never
stored) must be read within the bounds of :mod:`refmail.mail.limits` and still
yield what a person would expect from it: the member's intro tracked from
what was read, the reply's new words, the sender and subject of a message
whose body cannot be read. No test here times anything (``bench/hostile.py``
does); what is asserted is that the work was bounded — how much was read,
what was cut and said so in ``defects``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hostile_mail import (
    MEI,
    SHAPES,
    TOM,
    TRACKER,
    base64_bomb,
    html_only_reply,
    large_message,
    long_header,
    many_recipients,
    nested_multiparts,
    normal_intro,
    shape_copies,
)
from mailservers import MailEnv
from test_capture import REFMAIL, write_config

from refmail.config import Config, config_from_dict, load_config
from refmail.mail.limits import (
    MAX_ADDRESSES,
    MAX_BODY_CHARS,
    MAX_HEADER_CHARS,
    MAX_TEXT_CHARS,
    Budget,
    bounded_field,
    cut_at_line,
)
from refmail.mail.message import ParsedMessage, parse_message
from refmail.reading.classification import RuleName
from refmail.reading.classifier import classify_parsed
from refmail.storage.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import corpus  # bench/corpus.py: writes a Maildir as Dovecot's own files

CONFIG: Config = config_from_dict({
    "group": {"name": "Harbor Business Network", "tracking_address": TRACKER, "admins": [MEI],
              "timezone": "America/Chicago"},
    "members": [{"name": "Mei Chen", "email": MEI}, {"name": "Tom Becker", "email": TOM}],
})


@cache
def parsed(shape: Callable[[], bytes]) -> ParsedMessage:
    """Each shape built and parsed once per session: the big ones take a second to build."""
    return parse_message(shape())


def test_sixty_thousand_recipients_are_read_as_the_first_hundred() -> None:
    msg = parsed(many_recipients)
    assert len(msg.to) == MAX_ADDRESSES
    assert len({a.address for a in msg.to}) == MAX_ADDRESSES  # distinct
    assert msg.to[0].address == "p0@crowd.example"
    assert any(d.startswith("To: ") and "characters;" in d for d in msg.defects)
    verdict = classify_parsed(msg, CONFIG)
    # Read as its first hundred parties — and so, an announcement, not an intro (SPEC, issue 16).
    assert verdict.rule is RuleName.ANNOUNCEMENT, verdict.reason
    assert f"announcement to {MAX_ADDRESSES} people" in verdict.reason


def test_a_ten_megabyte_subject_is_read_as_its_first_64_kilobytes() -> None:
    msg = parsed(long_header)
    assert len(msg.subject) <= MAX_HEADER_CHARS
    assert msg.subject.startswith("Re: Fwd: [R-12] Grüße (a (b) c)")
    verdict = classify_parsed(msg, CONFIG)
    assert verdict.kind == "intro" and verdict.provider == TOM  # the body is read as ever


def test_an_eight_megabyte_html_reply_gives_its_new_words() -> None:
    msg = parsed(html_only_reply)
    assert msg.text_from_html
    assert sum(map(len, msg.html_parts)) <= MAX_BODY_CHARS
    assert any("text/html part of" in d for d in msg.defects)
    verdict = classify_parsed(msg, CONFIG)
    assert verdict.kind == "reply"
    assert verdict.reply_text is not None and verdict.reply_text.startswith("Thanks, I will call her.")


def test_a_base64_bomb_is_decoded_only_as_far_as_the_budget() -> None:
    msg = parsed(base64_bomb)
    assert len(msg.text) <= MAX_TEXT_CHARS
    # The text part took the budget; the attached .eml is left unread, and says so.
    assert any("part not read" in d or "part of" in d for d in msg.defects)
    verdict = classify_parsed(msg, CONFIG)
    assert verdict.kind == "intro" and verdict.referrer == MEI and verdict.provider == TOM


def test_ten_thousand_nested_multiparts_keep_the_header_fields() -> None:
    msg = parsed(nested_multiparts)
    assert msg.from_ is not None and msg.from_.address == MEI
    assert msg.subject == "Intro: Tom, meet Linda"
    assert msg.defects[0] == "unparseable: RecursionError; only the header fields read"
    verdict = classify_parsed(msg, CONFIG)
    # Tracked from what could be read; the roles are asked for, not guessed.
    assert verdict.kind == "intro" and verdict.referrer == MEI and len(verdict.parties) == 2


def test_a_large_attachment_is_not_decoded() -> None:
    raw = large_message(4 * 1024 * 1024)
    msg = parse_message(raw)
    assert msg.text.startswith("Tom, meet Linda.") and len(msg.text) < 200
    assert not any("part" in d for d in msg.defects)  # the attachment is skipped, not cut
    assert classify_parsed(msg, CONFIG).provider == TOM


# -- the helpers, on their own -------------------------------------------------------------------


def test_an_address_list_is_cut_between_addresses() -> None:
    value = ", ".join(f"Person {i} <p{i}@x.example>" for i in range(5000))
    kept, defect = bounded_field("Cc", value)
    assert kept.endswith(">") and kept.split(", ")[-1].startswith("Person ")
    assert defect is not None and defect.startswith("Cc: ")
    assert bounded_field("Cc", "a@b.example") == ("a@b.example", None)


def test_references_keep_their_first_and_last_ids() -> None:
    ids = [f"<{i}@r.x>" for i in range(100_000)]
    kept, defect = bounded_field("References", " ".join(ids))
    assert defect is not None
    words = kept.split()
    assert words[0] == ids[0] and words[-1] == ids[-1]
    assert len(kept) <= MAX_HEADER_CHARS + 1


def test_the_budget_is_shared_and_counts_parts() -> None:
    budget = Budget(chars=100, parts=3)
    assert budget.take(60) == 60 and not budget.spent
    assert budget.take(60) == 40 and budget.spent
    assert budget.take(10) == 0
    few = Budget(chars=10**6, parts=1)
    assert few.take(5) == 5 and few.take(5) == 0


def test_text_is_cut_at_a_line_end() -> None:
    text = "line\n" * 1000
    assert cut_at_line(text, 103) == "line\n" * 20
    assert cut_at_line("x" * 50, 10) == "x" * 10
    assert cut_at_line("short", 10) == "short"


@pytest.mark.parametrize("depth", [50, 900, 3000])
def test_nesting_at_any_depth_keeps_the_sender(depth: int) -> None:
    msg = parse_message(nested_multiparts(depth))
    assert msg.from_ is not None and msg.from_.address == MEI


# -- patterns that backtracked -------------------------------------------------------------------
# Each input below is sized so that the pattern as it was (quadratic in the run it
# rescanned) would take minutes; the assertions are on what is found. Runs inside a
# message stay under MAX_TEXT_CHARS, so that what follows them is read.

RUN = 192 * 1024


def _bounce(text: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nReturn-Path: <>\r\n"
        f"To: {TRACKER}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text
    ).encode()


def test_a_bounce_with_a_run_of_dashes_still_finds_the_original() -> None:
    """``-{3,}\\s*original message`` was tried from every dash of the run."""
    text = ("-" * RUN + "\n\n<carl@outside.example>: 550 no such user\n\n"
            "----- Original message -----\nMessage-ID: <nudge-7@harbornet.example>\n"
            f"From: {TRACKER}\nTo: carl@outside.example\nSubject: R-7\n\nHello\n")
    verdict = classify_parsed(parse_message(_bounce(text)), CONFIG)
    assert verdict.kind == "bounce"
    assert verdict.failed_recipient == "carl@outside.example"
    assert verdict.in_reply_to == "<nudge-7@harbornet.example>"


def test_a_bounce_with_blank_lines_and_at_signs_still_finds_the_failed_address() -> None:
    """``^\\s*<…>`` was tried from each of a run of blank lines, and ``[^<>\\s]+@``
    from each "@" of an id that never closes."""
    text = (" \n" * (RUN // 4) + "Message-ID: <" + "a@" * (RUN // 4) + "\n"
            "<betty@outside.example>: host mx.outside.example said: 550 5.1.1 unknown\n")
    verdict = classify_parsed(parse_message(_bounce(text)), CONFIG)
    assert verdict.kind == "bounce" and verdict.failed_recipient == "betty@outside.example"


def test_a_forward_subject_after_a_run_of_blanks() -> None:
    from refmail.mail.forwarding import is_forward_subject

    assert is_forward_subject(" \t" * (RUN // 2) + "[ Fwd: intro")
    assert not is_forward_subject(" \t" * (RUN // 2) + "intro")


def test_an_amount_after_a_long_line_of_numbers() -> None:
    """Each number was followed by a copy of the rest of the line."""
    from refmail.reading.command import parse_amount

    assert parse_amount("WON " + "7 " * (RUN // 2) + "for $4,500") == (4500, "USD")
    assert parse_amount("WON " + "300 people, " * (RUN // 12)) is None


def test_proposal_html_with_unclosed_anchors_and_blanks() -> None:
    from refmail.reading.proposal import _mailto_anchors_as_text, without_addresses

    html = ('<p>Carl is <a href="mailto:carl@outside.example">Carl Jones</a>.</p>'
            + '<a href="mailto:x@spam.example">' * (RUN // 32) + "<style>" * 1000)
    text = _mailto_anchors_as_text(html)
    assert "Carl Jones [mailto:carl@outside.example]" in text
    assert "<style>" not in text
    assert without_addresses("Betty" + " \t" * (RUN // 2) + ", Carl") == "Betty, Carl"


def test_tags_and_script_are_stripped_in_one_pass() -> None:
    from refmail.mail.decoding import TAG, drop_elements

    assert TAG.sub("", "<" * RUN + "a<b>c") == "<" * RUN + "ac"
    assert drop_elements("keep <script>x</script> this" + "<script" * (RUN // 8)) == "keep   this "
    assert drop_elements("a <STYLE>p{}</style > b") == "a   b"


def test_the_fast_reader_takes_a_header_of_blanks() -> None:
    """``_BLOCK`` and ``_FIELD`` of the fast MIME reader only see whole header blocks: linear."""
    from refmail.mail.mime import read_simple

    msg = read_simple(b"Subject: " + b" \t" * RUN + b"x\r\nFrom: a@b.example\r\n\r\nbody")
    assert msg is not None and msg["From"] == "a@b.example"
    odd = read_simple(b"?http://" * (RUN // 8) + b"\r\n\r\nbody")
    assert odd is not None and odd.keys() == ["?http"] and odd.get_payload() == "body"


def test_sentences_after_a_run_of_marks() -> None:
    """``[.!?]*(?=\\s)`` scanned a run of marks to its end from each of them."""
    from hostile_mail import _head

    raw = (_head("marks", "Intro") + "\r\n" + ".?" * (RUN // 2)
           + " Linda, Tom is the roofer I told you about!!! Tom, meet Linda.\r\n").encode()
    verdict = classify_parsed(parse_message(raw), CONFIG)
    assert verdict.kind == "intro" and verdict.provider == TOM


# -- every shape through the real servers, in one folder --------------------------------------


@pytest.mark.servers
def test_every_shape_in_one_folder_is_handled_and_the_intro_after_them_tracked(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    """The issue's inbox: each shape, 20 × 24.5 MB among them, then an ordinary intro,
    read by one ``refmail run --once`` (the real command, in its own process)."""
    mails = [(s.name, raw) for s in SHAPES for raw in shape_copies(s)] + [("intro", normal_intro(7))]
    stamp = datetime.now(UTC)
    corpus.write_maildir(mail_env.dovecot, (
        corpus.Mail(raw=raw, kind=kind, message_id="", date=stamp, seen=False) for kind, raw in mails
    ), user=mail_env.user)
    config_path = write_config(tmp_path, mail_env, timeout="60s")
    done = subprocess.run([REFMAIL, "--config", str(config_path), "run", "--once", "--no-send"],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    store = Store.open(load_config(config_path).database_path())
    try:
        rows = store.messages()
        assert len(rows) == len(mails)  # every message recorded once, in one run
        outcomes = {r["message_id"]: r["outcome"] for r in rows}
        assert outcomes["<normal-intro-7@mail.chencpa.example>"] == "created"
        # Every shape read: the first of Mei's "Tom, meet Linda" (the References reply, read
        # as an intro in a thread refmail never saw) is tracked, the other shapes are that
        # same intro again; the 60,000 recipients' message is an announcement, not an intro.
        created = sorted(m for m, outcome in outcomes.items() if outcome == "created")
        assert created == ["<many-references@mail.chencpa.example>", "<normal-intro-7@mail.chencpa.example>"]
        assert outcomes["<many-recipients@mail.chencpa.example>"] == "ignored"
        assert set(outcomes.values()) == {"created", "duplicate_intro", "ignored"}
        assert store.position("INBOX") is not None
    finally:
        store.close()
    again = subprocess.run([REFMAIL, "--config", str(config_path), "run", "--once", "--no-send"],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert again.returncode == 0 and "No new mail." in again.stdout
