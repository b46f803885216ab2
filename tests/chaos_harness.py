"""The crash (chaos) run: a real ``refmail run`` SIGKILLed again and again while mail flows.

refmail promises that a crash never loses or duplicates anything: every
message is applied in one transaction with the mailbox position it was read
at, and every outgoing message is a row of the durable outbox before it is
mail (see refmail/tracker.py and refmail/outbox.py). This module tests the
promise the hard way, with nothing faked:

- a private Dovecot and the aiosmtpd relay of ``tests/mailservers.py``;
- ``refmail run`` as a child process, with seconds instead of days for its
  timings, SIGKILLed ``kills`` times and restarted each time;
- a stream of intros (one referrer, provider and prospect each) and of the
  providers' replies to refmail's own nudges, sent to the Reply-To address
  (the signed token) of what the SMTP server accepted: "Thank you so much!"
  to the thank-you nudge, "WON $1,000" to the feedback request.

Kills are aimed in turn (a shuffled round of three) at:

- ``random``: a random moment up to ``max_random_delay`` after the start —
  during start-up, a fetch, processing, planning or sending;
- ``delivery``: a message (reply or intro) is delivered to Dovecot while the
  daemon idles, and the kill comes up to 30 ms after the daemon has left IDLE
  to fetch it (seen in Dovecot's process titles) — fetching, applying it in
  its transaction, planning, sending the answer;
- ``accept``: inside the SMTP server, after it has accepted one of refmail's
  messages and before refmail hears the 250 — the one window SMTP cannot
  close (RFC 5321 has no two-phase commit), where refmail resends the same
  bytes, same Message-ID, after the restart.

When the kills are done the daemon runs until quiet, is stopped with SIGTERM,
and :meth:`ChaosRun.check` compares the database, the outbox and the SMTP
server's record: every intro tracked once, every reply applied once, every
due message sent, and no message sent twice except one in flight at a kill,
with the same Message-ID and bytes. Every random choice comes from ``seed``.

Used by ``tests/test_chaos.py`` (short) and ``bench/chaos.py`` (50+ kills)::

    report = run_chaos(ChaosSettings(kills=10, intros=10, seed=7), workdir)
    assert report.problems == []
    print(report.figures())
"""

from __future__ import annotations

import email.utils
import os
import random
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from mailservers import Accepted, Dovecot, SmtpServer, _pid_alive

__all__ = ["MODES", "ChaosReport", "ChaosRun", "ChaosSettings", "run_chaos"]

TRACKER = "refs@chaos.example"
USER = "refs"
PASSWORD = "refs-secret"
PASSWORD_ENV = "REFMAIL_CHAOS_IMAP_PASSWORD"
#: The console script beside this interpreter (``pip install -e .``).
REFMAIL = [str(Path(sys.executable).parent / "refmail")]
MODES = ("random", "delivery", "accept")
#: What refmail sends for each referral of this run, in the rules' order
#: (refmail/rules.py): (step, role of the recipient).
EXPECTED_STEPS = (
    ("ack", "referrer"),
    ("thank_you", "provider"),
    ("relay_thanks", "referrer"),
    ("feedback", "provider"),
    ("feedback", "prospect"),
    ("status_update", "referrer"),
    ("closed_thanks", "referrer"),
)
#: The providers' answers to refmail's nudges, by step of the nudge.
ANSWERS = {"thank_you": "Thank you so much! I owe you one.", "feedback": "WON $1,000"}
_OWN_ID = re.compile(r"^<refmail\.(\d+)\.([a-z0-9_-]+)\.[0-9a-f]+@")
_HEADERS = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True)
class ChaosSettings:
    """One run's size, seed and bounds. Timings are in seconds of real time."""

    kills: int = 10
    intros: int = 10
    seed: int = 1
    #: The whole run (kills and the wait for quiet) is abandoned after this.
    time_limit: float = 120.0
    thank_you_after: int = 2
    feedback_after: int = 4
    max_random_delay: float = 1.0
    #: How long an ``accept`` kill waits for refmail to send something.
    accept_wait: float = 8.0


@dataclass
class ChaosReport:
    """What a run did and found; ``problems`` is empty when every promise held."""

    settings: ChaosSettings
    kills: Counter[str] = field(default_factory=Counter)
    #: What the daemon was doing at each kill: starting, working (fetching,
    #: processing, planning, sending), idle, or sending (the 250 withheld).
    phases: Counter[str] = field(default_factory=Counter)
    starts: int = 0
    intros: int = 0
    replies: int = 0
    #: Distinct messages refmail sent (outbox rows marked sent).
    sent: int = 0
    #: Envelopes from refmail the SMTP server accepted, duplicates included.
    envelopes: int = 0
    #: Extra copies: envelopes beyond the first with the same Message-ID.
    duplicates: int = 0
    seconds: float = 0.0
    #: From the last kill until everything due had been sent and applied.
    quiet_after: float = 0.0
    problems: list[str] = field(default_factory=list)
    log: Path | None = None

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def command(self) -> str:
        s = self.settings
        return f".venv/bin/python bench/chaos.py --kills {s.kills} --intros {s.intros} --seed {s.seed}"

    def figures(self) -> str:
        by_mode = ", ".join(f"{self.kills[m]} {m}" for m in MODES if self.kills[m])
        phases = ", ".join(f"{n} {phase}" for phase, n in self.phases.most_common())
        return (
            f"kills: {self.total_kills} SIGKILL ({by_mode}); daemon started {self.starts} times\n"
            f"daemon at the kills: {phases}\n"
            f"intros: {self.intros} (each tracked exactly once)\n"
            f"replies: {self.replies} (each applied exactly once)\n"
            f"messages sent: {self.sent} distinct, {self.envelopes} SMTP envelopes\n"
            f"duplicates: {self.duplicates} (same Message-ID and bytes; at most one per kill)\n"
            f"time: {self.seconds:.1f} s in all, quiet {self.quiet_after:.1f} s after the last kill\n"
            f"problems: {len(self.problems)}"
        )


def config_text(settings: ChaosSettings, dovecot: Dovecot, smtp: SmtpServer) -> str:
    """The group's config: anyone may introduce, seconds for days, no quiet hours or caps in the way."""
    return f"""[group]
name = "Chaos Network"
tracking_address = "{TRACKER}"
admins = ["admin@chaos.example"]
timezone = "UTC"
open_membership = true

[timing]
poll_interval = "1s"
thank_you_after = "{settings.thank_you_after}s"
feedback_after = "{settings.feedback_after}s"
stale_after = "30d"
quiet_hours = ""

[nudges]
prospect_feedback = 1
max_per_week = 50

[security]
max_messages_per_sender_per_hour = 10000

[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
username = "{USER}"
password_env = "{PASSWORD_ENV}"
timeout = "10s"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
username = ""
timeout = "10s"

[storage]
database = "refmail.db"
"""


def people(n: int) -> tuple[str, str, str]:
    """Intro ``n``'s referrer, provider and prospect: nobody is in two referrals."""
    return f"mei{n}@chencpa{n}.example", f"tom{n}@roofing{n}.example", f"linda{n}@park{n}.example"


def intro_message(n: int) -> EmailMessage:
    referrer, provider, prospect = people(n)
    msg = EmailMessage()
    msg["From"] = f"Mei Chen <{referrer}>"
    msg["To"] = f"Tom Becker <{provider}>, Linda Park <{prospect}>"
    msg["Cc"] = f"Chaos Referrals <{TRACKER}>"
    msg["Subject"] = f"Intro {n}: Linda <> Tom (roofing)"
    msg["Message-ID"] = f"<chaos-intro-{n}@chencpa{n}.example>"
    msg["Date"] = email.utils.format_datetime(email.utils.localtime())
    msg.set_content(
        "Tom, meet Linda. Linda is looking for a roofer before winter.\n"
        "Linda, Tom is the roofer I told you about.\n\nMei\n"
    )
    return msg


def reply_message(nudge: EmailMessage, sender: str, text: str, n: int) -> EmailMessage:
    """``sender``'s answer as a mail client writes it: to Reply-To, threaded, quoting."""
    reply = EmailMessage()
    reply["From"] = f"Tom Becker <{sender}>"
    reply["To"] = str(nudge["Reply-To"])
    reply["Subject"] = "Re: " + str(nudge["Subject"])
    reply["Message-ID"] = f"<chaos-reply-{n}@{sender.split('@')[1]}>"
    reply["In-Reply-To"] = str(nudge["Message-ID"])
    reply["References"] = str(nudge["Message-ID"])
    reply["Date"] = email.utils.format_datetime(email.utils.localtime())
    body = nudge.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in str(body.get_content() if body else "").splitlines())
    reply.set_content(f"{text}\n\nOn a recent day, Chaos Network <{TRACKER}> wrote:\n{quoted}\n")
    return reply


class DaemonProcess:
    """``refmail run`` as a child process that any thread may SIGKILL.

    Only the main thread reaps (``poll``/``wait``), under the same lock as
    :meth:`kill`, so a kill can never hit a PID that was reaped and reused.
    """

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.starts = 0

    def start(self) -> None:
        with self._lock:
            assert self._proc is None or self._proc.returncode is not None
            self.starts += 1
            with self.log.open("ab") as out:
                out.write(f"--- harness: start {self.starts} ---\n".encode())
                out.flush()
                self._log_offset = out.tell()
                self._proc = subprocess.Popen(
                    [*REFMAIL, "--config", str(self.config), "run"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    env={**os.environ, PASSWORD_ENV: PASSWORD},
                )

    def alive(self) -> bool:
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def kill(self) -> bool:
        """SIGKILL the running daemon and wait until it is dead; False if it was not running."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            os.kill(proc.pid, signal.SIGKILL)
            # Dead (a zombie) before returning: the caller may rely on it
            # executing nothing more, e.g. not reading an SMTP reply.
            deadline = time.monotonic() + 10
            while _pid_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.001)
            return True

    def reap(self, timeout: float = 15.0) -> int | None:
        with self._lock:
            proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (a clean stop) and the exit status; SIGKILL if it hangs."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        code = self.reap(timeout)
        if code is None:
            self.kill()
            return self.reap()
        return code

    def log_since_start(self) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class ChaosRun:
    """One run against servers the caller owns (see :func:`run_chaos`)."""

    def __init__(self, settings: ChaosSettings, workdir: Path, dovecot: Dovecot, smtp: SmtpServer) -> None:
        self.settings = settings
        self.workdir = workdir
        self.dovecot = dovecot
        self.smtp = smtp
        self.rng = random.Random(settings.seed)
        self.db = workdir / "refmail.db"
        config = workdir / "refmail.toml"
        config.write_text(config_text(settings, dovecot, smtp))
        self.daemon = DaemonProcess(config, workdir / "daemon.log")
        self.report = ChaosReport(settings, log=self.daemon.log)
        self.intros_sent = 0
        self.intro_ids: dict[int, str] = {}
        #: Message-ID of each reply sent → the nudge's Message-ID it answers.
        self.replies: dict[str, str] = {}
        self._answered: set[str] = set()
        self._pending: list[Accepted] = []
        self._scanned = 0
        self._armed = False
        self._arm_lock = threading.Lock()
        self._deadline = 0.0

    # -- the stream of mail -------------------------------------------------------
    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=30) as client:
            client.send_message(msg)  # returns after delivery to Dovecot

    def send_intro(self) -> bool:
        if self.intros_sent >= self.settings.intros:
            return False
        n = self.intros_sent
        msg = intro_message(n)
        self._send(msg)
        self.intro_ids[n] = str(msg["Message-ID"])
        self.intros_sent += 1
        return True

    def _scan(self) -> None:
        """Find refmail's new nudges to providers that call for an answer."""
        accepted = self.smtp.messages
        for item in accepted[self._scanned:]:
            if item.mail_from != TRACKER:
                continue
            headers = _HEADERS.parsebytes(item.raw)
            message_id = str(headers["Message-ID"])
            found = _OWN_ID.match(message_id)
            recipient = item.rcpt_tos[0].lower()
            if (
                found and found.group(2) in ANSWERS and recipient.startswith("tom")
                and message_id not in self._answered
            ):
                self._answered.add(message_id)  # a resent duplicate is answered once
                self._pending.append(item)
        self._scanned = len(accepted)

    def send_reply(self) -> bool:
        self._scan()
        if not self._pending:
            return False
        item = self._pending.pop(0)
        nudge = item.message()
        step = _OWN_ID.match(str(nudge["Message-ID"]))
        assert step is not None
        sender = item.rcpt_tos[0].lower()
        reply = reply_message(nudge, sender, ANSWERS[step.group(2)], len(self.replies))
        self._send(reply)
        self.replies[str(reply["Message-ID"])] = str(nudge["Message-ID"])
        return True

    def _moments(self, seconds: float, intros: int) -> list[float]:
        start = time.monotonic()
        return sorted(start + self.rng.uniform(0, seconds) for _ in range(intros))

    def _feed(self, moments: list[float]) -> None:
        """Answer every nudge pending and send the intros whose moment has come."""
        while self.send_reply():
            pass
        while moments and time.monotonic() >= moments[0]:
            moments.pop(0)
            self.send_intro()

    def pump(self, seconds: float, intros: int = 0) -> None:
        """For ``seconds``: answer nudges as they come and send ``intros`` intros at random moments."""
        end = time.monotonic() + seconds
        moments = self._moments(seconds, intros)
        while moments or time.monotonic() < end:
            self._feed(moments)
            time.sleep(0.01)

    # -- the kills ------------------------------------------------------------------
    def _on_accept(self, accepted: Accepted) -> None:
        """In the SMTP server, after it accepted refmail's message, before the 250."""
        if accepted.mail_from != TRACKER:
            return
        with self._arm_lock:
            if not self._armed:
                return
            self._armed = False
        if self.daemon.kill():
            self.report.kills["accept"] += 1
            self.report.phases["sending"] += 1

    def _wait_ready(self, timeout: float = 15.0) -> bool:
        """Until the daemon has started and its IMAP connection idles (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.daemon.alive():
            if "refmail watching" in self.daemon.log_since_start() and self.dovecot.idle_sessions(USER):
                return True
            self._feed([])
            time.sleep(0.01)
        return False

    def _kill(self, mode: str) -> None:
        phase = self._phase()
        if self.daemon.kill():
            self.report.kills[mode] += 1
            self.report.phases[phase] += 1

    def _phase(self) -> str:
        """What the daemon was doing, roughly (read just before the kill)."""
        if "refmail watching" not in self.daemon.log_since_start():
            return "starting"
        return "idle" if self.dovecot.idle_sessions(USER) else "working"

    def kill_random(self, intros: int) -> None:
        self.pump(self.rng.uniform(0, self.settings.max_random_delay), intros)
        self._kill("random")

    def kill_after_delivery(self, intros: int) -> None:
        self.pump(self.rng.uniform(0.2, 1.0), max(0, intros - 1))
        self._wait_ready()
        waited = time.monotonic()
        while not self.send_reply() and not self.send_intro():
            if time.monotonic() - waited > self.settings.accept_wait or not self.daemon.alive():
                self._kill("random")  # nothing left to deliver
                return
            time.sleep(0.01)  # wait for a nudge to answer
        # The daemon sees the message within its IDLE check interval (0.2 s on
        # loopback), leaves IDLE and fetches, applies, plans and sends in some
        # 30-50 ms. A check that finds nothing leaves IDLE for only 1-2 ms, so
        # "out of IDLE" counts once it is seen twice, 5 ms apart.
        heard = time.monotonic()
        while time.monotonic() - heard < 2.0:
            if not self.dovecot.idle_sessions(USER):
                time.sleep(0.005)
                if not self.dovecot.idle_sessions(USER):
                    break
            time.sleep(0.001)
        time.sleep(self.rng.uniform(0, 0.03))
        self._kill("delivery")

    def kill_after_accept(self, intros: int) -> None:
        self._wait_ready()
        with self._arm_lock:
            self._armed = True
        end = time.monotonic() + self.settings.accept_wait
        moments = self._moments(1.0, max(intros, 1))
        while self.daemon.alive() and time.monotonic() < end:
            self._feed(moments)
            time.sleep(0.005)
        with self._arm_lock:
            fired = not self._armed
            self._armed = False
        if not fired:
            self._kill("random")  # refmail had nothing to send in time
        while moments:  # what this round still owed to the stream
            moments.pop(0)
            self.send_intro()

    # -- the run ----------------------------------------------------------------------
    def run(self) -> ChaosReport:
        s = self.settings
        started = time.monotonic()
        self._deadline = started + s.time_limit
        self.smtp.on_accept = self._on_accept
        # A shuffled round of the three modes at a time: each is aimed at often.
        modes: list[str] = []
        while len(modes) < s.kills:
            block = list(MODES)
            self.rng.shuffle(block)
            modes += block
        quota = Counter(self.rng.randrange(s.kills) for _ in range(s.intros)) if s.kills else Counter()
        last_kill = started
        try:
            for k, mode in enumerate(modes[: s.kills]):
                if time.monotonic() > self._deadline:
                    self.report.problems.append(f"time limit reached after {k} of {s.kills} kills")
                    break
                self.daemon.start()
                {"random": self.kill_random, "delivery": self.kill_after_delivery,
                 "accept": self.kill_after_accept}[mode](quota[k])
                last_kill = time.monotonic()
                self._reaped()
                self.pump(self.rng.uniform(0, 0.3))  # mail keeps coming while it is down
            while self.send_intro():
                pass
            self.daemon.start()
            quiet = self._wait_quiet()
            self.report.quiet_after = time.monotonic() - last_kill
            if not quiet:
                self.report.problems.append(
                    f"not quiet within the time limit ({s.time_limit:.0f} s): {self._progress()}"
                )
            self._wait_ready()  # SIGTERM before the handler is installed would just kill it
            code = self.daemon.terminate()
            if code != 0:
                self.report.problems.append(f"the daemon's clean stop (SIGTERM) exited with {code}")
        finally:
            self.smtp.on_accept = None
            if self.daemon.alive():
                self.daemon.kill()
                self.daemon.reap()
        self.report.seconds = time.monotonic() - started
        self.report.starts = self.daemon.starts
        self.check()
        return self.report

    def _reaped(self) -> None:
        """Reap the daemon, which must have died of a SIGKILL of ours."""
        code = self.daemon.reap()
        if code is None:
            self.report.problems.append("the daemon did not die after SIGKILL")
        elif code != -signal.SIGKILL:
            tail = self.daemon.log_since_start()[-2000:]
            self.report.problems.append(f"the daemon exited by itself with {code}:\n{tail}")

    def _wait_quiet(self) -> bool:
        """Keep answering until nothing is left to do, or the time limit."""
        while time.monotonic() < self._deadline:
            if not self.daemon.alive():
                self._reaped()  # it must not stop by itself
                self.daemon.start()
            self.pump(0.25)
            if self._quiet():
                return True
        return False

    # -- reading the database ------------------------------------------------------------
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            return list(conn.execute(sql, params).fetchall())
        except sqlite3.OperationalError:  # not migrated yet
            return []
        finally:
            conn.close()

    def _quiet(self) -> bool:
        self._scan()
        if self._pending or self.intros_sent < self.settings.intros:
            return False
        if len(self.replies) < len(ANSWERS) * self.settings.intros:
            return False
        keys = {str(k) for (k,) in self._query("SELECT key FROM messages")}
        if not set(self.replies) <= keys or not set(self.intro_ids.values()) <= keys:
            return False
        rows = self._query("SELECT status, next_attempt_at FROM outbox")
        expected = len(EXPECTED_STEPS) * self.settings.intros
        return len(rows) >= expected and all(status != "queued" for status, _ in rows)

    def _progress(self) -> str:
        outbox = Counter(str(s) for (s,) in self._query("SELECT status FROM outbox"))
        return (
            f"{self.intros_sent} intros sent, {len(self.replies)} replies sent, "
            f"{len(self._pending)} to send, outbox {dict(outbox)}"
        )

    # -- the verdict -----------------------------------------------------------------------
    def check(self) -> None:
        """Compare database, outbox and the SMTP server's record; add every broken promise."""
        problems = self.report.problems
        report = self.report
        report.intros = self.intros_sent
        report.replies = len(self.replies)
        if self.intros_sent != self.settings.intros:
            problems.append(f"only {self.intros_sent} of {self.settings.intros} intros were sent")

        # Every intro tracked exactly once.
        referrals = self._query("SELECT id, intro_message_id, referrer, provider FROM referrals")
        by_intro = Counter(str(mid) for _, mid, _, _ in referrals)
        if len(referrals) != self.intros_sent:
            problems.append(f"{len(referrals)} referrals for {self.intros_sent} intros")
        referral_of: dict[int, int] = {}
        for n, message_id in self.intro_ids.items():
            if by_intro[message_id] != 1:
                problems.append(f"intro {message_id} tracked {by_intro[message_id]} times")
            introduced = self._query(
                "SELECT count(*) FROM events WHERE kind = 'introduced' AND message_id = ?", (message_id,)
            )
            if introduced != [(1,)]:
                problems.append(f"intro {message_id}: 'introduced' events: {introduced}")
            for rid, mid, referrer, provider in referrals:
                if mid == message_id:
                    referral_of[n] = int(rid)
                    if (referrer, provider) != people(n)[:2]:
                        problems.append(f"intro {message_id}: referrer/provider {referrer}/{provider}")

        # Every reply applied exactly once.
        for reply_id in self.replies:
            events = self._query("SELECT kind FROM events WHERE message_id = ?", (reply_id,))
            outcome = self._query("SELECT outcome FROM messages WHERE key = ?", (reply_id,))
            if len(events) != 1 or outcome != [("nudge_reply",)]:
                problems.append(
                    f"reply {reply_id}: events {[k for (k,) in events]}, outcome {outcome}"
                )

        # Every due message sent: nothing left queued, nothing failed, the whole lifecycle.
        outbox = self._query("SELECT referral_id, step, recipient, message_id, status, raw FROM outbox")
        statuses = Counter(str(row[4]) for row in outbox)
        if set(statuses) - {"sent"}:
            problems.append(f"outbox not all sent: {dict(statuses)}")
        have = {(row[0], row[1], row[2]) for row in outbox}
        for n, rid in referral_of.items():
            referrer, provider, prospect = people(n)
            role = {"referrer": referrer, "provider": provider, "prospect": prospect}
            missing = [s for s, r in EXPECTED_STEPS if (rid, s, role[r]) not in have]
            if missing:
                problems.append(f"R-{rid} (intro {n}): never queued: {missing}")

        # No message sent twice, except one in flight at a kill, with the same Message-ID.
        envelopes = [m for m in self.smtp.messages if m.mail_from == TRACKER]
        copies: dict[str, list[bytes]] = {}
        for item in envelopes:
            copies.setdefault(str(_HEADERS.parsebytes(item.raw)["Message-ID"]), []).append(item.raw)
        rows = {str(row[3]): row for row in outbox}
        for message_id, raws in copies.items():
            row = rows.get(message_id)
            if row is None:
                problems.append(f"sent but not in the outbox: {message_id}")
            elif any(raw != bytes(row[5]) for raw in raws):
                problems.append(f"a copy of {message_id} differs from the outbox's bytes")
        for message_id, row in rows.items():
            if row[4] == "sent" and message_id not in copies:
                problems.append(f"marked sent but never accepted by the server: {message_id}")
        report.envelopes = len(envelopes)
        report.sent = statuses["sent"]
        report.duplicates = sum(len(raws) - 1 for raws in copies.values())
        if report.duplicates > report.total_kills:
            problems.append(f"{report.duplicates} duplicates for {report.total_kills} kills")

        # No crash of its own: SIGKILL leaves no traceback, so any traceback is a bug.
        text = self.daemon.log.read_text(errors="replace") if self.daemon.log.exists() else ""
        if "Traceback" in text:
            at = text.index("Traceback")
            problems.append(f"a traceback in the daemon's log:\n{text[at:at + 3000]}")


def run_chaos(
    settings: ChaosSettings,
    workdir: Path,
    progress: Callable[[str], None] | None = None,
) -> ChaosReport:
    """A whole run with its own Dovecot and SMTP server, files in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with Dovecot(users={USER: PASSWORD}) as dovecot, SmtpServer(dovecot) as smtp:
        if progress:
            where = f"Dovecot on 127.0.0.1:{dovecot.port}, SMTP on 127.0.0.1:{smtp.port}"
            progress(f"{where}; files in {workdir}")
        return ChaosRun(settings, workdir, dovecot, smtp).run()
