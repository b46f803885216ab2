"""The ``refmail run`` loop: fetch new mail, apply it, (send what is due), wait.

Shaped like rq's worker: signal handlers only set a flag, which the loop
checks between messages, so SIGTERM/SIGINT finish the message in hand and exit
cleanly; :meth:`Daemon.cycle` is one full pass for ``--once`` (cron, tests);
cleanup happens in ``finally``.

Waiting uses IMAP IDLE when the server offers it, so a new intro is handled
within a second of delivery, and the ``schedule`` library for periodic work
(the poll fallback now; nudges and weekly summaries join it later).
"""

from __future__ import annotations

import logging
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import schedule

from .config import Config
from .digest import Digest
from .errors import MailboxError
from .mailbox import Fetched, Mailbox, MailboxUnavailable, Position, Retry
from .outbox import DeliveryReport, OutboxItem
from .planner import Planner
from .store import Store
from .tracker import MessageSource, Outcome, Tracker
from .transport import SmtpTransport

__all__ = ["CycleReport", "Daemon"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CycleReport:
    """What one cycle did: outcome counts and the messages that failed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    planned: int = 0
    delivery: DeliveryReport | None = None
    queued: int = 0

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        if not self.processed:
            text = "No new mail."
        else:
            parts = ", ".join(
                f"{n} {k.replace('_', ' ')}" for k, n in sorted(self.outcomes.items())
            )
            text = f"Processed {self.processed} message{'s' if self.processed != 1 else ''}: {parts}."
        if self.planned:
            text += f" Queued {self.planned} new message{'s' if self.planned != 1 else ''}."
        if self.delivery is not None:
            text += f" {self.delivery.summary()}"
        elif self.queued:
            text += f" {self.queued} message{'s' if self.queued != 1 else ''} waiting in the outbox."
        if self.interrupted:
            text += " Stopped early on request."
        return text


class Daemon:
    """Runs the tracker over the configured IMAP folder."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        send: bool = True,
        clock: Callable[[], datetime] = utc_now,
        mailbox: Mailbox | None = None,
        tracker: Tracker | None = None,
        planner: Planner | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.send = send
        self.clock = clock
        self.mailbox = mailbox or Mailbox(config.imap)
        self.planner = planner or (tracker.planner if tracker else None) or Planner(config, store)
        self.tracker = tracker or Tracker(config, store, planner=self.planner)
        self.digest = Digest(self.planner)
        self.retry = retry or Retry()
        self.stopping = False
        self._last_error: str | None = None

    # -- signals -------------------------------------------------------------
    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Ask the loop to stop after the current message (safe in a signal handler)."""
        self.stopping = True

    def _stop_requested(self) -> bool:
        return self.stopping

    # -- one cycle -------------------------------------------------------------
    def cycle(self) -> CycleReport:
        """Fetch everything new, apply it, plan what is due, send it.

        Mail already queued is planned and sent even when the IMAP server is
        down; the :class:`MailboxError` (after the retries of :class:`Retry`
        for outages) is raised afterwards so the caller still hears of it.
        """
        report = CycleReport()
        try:
            self._fetch(report)
        finally:
            if not self.stopping:
                self._plan_and_send(report)
            delivery = report.delivery
            if report.processed or report.planned or (delivery and (delivery.sent or delivery.failed)):
                log.info("%s", report.summary())
            elif delivery and delivery.attempted:
                # Only retries that failed again: part of an outage the outbox
                # reported once when it began (and will report when it ends).
                log.debug("%s", report.summary())
        return report

    def _fetch(self, report: CycleReport) -> None:
        folder = self.config.imap.folder
        self.mailbox.connect()
        stored = self.store.position(folder)
        position = Position(*stored) if stored else None
        for item in self.mailbox.fetch_new(position, retry=self.retry, stop=self._stop_requested):
            outcome = self._handle(item, folder)
            report.outcomes[outcome.outcome] += 1
            if outcome.failed:
                report.failed.append(f"UID {item.uid}: {outcome.reason}")
            if self.stopping:
                report.interrupted = True
                break

    def _plan_and_send(self, report: CycleReport) -> None:
        report.planned = self.planner.plan_all(self.clock())
        report.planned += self.digest.plan(self.clock())
        if self.send:
            report.delivery = self.deliver()
        else:
            report.queued = len(self.planner.outbox.due(self.clock()))

    def deliver(self) -> DeliveryReport | None:
        """Send what the outbox holds that is due, over one SMTP connection."""
        outbox = self.planner.outbox
        if not outbox.due(self.clock(), limit=1):
            return None

        def failed(item: OutboxItem, error: str) -> None:
            self.planner.notify_failure(item, error, self.clock())

        with SmtpTransport(self.config.smtp) as transport:
            return outbox.deliver(
                transport,
                mail_from=self.config.group.tracking_address,
                now=self.clock,
                on_permanent=failed,
                stop=self._stop_requested,
            )

    def _handle(self, item: Fetched, folder: str) -> Outcome:
        source = MessageSource(folder, item.uidvalidity, item.uid)
        now = self.clock()
        if item.too_large:
            limit = self.config.imap.max_message_size
            outcome = self.tracker.record_failure(
                b"",
                reason=f"{item.size} bytes, over max_message_size ({limit}); not downloaded",
                now=now,
                source=source,
                outcome="too_large",
                key=f"too-large:{item.uidvalidity}:{item.uid}",
            )
        else:
            outcome = self.tracker.process(item.raw, now=now, source=source)
        if outcome.failed:
            try:
                self.mailbox.flag(item.uid, uidvalidity=item.uidvalidity)
            except MailboxError as exc:
                log.warning("could not flag failed message UID %d: %s", item.uid, exc)
        return outcome

    def _guarded_cycle(self) -> None:
        """A cycle for the loop: server problems are logged once, never fatal."""
        try:
            self.cycle()
        except MailboxUnavailable as exc:
            # Logged by the Mailbox when it handled the outage itself (retries);
            # keep polling until it ends.
            self._note_error(str(exc), already_logged=exc.logged)
            self.mailbox.close()
        except MailboxError as exc:
            # Wrong password, TLS, missing folder: logged once, retried each
            # poll in case an administrator fixes it on the server side.
            self._note_error(str(exc))
            self.mailbox.close()
        else:
            if self._last_error is not None:
                log.info("mail server usable again")
            self._last_error = None

    def _note_error(self, message: str, *, already_logged: bool = False) -> None:
        if message != self._last_error and not already_logged:
            log.error("%s (will retry every %s)", message, self.config.timing.poll_interval)
        self._last_error = message

    # -- the loop ----------------------------------------------------------------
    def run(self) -> None:
        """Run until SIGTERM/SIGINT: IDLE (or poll), cycle, repeat."""
        previous: dict[signal.Signals, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self.request_stop)
        poll = max(1.0, self.config.timing.poll_interval.total_seconds())
        scheduler = schedule.Scheduler()
        scheduler.every(int(poll)).seconds.do(self._guarded_cycle)
        log.info(
            "refmail watching %s on %s (%s)",
            self.config.imap.folder,
            self.mailbox.where,
            self.config.group.tracking_address,
        )
        try:
            self._guarded_cycle()
            while not self.stopping:
                idle = scheduler.idle_seconds
                wait = poll if idle is None else max(0.2, min(poll, idle))
                if self.mailbox.wait_for_mail(wait, self._stop_requested) and not self.stopping:
                    self._guarded_cycle()
                if not self.stopping:
                    scheduler.run_pending()
        finally:
            self.mailbox.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("refmail stopped")
