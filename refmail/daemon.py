"""The ``refmail run`` loop: fetch new mail, apply it, (send what is due), wait.

Shaped like rq's worker: signal handlers only set a flag, which the loop
checks between messages, so SIGTERM/SIGINT finish the message in hand and exit
cleanly; :meth:`Daemon.cycle` is one full pass for ``--once`` (cron, tests);
cleanup happens in ``finally``.

Waiting uses IMAP IDLE when the server offers it, so a new intro is handled
within a second of delivery, and the ``schedule`` library for periodic work
(the poll fallback now; nudges and weekly summaries join it later). After an
outage the loop does not wait for the poll: it tries again on the reconnect
schedule of :class:`~refmail.incoming.mailbox.Retry` (1–2 s, then doubling
with jitter up to ``[imap] reconnect_max``), so a server that is back is read
within seconds, and many clients do not all return in the same moment.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import schedule

from refmail.config import Config, format_duration
from refmail.errors import MailboxError, SignInFailed, StoreError
from refmail.incoming.mailbox import Fetched, Mailbox, MailboxUnavailable, Position, Retry
from refmail.oauth.source import TokenSource
from refmail.outgoing.outbox import DeliveryReport, OutboxItem
from refmail.outgoing.transport import SmtpTransport
from refmail.reading.classification import Classification
from refmail.storage.store import Store, unusable
from refmail.workflow.digest import Digest
from refmail.workflow.planner import Planner
from refmail.workflow.tracker import Classifier, MessageSource, Outcome, Tracker, Unclassifiable

__all__ = ["CycleReport", "Daemon"]

log = logging.getLogger(__name__)


#: The longest a batch of applied messages waits for its COMMIT (see ``Daemon._fetch``).
_BATCH_SECONDS = 1.0


#: Messages a cycle applies one by one before it classifies the rest in worker
#: processes: a daemon woken for a few new messages never starts the pool.
_POOL_AFTER = 64
#: Messages per task sent to a worker (pickling is per task, not per message).
_CHUNK = 32
#: Tasks in flight per worker, ahead of the messages being applied.
_DEPTH = 2
#: Bytes of messages per task at most, and read ahead in all at most: what the
#: workers hold in memory whatever the inbox holds (100 messages of 24.5 MB were
#: 3.2 GB ahead of the one being applied).
_CHUNK_BYTES = 4 * 1024 * 1024
_AHEAD_BYTES = 32 * 1024 * 1024
#: A message larger than this is classified in the daemon's process, alone: a
#: worker would hold a pickled copy besides the daemon's.
_POOL_MAX_BYTES = 1024 * 1024

_WORKER: tuple[Classifier, Config] | None = None
_Classified = Classification | Unclassifiable


def _worker_start(parent: int) -> None:
    """In a worker process: leave signals to the daemon, and end with it.

    The worker inherits the daemon's SIGTERM/SIGINT handlers (they only set a
    flag), and a worker of a daemon killed with SIGKILL would otherwise wait
    for work forever: a thread ends it once it is no longer the daemon's child.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="refmail-parent-watch", daemon=True).start()


def _chunks(items: Iterator[Fetched]) -> Iterator[tuple[list[Fetched], bool]]:
    """``(messages, for the workers)``: at most ``_CHUNK`` messages and ``_CHUNK_BYTES``
    together, in order; a message over ``_POOL_MAX_BYTES`` alone, not for the workers."""
    chunk: list[Fetched] = []
    size = 0
    for item in items:
        length = len(item.raw)
        if chunk and (length > _POOL_MAX_BYTES or len(chunk) == _CHUNK or size + length > _CHUNK_BYTES):
            yield chunk, True
            chunk, size = [], 0
        if length > _POOL_MAX_BYTES:
            yield [item], False
            continue
        chunk.append(item)
        size += length
    if chunk:
        yield chunk, True


def _classify_chunk(raws: list[bytes]) -> list[_Classified]:
    """In a worker process: classify each message; an exception becomes :class:`Unclassifiable`."""
    assert _WORKER is not None
    classify, config = _WORKER
    out: list[_Classified] = []
    for raw in raws:
        try:
            out.append(classify(raw, config))
        except Exception as exc:  # recorded as failed by Tracker.process, as in one process
            out.append(Unclassifiable(type(exc).__name__, str(exc)))
    return out


class _Ahead:
    """Classification of a large fetch on every core, while the main process applies in order.

    ``classify`` is pure (bytes and the config in, a picklable
    :class:`Classification` out), so forked workers (which inherit the
    classifier and the config, and are sent only bytes) classify chunks of
    messages ahead of the main process, which does IMAP and SQLite and applies
    the results strictly in fetch order. The first ``_POOL_AFTER`` messages of
    a cycle go one by one, classified by the tracker as before: the workers are
    for a first start or a backlog, not for the intro IDLE woke the daemon for.
    Should a worker die, the rest of the fetch is classified in this process.
    What is read ahead is bounded in bytes as well as in messages, and a large
    message never goes to a worker (``_chunks``).

    ``before_fetch`` runs before messages are pulled from the mailbox (which
    may wait on the network): the daemon commits there, so its write lock is
    never held across a network wait. Messages read ahead but not applied when
    the caller stops are dropped: the stored position is still before them.
    """

    def __init__(self, classify: Classifier, config: Config, *, before_fetch: Callable[[], None]) -> None:
        self.classify = classify
        self.config = config
        self.before_fetch = before_fetch
        self.pool: ProcessPoolExecutor | None = None

    def run(self, items: Iterator[Fetched]) -> Iterator[tuple[Fetched, _Classified | None]]:
        workers = os.cpu_count() or 1
        for count, item in enumerate(items, 1):
            yield item, None
            if count >= _POOL_AFTER and workers > 1:
                break
        else:
            return
        global _WORKER
        _WORKER = (self.classify, self.config)
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_start, initargs=(os.getpid(),),
        )
        window: deque[tuple[list[Fetched], Future[list[_Classified]] | None]] = deque()
        chunks = _chunks(items)
        ahead = 0  # bytes of the messages in the window
        exhausted = False
        while not exhausted or window:
            if not exhausted:
                self.before_fetch()
            while not exhausted and len(window) < workers * _DEPTH and (not window or ahead < _AHEAD_BYTES):
                step = next(chunks, None)
                if step is None:
                    exhausted = True
                    break
                chunk, pooled = step
                ahead += sum(len(i.raw) for i in chunk)
                future = self.pool.submit(_classify_chunk, [i.raw for i in chunk]) if pooled else None
                window.append((chunk, future))
            if not window:
                break
            chunk, future = window.popleft()
            ahead -= sum(len(i.raw) for i in chunk)
            if future is None:
                yield from ((item, None) for item in chunk)
                continue
            try:
                results: list[_Classified | None] = list(future.result())
            except Exception as exc:  # BrokenProcessPool (a worker died), a result that did not pickle
                log.warning("classification in worker processes failed (%s); classifying the rest "
                            "in the main process", type(exc).__name__)
                yield from ((item, None) for item in chunk)
                for rest, _ in window:
                    yield from ((item, None) for item in rest)
                window.clear()
                for rest, _ in chunks:
                    yield from ((item, None) for item in rest)
                return
            yield from zip(chunk, results, strict=True)

    def close(self) -> None:
        global _WORKER
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        _WORKER = None


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
        #: OAuth2 tokens for both servers (None when both sign in with passwords).
        self.tokens = TokenSource.from_config(config)
        self.mailbox = mailbox or Mailbox(config.imap, tokens=self.tokens)
        self.planner = planner or (tracker.planner if tracker else None) or Planner(config, store)
        self.tracker = tracker or Tracker(config, store, planner=self.planner)
        self.digest = Digest(self.planner)
        self.retry = retry or Retry(max_delay=config.imap.reconnect_max.total_seconds())
        self.stopping = False
        self._last_error: str | None = None
        #: Failed cycles in a row that are retried on the reconnect schedule
        #: (an outage, a missing folder), and when the next try is due.
        self._failures = 0
        self._retry_at: float | None = None

    # -- signals -------------------------------------------------------------
    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Ask the loop to stop after the current message (safe in a signal handler)."""
        self.stopping = True

    def _stop_requested(self) -> bool:
        return self.stopping

    # -- one cycle -------------------------------------------------------------
    def cycle(self, *, retry: bool = True) -> CycleReport:
        """Fetch everything new, apply it, plan what is due, send it.

        Mail already queued is planned and sent even when the IMAP server is
        down; the :class:`MailboxError` (after the retries of :class:`Retry`
        for outages, unless ``retry`` is False) is raised afterwards so the
        caller still hears of it.
        """
        report = CycleReport()
        try:
            self._fetch(report, retry=retry)
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

    def _fetch(self, report: CycleReport, *, retry: bool = True) -> None:
        """Apply every new message, committing once per fetched batch.

        A COMMIT per message was a third of the time applying mail took. The
        messages of a batch, their referrals, their queued mail and the folder
        position now commit together: a crash before the COMMIT leaves the
        stored position before the batch, which is read again, and nothing of
        it is kept — exactly once, as before. Each message still runs in its
        own savepoint (``Store.transaction`` nested), so an exception rolls
        back that message only; the messages before it are committed on the
        way out, as they were when each committed itself.

        The commit comes after ``batch_size`` messages — where
        :meth:`Mailbox.fetch_new` goes back to the server for the next batch —
        or after ``_BATCH_SECONDS``, whichever is first, so the write lock is
        not held across a network wait or for long when mail is slow to apply.
        Mail is sent only after the commit (``_plan_and_send``).
        """
        folder = self.config.imap.folder
        self.mailbox.connect()
        stored = self.store.position(folder)
        position = Position(*stored) if stored else None
        size = self.config.imap.batch_size
        pending: int | None = None  # messages applied since BEGIN; None outside a transaction
        opened = 0.0

        def commit() -> None:
            nonlocal pending
            if pending is not None:
                self.store.commit()
                pending = None

        fetched = self.mailbox.fetch_new(
            position, retry=self.retry if retry else None, stop=self._stop_requested
        )
        ahead = _Ahead(self.tracker.classify, self.config, before_fetch=commit)
        try:
            for item, classified in ahead.run(fetched):
                if pending is None:
                    self.store.begin()
                    pending, opened = 0, time.monotonic()
                outcome = self._handle(item, folder, classified)
                pending += 1
                report.outcomes[outcome.outcome] += 1
                if outcome.failed:
                    report.failed.append(f"UID {item.uid}: {outcome.reason}")
                if pending >= size or time.monotonic() - opened >= _BATCH_SECONDS:
                    commit()
                if self.stopping:
                    report.interrupted = True
                    break
        finally:
            commit()
            ahead.close()

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

        with SmtpTransport(self.config.smtp, tokens=self.tokens) as transport:
            return outbox.deliver(
                transport,
                mail_from=self.config.group.tracking_address,
                now=self.clock,
                on_permanent=failed,
                stop=self._stop_requested,
            )

    def _handle(
        self, item: Fetched, folder: str, classified: Classification | Unclassifiable | None = None
    ) -> Outcome:
        source = MessageSource(folder, item.uidvalidity, item.uid)
        now = self.clock()
        if item.too_large:
            outcome = self.tracker.record_too_large(item.header, item.size, now=now, source=source)
        else:
            if classified is None:
                outcome = self.tracker.process(item.raw, now=now, source=source)
            else:
                outcome = self.tracker.process(item.raw, now=now, source=source, classified=classified)
        if outcome.failed:
            try:
                self.mailbox.flag(item.uid, uidvalidity=item.uidvalidity)
            except MailboxError as exc:
                log.warning("could not flag failed message UID %d: %s", item.uid, exc)
        return outcome

    def _guarded_cycle(self) -> None:
        """A cycle for the loop: server problems are logged once, never fatal.

        The loop retries on its own schedule rather than inside the cycle, so
        due mail is planned and sent while the IMAP server is away: an outage
        (and a missing folder, which may be created again at any moment) is
        tried again after :meth:`Retry.delay` — 1–2 s first, then longer, up
        to ``[imap] reconnect_max`` — and anything else (a refused password, a
        certificate) at the next poll, in case an administrator fixes it.
        A :class:`~refmail.errors.SignInFailed` ends the loop: only a person
        can fix it (``refmail run`` exits with status 78, the mail stays).
        """
        try:
            self.cycle(retry=False)
        except SignInFailed:
            # Refused for good (a revoked OAuth2 sign-in, a wrong client secret):
            # retrying cannot help and may lock the account; stop, nothing lost.
            raise
        except MailboxUnavailable as exc:
            self.mailbox.note_outage(exc)  # a WARNING when the outage starts, then DEBUG
            self.mailbox.close()
            self._last_error = None
            self._retry_later()
        except MailboxError as exc:
            if exc.kind == "folder":
                self._note_error(str(exc), soon=True)
                self._retry_later()  # the connection is fine: only the folder is missing
            else:
                self._note_error(str(exc))
                self.mailbox.close()
                self._failures, self._retry_at = 0, None
        except (StoreError, sqlite3.Error) as exc:
            # The database cannot be written (disk full, held by another
            # program): what the cycle had not committed is read again at the
            # next poll. A message never lands here — Tracker.process sets
            # aside what one message breaks — so this is not a crash loop.
            if not unusable(exc):
                raise
            self.store.rollback()
            self._note_error(f"database: {exc}")
        else:
            if self._last_error is not None:
                log.info("%s usable again", "database" if self._last_error.startswith("database:")
                         else "mail server")
            self._last_error = None
            self._failures, self._retry_at = 0, None

    def _retry_later(self) -> None:
        self._failures += 1
        self._retry_at = time.monotonic() + self.retry.delay(self._failures)

    def _poll(self) -> None:
        """The poll tick: a cycle, unless a retry on the reconnect schedule is pending."""
        if self._retry_at is None:
            self._guarded_cycle()

    def _note_error(self, message: str, *, soon: bool = False) -> None:
        """Log an error once (until it changes); ``soon``: retried on the reconnect schedule."""
        if message != self._last_error:
            if soon:
                cap = format_duration(self.config.imap.reconnect_max)
                log.error("%s (will try again in a few seconds, then at least every %s)", message, cap)
            else:
                every = format_duration(self.config.timing.poll_interval)
                log.error("%s (will retry every %s)", message, every)
        self._last_error = message

    # -- the loop ----------------------------------------------------------------
    def _pause(self, seconds: float) -> bool:
        """Sleep in steps of at most a second; False when a stop was requested."""
        end = time.monotonic() + seconds
        while not self.stopping:
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(1.0, left))
        return False

    def run(self) -> None:
        """Run until SIGTERM/SIGINT: IDLE (or poll), cycle, repeat."""
        previous: dict[signal.Signals, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self.request_stop)
        poll = max(1.0, self.config.timing.poll_interval.total_seconds())
        scheduler = schedule.Scheduler()
        scheduler.every(int(poll)).seconds.do(self._poll)
        log.info(
            "refmail watching %s on %s (%s)",
            self.config.imap.folder,
            self.mailbox.where,
            self.config.group.tracking_address,
        )
        try:
            self._guarded_cycle()
            while not self.stopping:
                if self._retry_at is not None:
                    # On the reconnect schedule, not the poll tick: a server
                    # that is back is read again within seconds.
                    if self._pause(self._retry_at - time.monotonic()):
                        self._guarded_cycle()
                    continue
                idle = scheduler.idle_seconds
                wait = poll if idle is None else max(0.2, min(poll, idle))
                if self.mailbox.wait_for_mail(wait, self._stop_requested) and not self.stopping:
                    if self.mailbox.outage and not self.mailbox.connected:
                        self._retry_later()  # lost while waiting: not back at once
                        continue
                    self._guarded_cycle()
                if not self.stopping:
                    scheduler.run_pending()
        finally:
            self.mailbox.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("refmail stopped")
