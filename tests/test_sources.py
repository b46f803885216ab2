"""Mail on disk for ``refmail import`` and the demo: the order messages are read in."""

from __future__ import annotations

from pathlib import Path

from refmail.incoming.sources import MailSource


def test_maildir_is_read_in_delivery_order_whatever_the_digits(tmp_path: Path) -> None:
    # Python's mailbox writes microseconds unpadded: as text, M99999 would sort after M123456.
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    names = ["1795442530.M999999P42Q1.host", "1795442531.M99999P42Q2.host",
             "1795442531.M123456P42Q3.host:2,S"]
    for i, name in enumerate(names):
        (tmp_path / ("cur" if ":" in name else "new") / name).write_bytes(f"Subject: {i}\n\nx".encode())
    read = [raw.split(b"\n", 1)[0] for _, raw in MailSource(tmp_path, "maildir").messages()]
    assert read == [b"Subject: 0", b"Subject: 1", b"Subject: 2"]
