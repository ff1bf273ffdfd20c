"""The real worker process SIGKILLed in the middle of a real review, on both stores.

``image-review serve`` receives the webhooks and only enqueues (``--consumer-threads 0`` on the
embedded SQLite store; with Redis it never consumes); ``image-review worker`` runs the reviews.
The fake GitHub answers one pull request's commits request slowly, so the review is mid-way (its
check run created and in progress) when the test kills the worker. A new worker recovers the job
once its lease has run out and finishes it: one check run, completed; no comment twice; and the
pull requests queued behind it are reviewed too. Nothing acknowledged with 202 is lost.

Also here: the same delivery three times is reviewed once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_process import Apps, app_env, check_runs, deliver, inline_markers, load_head, own_sample, summaries, wait_until
from conftest import APP_ID, KeyPair
from redis_server import RedisServer, RedisServerMissing, start_redis_server

from app.jobs.huey_queue import KIND_JOB, build_queue
from app.jobs.model import QueueSettings
from app.testing.fake_github import FakeGitHub, Fault
from app.testing.sample_pr import SamplePull

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

REPO = "octo-org/cluster"
LEASE = 2.0  # seconds: how long a dead worker's job waits before another worker takes it


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = start_redis_server(tmp_path_factory.mktemp("redis"))
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def reviewed_once(fake: FakeGitHub, pull: SamplePull) -> list[str]:
    """What is wrong with the App's answer on the pull request (nothing: an empty list)."""
    where = f"{pull.repo}#{pull.number}"
    problems = []
    runs = check_runs(fake, pull.repo, pull.head_sha)
    if [(r["status"], r["conclusion"]) for r in runs] != [("completed", "failure")]:
        problems.append(f"{where}: check runs {[(r['id'], r['status'], r['conclusion']) for r in runs]}")
    markers = inline_markers(fake, pull.repo, pull.number)
    if len(markers) != 1:
        problems.append(f"{where}: inline comments {Counter(markers)}")
    if (found := len(summaries(fake, pull.repo, pull.number))) != 1:
        problems.append(f"{where}: {found} summary comments")
    if (posted := len(fake.calls("POST", f"/repos/{pull.repo}/pulls/{pull.number}/reviews"))) != 1:
        problems.append(f"{where}: {posted} reviews posted")
    return problems


def completed(fake: FakeGitHub, pull: SamplePull) -> bool:
    runs = check_runs(fake, pull.repo, pull.head_sha)
    return bool(runs) and all(r["status"] == "completed" for r in runs)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_worker_killed_mid_review_finishes_it_after_a_restart(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, fake_github: FakeGitHub, rsa_keys: KeyPair
) -> None:
    fake = fake_github
    redis_url = None
    if store == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client().flushall()
        redis_url = server.url
    data_dir = tmp_path / "data"
    env = app_env(data_dir, fake.base_url, rsa_keys.private_pem, APP_ID, redis_url=redis_url)
    env["IMAGE_REVIEW_JOB_LEASE"] = str(LEASE)
    pulls = [own_sample(REPO, number) for number in (41, 42, 43)]
    stalled = pulls[0]
    for pull in pulls:
        load_head(fake, pull)
    # The stalled review's commits come slowly (once): the worker is killed while it waits.
    fake.faults.script(Fault("delay", delay=20.0, path=rf"/pulls/{stalled.number}/commits$"))

    with Apps(tmp_path) as apps:
        web = apps.serve(env, consumer_threads=0)
        worker = apps.worker(env, threads=1)
        for pull in pulls:  # one worker thread: the other two wait in the queue behind it
            assert deliver(web.url, "pull_request", fake.pull_request_event(REPO, pull.number)).status_code == 202

        def mid_review() -> bool:
            assert worker.alive(), worker.logs()
            return any(kind == "delay" for _, _, kind in fake.faults.injected)

        wait_until(mid_review, "the review to reach its commits request")
        [run] = check_runs(fake, REPO, stalled.head_sha)
        assert run["status"] == "in_progress"  # created by the review that is about to die
        worker.kill()
        assert not any(completed(fake, pull) for pull in pulls)

        queue = build_queue(QueueSettings(data_dir=data_dir, redis_url=redis_url), lambda job: None)
        try:
            # The dead worker's lease runs out; the next worker recovers the job at start.
            wait_until(lambda: bool(queue.store.expired_leases(KIND_JOB, time.time(), 1)), "the lease to run out")
            restarted = apps.worker(env, threads=1)
            wait_until(lambda: all(completed(fake, pull) for pull in pulls), "the reviews after the restart", 45)
            wait_until(queue.settled, "nothing left to run")
        finally:
            queue.close()
        restarted.stop()

    problems = [problem for pull in pulls for problem in reviewed_once(fake, pull)]
    assert not problems, "\n".join(problems)
    # The recovered review went on with the check run the killed one had created.
    assert check_runs(fake, REPO, stalled.head_sha)[0]["id"] == run["id"]
    queue = build_queue(QueueSettings(data_dir=data_dir, redis_url=redis_url), lambda job: None)
    try:
        counts = queue.counts()
        assert (counts.enqueued, counts.succeeded, counts.recovered, counts.given_up) == (3, 3, 1, 0)
        assert queue.depth() == 0
    finally:
        queue.close()


def test_the_same_delivery_three_times_is_reviewed_once(
    tmp_path: Path, fake_github: FakeGitHub, rsa_keys: KeyPair
) -> None:
    fake = fake_github
    pull = own_sample(REPO, 44)
    load_head(fake, pull)
    env = app_env(tmp_path / "data", fake.base_url, rsa_keys.private_pem, APP_ID)
    payload = fake.pull_request_event(REPO, pull.number)
    with Apps(tmp_path) as apps:
        web = apps.serve(env, consumer_threads=2)
        answers = [deliver(web.url, "pull_request", payload, delivery_id="same-delivery") for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 200, 200]
        assert [a.json()["status"] for a in answers[1:]] == ["duplicate delivery"] * 2
        wait_until(lambda: completed(fake, pull), "the review")
        queue = build_queue(QueueSettings(data_dir=tmp_path / "data"), lambda job: None)
        try:
            wait_until(queue.settled, "nothing left to run")  # a second review would be queued or running
            assert queue.counts().enqueued == 1
        finally:
            queue.close()
        web.stop()
    assert not reviewed_once(fake, pull)
    assert len(fake.calls("POST", f"/repos/{REPO}/check-runs")) == 1
