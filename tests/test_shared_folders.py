"""A shared folder the account may only read: tracked with EXAMINE, nothing written to it.

Groups often run their tracking address as a shared mailbox (Microsoft 365
shared mailboxes, Cyrus and Fastmail shared folders, Dovecot ACLs) that
refmail's account may only read: SELECT answers ``OK [READ-ONLY]``. refmail
took imaplib's read-only error for a lost connection and never read such a
folder. Here the real test Dovecot serves ``Public.referrals`` with the RFC
4314 rights ``lr`` for refmail's user (tests/mailservers.py: SharedDovecot);
mail arrives in it by APPEND from a user who may write there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from chaos_harness import PASSWORD_ENV, TRACKER, ChaosSettings, config_text, intro_message
from mailservers import SharedDovecot, SmtpServer

from refmail.admin.checkup import check_imap
from refmail.config import ImapSettings, load_config
from refmail.daemon import Daemon
from refmail.incoming.mailbox import Mailbox, Retry
from refmail.storage.store import Store

pytestmark = pytest.mark.servers

PASSWORD = "refs-secret"
LATER = ChaosSettings(thank_you_after=30 * 86400, feedback_after=60 * 86400)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SharedDovecot, str]]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with SharedDovecot(users={"refs": PASSWORD, "admin": "admin-secret"}) as dovecot:
        folder = dovecot.add_public_folder("referrals", {"refs": "lr", "admin": "lrwstipekxa"})
        yield dovecot, folder


def settings(dovecot: SharedDovecot, folder: str, **more: object) -> ImapSettings:
    return ImapSettings(host=dovecot.host, port=dovecot.port, security="none", username="refs",
                        password_env=PASSWORD_ENV, folder=folder, timeout="10s", **more)


def flags_of(dovecot: SharedDovecot, folder: str) -> dict[int, tuple[bytes, ...]]:
    """Each message's flags as stored (``\\Recent`` is only this session's, RFC 3501 §2.3.2)."""
    with dovecot.imap("admin", folder) as client:
        found = client.get_flags(client.search("ALL"))
    return {uid: tuple(f for f in flags if f != b"\\Recent") for uid, flags in found.items()}


def test_the_account_really_may_only_read_the_folder(shared: tuple[SharedDovecot, str]) -> None:
    """The fixture is what it claims: SELECT says READ-ONLY, writing is refused."""
    import imapclient

    dovecot, folder = shared
    uid = dovecot.append("admin", folder, intro_message(0).as_bytes())
    with dovecot.imap("refs", folder=None) as client:
        with pytest.raises(imapclient.exceptions.IMAPClientReadOnlyError):
            client.select_folder(folder)
        client.select_folder(folder, readonly=True)
        with pytest.raises(imapclient.exceptions.IMAPClientError):
            client.append(folder, b"Subject: x\r\n\r\ny\r\n")
    assert uid == 1


def test_a_read_only_folder_is_read_with_examine_and_never_flagged(
    shared: tuple[SharedDovecot, str], caplog: pytest.LogCaptureFixture
) -> None:
    dovecot, folder = shared
    for n in range(3):
        dovecot.append("admin", folder, intro_message(n).as_bytes())
    before = flags_of(dovecot, folder)
    box = Mailbox(settings(dovecot, folder, batch_size=2))
    with caplog.at_level(logging.DEBUG, logger="refmail.incoming.mailbox"):
        with box:
            items = list(box.fetch_new(None))
            assert [i.uid for i in items] == [1, 2, 3]
            assert box.read_only
            assert box.flag(items[0].uid, uidvalidity=items[0].uidvalidity) is None
        # Another connection, the same folder: still read, still said once.
        dovecot.append("admin", folder, intro_message(3).as_bytes())
        with box:
            assert [i.uid for i in box.fetch_new(items[-1].position)] == [4]
    said = [r for r in caplog.records if r.levelno >= logging.INFO and "read-only" in r.getMessage()]
    assert len(said) == 1 and "EXAMINE" in said[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    after = flags_of(dovecot, folder)
    assert {uid: after[uid] for uid in before} == before  # no \Seen, no keyword: nothing written


def test_the_daemon_tracks_a_read_only_shared_folder(
    shared: tuple[SharedDovecot, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dovecot, folder = shared
    with SmtpServer(dovecot) as smtp:
        text = config_text(LATER, SimpleNamespace(host=dovecot.host, port=dovecot.port), smtp)  # type: ignore[arg-type]
        text = text.replace("[imap]\n", f'[imap]\nfolder = "{folder}"\nmax_message_size = "20KB"\n', 1)
        path = tmp_path / "refmail.toml"
        path.write_text(text)
        config = load_config(path)
        store = Store.open(config.database_path())
        daemon = Daemon(config, store, clock=lambda: datetime.now(UTC),
                        retry=Retry(attempts=2, within=5, first_delay=0.1, max_delay=0.2))
        try:
            for n in range(2):
                dovecot.append("admin", folder, intro_message(n).as_bytes())
            # One the daemon cannot process: over max_message_size, recorded, not flagged.
            big = intro_message(2)
            big.set_content("x" * 40_000)
            dovecot.append("admin", folder, big.as_bytes())
            with caplog.at_level(logging.INFO, logger="refmail"):
                report = daemon.cycle()
                assert report.outcomes["too_large"] == 1 and report.processed == 3, report.summary()
                dovecot.append("admin", folder, intro_message(3).as_bytes())
                daemon.mailbox.close()  # a new connection: SELECT, READ-ONLY, EXAMINE again
                second = daemon.cycle()
            assert second.processed == 1, second.summary()
            assert store.count_referrals() == 3
            assert store.position(folder) == (dovecot.uidvalidity("admin", folder), 4)
            acks = [m for m in smtp.messages if m.mail_from == TRACKER]
            assert len(acks) == 3
        finally:
            daemon.mailbox.close()
            store.close()
    assert all(flags == () for flags in flags_of(dovecot, folder).values())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "not flag" in r.getMessage()]
    assert warnings == []
    assert sum("read-only" in r.getMessage() for r in caplog.records) == 1


def test_check_says_the_folder_is_read_only_in_its_line(shared: tuple[SharedDovecot, str]) -> None:
    dovecot, folder = shared
    dovecot.append("admin", folder, intro_message(0).as_bytes())
    result = check_imap(settings(dovecot, folder))
    assert result.ok, result.line()
    expected = "folder Public.referrals (read-only: read with EXAMINE, nothing is flagged), 1 message"
    assert expected in result.line()
    assert result.hints == ()
