"""The new text of a reply: quoted history and signatures removed.

SPEC "Replies to nudges": only the new text counts — quoted history and
signatures go before anything is read — and keywords on the first lines set
the status. Everything here is pure (str in, str or :class:`Command` out).

Quote stripping has two layers. ``mailparser_reply`` (maintained, with header
patterns for a dozen languages) finds the reply headers — ``On … wrote:``,
``-----Original Message-----``, Outlook ``From:/Sent:`` blocks. Our own rules
on top handle what it cannot: interleaved and bottom-posted replies (it cuts
at the first header, losing text written under a quote), attributions wrapped
over several lines or starting with a date, localized separators, and HTML
bodies. Signatures are cut by our rules only, because the library's own rule
ends the message at any line starting with ``-`` (bullet lists) or ``Thanks,``.

The command in the new text is read by :mod:`refmail.reading.command`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

import html_text
import lxml.etree
import lxml.html
from mailparser_reply.parser import EmailMessage

__all__ = [
    "extract_reply",
    "extract_reply_html",
    "strip_quotes",
    "strip_signature",
]

# --------------------------------------------------------------------------- quotes (plain text)

#: Languages whose reply headers mailparser_reply should look for. Polish is left
#: out on purpose: its ``from_header`` accepts a single ``Data:``/``Do:`` line.
_LIB_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "da", "sv", "cs"]
_LIB_HEADER = EmailMessage(text="", languages=list(_LIB_LANGUAGES)).HEADER_REGEX
_LIB_MAX_LINES = 1000
_NEWLINE = re.compile("\n")
_DASHED_RULE = re.compile(r"\s*[-_=*]{3,}\s*")

_FROM_LABELS = r"From|Von|De|Da|Van|Från|Fra|Od|От|Desde|Afzender|Lähettäjä"
_OTHER_LABELS = (
    r"Sent|To|Subject|Date|Cc|Bcc|Reply-To|Gesendet|An|Betreff|Datum|Kopie|Enviado|Enviada|"
    r"Para|Asunto|Fecha|Envoyé|À|A|Objet|Inviato|Oggetto|Ogg|Data|Verzonden|Aan|Onderwerp|"
    r"Skickat|Till|Ämne|Sendt|Til|Emne|Dato|Assunto|Отправлено|Кому|Тема|Дата|Копия"
)
# Outlook/Exchange header lines, optionally bold in Markdown style ("*From:* …").
_LABEL_LINE = re.compile(rf"^\s*\*{{0,2}}(?:({_FROM_LABELS})|{_OTHER_LABELS})\s?:(?:\*{{1,2}})?(?:\s|$)")
_FROM_INLINE = re.compile(rf"^\s*\*{{0,2}}(?:{_FROM_LABELS})\s?:.*\b(?:Sent|Date|Gesendet|Datum|"
                          rf"Enviado|Fecha|Envoyé|Inviato|Data)\s?:", re.IGNORECASE)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht|Mensaje original|"
    r"Message d'origine|Messaggio originale|Oorspronkelijk bericht|Mensagem original|"
    r"Oprindelig meddelelse|Ursprungligt meddelande|Исходное сообщение|Forwarded message|"
    r"Weitergeleitete Nachricht|Mensaje reenviado|Message transféré|Messaggio inoltrato)"
    r"\s*-{2,}\s*$|^\s*(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht)\s?:\s*$",
    re.IGNORECASE,
)
#: A rule of underscores: Outlook puts one above its header block, mailing lists
#: above their footer; either way the new text has ended.
_RULE = re.compile(r"^\s*_{20,}\s*$")
_WROTE = (
    r"wrote|writes|schrieb|escribió|escribio|a écrit|a ecrit|ha scritto|scrive|schreef|"
    r"escreveu|skrev|napsal\(a\)|napisał\(a\)|napisał|написал\(а\)|написала|написал|пишет|"
    r"kirjoitti|yazdı|写道|작성"
)
_WROTE_RE = re.compile(rf"(?:^|\W)(?:{_WROTE})(?:\W.{{0,150}})?\s?:$", re.IGNORECASE)
# Attributions that start with the date (Android, Yandex, mail.ru, Windows Mail).
_DATELINE_RE = re.compile(
    r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|[A-Za-zА-Яа-я]{2,4}\.?,? \d{1,2}\.? [A-Za-zА-Яа-я]{3,}\.? "
    r"\d{4}).{0,250}:$"
)
_DATEISH = re.compile(r"@|\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
_CONTINUATION = re.compile(rf"^(?:<|[\w.+-]+@|(?:{_WROTE})\b)", re.IGNORECASE)


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution(text: str, *, strict: bool) -> bool:
    """Does ``text`` read like "On <date>, <name> wrote:" in some language?

    ``strict`` is for a header with no quote under it, which ends the reply:
    then it must name a verb of writing and carry a date or an address.
    Beside a ``>`` quote a line ending in ``:`` with a date or address suffices.
    """
    text = text.strip()
    if not text.endswith(":") or len(text) > 400:
        return False
    if strict:
        return bool(_WROTE_RE.search(text) and _DATEISH.search(text))
    return bool(_WROTE_RE.search(text) or _DATELINE_RE.match(text) or _DATEISH.search(text))


def _attribution_start(lines: list[str], end: int) -> int:
    """First line of an attribution ending at ``lines[end]``, wrapped lines included."""
    start = end
    while start > 0 and end - start < 2 and lines[start - 1].strip():
        above, top = lines[start - 1].strip(), lines[start].strip()
        if not (_CONTINUATION.match(top) or above.endswith(("<", ","))):
            break
        start -= 1
    return start


def _header_block(lines: list[str], i: int) -> bool:
    """An Outlook header block starts at ``lines[i]``: a run of label lines with a From."""
    if _FROM_INLINE.match(lines[i]):
        return True
    if not _LABEL_LINE.match(lines[i]):
        return False
    labels = froms = 0
    for line in lines[i : i + 8]:
        if not line.strip():
            break
        m = _LABEL_LINE.match(line)
        if m:
            labels += 1
            froms += bool(m.group(1))
    return labels >= 2 and froms >= 1


def _library_headers(lines: list[str]) -> dict[int, int]:
    """Reply headers found by mailparser_reply, as {first line: last line}.

    The library matches on lines stripped of surrounding blanks, which keeps
    line numbers, so a match maps back to the original lines. Header blocks
    without any From-like label ("To: …" and "Subject: …" typed in a reply) are
    not taken.
    """
    # Its English pattern backtracks quadratically on long lines, so it only sees
    # what a header can be: short lines with a colon in them or just below.
    colon = [":" in line for line in lines[:_LIB_MAX_LINES]] + [False, False]
    text = "\n".join(
        line.strip() if len(line) <= 250 and any(colon[i : i + 3]) else ""
        for i, line in enumerate(lines[:_LIB_MAX_LINES])
    )
    starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]  # offset of each line
    found: dict[int, int] = {}
    for m in _LIB_HEADER.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start] == "\n":
            start += 1
        while end > start and text[end - 1] == "\n":
            end -= 1
        if start >= end:
            continue
        first, last = bisect.bisect_right(starts, start) - 1, bisect.bisect_right(starts, end) - 1
        chunk = lines[first : last + 1]
        if _WROTE_RE.search(" ".join(s.strip() for s in chunk)) or any(
            _SEPARATOR.match(s) or _from_label(s) for s in chunk
        ):
            found.setdefault(first, last)
    return found


def _from_label(line: str) -> bool:
    m = _LABEL_LINE.match(line)
    return bool(m and m.group(1))


def strip_quotes(text: str) -> str:
    """``text`` without quoted history; signatures are left in place.

    ``>`` quotes are removed with the attribution line(s) just above them, and
    text written between or under quotes is kept (interleaved and bottom-posted
    replies). A header with no ``>`` quote under it — ``On … wrote:`` followed
    by the old message, ``-----Original Message-----``, an Outlook ``From:/Sent:``
    block, a rule of underscores — ends the new text.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    library = _library_headers(lines)
    after: list[int | None] = [None] * len(lines)  # index of the next non-blank line
    for k in range(len(lines) - 2, -1, -1):
        after[k] = k + 1 if lines[k + 1].strip() else after[k + 1]
    kept: list[str] = []
    dropped = False  # something was removed since the last kept line
    i = 0
    while i < len(lines):
        line = lines[i]
        if _quoted(line):
            if not dropped:
                _drop_attribution(kept)
            i, dropped = i + 1, True
            continue
        if dropped and not line.strip() and (not kept or not kept[-1].strip()):
            i += 1  # no run of blank lines where a quote was taken out
            continue
        nxt, end = after[i], library.get(i)
        below = after[end] if end is not None else None
        if end is not None and below is not None and _quoted(lines[below]):
            i, dropped = end + 1, True  # attribution over a quote: drop, keep the rest
            continue
        if i in library or _SEPARATOR.match(line) or _RULE.match(line) or _header_block(lines, i):
            break
        if line.strip() and (nxt is None or not _quoted(lines[nxt])):
            start = _attribution_start(lines, i)
            if not any(map(_quoted, lines[start:i])) and _attribution(
                " ".join(s.strip() for s in lines[start : i + 1]), strict=True
            ):
                del kept[len(kept) - (i - start) :]
                break
        kept.append(line)
        i += 1
        dropped = dropped and not line.strip()
    _trim_tail(kept)
    return "\n".join(kept).strip()


def _drop_attribution(kept: list[str]) -> None:
    """Remove the attribution that introduces the quote about to be dropped."""
    end = len(kept) - 1
    while end >= 0 and not kept[end].strip():
        end -= 1
    if end < 0:
        return
    start = _attribution_start(kept, end)
    if _attribution(" ".join(s.strip() for s in kept[start : end + 1]), strict=False):
        del kept[start:]


def _trim_tail(kept: list[str]) -> None:
    """Drop trailing blank lines, dashed rules and a dangling attribution."""
    while kept and (not kept[-1].strip() or _DASHED_RULE.fullmatch(kept[-1])):
        kept.pop()
    if kept:
        _drop_attribution(kept)
        while kept and not kept[-1].strip():
            kept.pop()


# --------------------------------------------------------------------------- signatures

#: RFC 3676 §4.3: the signature starts at a line "-- " (often sent as "--").
_SIG_DASHES = re.compile(r"^-- ?$")
# Phone and app footers ("Sent from my iPhone", "Get Outlook for iOS"), a few
# words at most: "Sent from my desk, is much easier…" is a sentence, not one.
_SENT_FROM = re.compile(
    r"^(?:Sent from my|Sent from|Sent with|Sent via|Sent using|Get Outlook for|Envoyé de mon|"
    r"Envoyé depuis|Envoyé avec|Von meinem|Gesendet von|Gesendet mit|Gesendet vom|"
    r"Enviado desde|Enviado con|Inviato da|Inviato dal|Inviato con|Verzonden vanaf|"
    r"Verstuurd vanaf|Skickat från|Sendt fra|Enviado do)\b[\w .'’()/:<>@-]{0,60}$",
    re.IGNORECASE,
)
#: Closing formulas; a block starting with one near the end is the sign-off.
_SIGN_OFF = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many|with)?\s*regards|best(?: wishes)?|all the best|cheers|"
    r"sincerely|yours(?: truly| sincerely)?|thanks|thank you|many thanks|thx|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|(?:viele|beste|liebe|herzliche) grüße|"
    r"(?:viele|beste|liebe|herzliche) grüsse|grüße|gruß|lg|vg|mfg|saludos(?: cordiales)?|"
    r"un saludo|atentamente|cordialmente|un abrazo|cordialement|bien à vous|bien cordialement|"
    r"bonne journée|amitiés|cordiali saluti|distinti saluti|saluti|un saluto|"
    r"met vriendelijke groet(?:en)?|groeten)\s*[,.!]*(?:\s+[\w.'-]+){0,3}\s*$",
    re.IGNORECASE,
)
_THANKS_OFF = re.compile(r"^(?:thanks|thank you|many thanks|thx)\b", re.IGNORECASE)
#: "-Abhishek Kona": a dash glued to a name, the mailing-list habit.
_DASH_NAME = re.compile(r"^-[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3}$")


def strip_signature(text: str) -> str:
    """``text`` without its signature block, if one can be told apart.

    Cut at the RFC 3676 delimiter, at a phone footer, at a "-Name" line, or at
    a sign-off ("Best regards", "Cordialement") followed only by a few short
    lines. "Thanks" counts as a sign-off only with a name under it or a comma
    after it, so a closing "Thanks!" stays in the text (it is a THANKS command).
    The first line is never a signature.
    """
    lines = text.split("\n")
    # Per line: how many non-empty lines follow, and the longest of them.
    count, longest = [0] * (len(lines) + 1), [0] * (len(lines) + 1)
    for k in range(len(lines) - 1, -1, -1):
        size = len(lines[k].strip())
        count[k] = count[k + 1] + (size > 0)
        longest[k] = max(longest[k + 1], size)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if i == 0 or not line:
            continue
        rest = count[i + 1]
        if (
            _SIG_DASHES.match(line)
            or (_SENT_FROM.match(line) and rest <= 2)
            or (_DASH_NAME.match(line) and rest <= 3)
            or (
                _SIGN_OFF.match(line)
                and rest <= 6
                and longest[i + 1] <= 60
                and (rest or line.endswith(",") or not _THANKS_OFF.match(line))
            )
        ):
            return "\n".join(lines[:i]).strip()
    return text.strip()


# --------------------------------------------------------------------------- quotes (HTML)

def _has_class(name: str) -> str:
    return f'contains(concat(" ", normalize-space(@class), " "), " {name} ")'


#: Containers that hold nothing but the quoted message (and its attribution).
_HTML_QUOTES = " | ".join(
    [
        f"//div[{_has_class('gmail_quote')}]",
        f"//div[{_has_class('gmail_quote_container')}]",
        f"//div[{_has_class('moz-cite-prefix')}]",
        f"//div[{_has_class('yahoo_quoted')}]",
        f"//div[{_has_class('protonmail_quote')}]",
        "//*[@id='yahoo_quoted']",
        "//div[@type='cite']",
    ]
)
#: Markers after which everything is history: Outlook's reply header, Hotmail's
#: and Zimbra's rules, Outlook's "append on send" anchor.
_HTML_CUTS = (
    "//div[@id='divRplyFwdMsg'] | //hr[@id='stopSpelling'] | //hr[@id='zwchr']"
    " | //div[@id='appendonsend'] | //div[@class='OutlookMessageHeader']"
)
_HTML_SIGNATURES = (
    f"//div[{_has_class('gmail_signature')}] | //*[@data-smartmail='gmail_signature']"
    f" | //div[@id='Signature'] | //div[{_has_class('moz-signature')}]"
    " | //*[@data-signatureblock='true'] | //div[@id='ms-outlook-mobile-signature']"
    " | //div[@id='AppleMailSignature']"
)
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "br", "center", "dd", "div", "dl", "dt",
    "fieldset", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "html",
    "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "th", "tr", "ul",
}
_HTML_LABEL = re.compile(rf"(?:^|\s)\*{{0,2}}(?:({_FROM_LABELS})|{_OTHER_LABELS})\s?:")
_HTML_SEPARATOR = re.compile(_SEPARATOR.pattern.replace("\\s*$|", "|"), re.IGNORECASE)
_OPENER = re.compile(r"^(?:On|Am|Le|El|Il|Op|Em|Den|Dne|Dnia|\d)\b")
_UP_TO_WROTE = re.compile(rf"^.{{0,300}}?(?:{_WROTE})\b[^:]{{0,150}}:", re.IGNORECASE)


def _history_starts(head: str) -> bool:
    """Does a block whose text is ``head`` start the quoted history?"""
    labels = list(_HTML_LABEL.finditer(head[:500]))
    if labels and labels[0].start() == 0 and len(labels) >= 2 and any(m.group(1) for m in labels):
        return True
    if _HTML_SEPARATOR.match(head):
        return True
    m = _UP_TO_WROTE.match(head)
    return bool(m and _OPENER.match(head) and _attribution(m.group(0), strict=True))


def _head_text(el: lxml.etree._Element, size: int = 600) -> str:
    """The first ``size`` characters of ``el``'s text, whitespace collapsed."""
    pieces: list[str] = []
    total = 0
    for piece in el.itertext():
        pieces.append(piece)
        total += len(piece)
        if total > size:
            break
    return " ".join(" ".join(pieces).split())[:size]


def _parse_html(html: str) -> lxml.html.HtmlElement:
    return html_text.parse_html(html)


def _cut_from(el: lxml.html.HtmlElement) -> None:
    """Remove ``el`` and everything after it in document order."""
    node = el
    while node.getparent() is not None:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node.tail = None
        node = parent
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def _reverse_events(el: lxml.etree._Element) -> Iterator[tuple[str, lxml.etree._Element]]:
    yield "end", el
    for child in reversed(list(el)):
        yield "tail", child
        yield from _reverse_events(child)
    yield "text", el
    yield "start", el


def _events_before(el: lxml.etree._Element) -> Iterator[tuple[str, lxml.etree._Element]]:
    """(kind, element) pairs before ``el`` in document order, nearest first."""
    node = el
    while True:
        prev = node.getprevious()
        if prev is not None:
            yield "tail", prev
            yield from _reverse_events(prev)
            node = prev
            continue
        parent = node.getparent()
        if parent is None:
            return
        yield "text", parent
        yield "start", parent
        node = parent


def _tag(el: lxml.etree._Element) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _drop_html_attribution(quote: lxml.etree._Element) -> None:
    """Remove the line of inline content just above ``quote`` when it is an attribution."""
    texts: list[tuple[str, lxml.etree._Element]] = []
    opened: set[lxml.etree._Element] = set()
    closed: set[lxml.etree._Element] = set()
    size = 0
    for steps, (kind, el) in enumerate(_events_before(quote)):
        if kind in ("text", "tail"):
            value = el.text if kind == "text" else el.tail
            if value and value.strip():
                texts.append((kind, el))
                size += len(value)
        elif _tag(el) in _BLOCKS:
            if texts:
                break
        else:
            (closed if kind == "end" else opened).add(el)
        if size > 400 or steps > 300:
            return
    line = "".join((e.text if k == "text" else e.tail) or "" for k, e in reversed(texts))
    if not texts or not _attribution(" ".join(line.split()), strict=False):
        return
    for kind, el in texts:
        if kind == "text":
            el.text = None
        else:
            el.tail = None
    for el in opened & closed:
        if el.getparent() is not None:
            el.drop_tree()


def _strip_html_tree(root: lxml.html.HtmlElement, *, signatures: bool) -> None:
    for el in root.xpath(_HTML_QUOTES):
        if el.getparent() is not None:
            el.drop_tree()
    for quote in root.xpath("//blockquote"):
        if quote.getparent() is not None and not any(
            _tag(a) == "blockquote" for a in quote.iterancestors()
        ):
            _drop_html_attribution(quote)
            quote.drop_tree()
    cuts = root.xpath(_HTML_CUTS)
    if cuts:
        _cut_from(cuts[0])
    for el in root.iter():
        if (
            _tag(el) in _BLOCKS
            and el is not root
            and el.getparent() is not None
            and _history_starts(_head_text(el))
        ):
            _cut_from(el)
            break
    if signatures:
        for el in root.xpath(_HTML_SIGNATURES):
            if el.getparent() is not None:
                el.drop_tree()


def extract_reply_html(html: str) -> str:
    """``html`` without its quoted history, as HTML (signatures are kept).

    Drops Gmail/Thunderbird/Yahoo/ProtonMail quote containers, every
    ``<blockquote>`` with the attribution line just above it, and everything
    from an Outlook/Hotmail reply header onwards (``divRplyFwdMsg``, a block
    that starts with ``From: … Sent: …`` in any supported language, a
    ``-----Original Message-----`` line).
    """
    try:
        root = _parse_html(html)
        _strip_html_tree(root, signatures=False)
        return lxml.html.tostring(root, encoding="unicode")
    except (lxml.etree.LxmlError, ValueError):
        return ""


def _html_to_text(html: str) -> str:
    try:
        root = _parse_html(html)
        _strip_html_tree(root, signatures=True)
        return html_text.extract_text(root)
    except (lxml.etree.LxmlError, ValueError):
        return ""


def extract_reply(text: str, *, html: str | None = None) -> str:
    """The new text of a reply: quoted history and signature removed, stripped.

    When ``text`` is empty and ``html`` is given (an HTML-only message), the
    HTML is stripped of its quote containers first and then converted to text.
    """
    if not text.strip() and html:
        text = _html_to_text(html)
    return strip_signature(strip_quotes(text))
