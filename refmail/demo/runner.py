"""``refmail demo``: the real pipeline on a built-in sample inbox.

No mail server and no config: the embedded group (``data/group.toml``)
and its inbox (``data/inbox/*.eml``, realistic mail from Gmail, Outlook,
Apple Mail and Thunderbird) are copied into a local Maildir, and the same
:class:`~refmail.workflow.tracker.Tracker` the daemon uses reads it on a simulated
clock, so the demo shows exactly what refmail would capture — and why. Then
:mod:`refmail.demo.scenario` plays five weeks of replies and follow-up, writing
every message refmail sends to ``sent/`` where the user can open it.
"""

from __future__ import annotations

import mailbox
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from refmail.admin.display import referrals_table
from refmail.config import Config, load_config
from refmail.demo.scenario import FileTransport, Reply, SentMail, play
from refmail.incoming.sources import MailSource
from refmail.storage.store import Store
from refmail.workflow.planner import Planner
from refmail.workflow.tracker import Outcome, OutcomeName, Tracker

__all__ = ["DEMO_NOW", "DemoResult", "demo_config", "demo_messages", "run_demo"]

#: The demo's simulated "now": the Monday the sample mail leads up to.
DEMO_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/Chicago"))

_OUTCOME_STYLE = {
    OutcomeName.CREATED: "bold green",
    OutcomeName.DUPLICATE_INTRO: "green",
    OutcomeName.FIRST_CONTACT: "blue",
    OutcomeName.THREAD_EVENT: "blue",
    OutcomeName.BOUNCE: "yellow",
    OutcomeName.IGNORED: "dim",
    OutcomeName.FAILED: "red",
}


def _data() -> resources.abc.Traversable:
    return resources.files("refmail.demo") / "data"


def demo_config(workdir: Path) -> Config:
    """Write the embedded group config into ``workdir`` (database beside it) and load it.

    Keeping a real file lets the user go on exploring with the ordinary
    commands (``refmail --config DIR/refmail.toml referrals``).
    """
    text = (_data() / "group.toml").read_text(encoding="utf-8")
    if "storage" not in tomllib.loads(text):
        text += '\n[storage]\ndatabase = "refmail.db"\n'
    path = workdir / "refmail.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def demo_messages() -> list[tuple[str, bytes]]:
    """``(file name, raw bytes)`` of the sample inbox, in story order."""
    inbox = _data() / "inbox"
    files = sorted((f for f in inbox.iterdir() if f.name.endswith(".eml")), key=lambda f: f.name)
    return [(f.name, f.read_bytes()) for f in files]


def _seed_maildir(path: Path, messages: list[tuple[str, bytes]]) -> MailSource:
    box = mailbox.Maildir(path, create=True)
    for _name, raw in messages:
        box.add(raw)
    box.close()
    return MailSource(path, "maildir")


def _describe(outcome: Outcome) -> str:
    verdict = outcome.classification
    if outcome.outcome is OutcomeName.CREATED and verdict is not None:
        if verdict.provider:
            roles = f"provider {verdict.provider}; prospects {', '.join(verdict.prospects)}"
        else:
            roles = "roles unknown — refmail will ask the referrer"
        return f"R-{outcome.referral_id}: {roles}"
    if outcome.referral_id:
        return f"R-{outcome.referral_id}: {outcome.reason}"
    return outcome.reason


@dataclass
class DemoResult:
    """What the demo did: each inbox message's outcome and every message sent."""

    outcomes: list[Outcome]
    sent: list[SentMail]
    workdir: Path


def run_demo(out: Path | None = None, *, console: Console | None = None) -> DemoResult:
    """Run the demo, print what happened, and return what it did."""
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="refmail-demo-")) if out is None else out
    workdir.mkdir(parents=True, exist_ok=True)
    config = demo_config(workdir)
    messages = demo_messages()
    names = dict(enumerate(name for name, _ in messages))
    source = _seed_maildir(workdir / "Maildir", messages)

    console.rule(f"[bold]refmail demo[/] — {escape(config.group.name)}")
    console.print(
        f"A sample inbox of {len(messages)} messages copied to "
        f"[bold]{escape(config.group.tracking_address)}[/], read on a simulated clock "
        f"({DEMO_NOW:%a %d %b %Y %H:%M} {config.group.timezone}).\n"
    )
    store = Store.open(config.database_path())
    outcomes: list[Outcome] = []
    clock = [DEMO_NOW]
    transport = FileTransport(workdir / "sent", lambda: clock[0])
    try:
        planner = Planner(config, store)
        tracker = Tracker(config, store, planner=planner)
        table = Table(title="What refmail did with each message", expand=False)
        table.add_column("#", justify="right")
        table.add_column("Message")
        table.add_column("Outcome", no_wrap=True)
        table.add_column("Why")
        for index, (_label, raw) in enumerate(source.messages()):
            outcome = tracker.process(raw, now=DEMO_NOW)
            outcomes.append(outcome)
            style = _OUTCOME_STYLE.get(outcome.outcome, "white")
            table.add_row(
                str(index + 1),
                escape(outcome.classification.subject if outcome.classification else names[index]),
                f"[{style}]{outcome.outcome.replace('_', ' ')}[/]",
                escape(_describe(outcome)),
            )
        console.print(table)
        counts = Counter(o.outcome for o in outcomes)
        console.print(
            f"{counts[OutcomeName.CREATED]} referrals tracked from {len(outcomes)} messages; "
            f"{counts[OutcomeName.IGNORED]} ignored, {counts[OutcomeName.BOUNCE]} bounces, "
            f"{counts[OutcomeName.FIRST_CONTACT] + counts[OutcomeName.THREAD_EVENT]} thread updates.\n"
        )
        console.rule("[bold]Five weeks of follow-up[/] (simulated clock)")
        replies: list[tuple[Reply, Outcome | None]] = []
        play(
            tracker, planner, transport, clock, mail_from=config.group.tracking_address,
            on_reply=lambda reply, outcome: replies.append((reply, outcome)),
        )
        _print_story(console, config, transport.sent, replies)
        console.print()
        referrals_table(store.iter_referrals(), out=console)
    finally:
        store.close()
    console.print(
        f"\n{len(transport.sent)} messages sent, each written to "
        f"[bold]{escape(str(workdir / 'sent'))}[/] (.eml, and .html to open in a browser).\n"
        f"Explore the database with\n"
        f"  [bold]refmail --config {escape(str(workdir / 'refmail.toml'))} referrals --json[/]"
    )
    return DemoResult(outcomes, transport.sent, workdir)


def _print_story(
    console: Console,
    config: Config,
    sent: list[SentMail],
    replies: list[tuple[Reply, Outcome | None]],
) -> None:
    """One table: refmail's messages and people's replies, in time order."""
    zone = config.zone
    rows: list[tuple[datetime, str, str, str, str]] = []
    for mail in sent:
        rows.append((mail.at, "refmail →", mail.to, mail.step.replace("_", " "), mail.subject))
    for reply, outcome in replies:
        hour, minute = (int(x) for x in reply.time.split(":"))
        at = (DEMO_NOW + timedelta(days=reply.day)).replace(hour=hour, minute=minute)
        what = outcome.reason if outcome else "no message to answer"
        first_line = reply.body.splitlines()[0]
        rows.append((at, "reply ←", reply.sender, what, first_line[:70]))
    table = Table(expand=False)
    table.add_column("When", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("Who")
    table.add_column("What")
    table.add_column("Subject / words")
    for at, arrow, who, what, text in sorted(rows, key=lambda r: r[0]):
        style = "cyan" if arrow.startswith("refmail") else "yellow"
        table.add_row(
            at.astimezone(zone).strftime("%a %b %d %H:%M"), f"[{style}]{arrow}[/]",
            escape(who), escape(what), escape(text),
        )
    console.print(table)
