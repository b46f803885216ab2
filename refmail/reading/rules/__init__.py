"""The classification rules: small named units, each judging one :class:`Envelope`.

Modelled on GNU Mailman 3's rules and chains: a rule answers one question
about a message and either decides — returning a
:class:`~refmail.reading.classification.Classification` that carries its
:class:`~refmail.reading.classification.RuleName` and a human ``reason`` — or
passes (returns None) to the next rule. The order lives in one place,
:data:`refmail.reading.classifier.CHAIN`, and follows the SPEC's precedence
(SPEC "The contracts", ``refmail parse``):

- :mod:`~refmail.reading.rules.bounce` and :mod:`~refmail.reading.rules.automatic`:
  mail that must never start a referral or a reply loop;
- :mod:`~refmail.reading.rules.replies`: a message that answers another (with
  the exception of a forwarded intro);
- :mod:`~refmail.reading.rules.intro`: only then an introduction;
- :mod:`~refmail.reading.rules.authenticity`: a check on what the chain decided,
  for groups that require an authenticated sender.

Rules are pure (no I/O, no clock) and read the config only for the group's
settings; every address they compare was canonicalised once, by
:func:`~refmail.reading.envelope.read_envelope`.
"""

from __future__ import annotations

from collections.abc import Callable

from refmail.config import Config
from refmail.reading.classification import Classification
from refmail.reading.envelope import Envelope

__all__ = ["Check", "Rule", "short"]

#: A rule of the chain: its verdict, or None to pass to the next rule.
Rule = Callable[[Envelope, Config], Classification | None]
#: A check on the chain's verdict: the verdict, kept, amended or replaced.
Check = Callable[[Envelope, Config, Classification], Classification]


def short(value: str, limit: int = 60) -> str:
    """``value`` on one line and at most ``limit`` characters, for a reason."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
