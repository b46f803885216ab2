"""Members' profiles: who they want to meet and who not, as the group sees it.

A member's profile comes from two places: the config (``looking_for``,
``not_looking_for`` under ``[[members]]``, written by an admin) and the member
themselves, by email (``refs+profile@…``, or the link in their weekly summary:
:mod:`refmail.workflow.profiles`). What a member wrote is kept here, per field,
and wins over the config's: it is their own, later word. A field they never
wrote (NULL) shows the config's; one they cleared ("Not looking for: -") is
empty whatever the config says.

Rows are keyed by the member's canonical address; nothing here is ever shown
to someone outside the group (see :func:`profile_of`'s callers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from refmail.config import Config
from refmail.storage.store import Store, iso

__all__ = ["Profile", "Profiles"]


@dataclass(frozen=True)
class Profile:
    """A member's profile as refmail shows it: ``""`` for what is not said.

    ``by_email``: the member wrote at least one field themselves (when:
    ``updated_at``); otherwise everything shown is the config's.
    """

    looking_for: str = ""
    not_looking_for: str = ""
    by_email: bool = False
    updated_at: datetime | None = None

    @property
    def said(self) -> bool:
        return bool(self.looking_for or self.not_looking_for)


class Profiles:
    """The ``profiles`` table (migration 0010). Joins the caller's transaction."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self._conn = store.db.conn

    def of(self, address: str) -> Profile | None:
        """The profile of the member owning ``address`` (an alias too); None for a non-member."""
        return self.of_many([address]).get(self.config.canonical(address))

    def of_many(self, addresses: Iterable[str]) -> dict[str, Profile]:
        """:meth:`of` for several addresses at once, keyed by canonical address (members only).

        One statement per 500 members, and one even for none: a summary's
        number of statements does not depend on what the group did.
        """
        members = {self.config.canonical(a): m for a in addresses if (m := self.config.member(a)) is not None}
        wanted = sorted(members)
        rows = {
            row[0]: row
            for start in range(0, max(len(wanted), 1), 500)
            for row in self.store.db.execute(
                "SELECT address, looking_for, not_looking_for, updated_at FROM profiles WHERE address IN "
                f"({','.join('?' * len(wanted[start : start + 500]))})",
                wanted[start : start + 500],
            )
        }
        out: dict[str, Profile] = {}
        for address, member in members.items():
            row = rows.get(address)
            if row is None:
                out[address] = Profile(member.looking_for, member.not_looking_for)
                continue
            _, looking, not_looking, updated = row
            out[address] = Profile(
                looking_for=member.looking_for if looking is None else looking,
                not_looking_for=member.not_looking_for if not_looking is None else not_looking,
                by_email=True,
                updated_at=datetime.fromisoformat(updated),
            )
        return out

    def write(self, address: str, *, looking_for: str | None, not_looking_for: str | None, now: datetime,
              message_id: str | None) -> None:
        """Keep what the member wrote; a field given as None keeps its stored value."""
        with self.store.transaction():
            self._conn.execute(
                "INSERT INTO profiles (address, looking_for, not_looking_for, updated_at, message_id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET "
                "looking_for = coalesce(excluded.looking_for, profiles.looking_for), "
                "not_looking_for = coalesce(excluded.not_looking_for, profiles.not_looking_for), "
                "updated_at = excluded.updated_at, message_id = excluded.message_id",
                (self.config.canonical(address), looking_for, not_looking_for, iso(now), message_id),
            )
