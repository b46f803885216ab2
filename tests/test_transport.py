"""refmail.outgoing.transport against a real SMTP server (aiosmtpd): reuse, faults, TLS, AUTH."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from mailservers import MailEnv, SmtpServer, free_port

from refmail.config import SmtpSettings
from refmail.errors import TransportError
from refmail.outgoing.transport import PermanentFailure, SmtpTransport, TemporaryFailure

pytestmark = pytest.mark.servers

TRACKER = "refs@group.example"
PASSWORD_ENV = "REFMAIL_TEST_SMTP_PASSWORD"
PASSWORD = "Sw0rdf1sh-do-not-leak"


def settings_for(server: SmtpServer, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": "",
        "timeout": "10s",
    }
    values.update(overrides)
    return SmtpSettings(**values)


def message(n: int, to: str = "carl@client.example") -> tuple[bytes, str]:
    message_id = f"<nudge-{n}-{uuid.uuid4().hex}@group.example>"
    raw = (
        f"From: Harbor refmail <{TRACKER}>\r\nTo: {to}\r\nSubject: How did it go? ({n})\r\n"
        f"Message-ID: {message_id}\r\nAuto-Submitted: auto-generated\r\n\r\nHello {n}.\r\n"
    ).encode()
    return raw, message_id


@pytest.fixture
def relay() -> Iterator[SmtpServer]:
    """An SMTP server that only records (no Dovecot behind it)."""
    with SmtpServer() as server:
        yield server


def test_twenty_messages_share_one_connection(relay: SmtpServer) -> None:
    sent = []
    with SmtpTransport(settings_for(relay)) as smtp:
        for n in range(20):
            raw, message_id = message(n)
            smtp.send(raw, mail_from=TRACKER, rcpt_tos=["carl@client.example"])
            sent.append(message_id)
        assert smtp.connections_opened == 1
    received = relay.messages
    assert [m.message()["Message-ID"] for m in received] == sent
    # RFC 5321 §4.5.5: bounces go to the envelope sender, i.e. back to refmail.
    assert {m.mail_from for m in received} == {TRACKER}
    assert {m.rcpt_tos for m in received} == {("carl@client.example",)}


def test_bytes_reach_the_mailbox_unchanged(mail_env: MailEnv) -> None:
    raw, message_id = message(1, to="refs+tok123@group.example")
    with SmtpTransport(mail_env.smtp_settings()) as smtp:
        smtp.send(raw, mail_from=TRACKER, rcpt_tos=["refs+tok123@group.example"])
    [stored] = mail_env.inbox().values()
    assert f"Message-ID: {message_id}".encode() in stored
    assert stored.endswith(raw.split(b"\r\n\r\n", 1)[1])
    assert mail_env.smtp.messages[0].raw == raw


def test_8bit_body_and_international_address(relay: SmtpServer) -> None:
    raw = (
        "From: refs@group.example\r\nTo: josé@client.example\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        "Message-ID: <utf8-1@group.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Grüße, José — wie lief es?\r\n"
    ).encode()
    with SmtpTransport(settings_for(relay)) as smtp:
        smtp.send(raw, mail_from=TRACKER, rcpt_tos=["josé@client.example"])
    [accepted] = relay.messages
    assert accepted.rcpt_tos == ("josé@client.example",)
    assert accepted.raw == raw


def test_reconnects_once_when_the_server_closed_the_connection(relay: SmtpServer) -> None:
    with SmtpTransport(settings_for(relay)) as smtp:
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        # The server ends the session (as an idle timeout would); the client
        # object still believes it is connected.
        assert smtp._conn is not None
        assert smtp._conn.docmd("QUIT")[0] == 221
        raw, message_id = message(2)
        smtp.send(raw, mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert smtp.connections_opened == 2
    assert [m.message()["Message-ID"] for m in relay.messages][-1] == message_id
    assert len(relay.messages) == 2


def test_stopped_server_is_a_temporary_failure(relay: SmtpServer) -> None:
    smtp = SmtpTransport(settings_for(relay))
    smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    relay.stop()
    with pytest.raises(TemporaryFailure) as caught:
        smtp.send(message(2)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    assert f"{relay.host}:{relay.port}" in str(caught.value)
    assert not smtp.connected
    smtp.close()


def test_nobody_listening_is_a_temporary_failure() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=timedelta(seconds=5))
    with SmtpTransport(settings) as smtp, pytest.raises(TemporaryFailure) as caught:
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    assert "cannot connect" in str(caught.value)
    assert smtp.connections_opened == 0


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_4xx_is_temporary_and_the_connection_stays_usable(relay: SmtpServer, stage: str) -> None:
    with SmtpTransport(settings_for(relay)) as smtp:
        relay.refuse(451, stage=stage)
        with pytest.raises(TemporaryFailure) as caught:
            smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert caught.value.code == 451
        relay.accept()
        smtp.send(message(2)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert smtp.connections_opened == 1
    assert len(relay.messages) == 1


def test_550_for_one_recipient_is_permanent_for_that_recipient_only(relay: SmtpServer) -> None:
    relay.refuse(550, recipients=["gone@x.example"])
    with SmtpTransport(settings_for(relay)) as smtp:
        with pytest.raises(PermanentFailure) as caught:
            smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["gone@x.example"])
        assert caught.value.code == 550
        assert "gone@x.example" in str(caught.value) and "550" in str(caught.value)
        assert smtp.send(message(2)[0], mail_from=TRACKER, rcpt_tos=["here@x.example"]) == {}
        # Several recipients, one refused: delivered to the others, the refusal reported.
        refused = smtp.send(
            message(3)[0], mail_from=TRACKER, rcpt_tos=["here@x.example", "gone@x.example"]
        )
        assert set(refused) == {"gone@x.example"} and refused["gone@x.example"][0] == 550
    assert [m.rcpt_tos for m in relay.messages] == [("here@x.example",), ("here@x.example",)]


def test_relay_denied_is_a_configuration_error_not_a_failed_recipient(relay: SmtpServer) -> None:
    relay.refuse(554, text="5.7.1 <carl@client.example>: Relay access denied")
    with SmtpTransport(settings_for(relay)) as smtp, pytest.raises(TransportError) as caught:
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["carl@client.example"])
    assert not isinstance(caught.value, (PermanentFailure, TemporaryFailure))
    assert "Relay access denied" in str(caught.value) and "[smtp]" in str(caught.value)


def test_554_at_data_is_permanent(relay: SmtpServer) -> None:
    relay.refuse(554, stage="data", text="5.7.1 message content rejected")
    with SmtpTransport(settings_for(relay)) as smtp, pytest.raises(PermanentFailure) as caught:
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    assert caught.value.code == 554 and "content rejected" in str(caught.value)


def test_plain_text_to_a_remote_host_is_refused_even_if_config_was_bypassed() -> None:
    settings = SmtpSettings.model_construct(
        host="mail.example.org", port=25, security="none", username="", password_env="",
        ca_file="", timeout=SmtpSettings().timeout,
    )
    with pytest.raises(TransportError, match="loopback"):
        SmtpTransport(settings)


def test_implicit_tls_against_a_plain_port_fails_clearly(relay: SmtpServer) -> None:
    with SmtpTransport(settings_for(relay, security="ssl")) as smtp, pytest.raises(TransportError) as caught:
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    assert not isinstance(caught.value, PermanentFailure)
    assert f"{relay.host}:{relay.port}" in str(caught.value)
    assert "TLS" in str(caught.value)
    assert relay.messages == []


def test_starttls_is_required_when_configured(relay: SmtpServer) -> None:
    settings = settings_for(relay, security="starttls")
    with SmtpTransport(settings) as smtp, pytest.raises(TransportError, match="does not offer STARTTLS"):
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
    assert relay.messages == []


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_self_signed_certificate_is_refused_unless_its_ca_is_configured(mode: str) -> None:
    with SmtpServer(tls=mode) as server:
        assert server.cert_file is not None
        with SmtpTransport(settings_for(server, security=mode)) as smtp:
            with pytest.raises(TransportError, match="certificate") as caught:
                smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
            assert "ca_file" in str(caught.value)
            assert not isinstance(caught.value, PermanentFailure)
        assert server.messages == []

        raw, message_id = message(2)
        with SmtpTransport(settings_for(server, security=mode, ca_file=str(server.cert_file))) as smtp:
            smtp.send(raw, mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert [m.message()["Message-ID"] for m in server.messages] == [message_id]


def test_login_and_wrong_password_never_leak_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(credentials={"refs": PASSWORD}) as server:
        settings = settings_for(server, username="refs", password_env=PASSWORD_ENV)

        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        with SmtpTransport(settings) as smtp:
            smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert [m.login for m in server.messages] == ["refs"]

        wrong = PASSWORD + "-typo"
        monkeypatch.setenv(PASSWORD_ENV, wrong)
        with SmtpTransport(settings) as smtp, pytest.raises(TransportError) as caught:
            smtp.send(message(2)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        text = str(caught.value)
        assert text.startswith(f"login refused for user refs on {server.host}:{server.port}")
        assert not isinstance(caught.value, (TemporaryFailure, PermanentFailure))

        # No AUTH configured against a server that requires it: the sender is refused.
        with SmtpTransport(settings_for(server)) as smtp, pytest.raises(TransportError) as no_auth:
            smtp.send(message(3)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
        assert "530" in str(no_auth.value)
        assert not isinstance(no_auth.value, PermanentFailure)
    assert len(server.messages) == 1
    for secret in (PASSWORD, wrong):
        assert secret not in text
        assert secret not in caplog.text
        assert secret not in repr(caught.value.__cause__) + repr(caught.value.__context__)


def test_missing_password_variable_is_a_clear_transport_error(
    relay: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    # aiosmtpd offers no AUTH here, but the variable is looked up first.
    settings = settings_for(relay, username="refs", password_env=PASSWORD_ENV)
    with SmtpTransport(settings) as smtp, pytest.raises(TransportError, match=PASSWORD_ENV):
        smtp.send(message(1)[0], mail_from=TRACKER, rcpt_tos=["a@x.example"])
