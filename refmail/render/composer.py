"""Building the MIME message for one email refmail sends.

Pure: rendered words and addressing in, RFC 5322 bytes out (CRLF line ends,
ready for ``smtplib``). The headers do three jobs besides addressing:

- **threading** — ``In-Reply-To``/``References`` point at the introduction, so
  nudges appear in the same conversation as the intro (RFC 5322 §3.6.4);
- **replies come back signed** — ``Reply-To: refs+TOKEN@…`` carries the
  reply token (:mod:`refmail.policy.tokens`);
- **no loops** — ``Auto-Submitted`` (RFC 3834 §5: ``auto-replied`` on the
  acknowledgement, which answers the referrer's intro, ``auto-generated`` on
  everything else) so well-behaved responders stay quiet;
  ``X-Auto-Response-Suppress: OOF, AutoReply`` for Exchange, which holds back
  its out-of-office and rule replies but still sends the delivery reports
  refmail records bounces from (``All`` would suppress those too, and read
  receipts no one wants are off by default anyway); and ``X-Refmail`` so
  refmail recognises its own mail coming back;
- **one-click unsubscribe** — ``List-Unsubscribe: <mailto:refs+TOKEN@…?subject=STOP>``
  (RFC 2369 §3.2), the message's own signed reply address, which refmail reads
  as STOP from that recipient (:mod:`refmail.reading.rules.automatic`). RFC
  8058's one-click POST needs an HTTPS endpoint refmail does not serve.

Display names and subjects come from other people's mail. Every such value is
stripped of control characters before it reaches a header, and the email
package quotes and RFC 2047-encodes what remains, so ``Evil\\r\\nBcc: x@y``
ends up as harmless text inside one header.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email import policy as email_policy
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Literal, cast

from refmail._version import __version__
from refmail.config import Config
from refmail.render.renderer import Rendered

__all__ = ["AutoSubmitted", "clean_header_text", "compose", "new_message_id", "reply_address"]

#: RFC 3834 §5's two values for mail refmail writes: ``auto-replied`` answers a
#: message (the acknowledgement of an intro), ``auto-generated`` is the rest.
AutoSubmitted = Literal["auto-generated", "auto-replied"]

#: msg-id = "<" id-left "@" id-right ">" (RFC 5322 §3.6.4), printable ASCII
#: without spaces or angle brackets.
_MSG_ID_RE = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
#: Longer ids are dropped: a header line must stay within 998 octets (RFC 5322 §2.1.1).
_MAX_MSG_ID = 900
#: Subjects are cut here; names in them come from other people's mail.
_MAX_SUBJECT = 180
_TOKEN_RE = re.compile(r"[a-z0-9.]{1,48}")
_TAG_RE = re.compile(r"[A-Za-z0-9-]{1,20}")
#: Bidi overrides and isolates: harmless to MIME but able to make a display
#: name read backwards, so they go too.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), " ")
#: Display names are cut to this many characters (quotes counted twice, as
#: they are escaped). The email package (CPython 3.11) drops the quotes when it
#: has to fold a quoted display name longer than a line, so "Becker, Tom …"
#: would arrive as two addresses; a name this short always fits on one line.
_MAX_NAME = 64
#: How many References to keep: the first (the intro) and the most recent,
#: as RFC 5322 §3.6.4 suggests when trimming.
_MAX_REFERENCES = 10


def clean_header_text(value: Any) -> str:
    """Text safe to put in a header: no control characters, one line.

    CR, LF, other C0/C1 controls, DEL, Unicode line and paragraph separators
    and bidi overrides become spaces; runs of whitespace collapse to one.
    """
    text = str(value).translate(_BIDI)
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text
    )
    return " ".join(text.split())


def _display_name(value: Any) -> str:
    """A display name safe to quote: control characters gone, cut to fit one line."""
    name = clean_header_text(value)

    def width(text: str) -> int:
        return len(text) + text.count('"') + text.count("\\")

    if width(name) <= _MAX_NAME:
        return name
    while name and width(name) > _MAX_NAME - 1:
        name = name[:-1]
    return name.rstrip() + "…"


def _msg_id(value: str) -> str | None:
    """``value`` as a clean ``<id@host>``, or None when it is not one."""
    text = clean_header_text(value)
    if text and not text.startswith("<"):
        text = f"<{text}>"
    return text if len(text) <= _MAX_MSG_ID and _MSG_ID_RE.fullmatch(text) else None


class _VerbatimHeader(UnstructuredHeader):
    """A header of ASCII tokens folded only at the spaces between them.

    For ``In-Reply-To``/``References`` (msg-ids) and ``List-Unsubscribe`` (a
    URI). The email package treats these as unstructured text and, when a
    token is longer than a line, RFC 2047-encodes it — which breaks threading
    in every client. msg-ids must never be encoded (RFC 5322 §3.6.4), nor
    URIs (RFC 2369 §2), so this class leaves each token whole.
    """

    max_count = 1
    name: str  # set by BaseHeader, which the registry mixes in

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        super().parse(value, kwds)
        # Keep the value as given: unstructured parsing would decode
        # "=?utf-8?q?…?=" inside a foreign msg-id into arbitrary text.
        kwds["decoded"] = value

    def fold(self, *, policy: Any) -> str:
        lines: list[str] = []
        current = f"{self.name}:"
        for ident in str(self).split():
            if len(current) + 1 + len(ident) > policy.max_line_length and current != f"{self.name}:":
                lines.append(current)
                current = ""
            current += f" {ident}"
        lines.append(current)
        return policy.linesep.join(lines) + policy.linesep


class _TextHeader(UnstructuredHeader):
    """Unstructured text (the Subject) encoded whole when it is not ASCII.

    The email package folds long non-ASCII text into one encoded-word per
    word and drops the space between them, which RFC 2047 §6.2 tells readers
    to ignore: "Jürgen Müller" arrives as "JürgenMüller". ``Header.encode``
    keeps spaces inside the encoded words, so they survive.
    """

    max_count = 1
    name: str

    def fold(self, *, policy: Any) -> str:
        text = str(self)
        if text.isascii():
            return super().fold(policy=policy)  # type: ignore[misc]
        encoded = Header(text, "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


def _policy() -> email_policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    header_class = cast("type[BaseHeader]", _VerbatimHeader)  # the registry mixes BaseHeader in
    for name in ("in-reply-to", "references", "list-unsubscribe"):
        registry.map_to_type(name, header_class)
    registry.map_to_type("subject", cast("type[BaseHeader]", _TextHeader))
    # SMTP: CRLF line ends. cte_type 7bit: bodies are quoted-printable or
    # base64 when not plain ASCII, so no relay ever needs 8BITMIME.
    return email_policy.SMTP.clone(header_factory=registry, cte_type="7bit")


_POLICY = _policy()


def reply_address(config: Config, reply_token: str) -> str:
    """``refs+TOKEN@group.example`` for ``reply_token``."""
    if not _TOKEN_RE.fullmatch(reply_token):
        raise ValueError(f"not a reply token: {reply_token!r}")
    return f"{config.tracker_local}+{reply_token}@{config.tracker_domain}"


def new_message_id(config: Config, referral_id: int, step: str) -> str:
    """A fresh ``<refmail.12.thank_you.<hex>@group.example>`` (RFC 5322 §3.6.4).

    The referral and step in the left part make a bounce or a reply easy to
    place even without the database; 64 random bits make it unique.
    """
    safe_step = re.sub(r"[^a-z0-9_-]+", "-", step.lower()) or "mail"
    return f"<refmail.{int(referral_id)}.{safe_step}.{secrets.token_hex(8)}@{config.tracker_domain}>"


def compose(
    config: Config,
    rendered: Rendered,
    *,
    to: tuple[str, str],
    message_id: str,
    reply_token: str,
    referral_id: int,
    tag: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime,
    list_unsubscribe: bool = True,
    auto_submitted: AutoSubmitted = "auto-generated",
) -> bytes:
    """The whole message as bytes with CRLF line ends.

    ``to`` is ``(display name, address)``; ``tag`` is ``R-12`` and is put in
    front of the subject as ``[R-12]``; ``date`` must be timezone-aware.
    ``list_unsubscribe`` (on unless turned off) adds
    ``List-Unsubscribe: <mailto:…?subject=STOP>`` (RFC 2369);
    ``auto_submitted`` is the ``Auto-Submitted`` value (RFC 3834 §5). Raises
    ValueError for an address, token, tag or Message-ID that refmail itself
    should never produce.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    if not _TAG_RE.fullmatch(tag):
        raise ValueError(f"not a referral tag: {tag!r}")
    own_id = _msg_id(message_id)
    if own_id is None:
        raise ValueError(f"not a Message-ID: {message_id!r}")
    reply_to = reply_address(config, reply_token)

    msg = EmailMessage(policy=_POLICY)
    from_name = _display_name(config.smtp.from_name or config.group.name)
    msg["From"] = Address(display_name=from_name, addr_spec=config.group.tracking_address)
    msg["To"] = _address(*to)
    msg["Reply-To"] = Address(addr_spec=reply_to)
    subject = clean_header_text(rendered.subject)
    if len(subject) > _MAX_SUBJECT:
        subject = subject[: _MAX_SUBJECT - 1].rstrip() + "…"
    msg["Subject"] = f"[{tag}] {subject}"
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = own_id

    thread = _thread(in_reply_to, references)
    parent = _ids_in(in_reply_to) if in_reply_to else []
    if parent:
        msg["In-Reply-To"] = parent[0]
    if thread:
        msg["References"] = " ".join(thread)

    # RFC 3834 §5: mail sent by a program, not a person; responders must not answer.
    if auto_submitted not in ("auto-generated", "auto-replied"):
        raise ValueError(f"not an Auto-Submitted value refmail writes: {auto_submitted!r}")
    msg["Auto-Submitted"] = auto_submitted
    # Microsoft's equivalent, limited to out-of-office and rule replies: "All"
    # would also suppress the non-delivery reports refmail records bounces from.
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg["X-Refmail"] = __version__
    msg["X-Refmail-Referral"] = str(int(referral_id))
    if list_unsubscribe:
        # RFC 2369 §3.2: a mailto URL in angle brackets.
        msg["List-Unsubscribe"] = f"<mailto:{reply_to}?subject=STOP>"

    msg.set_content(_crlf_free(rendered.text), subtype="plain", charset="utf-8")
    msg.add_alternative(_crlf_free(rendered.html), subtype="html", charset="utf-8")
    for part in msg.iter_parts():
        # The email package repeats MIME-Version in the parts it creates; it
        # belongs in the top-level header only (RFC 2045 §4).
        del part["MIME-Version"]
    return msg.as_bytes()


def _address(name: str, address: str) -> Address:
    """A To address: control characters refused, an internationalised domain
    written as IDNA (RFC 5890) — the email package would otherwise put an
    encoded-word in it — and a non-ASCII local part refused, since it needs
    SMTPUTF8 (RFC 6531), which refmail does not assume."""
    addr = address.strip()
    local, _, domain = addr.rpartition("@")
    if not local or not domain or any(
        unicodedata.category(c) in ("Cc", "Zl", "Zp") or c.isspace() for c in addr
    ):
        raise ValueError(f"not an email address: {address!r}")
    if not local.isascii():
        raise ValueError(f"{address!r} has a non-ASCII local part, which needs SMTPUTF8")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"not an email address: {address!r}") from exc
    display = _display_name(name)
    if clean_header_text(name).lower() == addr.lower():
        display = ""  # the planner's fallback name is the address itself
    try:
        return Address(display_name=display, addr_spec=f"{local}@{domain}")
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not an email address: {address!r}") from exc


def _ids_in(value: str) -> list[str]:
    """The msg-ids in a header value from someone else's mail.

    Ids in angle brackets are taken as they are; a value without any is one
    bare id (some mailers drop the brackets) and gets them added.
    """
    if "<" in value:
        found = [m for m in (_msg_id(i) for i in re.findall(r"<[^<>]*>", value)) if m]
    else:
        found = [m for m in [_msg_id(value)] if m]
    return found


def _thread(in_reply_to: str | None, references: Sequence[str]) -> list[str]:
    """The References list: the given ones (cleaned, deduplicated) then the
    parent, trimmed to the first and the most recent."""
    ids: list[str] = []
    for value in [*references, *([in_reply_to] if in_reply_to else [])]:
        for ident in _ids_in(str(value)):
            if ident not in ids:
                ids.append(ident)
    if len(ids) > _MAX_REFERENCES:
        ids = [ids[0], *ids[-(_MAX_REFERENCES - 1) :]]
    return ids


def _crlf_free(body: str) -> str:
    """Bodies with ``\\n`` line ends; the policy writes CRLF."""
    return body.replace("\r\n", "\n").replace("\r", "\n")
