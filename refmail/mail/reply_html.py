"""The new text of an HTML reply, cut on the HTML tree rather than on its text.

Quote containers survive better than their text: Gmail's ``gmail_quote``,
Thunderbird's ``moz-cite-prefix``, Yahoo's ``yahoo_quoted``, ProtonMail's
``protonmail_quote``, Apple Mail's ``<blockquote type="cite">``, Outlook's
``divRplyFwdMsg`` and ``appendonsend``, Zimbra's and Hotmail's rules — and,
for clients that mark nothing, the first block that starts like quoted
history (an Outlook header block, a separator, an attribution), found with
the same tables as plain text (:mod:`refmail.mail.quoting`). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import html_text
import lxml.etree
import lxml.html

from refmail.mail.quoting import (
    HEADER_LABEL_ANYWHERE,
    SEPARATOR_START,
    WROTE,
    attribution,
    opens_like_attribution,
)

__all__ = ["extract_reply_html", "html_reply_text"]


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
_UP_TO_WROTE = re.compile(rf"^.{{0,300}}?(?:{WROTE.pattern})[^:：]{{0,150}}[:：]", re.IGNORECASE)


def _history_starts(head: str) -> bool:
    """Does a block whose text is ``head`` start the quoted history?"""
    labels = list(HEADER_LABEL_ANYWHERE.finditer(head[:500]))
    if labels and labels[0].start() == 0 and len(labels) >= 2 and any(m.group(1) for m in labels):
        return True
    if SEPARATOR_START.match(head):
        return True
    m = _UP_TO_WROTE.match(head)
    return bool(m and opens_like_attribution(head) and attribution(m.group(0), strict=True))


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
    if not texts or not attribution(" ".join(line.split()), strict=False):
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


def html_reply_text(html: str) -> str:
    """The new text of an HTML reply: quote containers and signatures cut on the tree."""
    try:
        root = _parse_html(html)
        _strip_html_tree(root, signatures=True)
        return html_text.extract_text(root)
    except (lxml.etree.LxmlError, ValueError):
        return ""


