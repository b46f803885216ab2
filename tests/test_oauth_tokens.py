"""The [oauth2] config and the token source, against a real token endpoint on 127.0.0.1.

Every flow goes through real HTTP to ``tests/tokenserver.py``: tokens that
rotate, expire and get revoked, an endpoint that fails, hangs or is down. The
source's own clock is a hand-moved one where the test is about *when* it
renews, so nothing here sleeps for a token to age.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tokenserver import TENANT, TokenServer

from refmail.config import OAuth2Settings, config_from_dict
from refmail.errors import ConfigError, SignInFailed, TokenRefused, TokenUnavailable
from refmail.oauth.endpoint import EndpointRefusal, explain
from refmail.oauth.redaction import MASK, RedactingFilter, remember, scrub
from refmail.oauth.sasl import choose_mechanism, error_challenge, initial_response, responder
from refmail.oauth.source import REFRESH_MARGIN, AccessToken, TokenSource, refresh_margin
from refmail.oauth.token_file import SavedTokens, TokenFile

SECRET_ENV = "REFMAIL_TEST_OAUTH_SECRET"
SECRET = "app-secret-Zq81x"


class Clock:
    """A wall clock the test moves by hand (the token server keeps real time)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def base_config(**oauth2: Any) -> dict[str, Any]:
    return {
        "group": {"name": "G", "tracking_address": "refs@group.example"},
        "imap": {"host": "127.0.0.1", "security": "none", "username": "refs", "auth": "oauth2"},
        "smtp": {"host": "127.0.0.1", "security": "none", "username": "refs", "auth": "oauth2"},
        "oauth2": oauth2,
    }


def source_for(server: TokenServer, tmp_path: Path, *, flow: str = "client_credentials",
               provider: str = "microsoft", clock: Clock | None = None, **extra: Any) -> TokenSource:
    values: dict[str, Any] = {"provider": provider, "flow": flow, "tenant": TENANT,
                              "client_id": "app-1", "token_url": server.token_url, "timeout": "2s"}
    if flow == "client_credentials":
        values["client_secret_env"] = SECRET_ENV
    values.update(extra)
    settings = OAuth2Settings(**values)
    return TokenSource(settings, account="refs", token_path=tmp_path / "tokens.json",
                       clock=clock or Clock())


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def signed_in(server: TokenServer, tmp_path: Path, *, provider: str = "microsoft") -> Path:
    """A token file as `refmail oauth login` leaves it, with a refresh token the server knows."""
    server.add_client("app-1")
    path = tmp_path / "tokens.json"
    TokenFile(path).write(SavedTokens(account="refs", provider=provider, flow="refresh_token",
                                      client_id="app-1",
                                      refresh_token=server.issue_refresh_token("app-1", "refs")))
    return path


# -- the config ------------------------------------------------------------------------------
def test_an_unused_oauth2_section_loads_and_a_used_one_must_be_complete() -> None:
    unused = base_config(provider="microsoft", flow="client_credentials")
    unused["imap"]["auth"] = unused["smtp"]["auth"] = "password"
    assert config_from_dict(unused).oauth2.provider == "microsoft"
    with pytest.raises(ConfigError, match=r"oauth2\.client_id: the application \(client\) id"):
        config_from_dict(base_config(provider="microsoft", flow="client_credentials"))
    with pytest.raises(ConfigError, match=r"oauth2\.tenant: app-only access needs your tenant"):
        config_from_dict(base_config(provider="microsoft", flow="client_credentials", client_id="x",
                                     client_secret_env="S"))
    with pytest.raises(ConfigError, match="Google offers no client_credentials"):
        config_from_dict(base_config(provider="google", flow="client_credentials", client_id="x"))
    with pytest.raises(ConfigError, match=r"oauth2\.token_url: provider = \"generic\" needs"):
        config_from_dict(base_config(client_id="x"))
    with pytest.raises(ConfigError, match=r"oauth2\.token_command"):
        config_from_dict(base_config(flow="command"))
    no_user = base_config(flow="command", token_command=["t"])
    no_user["imap"]["username"] = ""
    with pytest.raises(ConfigError, match=r"imap\.username: auth = \"oauth2\" signs in as a mailbox"):
        config_from_dict(no_user)


@pytest.mark.parametrize("key", ["token_url", "authorize_url", "device_url"])
def test_token_endpoints_are_https_except_on_loopback(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"oauth2\.{key}: .*must use https://"):
        config_from_dict(base_config(client_id="x", **{key: "http://login.example.com/token"}))
    ok = config_from_dict(base_config(client_id="x", **{"token_url": "http://127.0.0.1:9/t",
                                                        key: "http://127.0.0.1:9/x"}))
    assert getattr(ok.oauth2, key) == "http://127.0.0.1:9/x"


def test_presets_fill_endpoints_and_scopes_and_overrides_win() -> None:
    ms = OAuth2Settings(provider="microsoft", flow="client_credentials", tenant="contoso.example")
    assert ms.effective_token_url == "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    assert ms.effective_scopes == ("https://outlook.office365.com/.default",)
    delegated = OAuth2Settings(provider="microsoft", tenant="consumers")
    assert "offline_access" in delegated.effective_scopes
    assert delegated.effective_device_url.endswith("/consumers/oauth2/v2.0/devicecode")
    assert OAuth2Settings(provider="microsoft").effective_token_url.count("/common/") == 1
    google = OAuth2Settings(provider="google", scopes=["x"], token_url="http://127.0.0.1/t")
    assert (google.effective_scopes, google.effective_token_url) == (("x",), "http://127.0.0.1/t")
    assert OAuth2Settings(token_command="oama access 'a b'").token_command == ["oama", "access", "a b"]


def test_token_file_defaults_beside_the_database(tmp_path: Path) -> None:
    data = base_config(flow="command", token_command=["t"])
    data["storage"] = {"database": "/var/lib/refmail/refmail.db"}
    assert config_from_dict(data).oauth2_token_path() == Path("/var/lib/refmail/refmail-oauth.json")
    data["oauth2"]["token_file"] = "tokens/t.json"
    config = config_from_dict(data, path=tmp_path / "refmail.toml")
    assert config.oauth2_token_path() == tmp_path / "tokens" / "t.json"


# -- client credentials ----------------------------------------------------------------------
def test_client_credentials_token_is_cached_and_renewed_within_the_margin(
    token_server: TokenServer, tmp_path: Path
) -> None:
    token_server.add_client("app-1", SECRET, mailbox="refs")
    clock = Clock()
    source = source_for(token_server, tmp_path, clock=clock)
    first = source.token()
    assert first.new and token_server.introspect(first.value) == "refs"
    assert source.token().value == first.value  # cached: no second request
    assert len(token_server.grants("client_credentials")) == 1
    clock.now += 3600 - REFRESH_MARGIN - 1
    assert source.token().value == first.value  # still outside the margin
    clock.now += 2
    second = source.token()
    assert second.value != first.value and second.new
    assert len(token_server.grants("client_credentials")) == 2
    assert token_server.grants()[0].fields["scope"] == "https://outlook.office365.com/.default"


def test_a_short_token_is_renewed_at_a_fifth_of_its_life() -> None:
    assert refresh_margin(3600) == REFRESH_MARGIN
    assert refresh_margin(10) == 2
    token = AccessToken("at-QQ7", expires_at=110.0, issued_at=100.0)
    assert token.renew_at() == 108.0 and token.fresh(107.9) and not token.fresh(108.0)
    assert "QQ7" not in repr(token)


def test_a_restart_reuses_the_saved_token(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.add_client("app-1", SECRET, mailbox="refs")
    first = source_for(token_server, tmp_path).token()
    again = source_for(token_server, tmp_path).token()
    assert again.value == first.value and not again.new
    assert len(token_server.grants()) == 1


def test_wrong_client_secret_is_permanent_with_a_hint_and_no_secret_in_it(
    token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_server.add_client("app-1", "the-right-one", mailbox="refs")
    source = source_for(token_server, tmp_path)
    with pytest.raises(TokenRefused) as caught:
        source.token()
    text = str(caught.value)
    assert "AADSTS7000215" in text and f"${SECRET_ENV}" in text and "expire" in text
    assert SECRET not in text
    assert isinstance(caught.value, SignInFailed)
    with pytest.raises(TokenRefused):
        source.token()
    assert len(token_server.grants()) == 1  # remembered: not asked again


def test_endpoint_down_then_back_backs_off_and_keeps_a_valid_token(
    token_server: TokenServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_server.add_client("app-1", SECRET, mailbox="refs")
    clock = Clock()
    source = source_for(token_server, tmp_path, clock=clock)
    held = source.token()
    clock.now += 3600 - 60  # inside the margin: time to renew
    token_server.halt()
    with caplog.at_level(logging.WARNING, logger="refmail.oauth"):
        assert source.token().value == held.value  # still valid: handed out, one warning
        assert source.token().value == held.value
    assert len([r for r in caplog.records if "cannot renew" in r.getMessage()]) == 1
    clock.now += 3600  # expired now, endpoint still down
    with pytest.raises(TokenUnavailable, match=r"cannot reach the token endpoint 127\.0\.0\.1:.*refused"):
        source.token()
    token_server.start()
    token_server.fail(500, count=1)
    clock.now += 1000  # past every back-off
    with pytest.raises(TokenUnavailable, match="HTTP 500"):
        source.token()
    with pytest.raises(TokenUnavailable):  # within the back-off: no request at all
        source.token()
    assert len(token_server.grants()) == 2  # the first token, and the 500
    clock.now += 10
    assert source.token().new


def test_a_slow_endpoint_times_out_as_temporary(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.add_client("app-1", SECRET, mailbox="refs")
    token_server.delay = 1.5
    source = source_for(token_server, tmp_path, timeout="0.3s")
    with pytest.raises(TokenUnavailable, match=r"did not answer within 0\.3s|timed out"):
        source.token()


def test_a_wrong_url_is_permanent(token_server: TokenServer, tmp_path: Path) -> None:
    source = source_for(token_server, tmp_path, token_url=token_server.url("/nothing-here"))
    with pytest.raises(TokenRefused, match=r"HTTP 404 .*check token_url"):
        source.token()


# -- refresh tokens ----------------------------------------------------------------------------
def test_rotated_refresh_token_is_saved_and_survives_a_restart(
    token_server: TokenServer, tmp_path: Path
) -> None:
    path = signed_in(token_server, tmp_path)
    spent = TokenFile(path).read()
    assert spent is not None and spent.refresh_token
    clock = Clock()
    token = source_for(token_server, tmp_path, flow="refresh_token", clock=clock).token()
    saved = TokenFile(path).read()
    assert saved is not None and saved.refresh_token not in (None, spent.refresh_token)
    assert saved.access_token == token.value and saved.refreshed_at == pytest.approx(clock.now, abs=1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert "scope" in token_server.grants("refresh_token")[0].fields  # Microsoft wants them again
    # A restart long after: the saved (rotated) refresh token still works, the spent one would not.
    later = Clock()
    later.now += 7200
    renewed = source_for(token_server, tmp_path, flow="refresh_token", clock=later).token()
    assert renewed.new and token_server.introspect(renewed.value) == "refs"
    assert len(token_server.grants("refresh_token")) == 2


def test_revoked_sign_in_says_run_oauth_login_and_retries_once_the_file_changes(
    token_server: TokenServer, tmp_path: Path
) -> None:
    path = signed_in(token_server, tmp_path)
    token_server.revoke("refs")
    source = source_for(token_server, tmp_path, flow="refresh_token")
    with pytest.raises(TokenRefused) as caught:
        source.token()
    assert "no longer valid" in str(caught.value) and "AADSTS70008" in str(caught.value)
    assert "`refmail oauth login`" in caught.value.hint
    with pytest.raises(TokenRefused):
        source.token()
    assert len(token_server.grants()) == 1
    # `refmail oauth login` writes a new sign-in: the same source uses it.
    TokenFile(path).write(SavedTokens(account="refs", provider="microsoft", flow="refresh_token",
                                      client_id="app-1",
                                      refresh_token=token_server.issue_refresh_token("app-1", "refs")))
    assert source.token().new


def test_no_sign_in_yet(token_server: TokenServer, tmp_path: Path) -> None:
    with pytest.raises(TokenRefused, match="no saved OAuth2 sign-in for refs") as caught:
        source_for(token_server, tmp_path, flow="refresh_token").token()
    assert "refmail oauth login" in caught.value.hint


def test_google_revocation_names_the_seven_day_testing_trap(
    token_server: TokenServer, tmp_path: Path
) -> None:
    signed_in(token_server, tmp_path, provider="google")
    token_server.fail(400, "invalid_grant", "Token has been expired or revoked.")
    source = source_for(token_server, tmp_path, flow="refresh_token", provider="google",
                        client_secret_env=SECRET_ENV)
    with pytest.raises(TokenRefused, match="Token has been expired or revoked") as caught:
        source.token()
    assert '"Testing"' in caught.value.hint and "7 days" in caught.value.hint
    assert "scope" not in token_server.grants()[0].fields


def test_two_processes_refreshing_at_once_spend_the_rotating_token_once(
    token_server: TokenServer, tmp_path: Path
) -> None:
    signed_in(token_server, tmp_path)
    token_server.delay = 0.2  # both are waiting on the endpoint at the same time
    results: list[str] = []
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            results.append(source_for(token_server, tmp_path, flow="refresh_token").token().value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(set(results)) == 1  # the second found the first one's token under the lock
    assert len(token_server.grants("refresh_token")) == 1


def test_a_token_file_of_another_account_is_refused(token_server: TokenServer, tmp_path: Path) -> None:
    signed_in(token_server, tmp_path)
    settings = OAuth2Settings(provider="microsoft", client_id="app-1", token_url=token_server.token_url)
    source = TokenSource(settings, account="other@group.example", token_path=tmp_path / "tokens.json")
    with pytest.raises(TokenRefused, match="holds a sign-in for refs"):
        source.token()


def test_a_damaged_token_file(tmp_path: Path, token_server: TokenServer) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    with pytest.raises(TokenRefused, match="damaged") as caught:
        source_for(token_server, tmp_path, flow="refresh_token").token()
    assert "refmail oauth login" in caught.value.hint


def test_refused_token_is_never_handed_out_again(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.add_client("app-1", SECRET, mailbox="refs")
    source = source_for(token_server, tmp_path)
    first = source.token()
    source.refused(first)
    second = source.token()
    assert second.value != first.value and second.new
    # Not from the file either (a restarted process reading it would be refused again).
    source.refused(second)
    assert source.token().value not in (first.value, second.value)


# -- service accounts and commands --------------------------------------------------------------
def test_google_service_account_signs_a_jwt_grant_for_the_mailbox(
    token_server: TokenServer, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    email = "refmail@harbornet-project.iam.gserviceaccount.example"
    token_server.add_service_account(email, public)
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({"type": "service_account", "client_email": email, "private_key": pem,
                                    "private_key_id": "k1", "token_uri": token_server.token_url}))
    settings = OAuth2Settings(provider="google", flow="service_account", service_account_file=str(key_file),
                              token_url=token_server.token_url)
    source = TokenSource(settings, account="refs", token_path=tmp_path / "tokens.json")
    token = source.token()
    assert token_server.introspect(token.value) == "refs"
    assert token_server.grants()[0].fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # Another key for the same account is refused (the signature is really checked).
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_server.add_service_account(email, other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "tokens.json").unlink()
    with pytest.raises(TokenRefused, match="bad assertion"):
        TokenSource(settings, account="refs", token_path=tmp_path / "tokens.json").token()


def _helper(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "helper.py"
    script.write_text(f"import sys\n{body}\n")
    return [sys.executable, str(script)]


def test_token_command_prints_a_token_or_json(tmp_path: Path) -> None:
    plain = OAuth2Settings(flow="command", token_command=_helper(tmp_path, "print('tok-abcdef123')"))
    token = TokenSource(plain, account="refs", token_path=None).token()
    assert token.value == "tok-abcdef123" and token.expires_at is None
    js = OAuth2Settings(flow="command", token_command=_helper(
        tmp_path, "print('{\"access_token\": \"tok-json-1234\", \"expires_in\": 3599}')"))
    token = TokenSource(js, account="refs", token_path=None).token()
    assert token.value == "tok-json-1234" and token.lifetime == pytest.approx(3599, abs=1)


def test_token_command_failures(tmp_path: Path) -> None:
    failing = OAuth2Settings(flow="command", token_command=_helper(
        tmp_path, "sys.stderr.write('network unreachable\\n'); sys.exit(3)"))
    with pytest.raises(TokenUnavailable, match=r"failed \(exit status 3\): network unreachable"):
        TokenSource(failing, account="refs", token_path=None).token()
    missing = OAuth2Settings(flow="command", token_command=["/nonexistent/oama", "access"])
    with pytest.raises(TokenRefused, match="no such program '/nonexistent/oama'"):
        TokenSource(missing, account="refs", token_path=None).token()
    slow = OAuth2Settings(flow="command", timeout="0.3s", token_command=_helper(
        tmp_path, "import time; time.sleep(5)"))
    with pytest.raises(TokenUnavailable, match=r"no token within 0\.3s"):
        TokenSource(slow, account="refs", token_path=None).token()


# -- pure parts: what refusals mean, SASL, redaction ---------------------------------------------
@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        ("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.",
         "not used for 90 days"),
        ("invalid_grant", "AADSTS50173: The provided grant has expired due to it being revoked.", "password"),
        ("invalid_client", "AADSTS7000222: The provided client secret keys are expired.", "has expired"),
        ("invalid_client", "AADSTS7000218: must contain 'client_assertion' or 'client_secret'",
         "Allow public client flows"),
        ("invalid_grant", "AADSTS65001: The user or administrator has not consented", "Grant admin consent"),
        ("temporarily_unavailable", "", "unavailable"),
    ],
)
def test_each_refusal_names_its_cause_and_what_to_do(error: str, description: str, expected: str) -> None:
    found = explain(EndpointRefusal(400, error, description), account="refs@group.example",
                    provider="microsoft", flow="refresh_token", secret_env="S")
    if error == "temporarily_unavailable":
        assert isinstance(found, TokenUnavailable)
    else:
        assert isinstance(found, TokenRefused)
    assert expected in str(found)


def test_sasl_strings_and_mechanism_choice() -> None:
    xoauth2 = initial_response("XOAUTH2", "refs@g.example", "T0ken")
    assert xoauth2 == "user=refs@g.example\x01auth=Bearer T0ken\x01\x01"
    assert initial_response("OAUTHBEARER", "a,b=c", "T0ken") == "n,a=a=2Cb=3Dc,\x01auth=Bearer T0ken\x01\x01"
    assert choose_mechanism("auto", ["PLAIN", "XOAUTH2", "OAUTHBEARER"]) == "XOAUTH2"
    assert choose_mechanism("auto", ["OAUTHBEARER"]) == "OAUTHBEARER"
    assert choose_mechanism("auto", []) == "XOAUTH2"
    assert choose_mechanism("oauthbearer", ["XOAUTH2"]) == "OAUTHBEARER"
    errors: list[dict[str, str]] = []
    answer = responder("OAUTHBEARER", "refs", "T0ken", errors)
    assert answer(b"").startswith("n,a=refs,")
    assert answer(b'{"status":"invalid_token","scope":"mail"}') == "\x01"
    assert errors == [{"status": "invalid_token", "scope": "mail"}]
    assert error_challenge("eyJzdGF0dXMiOiI0MDEifQ==") == {"status": "401"}
    assert error_challenge(b"not json") is None


def test_remembered_secrets_are_masked_in_log_records_and_text() -> None:
    remember("sekrit-token-value-42")
    assert scrub("a sekrit-token-value-42 b") == f"a {MASK} b"
    record = logging.LogRecord("imapclient.imaplib", logging.DEBUG, __file__, 1,
                               "> b'%s'", ("AUTH sekrit-token-value-42",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"> b'AUTH {MASK}'"
    remember("abc")  # too short to be a secret: ordinary words stay intact
    assert scrub("abc") == "abc"


def test_the_cli_masks_secrets_in_every_log_handler(caplog: pytest.LogCaptureFixture) -> None:
    from refmail.cli.commands import _setup_logging

    remember("client-secret-Kx81-do-not-log")
    _setup_logging(2, False)
    try:
        with caplog.at_level(logging.DEBUG, logger="imapclient.imaplib"):
            logging.getLogger("imapclient.imaplib").debug("> b'A1 AUTH client-secret-Kx81-do-not-log'")
        assert "A1 AUTH ***" in caplog.text
        assert "client-secret-Kx81-do-not-log" not in caplog.text
    finally:
        for handler in logging.getLogger().handlers:
            for found in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(found)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, like `sudo refmail oauth login`")
def test_written_as_root_the_files_belong_to_the_daemons_directory_owner(tmp_path: Path) -> None:
    directory = tmp_path / "var-lib-refmail"
    directory.mkdir(mode=0o700)
    os.chown(directory, 5000, 5000)
    token_file = TokenFile(directory / "refmail-oauth.json")
    with token_file.locked():
        token_file.write(SavedTokens(account="refs", provider="microsoft", flow="refresh_token",
                                     refresh_token="rt-owned-by-the-daemon"))
    for path in (token_file.path, token_file.lock_path):
        info = path.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (5000, 5000, 0o600), path
