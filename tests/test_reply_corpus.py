"""Both shared reply corpora, and refmail's own client fixtures, through ``refmail parse``.

``bench/reply_corpus.py`` wraps every body of ``../shared/corpus/replies/`` and
``../shared/corpus/replies-peers/`` as a reply to one of refmail's own
messages and classifies it as ``refmail parse`` does. Every assertion must
pass except the listed ones whose upstream expectation contradicts the SPEC —
and those must still fail, so the list cannot hide a change.

``tests/data/replies_clients*.json`` are fixtures written from real clients'
wire formats (Gmail, Outlook, Apple Mail, Thunderbird, Yahoo, mail.ru, Yandex,
Zoho, ProtonMail, Fastmail … in 21 languages), kept out of the tuning of the
word tables as a held-out check: a reply's first line is its new text.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from refmail.mail.reply import extract_reply

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("reply_corpus", ROOT / "bench" / "reply_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reply_corpus"] = module
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
ENTRIES = BENCH.load()
SHARED_ENTRIES = [e for e in ENTRIES if e.corpus in ("replies", "peers")]


def test_the_corpora_are_all_there() -> None:
    assert sum(e.corpus == "replies" for e in ENTRIES) >= 37
    assert sum(e.corpus == "peers" for e in ENTRIES) >= 100
    languages = {e.language for e in SHARED_ENTRIES}
    assert languages >= {"en", "de", "fr", "it", "nl", "da", "sv", "pl", "ru", "ja"}
    assert set(BENCH.CONTRADICTIONS) <= {e.id for e in ENTRIES}


@pytest.mark.parametrize("entry", SHARED_ENTRIES, ids=[e.id for e in SHARED_ENTRIES])
def test_every_corpus_entry_passes_but_the_listed_contradictions(entry: Any) -> None:
    (scored,) = BENCH.score([entry], libraries=False)
    output = scored.outputs["refmail"]
    if entry.id in BENCH.CONTRADICTIONS:
        assert not scored.passed["refmail"], f"{entry.id} passes now: take it off CONTRADICTIONS"
    else:
        assert scored.passed["refmail"], f"expected {entry.expected!r} ({entry.match}), got {output!r}"


def test_the_report_lists_no_unexplained_failure(tmp_path: Path) -> None:
    scored = BENCH.score(SHARED_ENTRIES, libraries=False)
    text = BENCH.report(scored, 0.0)
    assert "not listed: a real failure" not in text
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\n## Other\n\nkept\n", "utf-8")
    BENCH.write_section(results, text)
    BENCH.write_section(results, text)  # replaced, not appended twice
    written = results.read_text("utf-8")
    assert written.count(BENCH.SECTION) == 1 and "kept" in written


PLAIN = json.loads((DATA / "replies_clients.json").read_text("utf-8"))
HTML = json.loads((DATA / "replies_clients_html.json").read_text("utf-8"))


@pytest.mark.parametrize("case", PLAIN, ids=[c["id"] for c in PLAIN])
def test_client_reply_plain(case: dict[str, str]) -> None:
    assert extract_reply(case["text"]) == case["text"].split("\n")[0]


@pytest.mark.parametrize("case", HTML, ids=[c["id"] for c in HTML])
def test_client_reply_html(case: dict[str, str]) -> None:
    assert extract_reply("", html=case["html"]) == case.get("expected", "Met her today.")


def test_the_fixtures_cover_the_languages_and_clients() -> None:
    langs = {c["lang"] for c in PLAIN}
    assert langs >= {"en", "de", "es", "fr", "it", "pt", "nl", "da", "no", "sv", "fi", "pl", "cs", "ru",
                     "uk", "hu", "ca", "tr", "zh", "ja", "ko"}
    clients = {c["client"] for c in PLAIN + HTML}
    assert clients >= {"Gmail", "Outlook", "Apple Mail", "Thunderbird", "Yahoo", "Yandex", "mail.ru",
                       "Zoho Mail", "ProtonMail", "Fastmail", "Outlook on the web"}
