"""The message is the boundary: whatever one message breaks, the inbox goes on.

Through the real servers: a message whose processing raises anywhere — the
store (a statement SQLite refuses), a template — is recorded as failed with
its reason and its mailbox position, flagged on the server, and the messages
after it are processed by the same ``run --once``. A database that cannot be
written at all is the other case: no message is set aside for it, nothing is
lost, and the daemon keeps polling until the database is usable again.
"""

from __future__ import annotations

import email
import os
import sqlite3
import subprocess
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hostile_mail import large_message, many_references, normal_intro
from mailservers import MailEnv
from test_capture import REFMAIL, deliver_like_a_client, intro, make_daemon, write_config

from refmail.config import config_from_dict, load_config
from refmail.incoming.mailbox import FAILED_KEYWORD
from refmail.storage.store import Store
from refmail.workflow.planner import Planner
from refmail.workflow.set_aside import Why
from refmail.workflow.tracker import MessageSource, Tracker, message_key

pytestmark = pytest.mark.servers

#: An override of the acknowledgement that raises on one intro's data (its subject),
#: as a group's own template might: the same for every part, so whichever is rendered first raises.
BOOM = '{% if "boom" in referral.subject %}{{ 1 // 0 }}{% endif %}'


def boom_templates(tmp_path: Path) -> Path:
    """A ``[nudges] template_dir`` whose acknowledgement raises on an intro with "boom" in its subject."""
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = Path(__file__).resolve().parent.parent / "refmail" / "render" / "templates"
    for part in ("txt", "html", "subject.txt"):
        (templates / f"ack.{part}").write_text(BOOM + (builtin / f"ack.{part}").read_text())
    return templates


def test_poison_references_then_an_intro_are_both_handled_by_one_run_once(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    """The issue's first report: 260,000 References made thread matching one SQL
    statement with a parameter each, SQLite refused it, and the daemon exited every cycle."""
    poison = many_references(260_000)
    assert len(poison) > 3_000_000
    deliver_like_a_client(mail_env, poison)
    deliver_like_a_client(mail_env, normal_intro(1))
    config_path = write_config(tmp_path, mail_env)
    done = subprocess.run(
        [REFMAIL, "--config", str(config_path), "run", "--once", "--no-send"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    store = Store.open(load_config(config_path).database_path())
    try:
        rows = {r["message_id"]: r for r in store.messages()}
        assert rows["<normal-intro-1@mail.chencpa.example>"]["outcome"] == "created"
        # The poison message itself was read on its nearest References, not set aside.
        poisoned = rows["<many-references@mail.chencpa.example>"]
        assert poisoned["outcome"] not in {"failed", "too_large"}, poisoned
        with mail_env.dovecot.imap("refs") as client:
            assert store.position("INBOX") == (client.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"],
                                               max(client.search("ALL")))
    finally:
        store.close()


def test_a_message_that_raises_while_applied_is_set_aside_and_the_rest_goes_on(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    templates = boom_templates(tmp_path)
    boom = intro(2).replace(b"Subject: Intro 2:", b"Subject: Intro 2 boom:")
    for raw in (intro(1), boom, intro(3)):
        deliver_like_a_client(mail_env, raw)
    path = write_config(tmp_path, mail_env)
    path.write_text(path.read_text() + f'\n[nudges]\ntemplate_dir = "{templates}"\n')
    config = load_config(path)
    store = Store.open(config.database_path())
    try:
        report = make_daemon(config, store).cycle()
        assert report.outcomes == {"created": 2, "failed": 1}
        (failed,) = store.messages("failed")
        assert failed["reason"].startswith("could not be applied: ZeroDivisionError")
        assert failed["message_id"] == "<intro-2@mail.chencpa.example>"
        with mail_env.dovecot.imap("refs") as client:
            uids = sorted(client.search("ALL"))
            flags = client.get_flags(uids)
        assert (failed["folder"], failed["uid"]) == ("INBOX", uids[1]) and failed["uidvalidity"]
        # Nothing of it was kept: no referral, no queued mail; the others are whole.
        subjects = [r["subject"] for r in store.iter_referrals()]
        assert subjects == ["Intro 1: Client 1 <> Tom (roofing)", "Intro 3: Client 3 <> Tom (roofing)"]
        queued = store.db.conn.execute("SELECT count(*) FROM outbox WHERE step = 'ack'").fetchone()[0]
        assert queued == 2
        assert [FAILED_KEYWORD.encode() in flags[uid] for uid in uids] == [False, True, False]
        # Set aside for good: the next cycle has nothing to do.
        assert make_daemon(config, store).cycle().processed == 0
    finally:
        store.close()


def test_a_database_that_cannot_be_written_sets_nothing_aside_and_loses_nothing(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    """Another program holding the write lock is not the message's fault: the cycle
    fails as a whole, is logged once, and the message is read again afterwards."""
    deliver_like_a_client(mail_env, intro(1))
    config = load_config(write_config(tmp_path, mail_env))
    store = Store.open(config.database_path())
    store.db.conn.execute("PRAGMA busy_timeout = 50")
    daemon = make_daemon(config, store)
    holder = sqlite3.connect(config.database_path(), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        daemon._guarded_cycle()  # the loop's cycle: it must not raise
        assert daemon._last_error is not None and "database" in daemon._last_error
        holder.execute("ROLLBACK")
        assert store.messages() == [] and store.position("INBOX") is None
        daemon._guarded_cycle()
        assert daemon._last_error is None
        (row,) = store.messages()
        assert (row["outcome"], row["key"]) == ("created", message_key(intro(1))[0])
    finally:
        holder.close()
        store.close()


def test_thread_matching_reads_any_number_of_ids_in_bounded_statements() -> None:
    """The store's side of the poison message: ids beyond SQLite's parameter limit."""
    from datetime import UTC, datetime

    from refmail.storage.store import PartyRow

    store = Store.memory()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    ids = [f"<{i}@x>" for i in range(260_000)]
    referral = store.create_referral(
        referrer="mei@chencpa.example", provider=None,
        parties=[PartyRow("mei@chencpa.example", "", "referrer"), PartyRow("a@x.example", "", "party"),
                 PartyRow("b@x.example", "", "party")],
        subject="s", intro_message_id=ids[123_456], roles_reason="", silent=True, introduced_at=now, now=now,
    )
    assert store.referral_for_thread(ids) == referral
    assert store.referral_for_thread(ids[:100_000]) is None
    assert store.referral_for_thread([]) is None


def test_a_referral_that_cannot_be_planned_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same boundary for the cycle's planning: one referral whose template raises."""
    from datetime import timedelta

    from refmail.config import config_from_dict
    from refmail.demo.runner import DEMO_NOW
    from refmail.workflow.planner import Planner
    from refmail.workflow.tracker import Tracker

    templates = boom_templates(tmp_path)
    config = config_from_dict({
        "group": {"name": "G", "tracking_address": "refs@harbornet.example", "timezone": "America/Chicago"},
        "members": [{"name": "Mei Chen", "email": "mei@chencpa.example"}],
        "timing": {"quiet_hours": ""},
        "nudges": {"template_dir": str(templates)},
    })
    store = Store.memory()
    tracker = Tracker(config, store)  # no planner: tracked now, planned by plan_all below
    for n, raw in enumerate((intro(1), intro(2).replace(b"Intro 2:", b"Intro 2 boom:"), intro(3)), 1):
        assert tracker.process(raw, now=DEMO_NOW - timedelta(days=n)).outcome == "created"
    planner = Planner(config, store)
    with caplog.at_level("WARNING"):
        assert planner.plan_all(DEMO_NOW) > 0
        assert planner.plan_all(DEMO_NOW) == 0
    acks = store.db.conn.execute("SELECT referral_id FROM outbox WHERE step = 'ack' ORDER BY 1").fetchall()
    assert acks == [(1,), (3,)]
    assert store.db.conn.execute("SELECT count(*) FROM outbox WHERE referral_id = 2").fetchone() == (0,)
    warnings = [r.getMessage() for r in caplog.records if "could not be planned" in r.getMessage()]
    assert warnings == ["R-2 could not be planned: ZeroDivisionError: integer division or modulo by zero"]


def test_the_parser_keeps_the_thread_root_and_the_nearest_references() -> None:
    from refmail.mail.limits import MAX_REFERENCES
    from refmail.mail.message import parse_message

    parsed = parse_message(many_references(260_000))
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[0] == "<0@r.x>"  # where the thread began
    assert parsed.references[-1] == f"<{259_999:x}@r.x>"  # the parent
    assert parsed.references[1] == f"<{260_000 - MAX_REFERENCES + 1:x}@r.x>"
    assert any(d.startswith("References: 3,1") for d in parsed.defects)  # the field, cut
    assert any("References; the first and the 99 nearest read" in d for d in parsed.defects)
    assert parse_message(normal_intro(1)).references == []


# -- the member's notice, and the admins' summary --------------------------------------------------

MEI = "mei@chencpa.example"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago"))


def lifecycle(**timing: str) -> tuple[Store, Tracker]:
    config = config_from_dict({
        "group": {"name": "Harbor Business Network", "tracking_address": "refs@harbornet.example",
                  "admins": [MEI], "timezone": "America/Chicago"},
        "members": [{"name": "Mei Chen", "email": MEI, "aliases": ["mei.chen@gmail.example"]},
                    {"name": "Tom Becker", "email": "tom.becker@beckerroofing.example"}],
        "timing": {"quiet_hours": "", **timing},
    })
    store = Store.memory()
    return store, Tracker(config, store, planner=Planner(config, store))


def header_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"


def notices(store: Store) -> list[tuple[str, int, str, EmailMessage]]:
    rows = store.db.conn.execute(
        "SELECT recipient, seq, next_attempt_at, raw FROM outbox WHERE step = 'set_aside' ORDER BY id"
    ).fetchall()
    out = []
    for recipient, seq, due, raw in rows:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        out.append((recipient, seq, due, message))
    return out


def test_a_member_whose_intro_was_too_large_is_told_once_a_day() -> None:
    store, tracker = lifecycle()
    big = header_of(large_message(4096, n=1))
    outcome = tracker.record_too_large(big, 30 * 1024 * 1024, now=NOW, source=MessageSource("INBOX", 7, 41))
    assert outcome.outcome == "too_large" and outcome.key == "<large-1@mail.chencpa.example>"
    row = store.message(outcome.key)
    assert row is not None and (row["author"], row["subject"], row["uid"]) == (MEI, "Intro 1: the photos", 41)
    ((to, day, _, notice),) = notices(store)
    assert (to, day) == (MEI, 20261123)
    assert str(notice["Subject"]) == "[refmail] Your message was too large to track: Intro 1: the photos"
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "is 30 MB, more than the 25 MB refmail reads" in text
    assert "send it again without the attachments" in text
    assert notice["Auto-Submitted"] == "auto-generated"
    # The same message again (a UIDVALIDITY reset) is known: neither recorded nor told again.
    again = tracker.record_too_large(big, 30 * 1024 * 1024, now=NOW, source=MessageSource("INBOX", 8, 1))
    assert again.outcome == "seen"
    # Forty more in Mei's name the same day (a forged From costs nothing): no more mail to her.
    for n in range(2, 42):
        tracker.record_too_large(header_of(large_message(4096, n=n)), 30 * 1024 * 1024, now=NOW,
                                 source=MessageSource("INBOX", 7, 40 + n))
    assert len(notices(store)) == 1
    # The next day, one more; through an alias, to the member's own address.
    alias = header_of(large_message(4096, n=99)).replace(MEI.encode(), b"mei.chen@gmail.example")
    tracker.record_too_large(alias, 30 * 1024 * 1024, now=NOW + timedelta(days=1),
                             source=MessageSource("INBOX", 7, 99))
    assert [(to, day) for to, day, _, _ in notices(store)] == [(MEI, 20261123), (MEI, 20261124)]


def test_only_members_hear_and_only_about_recent_mail() -> None:
    store, tracker = lifecycle()
    stranger = header_of(large_message(4096)).replace(f"<{MEI}>".encode(), b"<carl@outside.example>")
    tracker.record_too_large(stranger, 30_000_000, now=NOW, source=MessageSource("INBOX", 7, 1))
    old = header_of(normal_intro(2)).replace(b"Mon, 23 Nov 2026", b"Mon, 02 Mar 2026")
    tracker.record_failure(old, reason="could not be applied: X: y", now=NOW,
                           source=MessageSource("INBOX", 7, 2))
    tracker.record_failure(normal_intro(3), reason="could not be applied: X: y", now=NOW, silent=True)
    assert notices(store) == []
    assert store.message("<large-1@mail.chencpa.example>")["author"] == "carl@outside.example"  # type: ignore[index]
    # Someone who said STOP is not written to either.
    store.stop_person(MEI, NOW)
    tracker.record_failure(normal_intro(4), reason="could not be applied: X: y", now=NOW)
    assert notices(store) == []


def test_the_notice_says_what_happened_and_keeps_quiet_hours() -> None:
    store, tracker = lifecycle(quiet_hours="21:00-07:00")
    late = NOW.replace(hour=23)
    hostile = normal_intro(5).replace(b"Subject: Intro 5: Tom, meet Grace",
                                      b"Subject: Reset your password at https://evil.example/x now <b>")
    tracker.record_failure(hostile, reason="could not be parsed: UnicodeError: bad", now=late,
                           why=Why.UNREADABLE)
    ((_, _, due, notice),) = notices(store)
    assert due == "2026-11-24T13:00:00+00:00"  # 07:00 in Chicago, after quiet hours
    subject = str(notice["Subject"])
    assert subject == "[refmail] Your message could not be read: Reset your password at … now <b>"
    assert "evil.example" not in notice.as_string()
    html = notice.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "“Reset your password at … now &lt;b&gt;”" in html
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "send it again as an ordinary email" in text and "Ask Mei Chen." in text


def test_the_admins_summary_lists_the_week_set_aside() -> None:
    from refmail.workflow.digest import Digest

    _, tracker = lifecycle()
    tracker.record_too_large(header_of(large_message(4096)), 30_000_000, now=NOW - timedelta(days=2),
                             source=MessageSource("INBOX", 7, 11))
    tracker.record_failure(b"\x00garbage", reason="could not be parsed: ValueError: no", now=NOW,
                           why=Why.UNREADABLE, source=MessageSource("INBOX", 7, 12))
    tracker.record_failure(normal_intro(6), reason="could not be applied: X: y", now=NOW - timedelta(days=9))
    assert tracker.planner is not None
    rendered = Digest(tracker.planner).render_admin(MEI, NOW)
    section = rendered.text.split("SET ASIDE THIS WEEK")[1].split("\n\n\n")[0]
    assert 'from Mei Chen: "Intro 1: the photos" (too large, UID 11 in INBOX)' in section
    assert "from an unknown sender (unreadable, UID 12 in INBOX)" in section
    assert "Intro 6" not in section  # nine days ago: last week's summary had it
    assert "Set aside this week" in rendered.html and "Intro 1: the photos" in rendered.html


def test_through_the_servers_a_member_hears_by_mail_that_her_intro_was_too_large(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    """The issue's last report: a 30 MB intro was flagged with a log line, and its member
    never learnt that it was not tracked. Here the limit is 64 KB and the intro 200 KB;
    only its header fields are downloaded, and she gets the notice over real SMTP."""
    from test_lifecycle import World

    imap, smtp = mail_env.imap_settings(), mail_env.smtp_settings()
    servers = (
        f'\n[imap]\nhost = "{imap.host}"\nport = {imap.port}\nsecurity = "none"\n'
        f'username = "{imap.username}"\npassword_env = "{imap.password_env}"\ntimeout = "10s"\n'
        'max_message_size = "64KB"\n'
        f'\n[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\nsecurity = "none"\nusername = ""\n'
    )
    world = World(mail_env, tmp_path, servers=servers)
    big = large_message(200 * 1024)
    mail_env.send(big, MEI, ["refs@harbornet.example"])
    mail_env.send(normal_intro(1), MEI, ["refs@harbornet.example"])
    report = world.cycle()
    assert report.outcomes == {"too_large": 1, "created": 1}
    (row,) = world.store.messages("too_large")
    assert (row["key"], row["author"], row["subject"]) == (
        "<large-1@mail.chencpa.example>", MEI, "Intro 1: the photos")
    with mail_env.dovecot.imap("refs") as client:
        assert FAILED_KEYWORD.encode() in client.get_flags([row["uid"]])[row["uid"]]
    told = [m.message() for m in mail_env.smtp.sent_to(MEI)
            if str(m.message()["Subject"]).startswith("[refmail] Your message was too large to track")]
    assert len(told) == 1
    text = told[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"is {round(row_size(world, row) / 1024)} KB, more than the 64 KB refmail reads" in text
    sent = len(mail_env.smtp.messages)
    assert world.cycle().processed == 0
    assert len(mail_env.smtp.messages) == sent  # told once, not at every cycle


def row_size(world: Any, row: dict[str, Any]) -> int:
    """The message's size on the server, from the reason recorded for it."""
    return int(row["reason"].split()[0])
