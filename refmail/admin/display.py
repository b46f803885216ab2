"""Terminal presentation with Rich: tables a person reads, not data a tool parses.

Kept apart from the CLI so the demo and the commands render referrals alike.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def referrals_table(rows: Iterable[dict[str, Any]], *, out: Console | None = None) -> int:
    """Print referrals as a table; returns how many were shown."""
    table = Table(title="Referrals", show_lines=False, expand=False)
    table.add_column("Ref", style="bold", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Referrer")
    table.add_column("Provider")
    table.add_column("Prospects / parties")
    table.add_column("Introduced (UTC)", no_wrap=True)
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
            f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]{note}",
            _person(row["referrer"], names),
            _person(row["provider"], names) if row["provider"] else "[yellow]roles unknown[/]",
            "\n".join(_person(a, names) for a in others),
            row["introduced_at"][:16].replace("T", " "),
            str(len(row["events"])),
        )
    (out or console).print(table if count else "No referrals tracked yet.")
    return count
