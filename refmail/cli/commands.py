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

from refmail.errors import RefmailError, SignInFailed

if TYPE_CHECKING:
    from refmail.config import Config
    from refmail.storage.store import Store

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


#: Exit status for a sign-in refused for good (sysexits.h EX_CONFIG): the
#: systemd unit's RestartPreventExitStatus, so a revoked sign-in is not retried
#: every 30 seconds until someone runs `refmail oauth login`.
EXIT_SIGN_IN = 78


class _SignInError(click.ClickException):
    exit_code = EXIT_SIGN_IN


def _friendly(func: F) -> F:
    """Turn :class:`RefmailError` into a one-line :class:`click.ClickException`.

    A :class:`~refmail.errors.SignInFailed` exits with :data:`EXIT_SIGN_IN`.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SignInFailed as exc:
            raise _SignInError(str(exc)) from None
        except RefmailError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _config(ctx: click.Context) -> Config:
    from refmail.config import load_config

    obj = ctx.ensure_object(dict)
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    config: Config = obj["config"]
    return config


def _store(ctx: click.Context) -> Store:
    from refmail.storage.store import Store

    return Store.open(_config(ctx).database_path())


def _now() -> datetime:
    """The present moment for every command (tests run the CLI on a simulated clock)."""
    return datetime.now(UTC)


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
    from refmail.oauth.redaction import install

    # At -vv too: every password, token and client secret refmail handled is
    # masked in whatever a library logs (imapclient redacts LOGIN itself).
    install()


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

    "kind" says what the message is, "reason" says why in words, and "rule"
    names the rule that decided (intro, thread_reply, auto_submitted,
    not_a_member, ...): scripts should decide on "rule", not on the words.

    \b
    Example:
        refmail parse intro.eml --json
    """
    from refmail.reading.classifier import classify

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
    from refmail.incoming.sources import iter_messages, open_sources
    from refmail.workflow.tracker import Tracker

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
@click.option("--once", is_flag=True, help="One full cycle (fetch, process, send), then exit.")
@click.option("--no-send", is_flag=True, help="Do everything but hand mail to the SMTP server.")
@click.pass_context
@_friendly
def run(ctx: click.Context, once: bool, no_send: bool) -> None:
    """Run the daemon: watch the inbox and track what arrives.

    SIGTERM or Ctrl-C finishes the current message and exits cleanly. A
    sign-in the mail server or the OAuth2 token endpoint refuses for good (a
    revoked sign-in, a wrong client secret) stops it with one line saying
    what to do and exit status 78; queued mail and unread mail wait for it.

    \b
    Examples:
        refmail run
        refmail run --once          # for cron and tests
    """
    from refmail.daemon import Daemon
    from refmail.storage.lock import DaemonLock

    config = _config(ctx)
    # One daemon per database, --once included: two cycles at once would both
    # send what is due.
    with DaemonLock(config.database_path()):
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
@click.option("--member", "member", metavar="EMAIL", help="A member's summary (address or alias).")
@click.option("--admin", "admin", is_flag=True, help="The admins' summary of the whole group.")
@click.option("--send", is_flag=True, help="Send it by mail now instead of printing it.")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML version instead of the text.")
@click.pass_context
@_friendly
def summary(ctx: click.Context, member: str | None, admin: bool, send: bool, as_html: bool) -> None:
    """Render a weekly summary to the terminal, or send it now.

    The daemon sends every summary by itself at [timing] weekly_summary;
    this is for a look before then, or a resend.

    \b
    Examples:
        refmail summary --member mei@chencpa.example
        refmail summary --admin --send
    """
    from datetime import UTC, datetime

    from refmail.workflow.digest import Digest
    from refmail.workflow.planner import Planner

    if bool(member) == admin:
        raise click.UsageError("give exactly one of --member EMAIL or --admin")
    config = _config(ctx)
    now = datetime.now(UTC)
    store = _store(ctx)
    try:
        digest = Digest(Planner(config, store))
        if member and not config.is_member(member):
            raise click.ClickException(f"{member} is not a member of {config.group.name}")
        recipients = [config.canonical(member)] if member else list(config.group.admins)
        if admin and not recipients:
            raise click.ClickException("the config names no admins ([group] admins)")
        if not send:
            rendered = (digest.render_member(recipients[0], now) if member
                        else digest.render_admin(recipients[0], now))
            if rendered is None:
                click.echo(f"{recipients[0]} has no referrals yet: no summary to show.")
                return
            click.echo(f"Subject: {rendered.subject}\n")
            click.echo(rendered.html if as_html else rendered.text)
            return
        # A manual send is not this week's scheduled one: its own seq (a
        # timestamp, far above any week key) keeps the weekly one intact.
        seq = int(now.timestamp())
        queued = [
            digest.queue_member(r, now, seq=seq) if member else digest.queue_admin(r, now, seq=seq)
            for r in recipients
        ]
        from refmail.daemon import Daemon

        report = Daemon(config, store, planner=digest.planner).deliver()
        sent = report.sent if report else 0
        click.echo(f"Queued {sum(q is not None for q in queued)} summary, sent {sent}.")
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
    from refmail.demo.runner import run_demo

    # The demo tells its own story; routine INFO lines would only clutter it.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("refmail").setLevel(logging.WARNING)
    run_demo(Path(out) if out else None)


# -- first run -------------------------------------------------------------------------
def _click_ask(key: str, question: str, default: Any, convert: Callable[[str], Any]) -> Any:
    """Ask one question with click, asking again while the answer is invalid."""

    def value_proc(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    if default is None:
        return click.prompt(question, value_proc=value_proc)
    return click.prompt(
        question, default=str(default), show_default=default != "", value_proc=value_proc
    )


def _terminal() -> bool:
    """Whether a person answers (standard input is a terminal), rather than a pipe or a file."""
    return sys.stdin.isatty()


@cli.command()
@click.option("--defaults", is_flag=True, help="Ask nothing: each answer from its option, else its default.")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@click.option("--group-name", help="The group's name, shown in every email.")
@click.option("--tracking-address", help="The shared inbox members copy on intros.")
@click.option("--timezone", help="IANA time zone, e.g. Europe/Berlin (default: this machine's).")
@click.option("--admin", "admins", multiple=True, help="An admin's email (repeatable).")
@click.option(
    "--provider", help="Who hosts the mailbox: microsoft365, outlook, google, yahoo, fastmail, icloud "
    "or other (presets the servers and the sign-in)."
)
@click.option("--oauth-flow", help="OAuth2: client_credentials, refresh_token or service_account.")
@click.option("--tenant", help="OAuth2, Microsoft: the tenant's domain or id.")
@click.option("--client-id", help="OAuth2: the app registration's client id.")
@click.option("--client-secret-env", help="OAuth2: the variable holding the client secret (empty: none).")
@click.option("--service-account-file", help="OAuth2, Google: the service account's JSON key.")
@click.option("--imap-host", help="The IMAP server of the tracking mailbox.")
@click.option("--imap-security", type=click.Choice(["ssl", "starttls", "none"]), help="Default: ssl.")
@click.option("--imap-port", type=int, help="Default: 993 for ssl, 143 for starttls.")
@click.option("--imap-username", help="Default: the tracking address.")
@click.option("--imap-password-env", help="Default: REFMAIL_IMAP_PASSWORD.")
@click.option("--smtp-host", help="Default: the IMAP host.")
@click.option("--smtp-security", type=click.Choice(["ssl", "starttls", "none"]), help="Default: ssl.")
@click.option("--smtp-port", type=int, help="Default: 465 for ssl, 587 for starttls.")
@click.option("--smtp-username", help="Default: the IMAP username; empty for no login.")
@click.option("--smtp-password-env", help="Default: REFMAIL_SMTP_PASSWORD.")
@click.option("--database", help="Database file, relative to the config file (default: refmail.db).")
@click.option(
    "--member", "members", multiple=True, metavar="'NAME <EMAIL> BUSINESS'",
    help="A member (repeatable); without it you are asked for members one by one.",
)
@click.pass_context
@_friendly
def init(ctx: click.Context, defaults: bool, force: bool, **options: Any) -> None:
    """Write a commented config for your group from a few questions.

    The file is written to --config, else $REFMAIL_CONFIG, else
    ./config/refmail.toml, with every comment of the example config, so each
    key stays explained. Passwords are not asked: the config names the
    environment variables that will hold them. When standard input is not a
    terminal, the answers are read from it, one line per question in the
    order a terminal would ask them (an empty line takes the default); a
    wrong answer stops with the line and the question, nothing written.

    \b
    Examples:
        refmail init
        refmail init < answers.txt
        refmail --config /etc/refmail/refmail.toml init --database /var/lib/refmail/refmail.db
        refmail init --defaults --group-name "Harbor Network" \\
            --tracking-address refs@harbornet.example --imap-host mail.harbornet.example \\
            --member "Mei Chen <mei@chencpa.example> CPA for small businesses"
        refmail init --provider microsoft365 --tenant harbornet.onmicrosoft.com \\
            --client-id 00000000-0000-0000-0000-000000000000
    """
    from refmail.admin.wizard import (
        LineAnswers,
        collect_answers,
        example_config_path,
        render_config,
        write_config,
    )
    from refmail.config import find_config_path

    path = find_config_path(ctx.ensure_object(dict).get("config_path"))
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists; use --force to replace it")
    template = example_config_path().read_text(encoding="utf-8")
    given = {k: v for k, v in options.items() if v not in (None, ())}
    ask: Any = None
    if not defaults and _terminal():
        click.echo(f"Writing {path}. Press Enter to accept a [default].")
        ask = _click_ask
    elif not defaults:
        # A pipe or a file: one answer per line, in the order the questions are asked.
        ask = LineAnswers(sys.stdin)
    answers = collect_answers(given, ask)
    write_config(path, render_config(answers, template), force=force)
    click.echo(f"Wrote {path} ({len(answers.members)} member{'s' * (len(answers.members) != 1)}).")
    from refmail.admin.hosting import HOSTINGS

    note = HOSTINGS[answers.hosting].note
    if answers.oauth is not None:
        steps = [f"put the client secret in {answers.oauth.client_secret_env}"] if (
            answers.oauth.client_secret_env) else []
        if answers.oauth.flow == "refresh_token":
            steps.append("run `refmail oauth login` to sign in once (as the user refmail runs as)")
        click.echo("Next: " + ", ".join([*steps, "then run `refmail check`."]))
    else:
        envs = sorted(
            {answers.imap.password_env} | ({answers.smtp.password_env} if answers.smtp.username else set())
        )
        click.echo("Next: put the password(s) in " + " and ".join(envs) + ", then run `refmail check`.")
    if note:
        click.echo(note)


def _marks() -> tuple[str, str]:
    """✓/✗, or plain words where the terminal's encoding has no such glyphs."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "ok", "FAIL"
    return "✓", "✗"


@cli.command()
@click.option("--test-idle", is_flag=True,
              help="Time the server's IDLE with a test message (flagged deleted, removed at once).")
@click.pass_context
@_friendly
def check(ctx: click.Context, test_idle: bool) -> None:
    """Check the config, the IMAP and SMTP servers and the database; send nothing.

    Logs in to IMAP and opens the folder, connects to SMTP (TLS, EHLO, AUTH)
    and quits without sending, and says exactly what to fix when a step
    fails; warns (!) about what works but not as refmail would want: no
    flags allowed, headers the server rewrote, an IDLE that does not tell.
    With --test-idle it also adds a test message to the folder (flagged
    seen and deleted, removed again at once) to time how soon IDLE tells
    of new mail. Exit status 0 when everything works, 1 otherwise.

    \b
    Examples:
        REFMAIL_IMAP_PASSWORD=… REFMAIL_SMTP_PASSWORD=… refmail check
        refmail check --test-idle
    """
    from refmail.admin.checkup import run_checks

    checkup = run_checks(ctx.ensure_object(dict).get("config_path"), test_idle=test_idle)
    good, bad = _marks()
    arrow = "→" if good == "✓" else "->"
    warned = 0
    for result in checkup.results:
        mark = click.style(good if result.ok else bad, fg="green" if result.ok else "red", bold=True)
        click.echo(f"{mark} {result.body()}")
        for hint in result.hints:
            click.echo(f"    {arrow} {hint}")
        for warning in result.warnings:
            click.echo(f"    {click.style('!', fg='yellow', bold=True)} {warning}")
            warned += 1
    if checkup.ok:
        first = "All good." if not warned else f"All good, but read the warning{'s' * (warned > 1)} above."
        click.echo(f"{first} Next: `refmail run --once --no-send` shows what refmail would do.")
    ctx.exit(0 if checkup.ok else 1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="refmail")
