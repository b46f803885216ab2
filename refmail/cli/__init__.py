"""The ``refmail`` command: a thin layer over the library.

Each command parses its options, calls the library (:mod:`refmail.admin`,
:mod:`refmail.workflow`, :mod:`refmail.daemon`, …) and prints; no decision is
made here.
"""

from __future__ import annotations

from refmail.cli import oauth as _oauth  # noqa: F401  (registers `refmail oauth`)
from refmail.cli import reports as _reports  # noqa: F401  (referrals, show, report, export)
from refmail.cli.commands import cli, main

__all__ = ["cli", "main"]
