"""Header injection and script in other people's words, through the real pipeline.

Display names, subjects and feedback come from strangers' mail and end up in
the mail refmail sends to members. An intro whose names and subject carry
``\\r\\nBcc: evil@…`` (raw, folded, or RFC 2047-encoded CR/LF), ``<script>``
and ``"><img onerror=…>`` goes through the real :class:`~refmail.workflow.tracker.Tracker`
and :class:`~refmail.workflow.planner.Planner` into the outbox, people answer with
hostile feedback, the clock runs through the follow-ups, and then every queued
``outbox.raw`` message is checked as a mail server and a browser would read it:
exactly one To with one address, no Bcc (nor any header the attacker named),
and an HTML part with no ``<script>`` element, no ``on…`` event attribute and
no ``javascript:`` link — while the hostile words still arrive, escaped, as
text.
"""

from __future__ import annotations

import base64
import email
import re
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refmail.config import Config, config_from_dict
from refmail.demo.scenario import reply_to
from refmail.render.composer import compose
from refmail.render.renderer import Rendered
from refmail.storage.store import Store
from refmail.workflow.planner import Planner
from refmail.workflow.tracker import Tracker

TRACKER = "refs@harbornet.example"
MEI = "mei@chencpa.example"
TOM = "tom.becker@beckerroofing.example"
LINDA = "linda@parkfamily.example"
CARL = "carl@outside.example"
BETTY = "betty@outside.example"
START = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago"))

SCRIPT = "<script>alert('x')</script>"
IMG = '"><img src=x onerror=alert(1)>'
INJECT = "\r\nBcc: evil@attacker.example"
#: The same without an address: refmail drops a "name" holding one, so this is
#: the injection that reaches the templates as a name.
INJECT_NAME = "\r\nX-Injected: yes\r\nContent-Type: text/html"


def quoted(name: str) -> str:
    """``name`` as an RFC 5322 quoted-string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def q_word(text: str) -> str:
    """RFC 2047 Q-encoding of every byte, CR and LF included."""
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in text.encode()) + "?="


def b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


@pytest.fixture
def config() -> Config:
    return config_from_dict(
        {
            "group": {"name": "Harbor Business Network", "tracking_address": TRACKER,
                      "admins": [MEI], "timezone": "America/Chicago"},
            "members": [
                {"name": "Mei Chen", "email": MEI, "business": "CPA for small businesses"},
                {"name": "Tom Becker", "email": TOM, "business": "Residential roofing"},
            ],
            "timing": {"quiet_hours": ""},
            "nudges": {"max_per_week": 50, "prospect_feedback": 2},
        }
    )


def hostile_intro() -> bytes:
    """An intro from a member whose every name and its subject try injection and script."""
    return (
        # The referrer's own name, Q-encoded CR/LF (the classic =0D=0A).
        f"From: {q_word('Mei' + INJECT_NAME + SCRIPT)} <{MEI}>\r\n"
        # A quoted name with markup, and a B-encoded name with CR/LF, markup and an onerror.
        f"To: {quoted('Tom ' + SCRIPT)} <{TOM}>,\r\n"
        f"  {b_word('Linda' + IMG + INJECT_NAME)} <{LINDA}>\r\n"
        f"Cc: Harbor Referrals <{TRACKER}>\r\n"
        # The subject: an encoded CR/LF Bcc, a folded "Bcc:" line, script and an img.
        f"Subject: Intro {q_word('a' + INJECT)}\r\n Bcc: evil2@attacker.example {SCRIPT} {IMG}\r\n"
        "Date: Mon, 23 Nov 2026 09:00:00 -0600\r\n"
        "Message-ID: <hostile-intro-1@mail.chencpa.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Tom, meet Linda. Linda's bakery is looking for a roofer before winter.\r\n"
        "Linda, Tom is the roofer I told you about.\r\n\r\nMei\r\n"
    ).encode()


def roles_unknown_intro() -> bytes:
    """Two outsiders with hostile names and no role cues: refmail asks the referrer."""
    return (
        f"From: Mei Chen <{MEI}>\r\n"
        f"To: {quoted('Carl' + IMG)} <{CARL}>, {q_word('Betty' + INJECT_NAME + SCRIPT)} <{BETTY}>\r\n"
        f"Cc: {TRACKER}\r\n"
        f"Subject: {b_word('You two should talk' + INJECT + SCRIPT)}\r\n"
        "Date: Mon, 23 Nov 2026 09:05:00 -0600\r\n"
        "Message-ID: <hostile-intro-2@mail.chencpa.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hello both, I think you should talk.\r\n\r\nMei\r\n"
    ).encode()


def html_only_reply(nudge: EmailMessage, sender: str, html: str, when: datetime) -> bytes:
    """An HTML-only reply (as from a webmail), its markup hostile."""
    raw = reply_to(nudge, sender, "x", when)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    message.set_content(html, subtype="html")
    return message.as_bytes(policy=policy.SMTP)


class Pipeline:
    def __init__(self, config: Config) -> None:
        self.store = Store.memory()
        self.planner = Planner(config, self.store)
        self.tracker = Tracker(config, self.store, planner=self.planner)
        self.now = START

    def process(self, raw: bytes) -> str:
        return self.tracker.process(raw, now=self.now).outcome

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
        self.planner.plan_all(self.now)

    def outbox(self) -> list[tuple[str, str, bytes]]:
        rows = self.store.db.conn.execute("SELECT step, recipient, raw FROM outbox ORDER BY id").fetchall()
        return [(str(step), str(recipient), bytes(raw)) for step, recipient, raw in rows]

    def latest(self, step: str, recipient: str) -> EmailMessage:
        for row_step, row_recipient, raw in reversed(self.outbox()):
            if row_step.startswith(step) and row_recipient == recipient:
                message = email.message_from_bytes(raw, policy=policy.default)
                assert isinstance(message, EmailMessage)
                return message
        raise AssertionError(f"no {step} to {recipient} in {[(s, r) for s, r, _ in self.outbox()]}")


@pytest.fixture
def sent(config: Config) -> list[tuple[str, str, bytes]]:
    return hostile_story(config)


def hostile_story(config: Config) -> list[tuple[str, str, bytes]]:
    """Run the whole hostile story; return every message refmail queued."""
    run = Pipeline(config)
    assert run.process(hostile_intro()) == "created"
    assert run.process(roles_unknown_intro()) == "created"
    run.advance(days=1, hours=1)  # thank-you nudge to the provider
    thank_you = run.latest("thank_you", TOM)
    reply = reply_to(thank_you, TOM, f"Thank you Mei! {SCRIPT} {IMG}{INJECT}", run.now)
    assert run.process(reply) == "nudge_reply"
    run.advance(days=7)  # feedback requests to both parties
    feedback = run.latest("feedback", LINDA)
    html = (f"<p>Tom was great {SCRIPT} <img src=x onerror=alert(3)> "
            '<a href="javascript:alert(4)" onclick="alert(5)">link</a> '
            "&lt;script&gt;alert(6)&lt;/script&gt;</p>")
    assert run.process(html_only_reply(feedback, LINDA, html, run.now)) == "nudge_reply"
    won_text = f"WON $4,500 {IMG} <b onmouseover=alert(7)>yes</b>"
    won = reply_to(run.latest("feedback", TOM), TOM, won_text, run.now)
    assert run.process(won) == "nudge_reply"
    run.advance(hours=1)
    rows = run.outbox()
    steps = {step for step, _, _ in rows}
    # The story reached every kind of message that carries other people's words.
    for step in ("ack", "roles_question", "thank_you", "relay_thanks", "feedback", "status_update"):
        assert any(s.startswith(step) for s in steps), (step, sorted(steps))
    return rows


def _header_block(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # refmail writes 7-bit headers only
    return head


def test_every_queued_message_has_one_recipient_and_no_injected_header(
    sent: list[tuple[str, str, bytes]],
) -> None:
    for step, recipient, raw in sent:
        head = _header_block(raw)
        lines = head.split("\r\n")
        # Every line is a field or a folded continuation; no bare CR or LF anywhere.
        assert "\r" not in head.replace("\r\n", "") and "\n" not in head.replace("\r\n", "")
        names = [line.split(":", 1)[0].lower() for line in lines if not line[:1].isspace()]
        assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in names), (step, names)
        assert names.count("to") == 1, step
        assert not {"bcc", "cc", "resent-to", "resent-bcc"} & set(names), (step, names)
        message = email.message_from_bytes(raw, policy=policy.default)
        to = getaddresses([str(v) for v in message.get_all("To", [])])
        assert [address for _, address in to] == [recipient], (step, to)
        assert message.get_all("Bcc") is None
        # The attacker's words are in there, as text inside one header.
        for name in ("From", "To", "Subject", "Reply-To"):
            assert len(message.get_all(name, [])) == 1, (step, name)


def _html_parts(raw: bytes) -> list[str]:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    return [str(p.get_content()) for p in parts]


def test_no_script_or_event_handler_reaches_any_html_part(sent: list[tuple[str, str, bytes]]) -> None:
    escaped_seen = 0
    for step, _recipient, raw in sent:
        htmls = _html_parts(raw)
        assert len(htmls) == 1, step
        root = lxml.html.document_fromstring(htmls[0])
        assert root.xpath("//script") == [], step
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue  # comments, processing instructions
            assert element.tag.lower() not in {"script", "iframe", "object", "embed"}, step
            for attribute, value in element.attrib.items():
                assert not attribute.lower().startswith("on"), (step, element.tag, attribute)
                assert not value.strip().lower().startswith("javascript:"), (step, attribute, value)
        text = root.text_content()
        if "<script>" in text or "onerror" in text:
            escaped_seen += 1  # shown as words, not run
    # The hostile names and feedback did reach the HTML, escaped (not silently dropped).
    assert escaped_seen >= 3


def test_feedback_relayed_to_the_referrer_is_escaped_text(sent: list[tuple[str, str, bytes]]) -> None:
    to_mei = [(step, raw) for step, recipient, raw in sent if recipient == MEI]
    relay = [raw for step, raw in to_mei if step.startswith("relay_thanks")]
    updates = [raw for step, raw in to_mei if step.startswith("status_update")]
    assert len(relay) == 1 and len(updates) == 2

    def shown(raw: bytes) -> tuple[str, str]:
        html = _html_parts(raw)[0]
        return html, " ".join(lxml.html.document_fromstring(html).text_content().split())

    # Tom's thank-you note, relayed: his markup arrives as words, escaped in the source.
    html, text = shown(relay[0])
    assert f"Thank you Mei! {SCRIPT} {IMG} Bcc: evil@attacker.example" in text
    assert "&lt;script&gt;alert(" in html and "<script" not in html.lower()
    # Linda's HTML-only feedback: her live tags are gone, her escaped text stays text.
    html, text = shown(updates[0])
    assert "Tom was great link <script>alert(6)</script>" in text
    assert "alert(3)" not in html and "alert(5)" not in html and "javascript:" not in html
    # Tom's WON with markup: the words are relayed, the element is not.
    html, text = shown(updates[1])
    assert '"><img src=x onerror=alert(1)> <b onmouseover=alert(7)>yes</b>' in text
    assert "&lt;b onmouseover=alert(7)&gt;yes&lt;/b&gt;" in html


NAME_WORDS = ["Tom", "Becker,", '"The', 'Roofer"', "(LLC)", "<x>", "&", "Sons", "a.b", ";", ":", "\\",
              'Linda"><img', "onerror=alert(1)>", "[x]", "Jr.", "O'Neil", "=?utf-8?q?x?=", "x" * 30]
NAMES = st.lists(st.sampled_from(NAME_WORDS), min_size=1, max_size=40).map(" ".join) | st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200)
PLAIN_CONFIG = config_from_dict({"group": {"name": "G", "tracking_address": TRACKER}})


def composed(config: Config, name: str) -> EmailMessage:
    raw = compose(
        config, Rendered(subject="s", text="t", html="<p>h</p>"), to=(name, LINDA),
        message_id="<m@harbornet.example>", reply_token="abc", referral_id=1, tag="R-1",
        in_reply_to=None, references=[], list_unsubscribe=False, date=START,
    )
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@settings(max_examples=100, deadline=None)
@given(name=NAMES)
def test_long_ascii_names_with_specials_keep_one_addressee(name: str) -> None:
    """Regression: the email package unquoted a display name too long for a line, so
    "Smith, John (…long…)" arrived as two addresses (refmail now cuts names to fit)."""
    message = composed(PLAIN_CONFIG, name)
    assert [a.addr_spec for a in message["To"].addresses] == [LINDA]
    assert not message.defects


@pytest.mark.parametrize("name", ["Smith, John " + "word " * 30, "Linda" + IMG + INJECT_NAME])
def test_named_regressions(name: str) -> None:
    assert [a.addr_spec for a in composed(PLAIN_CONFIG, name)["To"].addresses] == [LINDA]
    # The group's own name (From) goes through the same cut.
    group = config_from_dict({"group": {"name": name, "tracking_address": TRACKER}})
    assert [a.addr_spec for a in composed(group, "Linda")["From"].addresses] == [TRACKER]
