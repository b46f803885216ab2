"""``refmail oauth login`` and ``refmail oauth status``: a thin layer over :mod:`refmail.oauth.signin`."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from refmail.cli.commands import _config, _friendly, cli

if TYPE_CHECKING:
    from refmail.oauth.source import TokenSource

__all__ = ["oauth"]


def _source(ctx: click.Context) -> TokenSource:
    from refmail.oauth.source import TokenSource

    config = _config(ctx)
    source = TokenSource(config.oauth2, account=config.oauth2_account or config.imap.username,
                         token_path=config.oauth2_token_path(), config_source=config.source)
    if not source.account:
        raise click.ClickException("no mailbox to sign in as: set [imap] username to its address")
    if not config.uses_oauth2:
        click.echo('Note: neither [imap] auth nor [smtp] auth is "oauth2" yet; set them to use this sign-in.',
                   err=True)
    return source


def _when(stamp: float | None, now: float) -> str:
    if stamp is None:
        return "unknown"
    moment = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    delta = stamp - now
    minutes = abs(delta) / 60
    span = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.0f} h" if minutes < 2880 \
        else f"{minutes / 1440:.0f} days"
    return f"{moment} ({'in ' + span if delta >= 0 else span + ' ago'})"


@cli.group()
def oauth() -> None:
    """Sign in to the mailbox with OAuth2 (Microsoft 365, Outlook.com, Google).

    \b
    Examples:
        refmail oauth login
        refmail oauth status
    """


@oauth.command()
@click.option("--device", "method", flag_value="device",
              help="Sign in with a code on any device (Microsoft).")
@click.option("--browser", "method", flag_value="browser",
              help="Sign in in a browser that reaches this machine (Google; Microsoft too).")
@click.option("--port", type=int, default=0, show_default="any free port",
              help="--browser: the local port the browser comes back to (for ssh -L).")
@click.option("--open/--no-open", "open_it", default=False,
              help="--browser: open the address in a browser here.")
@click.option("--refresh-token-stdin", is_flag=True,
              help="Save a refresh token obtained with another tool, read from standard input.")
@click.pass_context
@_friendly
def login(
    ctx: click.Context, method: str | None, port: int, open_it: bool, refresh_token_stdin: bool
) -> None:
    """Sign in once for flow = "refresh_token", and save the sign-in in token_file.

    Run it as the user the daemon runs as (the token file must be theirs).
    Microsoft prints an address and a code to enter on any device; Google
    prints an address to open in a browser that can reach this machine (on a
    server: `ssh -L PORT:127.0.0.1:PORT server` from your computer, with
    --port PORT). Afterwards `refmail check` signs in with it, and a daemon
    that stopped on a revoked sign-in can be started again.

    \b
    Examples:
        refmail oauth login
        refmail oauth login --browser --port 8765
        refmail oauth login --refresh-token-stdin < refresh-token.txt
    """
    from refmail.oauth.signin import browser_login, default_method, device_login, import_refresh_token

    source = _source(ctx)
    if refresh_token_stdin:
        import_refresh_token(source, sys.stdin.readline())
    else:
        chosen = method or default_method(source)
        if chosen == "device":
            device_login(source, say=click.echo)
        else:
            opener = None
            if open_it:
                import webbrowser

                opener = webbrowser.open
            browser_login(source, say=click.echo, port=port, open_browser=opener)
    assert source.file is not None
    click.echo(f"Signed in as {source.account}; saved in {source.file.path} (readable by you only).")
    click.echo("Next: `refmail check` signs in to both servers with it.")


@oauth.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@_friendly
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the OAuth2 sign-in: account, scopes, when the token expires and was refreshed.

    Reads the token file only: nothing is requested from the provider.
    Exit status 1 when there is no usable sign-in.

    \b
    Examples:
        refmail oauth status
        refmail oauth status --json
    """
    from refmail.oauth.signin import token_status

    found = token_status(_source(ctx))
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
    else:
        now = time.time()
        rows = [
            ("Account", found.account),
            ("Provider", f"{found.provider}, flow {found.flow}"
             + (f", app {found.client_id}" if found.client_id else "")),
        ]
        if found.path is not None:
            rows.append(("Token file", f"{found.path} ("
                         + ("owner only" if found.owner_only else "READABLE BY OTHERS: chmod 600 it") + ")"))
        rows.append(("Scopes", " ".join(found.scopes) or "(none)"))
        if found.expires_at is not None or found.refreshed_at is not None:
            expired = found.expires_at is not None and found.expires_at < now
            rows.append(("Access token",
                         ("expired " if expired else "expires ") + _when(found.expires_at, now)))
            rows.append(("Last refreshed", _when(found.refreshed_at, now)))
        if found.signed_in_at is not None:
            rows.append(("Signed in", _when(found.signed_in_at, now)))
        if found.note:
            rows.append(("Note", found.note))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            click.echo(f"{key + ':':<{width + 1}} {value}")
    ctx.exit(0 if found.signed_in and not found.note else 1)
