"""How a staging-loop run is asked for: a push to the default branch (the webhook route) and the
daily schedule (every repository of every installation), and the queue's handler running it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import FAST_CLIENT, review_deps

from app.github.client import GitHubApp
from app.github.dashboard import DASHBOARD_LABEL
from app.service.review import job_handler
from app.service.scheduled import is_staging_job, scheduled_jobs
from app.service.webhook import Delivery, PayloadError, route
from app.testing.fake_github import FakeGitHub, push_payload

REPO = "octo-org/kops"
STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428"


def test_a_push_to_the_default_branch_asks_for_a_run_and_other_pushes_do_not() -> None:
    payload = push_payload(repo=REPO, ref="refs/heads/main", before="a" * 40, after="b" * 40, installation_id=7)
    [job] = route(Delivery("d-1", "push", payload)).jobs
    assert is_staging_job(job)
    assert (job.installation_id, job.repo, job.base_ref, job.head_sha, job.coalesce_key) == (
        7, REPO, "main", "b" * 40, f"{REPO}#0")
    topic = push_payload(repo=REPO, ref="refs/heads/topic", before="a" * 40, after="b" * 40)
    assert route(Delivery("d-2", "push", topic)).note == "push not to the default branch"
    deleted = push_payload(repo=REPO, ref="refs/heads/main", before="a" * 40, after="0" * 40)
    deleted["deleted"] = True
    assert route(Delivery("d-3", "push", deleted)).jobs == ()
    del payload["ref"]
    with pytest.raises(PayloadError):
        route(Delivery("d-4", "push", payload))


@pytest.fixture
def app(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[GitHubApp]:
    github = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    yield github
    github.close()


def test_the_schedule_asks_once_a_day_for_every_installed_repository(fake_github: FakeGitHub,
                                                                      app: GitHubApp) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_repo("octo-org/etcdadm", default_branch="master")
    fake_github.add_public_repo("kubernetes/k8s.io")
    jobs = scheduled_jobs(app, date(2026, 12, 1))
    assert [(j.repo, j.base_ref, j.delivery_id) for j in jobs] == [
        ("octo-org/etcdadm", "master", "schedule:2026-12-01:octo-org/etcdadm"),
        (REPO, "main", f"schedule:2026-12-01:{REPO}"),
    ]
    assert all(is_staging_job(j) and j.installation_id == INSTALLATION_ID for j in jobs)


def test_the_queue_handler_runs_the_staging_loop_for_a_push(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    after = fake_github.push_commit(REPO, "main", {".github/image-review.yml": "dashboard: true\n",
                                                   "deploy/etcd.yaml": f"image: {STAGING}\n"}, "staging etcd")
    deps, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem)
    deps.clock = lambda: datetime(2026, 12, 1, tzinfo=UTC)
    try:
        [job] = route(Delivery("d-9", "push", fake_github.push_event(REPO, "0" * 40, after))).jobs
        job_handler(deps)(job)
    finally:
        github.close()
    [issue] = [i for i in fake_github.repo(REPO).issues.values() if DASHBOARD_LABEL in i.labels]
    assert issue.title == "Staging images"
    assert f"| `{STAGING}` | [deploy/etcd.yaml:1](https://github.com/{REPO}/blob/{after}/deploy/etcd.yaml#L1) | " \
           "production | none | not checked (offline) |" in issue.body


def test_the_daily_hook_runs_every_repository_and_one_failure_does_not_stop_the_rest(
    fake_github: FakeGitHub, app: GitHubApp
) -> None:
    from app.service.scheduled import LoopDeps, schedule_hook

    fake_github.push_commit("octo-org/broken", "main", {".github/image-review.yml": "dashboard: true\n"}, "init")
    fake_github.repo("octo-org/broken").git.commits.clear()  # its archive cannot be made: the run fails
    fake_github.push_commit(REPO, "main", {".github/image-review.yml": "dashboard: true\n",
                                           "deploy/etcd.yaml": f"image: {STAGING}\n"}, "staging etcd")
    deps = LoopDeps(github=app.client, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    hook = schedule_hook(app, deps, clock=deps.clock)
    hook.func()
    assert hook.name == "staging-loop" and hook.interval == 24 * 3600
    assert [i.title for i in fake_github.repo(REPO).issues.values()] == ["Staging images"]
    assert fake_github.repo("octo-org/broken").issues == {}


def test_the_sandbox_shows_the_dashboard_and_the_switch_back_after_promotion(rsa_keys: KeyPair) -> None:
    import io

    from app.testing.staging_demo import run_staging_demo

    out = io.StringIO()
    assert run_staging_demo(out, rsa_keys.private_pem, rsa_keys.public_pem, APP_ID) == 0
    text = out.getvalue()
    assert "→ daily run: dashboard created; switch-back none" in text
    assert "| production | #16000 (@release-team), until" in text and "release tag missing" in text
    assert "→ next daily run: dashboard edited; switch-back opened #16002" in text
    assert "-  - image: 127.0.0.1:" in text and "+  - image: 127.0.0.1:" in text
    assert "→ the App's review of #16002: check run success" in text
    assert "→ one more run: dashboard unchanged, switch-back unchanged, 2 API requests" in text


def test_giving_up_on_a_staging_run_touches_no_check_run(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    from app.service.review import mark_failed
    from app.service.scheduled import staging_job

    deps, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem)
    try:
        mark_failed(staging_job(INSTALLATION_ID, REPO, "main", "", "d-1", "push"), RuntimeError("boom"), deps)
    finally:
        github.close()
    assert fake_github.requests == []
