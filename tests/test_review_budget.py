"""Per-review budgets: a review over its diff-size or wall-time budget completes its check run
``neutral`` naming what was too large, and the worker reviews the next pull request normally.

Reviews run against the fake GitHub over HTTP; the wall-time case runs through the real queue
with a single consumer thread, so the next job can only be reviewed if that thread came back.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from app_process import own_sample
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import review_deps, wait_until

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.core.models import Analysis
from app.jobs.consumer import start_embedded_consumer
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings, ReviewJob
from app.service.budget import ReviewBudget
from app.service.review import ReviewDeps, give_up_hook, job_handler, review_pull_request
from app.service.settings import Settings, SettingsError
from app.testing.fake_github import FakeGitHub
from app.testing.sample_pr import SamplePull

pytestmark = pytest.mark.timeout(60)

REPO = "octo-org/kops"


def job(pull: SamplePull) -> ReviewJob:
    return ReviewJob(
        installation_id=INSTALLATION_ID,
        repo=pull.repo,
        pr_number=pull.number,
        head_sha=pull.head_sha,
        delivery_id=f"d-{time.monotonic_ns()}",
        event="pull_request.opened",
        base_sha=pull.base_sha,
        base_ref=pull.base_ref,
    )


def loaded(fake: FakeGitHub, number: int) -> SamplePull:
    pull = own_sample(REPO, number)  # commit SHAs of its own: check runs are found by head SHA
    fake.load_pull(REPO, pull.fixture())
    return pull


def runs(fake: FakeGitHub, pull: SamplePull) -> list[dict[str, Any]]:
    return [dict(r) for r in fake.repo(REPO).check_runs.values() if r["head_sha"] == pull.head_sha]


def check_run(fake: FakeGitHub, pull: SamplePull) -> dict[str, Any]:
    [run] = runs(fake, pull)
    return run


def with_budget(deps: ReviewDeps, budget: ReviewBudget) -> ReviewDeps:
    return replace(deps, options=replace(deps.options, budget=budget))


@pytest.fixture
def deps(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[ReviewDeps]:
    made, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem)
    yield made
    github.close()


def test_diff_over_the_size_budget_is_neutral_and_names_its_size(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    big = loaded(fake_github, 13300)
    assert review_pull_request(job(big), with_budget(deps, ReviewBudget(max_diff_bytes=256))) is None
    run = check_run(fake_github, big)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert run["output"]["title"] == "Too large to review"
    summary = run["output"]["summary"]
    over = r"its diff holds [\d.]+ KiB of changed text in 5 files, over the review budget of 256 bytes"
    assert re.search(over, summary)
    assert re.search(r"the largest file, `[^`]+`, holds [\d.]+ (KiB|bytes)", summary)  # named, with its size
    assert not fake_github.repo(REPO).review_comments  # nothing was judged
    # The same worker, with room enough, reviews the next pull request as usual.
    normal = loaded(fake_github, 13301)
    result = review_pull_request(job(normal), deps)
    assert result is not None and result.conclusion == "failure"
    assert check_run(fake_github, normal)["conclusion"] == "failure"


def test_analysis_over_the_time_budget_is_neutral_and_the_worker_goes_on(
    fake_github: FakeGitHub, rsa_keys: KeyPair, tmp_path: Path
) -> None:
    slow = loaded(fake_github, 13302)
    normal = loaded(fake_github, 13303)

    def analyzer(change: ChangeSet, ctx: AnalysisContext) -> Analysis:
        if ctx.head_sha == slow.head_sha:
            while True:  # a pathological input: never finishes on its own
                pass
        return analyze(change, ctx)

    made, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem, analyzer=analyzer)
    deps = with_budget(made, ReviewBudget(seconds=0.5))
    settings = QueueSettings(data_dir=tmp_path, poll_interval=0.05, retries=0, retry_delay=0.1)
    queue = build_queue(settings, job_handler(deps), on_give_up=give_up_hook(deps))
    stop = start_embedded_consumer(queue, workers=1)  # one thread: the next job needs it back
    try:
        queue.enqueue(job(slow))
        queue.enqueue(job(normal))
        for pull in (slow, normal):
            done = lambda p=pull: any(r["status"] == "completed" for r in runs(fake_github, p))  # noqa: E731
            wait_until(done, 20, "the check run")
    finally:
        stop()
        queue.close()
        github.close()
    late = check_run(fake_github, slow)
    assert late["conclusion"] == "neutral" and late["output"]["title"] == "Too large to review"
    assert "took longer than the review budget of 0.5 s" in late["output"]["summary"]
    assert check_run(fake_github, normal)["conclusion"] == "failure"
    # The runaway analysis was stopped, not left spinning beside the worker.
    wait_until(lambda: not any(t.name == "review-analysis" for t in threading.enumerate()), 5, "the analysis to stop")


def test_budget_settings_are_read_and_checked(rsa_keys: KeyPair) -> None:
    base = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": rsa_keys.private_pem, "GITHUB_WEBHOOK_SECRET": "x"}
    assert Settings.from_env(base).review_budget == ReviewBudget()
    env = {**base, "IMAGE_REVIEW_REVIEW_SECONDS": "30", "IMAGE_REVIEW_REVIEW_MAX_DIFF": "8M"}
    assert Settings.from_env(env).review_budget == ReviewBudget(seconds=30, max_diff_bytes=8 * 1024 * 1024)
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**base, "IMAGE_REVIEW_REVIEW_SECONDS": "0", "IMAGE_REVIEW_REVIEW_MAX_DIFF": "lots"})
    assert any("IMAGE_REVIEW_REVIEW_SECONDS" in p for p in error.value.problems)
    assert any("IMAGE_REVIEW_REVIEW_MAX_DIFF" in p for p in error.value.problems)
