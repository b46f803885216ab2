"""The test mail servers themselves: if these fail, no end-to-end result means anything."""

from __future__ import annotations

import smtplib
import socket
import ssl
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import pytest
from imapclient import IMAPClient
from mailservers import (
    Dovecot,
    DovecotUnavailable,
    MailEnv,
    SmtpServer,
    _pid_alive,
    dovecot_version,
)

pytestmark = pytest.mark.servers


def intro(n: int = 1, *, to: str = "carl@client.example") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Betty Baker <betty@bakery.example>"
    msg["To"] = to
    msg["Cc"] = "refs@group.example"
    msg["Subject"] = f"Betty, meet Carl ({n})"
    msg["Message-ID"] = f"<intro-{n}-{uuid.uuid4().hex}@bakery.example>"
    msg.set_content("Carl is the accountant I mentioned.\n")
    return msg


def headers(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=default_policy).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_smtp_delivery_is_visible_over_imap(mail_env: MailEnv) -> None:
    msg = intro()
    mail_env.send(msg, "betty@bakery.example", ["carl@client.example", "refs+abc@group.example"])

    # Delivery is synchronous: no waiting before reading over IMAP.
    with IMAPClient(mail_env.dovecot.host, mail_env.dovecot.port, ssl=False, timeout=10) as client:
        client.login("refs", "refs-secret")
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        assert len(uids) == 1
        raw = client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    stored = headers(raw)
    assert stored["Message-ID"] == msg["Message-ID"]
    assert stored["Delivered-To"] == "refs+abc@group.example"
    assert stored["Return-Path"] == "<betty@bakery.example>"

    [accepted] = mail_env.smtp.messages
    assert accepted.mail_from == "betty@bakery.example"
    assert accepted.rcpt_tos == ("carl@client.example", "refs+abc@group.example")
    assert accepted.message()["Message-ID"] == msg["Message-ID"]
    assert mail_env.smtp.sent_to("CARL@client.example") == [accepted]


def test_each_test_starts_with_an_empty_inbox(mail_env: MailEnv) -> None:
    assert mail_env.inbox() == {}
    assert mail_env.smtp.messages == []
    mail_env.send(intro(), "betty@bakery.example", ["refs@group.example"])
    assert len(mail_env.inbox()) == 1
    mail_env.dovecot.empty("refs")
    assert mail_env.inbox() == {}


def test_outside_address_is_readable_once_it_is_a_user(mail_env: MailEnv) -> None:
    carl = f"carl-{uuid.uuid4().hex[:8]}"
    mail_env.send(intro(1), "betty@bakery.example", [f"{carl}@client.example"])
    mail_env.dovecot.add_user(carl, "carl-pw")  # while the server runs
    mail_env.send(intro(2), "betty@bakery.example", [f"{carl}@client.example"])

    stored = mail_env.dovecot.messages(carl)
    assert [headers(raw)["Subject"] for raw in stored.values()] == ["Betty, meet Carl (2)"]
    assert len(mail_env.smtp.sent_to(f"{carl}@client.example")) == 2
    assert mail_env.inbox() == {}


def test_refuse_mode_answers_with_the_code_until_accept(mail_env: MailEnv) -> None:
    smtp = mail_env.smtp
    smtp.refuse(451)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail_env.send(intro(1), "betty@bakery.example", ["refs@group.example"])
    assert refused.value.recipients["refs@group.example"][0] == 451

    smtp.refuse(554, stage="data")
    with pytest.raises(smtplib.SMTPDataError) as data_error:
        mail_env.send(intro(2), "betty@bakery.example", ["refs@group.example"])
    assert data_error.value.smtp_code == 554

    smtp.refuse(550, recipients=["gone@client.example"])
    with smtplib.SMTP(smtp.host, smtp.port) as client:
        rejected = client.sendmail(
            "refs@group.example",
            ["gone@client.example", "refs@group.example"],
            intro(3).as_bytes(),
        )
    assert rejected["gone@client.example"][0] == 550

    smtp.accept()
    mail_env.send(intro(4), "betty@bakery.example", ["refs@group.example"])
    subjects = sorted(headers(raw)["Subject"] for raw in mail_env.inbox().values())
    assert subjects == ["Betty, meet Carl (3)", "Betty, meet Carl (4)"]
    assert [m.rcpt_tos for m in smtp.messages] == [("refs@group.example",)] * 2


def test_null_sender_bounce_is_delivered(mail_env: MailEnv) -> None:
    mail_env.send(b"Subject: Undeliverable\r\n\r\nfailed\r\n", "", ["refs+tok@group.example"])
    [accepted] = mail_env.smtp.messages
    assert accepted.mail_from == ""
    [raw] = mail_env.inbox().values()
    assert headers(raw)["Return-Path"] == "<>"


def test_smtp_auth_when_credentials_are_given(clean_dovecot: Dovecot) -> None:
    with SmtpServer(clean_dovecot, credentials={"refs": "smtp-secret"}) as smtp:
        with smtplib.SMTP(smtp.host, smtp.port) as client, pytest.raises(
            smtplib.SMTPSenderRefused
        ):
            client.sendmail("refs@group.example", ["carl@client.example"], b"Subject: x\r\n\r\n")
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.login("refs", "smtp-secret")
            client.sendmail("refs@group.example", ["carl@client.example"], b"Subject: y\r\n\r\n")
        [accepted] = smtp.messages
        assert accepted.login == "refs"


def test_restart_keeps_mail_port_and_uidvalidity(private_dovecot: Dovecot) -> None:
    private_dovecot.deliver("refs", intro(1).as_bytes())
    before = private_dovecot.messages("refs")
    uidvalidity = private_dovecot.uidvalidity("refs")
    port = private_dovecot.port

    private_dovecot.restart()

    assert private_dovecot.port == port
    assert private_dovecot.messages("refs") == before
    assert private_dovecot.uidvalidity("refs") == uidvalidity


def test_uidvalidity_change_really_changes_and_keeps_messages(private_dovecot: Dovecot) -> None:
    for n in (1, 2):
        private_dovecot.deliver("refs", intro(n).as_bytes())
    before = private_dovecot.messages("refs")

    old, new = private_dovecot.change_uidvalidity("refs")

    assert new != old
    # Asked independently of the helper's own check:
    with IMAPClient(private_dovecot.host, private_dovecot.port, ssl=False) as client:
        client.login("refs", "refs-secret")
        assert client.select_folder("INBOX")[b"UIDVALIDITY"] == new
    assert sorted(private_dovecot.messages("refs").values()) == sorted(before.values())


def test_stop_leaves_no_process_and_no_files() -> None:
    server = Dovecot(users={"refs": "refs-secret"})
    try:
        server.start()
        client = IMAPClient(server.host, server.port, ssl=False)
        client.login("refs", "refs-secret")  # forks an imap process
        server.deliver("refs", intro().as_bytes())  # and an lmtp process
        pids = server.processes()
        assert len(pids) > 3
        directory = server.dir
    finally:
        server.stop()

    assert [pid for pid in pids if _pid_alive(pid)] == []
    assert server.processes() == []
    assert not directory.exists()
    with pytest.raises(OSError), socket.create_connection((server.host, server.port), timeout=2):
        pass


def test_tls_server_presents_the_generated_certificate() -> None:
    with Dovecot(users={"refs": "refs-secret"}, tls=True) as server:
        assert server.cert_file is not None and server.tls_port is not None
        context = ssl.create_default_context(cafile=str(server.cert_file))
        with IMAPClient(server.host, server.tls_port, ssl_context=context, timeout=10) as client:
            client.login("refs", "refs-secret")
            assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_wrong_dovecot_version_is_refused_with_a_hint(tmp_path: Path) -> None:
    fake = tmp_path / "dovecot"
    fake.write_text("#!/bin/sh\necho '2.4.1 (fake)'\n")
    fake.chmod(0o755)
    with pytest.raises(DovecotUnavailable, match=r"2\.3\.x is required.*make test"):
        dovecot_version(str(fake))


def test_installed_dovecot_is_2_3() -> None:
    assert dovecot_version().startswith("2.3.")
