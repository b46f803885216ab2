"""refmail.outgoing.outbox: idempotent queueing, due times, and delivery through a real SMTP server."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mailservers import SmtpServer, free_port

from refmail.config import SmtpSettings
from refmail.outgoing.outbox import Outbox, OutboxItem, backoff
from refmail.outgoing.transport import SmtpTransport
from refmail.storage.store import Store

TRACKER = "refs@group.example"
T0 = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


class Clock:
    """The ``now`` handed to the outbox: moves only when the test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(tmp_path / "refmail.db")
    yield db
    db.close()


@pytest.fixture
def outbox(store: Store) -> Outbox:
    return Outbox(store)


@pytest.fixture
def referral(store: Store) -> int:
    return store.create_referral(
        referrer="tom@beckerroofing.example",
        provider="carl@client.example",
        parties=[],
        subject="Betty, meet Carl",
        intro_message_id=None,
        roles_reason="test",
        silent=False,
        introduced_at=T0,
        now=T0,
    )


@pytest.fixture
def relay() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def transport_for(server: SmtpServer | None, **overrides: Any) -> SmtpTransport:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port if server else free_port(),
        "security": "none",
        "timeout": "10s",
    }
    values.update(overrides)
    return SmtpTransport(SmtpSettings(**values))


def put(
    outbox: Outbox,
    referral_id: int | None,
    recipient: str,
    *,
    step: str = "feedback",
    seq: int = 0,
    now: datetime = T0,
    not_before: datetime | None = None,
) -> tuple[int | None, str]:
    """Enqueue a small rendered nudge; returns (row id or None, Message-ID)."""
    message_id = f"<{step}-{uuid.uuid4().hex}@group.example>"
    raw = (
        f"From: {TRACKER}\r\nTo: {recipient}\r\nSubject: {step} {seq}\r\n"
        f"Message-ID: {message_id}\r\nAuto-Submitted: auto-generated\r\n\r\nHow did it go?\r\n"
    ).encode()
    item_id = outbox.enqueue(
        referral_id=referral_id,
        step=step,
        recipient=recipient,
        seq=seq,
        message_id=message_id,
        token=f"tok{uuid.uuid4().hex[:10]}",
        subject=f"{step} {seq}",
        raw=raw,
        now=now,
        not_before=not_before,
    )
    return item_id, message_id


def received_ids(server: SmtpServer) -> list[str]:
    return [str(m.message()["Message-ID"]) for m in server.messages]


def outbox_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "refmail.outgoing.outbox" and r.levelno == level]


# -- queueing (no server) -------------------------------------------------------------


def test_enqueue_is_idempotent_per_step_recipient_and_seq(outbox: Outbox, referral: int) -> None:
    first, _ = put(outbox, referral, "carl@client.example")
    assert isinstance(first, int)
    again, again_mid = put(outbox, referral, "carl@client.example")
    assert again is None
    assert outbox.by_message_id(again_mid) is None  # the duplicate was not stored
    second_reminder, _ = put(outbox, referral, "carl@client.example", seq=1)
    other_person, _ = put(outbox, referral, "betty@bakery.example")
    assert len({first, second_reminder, other_person}) == 3
    assert outbox.enqueued(referral) == {
        ("feedback", "carl@client.example", 0),
        ("feedback", "carl@client.example", 1),
        ("feedback", "betty@bakery.example", 0),
    }
    # A finished step stays finished: cancelling does not make room for a re-queue.
    assert outbox.cancel(first, "referral closed")
    assert put(outbox, referral, "carl@client.example")[0] is None


def test_enqueue_without_referral_is_unique_too(outbox: Outbox) -> None:
    # SQLite's UNIQUE treats NULLs as distinct; migration 0003 closes that gap.
    assert put(outbox, None, "mei@chencpa.example", step="summary", seq=202423)[0] is not None
    assert put(outbox, None, "mei@chencpa.example", step="summary", seq=202423)[0] is None
    assert put(outbox, None, "mei@chencpa.example", step="summary", seq=202424)[0] is not None
    assert outbox.counts() == {"queued": 2}


def test_a_reused_message_id_is_an_error_not_a_silent_skip(outbox: Outbox, referral: int) -> None:
    _, message_id = put(outbox, referral, "carl@client.example")
    with pytest.raises(sqlite3.IntegrityError):
        outbox.enqueue(
            referral_id=referral, step="thank_you", recipient="carl@client.example", seq=0,
            message_id=message_id, token=None, subject="s", raw=b"x", now=T0,
        )


def test_enqueue_joins_the_callers_transaction(store: Store, outbox: Outbox, referral: int) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_event(referral, "nudge_planned", at=T0)
        put(outbox, referral, "carl@client.example")
        raise RuntimeError("planner failed after queueing")
    assert outbox.counts() == {}
    assert store.referral(referral)["events"] == []  # type: ignore[index]


def test_due_respects_next_attempt_and_not_before(outbox: Outbox, referral: int) -> None:
    now_id, _ = put(outbox, referral, "a@x.example", now=T0)
    later_id, _ = put(outbox, referral, "b@x.example", now=T0, not_before=T0 + timedelta(hours=9))
    past_id, _ = put(outbox, referral, "c@x.example", now=T0, not_before=T0 - timedelta(days=1))
    assert [i.id for i in outbox.due(T0)] == [now_id, past_id]
    assert [i.id for i in outbox.due(T0 - timedelta(seconds=1))] == []
    assert [i.id for i in outbox.due(T0 + timedelta(hours=9))] == [now_id, past_id, later_id]
    assert [i.id for i in outbox.due(T0 + timedelta(hours=9), limit=1)] == [now_id]
    # Another time zone names the same moment.
    from zoneinfo import ZoneInfo

    chicago = (T0 + timedelta(hours=9)).astimezone(ZoneInfo("America/Chicago"))
    assert [i.id for i in outbox.due(chicago)] == [now_id, past_id, later_id]
    assert outbox.get(later_id).next_attempt_at == T0 + timedelta(hours=9)  # type: ignore[arg-type, union-attr]
    assert now_id is not None and outbox.cancel(now_id, "STOP")
    assert [i.id for i in outbox.due(T0 + timedelta(days=1))] == [past_id, later_id]


def test_lookups_by_message_id_token_and_recent_mail(outbox: Outbox, referral: int) -> None:
    item_id, message_id = put(outbox, referral, "carl@client.example")
    item = outbox.get(item_id)  # type: ignore[arg-type]
    assert isinstance(item, OutboxItem) and item.status == "queued" and item.attempts == 0
    assert outbox.by_message_id(message_id) == item
    assert outbox.by_message_id(message_id.strip("<>")) == item
    assert item.token is not None and outbox.by_token(item.token) == item
    assert outbox.by_token("forged") is None
    put(outbox, referral, "carl@client.example", seq=1, now=T0 + timedelta(days=3))
    cancelled, _ = put(outbox, referral, "carl@client.example", seq=2, now=T0 + timedelta(days=4))
    outbox.cancel(cancelled, "closed")  # type: ignore[arg-type]
    put(outbox, referral, "betty@bakery.example", now=T0 + timedelta(days=3))
    assert outbox.recent_to("carl@client.example", T0 + timedelta(days=1)) == [T0 + timedelta(days=3)]
    assert outbox.recent_to("carl@client.example", T0) == [T0, T0 + timedelta(days=3)]


def test_cancel_queued_by_recipient(outbox: Outbox, referral: int) -> None:
    put(outbox, referral, "carl@client.example")
    put(outbox, referral, "carl@client.example", seq=1)
    keep, _ = put(outbox, referral, "betty@bakery.example")
    assert outbox.cancel_to("carl@client.example", "STOP") == 2
    assert [i.id for i in outbox.due(T0)] == [keep]
    other_referral, _ = put(outbox, None, "betty@bakery.example", step="summary")
    assert outbox.cancel_queued("referral closed", referral_id=referral) == 1
    assert [i.id for i in outbox.due(T0)] == [other_referral]
    with pytest.raises(ValueError):
        outbox.cancel_queued("everything")


def test_backoff_doubles_from_one_minute_up_to_an_hour() -> None:
    assert [backoff(n) for n in range(1, 9)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)
    ]
    assert backoff(10_000) == timedelta(hours=1)


# -- delivery through a real SMTP server ---------------------------------------------------


@pytest.mark.servers
def test_delivers_everything_due_over_one_connection(
    outbox: Outbox, referral: int, relay: SmtpServer
) -> None:
    queued = [put(outbox, referral, f"p{n}@x.example")[1] for n in range(20)]
    later, _ = put(outbox, referral, "later@x.example", not_before=T0 + timedelta(hours=1))
    clock = Clock()
    with transport_for(relay) as smtp:
        report = outbox.deliver(smtp, mail_from=TRACKER, now=clock)
        assert smtp.connections_opened == 1
    assert (report.sent, report.deferred, report.failed, report.outage) == (20, 0, 0, None)
    assert report.attempted == 20 and report.summary() == "Sent 20 messages."
    assert received_ids(relay) == queued
    assert {m.mail_from for m in relay.messages} == {TRACKER}
    assert [m.rcpt_tos for m in relay.messages] == [(f"p{n}@x.example",) for n in range(20)]
    assert outbox.counts() == {"sent": 20, "queued": 1}
    sent = outbox.by_message_id(queued[0])
    assert sent is not None and sent.sent_at == T0 and sent.attempts == 1
    assert [i.id for i in outbox.due(T0 + timedelta(hours=1))] == [later]


@pytest.mark.servers
def test_outage_with_451_loses_nothing_and_logs_once(
    outbox: Outbox, referral: int, relay: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="refmail")
    ids = [put(outbox, referral, f"p{n}@x.example")[1] for n in range(5)]
    clock = Clock()
    smtp = transport_for(relay)

    relay.refuse(451, stage="rcpt")
    report = outbox.deliver(smtp, mail_from=TRACKER, now=clock)
    # The run stops at the first refusal: the other four are not tried now.
    assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
    assert report.outage is not None and "451" in report.outage
    assert report.summary().startswith("Sent 0 messages, 1 deferred. Sending paused")
    first = outbox.by_message_id(ids[0])
    assert first is not None and first.status == "queued" and first.attempts == 1
    assert first.next_attempt_at == T0 + timedelta(minutes=1)
    assert first.last_error is not None and "451" in first.last_error
    assert [outbox.by_message_id(m).attempts for m in ids[1:]] == [0, 0, 0, 0]  # type: ignore[union-attr]

    clock.advance(minutes=1)
    relay.refuse(451, stage="data")
    # Longest-waiting first: the four untried items, then the first one again.
    for _ in range(5):
        assert outbox.deliver(smtp, mail_from=TRACKER, now=clock).deferred == 1
    items = [outbox.by_message_id(m) for m in ids]
    assert [i.attempts for i in items] == [2, 1, 1, 1, 1]  # type: ignore[union-attr]
    assert items[0].next_attempt_at == clock.now + timedelta(minutes=2)  # type: ignore[union-attr]
    assert items[1].next_attempt_at == clock.now + timedelta(minutes=1)  # type: ignore[union-attr]
    assert relay.messages == []
    assert outbox.counts() == {"queued": 5}

    relay.accept()
    clock.advance(hours=1)
    report = outbox.deliver(smtp, mail_from=TRACKER, now=clock)
    assert (report.sent, report.deferred, report.outage) == (5, 0, None)
    assert Counter(received_ids(relay)) == Counter(ids)
    assert outbox.counts() == {"sent": 5}
    assert len(outbox_records(caplog, logging.WARNING)) == 1
    infos = [r.message for r in outbox_records(caplog, logging.INFO)]
    assert len([m for m in infos if "works again" in m]) == 1
    assert len(infos) == 2  # "works again" and the run's summary; nothing per failed attempt

    # A second outage is a new outage: one more WARNING.
    put(outbox, referral, "late@x.example", now=clock.now)
    relay.refuse(451, stage="rcpt")
    outbox.deliver(smtp, mail_from=TRACKER, now=clock)
    assert len(outbox_records(caplog, logging.WARNING)) == 2
    smtp.close()


@pytest.mark.servers
def test_unreachable_server_keeps_everything_queued(
    outbox: Outbox, referral: int, relay: SmtpServer
) -> None:
    for n in range(3):
        put(outbox, referral, f"p{n}@x.example")
    clock = Clock()
    with transport_for(None) as nobody:  # a port nobody listens on
        report = outbox.deliver(nobody, mail_from=TRACKER, now=clock)
    assert (report.sent, report.deferred) == (0, 1)
    assert report.outage is not None and "cannot connect" in report.outage
    assert outbox.counts() == {"queued": 3}

    # A server that goes away between runs: the same.
    clock.advance(minutes=5)
    smtp = transport_for(relay)
    assert outbox.deliver(smtp, mail_from=TRACKER, now=clock, limit=1).sent == 1
    relay.stop()
    report = outbox.deliver(smtp, mail_from=TRACKER, now=clock)
    assert (report.sent, report.deferred) == (0, 1)
    assert outbox.counts() == {"sent": 1, "queued": 2}
    smtp.close()


@pytest.mark.servers
def test_550_fails_that_item_only_and_reports_it_once(
    store: Store, outbox: Outbox, referral: int, relay: SmtpServer
) -> None:
    _, ok1 = put(outbox, referral, "a@x.example")
    _, gone = put(outbox, referral, "gone@x.example")
    _, ok2 = put(outbox, referral, "b@x.example")
    relay.refuse(550, recipients=["gone@x.example"])
    calls: list[tuple[OutboxItem, str]] = []

    def on_permanent(item: OutboxItem, error: str) -> None:
        assert store.db.conn.in_transaction  # same transaction as the status change
        store.add_event(referral, "delivery_failed", at=T0, detail={"to": item.recipient})
        calls.append((item, error))

    clock = Clock()
    with transport_for(relay) as smtp:
        report = outbox.deliver(smtp, mail_from=TRACKER, now=clock, on_permanent=on_permanent)
        assert (report.sent, report.failed, report.deferred) == (2, 1, 0)
        assert report.summary() == "Sent 2 messages, 1 refused for good."
        [(item, error)] = calls
        assert item.recipient == "gone@x.example" and item.status == "failed"
        assert "550" in error
        failed = outbox.by_message_id(gone)
        assert failed is not None and failed.status == "failed" and "550" in (failed.last_error or "")

        clock.advance(days=2)
        again = outbox.deliver(smtp, mail_from=TRACKER, now=clock, on_permanent=on_permanent)
    assert (again.sent, again.failed) == (0, 0)
    assert len(calls) == 1
    assert received_ids(relay) == [ok1, ok2]
    assert [e["kind"] for e in store.referral(referral)["events"]] == ["delivery_failed"]  # type: ignore[index]


@pytest.mark.servers
def test_relay_denied_fails_no_recipient(outbox: Outbox, referral: int, relay: SmtpServer) -> None:
    for n in range(3):
        put(outbox, referral, f"p{n}@x.example")
    relay.refuse(550, text="5.7.1 Relaying denied, authenticate first")
    calls: list[str] = []
    with transport_for(relay) as smtp:
        report = outbox.deliver(
            smtp, mail_from=TRACKER, now=Clock(), on_permanent=lambda item, error: calls.append(error)
        )
    assert (report.failed, report.deferred) == (0, 1) and calls == []
    assert outbox.counts() == {"queued": 3}


@pytest.mark.servers
def test_on_permanent_failing_leaves_the_item_queued(
    outbox: Outbox, referral: int, relay: SmtpServer
) -> None:
    _, gone = put(outbox, referral, "gone@x.example")
    relay.refuse(550, recipients=["gone@x.example"])

    def broken(item: OutboxItem, error: str) -> None:
        raise RuntimeError("planner bug")

    with transport_for(relay) as smtp, pytest.raises(RuntimeError):
        outbox.deliver(smtp, mail_from=TRACKER, now=Clock(), on_permanent=broken)
    item = outbox.by_message_id(gone)
    assert item is not None and item.status == "queued"


@pytest.mark.servers
def test_crash_between_250_and_mark_sent_resends_the_identical_message(
    store: Store, referral: int, relay: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(store)
    ids = [put(outbox, referral, f"p{n}@x.example")[1] for n in range(3)]
    crash_on = outbox.by_message_id(ids[1])
    assert crash_on is not None
    real_mark_sent = outbox.mark_sent

    def crashing_mark_sent(item_id: int, now: datetime) -> None:
        if item_id == crash_on.id:
            raise KeyboardInterrupt("power cut after the server said 250")
        real_mark_sent(item_id, now)

    monkeypatch.setattr(outbox, "mark_sent", crashing_mark_sent)
    with transport_for(relay) as smtp, pytest.raises(KeyboardInterrupt):
        outbox.deliver(smtp, mail_from=TRACKER, now=Clock())
    assert received_ids(relay) == ids[:2]
    assert [outbox.by_message_id(m).status for m in ids] == ["sent", "queued", "queued"]  # type: ignore[union-attr]

    # The daemon restarts: a new Outbox and a new connection.
    restarted = Outbox(store)
    with transport_for(relay) as smtp:
        report = restarted.deliver(smtp, mail_from=TRACKER, now=Clock(T0 + timedelta(seconds=30)))
    assert report.sent == 2
    assert Counter(received_ids(relay)) == {ids[0]: 1, ids[1]: 2, ids[2]: 1}
    resent = [m.raw for m in relay.messages if ids[1] in m.raw.decode()]
    assert len(resent) == 2 and resent[0] == resent[1]
    assert restarted.counts() == {"sent": 3}


@pytest.mark.servers
def test_stop_is_checked_between_messages(outbox: Outbox, referral: int, relay: SmtpServer) -> None:
    for n in range(4):
        put(outbox, referral, f"p{n}@x.example")
    sent_before_stop = 2
    with transport_for(relay) as smtp:
        report = outbox.deliver(
            smtp,
            mail_from=TRACKER,
            now=Clock(),
            stop=lambda: len(relay.messages) >= sent_before_stop,
        )
    assert report.stopped and report.sent == sent_before_stop
    assert outbox.counts() == {"sent": 2, "queued": 2}


@pytest.mark.servers
def test_configuration_error_defers_and_never_logs_the_password(
    outbox: Outbox,
    referral: int,
    relay: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "hunter2-very-secret"
    monkeypatch.setenv("REFMAIL_TEST_SMTP_PASSWORD", password)
    _, message_id = put(outbox, referral, "a@x.example")
    # Implicit TLS against a plain-text port, with a login configured.
    smtp = transport_for(
        relay, security="ssl", username="refs", password_env="REFMAIL_TEST_SMTP_PASSWORD"
    )
    clock = Clock()
    for _ in range(2):
        report = outbox.deliver(smtp, mail_from=TRACKER, now=clock)
        clock.advance(minutes=5)
        assert report.deferred == 1 and report.outage is not None and "TLS" in report.outage
    item = outbox.by_message_id(message_id)
    assert item is not None and item.status == "queued" and item.attempts == 2
    assert len(outbox_records(caplog, logging.ERROR)) == 1
    assert password not in caplog.text
    assert all(password not in (e or "") for e in [*report.errors, item.last_error])
    assert relay.messages == []
