"""What a consuming process runs: the review as the queue's job handler, the give-up hook, the
periodic webhook redelivery, and the embedded consumer of ``image-review serve``.

This module is the one place that knows how ``app.service.review`` is called. It wraps the review with
what operations need: the job's duration and outcome (a log line and a histogram), the findings
of completed reviews (``metrics.record_findings``) and the GitHub API totals.

The embedded consumer. With the SQLite store (no ``REDIS_URL``) jobs are run by consumer
threads inside ``image-review serve``, in exactly one process per data dir: every gunicorn
worker competes for an exclusive lock on ``<data dir>/consumer.lock`` and the one holding it runs
the consumer. If that worker dies (or gunicorn recycles it) the kernel drops the lock, another
worker takes over within ``ELECTION_POLL`` seconds, and the jobs it was running are recovered by
the queue's leases. The gunicorn master is not used: it forks workers, and forking a process
whose threads may hold locks (SQLite's, logging's) can deadlock the child.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from app.github.client import GitHubApp
from app.github.redeliver import RedeliveryOptions, StoreMemory, redeliver_failed
from app.jobs.consumer import PeriodicHook, start_embedded_consumer
from app.jobs.huey_queue import HueyJobQueue, Store, build_queue
from app.jobs.model import GiveUpHook, JobHandler, QueueSettings, ReviewJob
from app.service import metrics
from app.service.settings import Settings

if TYPE_CHECKING:
    from app.analysis.analyze import AnalysisContext, ChangeSet
    from app.core.models import Analysis, Finding
    from app.service.review import Analyzer, ReviewDeps

log = logging.getLogger(__name__)

CONSUMER_LOCK = "consumer.lock"
ELECTION_POLL = 5.0  # seconds between attempts to take over the consumer lock
REDELIVERY_HOOK = "redeliver-webhooks"


# ---------------------------------------------------------------------------------------------
# The review as a job


class _FindingsTap:
    """Keeps the findings of the analysis made on this thread, to count them once the review is
    published (a review that fails and is retried must not count them twice)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self._local = threading.local()

    def __call__(self, change: ChangeSet, context: AnalysisContext) -> Analysis:
        analysis = self._analyzer(change, context)
        self._local.findings = list(analysis.findings)
        return analysis

    def take(self) -> list[Finding]:
        findings: list[Finding] = getattr(self._local, "findings", [])
        self._local.findings = []
        return findings


def job_fields(job: ReviewJob) -> dict[str, object]:
    """A job's log context (record attributes app.service.logs writes out)."""
    return {
        "delivery_id": job.delivery_id,
        "event": job.event,
        "repo": job.repo,
        "pr": job.pr_number,
        "head_sha": job.head_sha,
        "installation_id": job.installation_id,
        "rerun": job.rerun,
    }


@dataclass
class Runtime:
    """The review wired for a consuming process; ``close()`` when the process stops."""

    settings: Settings
    github: GitHubApp
    deps: ReviewDeps
    exporter: metrics.GitHubExporter
    _tap: _FindingsTap = field(repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def handle(self, job: ReviewJob) -> None:
        """The queue's job handler: one review; raising asks the queue to try again later."""
        from app.service.review import review_pull_request
        from app.service.scheduled import handle_staging_job, is_staging_job

        if is_staging_job(job):
            handle_staging_job(job, self.deps.staging_deps())
            return
        self._tap.take()  # nothing left over from an earlier job on this thread
        started = time.monotonic()
        outcome = "failed"
        try:
            result = review_pull_request(job, self.deps)
            outcome = "skipped" if result is None else "reviewed"
        finally:
            elapsed = time.monotonic() - started
            metrics.observe_job(elapsed, outcome)
            self.exporter.sync()
            fields = {**job_fields(job), "outcome": outcome, "duration_ms": round(elapsed * 1000)}
            level = logging.WARNING if outcome == "failed" else logging.INFO
            message = "review job for %s#%d %s in %.0f ms"
            log.log(level, message, job.repo, job.pr_number, outcome, elapsed * 1000, extra=fields)
        if outcome == "reviewed":
            metrics.record_findings(self._tap.take())

    def give_up(self, job: ReviewJob, exc: BaseException) -> None:
        """The queue's give-up hook: close the check run with an honest message."""
        from app.service.review import mark_failed

        try:
            mark_failed(job, exc, self.deps)
        finally:
            self.exporter.sync()

    def redelivery_hook(self, store: Store, options: RedeliveryOptions | None = None) -> PeriodicHook:
        """The periodic task asking GitHub to resend failed webhook deliveries."""
        options = options or RedeliveryOptions()
        memory = StoreMemory(store, ttl=2 * options.lookback)

        def run() -> None:
            try:
                report = redeliver_failed(self.github.auth, memory, options)
            finally:
                self.exporter.sync()
            metrics.count_redeliveries(len(report.redelivered), len(report.errors))

        return PeriodicHook(REDELIVERY_HOOK, options.interval, run)

    def staging_hook(self) -> PeriodicHook:
        """The daily task running every repository's staging loop (dashboard, switch-back)."""
        from app.service.scheduled import schedule_hook

        return schedule_hook(self.github, self.deps.staging_deps())

    def on_close(self, func: Callable[[], None]) -> None:
        self._closers.append(func)

    def close(self) -> None:
        for func in reversed(self._closers):
            try:
                func()
            except Exception:
                log.exception("closing %r failed", func)
        self._closers.clear()
        metrics.unexport_github(self.exporter)
        self.github.close()


def build_runtime(settings: Settings, *, analyzer: Analyzer | None = None) -> Runtime:
    """The review's dependencies from the settings, with this process's GitHubApp exported.

    ``analyzer`` replaces the review's default analysis (tests).
    """
    from app.service.review import ReviewDeps

    github = GitHubApp.from_settings(settings)
    base = ReviewDeps.from_settings(settings, github=github)
    tap = _FindingsTap(analyzer or base.analyzer)
    # Our own GitHubApp (same settings), so its API totals can be exported.
    deps = replace(base, github=github.client, analyzer=tap)
    exporter = metrics.export_github(github.total)
    runtime = Runtime(settings=settings, github=github, deps=deps, exporter=exporter, _tap=tap)
    runtime.on_close(deps.close_registry)
    return runtime


def make_handler(settings: Settings) -> JobHandler:
    return build_runtime(settings).handle


def make_give_up(settings: Settings) -> GiveUpHook:
    return build_runtime(settings).give_up


def queue_settings(settings: Settings) -> QueueSettings:
    """The queue's settings (app.service.settings reads them with the rest). Every process must use
    the same values, so web, worker and embedded consumer all build their queue from these."""
    return settings.queue


def store_for(settings: Settings, runtime: Runtime) -> HueyJobQueue:
    """A queue handle whose store keeps the redelivery memory (closed with the runtime)."""
    queue = build_queue(queue_settings(settings), runtime.handle, on_give_up=runtime.give_up)
    runtime.on_close(queue.close)
    return queue


# ---------------------------------------------------------------------------------------------
# The embedded consumer


class ConsumerLock:
    """An exclusive, non-blocking ``flock`` on a file; the kernel releases it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # who holds it, for a person looking
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class EmbeddedConsumer:
    """Competes for the data dir's consumer lock and, once holding it, runs the consumer threads."""

    def __init__(self, settings: Settings, *, threads: int = 2, poll: float = ELECTION_POLL) -> None:
        self.settings = settings
        self.threads = threads
        self.poll = poll
        self.lock = ConsumerLock(settings.data_dir / CONSUMER_LOCK)
        self._stop = threading.Event()
        self.standing_by = threading.Event()  # set once another process was found holding the lock
        self._state = threading.Lock()
        self._stop_consumer: Callable[[], None] | None = None
        self._runtime: Runtime | None = None
        self._thread = threading.Thread(target=self._elect, name="image-review-consumer-election", daemon=True)

    @property
    def running(self) -> bool:
        return self._stop_consumer is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the consumer (running jobs get the queue's shutdown timeout) and release the lock."""
        self._stop.set()
        with self._state:
            stop_consumer, self._stop_consumer = self._stop_consumer, None
            runtime, self._runtime = self._runtime, None
        if stop_consumer is not None:
            log.info("stopping the embedded consumer")
            stop_consumer()
        if runtime is not None:
            runtime.close()
        self.lock.release()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.poll + 1)

    def _elect(self) -> None:
        announced = failed = False
        while not self._stop.is_set():
            try:
                if self.lock.acquire():
                    self._run_consumer()
                    return
            except Exception as exc:  # e.g. the data dir is not writable: say so, keep trying
                self.lock.release()
                if not failed:
                    log.exception("could not start the embedded consumer; retrying every %.0f s", self.poll)
                else:
                    log.warning("could not start the embedded consumer: %s", exc)
                failed = True
            if not announced:
                log.info("another process runs the embedded consumer for %s; standing by", self.settings.data_dir)
                announced = True
                self.standing_by.set()
            self._stop.wait(self.poll)

    def _run_consumer(self) -> None:
        with self._state:
            if self._stop.is_set():
                self.lock.release()
                return
            runtime = build_runtime(self.settings)
            try:
                queue = store_for(self.settings, runtime)
                stop = start_embedded_consumer(
                    queue, workers=self.threads,
                    periodic=(runtime.redelivery_hook(queue.store), runtime.staging_hook()),
                )
            except BaseException:
                runtime.close()
                raise
            self._runtime = runtime
            self._stop_consumer = stop
        log.info("embedded consumer running with %d thread(s) in process %d", self.threads, os.getpid())
