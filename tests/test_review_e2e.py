"""End to end through real HTTP: signed webhook → the web app under gunicorn → the durable queue
(SQLite in the data dir) → a worker running the review → PyGithub → the fake GitHub.

gunicorn serves ``app.service.factory:create_app()`` exactly as in production (settings from the environment);
the web process only enqueues, so it needs no GitHub. The worker runs in this test process on
the same queue file (``start_embedded_consumer``), with the review handler and give-up hook.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import APP_ID, KeyPair
from ports import answers, free_port
from review_helpers import human_reply, review_deps, wait_until
from secret_grep import leaks, private_key_lines

from app.github.publish import DEFAULT_LABEL
from app.jobs.consumer import start_embedded_consumer
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings
from app.report.summary import SUMMARY_MARKER
from app.service.review import give_up_hook, job_handler
from app.testing.fake_github import FakeGitHub, check_payload, issue_comment_payload, signed_delivery
from app.testing.sample_pr import RELEASE_IMAGE, STAGING_IMAGE, SamplePull, load_sample

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

ROOT = Path(__file__).resolve().parents[1]
SECRET = "e2e-webhook-secret"
MODEL = "pkg/model/components/etcdmanager/model.go"
POLICY = ".github/image-review.yml"




def _gunicorn() -> str:
    found = Path(sys.executable).with_name("gunicorn")
    return str(found) if found.exists() else (shutil.which("gunicorn") or "gunicorn")


@dataclass
class Server:
    url: str
    data_dir: Path

    def deliver(self, event: str, payload: dict[str, Any], *, secret: str = SECRET) -> requests.Response:
        d = signed_delivery(secret, event, payload)
        return requests.post(f"{self.url}/webhook", data=d.body, headers=d.headers, timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, rsa_keys: KeyPair) -> Iterator[Server]:
    """gunicorn serving the real app, as `image-review serve` would start it."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = free_port()
    env = {
        **os.environ,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": rsa_keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        # The web process never calls GitHub: it verifies and enqueues.
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "IMAGE_REVIEW_DATA_DIR": str(data_dir),
    }
    cmd = [_gunicorn(), "app.service.factory:create_app()", "--bind", f"127.0.0.1:{port}", "--workers", "2",
           "--worker-class", "gthread", "--threads", "4", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{out}")
            if answers(url):
                break
            if time.monotonic() > deadline:
                raise AssertionError("gunicorn did not become ready in 20 s")
            time.sleep(0.1)
        yield Server(url, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert_no_secret(proc.stdout.read().decode(errors="replace") if proc.stdout else "", rsa_keys.private_pem)


@pytest.fixture
def worker(server: Server, fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[None]:
    deps, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem)
    settings = QueueSettings(data_dir=server.data_dir, poll_interval=0.05, retries=1, retry_delay=0.2)
    queue = build_queue(settings, job_handler(deps), on_give_up=give_up_hook(deps))
    stop = start_embedded_consumer(queue, workers=2)
    try:
        yield
    finally:
        stop()
        queue.close()
        github.close()


# ---------------------------------------------------------------------------------------------
# Reading what the App did, from the fake's state


def runs(fake: FakeGitHub, repo: str, head: str) -> list[dict[str, Any]]:
    return [r for r in fake.repo(repo).check_runs.values() if r["head_sha"] == head]


def wait_for_run(fake: FakeGitHub, repo: str, head: str, *, count: int = 1) -> dict[str, Any]:
    """The head's check run once it has completed ``count`` times (re-runs complete it again)."""

    def done() -> bool:
        completions = [
            c for c in fake.calls(None, f"/repos/{repo}/check-runs*")
            if c.json and c.json.get("conclusion") and (c.json.get("head_sha") in (None, head))
        ]
        found = runs(fake, repo, head)
        return bool(found) and found[-1]["status"] == "completed" and len(completions) >= count

    wait_until(done, what=f"the check run of {head[:12]}")
    return runs(fake, repo, head)[-1]


def annotations(fake: FakeGitHub, repo: str, run: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    return [
        (a["path"], a["start_line"], a["annotation_level"], a["title"]) for a in fake.repo(repo).annotations[run["id"]]
    ]


def inline(fake: FakeGitHub, repo: str, number: int) -> list[dict[str, Any]]:
    return [c for c in fake.repo(repo).review_comments.values() if c["_pull"] == number]


def summaries(fake: FakeGitHub, repo: str, number: int) -> list[dict[str, Any]]:
    return [c for c in fake.repo(repo).issue_comments.values() if c["_issue"] == number and SUMMARY_MARKER in c["body"]]


def suggestion(tag: str) -> str:
    return f"```suggestion\n  - image: {RELEASE_IMAGE}:{tag}\n```"


def push(fake: FakeGitHub, pull: SamplePull) -> None:
    """Load the pull request's new head; labels stay on the pull request as on GitHub."""
    repo = fake.add_repo(pull.repo)
    labels = repo.pulls[pull.number].labels if pull.number in repo.pulls else []
    fake.load_pull(pull.repo, pull.fixture(labels))


# ---------------------------------------------------------------------------------------------
# The etcd-manager staging pull request over three pushes


def test_staging_image_across_three_pushes(server: Server, fake_github: FakeGitHub, worker: None) -> None:
    fake = fake_github
    first = load_sample().at("octo-org/kops", 13196)
    repo, number = first.repo, first.number

    # Push 1: model.go switches to the staging build; golden files regenerated.
    push(fake, first)
    assert server.deliver("pull_request", fake.pull_request_event(repo, number, "opened")).status_code == 202
    run = wait_for_run(fake, repo, first.head_sha)
    assert run["conclusion"] == "failure"
    assert run["output"]["title"] == "1 error: staging-image"
    assert annotations(fake, repo, run) == [(MODEL, 181, "failure", "IR001 staging-image")]
    [comment] = inline(fake, repo, number)
    assert (comment["path"], comment["line"], comment["side"]) == (MODEL, 181, "RIGHT")
    assert suggestion("v3.0.20220428") in comment["body"]
    assert "<!-- image-review:fingerprint=" in comment["body"]
    assert fake.repo(repo).pulls[number].labels == [DEFAULT_LABEL]
    assert len(summaries(fake, repo, number)) == 1
    assert "```mermaid\nflowchart LR" in run["output"]["summary"]
    assert "image switch" in run["output"]["summary"]

    # Push 2: a newer staging build. The old comment's finding is gone (deleted), a new one comes.
    second = first.push(f"{STAGING_IMAGE}:v3.0.20220428", f"{STAGING_IMAGE}:v3.0.20220503", "Pick up v3.0.20220503")
    push(fake, second)
    assert server.deliver("pull_request", fake.pull_request_event(repo, number, "synchronize")).status_code == 202
    run = wait_for_run(fake, repo, second.head_sha)
    assert run["conclusion"] == "failure"
    assert annotations(fake, repo, run) == [(MODEL, 181, "failure", "IR001 staging-image")]
    [comment] = inline(fake, repo, number)
    assert comment["commit_id"] == second.head_sha and comment["line"] == 181
    assert suggestion("v3.0.20220503") in comment["body"]
    assert fake.repo(repo).pulls[number].labels == [DEFAULT_LABEL]
    assert not fake.calls(None, f"/repos/{repo}/issues/{number}/labels*")[1:]  # set once, on push 1

    # A reviewer answers the comment; then push 3 switches to the promoted release.
    human_reply(fake, repo, comment["id"], "Waiting for kubernetes/k8s.io#3627 to promote it.")
    third = second.push(f"{STAGING_IMAGE}:v3.0.20220503", f"{RELEASE_IMAGE}:v3.0.20220503", "Use the release")
    push(fake, third)
    assert server.deliver("pull_request", fake.pull_request_event(repo, number, "synchronize")).status_code == 202
    run = wait_for_run(fake, repo, third.head_sha)
    assert run["conclusion"] == "success"
    assert annotations(fake, repo, run) == []
    assert fake.repo(repo).pulls[number].labels == []
    thread = inline(fake, repo, number)
    assert [c["body"].split("\n")[0] for c in thread if c["user"]["type"] == "Bot" and c.get("in_reply_to_id")] == [
        f"Resolved in {third.head_sha}."
    ]
    [summary] = summaries(fake, repo, number)
    # What remains are notices about the pull request's history (staging builds in earlier commits).
    assert "IR001" not in summary["body"] and ":x: error" not in summary["body"]
    assert "error" not in run["output"]["title"]
    assert len(fake.calls("POST", f"/repos/{repo}/issues/{number}/comments")) == 1
    assert len(fake.calls("PATCH", f"/repos/{repo}/issues/comments/*")) == 2
    assert len(fake.calls("POST", f"/repos/{repo}/pulls/{number}/reviews")) == 2


def test_rerun_and_recheck_do_not_repeat_anything(server: Server, fake_github: FakeGitHub, worker: None) -> None:
    fake = fake_github
    pull = load_sample().at("octo-org/kops", 13197)
    push(fake, pull)
    server.deliver("pull_request", fake.pull_request_event(pull.repo, pull.number, "opened"))
    run = wait_for_run(fake, pull.repo, pull.head_sha)

    rerun = check_payload("check_run", repo=pull.repo, numbers=(pull.number,), head_sha=pull.head_sha)
    assert server.deliver("check_run", rerun).status_code == 202
    again = wait_for_run(fake, pull.repo, pull.head_sha, count=2)
    assert again["id"] == run["id"] and again["conclusion"] == "failure"
    assert len(fake.repo(pull.repo).annotations[run["id"]]) == 1

    recheck = issue_comment_payload(repo=pull.repo, number=pull.number, labels=(DEFAULT_LABEL,))
    assert server.deliver("issue_comment", recheck).status_code == 202
    wait_for_run(fake, pull.repo, pull.head_sha, count=3)
    assert len(runs(fake, pull.repo, pull.head_sha)) == 1
    assert len(fake.repo(pull.repo).annotations[run["id"]]) == 1
    assert len(inline(fake, pull.repo, pull.number)) == 1
    assert len(summaries(fake, pull.repo, pull.number)) == 1

    # A recheck from someone without write access is ignored by the receiver.
    outsider = issue_comment_payload(repo=pull.repo, number=pull.number, association="CONTRIBUTOR", login="drive-by")
    assert server.deliver("issue_comment", outsider).json()["status"] == "ignored"


def test_policy_changed_by_the_pull_request_does_not_judge_it(
    server: Server, fake_github: FakeGitHub, worker: None
) -> None:
    fake = fake_github
    sample = load_sample().at("octo-org/kops", 13198)
    relaxed = "version: 1\nrules:\n  staging-image:\n    enabled: false\nstaging_allowed_paths:\n  - pkg\n"
    policy_diff = (
        f"diff --git a/{POLICY} b/{POLICY}\nnew file mode 100644\n--- /dev/null\n+++ b/{POLICY}\n"
        f"@@ -0,0 +1,{relaxed.count(chr(10))} @@\n" + "".join(f"+{line}\n" for line in relaxed.splitlines())
    )
    fixture = sample.fixture()
    fixture["diff"] += policy_diff
    fixture["contents"] = {sample.head_sha: {POLICY: relaxed}}
    fake.load_pull(sample.repo, fixture)
    server.deliver("pull_request", fake.pull_request_event(sample.repo, sample.number, "opened"))
    run = wait_for_run(fake, sample.repo, sample.head_sha)

    # The base branch (no policy file: the defaults) still judges the staging image.
    assert run["conclusion"] == "failure"
    assert (MODEL, 181, "failure", "IR001 staging-image") in annotations(fake, sample.repo, run)
    policy_reads = fake.calls("GET", f"/repos/{sample.repo}/contents/{POLICY}")
    assert sorted(r.query["ref"] for r in policy_reads) == sorted([sample.base_ref, sample.head_sha])
    assert "does not apply to itself" in run["output"]["summary"]


def test_pull_request_without_image_changes(server: Server, fake_github: FakeGitHub, worker: None) -> None:
    fake = fake_github
    diff = (
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,2 @@\n"
        " # kops\n-Old words.\n+New words.\n"
    )
    fake.load_pull("octo-org/kops", {"number": 13199, "head": {"sha": "c" * 40}, "diff": diff})
    # Warm the token cache the way a running App has it, then count.
    server.deliver("pull_request", fake.pull_request_event("octo-org/kops", 13199, "opened"))
    run = wait_for_run(fake, "octo-org/kops", "c" * 40)
    assert (run["conclusion"], run["output"]["title"]) == ("success", "No image references changed")
    calls = [r for r in fake.requests if not r.path.endswith("/access_tokens")]
    assert [(r.method, r.path) for r in calls] == [
        ("GET", "/repos/octo-org/kops/pulls/13199"),
        ("GET", f"/repos/octo-org/kops/contents/{POLICY}"),
        ("POST", "/repos/octo-org/kops/check-runs"),
    ]
    assert calls[0].headers["Accept"] == "application/vnd.github.diff"


def test_bad_signature_is_refused_and_nothing_runs(server: Server, fake_github: FakeGitHub, worker: None) -> None:
    payload = fake_github.pull_request_event(*_loaded(fake_github), "opened")
    # The answer comes after the receiver's decision: had it queued a job, the store would say so.
    queue = build_queue(QueueSettings(data_dir=server.data_dir), lambda job: None)
    try:
        wait_until(queue.settled, what="the jobs of earlier tests to finish")
        before = queue.counts().enqueued
        assert server.deliver("pull_request", payload, secret="not-the-secret").status_code == 401
        assert queue.counts().enqueued == before and queue.settled()
    finally:
        queue.close()
    assert fake_github.requests == []


def _loaded(fake: FakeGitHub) -> tuple[str, int]:
    pull = load_sample().at("octo-org/kops", 13200)
    push(fake, pull)
    return pull.repo, pull.number


def test_image_review_serve_reviews_with_its_own_consumer(
    tmp_path: Path, fake_github: FakeGitHub, rsa_keys: KeyPair
) -> None:
    """The production command, its embedded consumer and the default client settings, unchanged."""
    fake = fake_github
    pull = load_sample().at("octo-org/kops", 13201)
    push(fake, pull)
    port = free_port()
    env = {
        **os.environ,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": rsa_keys.private_pem,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": fake.base_url,
        "IMAGE_REVIEW_DATA_DIR": str(tmp_path),
        # Tests reach loopback only: registry verification is tested against a local registry.
        "IMAGE_REVIEW_REGISTRY_VERIFY": "0",
    }
    command = Path(sys.executable).with_name("image-review")
    cmd = [str(command), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"http://127.0.0.1:{port}", tmp_path)
    try:
        wait_until(lambda: _ready(server.url, proc), timeout=20, what="image-review serve")
        opened = fake.pull_request_event(pull.repo, pull.number, "opened")
        assert server.deliver("pull_request", opened).status_code == 202
        run = wait_for_run(fake, pull.repo, pull.head_sha)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert_no_secret(proc.stderr.read().decode(errors="replace") if proc.stderr else "", rsa_keys.private_pem)
    assert run["conclusion"] == "failure"
    assert annotations(fake, pull.repo, run) == [(MODEL, 181, "failure", "IR001 staging-image")]
    [comment] = inline(fake, pull.repo, pull.number)
    assert suggestion("v3.0.20220428") in comment["body"]
    assert fake.repo(pull.repo).pulls[pull.number].labels == [DEFAULT_LABEL]


def assert_no_secret(output: str, private_key: str) -> None:
    """Every line a served App process wrote holds neither its key, its webhook secret nor a token."""
    literals = [SECRET, *private_key_lines(private_key)]
    found = [(line[:200], what) for line in output.splitlines() for what in leaks(line, literals)]
    assert not found, found[:3]


def _ready(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise AssertionError(f"image-review serve exited with {proc.returncode}:\n{err[-3000:]}")
    return answers(url)
