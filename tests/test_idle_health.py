"""An IDLE that never tells of new mail is noticed, said once, and worked around.

Cyrus as Debian ships it (``idled`` commented out) accepts IDLE and tells an
IDLE client nothing for a minute; refmail used to believe it, re-issuing
IDLE for nothing while mail waited. Here tests/imapproxy.py sits in front of
the real test Dovecot and swallows every ``* N EXISTS`` sent during IDLE, so
only a poll can find the mail: after two such late finds refmail stops
trusting IDLE and polls, and nothing is lost. The same proxy without the
fault is the control: a healthy IDLE is never doubted.

``IDLE_LATE_SECONDS`` (15 s in production) is shortened here so that the
tests take seconds; what is judged is the same.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from chaos_harness import PASSWORD_ENV as CHAOS_PASSWORD_ENV
from chaos_harness import TRACKER, ChaosSettings, config_text, intro_message
from imapproxy import ImapProxy
from mailservers import Dovecot, SmtpServer

from refmail.config import ImapSettings, load_config
from refmail.daemon import Daemon
from refmail.incoming import idling
from refmail.incoming.idling import unannounced_for
from refmail.incoming.mailbox import Mailbox, Position
from refmail.storage.store import Store

pytestmark = pytest.mark.servers

PASSWORD_ENV = "REFMAIL_TEST_IMAP_PASSWORD"
LATER = ChaosSettings(thank_you_after=30 * 86400, feedback_after=60 * 86400)
T0 = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


# -- the judgement (pure) --------------------------------------------------------------


def test_unannounced_for_counts_from_the_earliest_arrival_while_watching() -> None:
    later = [T0 + timedelta(seconds=10), T0 + timedelta(seconds=4)]
    assert unannounced_for(T0, later, T0 + timedelta(seconds=30)) == 25.0  # 30 - 4, less a second
    # A copy keeps its old INTERNALDATE: it says nothing about IDLE.
    assert unannounced_for(T0, [T0 - timedelta(days=3)], T0 + timedelta(seconds=60)) is None
    assert unannounced_for(T0, [None], T0 + timedelta(seconds=60)) is None
    # Whole seconds and a little skew: a message stamped just before the watch still counts.
    assert unannounced_for(T0, [T0 - timedelta(seconds=1)], T0 + timedelta(seconds=1)) == 1.0
    assert unannounced_for(T0, [T0 + timedelta(seconds=5)], T0 + timedelta(seconds=5.5)) == 0.0


# -- through the proxy -----------------------------------------------------------------


@pytest.fixture
def proxy(private_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapProxy]:
    monkeypatch.setenv(PASSWORD_ENV, "refs-secret")
    monkeypatch.setattr(idling, "IDLE_LATE_SECONDS", 1.0)
    with ImapProxy(private_dovecot.host, private_dovecot.port) as server:
        yield server


def settings(proxy: ImapProxy, **more: object) -> ImapSettings:
    # No NOOP checks while idling, as for a remote server: IDLE alone must tell.
    values: dict[str, object] = {
        "host": proxy.host, "port": proxy.port, "security": "none", "username": "refs",
        "password_env": PASSWORD_ENV, "timeout": "10s", "idle_check_interval": "0s",
    }
    values.update(more)
    return ImapSettings(**values)  # type: ignore[arg-type]


def intro(n: int) -> bytes:
    return (f"From: betty@bakery.example\r\nTo: carl@client.example\r\nSubject: intro {n}\r\n"
            f"Message-ID: <h{n}-{uuid.uuid4().hex}@bakery.example>\r\n\r\nBetty, meet Carl.\r\n").encode()


def when_idling(box: Mailbox, action: Callable[[], None]) -> threading.Thread:
    def worker() -> None:
        deadline = time.monotonic() + 30
        while not box.idling and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    return thread


class Reader:
    """``fetch_new`` from where the last call stopped, as the daemon does with its database."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box
        self.position: Position | None = None

    def new(self) -> list[str]:
        items = list(self.box.fetch_new(self.position))
        if items:
            self.position = items[-1].position
        return [i.raw.split(b"Subject: ")[1].split(b"\r\n")[0].decode() for i in items]


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def idle_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "does not tell of new mail" in r.getMessage()]


def test_an_idle_that_never_tells_is_noticed_once_and_polled_instead(
    proxy: ImapProxy, private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.swallow_idle_exists = True
    found: list[str] = []
    caplog.set_level(logging.DEBUG, logger="refmail.incoming")
    with Mailbox(settings(proxy)) as box:
        reader = Reader(box)
        assert reader.new() == []
        for n in (1, 2):
            thread = when_idling(box, lambda n=n: private_dovecot.deliver("refs", intro(n)))
            # Delivered during IDLE and never told of: the wait ends empty-handed…
            assert box.wait_for_mail(2.5) is False
            thread.join(10)
            # …and the poll that follows finds it, long after it arrived.
            found += reader.new()
        assert found == ["intro 1", "intro 2"]
        assert box.idle_silent
        assert len(idle_warnings(caplog)) == 1
        assert "polling every [timing] poll_interval" in idle_warnings(caplog)[0]

        # From now on: no IDLE, a poll every wait. Mail is found at the next one.
        idles = proxy.commands["IDLE"]
        for n in (3, 4):
            private_dovecot.deliver("refs", intro(n))
            assert box.wait_for_mail(0.5) is True  # a poll: worth fetching
            assert reader.new() == [f"intro {n}"]
        assert proxy.commands["IDLE"] == idles
    assert len(idle_warnings(caplog)) == 1  # said once, however long it lasts


def test_with_noop_checks_configured_they_replace_idle(
    proxy: ImapProxy, private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.swallow_idle_exists = True
    # Checks slower than the server's notice: they do not hide what IDLE fails to tell.
    with Mailbox(settings(proxy, idle_check_interval="1.5s")) as box:
        reader = Reader(box)
        reader.new()
        for n in (1, 2):
            thread = when_idling(box, lambda n=n: private_dovecot.deliver("refs", intro(n)))
            # Swallowed in IDLE, so neither the check's DONE nor its NOOP tells.
            assert box.wait_for_mail(2.5) is False
            thread.join(10)
            assert len(reader.new()) == 1
        assert box.idle_silent
        [warning] = idle_warnings(caplog)
        assert "asking with NOOP every 1.5s instead" in warning
        idles, noops = proxy.commands["IDLE"], proxy.commands["NOOP"]
        private_dovecot.deliver("refs", intro(3))
        assert box.wait_for_mail(30) is True  # a NOOP found it: outside IDLE nothing is swallowed
        assert len(reader.new()) == 1
        assert proxy.commands["IDLE"] == idles and proxy.commands["NOOP"] > noops


def test_a_healthy_idle_is_never_doubted(
    proxy: ImapProxy, private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    with Mailbox(settings(proxy)) as box:
        reader = Reader(box)
        reader.new()
        for n in (1, 2):  # two of each: as many as a verdict needs
            thread = when_idling(box, lambda n=n: private_dovecot.deliver("refs", intro(n)))
            assert box.wait_for_mail(30) is True  # told at once (Dovecot: within 0.5 s)
            thread.join(10)
            assert len(reader.new()) == 1
            # Mail that waited in the folder while nobody watched is no fault of IDLE.
            private_dovecot.deliver("refs", intro(10 + n))
            time.sleep(2.2)
            assert len(reader.new()) == 1
        assert not box.idle_silent
    assert idle_warnings(caplog) == []


def test_one_late_find_is_not_enough(
    proxy: ImapProxy, private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    with Mailbox(settings(proxy)) as box:
        reader = Reader(box)
        reader.new()
        for n in (1, 2, 3):
            # Late, then told in time, then late: never two late finds in a row.
            proxy.swallow_idle_exists = n != 2
            thread = when_idling(box, lambda n=n: private_dovecot.deliver("refs", intro(n)))
            assert box.wait_for_mail(2.5 if n != 2 else 30) is (n == 2)
            thread.join(10)
            assert len(reader.new()) == 1
        assert not box.idle_silent
    assert idle_warnings(caplog) == []


def test_the_daemon_loses_nothing_on_a_server_whose_idle_never_tells(
    proxy: ImapProxy, private_dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CHAOS_PASSWORD_ENV, "refs-secret")
    proxy.swallow_idle_exists = True
    with SmtpServer(private_dovecot) as smtp:
        text = config_text(LATER, SimpleNamespace(host=proxy.host, port=proxy.port), smtp)  # type: ignore[arg-type]
        text = text.replace('poll_interval = "1s"', 'poll_interval = "3s"')
        path = tmp_path / "refmail.toml"
        path.write_text(text.replace("[imap]\n", '[imap]\nidle_check_interval = "0s"\n', 1))
        config = load_config(path)
        store = Store.open(config.database_path())
        daemon = Daemon(config, store)
        acks = lambda: [m for m in smtp.messages if m.mail_from == TRACKER]  # noqa: E731
        failures: list[str] = []
        idles_at_verdict: list[int] = []

        def feed() -> None:
            try:
                for n in range(3):
                    deadline = time.monotonic() + 30
                    while not (daemon.mailbox.idling or daemon.mailbox.idle_silent):
                        if time.monotonic() > deadline:
                            failures.append(f"intro {n}: the daemon never waited")
                            return
                        time.sleep(0.01)
                    if daemon.mailbox.idle_silent and not idles_at_verdict:
                        idles_at_verdict.append(proxy.commands["IDLE"])
                    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
                        client.send_message(intro_message(n))
                    if not wait_until(lambda n=n: len(acks()) == n + 1, 30):
                        failures.append(f"intro {n} not acknowledged")
                        return
            finally:
                daemon.request_stop()

        worker = threading.Thread(target=feed, daemon=True)
        with caplog.at_level(logging.INFO, logger="refmail"):
            worker.start()
            try:
                daemon.run()  # the main thread: it installs signal handlers
            finally:
                worker.join(30)
                store.close()
    assert failures == []
    assert len(acks()) == 3
    assert daemon.mailbox.idle_silent and len(idle_warnings(caplog)) == 1
    # Once judged, no IDLE was issued again (one may have been running at the verdict).
    assert idles_at_verdict and proxy.commands["IDLE"] <= idles_at_verdict[0] + 1
    store = Store.open(tmp_path / "refmail.db")
    try:
        assert store.count_referrals() == 3
    finally:
        store.close()
