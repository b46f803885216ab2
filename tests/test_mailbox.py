"""refmail.incoming.mailbox against a real Dovecot: new-mail tracking, outages, TLS, IDLE, flags."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import imapclient
import pytest
from mailservers import Dovecot, free_port

from refmail.config import ImapSettings
from refmail.errors import MailboxError
from refmail.incoming import idling
from refmail.incoming.mailbox import (
    FAILED_KEYWORD,
    Fetched,
    Mailbox,
    MailboxUnavailable,
    Position,
    Retry,
    choose_flag,
)

pytestmark = pytest.mark.servers

PASSWORD = "refs-secret"
PASSWORD_ENV = "REFMAIL_TEST_IMAP_PASSWORD"
FAST_RETRY = Retry(attempts=8, within=30, first_delay=0.05, max_delay=0.5)


@pytest.fixture(autouse=True)
def imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def settings_for(server: Dovecot, **overrides: Any) -> ImapSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": "refs",
        "password_env": PASSWORD_ENV,
        "timeout": "10s",
    }
    values.update(overrides)
    return ImapSettings(**values)


def message(n: int, *, body: str = "Betty, meet Carl.\n") -> bytes:
    return (
        f"From: betty@bakery.example\r\nTo: carl@client.example\r\nCc: refs@group.example\r\n"
        f"Subject: intro {n}\r\nMessage-ID: <m{n}-{uuid.uuid4().hex}@bakery.example>\r\n\r\n"
        f"{body}"
    ).encode()


def deliver(server: Dovecot, *numbers: int) -> None:
    for n in numbers:
        server.deliver("refs", message(n))


def subjects(items: list[Fetched]) -> list[str]:
    out = []
    for item in items:
        line = next(x for x in item.raw.split(b"\r\n") if x.startswith(b"Subject: "))
        out.append(line.removeprefix(b"Subject: ").decode())
    return out


@pytest.fixture
def fetch_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[int], list[str]]]:
    """Every IMAPClient.fetch call as (uids, data items), to see what was downloaded."""
    calls: list[tuple[list[int], list[str]]] = []
    original = imapclient.IMAPClient.fetch

    def spy(self: imapclient.IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
        calls.append((list(messages), [str(d) for d in data]))
        return original(self, messages, data, modifiers)

    monkeypatch.setattr(imapclient.IMAPClient, "fetch", spy)
    return calls


def run_when_idling(box: Mailbox, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``box`` is inside IDLE."""

    def worker() -> None:
        deadline = time.monotonic() + 30
        while not box.idling:
            if time.monotonic() > deadline:
                return  # the test's own assertion reports the failure
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    return thread


# -- reading new mail ---------------------------------------------------------------
def test_fetches_only_new_uids_across_calls(clean_dovecot: Dovecot) -> None:
    deliver(clean_dovecot, 1, 2, 3)
    with Mailbox(settings_for(clean_dovecot)) as box:
        first = list(box.fetch_new(None))
        assert subjects(first) == ["intro 1", "intro 2", "intro 3"]
        assert [f.uid for f in first] == sorted(f.uid for f in first)
        assert all(f.size == len(f.raw) and f.internaldate is not None for f in first)
        position = first[-1].position

        # "UID n+1:*" returns the last message again when nothing is newer.
        assert list(box.fetch_new(position)) == []

        deliver(clean_dovecot, 4, 5)
        second = list(box.fetch_new(position))
    assert subjects(second) == ["intro 4", "intro 5"]
    assert all(f.uid > position.last_uid for f in second)


def test_fetch_leaves_messages_unseen(clean_dovecot: Dovecot) -> None:
    deliver(clean_dovecot, 1)
    with Mailbox(settings_for(clean_dovecot)) as box:
        [item] = box.fetch_new(None)
    with clean_dovecot.imap("refs") as client:
        assert b"\\Seen" not in client.get_flags([item.uid])[item.uid]


def test_fetches_in_batches(
    clean_dovecot: Dovecot, fetch_calls: list[tuple[list[int], list[str]]]
) -> None:
    deliver(clean_dovecot, *range(1, 11))
    with Mailbox(settings_for(clean_dovecot, batch_size=4)) as box:
        items = list(box.fetch_new(None))
    assert subjects(items) == [f"intro {n}" for n in range(1, 11)]
    body_fetches = [uids for uids, data in fetch_calls if "BODY.PEEK[]" in data]
    assert [len(uids) for uids in body_fetches] == [4, 4, 2]


def test_fetches_bodies_in_batches_of_at_most_batch_bytes(
    clean_dovecot: Dovecot, fetch_calls: list[tuple[list[int], list[str]]]
) -> None:
    """imaplib holds a whole FETCH response in memory: a batch is capped by the
    messages' RFC822.SIZE, known before any body is fetched."""
    line = "x" * 76 + "\r\n"
    bodies = {1: 300_000, 2: 300_000, 3: 300_000, 4: 1_500_000, 5: 300_000, 6: 100, 7: 100}
    for n, size in bodies.items():
        clean_dovecot.deliver("refs", message(n, body=line * (size // len(line))))
    with Mailbox(settings_for(clean_dovecot, batch_bytes="1MB")) as box:
        items = list(box.fetch_new(None))
    assert subjects(items) == [f"intro {n}" for n in bodies]
    size_of = {item.uid: item.size for item in items}
    body_fetches = [uids for uids, data in fetch_calls if "BODY.PEEK[]" in data]
    assert [[subjects([i for i in items if i.uid == u])[0] for u in uids] for uids in body_fetches] == [
        ["intro 1", "intro 2", "intro 3"], ["intro 4"], ["intro 5", "intro 6", "intro 7"]]
    for uids in body_fetches:
        assert len(uids) == 1 or sum(size_of[u] for u in uids) <= 1024 * 1024


def test_byte_batches_keep_order_and_put_a_large_message_alone() -> None:
    from refmail.incoming.mailbox import byte_batches

    assert byte_batches([], 10) == []
    assert byte_batches([(1, 4), (2, 4), (3, 4), (4, 30), (5, 1), (6, 10)], 10) == [
        [1, 2], [3], [4], [5], [6]]
    assert byte_batches([(1, 10), (2, 0), (3, 0)], 10) == [[1, 2, 3]]


def test_uidvalidity_change_yields_everything_again(
    private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(private_dovecot, 1, 2, 3)
    box = Mailbox(settings_for(private_dovecot))
    with box:
        before = list(box.fetch_new(None))
    position = before[-1].position

    old, new = private_dovecot.change_uidvalidity("refs")
    assert position.uidvalidity == old

    with caplog.at_level(logging.WARNING, logger="refmail.incoming.mailbox"), box:
        after = list(box.fetch_new(position))
    assert subjects(after) == subjects(before)
    assert {f.uidvalidity for f in after} == {new}
    assert [f.raw for f in after] == [f.raw for f in before]
    assert any("UIDVALIDITY" in r.getMessage() for r in caplog.records)


def test_restart_mid_fetch_then_resume_loses_nothing(private_dovecot: Dovecot) -> None:
    deliver(private_dovecot, *range(1, 11))
    box = Mailbox(settings_for(private_dovecot, batch_size=3))
    done: list[Fetched] = []
    stored: Position | None = None
    with pytest.raises(MailboxUnavailable, match="lost while"):
        for item in box.fetch_new(None):
            done.append(item)
            stored = item.position  # "committed"
            if len(done) == 3:  # end of the first batch
                private_dovecot.restart()
    assert len(done) == 3

    # The caller resumes from what it stored; Mailbox reconnects by itself.
    done.extend(box.fetch_new(stored))
    box.close()
    assert subjects(done) == [f"intro {n}" for n in range(1, 11)]


def test_retry_reconnects_mid_fetch_with_one_warning(
    private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(private_dovecot, *range(1, 8))
    box = Mailbox(settings_for(private_dovecot, batch_size=2))
    done: list[Fetched] = []
    with caplog.at_level(logging.INFO, logger="refmail.incoming.mailbox"):
        for item in box.fetch_new(None, retry=FAST_RETRY):
            done.append(item)
            if len(done) == 2:
                private_dovecot.restart()
    box.close()
    assert subjects(done) == [f"intro {n}" for n in range(1, 8)]
    mine = [r for r in caplog.records if r.name == "refmail.incoming.mailbox"]
    warnings = [r for r in mine if r.levelno == logging.WARNING]
    infos = [r for r in mine if "restored" in r.getMessage()]
    assert len(warnings) == 1 and "lost while" in warnings[0].getMessage()
    assert len(infos) == 1 and infos[0].levelno == logging.INFO


def test_outage_gives_up_after_the_attempts_with_one_warning(
    private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(private_dovecot, 1)
    box = Mailbox(settings_for(private_dovecot))
    [first] = box.fetch_new(None)
    private_dovecot.halt()

    def warnings() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records
            if r.levelno >= logging.WARNING and r.name == "refmail.incoming.mailbox"
        ]

    quick = Retry(attempts=3, within=30, first_delay=0.01, max_delay=0.01)
    caplog.set_level(logging.DEBUG, logger="refmail.incoming.mailbox")
    with pytest.raises(MailboxUnavailable, match="connection refused") as error:
        list(box.fetch_new(first.position, retry=quick))
    assert error.value.logged is True
    assert len(warnings()) == 1
    # A second failing cycle of the daemon is the same outage: no new warning.
    with pytest.raises(MailboxUnavailable):
        list(box.fetch_new(first.position, retry=quick))
    assert len(warnings()) == 1

    private_dovecot.start()
    deliver(private_dovecot, 2)
    assert subjects(list(box.fetch_new(first.position, retry=quick))) == ["intro 2"]
    assert any(r.levelno == logging.INFO and "restored" in r.getMessage() for r in caplog.records)
    box.close()


def test_stop_ends_the_backoff_quietly(private_dovecot: Dovecot) -> None:
    private_dovecot.halt()
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    box = Mailbox(settings_for(private_dovecot), sleep=lambda seconds: None)
    slow = Retry(attempts=100, within=3600, first_delay=60, max_delay=60)
    assert list(box.fetch_new(None, retry=slow, stop=stop)) == []


# -- failures with a clear message --------------------------------------------------
def test_wrong_password(
    clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wr0ng-pa55word-xyz"
    monkeypatch.setenv(PASSWORD_ENV, secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(MailboxError) as error:
        Mailbox(settings_for(clean_dovecot)).connect()
    assert not isinstance(error.value, MailboxUnavailable)
    assert str(error.value).startswith("login refused for user refs")
    assert secret not in str(error.value)
    assert secret not in caplog.text


def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    settings = ImapSettings(
        host="127.0.0.1", port=port, security="none", username="refs", password_env=PASSWORD_ENV
    )
    with caplog.at_level(logging.DEBUG, logger="refmail.incoming.mailbox"), pytest.raises(
        MailboxUnavailable
    ) as error:
        Mailbox(settings).connect()
    assert str(error.value) == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert isinstance(error.value, MailboxError)
    # Raised, not absorbed: reporting it is the caller's job, so nothing is logged.
    assert error.value.logged is False
    assert [r for r in caplog.records if r.name == "refmail.incoming.mailbox"] == []


def test_ssl_against_a_plain_text_port(clean_dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError) as error:
        Mailbox(settings_for(clean_dovecot, security="ssl")).connect()
    assert not isinstance(error.value, MailboxUnavailable)
    assert "TLS handshake with 127.0.0.1" in str(error.value)
    assert 'security = "ssl"' in str(error.value)


def test_starttls_not_offered(clean_dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match="does not offer STARTTLS"):
        Mailbox(settings_for(clean_dovecot, security="starttls")).connect()


def test_missing_folder(clean_dovecot: Dovecot) -> None:
    with Mailbox(settings_for(clean_dovecot, folder="Foo")) as box, pytest.raises(
        MailboxError, match=r"^no folder 'Foo' on the server$"
    ):
        list(box.fetch_new(None))


def test_plain_text_refused_for_a_remote_host() -> None:
    # The config refuses this too; model_construct skips that validation.
    settings = ImapSettings.model_construct(host="mail.example.org", security="none")
    with pytest.raises(MailboxError, match="loopback"):
        Mailbox(settings)


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(users={"refs": PASSWORD}, tls=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_tls_with_the_servers_ca(tls_dovecot: Dovecot) -> None:
    tls_dovecot.deliver("refs", message(1))
    for security, port in (("ssl", tls_dovecot.tls_port), ("starttls", tls_dovecot.port)):
        settings = settings_for(
            tls_dovecot, security=security, port=port, ca_file=str(tls_dovecot.cert_file)
        )
        with Mailbox(settings) as box:
            assert subjects(list(box.fetch_new(None))) == ["intro 1"]


def test_tls_certificate_is_verified(tls_dovecot: Dovecot) -> None:
    for security, port in (("ssl", tls_dovecot.tls_port), ("starttls", tls_dovecot.port)):
        with pytest.raises(MailboxError) as error:
            Mailbox(settings_for(tls_dovecot, security=security, port=port)).connect()
        assert str(error.value).startswith("certificate verify failed for host 127.0.0.1")
        assert not isinstance(error.value, MailboxUnavailable)


# -- oversize and flags ---------------------------------------------------------------
def test_oversize_message_is_flagged_without_fetching_its_body(
    clean_dovecot: Dovecot, fetch_calls: list[tuple[list[int], list[str]]]
) -> None:
    clean_dovecot.deliver("refs", message(1))
    clean_dovecot.deliver("refs", message(2, body="x" * 80 + "\r\n") * 100)
    clean_dovecot.deliver("refs", message(3))
    with Mailbox(settings_for(clean_dovecot, max_message_size=4000)) as box:
        small1, big, small3 = box.fetch_new(None)
    assert not small1.too_large and not small3.too_large
    assert big.too_large and big.raw == b"" and big.size > 4000
    # Only its header fields, to know who wrote it and about what (for the notice to a member).
    assert b"Subject: intro 2\r\n" in big.header and b"x" * 80 not in big.header
    assert subjects([small1, small3]) == ["intro 1", "intro 3"]
    body_uids = [uid for uids, data in fetch_calls if "BODY.PEEK[]" in data for uid in uids]
    assert big.uid not in body_uids and small1.uid in body_uids


def test_flag_a_failed_message(clean_dovecot: Dovecot) -> None:
    deliver(clean_dovecot, 1, 2)
    with Mailbox(settings_for(clean_dovecot)) as box:
        first, second = box.fetch_new(None)
        assert box.flag(first.uid, uidvalidity=first.uidvalidity) == FAILED_KEYWORD
        # A stale UIDVALIDITY means the UID may be another message: nothing is set.
        assert box.flag(second.uid, uidvalidity=second.uidvalidity + 1) is None
    with clean_dovecot.imap("refs") as client:
        flags = client.get_flags([first.uid, second.uid])
    assert FAILED_KEYWORD.encode() in flags[first.uid]
    assert FAILED_KEYWORD.encode() not in flags[second.uid]


@pytest.mark.parametrize(
    ("permanent", "expected"),
    [
        ((b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\*"), FAILED_KEYWORD),
        ((b"\\Flagged", b"$RefmailFailed"), FAILED_KEYWORD),
        ((b"\\Seen", b"\\Flagged"), "\\Flagged"),
        ((b"\\Seen",), None),
        ((), None),
        (None, FAILED_KEYWORD),  # RFC 3501 §7.1: absent means all flags are permanent
    ],
)
def test_choose_flag(permanent: tuple[bytes, ...] | None, expected: str | None) -> None:
    assert choose_flag(permanent, FAILED_KEYWORD) == expected


# -- waiting for mail -----------------------------------------------------------------
def test_idle_wakes_up_on_delivery(clean_dovecot: Dovecot) -> None:
    with Mailbox(settings_for(clean_dovecot)) as box:
        assert list(box.fetch_new(None)) == []
        delivered = threading.Event()

        def deliver_one() -> None:
            deliver(clean_dovecot, 1)
            delivered.set()

        thread = run_when_idling(box, deliver_one)
        # A 60 s timeout returns False; True means the server's EXISTS woke us.
        assert box.wait_for_mail(60) is True
        thread.join(10)
        assert delivered.is_set()
        assert subjects(list(box.fetch_new(None))) == ["intro 1"]


def test_idle_times_out_without_mail(clean_dovecot: Dovecot) -> None:
    with Mailbox(settings_for(clean_dovecot)) as box:
        list(box.fetch_new(None))
        assert box.wait_for_mail(0.3) is False
        assert box.connected


def test_mail_that_arrived_before_idle_is_not_missed(clean_dovecot: Dovecot) -> None:
    with Mailbox(settings_for(clean_dovecot)) as box:
        assert list(box.fetch_new(None)) == []
        deliver(clean_dovecot, 1)
        assert box.wait_for_mail(60) is True


def test_stop_interrupts_idle(clean_dovecot: Dovecot) -> None:
    stopping = threading.Event()
    with Mailbox(settings_for(clean_dovecot)) as box:
        list(box.fetch_new(None))
        thread = run_when_idling(box, stopping.set)
        assert box.wait_for_mail(60, stopping.is_set) is False
        thread.join(10)
        # IDLE was ended cleanly: the connection still works.
        deliver(clean_dovecot, 1)
        assert subjects(list(box.fetch_new(None))) == ["intro 1"]


def test_idle_is_renewed(clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idling, "IDLE_RENEW_SECONDS", 0.1)
    with Mailbox(settings_for(clean_dovecot)) as box:
        list(box.fetch_new(None))
        assert box.wait_for_mail(0.5) is False
        thread = run_when_idling(box, lambda: deliver(clean_dovecot, 1))
        assert box.wait_for_mail(60) is True
        thread.join(10)


def test_connection_lost_during_idle_wakes_and_fetch_reconnects(private_dovecot: Dovecot) -> None:
    box = Mailbox(settings_for(private_dovecot))
    assert list(box.fetch_new(None)) == []

    def restart_with_mail() -> None:
        private_dovecot.restart()
        deliver(private_dovecot, 1)

    thread = run_when_idling(box, restart_with_mail)
    assert box.wait_for_mail(60) is True
    thread.join(10)
    assert subjects(list(box.fetch_new(None, retry=FAST_RETRY))) == ["intro 1"]
    box.close()


def test_polling_without_idle_sleeps_in_short_steps() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    settings = ImapSettings(host="127.0.0.1", security="none", idle=False)
    box = Mailbox(settings, sleep=sleep, clock=lambda: now[0])
    assert box.wait_for_mail(4.5) is True
    assert sum(sleeps) == pytest.approx(4.5)
    assert max(sleeps) <= 1.0
    assert box.wait_for_mail(10, stop=lambda: True) is False


class FakeTime:
    """A clock that moves only when the Mailbox waits: no test waits for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if len(self.waits) > 1000:
            raise AssertionError("busy loop: over 1000 waits")


def deaf_to_idle(box: Mailbox, fake: FakeTime, monkeypatch: pytest.MonkeyPatch,
                 on_first_wait: Callable[[], None] = lambda: None) -> None:
    """Make ``box`` ignore what the server says in IDLE; each wait only moves ``fake``.

    So only the checks can find new mail, as when a server (Dovecot: 0.5 s)
    has not announced it yet.
    """

    def readable(client: Any, timeout: float) -> bool:
        if not fake.waits:
            on_first_wait()
        fake.sleep(timeout)
        return False

    monkeypatch.setattr(box, "_readable", readable)


def count_noops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every NOOP sent, as a growing list (a test fails past 1000: a busy loop)."""
    noops: list[int] = []
    original = imapclient.IMAPClient.noop

    def spy(self: imapclient.IMAPClient) -> Any:
        noops.append(1)
        if len(noops) > 1000:
            raise AssertionError("busy loop: over 1000 NOOPs")
        return original(self)

    monkeypatch.setattr(imapclient.IMAPClient, "noop", spy)
    return noops


@pytest.mark.parametrize(
    ("host", "configured", "expected"),
    [
        ("127.0.0.1", "auto", idling.LOOPBACK_IDLE_CHECK_SECONDS),
        ("localhost", None, idling.LOOPBACK_IDLE_CHECK_SECONDS),
        ("127.0.0.1", "0s", None),
        ("mail.example.com", "auto", None),  # a remote server is not asked unless configured
        ("mail.example.com", "30s", 30.0),
        ("mail.example.com", "0.001s", idling.MIN_IDLE_CHECK_SECONDS),
    ],
)
def test_idle_check_interval(host: str, configured: str | None, expected: float | None) -> None:
    values: dict[str, Any] = {"host": host}
    if configured is not None:
        values["idle_check_interval"] = configured
    box = Mailbox(ImapSettings(**values))
    assert box.idle_check_seconds() == expected


@pytest.mark.parametrize("check", ["0.2s", "0s"])
def test_a_check_sees_mail_idle_has_not_announced(
    clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, check: str
) -> None:
    fake = FakeTime()
    with Mailbox(settings_for(clean_dovecot, idle_check_interval=check), clock=fake) as box:
        assert list(box.fetch_new(None)) == []
        # Delivered once IDLE runs; its notice is never read, only a check can see it.
        deaf_to_idle(box, fake, monkeypatch, on_first_wait=lambda: deliver(clean_dovecot, 1))
        found = box.wait_for_mail(60)
        if check == "0s":
            assert found is False  # IDLE alone: nothing until the server's notice
            assert fake.now == pytest.approx(60)
        else:
            assert found is True
            assert fake.now == pytest.approx(0.2)  # the first check
            assert not box.idling  # left IDLE for the fetch
        assert subjects(list(box.fetch_new(None))) == ["intro 1"]


def test_checks_while_idling_are_spaced_and_keep_idle_running(
    clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTime()
    noops = count_noops(monkeypatch)
    with Mailbox(settings_for(clean_dovecot, idle_check_interval="0.5s"), clock=fake) as box:
        list(box.fetch_new(None))
        deaf_to_idle(box, fake, monkeypatch)
        assert box.wait_for_mail(10) is False
        # One NOOP before IDLE, then one per check: not a busy loop.
        assert len(noops) == 1 + 19  # checks at 0.5, 1.0, … 9.5 s
        assert min(fake.waits) > 0 and sum(fake.waits) == pytest.approx(10)
        assert not box.idling
        # IDLE was left cleanly: the connection still works.
        deliver(clean_dovecot, 1)
        assert subjects(list(box.fetch_new(None))) == ["intro 1"]


def test_without_idle_the_server_is_asked_with_noop(
    clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTime()
    noops = count_noops(monkeypatch)
    settings = settings_for(clean_dovecot, idle_check_interval="1s")
    with Mailbox(settings, clock=fake, sleep=fake.sleep) as box:
        list(box.fetch_new(None))
        assert box._client is not None
        monkeypatch.setattr(box._client, "has_capability", lambda name: name.upper() != "IDLE")
        assert box.wait_for_mail(3) is False
        assert len(noops) == 4  # at 0, 1, 2 and 3 s
        assert fake.waits == [1.0, 1.0, 1.0]
        deliver(clean_dovecot, 1)
        assert box.wait_for_mail(60) is True
        assert fake.now == pytest.approx(3)  # at once: the first NOOP saw it
        assert subjects(list(box.fetch_new(None))) == ["intro 1"]
