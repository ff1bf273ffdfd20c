"""The huey-backed job queue, on SQLite and on a real redis-server started for the run."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, RedisServerMissing, start_redis_server

from app.jobs import huey_queue as queue_huey
from app.jobs.consumer import PeriodicHook, start_embedded_consumer
from app.jobs.huey_queue import (
    KIND_JOB,
    HeadRecord,
    HueyJobQueue,
    JobMessage,
    JobRecord,
    JobState,
    Txn,
    Verdict,
    accept_job,
    advance_head,
    build_queue,
    decide_claim,
    hold,
    is_superseded,
    let_go,
    park,
    resume,
    take_queued,
)
from app.jobs.model import JobCounts, JobSuperseded, QueueSettings, ReviewJob, WorkerLost

pytestmark = pytest.mark.timeout(30)

FAST = {
    "retries": 2,
    "retry_delay": 0.0,
    "lease_seconds": 1.0,
    "recovery_interval": 0.1,
    "poll_interval": 0.05,
    "shutdown_timeout": 5.0,
}

_jobs = itertools.count(1)


def make_job(pr: int = 1, head: str = "a", **changes: object) -> ReviewJob:
    job = ReviewJob(
        installation_id=7,
        repo="octo/app",
        pr_number=pr,
        head_sha=head,
        delivery_id=f"d-{next(_jobs)}",
        event="pull_request.synchronize",
        labels=("area/images",),
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recorder:
    """A handler that remembers the jobs it ran, optionally failing or crashing first."""

    def __init__(self, fail_times: int = 0, error: type[BaseException] = RuntimeError) -> None:
        self.calls: list[ReviewJob] = []
        self.fail_times = fail_times
        self.error = error
        self.lock = threading.Lock()

    def __call__(self, job: ReviewJob) -> None:
        with self.lock:
            self.calls.append(job)
            fail = len(self.calls) <= self.fail_times
        if fail:
            raise self.error(f"attempt {len(self.calls)} fails")

    def heads(self) -> list[tuple[int, str]]:
        with self.lock:
            return [(job.pr_number, job.head_sha) for job in self.calls]


class GiveUps:
    def __init__(self) -> None:
        self.calls: list[tuple[ReviewJob, BaseException]] = []

    def __call__(self, job: ReviewJob, exc: BaseException) -> None:
        self.calls.append((job, exc))


class SimulatedCrash(BaseException):
    """Escapes every `except Exception`: the worker thread dies mid-job, as a killed process would."""


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = start_redis_server(tmp_path_factory.mktemp("redis"))
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def base_settings(request: pytest.FixtureRequest, tmp_path: Path) -> QueueSettings:
    if request.param == "sqlite":
        return QueueSettings(data_dir=tmp_path / "data", **FAST)  # type: ignore[arg-type]
    server: RedisServer = request.getfixturevalue("redis_server")
    server.client().flushall()
    return QueueSettings(data_dir=tmp_path / "data", redis_url=server.url, **FAST)  # type: ignore[arg-type]


class Harness:
    """Builds queues and embedded consumers for one test and stops them all afterwards."""

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self._cleanups: list[Callable[[], None]] = []

    def queue(
        self,
        handler: Callable[[ReviewJob], None] | None = None,
        on_give_up: Callable[[ReviewJob, BaseException], None] | None = None,
        **changes: object,
    ) -> HueyJobQueue:
        settings = replace(self.settings, **changes)  # type: ignore[arg-type]
        queue = build_queue(settings, handler or Recorder(), on_give_up=on_give_up)
        self._cleanups.append(queue.close)
        return queue

    def consume(self, queue: HueyJobQueue, workers: int = 2, periodic: tuple[PeriodicHook, ...] = ()) -> None:
        self._cleanups.append(start_embedded_consumer(queue, workers=workers, periodic=periodic))

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()


@pytest.fixture
def harness(base_settings: QueueSettings) -> Iterator[Harness]:
    h = Harness(base_settings)
    yield h
    h.close()


def active_leases(queue: HueyJobQueue) -> list[str]:
    return queue.store.expired_leases(KIND_JOB, float("inf"), 100)


# -- coalescing decisions (pure) --------------------------------------------------------------


def superseded_by_definition(jobs: list[tuple[int, str]], seq: int, head: str) -> bool:
    return any(s > seq and h != head for s, h in jobs)


@settings(max_examples=300, deadline=None)
@given(heads=st.lists(st.sampled_from("abc"), min_size=1, max_size=8), data=st.data())
def test_head_record_is_exact_in_any_fold_order(heads: list[str], data: st.DataObject) -> None:
    jobs = list(enumerate(heads, start=1))
    order = data.draw(st.permutations(jobs))
    record: HeadRecord | None = None
    for seq, head in order:
        record = advance_head(record, head, seq) or record
    for seq, head in jobs:
        assert is_superseded(record, head, seq) == superseded_by_definition(jobs, seq, head)


def test_job_newer_than_the_record_is_not_superseded() -> None:
    record = HeadRecord("b", last_seq=5, prev_seq=4)
    assert not is_superseded(record, "a", 6)  # its own fold has not happened (yet)
    assert not is_superseded(None, "a", 1)


def test_a_retry_runs_the_job_its_first_claim_merged_not_the_payload_huey_kept() -> None:
    # opened at head a (message queued), then a push to b folds into that message before it runs.
    first = accept_job(None, make_job(head="a"), 1, "t")
    folded = accept_job(first.head, make_job(head="b"), 2, "u")
    original = JobMessage("t", seq=1, gen=0, job=make_job(head="a"))  # what huey holds, and retries with
    kwargs = {"now": 100.0, "lease_seconds": 10.0, "max_attempts": 5}

    head, current = take_queued(folded.head, resume(None, original))
    claim, record = decide_claim(None, head, current, **kwargs)  # type: ignore[arg-type]
    assert claim.verdict is Verdict.RUN and current.job.head_sha == "b"
    head = hold(head, current)

    # The attempt fails; huey retries with the original payload (head a, seq 1).
    head_again, retried = take_queued(head, resume(record, original))
    claim, _ = decide_claim(record, head_again, retried, **kwargs)  # type: ignore[arg-type]
    assert claim.verdict is Verdict.RUN and claim.attempt == 2
    assert retried.job.head_sha == "b" and retried.seq == 2  # not given up as superseded by b


def test_claim_decisions() -> None:
    job = make_job(head="b")
    message = JobMessage("t", seq=3, gen=0, job=job)
    kwargs = {"now": 100.0, "lease_seconds": 10.0, "max_attempts": 2}
    claim, record = decide_claim(None, None, message, **kwargs)  # type: ignore[arg-type]
    assert claim.verdict is Verdict.RUN and claim.attempt == 1
    assert record is not None and record.lease == 110.0 and record.state is JobState.RUNNING

    newer = HeadRecord("c", last_seq=4, prev_seq=3)
    assert decide_claim(None, newer, message, **kwargs)[0].verdict is Verdict.SUPERSEDED  # type: ignore[arg-type]
    assert decide_claim(record, newer, message, **kwargs)[0].verdict is Verdict.SUPERSEDED_STARTED  # type: ignore[arg-type]

    second, record2 = decide_claim(record, None, message, **kwargs)  # type: ignore[arg-type]
    assert second.verdict is Verdict.RUN and second.attempt == 2
    assert record2 is not None
    assert decide_claim(record2, None, message, **kwargs)[0].verdict is Verdict.WORKER_LOST  # type: ignore[arg-type]

    stale = replace(message, gen=1)
    assert decide_claim(record, None, stale, **kwargs)[0].verdict is Verdict.SKIP  # type: ignore[arg-type]
    done = JobRecord("t", 3, 0, 1, JobState.DONE, None, job.to_dict())
    assert decide_claim(done, None, message, **kwargs)[0].verdict is Verdict.SKIP  # type: ignore[arg-type]


def test_claim_waits_while_another_job_holds_the_pull_request() -> None:
    job = make_job(head="b")
    message = JobMessage("t", seq=3, gen=0, job=job)
    kwargs = {"now": 100.0, "lease_seconds": 10.0, "max_attempts": 2}
    held = hold(HeadRecord("b", last_seq=3, prev_seq=0), JobMessage("other", 2, 0, job))
    claim, record = decide_claim(None, held, message, **kwargs)  # type: ignore[arg-type]
    assert claim.verdict is Verdict.WAIT and record is None
    # A job that ran before (waiting for its retry) is parked without a lease: nothing runs it.
    retrying = JobRecord("t", 3, 0, 1, JobState.RUNNING, 130.0, job.to_dict())
    claim, record = decide_claim(retrying, held, message, **kwargs)  # type: ignore[arg-type]
    assert claim.verdict is Verdict.WAIT and record is not None
    assert (record.state, record.lease, record.attempts) == (JobState.QUEUED, None, 1)
    # The holder itself (e.g. run again after its worker died) goes ahead.
    assert decide_claim(None, hold(held, message), message, **kwargs)[0].verdict is Verdict.RUN  # type: ignore[arg-type]
    # A job superseded before it ever started is dropped rather than parked.
    newer = replace(held, head_sha="c", last_seq=4, prev_seq=3)
    assert decide_claim(None, newer, message, **kwargs)[0].verdict is Verdict.SUPERSEDED  # type: ignore[arg-type]

    parked = park(held, message, retries=2)
    assert [entry["payload"]["token"] for entry in parked.waiting] == ["t"]
    assert HeadRecord.from_dict(parked.to_dict()) == parked
    assert advance_head(parked, "d", 9) == replace(parked, head_sha="d", last_seq=9, prev_seq=3)
    assert let_go(parked, "t") is None  # only the holder lets go
    assert let_go(parked, "other") == replace(held, running=None)


def test_settings_from_objects(tmp_path: Path) -> None:
    settings_ = QueueSettings(data_dir=tmp_path, retries=5, dedupe_ttl=60.0)
    assert settings_.sqlite_path == tmp_path / "queue.sqlite3"
    assert (settings_.retries, settings_.max_attempts) == (5, 6)

    app_settings = SimpleNamespace(data_dir=str(tmp_path), redis_url=None, queue_retries=1, secret="x")
    from_app = QueueSettings.from_object(app_settings)
    assert (from_app.data_dir, from_app.retries, from_app.redis_url) == (tmp_path, 1, None)
    assert QueueSettings.from_object(settings_) is settings_


# -- the queue, on both backends ---------------------------------------------------------------


def test_enqueue_runs_the_handler_once_with_an_equal_job(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    job = make_job(draft=True, base_sha="base", base_ref="main")
    queue.enqueue(job)
    assert queue.depth() == 1
    harness.consume(queue)
    wait_until(lambda: len(handler.calls) == 1 and queue.settled(), what="the job to run and nothing else")
    assert handler.calls == [job]
    assert queue.depth() == 0
    assert active_leases(queue) == []
    counts = queue.counts()
    assert (counts.enqueued, counts.started, counts.succeeded, counts.failed) == (1, 1, 1, 0)


def test_counters_commit_with_their_transaction_and_only_with_it(harness: Harness) -> None:
    queue = harness.queue()
    assert queue.accept("d-1", [make_job(pr=7, head="a")])
    assert queue.accept("d-2", [make_job(pr=7, head="a")])  # folds into the waiting job
    assert queue.accept("d-3", [make_job(pr=7, head="b")])  # a newer head replaces it
    counts = queue.counts()
    assert (counts.enqueued, counts.coalesced, counts.superseded) == (3, 1, 1)

    def fails_after_counting(txn: Txn) -> None:
        txn.incr("jobs.enqueued", 5)
        raise RuntimeError("the transaction fails after counting")

    with pytest.raises(RuntimeError):
        queue.store.transact([], fails_after_counting)
    assert queue.counts() == counts
    assert queue.depth() == 1


def test_jobs_are_durable_once_enqueue_returns(harness: Harness) -> None:
    producer = harness.queue()
    jobs = [make_job(pr=n) for n in (1, 2, 3)]
    for job in jobs:
        producer.enqueue(job)
    producer.close()

    handler = Recorder()
    consumer = harness.queue(handler)  # a fresh queue object on the same store
    assert consumer.depth() == 3
    harness.consume(consumer)
    wait_until(lambda: len(handler.calls) == 3, what="all three jobs")
    assert sorted(handler.calls, key=lambda j: j.pr_number) == jobs


def test_newer_push_supersedes_queued_jobs_of_the_same_pull_request(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    for head in ("a", "b", "c"):
        queue.enqueue(make_job(pr=1, head=head))
    queue.enqueue(make_job(pr=2, head="x"))
    harness.consume(queue, workers=1)
    wait_until(lambda: len(handler.calls) == 2 and queue.depth() == 0, what="the surviving jobs")
    assert sorted(handler.heads()) == [(1, "c"), (2, "x")]
    assert queue.counts().superseded == 2

    rerun = make_job(pr=1, head="c", rerun=True, event="check_suite.rerequested")
    queue.enqueue(rerun)
    wait_until(lambda: len(handler.calls) == 3, what="the rerun")
    assert handler.calls[-1] == rerun


def test_a_rerun_for_a_head_still_queued_folds_into_it_without_a_message(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    queue.enqueue(make_job(head="c"))
    rerun = make_job(head="c", rerun=True, event="check_suite.rerequested")
    assert queue.accept("d-rerun", [rerun])
    # One message on the queue; the second delivery only rewrote the pull request's record.
    assert queue.huey.pending_count() == 1 and queue.depth() == 1
    harness.consume(queue, workers=1)
    wait_until(lambda: queue.counts().succeeded == 1 and queue.depth() == 0, what="the one review")
    assert handler.calls == [rerun]  # the newest delivery, its re-run request kept
    counts = queue.counts()
    assert (counts.enqueued, counts.coalesced, counts.superseded) == (2, 1, 0)


def test_a_burst_for_one_pull_request_leaves_one_message(harness: Harness) -> None:
    queue = harness.queue()
    for n in range(50):
        assert queue.accept(f"burst-{n}", [make_job(pr=9, head="a" if n % 2 else "b")])
    assert queue.huey.pending_count() == 1 and queue.depth() == 1
    counts = queue.counts()
    assert counts.enqueued == 50 and counts.coalesced + counts.superseded == 49


def test_push_back_to_an_older_head_supersedes_everything_between(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    for head in ("a", "b", "a"):
        queue.enqueue(make_job(head=head))
    harness.consume(queue, workers=1)
    wait_until(lambda: queue.counts().superseded == 2 and len(handler.calls) == 1, what="one run")
    assert handler.heads() == [(1, "a")]


def test_seen_delivery_is_atomic_and_expires(harness: Harness) -> None:
    queue = harness.queue(dedupe_ttl=0.3)
    assert queue.seen_delivery("x") is False
    assert queue.seen_delivery("x") is True
    assert queue.seen_delivery("y") is False
    time.sleep(0.4)
    assert queue.seen_delivery("x") is False
    assert queue.seen_delivery("x") is True
    queue.forget_delivery("x")
    assert queue.seen_delivery("x") is False


def test_seen_delivery_under_concurrency_says_new_exactly_once(harness: Harness) -> None:
    queues = [harness.queue() for _ in range(4)]  # separate connections, as separate processes
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(queues) * 2)

    def check(queue: HueyJobQueue) -> None:
        barrier.wait()
        seen = queue.seen_delivery("same")
        with lock:
            results.append(seen)

    threads = [threading.Thread(target=check, args=(q,)) for q in queues * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False] + [True] * (len(threads) - 1)


def test_accept_records_the_delivery_and_its_jobs_together(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    job = make_job(pr=4)
    assert queue.accept("d-accept", [job]) is True
    assert queue.accept("d-accept", [make_job(pr=4, head="b")]) is False  # a duplicate adds nothing
    assert queue.depth() == 1 and queue.counts().enqueued == 1
    assert queue.seen_delivery("d-accept") is True
    harness.consume(queue)
    wait_until(lambda: queue.counts().succeeded == 1, what="the job")
    assert handler.calls == [job]


def test_accept_that_fails_leaves_neither_jobs_nor_the_delivery(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = harness.queue()

    def broken(*args: object) -> HeadRecord | None:
        raise ConnectionError("store went away mid-transaction")

    # Fails after the message was handed to the transaction: it must not survive the failure.
    monkeypatch.setattr(queue_huey, "advance_head", broken)
    with pytest.raises(ConnectionError):
        queue.accept("d-fail", [make_job(pr=5)])
    monkeypatch.undo()
    assert queue.depth() == 0 and queue.counts().enqueued == 0
    assert queue.accept("d-fail", [make_job(pr=5)]) is True  # GitHub's redelivery goes through
    assert queue.depth() == 1


def test_accept_folds_several_jobs_of_one_pull_request_in_order(harness: Harness) -> None:
    handler = Recorder()
    queue = harness.queue(handler)
    assert queue.accept("d-two", [make_job(pr=6, head="a"), make_job(pr=6, head="b"), make_job(pr=7)])
    harness.consume(queue, workers=1)
    wait_until(lambda: len(handler.calls) == 2 and queue.counts().superseded == 1, what="the surviving jobs")
    assert sorted(handler.heads()) == [(6, "b"), (7, "a")]


def test_accept_under_concurrency_enqueues_exactly_once(harness: Harness) -> None:
    queues = [harness.queue() for _ in range(4)]  # separate connections, as separate processes
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(queues) * 2)

    def accept(queue: HueyJobQueue) -> None:
        barrier.wait()
        accepted = queue.accept("same", [make_job(pr=8)])
        with lock:
            results.append(accepted)

    threads = [threading.Thread(target=accept, args=(q,)) for q in queues * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False] * (len(threads) - 1) + [True]
    assert queues[0].depth() == 1


def test_sqlite_commits_are_written_ahead_and_synced_as_configured(tmp_path: Path) -> None:
    def pragmas(sync: str | None) -> tuple[str, int]:
        settings_ = QueueSettings(data_dir=tmp_path / f"data-{sync}")
        if sync is not None:
            settings_ = replace(settings_, sqlite_sync=sync)
        queue = build_queue(settings_, Recorder())
        try:
            with queue.huey.storage.db() as cursor:
                mode = cursor.execute("pragma journal_mode").fetchone()[0]
                synchronous = cursor.execute("pragma synchronous").fetchone()[0]
            return str(mode), int(synchronous)
        finally:
            queue.close()

    assert pragmas(None) == ("wal", 1)  # NORMAL: a commit survives the process being killed
    assert pragmas("full") == ("wal", 2)  # FULL: and an OS crash
    with pytest.raises(ValueError, match="synchronous"):
        pragmas("extra")


class Overlap:
    """A slow handler that notes how many jobs of each pull request run at the same time."""

    def __init__(self, seconds: float = 0.15) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running: dict[int, int] = {}
        self.most: dict[int, int] = {}
        self.calls: list[ReviewJob] = []

    def __call__(self, job: ReviewJob) -> None:
        with self.lock:
            self.running[job.pr_number] = self.running.get(job.pr_number, 0) + 1
            self.most[job.pr_number] = max(self.most.get(job.pr_number, 0), self.running[job.pr_number])
            self.calls.append(job)
        time.sleep(self.seconds)
        with self.lock:
            self.running[job.pr_number] -= 1


def test_jobs_of_one_pull_request_never_run_at_once(harness: Harness) -> None:
    handler = Overlap()
    queue = harness.queue(handler)
    for pr in (1, 2):
        queue.enqueue(make_job(pr=pr, head="a"))
    harness.consume(queue, workers=4)
    wait_until(lambda: len(handler.calls) == 2, what="both first reviews to start")
    for pr in (1, 2):
        for _ in range(3):  # re-runs requested while the review runs: one more run, after it
            queue.enqueue(make_job(pr=pr, head="a", rerun=True))
    wait_until(lambda: queue.counts().succeeded == 4 and queue.depth() == 0, what="the four reviews")
    assert handler.most == {1: 1, 2: 1}
    assert sorted((job.pr_number, job.rerun) for job in handler.calls) == [(1, False), (1, True), (2, False), (2, True)]
    assert queue.counts().coalesced == 4


def test_a_push_while_a_review_runs_waits_then_supersedes_nothing_it_should_not(harness: Harness) -> None:
    handler = Overlap(seconds=0.4)
    queue = harness.queue(handler)
    queue.enqueue(make_job(pr=3, head="a"))
    harness.consume(queue, workers=3)
    wait_until(lambda: len(handler.calls) == 1, what="the first review to start")
    for head in ("b", "c"):  # arrive while "a" runs: "b" is superseded by "c" before it starts
        queue.enqueue(make_job(pr=3, head=head))
    wait_until(lambda: queue.counts().succeeded == 2 and queue.depth() == 0, what="the newest push")
    assert [job.head_sha for job in handler.calls] == ["a", "c"]
    assert handler.most == {3: 1} and queue.counts().superseded == 1


def test_a_job_waiting_behind_a_dead_worker_runs_after_recovery(harness: Harness) -> None:
    calls: list[ReviewJob] = []
    first, rerun = make_job(pr=4), make_job(pr=4, rerun=True)

    def handler(job: ReviewJob) -> None:
        calls.append(job)
        if len(calls) == 1:
            queue.enqueue(rerun)  # a request lands while the review runs ...
            raise SimulatedCrash("the worker dies holding the pull request")  # ... which then dies

    queue = harness.queue(handler, lease_seconds=0.5)
    queue.enqueue(first)
    harness.consume(queue, workers=2)
    wait_until(lambda: queue.counts().succeeded == 2, what="both jobs")
    # The dead worker's job keeps the pull request until recovery has run it again, and only
    # then does the job that arrived meanwhile run.
    assert calls == [first, first, rerun]
    assert queue.depth() == 0 and active_leases(queue) == []


def test_retries_then_on_give_up_exactly_once(harness: Harness) -> None:
    handler = Recorder(fail_times=99)
    give_ups = GiveUps()
    queue = harness.queue(handler, give_ups, retries=2)
    job = make_job()
    queue.enqueue(job)
    harness.consume(queue)
    wait_until(lambda: len(give_ups.calls) == 1 and queue.settled(), what="the give-up, then nothing left to run")
    assert len(handler.calls) == 3
    assert len(give_ups.calls) == 1
    given_job, exc = give_ups.calls[0]
    assert given_job == job and isinstance(exc, RuntimeError) and "attempt 3" in str(exc)
    assert queue.depth() == 0 and active_leases(queue) == []
    counts = queue.counts()
    assert (counts.failed, counts.retried, counts.given_up, counts.succeeded) == (3, 2, 1, 0)


def test_a_slow_give_up_hook_keeps_its_lease_and_is_called_once(harness: Harness) -> None:
    calls: list[BaseException] = []

    def slow_give_up(job: ReviewJob, exc: BaseException) -> None:
        calls.append(exc)
        time.sleep(1.2)  # e.g. GitHub retries while closing the check run; twice the lease

    queue = harness.queue(Recorder(fail_times=99), slow_give_up, retries=0, lease_seconds=0.6)
    queue.enqueue(make_job())
    harness.consume(queue)
    wait_until(lambda: queue.counts().given_up == 1, what="the give-up to finish")
    assert len(calls) == 1 and queue.counts().recovered == 0


def test_a_retry_that_succeeds_does_not_give_up(harness: Harness) -> None:
    handler = Recorder(fail_times=1)
    give_ups = GiveUps()
    # A real retry delay: the retry waits in huey's schedule, holding the lease meanwhile.
    queue = harness.queue(handler, give_ups, retry_delay=0.2)
    queue.enqueue(make_job())
    harness.consume(queue)
    wait_until(lambda: queue.counts().succeeded == 1, what="the retry to succeed")
    assert len(handler.calls) == 2 and give_ups.calls == []
    assert queue.counts().recovered == 0


def test_a_job_whose_worker_died_is_recovered_and_runs_once_more(harness: Harness) -> None:
    handler = Recorder(fail_times=1, error=SimulatedCrash)
    give_ups = GiveUps()
    queue = harness.queue(handler, give_ups, lease_seconds=0.5)
    job = make_job()
    queue.enqueue(job)
    harness.consume(queue, workers=2)  # one thread dies; the other runs the recovered copy
    wait_until(lambda: queue.counts().succeeded == 1 and queue.settled(), what="the recovered job, then nothing")
    assert handler.calls == [job, job]
    assert give_ups.calls == []
    assert queue.counts().recovered == 1
    assert active_leases(queue) == []


def test_a_job_that_keeps_killing_workers_is_given_up(harness: Harness) -> None:
    handler = Recorder(fail_times=99, error=SimulatedCrash)
    give_ups = GiveUps()
    queue = harness.queue(handler, give_ups, retries=0, lease_seconds=0.5)
    job = make_job()
    queue.enqueue(job)
    harness.consume(queue, workers=2)
    wait_until(lambda: len(give_ups.calls) == 1, what="the give-up")
    assert len(handler.calls) == 1
    assert give_ups.calls[0][0] == job and isinstance(give_ups.calls[0][1], WorkerLost)


def test_a_started_job_superseded_before_its_retry_is_closed_via_on_give_up(harness: Harness) -> None:
    give_ups = GiveUps()
    newer = make_job(head="b")
    started = threading.Event()

    def handler(job: ReviewJob) -> None:
        if job.head_sha == "a":
            started.set()
            queue.enqueue(newer)  # a push lands while the first attempt runs
            raise RuntimeError("GitHub said 502")

    queue = harness.queue(handler, give_ups, retry_delay=0.2)
    queue.enqueue(make_job(head="a"))
    harness.consume(queue, workers=1)
    wait_until(lambda: queue.counts().succeeded == 1 and len(give_ups.calls) == 1, what="both outcomes")
    assert give_ups.calls[0][0].head_sha == "a" and isinstance(give_ups.calls[0][1], JobSuperseded)


def test_heartbeats_keep_a_long_job_from_being_recovered(harness: Harness) -> None:
    handler_calls: list[ReviewJob] = []

    def slow(job: ReviewJob) -> None:
        handler_calls.append(job)
        time.sleep(1.6)  # well past the lease; recovery scans every 0.1 s

    queue = harness.queue(slow, lease_seconds=0.6)
    queue.enqueue(make_job())
    harness.consume(queue, workers=2)
    wait_until(lambda: queue.counts().succeeded == 1, what="the slow job")
    assert len(handler_calls) == 1 and queue.counts().recovered == 0


def test_depth_counts_waiting_jobs(harness: Harness) -> None:
    queue = harness.queue()
    assert queue.depth() == 0
    for pr in range(5):
        queue.enqueue(make_job(pr=pr))
    assert queue.depth() == 5
    assert queue.counts() == JobCounts(enqueued=5)


def test_periodic_hook_is_called_and_gated_across_processes(harness: Harness) -> None:
    calls: list[float] = []
    queue = harness.queue()
    harness.consume(queue, periodic=(PeriodicHook("redeliver", 0.2, lambda: calls.append(time.monotonic())),))
    wait_until(lambda: len(calls) >= 3, timeout=5, what="three periodic calls")

    other = harness.queue()  # another process would use its own queue object on the same store
    assert other.try_tick("nightly", 0.3) is True
    assert queue.try_tick("nightly", 0.3) is False
    time.sleep(0.35)
    assert queue.try_tick("nightly", 0.3) is True


def test_stopping_an_embedded_consumer_is_idempotent_and_prompt(harness: Harness) -> None:
    queue = harness.queue()
    stop = start_embedded_consumer(queue, workers=2)
    started = time.monotonic()
    stop()
    stop()
    assert time.monotonic() - started < 3


def test_recovery_drops_redis_index_entries_whose_record_vanished(redis_server: RedisServer, tmp_path: Path) -> None:
    redis_server.client().flushall()
    settings_ = QueueSettings(data_dir=tmp_path, redis_url=redis_server.url, **FAST)  # type: ignore[arg-type]
    queue = build_queue(settings_, Recorder())
    try:
        index = f"image-review:{settings_.name}:leases:{KIND_JOB}"
        redis_server.client().zadd(index, {"evicted-token": 1.0})
        assert queue.recover() == 0
        assert redis_server.client().zcard(index) == 0
    finally:
        queue.close()
