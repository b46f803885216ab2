"""What servers say, understood without their words: response codes, else the command that failed.

Servers differ: Dovecot answers a missing folder ``NO [NONEXISTENT] Mailbox
doesn't exist``, Cyrus ``NO Mailbox does not exist``, some servers send no
response code at all, and imaplib hands a refused login over as the repr of
bytes. tests/imapproxy.py in front of the real test Dovecot strips the codes
(or answers a command itself, or rewrites what the server announces), and
refmail must still tell a missing folder from a forbidden one, a wrong
password from a server that cannot check it right now, and show the
server's words as words. ``refmail check`` also warns of what works but not
as refmail would want: no permanent flags, headers rewritten on delivery,
an IDLE that does not tell.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from imapproxy import ImapProxy
from mailservers import Dovecot, SharedDovecot

from refmail.admin import imap_survey
from refmail.admin.checkup import check_imap
from refmail.admin.imap_survey import munged_words
from refmail.config import ImapSettings
from refmail.errors import MailboxError, MailboxUnavailable
from refmail.incoming.mailbox import Mailbox
from refmail.incoming.responses import failure_kind, response_code, server_words, without_code

PASSWORD_ENV = "REFMAIL_TEST_IMAP_PASSWORD"
PASSWORD = "refs-secret"


# -- the server's words, as text (pure) --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("b'[AUTHENTICATIONFAILED] Authentication failed.'", "[AUTHENTICATIONFAILED] Authentication failed."),
        ("login failed: b'Login failed: wrong user or password'", "Login failed: wrong user or password"),
        ("[b'[UNAVAILABLE] Temporary authentication failure. [host:2026-12-04]']",
         "[UNAVAILABLE] Temporary authentication failure. [host:2026-12-04]"),
        ("select failed: [NONEXISTENT] Mailbox doesn't exist: Foo",
         "[NONEXISTENT] Mailbox doesn't exist: Foo"),
        ("b'Anmeldung fehlgeschlagen f\\xc3\\xbcr refs'", "Anmeldung fehlgeschlagen für refs"),
        (b"NO \xff\xfe broken", "NO \ufffd\ufffd broken"),
        ("b'evil \\x1b[31mred\\x1b[0m\\r\\nInjected: yes'", "evil [31mred [0m Injected: yes"),
        ("b'unterminated", "b'unterminated"),
    ],
)
def test_server_words_are_text(raw: str | bytes, words: str) -> None:
    assert server_words(raw) == words


def test_server_words_are_capped() -> None:
    text = server_words("b'" + "x" * 5000 + "'")
    assert len(text) == 300 and text.endswith("…")


@pytest.mark.parametrize(
    ("command", "words", "kind"),
    [
        ("login", "[AUTHENTICATIONFAILED] Authentication failed.", "login"),
        ("login", "Login failed.", "login"),  # no code: the command decides
        ("login", "[UNAVAILABLE] Temporary authentication failure.", "unavailable"),
        ("login", "[CONTACTADMIN] Account locked.", "login"),
        ("login", "[ALERT] Your password has expired.", "login"),  # a code with no meaning for this
        ("select", "[NONEXISTENT] Mailbox doesn't exist: Foo", "folder"),
        ("select", "Mailbox does not exist", "folder"),
        ("select", "[NOPERM] Permission denied", "folder"),
        ("select", "[INUSE] Mailbox is locked", "unavailable"),
        ("fetch", "[EXPUNGEISSUED] Some messages were expunged", "unavailable"),
        ("fetch", "[NONEXISTENT] Mailbox was deleted", "folder"),
        ("store", "[NOPERM] Permission denied", "refused"),
        ("search", "Internal error occurred", "refused"),
        ("fetch", "[SERVERBUG] Internal error", "unavailable"),
    ],
)
def test_failures_are_decided_on_the_code_else_the_command(command: Any, words: str, kind: str) -> None:
    assert failure_kind(command, response_code(words)) == kind


def test_codes_and_text_apart() -> None:
    assert response_code("[NONEXISTENT] Mailbox doesn't exist") == "NONEXISTENT"
    assert response_code("[PERMANENTFLAGS (\\Seen)] Flags") == "PERMANENTFLAGS"
    assert response_code("Mailbox [NONEXISTENT] in the middle") is None
    assert without_code("[NONEXISTENT] Mailbox doesn't exist") == "Mailbox doesn't exist"
    assert without_code("[UNAVAILABLE]") == "[UNAVAILABLE]"


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("From: JXXrgen MXXller <jm@example.de>\r\n", ["JXXrgen", "MXXller"]),
        ("Subject: Kaffee mit FranXXois?\r\n", ["FranXXois?"]),
        ("Subject: =?utf-8?q?J=C3=BCrgen?=\r\n", []),  # encoded words are ASCII: never munged
        ("Subject: XXL shirts, Exxon, TAXX, XXX\r\n", []),
        ("Received: from mXXller.example\r\n", []),  # only the fields people read
        ("To: Carl <carl@x.example>,\r\n MXXller <m@x.example>\r\n", ["MXXller"]),
    ],
)
def test_munged_words(header: str, words: list[str]) -> None:
    assert munged_words(header) == words


# -- through the proxy ---------------------------------------------------------------------



@pytest.fixture
def proxy(clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapProxy]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with ImapProxy(clean_dovecot.host, clean_dovecot.port) as server:
        yield server


def settings(server: Any, **more: Any) -> ImapSettings:
    values: dict[str, Any] = {"host": server.host, "port": server.port, "security": "none",
                              "username": "refs", "password_env": PASSWORD_ENV, "timeout": "10s"}
    values.update(more)
    return ImapSettings(**values)


def intro(n: int, sender: str = "Betty Baker <betty@bakery.example>") -> bytes:
    return (f"From: {sender}\r\nTo: carl@client.example\r\nSubject: intro {n}\r\n"
            f"Message-ID: <e{n}@bakery.example>\r\n\r\nBetty, meet Carl.\r\n").encode()


@pytest.mark.servers
def test_a_missing_folder_without_a_code_is_still_a_missing_folder(proxy: ImapProxy) -> None:
    proxy.strip_codes = True
    with Mailbox(settings(proxy, folder="Referrals")) as box, pytest.raises(MailboxError) as error:
        list(box.fetch_new(None))
    assert str(error.value) == "no folder 'Referrals' on the server"
    assert error.value.kind == "folder"
    result = check_imap(settings(proxy, folder="Referrals"))
    assert result.text == "no folder 'Referrals' on the server"
    assert result.hints == ("folders there: INBOX; set [imap] folder to one of them",)


@pytest.mark.servers
def test_a_folder_the_account_may_not_open_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with SharedDovecot(users={"refs": PASSWORD}) as dovecot, ImapProxy(dovecot.host, dovecot.port) as proxy:
        folder = dovecot.add_public_folder("secret", {"refs": "l"})  # may see it, not read it
        for strip in (False, True):
            proxy.strip_codes = strip
            with Mailbox(settings(proxy, folder=folder)) as box, pytest.raises(MailboxError) as error:
                box.select()
            assert str(error.value).startswith("cannot open folder 'Public.secret': "), error.value
            assert error.value.kind == "folder" and "b'" not in str(error.value)
            result = check_imap(settings(proxy, folder=folder))
            assert result.problem == "folder" and "the IMAP rights" in result.hints[0], result


@pytest.mark.servers
def test_a_refused_login_shows_the_servers_words_not_python_bytes(
    proxy: ImapProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password")
    for strip in (False, True):
        proxy.strip_codes = strip
        with pytest.raises(MailboxError) as error:
            Mailbox(settings(proxy)).connect()
        assert not isinstance(error.value, MailboxUnavailable)
        assert str(error.value) == "login refused for user refs: Authentication failed."
        assert error.value.kind == "login"
        assert error.value.code == (None if strip else "AUTHENTICATIONFAILED")
        result = check_imap(settings(proxy))
        assert result.problem == "login" and "the server said: Authentication failed." in result.hints


@pytest.mark.servers
def test_unavailable_is_retried_and_never_called_a_wrong_password(proxy: ImapProxy) -> None:
    proxy.answers["LOGIN"] = "NO [UNAVAILABLE] Temporary authentication failure."
    box = Mailbox(settings(proxy))
    with pytest.raises(MailboxUnavailable) as error:
        box.connect()
    assert str(error.value) == (f"{proxy.host}:{proxy.port} cannot check logins right now: "
                                "Temporary authentication failure.")
    assert error.value.code == "UNAVAILABLE"
    proxy.answers.clear()
    box.connect()
    box.close()
    # The same for a folder the server cannot open just now.
    proxy.answers["SELECT"] = "NO [INUSE] Mailbox is locked by another process"
    locked = "for now: Mailbox is locked"
    with Mailbox(settings(proxy)) as box, pytest.raises(MailboxUnavailable, match=locked):
        box.select()


@pytest.mark.servers
def test_a_folder_that_keeps_no_flag_is_said_once_and_warned_of_by_check(
    proxy: ImapProxy, clean_dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.rewrites.append((rb"\[PERMANENTFLAGS \([^)]*\)\]", rb"[PERMANENTFLAGS (\\Seen)]"))
    for n in (1, 2, 3):
        clean_dovecot.deliver("refs", intro(n))
    with caplog.at_level(logging.INFO, logger="refmail.incoming"), Mailbox(settings(proxy)) as box:
        items = list(box.fetch_new(None))
        assert [box.flag(i.uid, uidvalidity=i.uidvalidity) for i in items] == [None, None, None]
    said = [r for r in caplog.records if "keeps no flag" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    result = check_imap(settings(proxy))
    assert result.ok
    assert any("PERMANENTFLAGS: \\Seen" in w for w in result.warnings), result.warnings
    assert not check_imap(settings(clean_dovecot)).warnings  # Dovecot itself keeps keywords


@pytest.mark.servers
def test_check_warns_of_headers_the_server_rewrote(
    clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    clean_dovecot.deliver("refs", intro(1))
    assert not check_imap(settings(clean_dovecot)).warnings
    # What Cyrus's munge8bit makes of "Jürgen Müller" sent as UTF-8 without encoding.
    clean_dovecot.deliver("refs", intro(2, sender="JXXrgen MXXller <jm@example.de>"))
    [warning] = check_imap(settings(clean_dovecot)).warnings
    assert "1 of the last 2 messages" in warning and "'JXXrgen'" in warning and "munge8bit" in warning


@pytest.mark.servers
def test_one_uidvalidity_change_is_one_log_line(
    private_dovecot: Dovecot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    private_dovecot.deliver("refs", intro(1))
    box = Mailbox(settings(private_dovecot))
    with box:
        [first] = box.fetch_new(None)
    private_dovecot.change_uidvalidity("refs")
    with caplog.at_level(logging.WARNING, logger="refmail.incoming"):
        for _ in range(3):  # three cycles that have not stored a new position yet
            with box:
                assert len(list(box.fetch_new(first.position))) == 1
    assert sum("UIDVALIDITY" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.servers
def test_check_times_idle_with_a_test_message_it_removes(
    proxy: ImapProxy, clean_dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap_survey, "IDLE_TEST_SECONDS", 2.0)  # Dovecot tells in 0.5 s; 5 s in production
    clean_dovecot.deliver("refs", intro(1))
    result = check_imap(settings(clean_dovecot), test_idle=True)
    assert result.ok and "IDLE (told of a test message in " in result.text, result.line()
    assert result.warnings == ()
    assert len(clean_dovecot.messages("refs")) == 1  # the test message is gone again
    # Behind a server whose IDLE never tells:
    proxy.swallow_idle_exists = True
    silent = check_imap(settings(proxy), test_idle=True)
    assert silent.ok and "IDLE (silent)" in silent.text, silent.line()
    assert any("did not tell of a test message within 2s" in w for w in silent.warnings)
    assert len(clean_dovecot.messages("refs")) == 1
    # Without the option nothing is added, and nothing is claimed.
    assert check_imap(settings(proxy)).text.endswith("1 message, IDLE")


@pytest.mark.servers
def test_check_does_not_test_idle_where_it_cannot_clean_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with SharedDovecot(users={"refs": PASSWORD, "admin": "a"}) as dovecot:
        folder = dovecot.add_public_folder("referrals", {"refs": "lr", "admin": "lrwstipekxa"})
        result = check_imap(settings(dovecot, folder=folder), test_idle=True)
    assert result.ok
    assert "IDLE (not tested: the folder is read-only, so no test message can be added)" in result.text
