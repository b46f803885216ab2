"""`refmail oauth login` and `refmail oauth status`, against the token endpoint on 127.0.0.1.

The device flow is polled for real (the token server says
``authorization_pending`` twice, as a person still typing the code would);
the browser flow is played by a test "browser" that opens the printed address,
follows the provider's redirect back to refmail's loopback listener, and so
proves the PKCE verifier, the state and the redirect URI.
"""

from __future__ import annotations

import json
import stat
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tokenserver import TENANT, TokenServer, toml_sections

from refmail.cli import cli
from refmail.config import load_config
from refmail.errors import TokenRefused
from refmail.oauth.signin import browser_login, token_status
from refmail.oauth.source import TokenSource

SECRET_ENV = "REFMAIL_TEST_GOOGLE_SECRET"


def write_config(tmp_path: Path, server: TokenServer, **oauth2: Any) -> Path:
    values: dict[str, Any] = {"provider": "microsoft", "flow": "refresh_token", "tenant": TENANT,
                              "client_id": "app-2", "token_url": server.token_url, "timeout": "5s"}
    values.update(oauth2)
    path = tmp_path / "refmail.toml"
    common = {"host": "127.0.0.1", "security": "none", "username": "refs", "auth": "oauth2"}
    path.write_text('[group]\nname = "G"\ntracking_address = "refs@harbornet.example"\n'
                    + toml_sections({"imap": common, "smtp": common, "oauth2": values}))
    return path


def test_device_login_saves_a_working_sign_in_and_status_shows_it(
    token_server: TokenServer, tmp_path: Path
) -> None:
    token_server.add_client("app-2")
    path = write_config(tmp_path, token_server)
    runner = CliRunner()
    before = runner.invoke(cli, ["--config", str(path), "oauth", "status"])
    assert before.exit_code == 1 and "not signed in yet: run `refmail oauth login`" in before.output
    result = runner.invoke(cli, ["--config", str(path), "oauth", "login"])
    assert result.exit_code == 0, result.output
    assert "enter the code ABCD-EFGH" in result.output and "Signed in as refs" in result.output
    assert len(token_server.grants("urn:ietf:params:oauth:grant-type:device_code")) == 3  # 2 pending
    token_file = tmp_path / "refmail-oauth.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for secret in token_server.issued("access") + token_server.issued("refresh"):
        assert secret not in result.output
    # The saved sign-in works: a refresh with it is accepted.
    config = load_config(path)
    source = TokenSource.from_config(config)
    assert source is not None
    token_server.expire_access_tokens()
    source.refused(source.token())
    assert token_server.introspect(source.token().value) == "refs"

    shown = runner.invoke(cli, ["--config", str(path), "oauth", "status"])
    assert shown.exit_code == 0, shown.output
    assert "Account:" in shown.output and "refs" in shown.output
    assert "(owner only)" in shown.output and "Access token:   expires" in shown.output
    assert "Last refreshed:" in shown.output and "offline_access" in shown.output
    data = json.loads(runner.invoke(cli, ["--config", str(path), "oauth", "status", "--json"]).output)
    assert data["signed_in"] and data["flow"] == "refresh_token" and data["expires_at"] > data["refreshed_at"]


def _browser(urls: list[str], result: dict[str, Any]) -> None:
    """Open the address refmail printed, as a person's browser would (following redirects)."""
    try:
        with urllib.request.urlopen(urls[0], timeout=10) as answer:
            result["page"] = answer.read().decode()
    except Exception as exc:  # reported by the test
        result["error"] = exc


def test_browser_login_with_pkce_and_a_loopback_redirect(
    token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_server.add_client("desktop-1", "google-desktop-secret")
    monkeypatch.setenv(SECRET_ENV, "google-desktop-secret")
    config = load_config(write_config(tmp_path, token_server, provider="google", client_id="desktop-1",
                                      client_secret_env=SECRET_ENV, authorize_url=token_server.authorize_url))
    source = TokenSource.from_config(config)
    assert source is not None
    printed: list[str] = []
    urls: list[str] = []
    result: dict[str, Any] = {}

    def say(text: str) -> None:
        printed.append(text)
        for word in text.split():
            if word.startswith(token_server.authorize_url):
                urls.append(word)
                threading.Thread(target=_browser, args=(urls, result), daemon=True).start()

    saved = browser_login(source, say=say, timeout=20)
    assert saved.refresh_token and saved.flow == "refresh_token"
    assert "Signed in" in result.get("page", ""), result
    query = token_server.grants()[0].fields  # what the "browser" sent to the authorize endpoint
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256" and query["login_hint"] == "refs"
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert "ssh -L" in "\n".join(printed)
    assert token_status(source).signed_in


def test_a_redirect_with_the_wrong_state_is_refused(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.add_client("app-2")
    config = load_config(write_config(tmp_path, token_server, authorize_url=token_server.authorize_url))
    source = TokenSource.from_config(config)
    assert source is not None

    def say(text: str) -> None:
        for word in text.split():
            if word.startswith("http://127.0.0.1:") and word.endswith("/"):
                forged = word + "?code=stolen&state=forged"
                threading.Thread(target=urllib.request.urlopen, args=(forged,), kwargs={"timeout": 10},
                                 daemon=True).start()

    with pytest.raises(TokenRefused, match="wrong state"):
        browser_login(source, say=say, timeout=20)
    assert token_server.grants("authorization_code") == []  # the forged code was never exchanged


def test_a_refresh_token_from_elsewhere(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.add_client("app-2")
    path = write_config(tmp_path, token_server)
    refresh = token_server.issue_refresh_token("app-2", "refs")
    result = CliRunner().invoke(cli, ["--config", str(path), "oauth", "login", "--refresh-token-stdin"],
                                input=refresh + "\n")
    assert result.exit_code == 0, result.output
    assert refresh not in (tmp_path / "refmail-oauth.json").read_text()  # used, rotated, saved
    bad = CliRunner().invoke(cli, ["--config", str(path), "oauth", "login", "--refresh-token-stdin"],
                             input="rt-nobody-issued\n")
    assert bad.exit_code == 78 and "no longer valid" in bad.output and "Traceback" not in bad.output


def test_login_says_what_to_do_for_flows_without_a_sign_in(token_server: TokenServer, tmp_path: Path) -> None:
    path = write_config(tmp_path, token_server, flow="client_credentials", client_secret_env="X")
    result = CliRunner().invoke(cli, ["--config", str(path), "oauth", "login"])
    assert result.exit_code != 0
    assert 'nothing to sign in with flow = "client_credentials"' in result.output
    assert "refmail check" in result.output


def test_every_command_is_in_the_readme_and_has_an_example() -> None:
    import click

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]

    def walk(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
        found: list[tuple[str, click.Command]] = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += walk(command, f"{prefix}{name} ")
            else:
                found.append((f"{prefix}{name}", command))
        return found

    commands = walk(cli, "refmail ")
    assert ("refmail oauth login" in dict(commands)) and ("refmail oauth status" in dict(commands))
    for name, command in commands:
        assert f"`{name}" in table, f"README's Commands table lacks {name}"
        assert "Example" in (command.help or ""), f"{name} --help has no example"


# -- refmail init: which provider hosts the mailbox ------------------------------------------------
def test_init_for_microsoft_365_writes_the_oauth2_block_and_says_what_the_admin_must_do(
    tmp_path: Path,
) -> None:
    path = tmp_path / "refmail.toml"
    base = ["--config", str(path), "init", "--defaults", "--group-name", "Contoso Circle",
            "--tracking-address", "refs@contoso.example", "--provider", "microsoft365"]
    missing = CliRunner().invoke(cli, base)
    assert missing.exit_code == 1 and "--tenant" in missing.output and "--client-id" in missing.output
    result = CliRunner().invoke(cli, [*base, "--tenant", "contoso.onmicrosoft.com", "--client-id", "abc-123"])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert (config.imap.host, config.imap.port, config.imap.security, config.imap.auth) == (
        "outlook.office365.com", 993, "ssl", "oauth2")
    assert (config.smtp.host, config.smtp.port, config.smtp.security, config.smtp.auth) == (
        "smtp.office365.com", 587, "starttls", "oauth2")
    assert config.imap.username == config.smtp.username == "refs@contoso.example"
    o = config.oauth2
    assert (o.provider, o.flow, o.tenant, o.client_id, o.client_secret_env) == (
        "microsoft", "client_credentials", "contoso.onmicrosoft.com", "abc-123",
        "REFMAIL_OAUTH_CLIENT_SECRET")
    assert "put the client secret in REFMAIL_OAUTH_CLIENT_SECRET" in result.output
    assert "New-ServicePrincipal" in result.output and "password" not in result.output.split("Next:")[1][:40]


def test_init_for_google_asks_the_sign_in_questions_with_presets(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    answers = "\n".join([
        "Harbor", "refs@harbor.example", "Europe/Berlin", "",  # name, address, zone, no admin
        "gmail",               # who hosts it
        "",                    # flow: refresh_token
        "1234.apps.googleusercontent.example",  # client id
        "",                    # client secret variable: the default
        "", "", "", "",        # IMAP host, security, port, username: Gmail's
        "", "", "", "",        # SMTP the same
        "",                    # database
        "",                    # no members
    ]) + "\n"
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input=answers)
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert (config.imap.host, config.smtp.host, config.smtp.port) == ("imap.gmail.com", "smtp.gmail.com", 465)
    assert (config.oauth2.provider, config.oauth2.flow) == ("google", "refresh_token")
    assert config.oauth2.client_secret_env == "REFMAIL_OAUTH_CLIENT_SECRET"
    assert "run `refmail oauth login`" in result.output and "7 days" in result.output


def test_init_for_an_app_password_provider_says_so(tmp_path: Path) -> None:
    path = tmp_path / "refmail.toml"
    result = CliRunner().invoke(cli, ["--config", str(path), "init", "--defaults", "--group-name", "G",
                                      "--tracking-address", "refs@yahoo.example", "--provider", "yahoo"])
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert (config.imap.host, config.imap.auth, config.smtp.host) == (
        "imap.mail.yahoo.com", "password", "smtp.mail.yahoo.com")
    assert "app password" in result.output and "REFMAIL_IMAP_PASSWORD" in result.output
