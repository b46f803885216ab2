"""When to try the IMAP server again after it failed: the reconnect schedule (pure).

Kept apart from :mod:`refmail.incoming.mailbox` because both the Mailbox
(retries inside one fetch, for ``refmail run --once``) and the daemon's loop
(which never gives up) follow it, and because it is a policy of its own:
never at once, then less and less often, spread at random, never longer
than a cap. :class:`Retry` is re-exported by :mod:`refmail.incoming.mailbox`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Retry"]


@dataclass(frozen=True)
class Retry:
    """When to try again during an outage, and when one cycle gives up.

    The n-th wait after a failure is random between h/2 and h, where h is
    ``2 × first_delay × 2ⁿ⁻¹``, at most ``max_delay``: 1–2 s, 2–4 s, 4–8 s, …
    15–30 s with the defaults. Never at once, so a client does not meet a
    server that is still shutting down (or starting), and spread out, so the
    many clients an outage disconnected do not all come back in the same
    moment ("exponential backoff with jitter"). The cap keeps a long outage's
    end from going unnoticed for more than ``max_delay``.

    :meth:`Mailbox.fetch_new` gives up after ``attempts`` consecutive failures
    or ``within`` seconds, whichever comes first (``refmail run --once``);
    progress (a message yielded) starts a new outage. The daemon's loop never
    gives up: it keeps trying on this schedule (:class:`refmail.daemon.Daemon`).
    """

    attempts: int = 5
    within: float = 300.0
    first_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after the ``failures``-th failure in a row (1 for the first).

        ``rand`` returns a number in [0, 1); the schedule is otherwise pure.
        """
        exponent = min(max(0, failures - 1), 64)  # no float overflow after weeks of outage
        high = min(self.max_delay, 2 * self.first_delay * 2.0**exponent)
        return high / 2 + rand() * high / 2
