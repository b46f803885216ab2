"""Coming back after an outage: on a schedule of its own, within seconds, without hammering.

The daemon used to wait for the next poll tick (a minute by default) after it
lost its server, and when it did try it tried within a millisecond of the
drop. Now the first try comes after a random 1–2 s and the waits double, with
jitter, up to ``[imap] reconnect_max`` (refmail.incoming.mailbox.Retry). These
tests run a real ``refmail run`` against the real test Dovecot — stopped and
started under it, or behind tests/imapproxy.py, which can refuse connections
(counting them) and cut them without BYE — and check that every intro is
tracked once, soon after the server is back. Waits are deadlines, never
sleeps; the figures (how soon after the restart) are in bench/reconnect.py.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from chaos_harness import TRACKER, ChaosRun, ChaosSettings, intro_message
from imapproxy import ImapProxy
from mailservers import Accepted, Dovecot, SmtpServer

from refmail.config import ImapSettings
from refmail.incoming.mailbox import Retry
from refmail.storage.store import Store

pytestmark = pytest.mark.servers

#: Only acknowledgements within a test: the other nudges are weeks away.
LATER = ChaosSettings(thank_you_after=30 * 86400, feedback_after=60 * 86400)


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(r" (WARNING|ERROR|CRITICAL) ", line)]


# -- the schedule (pure) ---------------------------------------------------------------


def test_first_try_after_one_to_two_seconds_then_doubling_to_the_cap() -> None:
    retry = Retry()  # the daemon's: 1 s, capped at [imap] reconnect_max (30 s)
    low = [retry.delay(n, rand=lambda: 0.0) for n in range(1, 9)]
    high = [retry.delay(n, rand=lambda: 0.999999) for n in range(1, 9)]
    assert low == [1, 2, 4, 8, 15, 15, 15, 15]
    assert high == pytest.approx([2, 4, 8, 16, 30, 30, 30, 30], abs=1e-4)
    assert retry.delay(10**9) <= 30  # weeks of outage: no overflow, still the cap


def test_the_waits_are_spread_so_clients_do_not_return_together() -> None:
    import random

    rng = random.Random(19)
    firsts = [Retry().delay(1, rand=rng.random) for _ in range(2000)]
    assert min(firsts) >= 1.0 and max(firsts) <= 2.0
    # Spread over the whole second, not bunched: each tenth of it gets some.
    assert len({int((f - 1.0) * 10) for f in firsts}) == 10
    capped = [Retry(max_delay=10).delay(20, rand=rng.random) for _ in range(2000)]
    assert min(capped) >= 5.0 and max(capped) <= 10.0 and len({round(c) for c in capped}) >= 5


def test_reconnect_max_is_at_least_a_second() -> None:
    from pydantic import ValidationError

    assert ImapSettings(reconnect_max="2s").reconnect_max.total_seconds() == 2
    with pytest.raises(ValidationError, match="at least 1s"):
        ImapSettings(reconnect_max="0.1s")


# -- a real daemon ---------------------------------------------------------------------


@dataclass
class Running:
    run: ChaosRun
    smtp: SmtpServer

    def acks(self) -> list[Accepted]:
        return [m for m in self.smtp.messages if m.mail_from == TRACKER]

    def log(self) -> str:
        return self.run.daemon.log_since_start()


@pytest.fixture
def smtp(private_dovecot: Dovecot) -> Iterator[SmtpServer]:
    with SmtpServer(private_dovecot) as server:
        yield server


def start_daemon(
    tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, *, imap: object = None, extra: str = ""
) -> Running:
    """``refmail run`` polling only every minute, so only the reconnect schedule can be quick.

    ``imap``: where the daemon connects (a proxy), default Dovecot itself;
    ``extra``: lines added to ``[imap]``.
    """
    where = imap or dovecot
    run = ChaosRun(LATER, tmp_path, SimpleNamespace(host=where.host, port=where.port), smtp)
    run.dovecot = dovecot  # mail is delivered to the real server
    config = run.daemon.config
    text = config.read_text().replace('poll_interval = "1s"', 'poll_interval = "60s"')
    config.write_text(text.replace("[imap]\n", f"[imap]\n{extra}", 1))
    running = Running(run, smtp)
    run.daemon.start()
    return running


def stop_daemon(running: Running) -> None:
    daemon = running.run.daemon
    if daemon.alive():
        code = daemon.terminate()
        assert code == 0, running.log()


def idling(dovecot: Dovecot) -> Callable[[], bool]:
    return lambda: dovecot.idle_sessions("refs") == 1


def test_dovecot_stopped_and_started_under_the_daemon_is_read_again_within_seconds(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path
) -> None:
    running = start_daemon(tmp_path, private_dovecot, smtp)
    try:
        running.run.send_intro()
        assert wait_for(lambda: len(running.acks()) == 1, 30), running.log()
        assert wait_for(idling(private_dovecot), 30)
        private_dovecot.halt()
        assert wait_for(lambda: "IMAP server unavailable" in running.log(), 30), running.log()
        private_dovecot.start()
        back = time.monotonic()
        running.run.send_intro()
        # Polling is every 60 s: only the reconnect schedule (1–2 s, then 2–4 s…)
        # can make this. Under a loaded machine the deadline is generous; the
        # figure itself is measured by bench/reconnect.py.
        assert wait_for(lambda: len(running.acks()) == 2, 20), running.log()
        took = time.monotonic() - back
        assert wait_for(idling(private_dovecot), 30), running.log()
        running.run.send_intro()
        assert wait_for(lambda: len(running.acks()) == 3, 30), running.log()
    finally:
        stop_daemon(running)
    log = running.log()
    assert len(problems(log)) == 1 and "IMAP server unavailable" in problems(log)[0], log
    assert log.count("restored after") == 1, log
    store = Store.open(tmp_path / "refmail.db")
    try:
        assert store.count_referrals() == 3
    finally:
        store.close()
    print(f"tracked {took:.1f} s after the restart")


def test_a_server_that_stays_down_is_tried_on_the_schedule_not_hammered(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path
) -> None:
    with ImapProxy(private_dovecot.host, private_dovecot.port) as proxy:
        # The cap at its least (1 s): waits of 0.5–1 s at most, never shorter.
        running = start_daemon(tmp_path, private_dovecot, smtp, imap=proxy, extra='reconnect_max = "1s"\n')
        try:
            assert wait_for(idling(private_dovecot), 30), running.log()
            proxy.refusing = True  # accepts and hangs up at once, counting each try
            before = proxy.connections
            dropped = time.monotonic()
            assert proxy.drop() == 1
            down_for = 3.0
            time.sleep(down_for)  # the outage itself: the daemon tries meanwhile
            proxy.refusing = False
            accepted = proxy.accepted_at[before:]
            tries = len(accepted)
            back = time.monotonic()
            running.run.send_intro()
            assert wait_for(lambda: len(running.acks()) == 1, 20), running.log()
            took = time.monotonic() - back
        finally:
            stop_daemon(running)
    # Never at once after the drop (the old daemon reconnected within a millisecond).
    assert accepted and accepted[0] - dropped >= 0.5, (accepted[:1], dropped)
    # The waits are at least half the cap each: at most 3 s / 0.5 s tries, not hundreds.
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    assert all(gap >= 0.45 for gap in gaps), gaps
    assert 2 <= tries <= 7, tries
    log = running.log()
    assert len(problems(log)) == 1, log  # one outage, one warning, however many tries
    print(f"{tries} tries in {down_for:.0f} s down; tracked {took:.1f} s after the server was back")


def test_a_connection_cut_without_bye_loses_nothing(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path
) -> None:
    with ImapProxy(private_dovecot.host, private_dovecot.port) as proxy:
        running = start_daemon(tmp_path, private_dovecot, smtp, imap=proxy)
        try:
            running.run.send_intro()
            assert wait_for(lambda: len(running.acks()) == 1, 30), running.log()
            assert wait_for(idling(private_dovecot), 30), running.log()
            assert proxy.drop() == 1  # a reset: no BYE, no tagged answer
            running.run.send_intro()
            assert wait_for(lambda: len(running.acks()) == 2, 20), running.log()
        finally:
            stop_daemon(running)
    store = Store.open(tmp_path / "refmail.db")
    try:
        assert store.count_referrals() == 2
    finally:
        store.close()
    log = running.log()
    assert log.count("IMAP server unavailable") == 1 and log.count("restored after") == 1, log


def test_a_folder_deleted_and_created_again_is_read_again_within_seconds(
    private_dovecot: Dovecot, smtp: SmtpServer, tmp_path: Path
) -> None:
    def append(n: int) -> None:
        with private_dovecot.imap("refs", folder=None) as client:
            client.append("Referrals", intro_message(n).as_bytes())

    with private_dovecot.imap("refs", folder=None) as client:
        client.create_folder("Referrals")
    append(0)
    running = start_daemon(tmp_path, private_dovecot, smtp, extra='folder = "Referrals"\n')
    try:
        assert wait_for(lambda: len(running.acks()) == 1, 30), running.log()
        assert wait_for(idling(private_dovecot), 30), running.log()
        with private_dovecot.imap("refs", folder=None) as client:
            client.delete_folder("Referrals")
        assert wait_for(lambda: "no folder 'Referrals' on the server" in running.log(), 30), running.log()
        with private_dovecot.imap("refs", folder=None) as client:
            client.create_folder("Referrals")
        append(1)
        # Polling is every 60 s: only the reconnect schedule can find the new folder this soon.
        assert wait_for(lambda: len(running.acks()) == 2, 20), running.log()
    finally:
        stop_daemon(running)
    log = running.log()
    assert log.count("no folder 'Referrals' on the server") == 1, log  # said once, tried several times
    assert "will try again in a few seconds" in log
