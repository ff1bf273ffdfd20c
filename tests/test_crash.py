"""A worker process SIGKILLed mid-job: the job completes exactly once, on SQLite and on Redis.

The worker is this file run as a script (`python tests/test_crash.py worker OUT DATA_DIR URL`):
`run_worker` with a handler that marks each start, stalls on the first attempt of PR 1 (where the
test kills it), and marks completion on any later attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer, RedisServerMissing, start_redis_server

from app.jobs.huey_queue import KIND_JOB, build_queue
from app.jobs.model import QueueSettings, ReviewJob

pytestmark = [pytest.mark.timeout(30), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

STALL_PR = 1


def crash_settings(data_dir: Path, redis_url: str | None) -> QueueSettings:
    return QueueSettings(
        data_dir=data_dir,
        redis_url=redis_url,
        retries=2,
        retry_delay=0.0,
        lease_seconds=1.0,
        recovery_interval=0.2,
        poll_interval=0.05,
        shutdown_timeout=5.0,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# -- the worker process ------------------------------------------------------------------------


def marking_handler(out: Path) -> Callable[[ReviewJob], None]:
    def handle(job: ReviewJob) -> None:
        started = out / f"started-{job.pr_number}"
        with started.open("a") as f:
            f.write(f"{os.getpid()}\n")
        if job.pr_number == STALL_PR and len(lines(started)) == 1:
            time.sleep(60)  # the test SIGKILLs this process here
        with (out / f"done-{job.pr_number}").open("a") as f:
            f.write(f"{os.getpid()}\n")

    return handle


def worker_main(argv: list[str]) -> None:
    from app.jobs.consumer import run_worker

    out, data_dir, url = Path(argv[0]), Path(argv[1]), argv[2]
    settings = crash_settings(data_dir, None if url == "-" else url)
    run_worker(settings, marking_handler(out), workers=1)


# -- the test ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = start_redis_server(tmp_path_factory.mktemp("redis"))
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    server.client().flushall()
    return server.url


class Workers:
    """Worker subprocesses for one test; any still running at the end are killed."""

    def __init__(self, tmp_path: Path, redis_url: str | None) -> None:
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.data_dir = tmp_path / "data"
        self.url = redis_url or "-"
        self.logs = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, __file__, "worker", str(self.out), str(self.data_dir), self.url],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log")))

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; worker logs:\n{self.log_text()}")
            time.sleep(0.05)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def workers(tmp_path: Path, redis_url: str | None) -> Iterator[Workers]:
    w = Workers(tmp_path, redis_url)
    yield w
    w.kill_all()


def make_job(pr: int) -> ReviewJob:
    return ReviewJob(
        installation_id=1,
        repo="octo/app",
        pr_number=pr,
        head_sha=f"head-{pr}",
        delivery_id=f"delivery-{pr}",
        event="pull_request.synchronize",
    )


def test_sigkilled_worker_job_completes_exactly_once(workers: Workers, redis_url: str | None) -> None:
    queue = build_queue(crash_settings(workers.data_dir, redis_url), lambda job: None)
    try:
        queue.enqueue(make_job(STALL_PR))
        queue.enqueue(make_job(2))  # waits behind PR 1: the worker has a single thread

        first = workers.start()
        started, done = workers.out / "started-1", workers.out / "done-1"
        workers.wait_for(lambda: len(lines(started)) == 1, "the first attempt to start")
        first.send_signal(signal.SIGKILL)
        assert first.wait(5) == -signal.SIGKILL
        assert lines(done) == [] and lines(workers.out / "started-2") == []

        queue.enqueue(make_job(3))  # acknowledged while no worker runs at all

        second = workers.start()
        expected = [workers.out / f"done-{pr}" for pr in (1, 2, 3)]
        workers.wait_for(lambda: all(lines(path) for path in expected), "every job to finish")
        # Nothing queued, retrying or leased is left: a duplicate, were there one, has run by now.
        workers.wait_for(queue.settled, "the queue to settle")

        assert len(lines(started)) == 2
        assert lines(done) == [str(second.pid)]
        for path in expected[1:]:
            assert len(lines(path)) == 1
        assert queue.depth() == 0
        assert queue.store.expired_leases(KIND_JOB, float("inf"), 100) == []
        counts = queue.counts()
        assert (counts.recovered, counts.succeeded, counts.given_up) == (1, 3, 0)

        second.send_signal(signal.SIGTERM)  # graceful stop of an idle worker
        assert second.wait(10) == 0, workers.log_text()
    finally:
        queue.close()


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker_main(sys.argv[2:])
