"""Shared pytest fixtures: real Dovecot and SMTP servers on 127.0.0.1.

Fixtures (all stop exactly what they started, even when the test fails):

- ``dovecot`` (session): one Dovecot with user ``refs`` / ``refs-secret``.
  Tests may stop or restart it; the next test using ``mail_env`` or
  ``clean_dovecot`` starts it again if needed.
- ``clean_dovecot`` (function): the session Dovecot, running, with ``refs``'s
  INBOX emptied (other folders deleted) — an isolated mailbox per test.
- ``private_dovecot`` (function): a Dovecot of the test's own, for tests that
  restart it, change UIDVALIDITY or stop it (users ``refs`` and ``other``).
- ``smtp_server`` (function): an SMTP server delivering to ``clean_dovecot``.
- ``token_server`` (function): the session's OAuth2 token endpoint on 127.0.0.1
  (``tests/tokenserver.py``), running, with no clients, tokens or faults.
- ``oauth_env`` (function): ``mail_env``'s servers signing in with OAuth2: the
  session Dovecot (its ``oauth2`` passdb), an SMTP server offering only
  XOAUTH2/OAUTHBEARER, and ``token_server`` with app-only client ``app-1``
  (mailbox ``refs``) and public client ``app-2``; see ``OAuthEnv``.
- ``mail_env`` (function): both of the above plus helpers, with
  ``$REFMAIL_TEST_IMAP_PASSWORD`` set to ``refs``'s password::

      @pytest.mark.servers
      def test_intro_is_tracked(mail_env):
          mail_env.send(raw, "tom@beckerroofing.example", ["refs@group.example"])
          settings = mail_env.imap_settings()          # refmail.config.ImapSettings
          ...                                          # run refmail against it
          assert mail_env.smtp.sent_to("tom@beckerroofing.example")

Tests that use any of these should carry the ``servers`` marker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# mailservers.py sits beside this file; make it importable even if tests/
# later becomes a package (pytest then stops adding this directory itself).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailservers import Dovecot, MailEnv, SmtpServer
from tokenserver import OAuthEnv, TokenServer

# Hypothesis profiles: "ci" (the default) keeps the property tests that do not set
# their own max_examples (tests/test_fuzz.py) bounded for `make test`; "long" is
# for an on-demand run: HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_fuzz.py
# No deadline in either: the inputs are bounded, timing on a shared CI machine is not.
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("long", max_examples=20_000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TRACKER_USER = "refs"
TRACKER_PASSWORD = "refs-secret"
PASSWORD_ENV = "REFMAIL_TEST_IMAP_PASSWORD"


@pytest.fixture(scope="session")
def session_token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    try:
        server.start()
        yield server
    finally:
        server.halt()


@pytest.fixture
def token_server(session_token_server: TokenServer) -> Iterator[TokenServer]:
    """The session's token endpoint, running and forgetting everything earlier tests did."""
    server = session_token_server
    server.start()
    server.reset()
    try:
        yield server
    finally:
        server.start()  # a test may have halted it
        server.reset()


@pytest.fixture(scope="session")
def dovecot(session_token_server: TokenServer) -> Iterator[Dovecot]:
    # XOAUTH2/OAUTHBEARER beside LOGIN: tokens are checked with the token server.
    server = Dovecot(users={TRACKER_USER: TRACKER_PASSWORD}, oauth2=session_token_server.introspection_url)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_dovecot(dovecot: Dovecot) -> Dovecot:
    """The session Dovecot, running, with an empty tracking INBOX."""
    if not dovecot.running:
        dovecot.start()
    dovecot.empty(TRACKER_USER)
    return dovecot


@pytest.fixture
def private_dovecot() -> Iterator[Dovecot]:
    """A Dovecot only this test uses: safe to restart, stop or corrupt."""
    server = Dovecot(users={TRACKER_USER: TRACKER_PASSWORD, "other": "other-secret"})
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(clean_dovecot: Dovecot) -> Iterator[SmtpServer]:
    server = SmtpServer(clean_dovecot)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_env(
    clean_dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> MailEnv:
    monkeypatch.setenv(PASSWORD_ENV, TRACKER_PASSWORD)
    return MailEnv(
        dovecot=clean_dovecot,
        smtp=smtp_server,
        user=TRACKER_USER,
        password=TRACKER_PASSWORD,
        password_env=PASSWORD_ENV,
    )


@pytest.fixture
def oauth_env(
    mail_env: MailEnv, token_server: TokenServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[OAuthEnv]:
    server = SmtpServer(mail_env.dovecot, oauth=token_server)
    server.start()
    env = OAuthEnv.prepare(mail_env, server, token_server, tmp_path, monkeypatch)
    try:
        yield env
    finally:
        server.stop()
