"""Server faults: Dovecot gone during IDLE, SMTP refusing, unreachable or hanging up mid-message.

What must hold through every fault: nothing is lost (every intro tracked,
every message due delivered once the server is back), nothing is sent twice
except a message the server kept while refmail could not know it (then with
the same Message-ID and bytes), and the log tells of an outage once — a
WARNING when it starts, an INFO when it ends — not once per attempt.

The IMAP fault runs a real ``refmail run`` subprocess and reads its stderr.
The SMTP faults run the daemon in-process with a controllable clock, because
the outbox waits a minute or more between attempts (refmail/outbox.py); the
log lines are captured with the format ``refmail run`` writes to stderr.
The fault modes of the test servers themselves are tested first.
"""

from __future__ import annotations

import io
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest
from chaos_harness import (
    PASSWORD,
    PASSWORD_ENV,
    TRACKER,
    ChaosRun,
    ChaosSettings,
    config_text,
    intro_message,
    people,
)
from imapclient import IMAPClient
from mailservers import Accepted, Dovecot, SmtpServer

from refmail.config import load_config
from refmail.daemon import Daemon
from refmail.incoming.mailbox import Retry
from refmail.storage.store import Store

pytestmark = pytest.mark.servers

#: Only acknowledgements within a test: the other nudges are weeks away.
LATER = ChaosSettings(thank_you_after=30 * 86400, feedback_after=60 * 86400)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as refmail.cli.commands sets it up


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def message_id(raw: bytes) -> str:
    return str(BytesHeaderParser(policy=compat32).parsebytes(raw)["Message-ID"])


def problems(text: str) -> list[str]:
    """The WARNING, ERROR and CRITICAL lines of a log."""
    return [line for line in text.splitlines() if any(f" {lvl} " in line for lvl in ("WARNING", "ERROR",
                                                                                       "CRITICAL"))]


@pytest.fixture
def smtp(private_dovecot: Dovecot) -> Iterator[SmtpServer]:
    server = SmtpServer(private_dovecot).start()
    try:
        yield server
    finally:
        server.stop()


def send(server: SmtpServer, raw: bytes = b"Subject: hi\r\n\r\nhello\r\n") -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail("tom@roofing.example", ["refs@group.example"], raw)


# -- the fault modes of the test servers -------------------------------------------


def test_smtp_drop_hangs_up_during_data_keeping_the_message_only_if_asked(
    smtp: SmtpServer, private_dovecot: Dovecot
) -> None:
    smtp.drop()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(smtp, b"Subject: one\r\n\r\nlost\r\n")
    assert smtp.messages == [] and private_dovecot.messages("refs") == {}
    smtp.drop(after_delivery=True)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(smtp, b"Subject: two\r\n\r\nkept\r\n")
    assert [m.message()["Subject"] for m in smtp.messages] == ["two"]
    assert len(private_dovecot.messages("refs")) == 1
    send(smtp, b"Subject: three\r\n\r\nnormal again\r\n")
    assert [m.message()["Subject"] for m in smtp.messages] == ["two", "three"]


def test_smtp_halt_refuses_connections_until_started_again(smtp: SmtpServer) -> None:
    send(smtp)
    port = smtp.port
    smtp.halt()
    assert not smtp.running
    with pytest.raises(ConnectionRefusedError):
        send(smtp)
    smtp.start()
    send(smtp)
    assert smtp.port == port and len(smtp.messages) == 2


def test_smtp_on_accept_runs_before_the_client_hears_250(smtp: SmtpServer) -> None:
    returned = threading.Event()  # set once the client has its 250
    seen: list[tuple[Accepted, int, bool]] = []
    smtp.on_accept = lambda accepted: seen.append((accepted, len(smtp.messages), returned.is_set()))
    send(smtp, b"Subject: hooked\r\n\r\nx\r\n")
    returned.set()
    # Already recorded (and delivered), and the client was still waiting.
    assert [(a.message()["Subject"], n, answered) for a, n, answered in seen] == [("hooked", 1, False)]


def test_dovecot_idle_sessions_reads_the_process_titles(private_dovecot: Dovecot) -> None:
    assert private_dovecot.idle_sessions("refs") == 0
    client = IMAPClient(private_dovecot.host, private_dovecot.port, ssl=False, timeout=10)
    client.login("refs", PASSWORD)
    client.select_folder("INBOX")
    try:
        client.idle()
        assert wait_for(lambda: private_dovecot.idle_sessions("refs") == 1)
        assert private_dovecot.idle_sessions("other") == 0
        client.idle_done()
        assert wait_for(lambda: private_dovecot.idle_sessions("refs") == 0)
    finally:
        client.logout()


# -- IMAP: Dovecot stopped while the daemon idles ---------------------------------------


def test_dovecot_restarted_during_idle_loses_nothing_and_logs_one_warning(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path
) -> None:
    run = ChaosRun(LATER, tmp_path, private_dovecot, smtp)  # its daemon, config and mail helpers
    acks = lambda: [m for m in smtp.messages if m.mail_from == TRACKER]  # noqa: E731
    run.daemon.start()
    try:
        run.send_intro()
        assert wait_for(lambda: len(acks()) == 1), run.daemon.log_since_start()
        # Idling: the daemon's IMAP connection is in IDLE, per Dovecot's process title.
        assert wait_for(lambda: private_dovecot.idle_sessions("refs") == 1)
        private_dovecot.halt()
        assert wait_for(lambda: "IMAP server unavailable" in run.daemon.log_since_start())
        time.sleep(1.5)  # not for correctness: a few more polls (one a second) fail meanwhile
        private_dovecot.start()
        run.send_intro()  # delivered after the restart
        assert wait_for(lambda: len(acks()) == 2), run.daemon.log_since_start()
        # Back to normal: idling again on a new connection, and the next intro is seen.
        assert wait_for(lambda: private_dovecot.idle_sessions("refs") == 1)
        run.send_intro()
        assert wait_for(lambda: len(acks()) == 3), run.daemon.log_since_start()
        assert run.daemon.terminate() == 0
    finally:
        if run.daemon.alive():
            run.daemon.kill()
            run.daemon.reap()
    log = run.daemon.log_since_start()
    store = Store.open(tmp_path / "refmail.db")
    try:
        assert store.count_referrals() == 3
        assert sorted(message_id(m.raw) for m in acks()) == sorted(
            str(r[0]) for r in store.db.conn.execute("SELECT message_id FROM outbox")
        )
    finally:
        store.close()
    warnings = problems(log)
    assert len(warnings) == 1, log
    assert "IMAP server unavailable" in warnings[0]
    assert log.count("restored after") == 1, log
    assert PASSWORD not in log


# -- SMTP: refusing, unreachable, hanging up ---------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def captured_log() -> Iterator[io.StringIO]:
    """Every refmail log line at INFO and above, formatted as on the daemon's stderr."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("refmail")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Group:
    """An in-process daemon on a fake clock, and intros delivered straight to Dovecot."""

    def __init__(self, dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path) -> None:
        path = tmp_path / "refmail.toml"
        path.write_text(config_text(LATER, dovecot, smtp))
        self.dovecot, self.smtp = dovecot, smtp
        self.config = load_config(path)
        self.store = Store.open(self.config.database_path())
        self.clock = Clock()
        self.daemon = Daemon(self.config, self.store, clock=self.clock,
                             retry=Retry(attempts=3, within=10, first_delay=0.1, max_delay=0.5))
        self.intros = 0

    def intro(self) -> None:
        """An intro reaches the inbox without the SMTP server (which may be down)."""
        referrer = people(self.intros)[0]
        self.dovecot.deliver("refs", intro_message(self.intros).as_bytes(), mail_from=referrer, rcpt=TRACKER)
        self.intros += 1

    def cycle(self, *, later: timedelta = timedelta(hours=1)) -> None:
        self.daemon.cycle()
        self.clock.now += later

    def envelopes(self) -> list[Accepted]:
        return [m for m in self.smtp.messages if m.mail_from == TRACKER]

    def outbox(self) -> list[tuple[str, str, int]]:
        """``(message_id, status, attempts)`` of every row."""
        rows = self.store.db.conn.execute("SELECT message_id, status, attempts FROM outbox ORDER BY id")
        return [(str(m), str(s), int(a)) for m, s, a in rows]


@pytest.fixture
def group(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Group]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    g = Group(private_dovecot, smtp, tmp_path)
    try:
        yield g
    finally:
        g.daemon.mailbox.close()
        g.store.close()


FAULTS: dict[str, tuple[Callable[[SmtpServer], object], Callable[[SmtpServer], object]]] = {
    "451 at RCPT": (lambda s: s.refuse(451), lambda s: s.accept()),
    "421 at RCPT": (lambda s: s.refuse(421, text="4.3.2 shutting down"), lambda s: s.accept()),
    "451 at DATA": (lambda s: s.refuse(451, stage="data"), lambda s: s.accept()),
    "unreachable": (lambda s: s.halt(), lambda s: s.start()),
    "hangs up in DATA": (lambda s: s.drop(100), lambda s: s.accept()),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_smtp_outages_lose_nothing_and_are_logged_once_each(group: Group, fault: str) -> None:
    begin, end = FAULTS[fault]
    with captured_log() as log:
        for outage in (1, 2):
            begin(group.smtp)
            group.intro()
            group.intro()
            group.cycle()  # both tracked, the first ack attempted and deferred
            for _ in range(4):
                group.cycle()  # a retry an hour later each time: five attempts in all
            end(group.smtp)
            group.cycle()
            rows = group.outbox()
            assert [status for _, status, _ in rows] == ["sent"] * 2 * outage, rows
            # Five failed attempts in this outage, then one that worked.
            assert sum(attempts for _, _, attempts in rows) == len(rows) + 5 * outage
    text = log.getvalue()
    # Nothing lost, nothing twice: one envelope per outbox row, the row's own Message-ID.
    assert sorted(message_id(m.raw) for m in group.envelopes()) == sorted(m for m, _, _ in group.outbox())
    assert group.store.count_referrals() == 4
    warnings = problems(text)
    assert len(warnings) == 2, text  # one per outage, not one per attempt
    assert all("cannot send mail via" in w for w in warnings), text
    assert text.count("works again") == 2, text
    # The cycles that only retried during an outage add no line of their own:
    # the outage shows up in a cycle summary only where that cycle also took in mail.
    assert text.count("Sending paused") == 2, text


@pytest.mark.parametrize("kept", [False, True], ids=["lost by the server", "kept by the server"])
def test_connection_dropped_mid_message_resends_the_same_message(group: Group, kept: bool) -> None:
    group.intro()
    group.smtp.drop(after_delivery=kept)
    group.cycle(later=timedelta(minutes=2))
    assert group.outbox()[0][1:] == ("queued", 1)
    group.cycle()
    ((mid, status, attempts),) = group.outbox()
    assert (status, attempts) == ("sent", 2)
    copies = group.envelopes()
    # The server that kept it has a second copy: identical, same Message-ID.
    assert len(copies) == (2 if kept else 1)
    assert {message_id(c.raw) for c in copies} == {mid}
    assert len({c.raw for c in copies}) == 1


@pytest.mark.parametrize("kept", [False, True], ids=["lost by the server", "kept by the server"])
def test_a_reused_connection_dropped_mid_message_is_retried_at_once(group: Group, kept: bool) -> None:
    """The second message of a run meets the hang-up: one fresh connection, then it goes out."""
    group.intro()
    group.intro()

    def drop_the_next(_accepted: Accepted) -> None:
        group.smtp.on_accept = None
        group.smtp.drop(after_delivery=kept)

    group.smtp.on_accept = drop_the_next
    group.cycle()
    rows = group.outbox()
    assert [status for _, status, _ in rows] == ["sent", "sent"], rows
    copies = [message_id(c.raw) for c in group.envelopes()]
    assert copies == [rows[0][0], rows[1][0]] + ([rows[1][0]] if kept else [])
