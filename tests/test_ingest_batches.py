"""The daemon commits once per fetched batch, and stays exactly-once doing it.

A batch's messages, referrals, queued mail and folder position commit
together: a crash before the COMMIT keeps none of the batch and the next run
reads it again; an exception in one message rolls back that message only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mailservers import Dovecot, MailEnv
from test_capture import intro, make_daemon, write_config

from refmail.config import load_config
from refmail.storage.store import Store
from refmail.workflow.tracker import Tracker

pytestmark = pytest.mark.servers

CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from test_capture import make_daemon
    from refmail.config import load_config
    from refmail.storage.store import Store
    from refmail.workflow.tracker import Tracker

    config = load_config({config!r})
    store = Store.open(config.database_path())
    tracker = Tracker(config, store)
    original = tracker.process
    done = []

    def process(raw, **kwargs):
        outcome = original(raw, **kwargs)
        done.append(outcome)
        if len(done) == {crash_after}:
            os._exit(9)  # as SIGKILL: no finally, no COMMIT
        return outcome

    tracker.process = process
    make_daemon(config, store, tracker=tracker).cycle()
    """
)


def _crash(config_path: Path, crash_after: int) -> None:
    script = CRASHING_RUN.format(tests=str(Path(__file__).parent), config=str(config_path),
                                 crash_after=crash_after)
    result = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == 9, result.stderr


def test_a_crash_mid_batch_keeps_the_committed_batches_and_replays_the_rest_once(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path
) -> None:
    for n in range(7):
        private_dovecot.deliver("refs", intro(n))
    path = write_config(tmp_path, mail_env, private_dovecot, batch_size=3)
    config = load_config(path)
    _crash(path, crash_after=5)  # batch 1 (messages 1-3) committed, message 4-5 not
    store = Store.open(config.database_path())
    assert store.count_referrals() == 3
    assert store.position("INBOX") is not None and store.position("INBOX")[1] == 3  # type: ignore[index]
    assert len(store.messages()) == 3
    report = make_daemon(config, store).cycle()
    assert report.outcomes == {"created": 4}
    assert store.count_referrals() == 7
    subjects = sorted(r["subject"] for r in store.iter_referrals())
    assert subjects == sorted(f"Intro {n}: Client {n} <> Tom (roofing)" for n in range(7))
    assert make_daemon(config, store).cycle().processed == 0
    store.close()


def test_an_exception_in_one_message_rolls_back_that_message_only(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path
) -> None:
    for n in range(5):
        private_dovecot.deliver("refs", intro(n))
    config = load_config(write_config(tmp_path, mail_env, private_dovecot, batch_size=10))
    store = Store.open(config.database_path())
    tracker = Tracker(config, store)
    original = tracker._intro
    calls: list[int] = []

    def failing_intro(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        outcome = original(*args, **kwargs)  # writes the referral...
        if len(calls) == 3:
            raise RuntimeError("a bug after the referral was written")  # ...then fails
        return outcome

    tracker._intro = failing_intro  # type: ignore[method-assign]
    report = make_daemon(config, store, tracker=tracker).cycle()
    # Message 3 is set aside, and nothing it wrote is kept; the others are committed.
    assert report.outcomes == {"created": 4, "failed": 1}
    assert not store.db.conn.in_transaction
    assert store.count_referrals() == 4
    (failed,) = store.messages("failed")
    assert failed["message_id"] == "<intro-2@mail.chencpa.example>"
    assert failed["reason"] == "could not be applied: RuntimeError: a bug after the referral was written"
    assert [r["subject"].split(":")[0] for r in store.iter_referrals()] == [
        "Intro 0", "Intro 1", "Intro 3", "Intro 4"]
    assert store.position("INBOX") is not None and store.position("INBOX")[1] == 5  # type: ignore[index]
    assert make_daemon(config, store).cycle().processed == 0
    store.close()


def test_a_large_fetch_is_classified_in_workers_and_applied_in_order(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import refmail.daemon as daemon
    from refmail.config import Config
    from refmail.reading.classification import Classification
    from refmail.reading.classifier import classify

    monkeypatch.setattr(daemon, "_POOL_AFTER", 4)
    monkeypatch.setattr(daemon, "_CHUNK", 3)
    total = 20
    for n in range(total):
        private_dovecot.deliver("refs", intro(n))
    config = load_config(write_config(tmp_path, mail_env, private_dovecot, batch_size=7))
    store = Store.open(config.database_path())

    def fragile(raw: bytes, cfg: Config) -> Classification:
        if b"Intro 13:" in raw:
            raise UnicodeError("a decoder bug on this message")
        return classify(raw, cfg)

    tracker = Tracker(config, store, classify=fragile)
    original = tracker.process
    given: list[bool] = []
    order: list[str] = []

    def spy(raw: bytes, **kwargs: Any) -> Any:
        given.append(kwargs.get("classified") is not None)
        outcome = original(raw, **kwargs)
        order.append(outcome.key)
        return outcome

    tracker.process = spy  # type: ignore[method-assign]
    report = make_daemon(config, store, tracker=tracker).cycle()
    assert report.outcomes == {"created": total - 1, "failed": 1}
    # One by one first, then classified ahead by the workers (os.cpu_count() > 1 here).
    if (os.cpu_count() or 1) > 1:
        assert given == [False] * 4 + [True] * (total - 4)
    assert order == [f"<intro-{n}@mail.chencpa.example>" for n in range(total)]
    (failed,) = store.messages("failed")
    assert failed["key"] == "<intro-13@mail.chencpa.example>"
    assert failed["reason"] == "could not be parsed: UnicodeError: a decoder bug on this message"
    assert store.position("INBOX") is not None and store.position("INBOX")[1] == total  # type: ignore[index]
    assert store.count_referrals() == total - 1
    assert make_daemon(config, store).cycle().processed == 0
    store.close()


def test_large_messages_are_classified_in_the_daemon_and_read_ahead_is_bounded_in_bytes(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large message never goes to a worker (a pickled copy beside the daemon's), and
    the window of messages read ahead holds at most _AHEAD_BYTES besides the one in hand."""
    import refmail.daemon as daemon

    monkeypatch.setattr(daemon, "_POOL_AFTER", 2)
    monkeypatch.setattr(daemon, "_POOL_MAX_BYTES", 4000)
    monkeypatch.setattr(daemon, "_AHEAD_BYTES", 12_000)
    monkeypatch.setattr(daemon, "_CHUNK_BYTES", 3000)
    big = {5, 6, 11}
    total = 16
    for n in range(total):
        raw = intro(n)
        if n in big:
            raw = raw.replace(b"\r\n\r\nMei\r\n", b"\r\n\r\nMei\r\n" + b"-- \r\n" + b"x" * 70 + b"\r\n" * 80)
        private_dovecot.deliver("refs", raw)
    config = load_config(write_config(tmp_path, mail_env, private_dovecot))
    store = Store.open(config.database_path())
    tracker = Tracker(config, store)
    original = tracker.process
    given: list[tuple[int, bool]] = []

    def spy(raw: bytes, **kwargs: Any) -> Any:
        given.append((len(raw), kwargs.get("classified") is not None))
        return original(raw, **kwargs)

    tracker.process = spy  # type: ignore[method-assign]
    steps: list[tuple[int, int, bool]] = []  # (messages, bytes, for the workers)
    chunks = daemon._chunks

    def watched(items: Any) -> Any:
        for chunk, pooled in chunks(items):
            steps.append((len(chunk), sum(len(i.raw) for i in chunk), pooled))
            yield chunk, pooled

    monkeypatch.setattr(daemon, "_chunks", watched)
    report = make_daemon(config, store, tracker=tracker).cycle()
    assert report.outcomes == {"created": total}
    subjects = [r["subject"].split(":")[0] for r in store.iter_referrals()]
    assert subjects == [f"Intro {n}" for n in range(total)]
    if (os.cpu_count() or 1) > 1:
        # Every large message was classified here (classified=None); the small ones after the
        # first two by the workers; no chunk for the workers over _CHUNK_BYTES.
        assert all(not pooled for size, pooled in given if size > 4000)
        assert all(pooled for size, pooled in given[2:] if size <= 4000)
        assert steps and all(n == 1 and size > 4000 for n, size, pooled in steps if not pooled)
        assert all(size <= 3000 for n, size, pooled in steps if pooled)
        assert sum(n for n, _, _ in steps) == total - 2
    store.close()
