"""Capture end to end: mail sent over real SMTP, read by refmail over real IMAP.

A member's mail client sends to the aiosmtpd server, which delivers into
Dovecot through LMTP; refmail's daemon reads the tracking INBOX and the
assertions look at the referral database and the server's flags.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from demo_expectations import DEMO_EXPECTED
from mailservers import Dovecot, MailEnv

from refmail.config import Config, load_config
from refmail.daemon import Daemon
from refmail.demo.runner import DEMO_NOW, demo_messages
from refmail.incoming.mailbox import FAILED_KEYWORD, Retry
from refmail.reading.classification import Classification
from refmail.reading.classifier import classify
from refmail.storage.store import Store
from refmail.workflow.tracker import Tracker

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
DEMO_GROUP = ROOT / "refmail" / "demo" / "data" / "group.toml"
REFMAIL = str(Path(sys.executable).parent / "refmail")
TRACKER = "refs@harbornet.example"



def write_config(tmp_path: Path, env: MailEnv, dovecot: Dovecot | None = None, **imap: Any) -> Path:
    """The demo group's config, reading the test Dovecot, database in tmp_path."""
    server = dovecot or env.dovecot
    settings = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": env.user,
        "password_env": env.password_env,
        "timeout": "10s",
        **imap,
    }
    lines = [DEMO_GROUP.read_text(encoding="utf-8"), "", "[imap]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["", "[storage]", 'database = "refmail.db"', ""]
    if "[timing]" not in lines[0]:
        lines += ["[timing]"]
    text = "\n".join(lines).replace("[timing]", '[timing]\npoll_interval = "1s"', 1)
    path = tmp_path / "refmail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def deliver_like_a_client(env: MailEnv, raw: bytes) -> None:
    """Send raw mail to the tracker as its author's client would (envelope from From)."""
    msg = email.message_from_bytes(raw)
    sender = getaddresses([msg.get("From", "")])[0][1] or "someone@outside.example"
    env.send(raw, sender, [TRACKER])


def make_daemon(config: Config, store: Store, **kwargs: Any) -> Daemon:
    return Daemon(config, store, send=False, clock=lambda: DEMO_NOW,
                  retry=Retry(attempts=8, within=30, first_delay=0.2, max_delay=1.0), **kwargs)


def intro(n: int, *, referrer: str = "mei@chencpa.example") -> bytes:
    return (
        f"From: Mei Chen <{referrer}>\r\n"
        f"To: Tom Becker <tom.becker@beckerroofing.example>, Client {n} <client{n}@town.example>\r\n"
        f"Cc: Harbor Referrals <{TRACKER}>\r\n"
        f"Subject: Intro {n}: Client {n} <> Tom (roofing)\r\n"
        f"Date: Mon, 16 Nov 2026 09:0{n % 10}:00 -0600\r\n"
        f"Message-ID: <intro-{n}@mail.chencpa.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Tom, meet Client {n}. Client {n} is looking for a roofer before winter.\r\n"
        f"Client {n}, Tom is the roofer I told you about.\r\n\r\nMei\r\n"
    ).encode()


# -- the whole demo inbox through the real servers ---------------------------------


def test_demo_inbox_through_dovecot_yields_exactly_the_right_referrals(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    messages = demo_messages()
    assert [name[:2] for name, _ in messages] == list(DEMO_EXPECTED)
    for _name, raw in messages:
        deliver_like_a_client(mail_env, raw)
    config = load_config(write_config(tmp_path, mail_env))
    store = Store.open(config.database_path())
    seen: list[Classification | None] = []
    tracker = Tracker(config, store)
    original = tracker.process

    def spy(raw: bytes, **kwargs: Any) -> Any:
        outcome = original(raw, **kwargs)
        seen.append(outcome.classification)
        outcomes.append(outcome.outcome)
        return outcome

    outcomes: list[str] = []
    tracker.process = spy  # type: ignore[method-assign]
    report = make_daemon(config, store, tracker=tracker).cycle()
    assert report.processed == len(messages)
    for (name, _raw), outcome, verdict in zip(messages, outcomes, seen, strict=True):
        want_outcome, referrer, provider, prospects = DEMO_EXPECTED[name[:2]]
        assert outcome == want_outcome, name
        if want_outcome == "created":
            assert verdict is not None
            assert (verdict.referrer, verdict.provider, verdict.prospects) == (
                referrer, provider, prospects), name
    rows = list(store.iter_referrals())
    assert len(rows) == 9
    by_subject = {r["subject"][:40]: r for r in rows}
    assert sum(r["silent"] for r in rows) == 1  # the June intro, before the backfill window
    linda = next(r for r in rows if "linda@parkfamilybakery.example" in r["prospects"])
    assert linda["status"] == "contacted"
    assert [e["kind"] for e in linda["events"]] == ["introduced", "first_contact", "status"]
    assert by_subject  # subjects decoded
    # Everything is recorded once; a second cycle finds nothing new.
    assert make_daemon(config, store).cycle().processed == 0
    assert store.position("INBOX") is not None
    store.close()


# -- duplicates --------------------------------------------------------------------


def test_the_same_intro_seen_twice_is_one_referral(mail_env: MailEnv, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, mail_env))
    store = Store.open(config.database_path())
    raw = intro(1)
    deliver_like_a_client(mail_env, raw)
    deliver_like_a_client(mail_env, raw)  # delivered twice: same Message-ID
    # ... and forwarded again by the referrer "in case", under a new Message-ID.
    forward = (
        b"From: Mei Chen <mei@chencpa.example>\r\nTo: " + TRACKER.encode() + b"\r\n"
        b"Subject: Fwd: Intro 1: Client 1 <> Tom (roofing)\r\n"
        b"Date: Mon, 16 Nov 2026 10:00:00 -0600\r\nMessage-ID: <fwd-1@mail.chencpa.example>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nForgot to copy you.\r\n\r\n"
        b"---------- Forwarded message ---------\r\nFrom: Mei Chen <mei@chencpa.example>\r\n"
        b"Date: Mon, Nov 16, 2026 at 9:01 AM\r\nSubject: Intro 1: Client 1 <> Tom (roofing)\r\n"
        b"To: Tom Becker <tom.becker@beckerroofing.example>, Client 1 <client1@town.example>\r\n\r\n"
        b"Tom, meet Client 1. Client 1 is looking for a roofer before winter.\r\n"
    )
    deliver_like_a_client(mail_env, forward)
    report = make_daemon(config, store).cycle()
    assert report.outcomes == {"created": 1, "seen": 1, "duplicate_intro": 1}
    assert store.count_referrals() == 1
    store.close()


def test_uidvalidity_reset_creates_no_duplicates(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path
) -> None:
    for n in range(3):
        private_dovecot.deliver("refs", intro(n))
    config = load_config(write_config(tmp_path, mail_env, private_dovecot))
    store = Store.open(config.database_path())
    assert make_daemon(config, store).cycle().outcomes == {"created": 3}
    _old, new = private_dovecot.change_uidvalidity("refs")
    private_dovecot.deliver("refs", intro(3))
    report = make_daemon(config, store).cycle()
    assert report.outcomes == {"seen": 3, "created": 1}
    assert store.count_referrals() == 4
    assert store.position("INBOX") == (new, 4)
    store.close()


# -- faults ------------------------------------------------------------------------


def test_server_restart_in_the_middle_of_a_fetch_loses_nothing(
    mail_env: MailEnv, private_dovecot: Dovecot, tmp_path: Path
) -> None:
    for n in range(6):
        private_dovecot.deliver("refs", intro(n))
    config = load_config(write_config(tmp_path, mail_env, private_dovecot, batch_size=2))
    store = Store.open(config.database_path())
    tracker = Tracker(config, store)
    original = tracker.process
    restarted: list[int] = []

    def restart_after_second(raw: bytes, **kwargs: Any) -> Any:
        outcome = original(raw, **kwargs)
        if store.count_referrals() == 2 and not restarted:
            private_dovecot.restart()  # drops refmail's connection mid-fetch
            restarted.append(1)
        return outcome

    tracker.process = restart_after_second  # type: ignore[method-assign]
    report = make_daemon(config, store, tracker=tracker).cycle()
    assert restarted
    assert report.outcomes == {"created": 6}
    assert store.count_referrals() == 6
    store.close()


def test_a_message_that_crashes_parsing_is_recorded_flagged_and_skipped(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    for n in range(3):
        deliver_like_a_client(mail_env, intro(n))
    config = load_config(write_config(tmp_path, mail_env))
    store = Store.open(config.database_path())

    def fragile(raw: bytes, cfg: Config) -> Classification:
        if b"Intro 1:" in raw:
            raise UnicodeError("a decoder bug on this message")
        return classify(raw, cfg)

    daemon = make_daemon(config, store, tracker=Tracker(config, store, classify=fragile))
    report = daemon.cycle()
    assert report.outcomes == {"created": 2, "failed": 1}
    failed = store.messages("failed")
    assert len(failed) == 1
    assert "UnicodeError" in failed[0]["reason"]
    with mail_env.dovecot.imap("refs") as client:
        flags = client.get_flags([failed[0]["uid"]])[failed[0]["uid"]]
    assert FAILED_KEYWORD.encode() in flags
    # Never retried, never blocking: the next cycle has nothing to do.
    assert make_daemon(config, store).cycle().processed == 0
    store.close()


def test_oversize_message_is_recorded_without_download(mail_env: MailEnv, tmp_path: Path) -> None:
    big = intro(1).replace(b"Mei\r\n", b"Mei\r\n" + b"lorem ipsum dolor sit amet\r\n" * 200)
    deliver_like_a_client(mail_env, big)
    deliver_like_a_client(mail_env, intro(2))
    config = load_config(write_config(tmp_path, mail_env, max_message_size="4KB"))
    store = Store.open(config.database_path())
    report = make_daemon(config, store).cycle()
    assert report.outcomes == {"too_large": 1, "created": 1}
    assert "over max_message_size" in store.messages("too_large")[0]["reason"]
    store.close()


# -- the command line ----------------------------------------------------------------


def run_cli(
    args: list[str], env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REFMAIL, *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})}, **kwargs,
    )


def test_cli_run_once_then_referrals_json(mail_env: MailEnv, tmp_path: Path) -> None:
    deliver_like_a_client(mail_env, intro(1))
    cfg = str(write_config(tmp_path, mail_env))
    done = run_cli(["--config", cfg, "run", "--once", "--no-send"])
    assert done.returncode == 0, done.stderr
    assert "Processed 1 message: 1 created." in done.stdout
    listed = run_cli(["--config", cfg, "referrals", "--json"])
    rows = json.loads(listed.stdout)
    assert [(r["referrer"], r["provider"], r["prospects"], r["status"]) for r in rows] == [
        ("mei@chencpa.example", "tom.becker@beckerroofing.example", ["client1@town.example"],
         "introduced")
    ]
    assert rows[0]["events"][0]["kind"] == "introduced"
    table = run_cli(["--config", cfg, "referrals"], env={"COLUMNS": "200"})
    assert "R-1" in table.stdout and "Tom Becker" in table.stdout


def test_cli_server_down_is_one_clear_line(mail_env: MailEnv, tmp_path: Path) -> None:
    from mailservers import free_port

    cfg = str(write_config(tmp_path, mail_env, port=free_port()))
    done = run_cli(["--config", cfg, "run", "--once"])
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ")
    assert "connection refused" in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert mail_env.password not in done.stderr


def test_cli_wrong_password_never_shows_it(mail_env: MailEnv, tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path, mail_env))
    done = run_cli(["--config", cfg, "run", "--once"], env={mail_env.password_env: "wrong-pw-42"})
    assert done.returncode == 1
    assert "login" in done.stderr.lower()
    assert "wrong-pw-42" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_daemon_tracks_new_mail_and_stops_cleanly_on_sigterm(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, mail_env)
    daemon = subprocess.Popen(
        [REFMAIL, "--config", str(cfg), "run", "--no-send"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        db = tmp_path / "refmail.db"

        def referrals() -> int:
            if not db.exists():
                return 0
            store = Store.open(db)
            try:
                return store.count_referrals()
            finally:
                store.close()

        assert wait_for(lambda: db.exists())
        deliver_like_a_client(mail_env, intro(1))
        assert wait_for(lambda: referrals() == 1), "the running daemon did not pick up the intro"
        deliver_like_a_client(mail_env, intro(2))
        assert wait_for(lambda: referrals() == 2)
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    assert "refmail stopped" in err


def test_import_tracks_files_silently_and_only_once(tmp_path: Path) -> None:
    """`refmail import` on .eml files, an mbox and a Maildir (no server needed)."""
    import mailbox

    messages = demo_messages()
    eml_dir = tmp_path / "emls"
    eml_dir.mkdir()
    for name, raw in messages[:5]:
        (eml_dir / name).write_bytes(raw)
    mbox = mailbox.mbox(tmp_path / "archive.mbox")
    for _name, raw in messages[5:10]:
        mbox.add(raw)
    mbox.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for _name, raw in messages[10:]:
        maildir.add(raw)
    maildir.close()
    cfg = tmp_path / "refmail.toml"
    cfg.write_text(DEMO_GROUP.read_text() + '\n[storage]\ndatabase = "imported.db"\n')
    paths = [str(eml_dir), str(tmp_path / "archive.mbox"), str(tmp_path / "Maildir")]
    done = run_cli(["--config", str(cfg), "import", *paths, "--no-progress"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Imported 15 messages:")
    assert "9 created" in done.stdout
    again = run_cli(["--config", str(cfg), "import", *paths])
    assert "15 seen" in again.stdout
    store = Store.open(tmp_path / "imported.db")
    rows = list(store.iter_referrals())
    assert len(rows) == 9 and all(r["silent"] for r in rows)
    store.close()
    missing = run_cli(["--config", str(cfg), "import", str(tmp_path / "nope.mbox")])
    assert missing.returncode == 2 and "does not exist" in missing.stderr



def test_a_second_daemon_on_the_same_database_is_refused(mail_env: MailEnv, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, mail_env)
    first = subprocess.Popen(
        [REFMAIL, "--config", str(cfg), "run", "--no-send"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert wait_for(lambda: (tmp_path / "refmail.db").exists())
        second = run_cli(["--config", str(cfg), "run", "--once"])
        assert second.returncode == 1
        assert str(first.pid) in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)
    assert first.returncode == 0
