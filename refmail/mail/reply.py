"""The new text of a reply: quoted history and signatures removed.

SPEC "Replies to nudges": only the new text counts — quoted history and
signatures go before anything is read — and keywords on the first lines set
the status. Everything here is pure (str in, str out) and linear in the text.

What the clients write around the history — attributions, separators, Outlook
header blocks, phone footers, sign-offs, in some twenty languages — is data in
:mod:`refmail.mail.reply_words`, compiled into line tests in
:mod:`refmail.mail.quoting`. This module walks the lines with them:

* ``>`` quotes go with the attribution just above them, and the text written
  between or under quotes stays (interleaved and bottom-posted replies) — which
  is why refmail does not hand the text to ``mail-parser-reply``: it cuts at the
  first header, losing text written under a quote (README, "Dependencies");
* a header with no quote under it — an attribution, a separator, an Outlook
  block, a rule of underscores — ends the new text;
* a signature block ends it too: ``-- ``, a phone footer, a sign-off followed
  by a few short lines, "-Name" or "/Name", a list footer under a short rule.

HTML bodies are cut on their tree first (:mod:`refmail.mail.reply_html`).
"""

from __future__ import annotations

import re

from refmail.mail.quoting import (
    SENT_FROM,
    SIGN_OFF,
    THANKS_OFF,
    WROTE,
    attribution,
    header_block,
    header_block_end,
    is_separator,
    may_be_footer,
    may_be_label,
    may_end_attribution,
    may_sign_off,
    opens_like_attribution,
)
from refmail.mail.reply_html import extract_reply_html, html_reply_text

__all__ = [
    "extract_reply",
    "extract_reply_html",
    "strip_quotes",
    "strip_signature",
]

_DASHED_RULE = re.compile(r"\s*[-_=*]{3,}\s*")
#: A rule of underscores: Outlook puts one above its header block, mailing lists
#: above their footer; either way the new text has ended.
_RULE = re.compile(r"^\s*_{20,}\s*$")
_CONTINUATION = re.compile(rf"^(?:<|>?\s*[:：]|[\w.+-]+@|\(?mailto:|(?:{WROTE.pattern}))", re.IGNORECASE)
_UNCLOSED_ANGLE = re.compile(r"<[^<>]*$")


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _rejoin(lines: list[str]) -> list[str]:
    """Undo the wrap that puts an attribution's ``>:`` or ``> wrote:`` on a line of its own.

    Gmail wraps "… Test user <test@example.com" / ">:" — the second line would
    otherwise read as a quote. The lines are joined; a blank line keeps the count.
    """
    out = list(lines)
    for k in range(len(out) - 1):
        below = out[k + 1].strip()
        if (below.startswith(">") and len(below) < 160 and _UNCLOSED_ANGLE.search(out[k])
                and attribution(out[k].strip() + below, strict=False)):
            out[k] = out[k].rstrip() + below
            out[k + 1] = ""
    return out


def _lost_quote_marks(lines: list[str]) -> list[bool]:
    """Lines inside a quote whose ``>`` was lost when a client re-wrapped it.

    A non-blank line right between two quoted lines (no blank line on either
    side) that continues the line above — it starts in lower case, or the line
    above is long, as a wrapped line is — belongs to the quote.
    """
    lost = [False] * len(lines)
    for k in range(1, len(lines) - 1):
        line = lines[k].strip()
        if not line or _quoted(lines[k]) or not _quoted(lines[k - 1]) or not _quoted(lines[k + 1]):
            continue
        above = lines[k - 1].lstrip().lstrip(">").strip()
        if line[0].islower() or (len(above) >= 60 and not above.endswith((".", "!", "?"))) \
                or len(lines[k - 1]) >= 70:
            lost[k] = True
    return lost


def _attribution_start(lines: list[str], end: int) -> int:
    """First line of an attribution ending at ``lines[end]``, wrapped lines included."""
    start = end
    while start > 0 and end - start < 2 and lines[start - 1].strip():
        above, top = lines[start - 1].strip(), lines[start].strip()
        if opens_like_attribution(top) and not top[0].isdigit():
            break  # "On …" is where an attribution begins ("Hi," above it is the reply)
        if not (_CONTINUATION.match(top) or above.endswith(("<", ",")) or _wraps(above, top)):
            break
        start -= 1
    return start


def _wraps(above: str, top: str) -> bool:
    """Is ``top`` the wrapped end of an attribution that begins with ``above``?"""
    return opens_like_attribution(above) and len(above) >= 30 and len(top) < 120 \
        and attribution(f"{above} {top}", strict=True)


def _joined(lines: list[str], start: int, end: int) -> str:
    return " ".join(s.strip() for s in lines[start : end + 1])


def strip_quotes(text: str) -> str:
    """``text`` without quoted history; signatures are left in place.

    ``>`` quotes are removed with the attribution line(s) just above them, and
    text written between or under quotes is kept (interleaved and bottom-posted
    replies). A header with no ``>`` quote under it — ``On … wrote:`` followed
    by the old message, ``-----Original Message-----``, an Outlook ``From:/Sent:``
    block, a rule of underscores — ends the new text. A header block before any
    new text is this message's own (a pasted or exported message) and is skipped.
    """
    lines = _rejoin(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    lost = _lost_quote_marks(lines)
    after: list[int | None] = [None] * len(lines)  # index of the next non-blank line
    for k in range(len(lines) - 2, -1, -1):
        after[k] = k + 1 if lines[k + 1].strip() else after[k + 1]
    kept: list[str] = []
    dropped = False  # something was removed since the last kept line
    i = 0
    while i < len(lines):
        line = lines[i]
        if _quoted(line) or lost[i]:
            if not dropped:
                _drop_attribution(kept)
            i, dropped = i + 1, True
            continue
        if dropped and not line.strip() and (not kept or not kept[-1].strip()):
            i += 1  # no run of blank lines where a quote was taken out
            continue
        if not line.strip():
            kept.append(line)
            i += 1
            continue
        nxt = after[i]
        if may_be_label(line) and header_block(lines, i):
            if not any(s.strip() for s in kept):
                i = header_block_end(lines, i)  # this message's own header, pasted on top
                continue
            break
        if is_separator(line) or _RULE.match(line):
            break
        if may_end_attribution(line) and (nxt is None or not _quoted(lines[nxt])):
            start = _attribution_start(lines, i)
            joined = _joined(lines, start, i)
            if not any(map(_quoted, lines[start:i])) and attribution(joined, strict=True):
                del kept[len(kept) - (i - start) :]
                break
        kept.append(line)
        i += 1
        dropped = False
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
    if attribution(_joined(kept, start, end), strict=False):
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
#: "-Abhishek Kona", "/John": a dash or slash glued to a name, a list and Nordic habit.
_DASH_NAME = re.compile(r"^[-/][A-Z\u00c0-\u024f][\w.'-]*(?: [A-Z\u00c0-\u024f][\w.'-]*){0,3}$")
#: A short rule ("__", "---", "==") that a mailing list puts above its footer.
_SHORT_RULE = re.compile(r"^(?:_{2,}|-{2,}|={2,}|\*{3,})$")
_FOOTER_LINES = 6


def _signature_at(lines: list[str]) -> int | None:
    """Where the signature block of ``lines`` starts, or None."""
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
            or (may_be_footer(line) and SENT_FROM.match(line))
            or (_DASH_NAME.match(line) and rest <= 3)
            or (_SHORT_RULE.match(line) and rest <= _FOOTER_LINES and longest[i + 1] <= 100)
            or (
                may_sign_off(line)
                and SIGN_OFF.match(line)
                and rest <= 6
                and longest[i + 1] <= 60
                and (rest or line.endswith(",") or not THANKS_OFF.match(line))
            )
        ):
            return i
    return None


_CONTACT = re.compile(
    r"(?:\+?\d[\d\s().-]{6,}\d)|https?://|www\.|[\w.+-]+@[\w-]+\.|\s[|•·]\s|^(?:tel|phone|mobile|mob|"
    r"cell|fax|web|email|e-mail|t|m|p|f|w|e)\s*[.:]", re.IGNORECASE)
_NAME_LINE = re.compile(r"^[A-Z\u00c0-\u024f][\w.'-]*(?:\s+[A-Z\u00c0-\u024f][\w.'-]*){0,3}\s*$")


def _typed_signature_at(lines: list[str]) -> int | None:
    """A signature typed without any delimiter: the last paragraph, a name line
    over a few short lines of which one is a phone number, a link, an address
    or a "Title | Company" line."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and lines[start - 1].strip():
        start -= 1
    block = [line.strip() for line in lines[start:end]]
    if start == 0 or not 2 <= len(block) <= 6 or any(len(line) > 70 for line in block):
        return None
    if not _NAME_LINE.match(block[0]) or not any(_CONTACT.search(line) for line in block[1:]):
        return None
    return start


def strip_signature(text: str) -> str:
    """``text`` without its signature block, if one can be told apart.

    Cut at the RFC 3676 delimiter, at a phone or app footer (whatever follows
    it: phones put the quoted message under the footer, often unmarked), at a
    "-Name" or "/Name" line, at a short rule over a list footer, or at a
    sign-off ("Best regards", "Med venlig hilsen") followed only by a few short
    lines, or at a typed block (a name over a phone number, a link or a
    "Title | Company" line). A sign-off that is also thanks ("Thanks", "Merci") counts only with a
    name under it or a comma after it, so a closing "Thanks!" stays in the text
    (it is a THANKS command). The first line is never a signature. Cutting is
    repeated, so a name above a list footer goes too.
    """
    lines = text.split("\n")
    for _ in range(3):
        at = _signature_at(lines)
        if at is None:
            at = _typed_signature_at(lines)
        if at is None:
            break
        lines = lines[:at]
        while lines and not lines[-1].strip():
            lines.pop()
    return "\n".join(lines).strip()


def extract_reply(text: str, *, html: str | None = None) -> str:
    """The new text of a reply: quoted history and signature removed, stripped.

    When ``text`` is empty and ``html`` is given (an HTML-only message), the
    HTML is stripped of its quote containers first and then converted to text.
    """
    if not text.strip() and html:
        text = html_reply_text(html)
    return strip_signature(strip_quotes(text))
