"""One review in-process against the fake GitHub: the paths the end-to-end tests do not take
(change control, drafts, a recheck without a head, closed pull requests, a retry after a failure
half-way, giving up through the real queue)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import review_deps, wait_until

from app.analysis.analyze import AnalysisContext, ChangeSet
from app.core.models import Analysis
from app.github.client import RetriesExhausted
from app.github.memory import LocalMemory
from app.jobs.consumer import start_embedded_consumer
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings, ReviewJob
from app.service.review import ReviewDeps, give_up_hook, job_handler, review_pull_request, web_url
from app.testing.fake_github import FakeGitHub, Fault
from app.testing.sample_pr import RELEASE_IMAGE, SamplePull, load_sample
from app.testing.sandbox import run_sandbox, source_fake_factory

pytestmark = pytest.mark.timeout(60)

REPO = "octo-org/kops"
POLICY = ".github/image-review.yml"


@pytest.fixture
def deps(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[ReviewDeps]:
    made, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem)
    yield made
    github.close()


def job(pull: SamplePull, event: str = "pull_request.opened", **kw: Any) -> ReviewJob:
    base = ReviewJob(
        installation_id=INSTALLATION_ID,
        repo=pull.repo,
        pr_number=pull.number,
        head_sha=pull.head_sha,
        delivery_id=f"d-{time.monotonic_ns()}",
        event=event,
        base_sha=pull.base_sha,
        base_ref=pull.base_ref,
    )
    return replace(base, **kw)


def release_bump(number: int) -> SamplePull:
    """etcd-manager from one release to the next: no staging image, only change control applies."""
    sample = load_sample().at(REPO, number)
    return sample.push(
        "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428", f"{RELEASE_IMAGE}:v3.0.20220428", "Use the release"
    )


def test_critical_image_needs_an_owner_approval(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = release_bump(21)
    fake_github.load_pull(REPO, pull.fixture())
    fake_github.set_file(REPO, pull.base_ref, POLICY, 'critical_images:\n  "etcd-manager*": ["@etcd-owner"]\n')

    result = review_pull_request(job(pull), deps)
    assert result is not None and result.conclusion == "action_required"
    [run] = fake_github.repo(REPO).check_runs.values()
    assert run["conclusion"] == "action_required"
    assert run["details_url"] == f"https://github.com/{REPO}/pull/21"
    assert fake_github.calls("GET", f"/repos/{REPO}/pulls/21/reviews")

    # The owner approves the head: the re-review passes.
    fake_github.repo(REPO).reviews[21] = [
        {"id": 1, "user": {"login": "etcd-owner"}, "state": "APPROVED", "commit_id": pull.head_sha}
    ]
    result = review_pull_request(job(pull, "pull_request_review.submitted", rerun=True), deps)
    assert result is not None and result.conclusion == "success"


def test_reviews_are_not_fetched_without_critical_images(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = release_bump(22)
    fake_github.load_pull(REPO, pull.fixture())
    review_pull_request(job(pull), deps)
    assert not fake_github.calls("GET", f"/repos/{REPO}/pulls/22/reviews")


def test_drafts_follow_the_policy(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = load_sample().at(REPO, 23)
    fake_github.load_pull(REPO, pull.fixture())
    fake_github.set_file(REPO, pull.base_ref, POLICY, "review_drafts: false\n")
    assert review_pull_request(job(pull, draft=True), deps) is None
    assert [(r.method, r.path) for r in fake_github.requests if "access_tokens" not in r.path] == [
        ("GET", f"/repos/{REPO}/contents/{POLICY}")
    ]
    # Reviewed as soon as it is ready.
    result = review_pull_request(job(pull, "pull_request.ready_for_review"), deps)
    assert result is not None and result.conclusion == "failure"


def test_recheck_comment_looks_the_head_up(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = load_sample().at(REPO, 24)
    fake_github.load_pull(REPO, pull.fixture())
    result = review_pull_request(job(pull, "issue_comment.created", head_sha="", base_sha="", base_ref=""), deps)
    assert result is not None and result.conclusion == "failure"
    [run] = fake_github.repo(REPO).check_runs.values()
    assert run["head_sha"] == pull.head_sha


def test_closed_or_missing_pull_requests_are_skipped(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = load_sample().at(REPO, 25)
    fixture = pull.fixture()
    fixture["state"] = "closed"
    fake_github.load_pull(REPO, fixture)
    assert review_pull_request(job(pull, "issue_comment.created", head_sha=""), deps) is None
    assert review_pull_request(job(load_sample().at(REPO, 404), "issue_comment.created", head_sha=""), deps) is None
    assert not [r for r in fake_github.requests if r.method != "GET" and "access_tokens" not in r.path]


def test_a_retry_after_a_failure_half_way_repeats_nothing(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = load_sample().at(REPO, 26)
    fake_github.load_pull(REPO, pull.fixture())
    # Posting the summary keeps failing (after the inline review went out): the attempt fails.
    for _ in range(3):
        fake_github.faults.script(Fault("502", method="POST", path=r"/issues/26/comments$"))
    with pytest.raises(RetriesExhausted):
        review_pull_request(job(pull), deps)
    [run] = fake_github.repo(REPO).check_runs.values()
    assert run["status"] == "in_progress"  # left for the retry (or the give-up hook) to close

    result = review_pull_request(job(pull), deps)  # the queue's retry
    assert result is not None and result.conclusion == "failure"
    assert len(fake_github.repo(REPO).check_runs) == 1
    assert len(fake_github.calls("POST", f"/repos/{REPO}/pulls/26/reviews")) == 1
    assert len([c for c in fake_github.repo(REPO).issue_comments.values() if c["_issue"] == 26]) == 1


def test_writes_answered_502_after_they_landed_are_not_doubled(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    pull = load_sample().at(REPO, 28)
    fake_github.load_pull(REPO, pull.fixture())
    # GitHub's gateway answers 502 although each write was carried out.
    fake_github.faults.script(
        Fault("502", method="POST", path=r"/check-runs$", after=True),
        Fault("502", method="POST", path=r"/pulls/28/reviews$", after=True),
        Fault("502", method="POST", path=r"/issues/28/comments$", after=True),
        Fault("502", method="PATCH", path=r"/check-runs/\d+$", after=True),
    )
    result = review_pull_request(job(pull), deps)
    assert result is not None and result.conclusion == "failure"
    assert len(fake_github.faults.injected) == 4
    repo = fake_github.repo(REPO)
    [run] = repo.check_runs.values()
    assert run["status"] == "completed" and len(repo.annotations[run["id"]]) == 1
    assert len(repo.reviews[28]) == 1
    assert len([c for c in repo.review_comments.values() if c["_pull"] == 28]) == 1
    assert len([c for c in repo.issue_comments.values() if c["_issue"] == 28]) == 1
    # Each write went out once; what followed its 502 was a look, not a second write.
    assert len(fake_github.calls("POST", f"/repos/{REPO}/check-runs")) == 1
    assert len(fake_github.calls("POST", f"/repos/{REPO}/pulls/28/reviews")) == 1
    assert len(fake_github.calls("POST", f"/repos/{REPO}/issues/28/comments")) == 1
    assert len(fake_github.calls("PATCH", f"/repos/{REPO}/check-runs/*")) == 1


def test_writes_answered_502_before_anything_happened_are_sent_again(
    fake_github: FakeGitHub, deps: ReviewDeps
) -> None:
    pull = load_sample().at(REPO, 29)
    fake_github.load_pull(REPO, pull.fixture())
    fake_github.faults.script(
        Fault("502", method="POST", path=r"/check-runs$"),
        Fault("502", method="POST", path=r"/pulls/29/reviews$"),
        Fault("503", method="POST", path=r"/issues/29/comments$"),
        Fault("502", method="PATCH", path=r"/check-runs/\d+$"),
    )
    result = review_pull_request(job(pull), deps)
    assert result is not None and result.conclusion == "failure"
    repo = fake_github.repo(REPO)
    [run] = repo.check_runs.values()
    assert run["status"] == "completed" and len(repo.annotations[run["id"]]) == 1
    assert len(repo.reviews[29]) == 1
    assert len([c for c in repo.issue_comments.values() if c["_issue"] == 29]) == 1
    assert len(fake_github.calls("POST", f"/repos/{REPO}/pulls/29/reviews")) == 2


def test_a_retry_after_a_write_of_unknown_outcome_looks_before_writing(
    fake_github: FakeGitHub, deps: ReviewDeps
) -> None:
    pull = load_sample().at(REPO, 30)
    fake_github.load_pull(REPO, pull.fixture())
    # The review lands but is answered 502, and looking for it fails too: the attempt dies
    # without learning whether its comments are there.
    fake_github.faults.script(
        Fault("502", method="POST", path=r"/pulls/30/reviews$", after=True),
        *[Fault("502", method="GET", path=r"/pulls/30/comments$") for _ in range(3)],
    )
    with pytest.raises(RetriesExhausted):
        review_pull_request(job(pull), deps)
    result = review_pull_request(job(pull), deps)  # the queue's retry
    assert result is not None and result.conclusion == "failure"
    repo = fake_github.repo(REPO)
    assert len(repo.reviews[30]) == 1
    assert len([c for c in repo.review_comments.values() if c["_pull"] == 30]) == 1
    assert len(repo.check_runs) == 1
    assert len([c for c in repo.issue_comments.values() if c["_issue"] == 30]) == 1


def _explode(change: ChangeSet, ctx: AnalysisContext) -> Analysis:
    raise RuntimeError("analysis blew up")


def test_given_up_jobs_close_their_check_run(fake_github: FakeGitHub, rsa_keys: KeyPair, tmp_path: Path) -> None:
    deps, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem, analyzer=_explode)
    pull = load_sample().at(REPO, 27)
    fake_github.load_pull(REPO, pull.fixture())
    settings = QueueSettings(data_dir=tmp_path, poll_interval=0.05, retries=1, retry_delay=0.0)
    queue = build_queue(settings, job_handler(deps), on_give_up=give_up_hook(deps))
    stop = start_embedded_consumer(queue, workers=1)
    try:
        queue.enqueue(job(pull))

        def closed() -> bool:
            runs = list(fake_github.repo(REPO).check_runs.values())
            return bool(runs) and runs[0]["status"] == "completed"

        wait_until(closed, what="the check run to be closed")
    finally:
        stop()
        queue.close()
        github.close()
    [run] = fake_github.repo(REPO).check_runs.values()
    assert run["conclusion"] == "neutral"
    assert "RuntimeError: analysis blew up" in run["output"]["summary"]
    assert len(fake_github.calls("POST", f"/repos/{REPO}/check-runs")) == 1  # the retry reused it


def test_web_url_for_api_url() -> None:
    assert web_url("https://api.github.com") == "https://github.com"
    assert web_url("https://ghe.example.com/api/v3") == "https://ghe.example.com"
    assert web_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_memory_is_shared_by_reviews(fake_github: FakeGitHub, deps: ReviewDeps) -> None:
    assert isinstance(deps.memory, LocalMemory)
    pull = load_sample().at(REPO, 28)
    fake_github.load_pull(REPO, pull.fixture())
    review_pull_request(job(pull), deps)
    remembered = deps.memory.load(REPO, 28)
    assert remembered is not None and remembered.summary_comment_id is not None
    assert remembered.check_runs[pull.head_sha].completed


def test_sandbox_shows_the_bot_at_work() -> None:
    out = io.StringIO()
    assert run_sandbox(out, fake_factory=source_fake_factory(), timeout=20) == 0
    text = out.getvalue()
    first, _, second = text.partition("— pushed")
    assert "conclusion failure" in first and "labels: do-not-merge/staging-image" in first
    assert f"```suggestion\n      |   - image: {RELEASE_IMAGE}:v3.0.20220428\n      | ```" in first
    assert "conclusion success" in second and "labels: (none)" in second and "inline comments: 0" in second
