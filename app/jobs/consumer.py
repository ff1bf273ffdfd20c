"""Running jobs: huey consumers (thread workers) plus the queue's background duties.

Two ways to run, same pieces:
- embedded: `start_embedded_consumer(queue)` starts consumer threads inside the serving process
  and returns a stop callable (signal handling stays with the host, e.g. gunicorn);
- separate process: `run_worker(settings, handler)` builds the queue and blocks in huey's
  consumer loop; SIGTERM stops it gracefully (running jobs get `shutdown_timeout` to finish),
  SIGINT at once. Jobs cut short either way are recovered by the lease mechanism.

Beside the consumer, each runs a maintenance ticker (recover jobs whose worker died, prune
expired records) and one ticker per `PeriodicHook`. Hooks are gated through the store, so with
many worker processes each hook still runs about once per interval, not once per process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from huey.consumer import Consumer

from app.jobs.huey_queue import HueyJobQueue, build_queue
from app.jobs.model import GiveUpHook, JobHandler

log = logging.getLogger(__name__)

_MAX_HOOK_POLL = 5.0


@dataclass(frozen=True, slots=True)
class PeriodicHook:
    """Call `func` about every `interval` seconds, once across all workers sharing the store."""

    name: str
    interval: float
    func: Callable[[], None]


class _Ticker:
    """A daemon thread calling `func` now and then every `interval` seconds until stopped."""

    def __init__(self, name: str, interval: float, func: Callable[[], None]) -> None:
        self._interval = interval
        self._func = func
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._func()
            except Exception:  # one bad tick must not end the schedule
                log.exception("%s failed", self._thread.name)
            self._stop.wait(self._interval)


REVIEW_NICENESS = 10  # how much less CPU priority a job thread of an embedded consumer gets


def lower_thread_priority(step: int = REVIEW_NICENESS) -> None:
    """Make the calling thread yield the CPU to the others of its machine (Linux: per thread).

    Embedded job threads share their process with the threads answering webhooks, and the
    machine with the other web workers: a review is CPU work that may wait, an acknowledgement
    is due within GitHub's 10 s and should take milliseconds."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + step)
    except (AttributeError, OSError):  # not where threads have priorities of their own
        log.debug("could not lower the priority of %s", threading.current_thread().name)


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]  # huey has no type hints
    """A consumer that leaves signal handlers alone (the host process owns them) and runs its
    job threads at a lower CPU priority than the host's own threads."""

    def _set_signal_handlers(self) -> None:
        return None

    def _create_worker(self) -> Any:
        worker = super()._create_worker()
        initialize = worker.initialize

        def lowered() -> None:
            lower_thread_priority()
            initialize()

        worker.initialize = lowered  # called on the job thread itself, before its first job
        return worker


WORKER_READY = "worker ready: SIGTERM stops it gracefully"


class _ProcessConsumer(Consumer):  # type: ignore[misc]  # huey has no type hints
    """huey's consumer for a process of its own, saying when its signal handlers are set (the
    last step of its start): a supervisor's SIGTERM before that would not be graceful."""

    def _set_signal_handlers(self) -> None:
        super()._set_signal_handlers()
        log.info(WORKER_READY)


def _consumer(queue: HueyJobQueue, workers: int, consumer_class: type[Any]) -> Any:
    settings = queue.settings
    return consumer_class(
        queue.huey,
        workers=workers,
        periodic=False,  # periodic hooks run on our tickers: sub-minute, gated across processes
        worker_type="thread",
        initial_delay=min(0.1, settings.poll_interval),
        max_delay=settings.poll_interval,
        graceful_signal="TERM",
        shutdown_timeout=settings.shutdown_timeout,
    )


def _run_hook(queue: HueyJobQueue, hook: PeriodicHook) -> None:
    if queue.try_tick(hook.name, hook.interval):
        log.info("running periodic hook %s", hook.name)
        hook.func()


def _start_tickers(
    queue: HueyJobQueue,
    periodic: Sequence[PeriodicHook],
    extra_maintenance: Callable[[], object] | None = None,
) -> list[_Ticker]:
    def maintain() -> None:
        recovered = queue.recover()
        if recovered:
            log.warning("recovered %d job(s) from stopped workers", recovered)
        queue.prune()
        if extra_maintenance is not None:
            extra_maintenance()

    tickers = [_Ticker("image-review-maintenance", queue.settings.recovery_interval, maintain)]
    for hook in periodic:
        # Poll more often than the interval so the gate, not the phase of this process's
        # ticker, decides when the hook runs.
        poll = min(hook.interval / 4, _MAX_HOOK_POLL)
        tickers.append(_Ticker(f"image-review-hook-{hook.name}", poll, partial(_run_hook, queue, hook)))
    for ticker in tickers:
        ticker.start()
    return tickers


def start_embedded_consumer(
    queue: HueyJobQueue,
    *,
    workers: int = 2,
    periodic: Sequence[PeriodicHook] = (),
) -> Callable[[], None]:
    """Run jobs on threads of this process; the returned callable stops them (idempotent)."""
    consumer = _consumer(queue, workers, _EmbeddedConsumer)
    consumer.start()
    # Without huey's main loop nobody restarts dead worker threads; maintenance does it.
    tickers = _start_tickers(queue, periodic, consumer.check_worker_health)
    lock = threading.Lock()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        with lock:
            if stopped:
                return
            stopped = True
        for ticker in tickers:
            ticker.stop()
        consumer.stop(graceful=True)

    return stop


def run_worker(
    settings: object,
    handler: JobHandler,
    *,
    on_give_up: GiveUpHook | None = None,
    workers: int = 4,
    periodic: Sequence[PeriodicHook] = (),
) -> None:
    """Run a worker process until SIGTERM (graceful) or SIGINT; call from the main thread.

    `settings` is a QueueSettings or the app's settings object; the handler (the review) and
    on_give_up are passed in by the caller, which is how this process knows what a job does.
    """
    queue = build_queue(settings, handler, on_give_up=on_give_up)
    consumer = _consumer(queue, workers, _ProcessConsumer)
    tickers = _start_tickers(queue, periodic)
    try:
        consumer.run()
    finally:
        for ticker in tickers:
            ticker.stop()
        queue.close()
