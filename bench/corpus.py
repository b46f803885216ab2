"""A realistic shared referral inbox, generated deterministically from a seed.

What a tracking inbox holds after years of use: introductions written in Gmail
and Outlook (multipart text + HTML, DKIM/ARC/Received headers, signatures,
disclaimers, RFC 2047 names), 3–6 KB each, from the group's members to two (or
three) people, copied — or blind-copied — to the tracker; and, about one in
ten, the mail that is not an intro: reply-alls inside intro threads,
out-of-office auto-replies, newsletters. The same ``(seed, n, anchor)`` always
gives the same bytes (written by ``bench/mailshapes.py``).

Messages are written straight into the Maildir of a Dovecot started with
``tests/mailservers.py`` (``Maildir/cur``, owned by the mail uid, named
``<time>.M<usec>P<pid>Q<n>.host,S=<size>:2,S``, mtime = Date, which Dovecot
uses as INTERNALDATE) — far faster than APPEND or LMTP — in a fresh Dovecot
directory every run (see /work/shared/dovecot-notes.md). The first SELECT
indexes them; :func:`warm_up` does that, and a first full FETCH, before any
timing, so every contestant meets the same warm server.

Run: .venv/bin/python bench/corpus.py --n 200 [--seed 7] [--eml DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import harness  # noqa: F401 - puts the project and tests/ on sys.path
from mailservers import Dovecot
from mailshapes import TRACKER, Person
from mailshapes import Draft as _Draft
from mailshapes import b64 as _b64
from mailshapes import encoded as _encoded
from mailshapes import render as _render

__all__ = [
    "PASSWORD",
    "PASSWORD_ENV",
    "TRACKER",
    "TRACKER_USER",
    "GroupSpec",
    "LoadedMailbox",
    "Mail",
    "Manifest",
    "Person",
    "config_toml",
    "default_anchor",
    "fresh_intro",
    "generate",
    "load",
    "loaded_mailbox",
    "make_group",
    "warm_up",
    "write_maildir",
]

TRACKER_USER = "refs"
PASSWORD = "refs-bench-secret"
PASSWORD_ENV = "REFMAIL_BENCH_IMAP_PASSWORD"
MIN_SIZE, MAX_SIZE = 3000, 6000

FIRST = (
    "Linda", "Tom", "Mei", "Carl", "Betty", "Raj", "Priya", "Ana", "José", "Zoë", "Björn", "Søren",
    "François", "Amélie", "Kenji", "Yuki", "Omar", "Fatima", "Grace", "Henry", "Isabel", "Jack", "Karen",
    "Liam", "Maria", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wendy",
    "Xavier", "Yasmin", "Zach", "Aaron", "Bianca", "Chloe", "Diego", "Elena", "Felix", "Gina", "Hugo",
    "Irene", "Jonas", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Pia", "Ravi", "Sofia", "Theo", "Ursula",
    "Vera", "Will", "Ximena", "Yara", "Emma", "Lucas", "Hannah", "Daniel", "Chiara", "Mateo", "Ingrid",
    "Leon", "Aisha", "Dmitri", "Freya", "Gabriel", "Hiro", "Jana", "Kai", "Lucia", "Max", "Nina", "Pedro",
    "Ruth", "Stefan", "Tess"
)
LAST = (
    "Park", "Becker", "Chen", "Jensen", "Alvarez", "Okafor", "Novak", "Schmidt", "Rossi", "Tanaka", "Kim",
    "Nguyen", "Patel", "Garcia", "Müller", "Larsen", "Dubois", "Costa", "Silva", "Brown", "Wilson",
    "Taylor", "Anderson", "Thomas", "Moore", "Martin", "Jackson", "White", "Harris", "Clark", "Lewis",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill",
    "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker",
    "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper",
    "Reed", "Bailey", "Bell", "Gómez", "Kelly", "Howard", "Ward", "Cox", "Diaz", "Richardson", "Wood",
    "Watson", "Brooks", "Bennett", "Gray", "James", "Reyes", "Cruz", "Hughes", "Price", "Myers", "Long",
    "Foster", "Sanders", "Ross", "Morales", "Powell", "Sullivan", "Russell", "Ortiz", "Jenkins",
    "Gutiérrez", "Perry", "Butler", "Barnes", "Fisher", "Henderson", "Coleman", "Simmons"
)
#: (what the member does, the trade noun, what a prospect needs from them)
TRADES = (
    ("Residential roofing contractor", "roofer", "a new roof before the winter storms"),
    ("CPA for small businesses", "accountant", "help untangling the books for the bakery"),
    ("Estate planning attorney", "estate planning lawyer", "a will and a trust for the family"),
    ("Commercial insurance broker", "insurance broker", "better liability cover for the shop"),
    ("Wedding and portrait photographer", "photographer", "a photographer for an autumn wedding"),
    ("Web design studio", "web designer", "a new website that actually brings in customers"),
    ("Mortgage broker", "mortgage broker", "a mortgage pre-approval for a first home"),
    ("Residential realtor", "realtor", "someone to sell the house on Maple Street"),
    ("Business coach", "business coach", "someone to help grow the company past ten people"),
    ("HVAC installation and repair", "HVAC technician", "a replacement furnace for the office"),
    ("Family dentistry", "dentist", "a dentist who is good with nervous kids"),
    ("Financial planner", "financial planner", "advice on retirement savings"),
    ("Interior designer", "interior designer", "a redesign of the new restaurant space"),
    ("Commercial cleaning", "cleaning company", "nightly cleaning for three offices"),
    ("IT support for small offices", "IT person", "someone to fix the office network for good"),
    ("Marketing consultant", "marketing consultant", "a plan to launch the new product line"),
    ("Landscape architect", "landscaper", "a garden redesign before spring"),
    ("Payroll services", "payroll provider", "a payroll service for twelve employees"),
    ("Physical therapist", "physical therapist", "rehab after knee surgery"),
    ("Commercial printer", "printer", "five thousand brochures for the trade show"),
    ("Electrician", "electrician", "rewiring in an old Victorian house"),
    ("Employment lawyer", "employment lawyer", "advice on a contract dispute with an ex-employee"),
    ("Bookkeeper", "bookkeeper", "monthly bookkeeping for the consulting firm"),
    ("Event caterer", "caterer", "catering for a company party of eighty people"),
    ("Architect", "architect", "plans for a two-storey extension"),
    ("Plumber", "plumber", "a plumber for the kitchen remodel"),
    ("Copywriter", "copywriter", "someone to rewrite the website and brochures"),
    ("Chiropractor", "chiropractor", "help with recurring back pain"),
    ("Video production", "videographer", "a short promotional video"),
    ("Tax advisor", "tax advisor", "help with an IRS letter about last year's return"),
)
COMPANY_WORDS = (
    "Harbor", "Summit", "Maple", "Cedar", "Bright", "Blue", "River", "Oak", "North", "Lake", "Granite",
    "Silver", "Elm", "Pine", "Coastal", "Golden", "Prairie", "Valley", "Ridge", "Willow", "Anchor",
    "Beacon", "Compass", "Keystone", "Lighthouse", "Meadow", "Orchard", "Sterling"
)
COMPANY_KINDS = (
    "Bakery", "Dental", "Roofing", "Consulting", "Design", "Partners", "Group", "Studio", "Labs", "Realty",
    "Legal", "Builders", "Foods", "Fitness", "Logistics", "Media", "Cafe", "Clinic", "Motors", "Outfitters",
    "Analytics", "Gardens", "Print", "Events", "Law"
)
FREEMAIL = ("gmail.example", "outlook.example", "yahoo.example", "icloud.example", "proton.example")
OFFSETS = (-5, -6, -5, -6, -7, -4, 1, 0)

CONTEXT = (
    "We sat next to each other at the Tuesday breakfast and the conversation came round to this.",
    "{P} mentioned it over coffee last week, and you were the first person I thought of.",
    "I have known {V} for years and have sent several clients there; every one came back happy.",
    "{P} runs {company} downtown and has been putting this off for far too long.",
    "No pressure on either side, but I think you two will get on well.",
    "{V} did exactly this for my brother-in-law last spring, on time and on budget.",
    "{P} would like to get started in the next few weeks if the timing works.",
    "Both of you are on the Harbor Business Network list, so you may have crossed paths already.",
    "I told {P} you are busy at this time of year, so a quick call to start would be perfect.",
    "{P} is happy to share the details by phone; mornings are usually best.",
    "You both care about doing things properly, which is why I wanted you to meet.",
    "{V}, I mentioned that you offer a free first consultation — I hope that is still the case.",
    "Thanks to you both, and please keep me posted on how it goes.",
)
@dataclass(frozen=True)
class MemberSpec:
    person: Person
    business: str
    trade: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupSpec:
    name: str
    tracking_address: str
    admins: tuple[str, ...]
    members: tuple[MemberSpec, ...]


@dataclass(frozen=True)
class Mail:
    """One generated message and what it is meant to be."""

    raw: bytes
    #: intro | thread_reply | auto_reply | newsletter
    kind: str
    message_id: str
    date: datetime
    seen: bool
    #: The envelope (for sending over SMTP): sender and every recipient, tracker included.
    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()


@dataclass
class Manifest:
    """What was loaded: counts by kind, bytes, how long writing took."""

    n: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    min_size: int = 0
    max_size: int = 0
    write_seconds: float = 0.0
    index_seconds: float = 0.0
    anchor: str = ""
    seed: int = 0
    #: Intros dated inside the default 14-day backfill window (refmail acknowledges these).
    recent_intros: int = 0

    @property
    def intros(self) -> int:
        return self.kinds["intro"]

    @property
    def megabytes(self) -> float:
        return self.bytes / 1e6


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _first(person: Person) -> str:
    return person.name.split()[0]


def make_group(seed: int = 7, members: int = 40) -> GroupSpec:
    """The group's members: realistic names, one trade each, some with a Gmail alias."""
    rng = random.Random(f"group:{seed}")
    people: list[MemberSpec] = []
    used: set[str] = set()
    trades = list(TRADES)
    rng.shuffle(trades)
    while len(people) < members:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        business, trade, _need = trades[len(people) % len(trades)]
        domain = _ascii(f"{last}{trade.split()[0]}").replace(" ", "") + ".example"
        email = f"{_ascii(first)}@{domain}"
        if email in used:
            continue
        used.add(email)
        aliases: tuple[str, ...] = ()
        if rng.random() < 0.2:
            aliases = (f"{_ascii(first)}.{_ascii(last)}{rng.randint(10, 99)}@{rng.choice(FREEMAIL)}",)
        people.append(MemberSpec(Person(f"{first} {last}", email), business, trade, aliases))
    return GroupSpec(
        name="Harbor Business Network",
        tracking_address=TRACKER,
        admins=(people[0].person.email,),
        members=tuple(people),
    )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_toml(
    group: GroupSpec,
    *,
    imap_port: int,
    database: str | Path,
    smtp_port: int | None = None,
    idle: bool = True,
    poll_interval: str = "60s",
    batch_size: int | None = None,
    password_env: str = PASSWORD_ENV,
) -> str:
    """The refmail config for ``group`` against the bench servers (plain text, loopback only)."""
    lines = [
        "[group]",
        f"name = {_toml_str(group.name)}",
        f"tracking_address = {_toml_str(group.tracking_address)}",
        "admins = [" + ", ".join(_toml_str(a) for a in group.admins) + "]",
        'timezone = "America/Chicago"',
        "open_membership = false",
        "",
    ]
    for m in group.members:
        lines += [
            "[[members]]",
            f"name = {_toml_str(m.person.name)}",
            f"email = {_toml_str(m.person.email)}",
            f"business = {_toml_str(m.business)}",
            "aliases = [" + ", ".join(_toml_str(a) for a in m.aliases) + "]",
            "",
        ]
    lines += [
        "[imap]",
        'host = "127.0.0.1"',
        f"port = {imap_port}",
        'security = "none"',
        f'username = "{TRACKER_USER}"',
        f"password_env = {_toml_str(password_env)}",
        'folder = "INBOX"',
        f"idle = {'true' if idle else 'false'}",
        'timeout = "30s"',
    ]
    if batch_size is not None:
        lines.append(f"batch_size = {batch_size}")
    lines += ["", "[smtp]", 'host = "127.0.0.1"', f"port = {smtp_port or 25}", 'security = "none"',
              'username = ""', 'timeout = "10s"', "",
              "[storage]", f"database = {_toml_str(str(database))}", "",
              "[timing]", f"poll_interval = {_toml_str(poll_interval)}", 'quiet_hours = ""', ""]
    return "\n".join(lines)


def load(toml: str, *, lift_rate_limit: bool = False) -> Any:
    """A :class:`refmail.config.Config` from :func:`config_toml` text.

    ``lift_rate_limit``: for fixtures that apply many messages at one instant (a
    backfill does), raise refmail's per-sender rate limit, if it has one, to its
    maximum, so that they are applied rather than refused.
    """
    from refmail.config import config_from_dict

    data = tomllib.loads(toml)
    if lift_rate_limit:
        data["security"] = {"max_messages_per_sender_per_hour": 10_000}  # the largest allowed
        try:
            return config_from_dict(data)
        except Exception:  # a refmail without [security]
            del data["security"]
    return config_from_dict(data)


class _World:
    """The people of one corpus: members, and outsiders created as needed (unique addresses)."""

    def __init__(self, group: GroupSpec, rng: random.Random) -> None:
        self.group = group
        self.rng = rng
        self.used = {m.person.email for m in group.members}

    def outsider(self) -> Person:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if rng.random() < 0.4:
            domain = rng.choice(FREEMAIL)
        else:
            domain = _ascii(rng.choice(COMPANY_WORDS) + rng.choice(COMPANY_KINDS)) + ".example"
        local = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{local}@{domain}", 1
        while email in self.used:
            n += 1
            email = f"{local}{n}@{domain}"
        self.used.add(email)
        return Person(f"{first} {last}", email)


def _signature(person: Person, business: str, rng: random.Random) -> list[str]:
    domain = person.email.rpartition("@")[2]
    lines = [person.name, business, f"({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}"]
    if domain not in FREEMAIL:
        lines.append(f"www.{domain}")
    if rng.random() < 0.5:
        lines.append(f"{rng.randint(10, 9999)} {rng.choice(COMPANY_WORDS)} Street, Harbor City")
    return lines


def _intro(world: _World, i: int, date: datetime, rng: random.Random) -> tuple[_Draft, dict[str, str]]:
    members = world.group.members
    referrer_m = rng.choice(members)
    sender = referrer_m.person
    if referrer_m.aliases and rng.random() < 0.5:
        sender = Person(sender.name, referrer_m.aliases[0])
    if rng.random() < 0.7:
        provider_m = rng.choice([m for m in members if m is not referrer_m])
        provider, trade = provider_m.person, provider_m.trade
        need = next(n for b, t, n in TRADES if t == trade)
    else:
        provider = world.outsider()
        _b, trade, need = rng.choice(TRADES)
    prospects = [world.outsider()]
    if rng.random() < 0.05:
        prospects.append(world.outsider())
    P = " and ".join(_first(p) for p in prospects)
    V, R = _first(provider), _first(sender)
    company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
    verb = "are looking for" if len(prospects) > 1 else "is looking for"
    needs = "need" if len(prospects) > 1 else "needs"
    openers = [
        f"{V}, meet {P}. {P} {verb} {need}. {P}, {V} is the {trade} I mentioned last week.",
        f"{P}, I'd like you to meet {V}, the {trade} I told you about. {V}, {P} {needs} {need}.",
        f"Connecting you two as promised. {P} {needs} {need}, and {V} is the best {trade} I know.",
        f"{V}, please meet {P}. {P} {verb} {need} and I said you were the person to talk to.",
    ]
    paras = [rng.choice(["Hi both,", f"Hi {V} and {P},", "Hello both,", f"{V}, {P},"]), rng.choice(openers)]
    extra = rng.sample(CONTEXT, rng.randint(1, 4))
    paras += [c.format(P=P, V=V, company=company) for c in extra]
    paras.append(rng.choice(["I'll let you two take it from here.", "Over to you both!",
                             "I'll step back and let you connect."]))
    paras.append(rng.choice([f"Best,\n{R}", f"Cheers,\n{R}", f"Thanks,\n{R}", f"All the best,\n{R}"]))
    subject = rng.choice([
        f"Intro: {prospects[0].name} <> {provider.name} ({trade})",
        f"Introduction - {V} / {_first(prospects[0])}",
        f"{V} meet {_first(prospects[0])}",
        f"Connecting you: {_first(prospects[0])} + {V}",
    ])
    if not subject.isascii():
        subject = _encoded(subject)
    tracker = Person("Harbor Referrals", TRACKER)
    bcc = rng.random() < 0.05
    cc = [] if bcc else [tracker]
    client = "outlook" if rng.random() < 0.4 else "gmail"
    domain = sender.email.rpartition("@")[2]
    message_id = (
        f"<CA{_b64(rng, 30).replace('/', '_')}@mail.gmail.com>" if client == "gmail"
        else f"<{rng.randbytes(20).hex().upper()}@{domain}>"
    )
    draft = _Draft(
        sender=sender, to=[provider, *prospects], cc=cc, subject=subject,
        plain="\n\n".join(paras), html_paragraphs=[p.replace("\n", "<br>") for p in paras],
        signature=_signature(sender, referrer_m.business, rng), date=date, message_id=message_id,
        client=client, disclaimer=client == "outlook" and rng.random() < 0.5,
    )
    thread = {"id": message_id, "subject": subject,
              "provider": provider.email, "provider_name": provider.name,
              "prospect": prospects[0].email, "prospect_name": prospects[0].name,
              "referrer": sender.email, "referrer_name": sender.name, "text": draft.plain}
    return draft, thread


def _thread_reply(thread: dict[str, str], date: datetime, rng: random.Random) -> _Draft:
    provider = Person(thread["provider_name"], thread["provider"])
    prospect = Person(thread["prospect_name"], thread["prospect"])
    referrer = Person(thread["referrer_name"], thread["referrer"])
    quoted = "\n".join("> " + line for line in thread["text"].splitlines()[:4])
    text = (
        f"Thanks {_first(referrer)} for the introduction!\n\n{_first(prospect)}, great to e-meet you. "
        f"Would you have time for a quick call on {rng.choice(['Tuesday', 'Wednesday', 'Thursday'])} "
        f"{rng.choice(['morning', 'afternoon'])}? I am happy to come by as well.\n\nBest,\n{_first(provider)}"
        f"\n\nOn {format_datetime(date - timedelta(hours=3))}, {referrer.name} <{referrer.email}> wrote:"
        f"\n{quoted}"
    )
    domain = provider.email.rpartition("@")[2]
    return _Draft(
        sender=provider, to=[prospect], cc=[referrer, Person("Harbor Referrals", TRACKER)],
        subject="Re: " + thread["subject"], plain=text,
        html_paragraphs=[p.replace("\n", "<br>") for p in text.split("\n\n")],
        signature=[provider.name, f"www.{domain}"], date=date,
        message_id=f"<{rng.randbytes(16).hex()}@{domain}>", client=rng.choice(["gmail", "outlook"]),
        in_reply_to=thread["id"],
    )


def _auto_reply(thread: dict[str, str], date: datetime, rng: random.Random) -> _Draft:
    """An Exchange out-of-office answering refmail's own nudge (RFC 3834 Auto-Submitted)."""
    person = Person(thread["prospect_name"], thread["prospect"])
    back = (date + timedelta(days=rng.randint(3, 14))).strftime("%A, %B %d")
    text = (
        f"Thank you for your message. I am out of the office with limited access to email until {back}. "
        "For anything urgent, please call the office and my colleague will help you.\n\n"
        f"Kind regards,\n{person.name}"
    )
    domain = person.email.rpartition("@")[2]
    return _Draft(
        sender=person, to=[Person("Harbor Referrals", TRACKER)], cc=[],
        subject=f"Automatic reply: [R-{rng.randint(1, 9999)}] How did it go?", plain=text,
        html_paragraphs=[p.replace("\n", "<br>") for p in text.split("\n\n")],
        signature=[person.name], date=date, message_id=f"<{rng.randbytes(16).hex().upper()}@{domain}>",
        client="outlook", in_reply_to=f"<refmail.{rng.randbytes(8).hex()}@harbornet.example>",
        headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"),
                 ("X-MS-Exchange-Inbox-Rules-Loop", person.email)],
    )


def _newsletter(date: datetime, rng: random.Random) -> _Draft:
    sender = Person("Harbor Chamber of Commerce", "news@harborchamber.example")
    items = rng.sample(CONTEXT, 3)
    paras = [
        "This month at the Chamber",
        f"Our networking mixer returns on {(date + timedelta(days=9)).strftime('%B %d')} "
        "at the Harbor Hotel.",
        *[i.format(P="a member", V="a local business", company="Main Street") for i in items],
        "Renew your membership before the end of the month to keep your directory listing.",
        "You are receiving this because you subscribed at harborchamber.example. Unsubscribe at any time.",
    ]
    return _Draft(
        sender=sender, to=[Person("", TRACKER)], cc=[],
        subject=f"Chamber News — {date.strftime('%B %Y')}", plain="\n\n".join(paras),
        html_paragraphs=[f'<table width="100%"><tr><td style="padding:12px;font-family:Arial">{p}</td></tr>'
                         "</table>" for p in paras],
        signature=["Harbor Chamber of Commerce", "1 Harbor Plaza, Harbor City"], date=date,
        message_id=f"<{rng.randbytes(12).hex()}.{int(date.timestamp())}@list.harborchamber.example>",
        client="gmail",
        headers=[("List-Id", "Chamber News <news.harborchamber.example>"),
                 ("List-Unsubscribe", "<mailto:unsubscribe@harborchamber.example>, "
                  f"<https://harborchamber.example/u/{rng.randbytes(10).hex()}>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("Precedence", "bulk")],
    )


def fresh_intro(seed: int, i: int, *, group: GroupSpec, now: datetime) -> Mail:
    """Intro number ``i`` of a live stream, dated ``now``, ready to send over SMTP."""
    rng = random.Random(f"live:{seed}:{i}")
    world = _World(group, rng)
    local = now.astimezone(timezone(timedelta(hours=-6))).replace(microsecond=0)
    draft, _thread = _intro(world, i, local, rng)
    draft.message_id = f"<live.{seed}.{i}.{rng.randbytes(6).hex()}@{draft.sender.email.rpartition('@')[2]}>"
    rcpt = [p.email for p in (*draft.to, *draft.cc)]
    if TRACKER not in rcpt:
        rcpt.append(TRACKER)  # a blind copy: in the envelope only
    # On the wire every line ends in CRLF (RFC 5321 §2.3.8); smtplib sends bytes as they are.
    raw = _render(draft, rng, stored=False).replace(b"\n", b"\r\n")
    return Mail(raw, "intro", draft.message_id, draft.date, False, draft.sender.email, tuple(rcpt))


def default_anchor() -> datetime:
    """Today at midnight UTC: the corpus spans the years before it (pass one for fixed bytes)."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def generate(
    seed: int,
    n: int,
    *,
    group: GroupSpec | None = None,
    anchor: datetime | None = None,
    days: int = 730,
) -> Iterator[Mail]:
    """``n`` messages, oldest first, dated over the ``days`` before ``anchor``.

    About 90 % intros; the rest reply-alls in a recent intro's thread, auto-replies
    and newsletters. Lazily generated: a 100,000-message inbox never sits in memory.
    """
    group = group or make_group(seed)
    anchor = anchor or default_anchor()
    rng = random.Random(f"corpus:{seed}")
    world = _World(group, rng)
    start = anchor - timedelta(days=days)
    step = timedelta(days=days) / max(n, 1)
    recent: list[dict[str, str]] = []
    for i in range(n):
        offset = timezone(timedelta(hours=rng.choice(OFFSETS)))
        date = (start + step * i + step * rng.random() * 0.9).astimezone(offset).replace(microsecond=0)
        roll = rng.random()
        if roll < 0.04 and recent:
            kind, draft = "thread_reply", _thread_reply(recent.pop(rng.randrange(len(recent))), date, rng)
        elif roll < 0.07 and recent:
            kind, draft = "auto_reply", _auto_reply(rng.choice(recent), date, rng)
        elif roll < 0.10:
            kind, draft = "newsletter", _newsletter(date, rng)
        else:
            kind = "intro"
            for extra in range(8):
                draft, thread = _intro(world, i, date, rng)
                size = len(_render(draft, random.Random(0)))
                if MIN_SIZE <= size <= MAX_SIZE or extra == 7:
                    break
            recent.append(thread)
            del recent[:-30]
        raw = _render(draft, rng)
        yield Mail(raw, kind, draft.message_id, date, seen=rng.random() < 0.8)


# -- loading into Dovecot -------------------------------------------------------
def write_maildir(dovecot: Dovecot, mails: Iterator[Mail], user: str = TRACKER_USER) -> Manifest:
    """Write ``mails`` into ``user``'s ``Maildir/cur`` as Dovecot's own files.

    Name ``<time>.M<usec>P<pid>Q<n>.<host>,S=<size>:2,<flags>`` (S= lets Dovecot
    skip a stat; flags ``S`` = \\Seen), owned by the mail uid, mtime = Date.
    """
    root = dovecot.maildir(user)
    for sub in (root, root / "cur", root / "new", root / "tmp"):
        sub.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(sub, dovecot.uid, dovecot.gid)
    manifest = Manifest()
    backfill_edge: datetime | None = None
    started = time.perf_counter()
    pid = os.getpid()
    cur = root / "cur"
    for q, mail in enumerate(mails):
        stamp = int(mail.date.timestamp())
        name = f"{stamp}.M{q % 1000000}P{pid}Q{q}.bench,S={len(mail.raw)}:2,{'S' if mail.seen else ''}"
        path = cur / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, mail.raw)
            if os.geteuid() == 0:
                os.fchown(fd, dovecot.uid, dovecot.gid)
        finally:
            os.close(fd)
        os.utime(path, (stamp, stamp))
        manifest.n += 1
        manifest.kinds[mail.kind] += 1
        manifest.bytes += len(mail.raw)
        manifest.min_size = min(manifest.min_size or len(mail.raw), len(mail.raw))
        manifest.max_size = max(manifest.max_size, len(mail.raw))
        if backfill_edge is None:
            backfill_edge = datetime.now(UTC) - timedelta(days=14)
        if mail.kind == "intro" and mail.date >= backfill_edge:
            manifest.recent_intros += 1
    manifest.write_seconds = time.perf_counter() - started
    return manifest


def warm_up(dovecot: Dovecot, user: str = TRACKER_USER) -> float:
    """SELECT (Dovecot indexes the new files) and one full FETCH, untimed by the benchmarks.

    Fetches everything any contestant asks for (sizes, dates, flags, bodies),
    so Dovecot's cache file and the page cache are warm for all of them alike.
    """
    started = time.perf_counter()
    with dovecot.imap(user) as client:
        uids = client.search("ALL")
        for i in range(0, len(uids), 1000):
            client.fetch(uids[i : i + 1000], ["UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[]"])
    return time.perf_counter() - started


@dataclass
class LoadedMailbox:
    dovecot: Dovecot
    group: GroupSpec
    manifest: Manifest

    @property
    def port(self) -> int:
        return self.dovecot.port

    def env(self) -> dict[str, str]:
        return {PASSWORD_ENV: PASSWORD}


@contextlib.contextmanager
def loaded_mailbox(
    n: int, *, seed: int = 7, anchor: datetime | None = None, days: int = 730
) -> Iterator[LoadedMailbox]:
    """A fresh Dovecot (its own new directory) holding ``n`` generated messages, warmed up."""
    group = make_group(seed)
    anchor = anchor or default_anchor()
    dovecot = Dovecot(users={TRACKER_USER: PASSWORD})
    try:
        manifest = write_maildir(dovecot, generate(seed, n, group=group, anchor=anchor, days=days))
        manifest.anchor, manifest.seed = anchor.isoformat(), seed
        dovecot.start()
        manifest.index_seconds = warm_up(dovecot)
        yield LoadedMailbox(dovecot, group, manifest)
    finally:
        dovecot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--eml", type=Path, help="also write each message as DIR/NNNNN-kind.eml")
    args = parser.parse_args()
    if args.eml:
        args.eml.mkdir(parents=True, exist_ok=True)
        for i, mail in enumerate(generate(args.seed, args.n)):
            (args.eml / f"{i:05d}-{mail.kind}.eml").write_bytes(mail.raw)
    with loaded_mailbox(args.n, seed=args.seed) as box:
        m = box.manifest
        print(
            f"{m.n} messages ({dict(m.kinds)}), {m.megabytes:.1f} MB, {m.min_size}-{m.max_size} bytes, "
            f"written in {m.write_seconds:.2f}s, indexed+first fetch {m.index_seconds:.2f}s "
            f"(Dovecot {box.dovecot.version} on port {box.port}, {box.dovecot.dir})"
        )


if __name__ == "__main__":
    main()
