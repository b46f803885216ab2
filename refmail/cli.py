"""The ``refmail`` command: a thin layer over the library.

Each command loads what it needs, calls the library and prints; expected
failures (:class:`~refmail.errors.RefmailError`) become one ``Error:`` line via
:class:`click.ClickException`, never a traceback. Heavy modules are imported
inside the commands so ``refmail --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import RefmailError

if TYPE_CHECKING:
    from .config import Config
    from .store import Store

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn :class:`RefmailError` into a one-line :class:`click.ClickException`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RefmailError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    from .config import load_config

    obj = ctx.ensure_object(dict)
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    config: Config = obj["config"]
    return config


def _store(ctx: click.Context) -> Store:
    from .store import Store

    return Store.open(_config(ctx).database_path())


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose < 2:
        # imapclient logs protocol lines (credentials included) at DEBUG.
        logging.getLogger("imapclient").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refmail")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="REFMAIL_CONFIG",
    help="Config file (default: $REFMAIL_CONFIG, else ./config/refmail.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """refmail keeps business referrals alive.

    Networkers copy the group's tracking address on introductions; refmail
    reads that inbox, tracks each referral and follows up by email.

    \b
    Try it with no mail server and no config:
        refmail demo
    """
    ctx.ensure_object(dict)["config_path"] = config_path
    _setup_logging(verbose, quiet)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the SPEC's JSON object.")
@click.pass_context
@_friendly
def parse(ctx: click.Context, file: str, as_json: bool) -> None:
    """Classify one raw message, touching neither the database nor the network.

    \b
    Example:
        refmail parse intro.eml --json
    """
    from .classifier import classify

    raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    verdict = classify(raw, _config(ctx))
    data = verdict.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in data)
    for key, value in data.items():
        if value in (None, [], "", False):
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value, ensure_ascii=False)
        click.echo(f"{key.rjust(width)}  {value}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
@_friendly
def import_(ctx: click.Context, paths: tuple[str, ...], progress: bool | None) -> None:
    """Track .eml files, mbox files or Maildirs exactly as the daemon would.

    No mail is sent for imported referrals. Importing the same mail twice
    changes nothing.

    \b
    Examples:
        refmail import archive.mbox
        refmail import ~/Maildir/.Referrals intro1.eml intro2.eml
    """
    from .sources import iter_messages, open_sources
    from .tracker import Tracker

    sources = open_sources(paths)
    store = _store(ctx)
    tracker = Tracker(_config(ctx), store)
    counts: dict[str, int] = {}
    show = sys.stderr.isatty() if progress is None else progress
    try:
        messages: Iterator[tuple[str, bytes]] = iter_messages(sources)
        if show:
            from rich.progress import Progress

            total = sum(s.count() for s in sources)
            with Progress(transient=True) as bar:
                task = bar.add_task("Importing", total=total)
                for _label, raw in messages:
                    outcome = tracker.process(raw, now=datetime.now(UTC), silent=True)
                    counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
                    bar.advance(task)
        else:
            for _label, raw in messages:
                outcome = tracker.process(raw, now=datetime.now(UTC), silent=True)
                counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    finally:
        store.close()
    total_seen = sum(counts.values())
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items()))
    click.echo(f"Imported {total_seen} message{'s' if total_seen != 1 else ''}: {summary or 'none'}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array, streamed.")
@click.option("--status", help="Only referrals with this status, e.g. introduced.")
@click.pass_context
@_friendly
def referrals(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List tracked referrals with their parties, status and history.

    \b
    Examples:
        refmail referrals
        refmail referrals --json --status won
    """
    store = _store(ctx)
    try:
        rows = store.iter_referrals(status=status)
        if as_json:
            # Streamed item by item: a million referrals never sit in memory.
            out = sys.stdout
            out.write("[")
            for index, row in enumerate(rows):
                out.write(("," if index else "") + "\n  " + json.dumps(row, ensure_ascii=False))
            out.write("\n]\n" if store.count_referrals() else "]\n")
            return
        from .display import referrals_table

        referrals_table(rows)
    finally:
        store.close()


@cli.command()
@click.option("--once", is_flag=True, help="One full cycle (fetch, process, send), then exit.")
@click.option("--no-send", is_flag=True, help="Do everything but hand mail to the SMTP server.")
@click.pass_context
@_friendly
def run(ctx: click.Context, once: bool, no_send: bool) -> None:
    """Run the daemon: watch the inbox and track what arrives.

    SIGTERM or Ctrl-C finishes the current message and exits cleanly.

    \b
    Examples:
        refmail run
        refmail run --once          # for cron and tests
    """
    from .daemon import Daemon

    config = _config(ctx)
    store = _store(ctx)
    try:
        daemon = Daemon(config, store, send=not no_send)
        if once:
            report = daemon.cycle()
            click.echo(report.summary())
        else:
            daemon.run()
    finally:
        store.close()


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the demo's Maildir and database here (default: a temporary directory).",
)
@_friendly
def demo(out: str | None) -> None:
    """Show refmail at work on a built-in sample inbox: no server, no config.

    \b
    Example:
        refmail demo
    """
    from .demo import run_demo

    # The demo tells its own story; routine INFO lines would only clutter it.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("refmail").setLevel(logging.WARNING)
    run_demo(Path(out) if out else None)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="refmail")
