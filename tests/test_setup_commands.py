"""The first-run commands and the terminal reports: init, check, report, export.

``init`` is driven through click with typed answers and must write a config
that loads and still explains every key. ``check`` runs against the real test
servers (Dovecot, aiosmtpd, with self-signed TLS where needed) and must name
the usual mistakes precisely. ``report`` and ``export`` read a database built
by the real :class:`~refmail.workflow.tracker.Tracker` from intros.
"""

from __future__ import annotations

import csv
import io
import json
import re
import smtplib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mailbuild import build
from mailservers import Dovecot, MailEnv, SmtpServer, free_port

from refmail.admin.checkup import check_imap, check_smtp, run_checks
from refmail.admin.export import COLUMNS, csv_safe, write_csv
from refmail.admin.report import format_value, group_report
from refmail.admin.wizard import (
    Answers,
    ServerAnswers,
    WizardError,
    example_config_path,
    render_config,
    system_timezone,
)
from refmail.cli.commands import cli
from refmail.config import ImapSettings, SmtpSettings, load_config
from refmail.outgoing.transport import SmtpTransport
from refmail.storage.store import Store
from refmail.workflow.tracker import Tracker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "refmail.example.toml"


def comments(text: str) -> list[str]:
    """Every comment in a TOML text (the example has no '#' inside strings)."""
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


# -- init ----------------------------------------------------------------------------------
INIT_INPUT = "\n".join([
    "Lakeside Trades",            # group name
    "referrals@lakeside.example",  # tracking address
    "Mars/Olympus",               # not a time zone: asked again
    "Europe/Berlin",
    "ann@smithplumbing.example",  # admin
    "",                           # who hosts the mailbox: another provider
    "mail.lakeside.example",      # IMAP host
    "starttls",                   # IMAP security
    "",                           # IMAP port: default for starttls
    "",                           # IMAP username: default (the tracking address)
    "",                           # IMAP password variable: default
    "",                           # SMTP host: default (the IMAP host)
    "",                           # SMTP security: ssl
    "",                           # SMTP port: default for ssl
    "refs-out",                   # SMTP username
    "LAKESIDE_SMTP_PW",           # SMTP password variable
    "",                           # database: default
    "Ann Smith",
    "ann@SmithPlumbing.example",
    "Plumbing and heating",
    "Bob Jones",
    "bob at jones",               # not an address: asked again
    "bob@jonesroofing.example",
    "",                           # no business line
    "",                           # no more members
]) + "\n"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """``refmail init`` as a person at a terminal answers it (CliRunner's input is a pipe)."""
    monkeypatch.setattr("refmail.cli.commands._terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_init_writes_a_config_that_loads_and_keeps_every_comment(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "refmail.toml"
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input=INIT_INPUT)
    assert result.exit_code == 0, result.output
    assert "not an IANA time zone" in result.output and "not an email address" in result.output

    config = load_config(path)
    assert config.group.name == "Lakeside Trades"
    assert config.group.tracking_address == "referrals@lakeside.example"
    assert config.group.timezone == "Europe/Berlin"
    assert config.group.admins == ["ann@smithplumbing.example"]
    assert (config.imap.host, config.imap.security) == ("mail.lakeside.example", "starttls")
    assert config.imap.port == 143
    assert config.imap.username == "referrals@lakeside.example"
    assert config.imap.password_env == "REFMAIL_IMAP_PASSWORD"
    assert (config.smtp.host, config.smtp.security, config.smtp.port) == ("mail.lakeside.example", "ssl", 465)
    assert (config.smtp.username, config.smtp.password_env) == ("refs-out", "LAKESIDE_SMTP_PW")
    assert [(m.name, m.email, m.business) for m in config.members] == [
        ("Ann Smith", "ann@smithplumbing.example", "Plumbing and heating"),
        ("Bob Jones", "bob@jonesroofing.example", ""),
    ]
    assert config.database_path() == path.parent / "refmail.db"

    written = path.read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    # The example's own names in its comments become this group's.
    renamed = {"refs+": "referrals+", "harbornet.example": "lakeside.example", "Tom ": "Ann "}
    have = comments(written)
    for comment in comments(example):
        for old, new in renamed.items():
            comment = comment.replace(old, new)
        assert comment in have, f"comment lost: {comment!r}"
    assert "harbornet" not in written and "Tom" not in written and "refs+" not in written
    assert "replies come back as referrals+TOKEN@lakeside.example" in written
    assert "LAKESIDE_SMTP_PW" in result.output and "refmail check" in result.output


@pytest.mark.usefixtures("terminal")
def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    path.write_text("# my own config\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(path), "init"], input=INIT_INPUT)
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert "Name of the group" not in result.output  # refused before asking anything
    assert path.read_text(encoding="utf-8") == "# my own config\n"

    result = runner.invoke(cli, ["--config", str(path), "init", "--force"], input=INIT_INPUT)
    assert result.exit_code == 0, result.output
    assert load_config(path).group.name == "Lakeside Trades"


def test_init_finds_its_path_like_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = ["init", "--defaults", "--group-name", "G", "--tracking-address", "refs@g.example",
               "--imap-host", "imap.g.example"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REFMAIL_CONFIG", raising=False)
    assert CliRunner().invoke(cli, options).exit_code == 0
    assert load_config(tmp_path / "config" / "refmail.toml").group.name == "G"

    monkeypatch.setenv("REFMAIL_CONFIG", str(tmp_path / "env.toml"))
    assert CliRunner().invoke(cli, options).exit_code == 0
    assert load_config(tmp_path / "env.toml").imap.host == "imap.g.example"


def test_init_without_questions_takes_options_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(path), "init", "--defaults", "--group-name", "Harbor"])
    assert result.exit_code == 1
    assert "--tracking-address" in result.output and "--imap-host" in result.output
    assert "--smtp-host" not in result.output  # its default is the IMAP host
    assert not path.exists()

    result = runner.invoke(cli, [
        "--config", str(path), "init", "--defaults", "--group-name", "Harbor",
        "--tracking-address", "refs@harbor.example", "--imap-host", "127.0.0.1",
        "--imap-security", "none", "--timezone", "America/Chicago", "--admin", "mei@chencpa.example",
        "--member", "Mei Chen <mei@chencpa.example> CPA for small businesses",
        "--member", "Tom Becker <tom@beckerroofing.example>",
    ])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert (config.imap.security, config.imap.port) == ("none", 143)
    assert config.imap.username == "refs@harbor.example"
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == ("127.0.0.1", 465, "ssl")
    assert [m.email for m in config.members] == ["mei@chencpa.example", "tom@beckerroofing.example"]
    assert config.members[0].business == "CPA for small businesses"

    bad = runner.invoke(cli, [
        "--config", str(tmp_path / "other.toml"), "init", "--defaults", "--group-name", "G",
        "--tracking-address", "refs@g.example", "--imap-host", "mail.g.example", "--imap-security", "none",
    ])
    assert bad.exit_code == 1 and "loopback" in bad.output
    assert not (tmp_path / "other.toml").exists()


def answers(**overrides: Any) -> Answers:
    values: dict[str, Any] = {
        "group_name": 'The "Quoted" Group # not a comment',
        "tracking_address": "refs@quoted.example",
        "timezone": "Asia/Tokyo",
        "imap": ServerAnswers("imap.quoted.example", 993, "ssl", "refs", "IMAP_PW"),
        "smtp": ServerAnswers("smtp.quoted.example", 587, "starttls", "", "SMTP_PW"),
    }
    values.update(overrides)
    return Answers(**values)


def test_render_config_writes_values_that_need_escaping(tmp_path: Path) -> None:
    text = render_config(answers(), EXAMPLE.read_text(encoding="utf-8"))
    path = tmp_path / "refmail.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.group.name == 'The "Quoted" Group # not a comment'
    assert config.smtp.username == "" and config.smtp.port == 587
    # No members: the example's block stays, commented out, as a pattern to copy.
    assert config.members == []
    assert "# [[members]]" in text and '# name = "Tom Becker"' in text


def test_render_config_refuses_a_template_without_a_key_to_fill(tmp_path: Path) -> None:
    template = EXAMPLE.read_text(encoding="utf-8")
    broken = re.sub(r"(?m)^password_env = .*\n", "", template)
    assert broken != template
    with pytest.raises(WizardError, match="password_env"):
        render_config(answers(), broken)
    assert example_config_path().read_text(encoding="utf-8") == template


def test_system_timezone(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("Europe/Berlin\n")
    assert system_timezone({}, tmp_path) == "Europe/Berlin"
    assert system_timezone({"TZ": ":America/Chicago"}, tmp_path) == "America/Chicago"
    (tmp_path / "timezone").write_text("Not/AZone\n")
    assert system_timezone({"TZ": "nonsense"}, tmp_path) == "UTC"
    (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert system_timezone({}, tmp_path) == "Asia/Tokyo"


# -- check ---------------------------------------------------------------------------------
def server_config(tmp_path: Path, env: MailEnv, imap: dict[str, Any] | None = None,
                  smtp: dict[str, Any] | None = None) -> Path:
    """A config for the group on the test servers (plain text on loopback)."""
    imap_values = {"host": env.dovecot.host, "port": env.dovecot.port, "security": "none",
                   "username": env.user, "password_env": env.password_env, "timeout": "10s", **(imap or {})}
    smtp_values = {"host": env.smtp.host, "port": env.smtp.port, "security": "none", "username": "",
                   "timeout": "10s", **(smtp or {})}
    text = '[group]\nname = "Harbor"\ntracking_address = "refs@harbornet.example"\n\n'
    text += '[[members]]\nname = "Mei Chen"\nemail = "mei@chencpa.example"\n\n'
    text += "[imap]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in imap_values.items())
    text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in smtp_values.items())
    path = tmp_path / "refmail.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.servers
def test_check_all_good_exits_0_and_sends_nothing(tmp_path: Path, mail_env: MailEnv) -> None:
    mail_env.send(build(sender="mei@chencpa.example", to=["tom@beckerroofing.example"],
                        cc=["refs@harbornet.example"], plain="Tom, meet Linda."),
                  "mei@chencpa.example", ["refs@harbornet.example"])
    count = len(mail_env.inbox())
    sent_before = len(mail_env.smtp.messages)
    path = server_config(tmp_path, mail_env)

    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"✓ config {path} — Harbor, 1 member, tracking refs@harbornet.example"
    imap = f"✓ IMAP {mail_env.dovecot.host}:{mail_env.dovecot.port} (plain text, loopback) — folder INBOX, "
    assert f"{imap}{count} message{'s' * (count != 1)}, IDLE" in lines
    assert any(line.startswith(f"✓ SMTP {mail_env.smtp.host}:{mail_env.smtp.port} (plain text, loopback)")
               and "nothing sent" in line for line in lines)
    assert any(line.startswith("✓ database ") for line in lines)
    assert len(mail_env.smtp.messages) == sent_before


@pytest.mark.servers
def test_check_wrong_imap_password(
    tmp_path: Path, mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mail_env.password_env, mail_env.password + "-typo")
    path = server_config(tmp_path, mail_env)
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 1
    expected = (f"✗ IMAP {mail_env.dovecot.host}:{mail_env.dovecot.port}: login refused for user "
                f"{mail_env.user} (check {mail_env.password_env})")
    assert expected in result.output.splitlines()
    assert mail_env.password not in result.output
    assert "✓ SMTP" in result.output  # the other checks still ran


@pytest.mark.servers
def test_check_env_var_not_set(tmp_path: Path, mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mail_env.password_env)
    result = run_checks(server_config(tmp_path, mail_env))
    imap = next(r for r in result.results if r.name == "IMAP")
    assert not result.ok and imap.problem == "env"
    assert mail_env.password_env in imap.text and any("export" in h for h in imap.hints)


@pytest.mark.servers
def test_check_unreachable_port(tmp_path: Path, mail_env: MailEnv) -> None:
    port = free_port()
    result = run_checks(server_config(tmp_path, mail_env, smtp={"port": port}))
    smtp = next(r for r in result.results if r.name == "SMTP")
    assert not result.ok and smtp.problem == "unreachable"
    assert smtp.line() == f"✗ SMTP 127.0.0.1:{port}: cannot connect: connection refused"
    assert [r.name for r in result.results if r.ok] == ["config", "database", "IMAP"]


@pytest.mark.servers
def test_check_missing_folder_lists_the_folders(mail_env: MailEnv) -> None:
    with mail_env.dovecot.imap(mail_env.user, folder=None) as client:
        client.create_folder("Archive")
    result = check_imap(mail_env.imap_settings(folder="Referrals"))
    assert result.problem == "folder"
    assert result.text == "no folder 'Referrals' on the server"
    assert result.hints == ("folders there: Archive, INBOX; set [imap] folder to one of them",)


@pytest.mark.servers
def test_check_tls_on_a_plain_imap_port(mail_env: MailEnv) -> None:
    result = check_imap(mail_env.imap_settings(security="ssl"), wait=5)
    assert result.problem == "wrong_port"
    assert f"port {mail_env.dovecot.port} speaks plain text first" in result.text
    assert 'security = "starttls"' in result.hints[0]


@pytest.mark.servers
def test_check_imap_certificate_not_trusted_suggests_ca_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFMAIL_TEST_IMAP_PASSWORD", "refs-secret")
    with Dovecot(users={"refs": "refs-secret"}, tls=True) as server:
        assert server.tls_port is not None and server.cert_file is not None
        settings = dict(host=server.host, port=server.tls_port, security="ssl", username="refs",
                        password_env="REFMAIL_TEST_IMAP_PASSWORD", timeout="10s")
        refused = check_imap(ImapSettings(**settings))
        assert refused.problem == "certificate"
        assert refused.text.startswith("certificate not trusted (")
        assert "ca_file" in refused.hints[0]

        trusted = check_imap(ImapSettings(**settings, ca_file=str(server.cert_file)))
        assert trusted.ok, trusted.line()
        assert trusted.line().startswith(f"✓ IMAP {server.host}:{server.tls_port} (TLS, certificate ok)")


@pytest.mark.servers
@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_check_smtp_certificate_not_trusted_suggests_ca_file(mode: str) -> None:
    with SmtpServer(tls=mode) as server:
        assert server.cert_file is not None
        settings = dict(host=server.host, port=server.port, security=mode, timeout="10s")
        refused = check_smtp(SmtpSettings(**settings))
        assert refused.problem == "certificate" and "[smtp] ca_file" in refused.hints[0]

        trusted = check_smtp(SmtpSettings(**settings, ca_file=str(server.cert_file)))
        label = "TLS" if mode == "ssl" else "STARTTLS"
        assert trusted.ok and f"({label}, certificate ok)" in trusted.line()
        assert server.messages == []


@pytest.mark.servers
def test_check_smtp_wrong_port_for_the_security_mode() -> None:
    with SmtpServer() as plain:
        result = check_smtp(SmtpSettings(host=plain.host, port=plain.port, security="ssl", timeout="10s"))
        assert result.problem == "wrong_port" and "speaks plain text first (220 " in result.text
        assert 'security = "starttls"' in result.hints[0]
    with SmtpServer(tls="ssl") as implicit:
        result = check_smtp(
            SmtpSettings(host=implicit.host, port=implicit.port, security="starttls", timeout="10s"), wait=0.5
        )
        assert result.problem == "wrong_port" and "expects TLS from the first byte" in result.text
        assert 'security = "ssl"' in result.hints[0]


@pytest.mark.servers
def test_check_smtp_login_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PW", "wrong")
    with SmtpServer(credentials={"refs": "right"}) as server:
        settings = SmtpSettings(host=server.host, port=server.port, security="none", username="refs",
                                password_env="TEST_SMTP_PW", timeout="10s")
        result = check_smtp(settings)
        assert result.line() == (
            f"✗ SMTP {server.host}:{server.port}: login refused for user refs (check TEST_SMTP_PW)"
        )
        monkeypatch.setenv("TEST_SMTP_PW", "right")
        assert check_smtp(settings).ok


@pytest.mark.servers
def test_transport_check_logs_in_and_quits_without_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PW", "right")
    with SmtpServer(credentials={"refs": "right"}) as server:
        transport = SmtpTransport(SmtpSettings(host=server.host, port=server.port, security="none",
                                               username="refs", password_env="TEST_SMTP_PW"))
        features = transport.check()
        assert "auth" in features and "8bitmime" in features
        assert not transport.connected and transport.connections_opened == 1
        assert server.messages == []
        with smtplib.SMTP(server.host, server.port) as client:  # the server is still fine
            assert client.noop()[0] == 250


def test_check_shows_a_config_error_as_one_line(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    path.write_text('[group]\nname = "G"\ntracking_address = "refs@g.example"\n\n'
                    '[timing]\nstale_after = "30"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"✗ config: {path}: timing.stale_after: '30' is not a duration; "
        'write a number and a unit: "90s", "15m", "2h", "2d", "1w"'
    )
    assert "Traceback" not in result.output


# -- report and export -------------------------------------------------------------------------
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MEI, TOM, ANN = "mei@chencpa.example", "tom@beckerroofing.example", "ann@smithplumbing.example"
GROUP = f"""
[group]
name = "Harbor"
tracking_address = "refs@harbornet.example"
timezone = "America/Chicago"

[[members]]
name = "Mei Chen"
email = "{MEI}"
business = "CPA for small businesses"

[[members]]
name = "Tom Becker"
email = "{TOM}"
business = "Residential roofing"

[[members]]
name = "Ann Smith"
email = "{ANN}"
business = "Plumbing"

[storage]
database = "refmail.db"
"""

# (referrer, provider, prospect, days ago, text, final status, value, currency)
INTROS = [
    (MEI, ("Tom Becker", TOM), ("Linda Park", "linda@parkfamily.example"), 10,
     "Tom, meet Linda. Linda needs a new roof and Tom is the roofer I mentioned.", "won", 4500, "USD"),
    (MEI, ("Ann Smith", ANN), ("Carl Winters", "carl@client.example"), 5,
     "Ann, meet Carl. Carl is looking for a plumber and Ann is the plumber I told you about.",
     None, None, None),
    (TOM, ("Mei Chen", MEI), ("Sam Lee", "sam@bakery.example"), 60,
     "Mei, meet Sam. Sam needs an accountant and Mei is the CPA I mentioned.", "lost", None, None),
    (ANN, ("Tom Becker", TOM), ("Pat Kim", "pat@kimhome.example"), 3,
     "Tom, meet Pat. Pat needs a roofer and Tom is the roofer I mentioned.", "won", 1200, None),
    (MEI, ("Tom Becker", TOM), ("Formula", "=1+cmd@evil.example"), 2,
     "Tom, meet Formula. Formula needs a new roof and Tom is the roofer I mentioned.", None, None, None),
    (ANN, ("Joe Fix", "joe@fixit.example"), ("Kim Ray", "kim@ray.example"), 1,
     "Joe, meet Kim. Kim is looking for a handyman and Joe is the handyman I told you about.",
     None, None, None),
]


@pytest.fixture
def tracked(tmp_path: Path) -> tuple[Path, Store]:
    """A group database made by the Tracker from the intros above, with outcomes recorded."""
    path = tmp_path / "refmail.toml"
    path.write_text(GROUP, encoding="utf-8")
    config = load_config(path)
    store = Store.open(config.database_path())
    tracker = Tracker(config, store)
    for n, (referrer, provider, prospect, days, text, status, value, currency) in enumerate(INTROS):
        raw = build(sender=referrer, to=[provider, prospect], cc=["refs@harbornet.example"],
                    subject=f"Intro {n}", plain=text, message_id=f"<intro.{n}@mail.example>",
                    date=format_datetime(NOW - timedelta(days=days)))
        outcome = tracker.process(raw, now=NOW - timedelta(days=days), silent=True)
        assert outcome.outcome == "created", outcome
        referral = store.referral(outcome.referral_id or 0)
        assert referral is not None and referral["provider"] == provider[1], referral
        if status:
            # What an accepted "WON 4500 USD" reply records (refmail.workflow.responses).
            at = NOW - timedelta(days=days) + timedelta(hours=5)
            detail: dict[str, Any] = {"from": "introduced", "to": status, "by": provider[1]}
            if value is not None:
                detail.update(value=value, currency=currency)
            store.set_status(referral["id"], status, at)
            store.add_event(referral["id"], "status", at=at, actor=provider[1], detail=detail)
    return path, store


def test_report_counts_per_member_and_for_the_group(tracked: tuple[Path, Store]) -> None:
    path, store = tracked
    config = load_config(path)
    report = group_report(store, config)
    rows = {line.address: line for line in report.members}
    summary = {a: (r.given, r.received, r.won, r.open, format_value(r.value)) for a, r in rows.items()}
    assert summary == {
        MEI: (3, 1, 0, 0, "–"),
        TOM: (1, 3, 2, 1, "1,200 + 4,500 USD"),
        ANN: (2, 1, 0, 1, "–"),
    }
    assert report.others is not None
    assert (report.others.given, report.others.received, report.others.open) == (0, 1, 1)
    group = report.group
    assert (group.given, group.received, group.won, group.open) == (len(INTROS), len(INTROS), 2, 3)
    assert group.value == {"USD": 4500, "": 1200}

    recent = group_report(store, config, since=NOW - timedelta(days=30))
    rows = {line.address: line for line in recent.members}
    assert (rows[MEI].given, rows[MEI].received, rows[TOM].given) == (3, 0, 0)
    assert recent.group.given == len(INTROS) - 1


def test_report_command_prints_the_table(tracked: tuple[Path, Store]) -> None:
    path, store = tracked
    store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(path), "report"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cells = {}
    for line in result.output.splitlines():
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if parts:
            cells[parts[0]] = parts[1:]
    assert cells[f"Tom Becker <{TOM}>"] == ["1", "3", "2", "1,200 + 4,500 USD", "1"]
    assert cells["others (not members)"] == ["0", "1", "0", "–", "1"]
    assert cells["group"] == ["6", "6", "2", "1,200 + 4,500 USD", "3"]

    # A date, not "30d": the intros are dated relative to NOW, not to today.
    cutoff = (NOW - timedelta(days=30)).date().isoformat()
    since = runner.invoke(cli, ["--config", str(path), "report", "--since", cutoff], env={"COLUMNS": "200"})
    assert since.exit_code == 0 and f"since {cutoff} 00:00 C" in since.output  # CDT or CST
    assert re.search(rf"│ group\s+│\s+{len(INTROS) - 1} │", since.output)
    bad = runner.invoke(cli, ["--config", str(path), "report", "--since", "a month"])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_export_csv_streams_every_referral(tracked: tuple[Path, Store], tmp_path: Path) -> None:
    path, store = tracked
    buffer = io.StringIO(newline="")
    assert write_csv(store, buffer) == len(INTROS)
    store.close()
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue(), newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert [r["tag"] for r in rows] == [f"R-{n}" for n in range(1, len(INTROS) + 1)]
    first = rows[0]
    assert (first["status"], first["referrer"], first["provider"]) == ("won", MEI, TOM)
    assert first["prospects"] == "linda@parkfamily.example"
    assert (first["value"], first["currency"], first["last_event"]) == ("4500", "USD", "status")
    assert rows[3]["value"] == "1200" and rows[3]["currency"] == ""
    assert rows[1]["value"] == "" and rows[1]["last_event"] == "introduced"

    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["--config", str(path), "export", "--csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().decode("utf-8") == buffer.getvalue()
    assert out.stat().st_mode & 0o077 == 0

    stdout = CliRunner().invoke(cli, ["--config", str(path), "export", "--csv"])
    assert stdout.exit_code == 0 and stdout.stdout_bytes.decode("utf-8") == buffer.getvalue()
    assert CliRunner().invoke(cli, ["--config", str(path), "export"]).exit_code == 2


def test_export_guards_against_formula_injection(tracked: tuple[Path, Store]) -> None:
    _path, store = tracked
    buffer = io.StringIO(newline="")
    write_csv(store, buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue(), newline="")))
    evil = next(r for r in rows if "evil.example" in r["prospects"])
    assert evil["prospects"] == "'=1+cmd@evil.example"
    assert evil["parties"] == f"{TOM};=1+cmd@evil.example"  # not at the start of the cell: inert
    for cell, safe in [("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-2", "'-2"), ("@cmd", "'@cmd"),
                       ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), (-5, -5), (4500, 4500)]:
        assert csv_safe(cell) == safe
