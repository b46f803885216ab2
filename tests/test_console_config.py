"""The admin's mistakes told plainly: duplicate members, every config error at once, answers
from a pipe, a database from a newer refmail, and status words as the emails write them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from mailservers import Dovecot, MailEnv

from refmail.admin.statuses import StatusWordError, status_named, statuses_named
from refmail.cli import cli
from refmail.config import config_from_dict, load_config
from refmail.errors import ConfigError, StoreError
from refmail.storage.migrations import MIGRATIONS, NewerDatabase
from refmail.storage.store import Store

GROUP = {"name": "G", "tracking_address": "refs@g.example"}


def test_a_duplicate_member_email_is_refused_naming_both_entries() -> None:
    data = {"group": GROUP, "members": [
        {"name": "Bob Jones", "email": "bob@jones.example"},
        {"name": "Hugo Diaz", "email": "Bob@Jones.example"},
    ]}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    message = str(caught.value)
    assert caught.value.key == "members[1].email"
    assert "members[0].email (Bob Jones)" in message and "Hugo Diaz" in message


def test_an_alias_that_is_another_members_email_is_refused() -> None:
    data = {"group": GROUP, "members": [
        {"name": "Bob Jones", "email": "bob@jones.example"},
        {"name": "Hugo Diaz", "email": "hugo@diaz.example", "aliases": ["bob@jones.example"]},
    ]}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    assert caught.value.key == "members[1].aliases[0]"
    assert "members[0].email (Bob Jones)" in str(caught.value)
    # One's own address among one's aliases harms nobody.
    data["members"][1]["aliases"] = ["hugo@diaz.example"]
    assert config_from_dict(data).canonical("hugo@diaz.example") == "hugo@diaz.example"


def test_every_config_error_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    path.write_text(
        '[group]\nname = "G"\ntracking_address = "refs@g.example"\ntimezone = "Mars/Olympus"\n'
        '[timing]\nfeedback_after = "7"\nquiet_hours = "9pm-7am"\n'
        '[imap]\nprot = 993\n'
        '[[members]]\nname = "A"\nemail = "a@g.example"\n'
        '[[members]]\nname = "B"\nemail = "a@g.example"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    keys = [key for key, _ in caught.value.problems]
    assert set(keys) == {"group.timezone", "timing.feedback_after", "timing.quiet_hours", "imap.prot",
                         "members[1].email"}
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path.resolve()}: 5 problems"
    assert len(lines) == 6
    # Through the CLI: one Error line, then one line per problem, no traceback.
    result = CliRunner().invoke(cli, ["--config", str(path), "referrals"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "timing.quiet_hours" in result.output
    assert "members[1].email" in result.output


def test_one_error_is_still_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"group": {**GROUP, "timezone": "Mars/Olympus"}})
    assert "\n" not in str(caught.value) and str(caught.value).startswith("group.timezone: ")


# -- init --------------------------------------------------------------------------------
def test_init_refuses_two_members_with_one_address(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    result = CliRunner().invoke(cli, [
        "--config", str(path), "init", "--defaults", "--group-name", "G",
        "--tracking-address", "refs@g.example", "--imap-host", "mail.g.example",
        "--member", "Bob Jones <bob@jones.example> Roofing",
        "--member", "Hugo Diaz <BOB@jones.example> Plumbing",
    ])
    assert result.exit_code == 1
    assert "bob@jones.example is already Bob Jones's address" in result.output
    assert "Hugo Diaz" in result.output
    assert not path.exists()


ANSWERS = [
    "Lakeside Trades", "referrals@lakeside.example", "Europe/Berlin", "ann@smith.example",
    "other", "mail.lakeside.example", "starttls", "", "", "", "", "", "", "", "", "",
    "Ann Smith", "ann@smith.example", "Plumbing",
]


def test_init_reads_its_answers_from_standard_input(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    # The input ends after the second member's address: the rest take their defaults.
    lines = [*ANSWERS, "Bob Jones", "bob@jones.example"]
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert "Name of the group" not in result.output  # nobody to ask
    config = load_config(path)
    assert config.group.timezone == "Europe/Berlin"
    assert (config.imap.security, config.imap.port) == ("starttls", 143)
    assert [(m.name, m.email) for m in config.members] == [
        ("Ann Smith", "ann@smith.example"), ("Bob Jones", "bob@jones.example")]


def test_init_from_standard_input_stops_at_a_wrong_answer_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    lines = list(ANSWERS)
    lines[2] = "Mars/Olympus"
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input="\n".join(lines) + "\n")
    assert result.exit_code == 1
    assert "line 3 (Time zone of the group)" in result.output and "Mars/Olympus" in result.output
    assert not path.exists()
    # A second member with the first one's address: refused, nothing written.
    lines = [*ANSWERS, "Hugo Diaz", "ANN@smith.example"]
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input="\n".join(lines) + "\n")
    assert result.exit_code == 1
    assert "line 21" in result.output and "already Ann Smith's address" in result.output
    assert not path.exists()
    # An input that ends before a question without a default.
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input="Lakeside\n")
    assert result.exit_code == 1 and "the end of the input" in result.output


# -- a database from a newer refmail ----------------------------------------------------------
def test_a_database_written_by_a_newer_refmail_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "refmail.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('0099_from_the_future', 'x')")
    conn.execute("UPDATE settings SET value = '9.0.0' WHERE key = 'schema_written_by'")
    conn.commit()
    conn.close()
    with pytest.raises(NewerDatabase) as caught:
        Store.open(path)
    message = str(caught.value)
    assert isinstance(caught.value, StoreError)
    assert "refmail 9.0.0" in message and "this is refmail" in message
    assert "0099_from_the_future" in message and "--upgrade" in message
    # Nothing was written to it: the unknown migration is still the last one recorded.
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    conn.close()
    assert names == [*(name for name, _ in MIGRATIONS), "0099_from_the_future"]


def test_the_version_that_wrote_the_schema_is_recorded(tmp_path: Path) -> None:
    from refmail._version import __version__

    store = Store.open(tmp_path / "refmail.db")
    try:
        assert store.setting("schema_written_by") == __version__
    finally:
        store.close()


# -- status words ----------------------------------------------------------------------------
@pytest.mark.parametrize(("word", "status"), [
    ("no fit", "no_fit"), ("NO FIT", "no_fit"), ("no_fit", "no_fit"), ("won", "won"),
    ("Gewonnen", "won"), ("met", "meeting"), ("no response", "unresponsive"),
    ("withdrawn", "withdrawn"), ("introduced", "introduced"),
])
def test_status_words_are_the_emails_words(word: str, status: str) -> None:
    assert status_named(word) == status


def test_unknown_status_words_are_refused_with_the_known_ones() -> None:
    with pytest.raises(StatusWordError, match=r"'wonn' is not a status; use one of: .*no fit"):
        status_named("wonn")
    assert statuses_named("won, no fit") == {"won", "no_fit"}
    assert "introduced" in statuses_named("open") and "won" in statuses_named("closed")


# -- check: a port that speaks another protocol ---------------------------------------------
@pytest.mark.servers
def test_check_recognises_a_port_that_speaks_another_protocol(mail_env: MailEnv) -> None:
    from refmail.admin.checkup import check_imap, check_smtp
    from refmail.config import ImapSettings, SmtpSettings

    dovecot, smtp = mail_env.dovecot, mail_env.smtp
    wrong = check_smtp(SmtpSettings(host=dovecot.host, port=dovecot.port, security="none", timeout="10s"))
    assert wrong.problem == "wrong_protocol"
    assert wrong.text.startswith(f"port {dovecot.port} speaks IMAP, not SMTP (it said: * OK")
    assert "usually 465 (ssl) or 587 (starttls)" in wrong.hints[0]
    assert "b'" not in wrong.line()  # the server's words as text, never a bytes literal

    wrong = check_imap(ImapSettings(host=smtp.host, port=smtp.port, security="none", username="refs",
                                    password_env=mail_env.password_env, timeout="10s"))
    assert wrong.problem == "wrong_protocol"
    assert wrong.text.startswith(f"port {smtp.port} speaks SMTP, not IMAP (it said: 220")


@pytest.mark.servers
def test_check_recognises_imap_behind_implicit_tls() -> None:
    from refmail.admin.checkup import check_smtp
    from refmail.config import SmtpSettings

    with Dovecot(users={"refs": "refs-secret"}, tls=True) as server:
        assert server.tls_port is not None
        result = check_smtp(SmtpSettings(host=server.host, port=server.tls_port, security="ssl",
                                         ca_file=str(server.cert_file), timeout="10s"))
        assert result.problem == "wrong_protocol", result.line()
        assert result.text.startswith(f"port {server.tls_port} speaks IMAP, not SMTP")
