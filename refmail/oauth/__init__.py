"""OAuth2 sign-in for IMAP and SMTP: the token source both servers share.

I/O at the edge, below the mail stages that use it (:mod:`refmail.incoming`,
:mod:`refmail.outgoing`): the token endpoint (:mod:`~refmail.oauth.endpoint`),
the token file (:mod:`~refmail.oauth.token_file`), the source that keeps a
token good for months (:mod:`~refmail.oauth.source`), the SASL strings
(:mod:`~refmail.oauth.sasl`), keeping secrets out of logs
(:mod:`~refmail.oauth.redaction`) and the one-time sign-in of ``refmail oauth
login`` (:mod:`~refmail.oauth.signin`).
"""

from __future__ import annotations

from refmail.oauth.source import REFRESH_MARGIN, AccessToken, TokenSource, refresh_margin

__all__ = ["REFRESH_MARGIN", "AccessToken", "TokenSource", "refresh_margin"]
