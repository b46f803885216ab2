"""Back after an outage: from the IMAP server being up again to an intro sent then being acknowledged.

Real servers, a real daemon: a private Dovecot and the aiosmtpd server of
``tests/mailservers.py`` (which timestamps what it accepts), ``refmail run``
as a child process polling only once a minute, so that only the reconnect
schedule (refmail.incoming.reconnect.Retry: 1–2 s, then doubling with jitter
up to ``[imap] reconnect_max``) can bring it back quickly. Each round stops
Dovecot under the idling daemon, waits until the daemon has logged the
outage and then ``down`` seconds more, starts Dovecot, sends an intro at
once and measures until refmail's acknowledgement is accepted.

Floor, in the same run: the same intro → acknowledgement with the server up
all along (IDLE; what refmail needs anyway once it is connected). What the
schedule adds over that floor is the wait for the next try: after a quick
restart about 1–2 s, after a long outage at most ``reconnect_max``.

Run: .venv/bin/python bench/reconnect.py [--rounds 10] [--down 0,5,20] [--reconnect-max 30s]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chaos_harness import TRACKER, ChaosRun, ChaosSettings
from harness import fmt, percentile, table
from mailservers import Dovecot, SmtpServer

LATER = ChaosSettings(thank_you_after=30 * 86400, feedback_after=60 * 86400)
ACK_TIMEOUT = 120.0


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _outages(chaos: ChaosRun) -> int:
    """Outages the daemon has logged so far (one WARNING each)."""
    return chaos.daemon.log_since_start().count("IMAP server unavailable")


def _acks(smtp: SmtpServer) -> list[Any]:
    return [m for m in smtp.messages if m.mail_from == TRACKER]


def _intro(run: ChaosRun, smtp: SmtpServer) -> float | None:
    """Send one intro; seconds from sending to refmail's acknowledgement being accepted."""
    before = len(_acks(smtp))
    sent = time.monotonic()
    run.send_intro()
    if not _wait(lambda: len(_acks(smtp)) > before, ACK_TIMEOUT):
        return None
    return _acks(smtp)[before].at - sent


def run(rounds: int = 10, downs: tuple[float, ...] = (0.0, 5.0, 20.0), reconnect_max: str = "30s",
        floor_count: int = 5) -> dict[str, Any]:
    settings = ChaosSettings(**{**LATER.__dict__, "intros": 10_000})
    out: dict[str, Any] = {"reconnect_max": reconnect_max, "rounds": rounds, "downs": list(downs)}
    with tempfile.TemporaryDirectory(prefix="rmbench-") as work, \
            Dovecot(users={"refs": "refs-secret"}) as dovecot, SmtpServer(dovecot) as smtp:
        chaos = ChaosRun(settings, Path(work), SimpleNamespace(host=dovecot.host, port=dovecot.port), smtp)
        config = chaos.daemon.config
        text = config.read_text().replace('poll_interval = "1s"', 'poll_interval = "60s"')
        config.write_text(text.replace("[imap]\n", f'[imap]\nreconnect_max = "{reconnect_max}"\n', 1))
        chaos.daemon.start()
        try:
            floor = [x for x in (_intro(chaos, smtp) for _ in range(floor_count)) if x is not None]
            out["floor"] = {"count": floor_count, "values": floor, "p50": percentile(floor, 50),
                            "max": max(floor, default=float("nan"))}
            for down in downs:
                values: list[float] = []
                missed = 0
                for _ in range(rounds):
                    _wait(lambda: dovecot.idle_sessions("refs") == 1, 60)
                    outages = _outages(chaos)
                    dovecot.halt()
                    _wait(lambda n=outages: _outages(chaos) > n, 30)
                    time.sleep(down)
                    dovecot.start()
                    took = _intro(chaos, smtp)
                    if took is None:
                        missed += 1
                    else:
                        values.append(took)
                out[f"down_{down:g}"] = {"down": down, "values": values, "missed": missed,
                                         "p50": percentile(values, 50), "p95": percentile(values, 95),
                                         "max": max(values, default=float("nan"))}
        finally:
            chaos.daemon.terminate()
        log = chaos.daemon.log_since_start()
        out["warnings"] = _outages(chaos)
        out["restored"] = log.count("restored after")
    return out


def render(r: dict[str, Any]) -> str:
    floor = r["floor"]
    rows = [[f"floor: the server up all along ({len(floor['values'])}/{floor['count']} intros)",
             fmt(floor["p50"], 2), "—", fmt(floor["max"], 2), "0"]]
    for down in r["downs"]:
        d = r[f"down_{down:g}"]
        label = "restarted at once" if not down else f"down {down:g} s more after the outage was noticed"
        rows.append([f"Dovecot {label} ({r['rounds']} rounds)", fmt(d["p50"], 2), fmt(d["p95"], 2),
                     fmt(d["max"], 2), str(d["missed"])])
    return "\n".join([
        table(["server up again → intro acknowledged", "p50 s", "p95 s", "max s", "missed"], rows),
        "",
        f"`reconnect_max = \"{r['reconnect_max']}\"`, `poll_interval = \"60s\"`; one WARNING per outage "
        f"({r['warnings']} for {r['rounds'] * len(r['downs'])} outages), one \"restored\" line each "
        f"({r['restored']}). Reproduce: `.venv/bin/python bench/reconnect.py --rounds {r['rounds']} "
        f"--down {','.join(f'{d:g}' for d in r['downs'])} --reconnect-max {r['reconnect_max']}`.",
    ])


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    quick = r.get("down_0")
    out: list[tuple[str, str, bool | None]] = []
    if quick:
        out.append(("reconnect: an intro sent right after a restart is tracked within 5 s (p95)",
                    f"{fmt(quick['p95'], 2)} s (floor {fmt(r['floor']['p50'], 2)} s)",
                    quick["p95"] < 5.0 and not quick["missed"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--down", default="0,5,20", help="extra seconds down, comma-separated")
    parser.add_argument("--reconnect-max", default="30s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    downs = tuple(float(x) for x in args.down.split(",") if x.strip())
    result = run(args.rounds, downs, args.reconnect_max)
    print(render(result))
    for name, measured, ok in targets(result):
        print(f"{'✓' if ok else '✗'} {name}: {measured}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
