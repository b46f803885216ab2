"""The commands that read the record: ``referrals``, ``show``, ``report`` and ``export``.

Each is a thin layer over :mod:`refmail.admin` (the story of a referral, the
report, the CSV export) and :mod:`refmail.admin.display` (tables); times are
shown in the group's time zone, as the emails and reports give them.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from refmail.cli import commands as base
from refmail.cli.commands import _config, _friendly, _store, cli

if TYPE_CHECKING:
    from refmail.config import Config

__all__ = ["export", "referrals", "report", "show"]


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array, streamed.")
@click.option("--status", metavar="WORDS",
              help='Only these statuses, as the emails say them: "no fit", won, met, open, closed, '
                   'or several with commas.')
@click.pass_context
@_friendly
def referrals(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List tracked referrals with their parties, status and history.

    Times are in the group's time zone ([group] timezone); --json gives the
    stored UTC times, as the SPEC's contract has them.

    \b
    Examples:
        refmail referrals
        refmail referrals --status "no fit"
        refmail referrals --json --status won,lost
    """
    from refmail.admin.statuses import StatusWordError, statuses_named

    config = _config(ctx)
    try:
        wanted = statuses_named(status) if status is not None else None
    except StatusWordError as exc:
        raise click.BadParameter(str(exc), param_hint="--status") from None
    store = _store(ctx)
    try:
        rows = store.iter_referrals(status=wanted)
        if as_json:
            # Streamed item by item: a million referrals never sit in memory.
            out = sys.stdout
            out.write("[")
            count = 0
            for row in rows:
                out.write(("," if count else "") + "\n  " + json.dumps(row, ensure_ascii=False))
                count += 1
            out.write("\n]\n" if count else "]\n")
            return
        from refmail.admin.display import referrals_table

        total = store.count_referrals()
        empty = "No referrals tracked yet."
        if wanted is not None and total:
            shown = ", ".join(sorted(s.replace("_", " ") for s in wanted))
            empty = f"No referral is {shown} ({total} tracked in all)."
        referrals_table(rows, zone=config.zone, empty=empty)
    finally:
        store.close()


@cli.command()
@click.argument("ref", metavar="R-ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (times in the group's zone).")
@click.pass_context
@_friendly
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One referral's whole story: people, status, history, and its mail.

    Every event with its time in the group's time zone; every message sent
    about it, what is queued (and when it leaves), what is held back and why
    (the weekly cap, quiet hours, a retry), and what failed with the server's
    last answer.

    \b
    Examples:
        refmail show R-5
        refmail show R-5 --json
    """
    from refmail.admin.story import parse_ref, referral_story, story_lines

    try:
        referral_id = parse_ref(ref)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="R-ID") from None
    config = _config(ctx)
    store = _store(ctx)
    try:
        story = referral_story(store, config, referral_id, base._now())
        if story is None:
            raise click.ClickException(
                f"there is no R-{referral_id} ({store.count_referrals()} referrals tracked; "
                "`refmail referrals` lists them)")
        if as_json:
            click.echo(json.dumps(story.to_json(), indent=2, ensure_ascii=False))
        else:
            click.echo("\n".join(story_lines(story)))
    finally:
        store.close()


def _since(value: str | None, config: Config) -> datetime | None:
    """``30d``/``12w`` back from now, or a date (midnight in the group's zone)."""
    if not value:
        return None
    from datetime import date

    from refmail.config import parse_duration

    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            return (datetime.now(UTC) - parse_duration(value)).astimezone(config.zone)
        except ValueError as exc:
            raise click.BadParameter(
                f"{exc}, or a date such as 2026-01-31", param_hint="--since"
            ) from None
    return datetime(day.year, day.month, day.day, tzinfo=config.zone)


@cli.command()
@click.option(
    "--since", metavar="PERIOD", help="Only referrals introduced in the last 30d, 12w… or since a date."
)
@click.pass_context
@_friendly
def report(ctx: click.Context, since: str | None) -> None:
    """The group at a glance: per member, referrals given, received, won, value, open.

    Won, value and open count the referrals a member received (as the
    provider). The group line counts every referral once.

    \b
    Examples:
        refmail report
        refmail report --since 30d
        refmail report --since 2026-01-01
    """
    from refmail.admin.report import group_report, print_report

    config = _config(ctx)
    start = _since(since, config)
    store = _store(ctx)
    try:
        print_report(group_report(store, config, since=start))
    finally:
        store.close()


@cli.command()
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values, one referral per row.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE (default: standard output)."
)
@click.pass_context
@_friendly
def export(ctx: click.Context, as_csv: bool, output: str | None) -> None:
    """Export every referral, e.g. for a spreadsheet.

    Columns: id, tag, status, referrer, provider, prospects and parties
    (;-separated), introduced_at, updated_at, value, currency, last_event,
    last_event_at. Cells that a spreadsheet would run as a formula are
    written as text. A file written with --output is readable by you only.

    \b
    Examples:
        refmail export --csv > referrals.csv
        refmail export --csv --output referrals.csv
    """
    if not as_csv:
        raise click.UsageError("say which format: --csv (the only one so far)")
    from refmail.admin.export import write_csv

    store = _store(ctx)
    try:
        if output is None:
            count = write_csv(store, sys.stdout)
        else:
            import os

            try:
                # Owner-only, like the database: it holds names and addresses.
                fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as exc:
                raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
            with open(fd, "w", encoding="utf-8", newline="") as out:
                count = write_csv(store, out)
            click.echo(f"Wrote {count} referral{'s' * (count != 1)} to {output}", err=True)
    finally:
        store.close()
