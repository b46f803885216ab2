"""``refmail report``: the group at a glance, per member, in the terminal.

Per member: referrals **given** (they introduced), **received** (they are the
provider), and of those received how many were **won**, for what **value**, and
how many are still **open**. Won, value and open are counted from the
provider's side because that is where business closes and where a referral
waits; the referrer's side is the "given" column. The **group** line counts
every referral once, so it also includes providers outside the group and
referrals whose roles are still unknown — it is not the sum of the rows.

Consent-first proposals that never became introductions (``proposed``,
``declined``, ``expired``) are not referrals given yet and are left out.

The figures come from four aggregate queries whatever the size of the
database: no query per member or per referral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from refmail.config import Config
from refmail.policy.rules import OPEN_STATUSES
from refmail.storage.store import Store, iso

__all__ = ["GroupReport", "ReportLine", "format_value", "group_report", "print_report"]

#: Not (yet) introductions: the consent-first states before an intro is sent.
NOT_INTRODUCED = ("proposed", "declined", "expired")

_OPEN = ", ".join(f"'{s}'" for s in sorted(OPEN_STATUSES))
_NOT_INTRODUCED = ", ".join(f"'{s}'" for s in NOT_INTRODUCED)
# julianday() understands the "+HH:MM" offsets the timestamps carry, so the
# window is compared as instants, not as text in different zones.
_IN_WINDOW = (
    f"r.status NOT IN ({_NOT_INTRODUCED}) "
    "AND (? IS NULL OR julianday(r.introduced_at) >= julianday(?))"
)

_GIVEN = f"SELECT r.referrer, count(*) FROM referrals r WHERE {_IN_WINDOW} GROUP BY r.referrer"
_RECEIVED = (
    "SELECT r.provider, count(*), sum(r.status = 'won'), "
    f"sum(r.status IN ({_OPEN})) FROM referrals r "
    f"WHERE r.provider IS NOT NULL AND {_IN_WINDOW} GROUP BY r.provider"
)
_TOTAL = (
    "SELECT count(*), coalesce(sum(r.provider IS NOT NULL), 0), coalesce(sum(r.status = 'won'), 0), "
    f"coalesce(sum(r.status IN ({_OPEN})), 0) FROM referrals r WHERE {_IN_WINDOW}"
)
# The value of a won referral is the one on the latest status event that set
# it to won with a numeric value (a later "WON 5000" corrects an earlier one).
_VALUES = f"""
    WITH last_won AS (
        SELECT e.referral_id, max(e.id) AS event_id FROM events e
        WHERE e.kind = 'status' AND json_extract(e.detail, '$.to') = 'won'
          AND json_type(e.detail, '$.value') IN ('integer', 'real')
        GROUP BY e.referral_id
    )
    SELECT r.provider, json_extract(e.detail, '$.currency') AS currency,
           sum(json_extract(e.detail, '$.value'))
    FROM referrals r
    JOIN last_won l ON l.referral_id = r.id
    JOIN events e ON e.id = l.event_id
    WHERE r.status = 'won' AND {_IN_WINDOW}
    GROUP BY r.provider, currency
"""


@dataclass
class ReportLine:
    """One row: a member (``address`` set) or a summary line (``address`` None)."""

    label: str
    address: str | None = None
    given: int = 0
    received: int = 0
    won: int = 0
    open: int = 0
    #: Value closed, per currency ("" when none was written).
    value: dict[str, float] = field(default_factory=dict)

    def add_value(self, currency: str | None, amount: float) -> None:
        key = (currency or "").upper()
        self.value[key] = self.value.get(key, 0) + amount


@dataclass
class GroupReport:
    since: datetime | None
    members: list[ReportLine]
    #: Referrers and providers who are not in the config, together (None if none).
    others: ReportLine | None
    group: ReportLine


def group_report(store: Store, config: Config, *, since: datetime | None = None) -> GroupReport:
    """The figures for every member of ``config``, for referrals introduced since ``since``."""
    window = [iso(since), iso(since)] if since else [None, None]
    conn = store.db.conn
    lines = {m.email: ReportLine(m.name, m.email) for m in config.members}
    others = ReportLine("others (not members)")

    def row_for(address: str | None) -> ReportLine:
        member = config.member(address or "")
        return lines[member.email] if member else others

    for referrer, count in conn.execute(_GIVEN, window):
        row_for(referrer).given += int(count)
    for provider, count, won, open_ in conn.execute(_RECEIVED, window):
        line = row_for(provider)
        line.received += int(count)
        line.won += int(won or 0)
        line.open += int(open_ or 0)
    count, received, won, open_ = conn.execute(_TOTAL, window).fetchone()
    group = ReportLine("group", None, int(count), int(received), int(won), int(open_))
    for provider, currency, amount in conn.execute(_VALUES, window):
        if provider is not None:
            row_for(provider).add_value(currency, float(amount))
        group.add_value(currency, float(amount))
    seen_others = others.given or others.received
    return GroupReport(since, list(lines.values()), others if seen_others else None, group)


def format_value(value: dict[str, float]) -> str:
    """``{"USD": 4500.0, "": 200.0}`` → ``"4,500 USD + 200"``; empty → ``"–"``."""
    if not value:
        return "–"
    parts = []
    for currency in sorted(value):
        amount = value[currency]
        text = f"{amount:,.0f}" if amount == int(amount) else f"{amount:,.2f}"
        parts.append(f"{text} {currency}".strip())
    return " + ".join(parts)


def print_report(report: GroupReport, *, out: Console | None = None, title: str | None = None) -> None:
    """The report as a Rich table: members (busiest first), others, then the group line."""
    table = Table(title=title or "Referrals by member", show_footer=False)
    table.add_column("Member")
    for name in ("Given", "Received", "Won", "Value", "Open"):
        table.add_column(name, justify="right")

    def add(line: ReportLine, style: str | None = None, end_section: bool = False) -> None:
        label = escape(line.label) + (f" [dim]<{escape(line.address)}>[/]" if line.address else "")
        table.add_row(
            label,
            str(line.given),
            str(line.received),
            str(line.won),
            format_value(line.value),
            str(line.open),
            style=style,
            end_section=end_section,
        )

    ordered = sorted(report.members, key=lambda m: (-(m.given + m.received), m.label.lower()))
    for index, line in enumerate(ordered):
        add(line, end_section=index == len(ordered) - 1 and report.others is None)
    if report.others is not None:
        add(report.others, style="dim", end_section=True)
    add(report.group, style="bold")
    console = out or Console()
    console.print(table)
    caption: list[Any] = [
        "Given: introduced by the member. Received, won, value, open: referrals where the member "
        "is the provider. The group line counts every referral once."
    ]
    if report.since is not None:
        caption.append(f"Referrals introduced since {report.since:%Y-%m-%d %H:%M %Z}.")
    console.print(" ".join(caption), style="dim")
