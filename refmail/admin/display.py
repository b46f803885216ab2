"""Terminal presentation with Rich: tables a person reads, not data a tool parses.

Kept apart from the CLI so the demo and the commands render referrals alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["console", "referrals_table"]

console = Console()

_STATUS_STYLE = {
    "introduced": "cyan",
    "contacted": "blue",
    "meeting": "blue",
    "proposal": "magenta",
    "won": "bold green",
    "lost": "red",
    "no_fit": "red",
    "unresponsive": "yellow",
    "withdrawn": "dim",
}


def _person(address: str | None, names: dict[str, str]) -> str:
    if not address:
        return "[yellow]unknown[/]"
    # Names come from other people's email: escape them so "[bold]" in a
    # display name is shown, not interpreted as Rich markup.
    name = names.get(address)
    return escape(f"{name} <{address}>" if name else address)


def _local(stamp: str, zone: tzinfo | None) -> str:
    """A stored UTC time as ``2026-11-23 10:00`` in ``zone`` (UTC when None)."""
    moment = datetime.fromisoformat(stamp)
    return f"{moment.astimezone(zone or UTC):%Y-%m-%d %H:%M}"


def referrals_table(
    rows: Iterable[dict[str, Any]],
    *,
    out: Console | None = None,
    zone: tzinfo | None = None,
    empty: str = "No referrals tracked yet.",
) -> int:
    """Print referrals as a table, times in ``zone`` (the group's); returns how many were shown.

    ``empty`` is printed instead when there is none to show.
    """
    table = Table(title="Referrals", show_lines=False, expand=False)
    table.add_column("Ref", style="bold", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Referrer")
    table.add_column("Provider")
    table.add_column("Prospects / parties")
    table.add_column(f"Introduced ({getattr(zone, 'key', None) or 'UTC'})", no_wrap=True)
    table.add_column("Events", justify="right")
    count = 0
    for row in rows:
        count += 1
        names = row.get("names", {})
        others = row["prospects"] if row["provider"] else row["parties"]
        status = row["status"]
        note = " (silent)" if row.get("silent") else ""
        table.add_row(
            row["tag"],
            f"[{_STATUS_STYLE.get(status, 'white')}]{status.replace('_', ' ')}[/]{note}",
            _person(row["referrer"], names),
            _person(row["provider"], names) if row["provider"] else "[yellow]roles unknown[/]",
            "\n".join(_person(a, names) for a in others),
            _local(row["introduced_at"], zone),
            str(len(row["events"])),
        )
    (out or console).print(table if count else escape(empty))
    return count
