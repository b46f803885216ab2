"""Latency: from the SMTP server accepting an intro to it accepting refmail's acknowledgement.

Real servers, a real daemon: a Dovecot and the aiosmtpd test server of
``tests/mailservers.py`` (which delivers to Dovecot before answering 250 and
timestamps every accepted message), and ``refmail run`` as a child process.
Intros are sent one at a time, each after a random pause (so arrivals do not
fall into step with a poll timer) and only once the previous one has been
acknowledged. Latency = ``Accepted.at`` of refmail's reply (matched by
``In-Reply-To``) minus ``Accepted.at`` of the intro.

Two modes, each with its own fresh servers and database:

- **IDLE** (``idle = true``): target p50 < 0.5 s, p95 < 1 s. Its floor, measured
  first in the same run: how long a bare imapclient IDLE session takes to see
  the ``* N EXISTS`` of a message the same SMTP server has just accepted
  (Dovecot batches change notifications).
- **polling** (``idle = false``, ``poll_interval = "2s"``): bounded by the
  interval plus one cycle.

Run: .venv/bin/python bench/latency.py [--count 100] [--poll-count 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import corpus
from harness import REFMAIL, fmt, percentile, table, verdict
from mailservers import Accepted, Dovecot, SmtpServer

ACK_TIMEOUT = 20.0
_HEADERS = BytesHeaderParser(policy=compat32)


def _send(smtp: SmtpServer, mail: corpus.Mail) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
        client.sendmail(mail.mail_from, list(mail.rcpt_tos), mail.raw)


def _accepted(smtp: SmtpServer, message_id: str, since: int = 0) -> Accepted | None:
    needle = message_id.encode()
    for item in smtp.messages[since:]:
        if needle in item.raw[:8192]:
            return item
    return None


def _reply_to(smtp: SmtpServer, message_id: str, since: int) -> Accepted | None:
    """refmail's message answering ``message_id`` (an ack or a roles question), if accepted yet."""
    for item in smtp.messages[since:]:
        if item.mail_from != corpus.TRACKER:
            continue
        headers = _HEADERS.parsebytes(item.raw)
        if (headers.get("In-Reply-To") or "").strip() == message_id:
            return item
    return None


def idle_floor(count: int, seed: int) -> list[float]:
    """SMTP accept → ``* N EXISTS`` seen by a bare IMAP IDLE client, ``count`` times."""
    from imapclient import IMAPClient

    group = corpus.make_group(seed)
    out: list[float] = []
    with Dovecot(users={"floor": "floor-secret"}) as dovecot, SmtpServer(dovecot) as smtp:
        client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
        client.login("floor", "floor-secret")
        client.select_folder("INBOX")
        rng = random.Random(seed)
        try:
            for i in range(count):
                time.sleep(rng.uniform(0, 0.3))
                mail = corpus.fresh_intro(seed + 1000, i, group=group, now=datetime.now(UTC))
                client.idle()
                try:
                    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as s:
                        s.sendmail(mail.mail_from, ["floor@harbornet.example"], mail.raw)
                    accepted = _accepted(smtp, mail.message_id)
                    assert accepted is not None
                    deadline = time.monotonic() + 10
                    seen = None
                    while time.monotonic() < deadline:
                        responses = client.idle_check(timeout=0.05)
                        if any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses):
                            seen = time.monotonic()
                            break
                    if seen is not None:
                        out.append(seen - accepted.at)
                finally:
                    client.idle_done()
        finally:
            client.logout()
    return out


def measure(count: int, *, idle: bool, poll_interval: str = "2s", seed: int = 7) -> dict[str, Any]:
    """``count`` intros through a running ``refmail run`` daemon; latencies in seconds."""
    group = corpus.make_group(seed)
    work = Path(tempfile.mkdtemp(prefix="rmbench-lat-", dir="/tmp"))
    rng = random.Random(f"latency:{seed}:{idle}")
    jitter = 0.3 if idle else float(poll_interval.rstrip("s"))
    latencies: list[float] = []
    missed = 0
    log = work / "daemon.log"
    with Dovecot(users={corpus.TRACKER_USER: corpus.PASSWORD}) as dovecot, SmtpServer(dovecot) as smtp:
        config = work / "refmail.toml"
        config.write_text(corpus.config_toml(
            group, imap_port=dovecot.port, smtp_port=smtp.port, database=work / "refmail.db", idle=idle,
            poll_interval="60s" if idle else poll_interval,
        ))
        env = {**os.environ, corpus.PASSWORD_ENV: corpus.PASSWORD}
        with open(log, "wb") as log_file:
            daemon = subprocess.Popen([*REFMAIL, "--config", str(config), "run"], env=env, cwd=work,
                                      stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        try:
            # Warm-up (not counted): the daemon's first connection, imports, template compilation.
            for i in range(-2, count):
                if daemon.poll() is not None:
                    raise RuntimeError(
                        f"refmail run exited with {daemon.returncode}:\n{log.read_text()[-3000:]}")
                time.sleep(rng.uniform(0, jitter) if i >= 0 else 0.5)
                mail = corpus.fresh_intro(seed, i + 2, group=group, now=datetime.now(UTC))
                mark = len(smtp.messages)
                _send(smtp, mail)
                accepted = _accepted(smtp, mail.message_id, mark)
                assert accepted is not None, "the SMTP server did not record the intro"
                deadline = time.monotonic() + ACK_TIMEOUT
                reply = None
                while reply is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                    reply = _reply_to(smtp, mail.message_id, mark)
                if i < 0:
                    if reply is None:
                        raise RuntimeError(
                            f"no acknowledgement for the warm-up intro:\n{log.read_text()[-3000:]}")
                    continue
                if reply is None:
                    missed += 1
                else:
                    latencies.append(reply.at - accepted.at)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            shutil.rmtree(work, ignore_errors=True)
    return {
        "mode": "idle" if idle else f"poll {poll_interval}", "count": count, "missed": missed,
        "latencies": latencies, "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
        "min": min(latencies, default=float("nan")), "max": max(latencies, default=float("nan")),
        "poll_interval": None if idle else float(poll_interval.rstrip("s")),
    }


def run(count: int = 100, poll_count: int = 50, poll_interval: str = "2s", seed: int = 7,
        floor_count: int = 30) -> dict[str, Any]:
    floor = idle_floor(floor_count, seed)
    return {
        "floor": {"count": floor_count, "seen": len(floor), "p50": percentile(floor, 50),
                  "p95": percentile(floor, 95), "max": max(floor, default=float("nan"))},
        "idle": measure(count, idle=True, seed=seed),
        "poll": measure(poll_count, idle=False, poll_interval=poll_interval, seed=seed),
    }


def render(r: dict[str, Any]) -> str:
    floor, idle, poll = r["floor"], r["idle"], r["poll"]
    rows = [
        [f"floor: bare IMAP IDLE sees `EXISTS` ({floor['seen']}/{floor['count']} seen)", fmt(floor["p50"], 3),
         fmt(floor["p95"], 3), "—", fmt(floor["max"], 3), "—"],
        [f"**refmail, IDLE** ({idle['count']} intros)", fmt(idle["p50"], 3), fmt(idle["p95"], 3),
         fmt(idle["min"], 3), fmt(idle["max"], 3), idle["missed"]],
        [f"refmail, polling every {fmt(poll['poll_interval'], 0)} s ({poll['count']} intros)",
         fmt(poll["p50"], 3), fmt(poll["p95"], 3), fmt(poll["min"], 3), fmt(poll["max"], 3), poll["missed"]],
    ]
    return "\n".join([
        table(["intro accepted → acknowledgement accepted", "p50 s", "p95 s", "min s", "max s", "missed"],
              rows),
        "",
        table(["target (issue 6)", "measured", "status"], [[t, m, verdict(ok)] for t, m, ok in targets(r)]),
    ])


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    idle, poll, floor = r["idle"], r["poll"], r["floor"]
    bound = (poll["poll_interval"] or 0) + 1.0
    return [
        ("latency: IDLE p50 under 0.5 s", f"{fmt(idle['p50'], 3)} s (floor: Dovecot's IDLE notice "
         f"{fmt(floor['p50'], 3)} s)", idle["p50"] < 0.5 and not idle["missed"]),
        ("latency: IDLE p95 under 1 s", f"{fmt(idle['p95'], 3)} s", idle["p95"] < 1.0 and not idle["missed"]),
        (f"latency: polling bounded by the interval (max under interval + 1 s = {fmt(bound, 0)} s)",
         f"max {fmt(poll['max'], 3)} s", poll["max"] < bound and not poll["missed"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--poll-count", type=int, default=50)
    parser.add_argument("--poll-interval", default="2s")
    parser.add_argument("--floor-count", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.count, args.poll_count, args.poll_interval, args.seed, args.floor_count)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
