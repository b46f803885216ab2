"""Mail a member sends from their own client, drafted by refmail: its words and its link.

The introduction a referrer sends once everyone said yes, and the invitation
to a one-to-one (:func:`one_to_one_draft`, seed 004).

SPEC "Consent-first introductions": refmail never sends the introduction
itself. It drafts it — :func:`intro_draft`, the referrer's own words from the
proposal — and hands the referrer an RFC 6068 ``mailto:`` link
(:func:`intro_mailto`) that opens it, ready to send, in their own mail client,
so the intro comes from their address and is signed by their own server.
Pure, no I/O; the proposal is read by :mod:`refmail.reading.proposal`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import quote

from refmail.config import Config
from refmail.reading.proposal import Person, Proposal, without_addresses

__all__ = ["MAX_MAILTO", "intro_draft", "intro_mailto", "one_to_one_draft", "one_to_one_mailto"]

#: Some mail clients (and Windows' URL handler) truncate longer ``mailto:`` URLs.
MAX_MAILTO = 2000

_GREETING_LINE_RE = re.compile(r"(?i)\W*(?:hi|hello|hey|dear|hallo|liebe[rs]?|hola|bonjour|salut)\b.{0,40}")


def intro_draft(proposal: Proposal, referrer_name: str, config: Config) -> tuple[str, str]:
    """The introduction's subject and body, for the referrer to send from their own mail.

    Subject "Introduction: Carl <> Betty" (first names, in the proposal's
    order). The body greets everyone by first name, carries the referrer's own
    words from the proposal (addresses, and a greeting line meant for refmail,
    taken out), a line per member on their business from the group config,
    and the referrer's sign-off. The referrer reads and edits it in their own
    mail client before sending, so it stays their introduction.
    """
    firsts = [p.first_name for p in proposal.people]
    subject = "Introduction: " + " <> ".join(firsts)
    own = without_addresses(proposal.text).strip()
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", own) if p.strip()]
    if paragraphs and "\n" not in paragraphs[0] and _GREETING_LINE_RE.fullmatch(paragraphs[0]):
        paragraphs.pop(0)  # "Hi refmail," was written to us
    names = f"{', '.join(firsts[:-1])} and {firsts[-1]}" if len(firsts) > 1 else "".join(firsts)
    lines = [f"Hi {names},", "", "I'm delighted to introduce you to each other."]
    if paragraphs:
        lines += ["", "\n\n".join(paragraphs)]
    about = []
    for person in proposal.people:
        member = config.member(person.address)
        if member is not None and member.business:
            about.append(f"{person.first_name}: {member.business}")
    if about:
        lines += ["", *about]
    sign = referrer_name.split()[0] if referrer_name.split() else ""
    lines += ["", "I'll let you take it from here.", "", "Best,", sign]
    return subject, "\n".join(lines).rstrip() + "\n"


def _encode(value: str) -> str:
    """RFC 6068 §2 hfvalue: every character outside ``unreserved`` percent-encoded as UTF-8
    (§5), line breaks as CRLF (``%0D%0A``), a space as ``%20`` (never ``+``)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return quote(value, safe="")


def _build(to: list[Person], cc: str, subject: str, body: str) -> str:
    # RFC 6068 §2: "to" is addr-specs separated by "," (no display names), where "@" and
    # "+" may stay as they are (some-delims). In the query a "+" is encoded, so that no
    # form decoder reads it as a space.
    recipients = ",".join(quote(p.address, safe="@+") for p in to)
    query = [f"cc={quote(cc, safe='@')}"] if cc else []
    query += [f"subject={_encode(subject)}", f"body={_encode(body)}"]
    return f"mailto:{recipients}?{'&'.join(query)}"


def _largest(length: int, build: Callable[[int], str | None]) -> str | None:
    """``build(n)`` for the largest n in 0..length it accepts (it accepts a prefix of sizes)."""
    best = build(0)
    if best is None:
        return None
    lo, hi = 0, length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = build(mid)
        if candidate is not None:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best


def intro_mailto(*, referrer_name: str, to: list[Person], cc: str, subject: str, body: str) -> str:
    """The one-click link that opens the introduction in the referrer's own mail client.

    ``mailto:carl@…,betty@…?cc=refs@…&subject=…&body=…`` (RFC 6068): the
    people in the To, comma-separated addr-specs; ``cc`` the tracking address,
    so the intro is captured and matched to the proposal; subject and body
    percent-encoded as UTF-8 with everything reserved encoded and line breaks
    as ``%0D%0A``.

    Some clients truncate ``mailto:`` URLs longer than about 2,000 characters
    (:data:`MAX_MAILTO`), which could cut a word, or worse the Cc, in half. A
    body that does not fit is shortened: its first paragraph (the greeting),
    and its end from the paragraph before the last one naming the referrer
    (the closing line and sign-off), are kept whole; the words between are cut
    at a word boundary and marked "[…]", keeping as many as fit. A letter
    outside ASCII costs 6–9 characters once encoded, so the limit is checked
    on the encoded link. The full draft is also in the plain text of the
    ``consent_ready`` email. When greeting and sign-off alone do not fit the
    body is cut hard; addresses and subject are never cut.
    """
    uri = _build(to, cc, subject, body)
    if len(uri) <= MAX_MAILTO:
        return uri
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = re.split(r"\n[ \t]*\n", text.strip("\n"))
    sign = referrer_name.split()[0] if referrer_name.split() else None
    signed = [i for i, p in enumerate(paragraphs) if sign and sign in p]
    tail_from = max(1, signed[-1] - 1) if signed and signed[-1] > 0 else max(1, len(paragraphs) - 1)
    head = paragraphs[0]
    middle = "\n\n".join(paragraphs[1:tail_from])
    tail = "\n\n".join(paragraphs[tail_from:])

    def shortened(keep: int) -> str | None:
        part = middle[:keep]
        if keep < len(middle):
            part = re.sub(r"\s*\S*$", "", part).rstrip(" ,;:")
            part = f"{part} […]" if part else "[…]"
        candidate = _build(to, cc, subject, "\n\n".join(x for x in (head, part, tail) if x) + "\n")
        return candidate if len(candidate) <= MAX_MAILTO else None

    found = _largest(len(middle), shortened) if middle and len(paragraphs) > 2 else None
    if found is not None:
        return found

    def cut(keep: int) -> str | None:
        candidate = _build(to, cc, subject, text[:keep])
        return candidate if len(candidate) <= MAX_MAILTO else None

    return _largest(len(text), cut) or _build(to, cc, subject, "")


def one_to_one_draft(member_name: str, other_first: str, prospects: Sequence[str]) -> tuple[str, str]:
    """The note that invites another member to a one-to-one: its subject and body.

    Seed 004: walk through the business you gave them, ask how each referral
    worked out and how you could send better ones — "then, and only then",
    say that business your way would help. So the invitation asks for the
    meeting and how the introductions went, never for referrals back. The
    member sends it from their own mail, and edits it first if they like.
    ``prospects``: the first names of the people introduced, oldest first.
    """
    names = list(dict.fromkeys(p for p in prospects if p))
    if not names or len(names) > 3:
        who = "a few people" if len(names) != 1 else names[0]
    else:
        who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    sign = member_name.split()[0] if member_name.split() else ""
    body = "\n".join([
        f"Hi {other_first},",
        "",
        f"I've enjoyed introducing {who} to you lately. I'd love to hear how each of them worked out for "
        "you, and how my next introductions could fit you even better.",
        "",
        "Would you have half an hour for a coffee or a call in the next couple of weeks?",
        "",
        "Best,",
        sign,
    ]).rstrip() + "\n"
    return "Coffee soon?", body


def one_to_one_mailto(member_name: str, to: Person, subject: str, body: str) -> str:
    """The one-click link that opens the invitation, to the other member only (no
    tracker copy: a meeting between two members is not an introduction)."""
    return intro_mailto(referrer_name=member_name, to=[to], cc="", subject=subject, body=body)
