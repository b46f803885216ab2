"""Reading one raw RFC 5322 message into plain values, without ever raising.

Classification must survive whatever lands in a shared inbox: mislabelled
charsets, broken RFC 2047 words, truncated MIME, HTML-only mail. This module
turns bytes into a :class:`ParsedMessage` — decoded headers, lower-case
addresses, the body as text, delivery-status fields of bounces, and a
forwarded message when there is one — so :mod:`refmail.reading.classifier` only has to
apply rules. It is pure: no I/O, no clock.

We parse with ``policy.compat32`` and decode ourselves: it is several times
faster than ``policy.default`` (whose header objects parse every structured
header eagerly) and it never raises on malformed headers, it records defects.
"""

from __future__ import annotations

import copy
import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from functools import cached_property, lru_cache
from typing import Any

from refmail.mail.addresses import Address, parse_address_list
from refmail.mail.decoding import (
    decode_bytes,
    decode_header_value,
    decode_leniently,
    header_to_str,
    html_to_text,
    unflow,
    unfold,
)
from refmail.mail.forwarding import Forward, find_inline_forward, is_forward_subject
from refmail.mail.limits import (
    MAX_ADDRESSES,
    MAX_ID_CHARS,
    MAX_REFERENCES,
    MAX_TEXT_CHARS,
    Budget,
    bounded_field,
    cut_at_line,
)
from refmail.mail.mime import read_simple

__all__ = [
    "Address",
    "Forward",
    "ParsedMessage",
    "decode_bytes",
    "decode_header_value",
    "html_to_text",
    "is_forward_subject",
    "parse_address_list",
    "parse_message",
]

#: MIME nesting deeper than this is not read (real mail nests 3–5 levels; a
#: hostile message could nest thousands to exhaust the stack).
MAX_DEPTH = 40

_ANGLE_ID = re.compile(r"<[^<>\s]*>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_BLANK_LINE = re.compile(r"\n\s*\n")

# -- the parsed message -----------------------------------------------------
@dataclass
class ParsedMessage:
    """One message as plain values. Addresses are lower-case; names decoded.

    Header values are decoded on first use, by name: classification reads about
    fifteen fields, while DKIM, ARC and Received signatures are half the header
    bytes of ordinary mail and were decoded for nothing.
    """

    #: The header fields in order, as compat32 returns them (str, or Header for
    #: raw 8-bit text): :meth:`header`, :meth:`header_all` and :attr:`headers` decode them.
    raw_headers: list[tuple[str, Any]] = field(default_factory=list, repr=False)
    from_: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    #: Envelope recipients recorded by the delivering servers:
    #: ``Delivered-To``, ``X-Original-To`` and ``X-Forwarded-To`` (BCC lands here).
    delivered_to: list[str] = field(default_factory=list)
    #: The Return-Path address; ``""`` for the null path ``<>`` (RFC 5321 §4.5.5), None if absent.
    return_path: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    #: The body as text: text/plain parts, or text converted from HTML when a
    #: part (or the whole message) has only HTML.
    text: str = ""
    #: True when ``text`` came from HTML only (no text/plain alternative).
    text_from_html: bool = False
    content_type: str = "text/plain"
    #: The ``report-type`` of a multipart/report (RFC 6522), lower-case, else None.
    report_type: str | None = None
    #: message/delivery-status field blocks (RFC 3464 §2.1): the per-message
    #: block first, then one per recipient; keys lower-case.
    delivery_status: list[dict[str, str]] = field(default_factory=list)
    #: The original message (or only its headers) returned inside a report.
    returned: ParsedMessage | None = None
    #: Messages attached as message/rfc822 (outside reports).
    attachments: list[ParsedMessage] = field(default_factory=list)
    #: The forwarded message: an attachment or an inline forward block.
    forwarded: Forward | None = None
    #: The iTIP method (RFC 5546) of a calendar part (``text/calendar``, an
    #: ``.ics`` attachment), upper-case — ``"REQUEST"`` for an invitation — or
    #: ``"PUBLISH"`` when the part names none; None when the message has none.
    calendar_method: str | None = None
    raw_size: int = 0
    defects: list[str] = field(default_factory=list)
    html_parts: list[str] = field(default_factory=list, repr=False)
    #: Lower-case header name → its decoded values, filled on first use.
    _decoded: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    #: Lower-case header name → its raw values, built on the first look-up.
    _index: dict[str, list[Any]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every header field as ``(name, decoded value)``, in order."""
        return [(name, decode_leniently(value)) for name, value in self.raw_headers]

    def _values(self, key: str) -> list[str]:
        found = self._decoded.get(key)
        if found is None:
            if self._index is None:
                index: dict[str, list[Any]] = {}
                for hname, value in self.raw_headers:
                    index.setdefault(hname.lower(), []).append(value)
                self._index = index
            found = [decode_leniently(v) for v in self._index.get(key, ())]
            self._decoded[key] = found
        return found

    def header(self, name: str) -> str | None:
        """The first decoded value of header ``name`` (case-insensitive), or None."""
        found = self._values(name.lower())
        return found[0] if found else None

    def header_all(self, name: str) -> list[str]:
        return list(self._values(name.lower()))

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    @property
    def is_multipart_report(self) -> bool:
        return self.content_type == "multipart/report"

    @property
    def date_iso(self) -> str | None:
        return self.date.isoformat() if self.date else None

    @cached_property
    def html_text(self) -> str:
        """Text converted from the HTML parts (computed on first use: html_text is slow)."""
        return "\n\n".join(t for t in (html_to_text(h) for h in self.html_parts) if t.strip())


def _addresses(values: list[Any]) -> list[Address]:
    """Address headers → mailboxes, via getaddresses on the raw (undecoded) text.

    Decoding display names *after* splitting matters: an encoded word may hide
    a comma (``=?utf-8?q?Doe=2C_John?=``) that would otherwise split a name.
    """
    raw = tuple(header_to_str(v) for v in values if v is not None)
    if sum(map(len, raw)) > _CACHED_ADDRESSES_MAX:  # hostile sizes: parse, do not keep
        return list(_parse_addresses.__wrapped__(raw))
    return list(_parse_addresses(raw))


#: Address headers longer than this (in all) are not remembered by :func:`_parse_addresses`.
_CACHED_ADDRESSES_MAX = 2000


@lru_cache(maxsize=4096)
def _parse_addresses(raw: tuple[str, ...]) -> tuple[Address, ...]:
    """:func:`_addresses` of header texts, remembered: the same From and To lines
    (members, the tracker) come back in message after message, and parsing an
    address list is a tenth of what classifying costs. Pure, so caching is exact."""
    out: list[Address] = []
    seen: set[str] = set()
    try:
        pairs = email.utils.getaddresses(list(raw))
    except Exception:
        return tuple(parse_address_list(" , ".join(raw)))
    for name, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        if not _EMAIL.match(addr) or addr in seen:
            continue
        seen.add(addr)
        out.append(Address(decode_header_value(name).strip().strip("\"'").strip(), addr))
        if len(out) == MAX_ADDRESSES:
            break
    return tuple(out)


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    ids = _ANGLE_ID.findall(value) or value.split()
    # RFC 5322 §2.1.1 caps a line at 998 characters; a longer "id" is garbage.
    return [i for i in ids if len(i) <= MAX_ID_CHARS]


def _nearest(references: list[str], defects: list[str]) -> list[str]:
    """At most :data:`MAX_REFERENCES` ids: the thread's root and the nearest ones.

    RFC 5322 §3.6.4: References is the parent's References plus the parent's
    id, so the last ids are the nearest messages and the first is where the
    thread began (clients that trim long lists keep those too). A message
    naming 260,000 ancestors is matched on these alone.
    """
    if len(references) <= MAX_REFERENCES:
        return references
    defects.append(f"{len(references)} References; the first and the {MAX_REFERENCES - 1} nearest read")
    return [references[0], *references[-(MAX_REFERENCES - 1) :]]


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unreadable Date: {value[:60]!r}")
        return None
    if parsed is None:
        return None
    # RFC 5322 §3.3: "-0000" means the zone is unknown; UTC is the honest reading.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bound_headers(msg: Message, defects: list[str]) -> None:
    """Cut every header field of ``msg`` to its bound (:func:`bounded_field`), in place.

    Before anything reads them: the standard library's own parsing of a
    parameter list (``Content-Type``) is quadratic in hostile lengths. The
    fields stay in order (``Authentication-Results`` trusts only the topmost);
    ``_headers`` is the list ``Message.raw_items`` reads.
    """
    fields: list[tuple[str, Any]] = msg._headers  # type: ignore[attr-defined]
    for i, (name, value) in enumerate(fields):
        if isinstance(value, str) and len(value) > 1024:
            kept, defect = bounded_field(name, value)
            if defect:
                fields[i] = (name, kept)
                defects.append(defect)


def _within(part: Message, budget: Budget | None, defects: list[str]) -> Message | None:
    """``part`` as far as ``budget`` lets it be read: itself, a copy cut at a line end, or None."""
    payload = part.get_payload()
    if budget is None or not isinstance(payload, str):
        return part
    allowed = budget.take(len(payload))
    if allowed == len(payload):
        return part
    if not allowed:
        defects.append(f"{part.get_content_type()} part not read: the message's reading budget is spent")
        return None
    defects.append(f"{part.get_content_type()} part of {len(payload):,} characters; {allowed:,} read")
    cut = copy.copy(part)  # the headers are shared, not changed; the payload is its own
    cut.set_payload(cut_at_line(payload, allowed))
    return cut


def _payload_text(part: Message, budget: Budget | None = None, defects: list[str] | None = None) -> str:
    """A leaf part's content, transfer-decoded and charset-decoded, newlines normalised.

    With a ``budget``, only as many characters of the (still encoded) payload
    as it allows are decoded.
    """
    readable = _within(part, budget, defects if defects is not None else [])
    if readable is None:
        return ""
    part = readable
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if not isinstance(data, bytes):
        return ""
    try:
        charset = part.get_content_charset(None)
    except Exception:
        charset = None
    if charset is None and part.get_content_type() == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        charset = meta.group(1).decode("ascii", "replace") if meta else None
    text = decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")
    try:
        flowed = str(part.get_param("format", "") or "").lower() == "flowed"
        delsp = str(part.get_param("delsp", "") or "").lower() == "yes"
    except Exception:
        flowed = delsp = False
    if flowed and part.get_content_type() == "text/plain":
        text = unflow(text, delsp=delsp)  # RFC 3676: soft line breaks are not the writer's
    return text


_CALENDAR_TYPES = {"text/calendar", "application/ics", "text/x-vcalendar"}
_METHOD_LINE = re.compile(rb"^METHOD:([A-Za-z-]{1,20})\s*$", re.MULTILINE)


def _calendar_method(part: Message) -> str:
    """The iTIP method of a calendar part: its ``method`` parameter, else the
    ``METHOD:`` property of the iCalendar body (RFC 5545 §3.7.2)."""
    try:
        method = str(part.get_param("method", "") or "")
    except Exception:
        method = ""
    if not method:
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        found = _METHOD_LINE.search(data[:20_000]) if isinstance(data, bytes) else None
        method = found.group(1).decode("ascii") if found else ""
    return method.upper() or "PUBLISH"


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    return disposition == "attachment"


class _Walker:
    """Collects the readable body of a MIME tree, in order.

    ``segments`` holds one entry per readable leaf: ``("plain", text)`` or
    ``("html", html)``. multipart/alternative contributes only its text/plain
    alternative when there is one (RFC 2046 §5.1.4 lets the reader choose).
    """

    def __init__(self, top: ParsedMessage, defects: list[str], budget: Budget) -> None:
        self.top = top
        self.defects = defects
        self.budget = budget
        self.segments: list[tuple[str, str]] = []
        self.html: list[str] = []

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            self.defects.append("MIME nesting too deep; inner parts not read")
            return
        if depth:
            _bound_headers(part, self.defects)
        ctype = part.get_content_type()
        payload = part.get_payload()
        if ctype == "message/rfc822" or (
            ctype == "application/octet-stream" and str(part.get_filename() or "").lower().endswith(".eml")
        ):
            inner = self._inner_message(part, depth)
            if inner is not None:
                self.top.attachments.append(inner)
            return
        if isinstance(payload, list):
            children = [c for c in payload if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                self._alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        if ctype in _CALENDAR_TYPES or str(part.get_filename() or "").lower().endswith(".ics"):
            self.top.calendar_method = self.top.calendar_method or _calendar_method(part)
            return
        if _is_attachment(part):
            return
        if ctype == "text/plain":
            self.segments.append(("plain", _payload_text(part, self.budget, self.defects)))
        elif ctype == "text/html":
            html = _payload_text(part, self.budget, self.defects)
            self.segments.append(("html", html))
            self.html.append(html)

    def _alternative(self, children: list[Message], depth: int) -> None:
        results: list[_Walker] = []
        for child in children:
            sub = _Walker(self.top, self.defects, self.budget)
            sub.walk(child, depth + 1)
            results.append(sub)
            self.html.extend(sub.html)
        plain = [r for r in results if r.segments and all(k == "plain" for k, _ in r.segments)]
        chosen = next((r for r in plain if any(t.strip() for _, t in r.segments)), None)
        if chosen is None:
            # RFC 2046 §5.1.4: the last alternative is the richest.
            chosen = next((r for r in reversed(results) if r.segments), None)
        if chosen is not None:
            self.segments.extend(chosen.segments)

    def _inner_message(self, part: Message, depth: int) -> ParsedMessage | None:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return _from_message(payload[0], 0, depth + 1, self.budget)
        # An .eml sent as application/octet-stream, or an unparsed rfc822 body:
        # what the budget allows of it (its beginning: headers, then its text).
        readable = _within(part, self.budget, self.defects)
        data = readable.get_payload(decode=True) if readable is not None else None
        if isinstance(data, bytes) and data.strip():
            inner = BytesParser(policy=compat32).parsebytes(data)
            return _from_message(inner, len(data), depth + 1, self.budget)
        return None


def _report_parts(msg: Message, parsed: ParsedMessage, depth: int, budget: Budget) -> None:
    """Read a multipart/report: its delivery-status fields and the returned original."""
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return
    for part in payload:
        if not isinstance(part, Message):
            continue
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            parsed.delivery_status.extend(_status_blocks(part, budget, parsed.defects))
        elif ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                parsed.returned = _from_message(inner[0], 0, depth + 1, budget)
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            text = _payload_text(part, budget, parsed.defects).lstrip()
            parsed.returned = _from_message(
                BytesParser(policy=compat32).parsebytes(text.encode("utf-8"), headersonly=True),
                0,
                depth + 1,
                budget,
            )


def _status_blocks(part: Message, budget: Budget, defects: list[str]) -> list[dict[str, str]]:
    """RFC 3464 §2.1: a delivery-status body is header-like blocks separated by blank lines."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                fields = {k.lower(): header_to_str(v).strip() for k, v in block.items()}
                if fields:
                    blocks.append(fields)
        return blocks
    text = _payload_text(part, budget, defects)
    for chunk in _BLANK_LINE.split(text):
        fields = {}
        for line in unfold(chunk.replace("\n ", " ").replace("\n\t", " ")).split("\n"):
            key, sep, value = line.partition(":")
            if sep and key.strip():
                fields[key.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _return_path(msg: Message) -> str | None:
    value = msg.get("Return-Path")
    if value is None:
        return None
    text = header_to_str(value).strip()
    if text.replace(" ", "") in ("<>", ""):
        return ""
    return text.strip("<>").strip().lower()


def _from_message(msg: Message, raw_size: int, depth: int = 0, budget: Budget | None = None) -> ParsedMessage:
    """``msg`` read within the bounds of :mod:`refmail.mail.limits`; ``budget`` is shared
    with the message this one is attached to or returned in."""
    budget = budget or Budget()
    parsed = ParsedMessage(raw_size=raw_size)
    defects = parsed.defects
    defects.extend(type(d).__name__ for d in getattr(msg, "defects", []))
    _bound_headers(msg, defects)
    # One pass over the fields (what msg.get_all does per call), decoded later, by name.
    parsed.raw_headers = [(str(k), v) for k, v in msg.items()]
    by_name: dict[str, list[Any]] = {}
    for name, value in parsed.raw_headers:
        by_name.setdefault(name.lower(), []).append(value)
    parsed._index = by_name
    from_ = _addresses(by_name.get("from", []))
    parsed.from_ = from_[0] if from_ else None
    parsed.to = _addresses(by_name.get("to", []))
    parsed.cc = _addresses(by_name.get("cc", []))
    parsed.reply_to = _addresses(by_name.get("reply-to", []))
    envelope: list[Any] = []
    for name in ("delivered-to", "x-original-to", "x-forwarded-to"):
        envelope.extend(by_name.get(name, []))
    parsed.delivered_to = list(dict.fromkeys(a.address for a in _addresses(envelope)))
    parsed.return_path = _return_path(msg)
    message_id = (parsed.header("Message-ID") or "").strip()
    if len(message_id) > MAX_ID_CHARS:
        defects.append(f"a Message-ID of {len(message_id)} characters, not read")
        message_id = ""
    parsed.message_id = message_id or None
    in_reply_to = _msg_ids(parsed.header("In-Reply-To"))
    parsed.in_reply_to = in_reply_to[0] if in_reply_to else None
    parsed.references = _nearest(_msg_ids(" ".join(parsed.header_all("References"))), defects)
    parsed.subject = (parsed.header("Subject") or "").strip()
    parsed.date = _date(parsed.header("Date"), defects)
    try:
        parsed.content_type = msg.get_content_type()
    except Exception:
        parsed.content_type = "text/plain"
    if parsed.content_type == "multipart/report":
        parsed.report_type = (str(msg.get_param("report-type", "") or "")).lower() or None
        _report_parts(msg, parsed, depth, budget)
    walker = _Walker(parsed, defects, budget)
    if parsed.content_type == "multipart/report":
        # Only the human-readable parts: the status and the original are read above.
        payload = msg.get_payload()
        if isinstance(payload, list):
            for part in payload:
                if isinstance(part, Message) and part.get_content_type() in (
                    "text/plain",
                    "text/html",
                    "multipart/alternative",
                    "multipart/related",
                ):
                    walker.walk(part, depth + 1)
    else:
        walker.walk(msg, depth)
    parsed.html_parts = walker.html
    plain = [t for kind, t in walker.segments if kind == "plain" and t.strip()]
    if any(kind == "html" for kind, _ in walker.segments) or not plain:
        texts = [t if kind == "plain" else html_to_text(t) for kind, t in walker.segments]
        parsed.text_from_html = not plain and any(k == "html" for k, _ in walker.segments)
    else:
        texts = plain
    parsed.text = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    if len(parsed.text) > MAX_TEXT_CHARS:
        defects.append(f"{len(parsed.text):,} characters of text; the first {MAX_TEXT_CHARS:,} read")
        parsed.text = cut_at_line(parsed.text, MAX_TEXT_CHARS)
    if parsed.attachments and parsed.content_type != "multipart/report":
        parsed.forwarded = Forward.from_attachment(parsed.attachments[0])
    else:
        parsed.forwarded = find_inline_forward(parsed.text, parsed.subject)
    return parsed


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw message. Never raises: a broken message yields what could be
    read, with the problems listed in ``defects``."""
    try:
        # The common shapes without FeedParser's line loop; the same Message tree (refmail.mail.mime).
        msg = read_simple(raw)
    except Exception:  # pragma: no cover - a slip in the fast reader must not cost the message
        msg = None
    problem = None
    try:
        if msg is None:
            msg = BytesParser(policy=compat32).parsebytes(raw)
    except Exception as exc:  # RecursionError on absurd nesting, MemoryError…
        problem = f"unparseable: {type(exc).__name__}"
    if msg is None:
        # Thousands of nested multiparts defeat the parser's recursion, not its
        # reading of the header fields: who sent it, to whom, about what, is kept.
        try:
            msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
            msg.set_payload("")
        except Exception as exc:
            return ParsedMessage(raw_size=len(raw), defects=[f"{problem}; headers: {type(exc).__name__}"])
    try:
        parsed = _from_message(msg, len(raw))
    except Exception as exc:
        return ParsedMessage(raw_size=len(raw), defects=[f"unreadable: {type(exc).__name__}"])
    if problem:
        parsed.defects.insert(0, f"{problem}; only the header fields read")
    return parsed
