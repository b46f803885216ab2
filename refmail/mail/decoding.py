"""Decoding what mail puts in bytes: charsets, RFC 2047 header words, HTML.

Pure and never raising, for :mod:`refmail.mail.message`: a mislabelled charset,
a broken encoded word or HTML lxml refuses still gives the best text we
can read, because losing a referral to a decoding error is worse than a
wrong accent.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from email.header import Header, decode_header, make_header
from typing import Any

__all__ = [
    "TAG",
    "decode_bytes",
    "decode_header_value",
    "decode_leniently",
    "drop_elements",
    "header_to_str",
    "html_to_text",
    "unflow",
    "unfold",
]

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)

# Charset labels seen in the wild that Python's codec registry does not know,
# or where the superset decodes what senders really meant (as browsers do).
_CHARSET_ALIASES = {
    "x-sjis": "shift_jis",
    "sjis": "shift_jis",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "x-unknown": "",
    "unknown-8bit": "",
    "us-ascii": "",
    "ascii": "",
    "utf8": "utf-8",
    "x-user-defined": "",
}


# -- format=flowed (RFC 3676) -----------------------------------------------------
def unflow(text: str, *, delsp: bool = False) -> str:
    """``text/plain; format=flowed`` as the lines its writer typed (RFC 3676 §4.2).

    A line ending in a space is soft-broken: it joins the next line of the same
    quote depth (with ``DelSp=yes`` the space goes, §4.5). Space-stuffing is
    undone (§4.4), quote marks are kept, and the signature line "-- " is never
    joined. ``text`` has ``\n`` line ends.
    """
    out: list[str] = []
    joining: int | None = None  # quote depth of the paragraph being joined
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffed (or the space after the quote marks)
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if joining is not None and joining == depth and out and content:
            out[-1] += content
        else:
            out.append((">" * depth + " " if depth else "") + content)
        joining = depth if soft else None
    return "\n".join(out)


# -- decoding ---------------------------------------------------------------
def _codec(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown/unusable."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    if not label:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    # "base64", "rot13", "zlib"… are codecs but not text encodings.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes in a declared ``charset`` → text, never raising.

    The declared charset is tried strictly first (after UTF-8 for the
    single-byte Latin charsets, which accept any bytes). Mail is often mislabelled
    (8-bit UTF-8 sent as "us-ascii", Windows text as "iso-8859-1"), so when
    that fails, or the label is unknown, UTF-8 is tried; if the bytes are not
    UTF-8 either, the declared charset with replacement characters is used, or
    for an unknown one UTF-8 with replacements when only a few bytes are bad,
    else Latin-1, which maps every byte.
    """
    codec = _codec(charset)
    if codec and codec.startswith(("iso8859", "cp125", "latin")):
        # Single-byte charsets decode anything, so a mislabel would pass
        # silently; non-ASCII bytes that form valid UTF-8 are UTF-8 in practice.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec and codec != "utf-8":
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec != "utf-8":
        with contextlib.suppress(LookupError):
            return data.decode(codec, errors="replace")
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") * 50 <= max(len(text), 1):
        return text
    return data.decode("latin-1")


_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_ADJACENT_WORDS = re.compile(r"(\?=)\s+(?==\?)")


def unfold(value: str) -> str:
    # RFC 5322 §2.2.3: unfolding removes the CRLF that precedes folding white space.
    if "\n" not in value and "\r" not in value:  # most values: one line, nothing to do
        return value
    return _FOLDING.sub("", value).replace("\r", "").replace("\n", " ")


def header_to_str(value: Any) -> str:
    """A header value as compat32 returns it (str, or Header for 8-bit text) → str.

    Raw 8-bit bytes in headers (not RFC 2047 encoded, yet common) arrive as a
    ``Header`` with charset ``unknown-8bit``, or as surrogate-escaped text.
    """
    if value is None:
        return ""
    if isinstance(value, Header):
        parts: list[str] = []
        try:
            chunks = decode_header(value)
        except Exception:
            return unfold(str(value))
        for chunk, charset in chunks:
            if isinstance(chunk, bytes):
                parts.append(decode_bytes(chunk, charset))
            else:
                parts.append(chunk)
        return unfold("".join(parts))
    text = str(value)
    # isascii() is one C call; the per-character scan only runs on non-ASCII text.
    if not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"))
    return unfold(text)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word(match: re.Match[str]) -> str:
    """One RFC 2047 encoded word, leniently (missing base64 padding, bad charset)."""
    charset, encoding, payload = match.groups()
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if encoding in "bB":
            import base64

            raw = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
        else:
            import quopri

            raw = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)
    except Exception:
        return match.group(0)
    return decode_bytes(raw, charset)


def decode_header_value(value: Any) -> str:
    """A raw header value → readable text (RFC 2047 encoded words decoded).

    ``decode_header``/``make_header`` do the standard work, including dropping
    the white space between adjacent encoded words (RFC 2047 §6.2); when they
    fail on a broken word or unknown charset, each word is decoded on its own
    and words that still cannot be read are left as written.
    """
    text = header_to_str(value)
    if "=?" not in text:
        return text
    try:
        return unfold(str(make_header(decode_header(text))))
    except Exception:
        pass
    # Lenient path: RFC 2047 §6.2 — white space between adjacent encoded words is dropped.
    text = _ADJACENT_WORDS.sub(r"\1", text)
    return _ENCODED_WORD.sub(_decode_word, text)


#: One tag, for stripping tags from HTML with a regex: no "<" inside, so a run of
#: "<" without ">" is not rescanned from each of them ("<[^>]*>" was quadratic).
TAG = re.compile(r"<[^<>]*>")
_ELEMENT_START = re.compile(r"<(script|style)\b", re.IGNORECASE)
_ELEMENT_ENDS = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}


def drop_elements(html: str) -> str:
    """``html`` without its ``<script>`` and ``<style>`` elements, in linear time.

    Each element's end is looked for once, from its start; an element never
    closed takes the rest of the document (as a browser reads it), where
    ``<(script|style)\b.*?</\1>`` searched to the end from every unclosed start.
    """
    out: list[str] = []
    at = 0
    while (start := _ELEMENT_START.search(html, at)) is not None:
        out.append(html[at : start.start()])
        end = _ELEMENT_ENDS[start.group(1).lower()].search(html, start.end())
        if end is None:
            out.append(" ")
            return "".join(out)
        out.append(" ")
        at = end.end()
    out.append(html[at:])
    return "".join(out)


def html_to_text(html: str) -> str:
    """HTML → text with ``html_text`` (layout-aware), never raising."""
    if not html.strip():
        return ""
    cleaned = _XML_DECL.sub("", html).replace("\x00", "")
    try:
        import html_text

        if "<table" not in cleaned.lower():
            return str(html_text.extract_text(cleaned, guess_layout=True))
        tree = html_text.parse_html(cleaned)
        _label_table_cells(tree)
        return str(html_text.extract_text(tree, guess_layout=True))
    except Exception:
        # lxml refuses some documents (e.g. only a comment); strip tags instead.
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", drop_elements(cleaned))
        import html as html_module

        return html_module.unescape(TAG.sub("", text)).strip()


_MAX_HEADER_WORDS = 4


def _label_table_cells(tree: Any) -> None:
    """Write a table's column headers into its cells: "Needs: IT support".

    Text keeps a row ("Grace Liu  IT support") but loses which column a cell
    was in; an intro laid out as a table with a header row ("Name | Needs |
    Offers") would then say nothing about roles. The first column (usually
    the name) is left as it is.
    """
    for table in tree.iter("table"):
        rows = [row for row in table.iter("tr")]
        if len(rows) < 2:
            continue
        cells = [[cell for cell in row if isinstance(cell.tag, str) and cell.tag in ("td", "th")]
                 for row in rows]
        headers = [" ".join(cell.text_content().split()) for cell in cells[0]]
        if len(headers) < 2 or not all(0 < len(h.split()) <= _MAX_HEADER_WORDS and ":" not in h
                                       for h in headers):
            continue
        if not (all(cell.tag == "th" for cell in cells[0]) or all(
                not any(ch.isdigit() for ch in h) and not h.endswith((".", ",")) for h in headers)):
            continue
        for row in cells[1:]:
            for header, cell in zip(headers[1:], row[1:], strict=False):
                if " ".join(cell.text_content().split()) and not header.endswith(":"):
                    cell.text = f"{header}: " + (cell.text or "")


def decode_leniently(value: Any) -> str:
    """:func:`decode_header_value`, which does not raise on anything compat32 returns;
    should it ever, the value as written beats losing the message."""
    try:
        return decode_header_value(value)
    except Exception:  # pragma: no cover - belt and braces
        return str(value)
