"""refmail.mail.reply: the new text of a reply, and the command on its first lines."""

from __future__ import annotations

import email
from pathlib import Path

import html_text
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared import SHARED

from refmail.mail.reply import (
    extract_reply,
    extract_reply_html,
    strip_signature,
)
from refmail.reading.classification import Command
from refmail.reading.command import parse_amount, parse_command

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = SHARED / "samples"


def test_sample_outlook_reply() -> None:
    path = SAMPLES / "reply-outlook.eml"
    msg = email.message_from_bytes(path.read_bytes())
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = extract_reply(payload.decode("utf-8"))
    assert text.startswith("Won - Grace signed a $2,400 yearly support contract.")
    assert "From:" not in text and "How did it go" not in text
    assert _core(parse_command(text)) == _core(Command(status="won", value=2400, currency="USD", thanks=True))


# ----------------------------------------------------------------------------- plain-text quote styles

M, M1 = "Met her today.\n\n", "Met her today.\n"
QUOTE_STYLES = [
    ("gmail", M + "On Mon, Apr 2, 2012 at 6:26 PM, Bob <bob@x.example> wrote:\n\n> Hi"),
    ("apple mail", M + "On Apr 3, 2012, at 4:19 PM, bob wrote:\n\n> Hi\n> there"),
    ("apple quoted attribution", M1 + "> On 22 Aug 2015, at 19:21, A <a@x.example> wrote:\n>\n> Hi"),
    (
        "outlook header block",
        M + "From: Riverside <refs@r.example>\nSent: Monday, November 23, 2026 8:00 AM\n"
        "To: Omar <omar@x.example>\nSubject: [R-7] How is it going?\n\nHi Omar, how did it go?",
    ),
    (
        "outlook separator and bold headers",
        M + " ------------------------------\n\n*From:* Team [mailto:t@x.example]\n"
        "*Sent:* Thursday, February 09, 2012 1:36 PM\n*To:* jow@x.example\n*Subject:* Hi\n\nOld text",
    ),
    (
        "underscore rule",
        M1 + "________________________________\nFrom: R <r@x.example>\nSent: Friday\n\nOld",
    ),
    ("original message", M + "-----Original Message-----\nFrom: bob\nSent: Mon\n\nHi"),
    ("zimbra original message", M + "----- Original Message -----\nFrom: b@x.example\n\nHi"),
    ("hotmail quoted headers", M + "> Subject: Test\n> From: b@x.example\n> Date: Mon\n>\n> Hi"),
    ("android date first", M1 + '02.04.2012 14:20 "bob@x.example" <\nbob@x.example> написал:\n\n> Hi'),
    (
        "wrapped attribution, unquoted history",
        M + "\n\nOn Wed, May 18, 2016 at 11:10 PM Steven <n@github.example>\nwrote:\n\n\nOld",
    ),
    ("german wrote", M + "Am 12.05.2024 um 10:00 schrieb Max <max@x.example>:\n> Hallo"),
    ("german outlook", M + "Von: Max <max@x.example>\nGesendet: Montag, 12. Mai 2024\nAn: Omar\n\nAlt"),
    ("spanish wrote", M + "El lun, 12 may 2024 a las 10:00, Ana <ana@x.example> escribió:\n> Hola"),
    ("spanish outlook", M + "De: Ana <ana@x.example>\nEnviado: lunes\nPara: Omar\nAsunto: Hola\n\nAlt"),
    ("french wrote", M + "Le lun. 12 mai 2024 à 10:00, Marie <m@x.example> a écrit :\n> Bonjour"),
    ("french outlook", M + "De : Marie <m@x.example>\nEnvoyé : lundi 12 mai 2024\nÀ : Omar\n\nAlt"),
    ("italian wrote", M + 'Il 19/dic/2015 19:37, "Claudio" <c@x.example> ha scritto:\n> Ciao'),
    ("italian outlook", M + "*Da:* Claudio [mailto:c@x.example]\n*Data:* lunedì\n*A:* Omar\n\nAlt"),
    ("italian forward marker", M + "---------- Messaggio inoltrato ----------\nDa: x\n\nAlt"),
]


@pytest.mark.parametrize(("style", "body"), QUOTE_STYLES, ids=[s for s, _ in QUOTE_STYLES])
def test_quote_styles(style: str, body: str) -> None:
    assert extract_reply(body) == "Met her today."


def test_bottom_posted_reply_is_kept() -> None:
    body = "On 04/02/2012 06:26 PM, Megan wrote:\n> How did it go?\nWe met on Friday."
    assert extract_reply(body) == "We met on Friday."


def test_interleaved_reply_keeps_text_between_quotes() -> None:
    body = (
        "On Tue, Apr 29, 2014 at 4:22 PM, Dev <d@x.example> wrote:\n\n> Did you meet?\n\n"
        "Yes, on Monday.\n\n> And the proposal?\n\nSent on Tuesday.\n"
    )
    assert extract_reply(body) == "Yes, on Monday.\n\nSent on Tuesday."


def test_plain_text_without_quotes_is_unchanged() -> None:
    body = "One: here.\n\n- first bullet\n- second bullet\n\nA paragraph with -- dashes inside."
    assert extract_reply(body) == body


def test_colon_line_without_date_is_not_an_attribution() -> None:
    body = "Here is what she asked:\n> can you start in May?\nYes I can."
    assert extract_reply(body) == "Here is what she asked:\nYes I can."


# ----------------------------------------------------------------------------- signatures

SIGNATURES = [
    ("rfc 3676 delimiter", "Met her today.\n\n-- \nOmar Haddad\nHaddad Tech"),
    ("bare double dash", "Met her today.\n\n--\nOmar"),
    ("iphone", "Met her today.\n\nSent from my iPhone"),
    ("outlook mobile", "Met her today.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>"),
    ("german phone", "Met her today.\n\nVon meinem iPhone gesendet"),
    ("spanish phone", "Met her today.\n\nEnviado desde mi iPhone"),
    ("italian phone", "Met her today.\n\nInviato da iPhone"),
    ("best regards", "Met her today.\n\nBest regards,\nOmar Haddad\nHaddad Tech\n+1 555 0100"),
    ("thanks and name", "Met her today.\n\nThanks,\nOmar"),
    ("german sign-off", "Met her today.\n\nMit freundlichen Grüßen\nMax Muster"),
    ("french sign-off", "Met her today.\n\nCordialement,\nMarie"),
    ("dash name", "Met her today.\n\n-Omar Haddad"),
    ("typed block", "Met her today.\n\nOmar Haddad\nHaddad Tech | IT support\n+1 555 0100"),
    ("typed block with link", "Met her today.\n\nMaria Costa\nCosta Books\nwww.costabooks.example"),
    ("slash name", "Met her today.\n\n/Omar"),
    ("list footer", "Met her today.\n\n__\nreferrals mailing list\nreferrals@lists.example.org"),
]


def test_a_last_paragraph_that_is_not_a_signature_stays() -> None:
    body = "Met her today.\n\nShe wants a quote by Friday.\nCall me on +1 555 0100 if needed."
    assert extract_reply(body) == body
    body = "Met her today.\n\nGrace Liu\nwill call you on Monday."
    assert extract_reply(body) == body


@pytest.mark.parametrize(("style", "body"), SIGNATURES, ids=[s for s, _ in SIGNATURES])
def test_signatures(style: str, body: str) -> None:
    assert extract_reply(body) == "Met her today."


def test_a_sentence_starting_like_a_phone_footer_is_kept() -> None:
    body = "Here is another email\n\nSent from my desk, is much easier then my mobile phone."
    assert strip_signature(body) == body


def test_closing_thanks_is_not_a_signature() -> None:
    assert extract_reply("Won the job.\nThanks!") == "Won the job.\nThanks!"


def test_signature_is_never_the_first_line() -> None:
    assert extract_reply("Thanks,\nOmar") == "Thanks,\nOmar"


# ----------------------------------------------------------------------------- HTML

HTML_STYLES = [
    (
        "gmail_quote",
        '<div dir="ltr">Met her today.</div><div class="gmail_quote"><div class="gmail_attr">'
        "On Mon, Bob &lt;b@x.example&gt; wrote:</div><blockquote class=\"gmail_quote\">Hi</blockquote></div>",
    ),
    (
        "apple blockquote type=cite",
        "<div>Met her today.</div><div><br><blockquote type=\"cite\"><div>On 3 Apr 2012, at 16:19, "
        "bob &lt;b@x.example&gt; wrote:</div><div>Hi</div></blockquote></div>",
    ),
    (
        "outlook divRplyFwdMsg",
        '<div>Met her today.</div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg">'
        "<b>From:</b> R &lt;r@x.example&gt;<br><b>Sent:</b> Monday</div><div>How did it go?</div>",
    ),
    (
        "outlook border-top",
        "<div class=WordSection1><p>Met her today.</p><div style='border:none;border-top:solid #B5C4DF "
        "1.0pt'><p><b>From:</b> R [mailto:r@x.example]<br><b>Sent:</b> Thursday<br><b>To:</b> o"
        "</p></div><p>How did it go?</p></div>",
    ),
    (
        "thunderbird moz-cite-prefix",
        '<body>Met her today.<br><div class="moz-cite-prefix">On 26.06.2014 14:41, R wrote:<br></div>'
        '<blockquote type="cite">How did it go?</blockquote></body>',
    ),
    (
        "yahoo_quoted",
        '<div>Met her today.</div><div id="yahoo_quoted_123" class="yahoo_quoted"><div>On Monday, '
        "R wrote:</div><div>How did it go?</div></div>",
    ),
    (
        "german outlook labels",
        "<div>Met her today.</div><div><p><b>Von:</b> R &lt;r@x.example&gt;<br><b>Gesendet:</b> "
        "Montag<br><b>An:</b> Omar</p><p>Wie lief es?</p></div>",
    ),
    (
        "yandex attribution before blockquote",
        '<p>Met her today.<br /><br />26.06.2014, 14:41, "R" &lt;<a href="mailto:r@x.example">'
        "r@x.example</a>&gt;:</p><blockquote>How did it go?</blockquote>",
    ),
]


@pytest.mark.parametrize(("style", "html"), HTML_STYLES, ids=[s for s, _ in HTML_STYLES])
def test_html_quote_styles(style: str, html: str) -> None:
    assert extract_reply("", html=html) == "Met her today."
    assert html_text.extract_text(extract_reply_html(html)).strip() == "Met her today."


def test_html_is_used_only_when_text_is_empty() -> None:
    html = "<div>From the HTML part</div>"
    assert extract_reply("From the text part", html=html) == "From the text part"
    assert extract_reply("  \n", html=html) == "From the HTML part"


def test_html_signature_is_dropped_by_extract_reply_only() -> None:
    html = '<div>Met her today.</div><div class="gmail_signature">Omar Haddad | Haddad Tech</div>'
    assert extract_reply("", html=html) == "Met her today."
    assert "Omar Haddad" in html_text.extract_text(extract_reply_html(html))


# ----------------------------------------------------------------------------- commands

C = Command
COMMANDS = [
    # the keywords themselves, as the mailto: links send them
    ("CONTACTED", C(status="contacted")),
    ("MET", C(status="meeting")),
    ("PROPOSAL", C(status="proposal")),
    ("WON", C(status="won")),
    ("WON 4500", C(status="won", value=4500)),
    ("LOST", C(status="lost")),
    ("NO FIT", C(status="no_fit")),
    ("NO RESPONSE", C(status="unresponsive")),
    ("THANKS", C(thanks=True)),
    ("STOP", C(stop=True)),
    # English everyday variants
    ("we spoke yesterday, she is keen", C(status="contacted")),
    ("I called her on Monday.", C(status="contacted")),
    ("We met on Tuesday at her office", C(status="meeting")),
    ("Meeting booked for next week", C(status="meeting")),
    ("Sent a quote this morning", C(status="proposal")),
    ("won!", C(status="won")),
    ("WON $4,500", C(status="won", value=4500, currency="USD")),
    ("Signed them last week - $4.5k", C(status="won", value=4500, currency="USD")),
    ("Closed the deal: 4,500 USD", C(status="won", value=4500, currency="USD")),
    ("She hired me! USD 4500 for the year", C(status="won", value=4500, currency="USD")),
    ("Won - £2,000 retainer", C(status="won", value=2000, currency="GBP")),
    ("They went with someone else", C(status="lost")),
    ("Not a good fit, she needs a tax lawyer", C(status="no_fit")),
    ("never heard back from him", C(status="unresponsive")),
    ("No answer so far", C()),  # not final: "so far" (issue 16)
    ("Thank you so much!", C(thanks=True)),
    ("Please stop emailing me", C(stop=True)),
    ("unsubscribe", C(stop=True)),
    # German
    ("Habe sie gestern kontaktiert", C(status="contacted")),
    ("Wir haben uns getroffen", C(status="meeting")),
    ("Angebot ist raus", C(status="proposal")),
    ("Gewonnen! 4.500 €", C(status="won", value=4500, currency="EUR")),
    ("Passt leider nicht", C(status="no_fit")),
    ("Keine Antwort bisher", C()),  # "bisher": so far, not final
    ("Keine Antwort", C(status="unresponsive")),
    ("Danke!", C(thanks=True)),
    ("Abmelden", C(stop=True)),
    # Spanish
    ("Ya la he contactado", C(status="contacted")),
    ("Envié la propuesta el lunes", C(status="proposal")),
    ("¡Ganado! €4.500,50", C(status="won", value=4500.5, currency="EUR")),
    ("No encaja con lo que busca", C(status="no_fit")),
    ("Sin respuesta", C(status="unresponsive")),
    ("Gracias", C(thanks=True)),
    ("Baja", C(stop=True)),
    # French
    ("Je l'ai contacté hier", C(status="contacted")),
    ("On s'est rencontrés jeudi", C(status="meeting")),
    ("Devis envoyé", C(status="proposal")),
    ("Gagné ! 4 500 €", C(status="won", value=4500, currency="EUR")),
    ("Pas adapté à ses besoins", C(status="no_fit")),
    ("Pas de réponse", C(status="unresponsive")),
    ("Merci beaucoup", C(thanks=True)),
    ("Je veux me désabonner", C(stop=True)),
    # Swiss francs, European grouping
    ("Won, CHF 1'200", C(status="won", value=1200, currency="CHF")),
    ("WON 2.400 EUR", C(status="won", value=2400, currency="EUR")),
    # combinations
    ("Won - Grace signed. Thanks Nadia!", C(status="won", thanks=True)),
    ("Contacted her, meeting booked for Friday", C(status="meeting")),
    ("LOST\nThanks for the intro anyway", C(status="lost", thanks=True)),
    ("STOP. No more emails please", C(stop=True)),
    # traps
    ("not won yet", C()),
    ("I haven't contacted her", C()),
    ("No, we didn't meet", C()),
    ("No", C()),
    ("No thanks", C()),
    ("Noch nicht gewonnen", C()),
    ("Todavía no la he contactado", C()),
    ("Nous n'avons pas gagné", C(status=None)),
    ("We'll stop by her office on Monday", C()),
    ("We lost touch for a while but I will call her", C()),
    ("Met? Not yet.", C()),
    ("Not yet, but we met", C(status="meeting")),
    ("Won - a client since 2019", C(status="won")),
    ("Won, call me at +1 555 123 4567", C(status="won")),
    ("Won, 20% above her budget", C(status="won")),
    ("Won a 12 month contract", C(status="won")),
    ("Hi,\nquick update below.\nShe is travelling.\nWe won in the end.", C()),
]


def _core(command: Command) -> tuple[object, ...]:
    """What the table above states: status, value, currency, thanks, stop."""
    return command.status, command.value, command.currency, command.thanks, command.stop


@pytest.mark.parametrize(("text", "expected"), COMMANDS, ids=[t[:40] for t, _ in COMMANDS])
def test_parse_command(text: str, expected: Command) -> None:
    assert _core(parse_command(text)) == _core(expected)


def test_parse_command_reads_extracted_text_only() -> None:
    body = "Thanks for checking in.\n\nOn Mon, Nov 23, 2026 at 8:00 AM Refs <refs@r.example> wrote:\n> WON?"
    assert _core(parse_command(extract_reply(body))) == _core(C(thanks=True))


AMOUNTS = [
    ("$4,500", (4500, "USD")),
    ("$4.5k", (4500, "USD")),
    ("4500", (4500, None)),
    ("4,500 USD", (4500, "USD")),
    ("4.500 €", (4500, "EUR")),
    ("4 500 €", (4500, "EUR")),
    ("4\u00a0500 €", (4500, "EUR")),
    ("€4.500,50", (4500.5, "EUR")),
    ("USD 4500", (4500, "USD")),
    ("£2,000", (2000, "GBP")),
    ("2.400 EUR", (2400, "EUR")),
    ("CHF 1'200", (1200, "CHF")),
    ("$1,250.75", (1250.75, "USD")),
    ("$1.2M", (1200000, "USD")),
    ("since 2019", None),
    ("+1 555 123 4567", None),
    ("(555) 123-4567", None),
    ("20%", None),
    ("on 12.05.2024 at 10:30", None),
    ("12 months", None),
]


@pytest.mark.parametrize(("text", "expected"), AMOUNTS, ids=[t for t, _ in AMOUNTS])
def test_parse_amount(text: str, expected: tuple[int | float, str | None] | None) -> None:
    result = parse_amount(text)
    assert result == expected
    if result is not None and isinstance(expected[0] if expected else None, int):
        assert isinstance(result[0], int)


# ----------------------------------------------------------------------------- robustness

@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_command_never_raises(text: str) -> None:
    assert isinstance(parse_command(text), Command)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_extract_reply_never_raises(text: str) -> None:
    result = extract_reply(text)
    assert result == result.strip()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abdiv:-\n>#@0123456789"))) | st.text())
def test_extract_reply_html_never_raises(html: str) -> None:
    assert isinstance(extract_reply("", html=html), str)
    assert isinstance(extract_reply_html(html), str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["> quoted", "On Mon, 1 Jan 2024, A <a@x> wrote:", "From: a", "Sent: b",
                                 "", "-- ", "Thanks,", "text", "-----Original Message-----"])))
def test_extract_reply_on_mail_like_lines(lines: list[str]) -> None:
    result = extract_reply("\n".join(lines))
    assert "> quoted" not in result


# ----------------------------------------------------------------------------- classes of issue 16

def test_format_flowed_soft_breaks_are_joined_in_the_parsed_text() -> None:
    from refmail.mail.message import parse_message

    raw = (
        b"From: a@x.example\r\nTo: b@x.example\r\nSubject: Re: hi\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n"
        b"We met on Friday and she sig \r\nned the contract.  \r\nThanks!\r\n\r\n"
        b"> How did  \r\n> it go?\r\n-- \r\nOmar\r\n"
    )
    text = parse_message(raw).text
    assert "We met on Friday and she signed the contract. Thanks!" in text
    assert "> How did it go?" in text and "-- \nOmar" in text
    assert extract_reply(text) == "We met on Friday and she signed the contract. Thanks!"


def test_unflow_keeps_fixed_lines_and_quote_depths() -> None:
    from refmail.mail.decoding import unflow

    assert unflow("one \ntwo\nthree") == "one two\nthree"
    assert unflow("> a \n>> b\n c") == "> a \n>> b\nc"  # depth changes end a paragraph; unstuffed
    assert unflow("para \n\nnext") == "para \n\nnext"


def test_wrapped_lines_that_lost_their_quote_mark_stay_quoted() -> None:
    body = ("Met her today.\n\nOn Mon, May 12, 2024 at 10:15 AM Sam <s@x.example> wrote:\n"
            "> Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod d\n"
            "ignissim odio?\n> Next\n")
    assert extract_reply(body) == "Met her today."


def test_an_interleaved_answer_right_under_a_short_quote_is_kept() -> None:
    body = "> Did you meet?\nYes, on Monday.\n> And the proposal?\nSent on Tuesday."
    assert extract_reply(body) == "Yes, on Monday.\nSent on Tuesday."


def test_a_header_block_above_any_new_text_is_skipped() -> None:
    body = ("Od: Jan <jan@x.example>\nWysłano: środa, 1 marca 2023 12:00\nTemat: Test\n\n"
            "Cześć Anno,\n\nPozdrawiam,\nJan")
    assert extract_reply(body) == "Cześć Anno,"


def test_a_phone_footer_ends_the_text_even_over_unmarked_history() -> None:
    body = "Met her today.\n\nSent from my Wiko RIDGE FAB 4G\n\nHi Omar, how did it go? Reply WON or LOST."
    assert extract_reply(body) == "Met her today."
