"""IMAP and SMTP sign-in with OAuth2 through the real test servers.

Dovecot checks each token with its ``oauth2`` passdb (RFC 7662 introspection
against ``tests/tokenserver.py``), the aiosmtpd server with the same endpoint;
refmail gets its tokens from that endpoint too. So a token that the endpoint
forgot, a token for another mailbox and an endpoint that is down all happen
for real, and the response codes refmail decides on are the servers' own.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from tokenserver import OAuthEnv

from refmail.errors import MailboxSignInFailed, MailboxUnavailable, SignInFailed, TransportSignInFailed
from refmail.incoming.login import response_code
from refmail.incoming.mailbox import Mailbox
from refmail.oauth.source import TokenSource
from refmail.outgoing.transport import SmtpTransport, TemporaryFailure

pytestmark = pytest.mark.servers


def intro(n: int = 1) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Mei Chen <mei@chencpa.example>"
    message["To"] = "Tom <tom@beckerroofing.example>, Linda <linda@parkfamily.example>"
    message["Cc"] = "refs@harbornet.example"
    message["Subject"] = f"Intro {n}"
    message["Message-ID"] = f"<oauth-intro-{n}@chencpa.example>"
    message.set_content("Tom, meet Linda. Linda needs a roofer.\n")
    return message


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_imap_and_smtp_sign_in_with_a_client_credentials_token(oauth_env: OAuthEnv, mechanism: str) -> None:
    config = oauth_env.config(mechanism=mechanism)
    tokens = TokenSource.from_config(config)
    assert tokens is not None
    oauth_env.send(intro())
    with Mailbox(config.imap, tokens=tokens) as mailbox:
        fetched = list(mailbox.fetch_new(None))
    assert [b"Intro 1" in item.raw for item in fetched] == [True]
    with SmtpTransport(config.smtp, tokens=tokens) as smtp:
        smtp.send(intro(2).as_bytes(), mail_from="refs@harbornet.example", rcpt_tos=["carl@client.example"])
    assert oauth_env.smtp.messages[-1].login == "refs"
    assert oauth_env.smtp.oauth_logins == [(mechanism.upper(), "refs", True)]
    # One token for both servers: the endpoint was asked once.
    assert len(oauth_env.tokens.grants("client_credentials")) == 1


def test_a_refresh_token_account_signs_in_to_both(oauth_env: OAuthEnv) -> None:
    spent = oauth_env.sign_in()
    config = oauth_env.config("refresh_token")
    tokens = TokenSource.from_config(config)
    assert tokens is not None
    with Mailbox(config.imap, tokens=tokens) as mailbox:
        assert mailbox.select() > 0
    SmtpTransport(config.smtp, tokens=tokens).check()
    saved = oauth_env.token_path.read_text()
    assert spent not in saved  # rotated, and the new one saved


def test_a_saved_token_the_server_refuses_is_replaced_once(oauth_env: OAuthEnv) -> None:
    config = oauth_env.config()
    TokenSource.from_config(config).token()  # type: ignore[union-attr]  # saved in the token file
    oauth_env.tokens.expire_access_tokens()  # revoked early: the servers refuse it now
    tokens = TokenSource.from_config(config)  # a restart: the saved token looks good to refmail
    assert tokens is not None
    with Mailbox(config.imap, tokens=tokens) as mailbox:
        assert mailbox.select() > 0
    assert len(oauth_env.tokens.grants("client_credentials")) == 2
    oauth_env.tokens.expire_access_tokens()
    SmtpTransport(config.smtp, tokens=tokens).check()
    assert [ok for _m, _u, ok in oauth_env.smtp.oauth_logins] == [False, True]


def test_a_new_token_for_another_mailbox_is_a_sign_in_failure_with_what_to_do(oauth_env: OAuthEnv) -> None:
    oauth_env.tokens.add_client("app-3", oauth_env.secret, mailbox="other")  # the app's token opens "other"
    config = oauth_env.config(client_id="app-3")
    tokens = TokenSource.from_config(config)
    assert tokens is not None
    with pytest.raises(MailboxSignInFailed) as caught:
        Mailbox(config.imap, tokens=tokens).connect()
    text = str(caught.value)
    assert "refused the OAuth2 token for refs" in text and "AUTHENTICATIONFAILED" in text
    assert "Add-MailboxPermission" in caught.value.hint and caught.value.code == "AUTHENTICATIONFAILED"
    assert len(oauth_env.tokens.grants()) == 1  # a new token refused: not tried again
    for token in oauth_env.tokens.issued():
        assert token not in text
    with pytest.raises(TransportSignInFailed, match="refused the OAuth2 token for refs") as sent:
        SmtpTransport(config.smtp, tokens=tokens).check()
    assert isinstance(sent.value, SignInFailed) and "535" in str(sent.value)


def test_token_endpoint_down_is_temporary_on_both_sides(oauth_env: OAuthEnv) -> None:
    config = oauth_env.config()
    tokens = TokenSource.from_config(config)
    assert tokens is not None
    tokens.token()
    oauth_env.tokens.halt()
    # refmail still holds a good token, but the servers cannot check it: [UNAVAILABLE] and 454.
    with pytest.raises(MailboxUnavailable, match="cannot check tokens right now") as caught:
        Mailbox(config.imap, tokens=tokens).connect()
    assert caught.value.code == "UNAVAILABLE"
    with pytest.raises(TemporaryFailure, match="454"):
        SmtpTransport(config.smtp, tokens=tokens).check()
    # Without a token at all: no token, temporary too.
    fresh = TokenSource.from_config(oauth_env.config(token_file=str(oauth_env.dir / "other.json")))
    with pytest.raises(MailboxUnavailable, match=r"no OAuth2 token for IMAP .*cannot reach"):
        Mailbox(config.imap, tokens=fresh).connect()
    with pytest.raises(TemporaryFailure, match="no OAuth2 token for SMTP"):
        SmtpTransport(config.smtp, tokens=fresh).check()


def test_smtp_auth_disabled_for_the_mailbox_names_the_exchange_fix(oauth_env: OAuthEnv) -> None:
    oauth_env.smtp.oauth_refusal = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
    )
    config = oauth_env.config()
    with pytest.raises(TransportSignInFailed, match="SMTP AUTH is disabled") as caught:
        SmtpTransport(config.smtp, tokens=TokenSource.from_config(config)).check()
    assert "Set-CASMailbox -Identity refs -SmtpClientAuthenticationDisabled $false" in caught.value.hint


def test_a_revoked_sign_in_is_a_sign_in_failure_on_both_sides(oauth_env: OAuthEnv) -> None:
    oauth_env.sign_in()
    oauth_env.tokens.revoke()
    config = oauth_env.config("refresh_token")
    tokens = TokenSource.from_config(config)
    with pytest.raises(MailboxSignInFailed, match="IMAP sign-in for refs: the saved OAuth2") as caught:
        Mailbox(config.imap, tokens=tokens).connect()
    assert "refmail oauth login" in caught.value.hint
    with pytest.raises(TransportSignInFailed, match="SMTP sign-in for refs"):
        SmtpTransport(config.smtp, tokens=tokens).check()


def test_passwords_still_work_beside_oauth(mail_env: object) -> None:
    settings = mail_env.imap_settings()  # type: ignore[attr-defined]
    with Mailbox(settings) as mailbox:
        assert mailbox.select() > 0


def test_response_codes() -> None:
    assert response_code("[UNAVAILABLE] Temporary authentication failure.") == "UNAVAILABLE"
    assert response_code("[AUTHENTICATIONFAILED] Authentication failed.") == "AUTHENTICATIONFAILED"
    assert response_code("Login failed.") is None


# No quiet hours: the acknowledgement must leave whatever the wall clock says.
MEMBERS = """
[timing]
quiet_hours = ""

[[members]]
name = "Mei Chen"
email = "mei@chencpa.example"
business = "CPA for small businesses"

[[members]]
name = "Tom Becker"
email = "tom@beckerroofing.example"
business = "Residential roofing"
"""


def test_a_daemon_cycle_reads_and_answers_over_xoauth2(oauth_env: OAuthEnv) -> None:
    from refmail.daemon import Daemon
    from refmail.storage.store import Store

    config = oauth_env.config(extra=MEMBERS)
    oauth_env.send(intro())
    store = Store.open(config.database_path())
    try:
        report = Daemon(config, store).cycle()
    finally:
        store.close()
    assert report.outcomes["created"] == 1, report.summary()
    assert report.delivery is not None and report.delivery.sent >= 1
    assert oauth_env.smtp.sent_to("mei@chencpa.example"), "the referrer's acknowledgement"


def test_check_signs_in_to_both_servers_with_the_token(oauth_env: OAuthEnv) -> None:
    from refmail.admin.checkup import run_checks

    config = oauth_env.config()
    checkup = run_checks(config.source, wait=0.5)
    assert checkup.ok, [r.line() for r in checkup.results]
    oauth_env.tokens.add_client("app-3", oauth_env.secret, mailbox="other")
    config = oauth_env.config(client_id="app-3")
    failed = {r.name: r for r in run_checks(config.source, wait=0.5).results}
    assert failed["IMAP"].problem == "oauth" and "Add-MailboxPermission" in failed["IMAP"].hints[0]
    assert failed["SMTP"].problem == "oauth"


def test_check_shows_the_token_line_and_what_to_do_when_there_is_none(oauth_env: OAuthEnv) -> None:
    from click.testing import CliRunner

    from refmail.cli import cli

    config = oauth_env.config("refresh_token")
    result = CliRunner().invoke(cli, ["--config", str(config.source), "check"])
    assert result.exit_code == 1
    assert "OAuth2 microsoft (refresh_token): no saved OAuth2 sign-in for refs" in result.output
    assert "run `refmail oauth login`" in result.output
    assert "IMAP" in result.output and "not tried: no OAuth2 token (see above)" in result.output
    oauth_env.sign_in()
    result = CliRunner().invoke(cli, ["--config", str(config.source), "check"])
    assert result.exit_code == 0, result.output
    assert "OAuth2 microsoft (refresh_token) — a token for refs (renewed in" in result.output
    for secret in oauth_env.tokens.issued("access") + oauth_env.tokens.issued("refresh"):
        assert secret not in result.output
