"""``refmail export --csv``: every referral as one spreadsheet row.

Rows are read with a single query and written as they come, so exporting a
large database needs no more memory than one row. Addresses and names in the
cells come from other people's email; a cell such as ``=HYPERLINK(…)`` or
``@SUM(…)`` would be run as a formula by a spreadsheet that opens the file.
Following OWASP's advice on CSV injection, text cells that begin with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'``, which
spreadsheets show as text and never evaluate. Numbers are left as numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from refmail.storage.store import Store

__all__ = ["COLUMNS", "csv_safe", "export_rows", "write_csv"]

COLUMNS = (
    "id",
    "tag",
    "status",
    "referrer",
    "provider",
    "prospects",
    "parties",
    "introduced_at",
    "updated_at",
    "value",
    "currency",
    "last_event",
    "last_event_at",
)

#: OWASP "CSV Injection": characters that make a spreadsheet read a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# One statement for the whole export; the correlated subqueries use the
# parties(referral_id) primary key and the events(referral_id, id) index.
_QUERY = """
SELECT r.id, r.status, r.referrer, r.provider,
    (SELECT group_concat(address, ';') FROM
        (SELECT address FROM parties p WHERE p.referral_id = r.id AND p.role = 'prospect'
         ORDER BY p.rowid)) AS prospects,
    (SELECT group_concat(address, ';') FROM
        (SELECT address FROM parties p WHERE p.referral_id = r.id AND p.role != 'referrer'
         ORDER BY p.rowid)) AS parties,
    r.introduced_at, r.updated_at,
    (SELECT e.detail FROM events e
        WHERE e.referral_id = r.id AND e.kind = 'status' AND json_extract(e.detail, '$.to') = 'won'
        ORDER BY e.id DESC LIMIT 1) AS won_detail,
    (SELECT e.kind || char(31) || e.at FROM events e
        WHERE e.referral_id = r.id ORDER BY e.id DESC LIMIT 1) AS last_event
FROM referrals r
ORDER BY r.id
"""


def csv_safe(value: Any) -> Any:
    """A cell that a spreadsheet shows as written: text starting like a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_rows(store: Store) -> Iterator[tuple[Any, ...]]:
    """One tuple per referral, in :data:`COLUMNS` order, oldest first (not yet made CSV-safe)."""
    cursor = store.db.conn.execute(_QUERY)
    for (rid, status, referrer, provider, prospects, parties, introduced_at, updated_at, won,
         last) in cursor:
        value = currency = None
        if status == "won" and won:
            detail = json.loads(won)
            value, currency = detail.get("value"), detail.get("currency")
        kind, _, at = (last or "").partition("\x1f")
        yield (
            rid, f"R-{rid}", status, referrer, provider or "", prospects or "", parties or "",
            introduced_at, updated_at, value if value is not None else "", currency or "",
            kind, at,
        )


def write_csv(store: Store, out: TextIO) -> int:
    """Write the header and every referral to ``out``; returns the number of referrals.

    ``out`` should be opened with ``newline=""`` (the csv module writes its own
    ``\\r\\n`` line ends, RFC 4180 §2).
    """
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in export_rows(store):
        writer.writerow([csv_safe(cell) for cell in row])
        count += 1
    return count
