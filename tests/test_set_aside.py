"""The message is the boundary: whatever one message breaks, the inbox goes on.

Through the real servers: a message whose processing raises anywhere — the
store (a statement SQLite refuses), a template — is recorded as failed with
its reason and its mailbox position, flagged on the server, and the messages
after it are processed by the same ``run --once``. A database that cannot be
written at all is the other case: no message is set aside for it, nothing is
lost, and the daemon keeps polling until the database is usable again.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from hostile_mail import many_references, normal_intro
from mailservers import MailEnv
from test_capture import REFMAIL, deliver_like_a_client, intro, make_daemon, write_config

from refmail.config import load_config
from refmail.incoming.mailbox import FAILED_KEYWORD
from refmail.storage.store import Store
from refmail.workflow.tracker import message_key

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
