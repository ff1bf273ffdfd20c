from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from conftest import ACCOUNT, APP_ID, INSTALLATION_ID, KeyPair, make_key_pair
from github.GithubException import GithubException
from github.PullRequest import ReviewComment

from app.github.client import (
    ApiCounter,
    AppAuth,
    AppAuthError,
    CachedContent,
    ClientOptions,
    ContentCache,
    DiffTooLarge,
    GitHubApp,
    InstallationClient,
    RetriesExhausted,
    RetryPolicy,
    not_repeatable,
)
from app.testing.fake_github import LINE_MUST_BE_IN_DIFF, FakeGitHub, Fault, PullData

REPO = f"{ACCOUNT}/app"
POLICY_PATH = ".github/image-review.yml"

DIFF = """\
diff --git a/deploy/pause.yaml b/deploy/pause.yaml
index 1111111..2222222 100644
--- a/deploy/pause.yaml
+++ b/deploy/pause.yaml
@@ -1,4 +1,4 @@
 spec:
   containers:
-  - image: registry.k8s.io/pause:3.8
+  - image: gcr.io/k8s-staging-foo/pause:latest
     name: pause
diff --git a/README.md b/README.md
index 3333333..4444444 100644
--- a/README.md
+++ b/README.md
@@ -1,2 +1,3 @@
 # app
+More words.
 End.
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """A RetryPolicy.sleep that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_options(sleep: Sleeps | None = None, **retry: float) -> ClientOptions:
    policy = RetryPolicy(
        max_attempts=int(retry.pop("max_attempts", 4)),
        max_elapsed=retry.pop("max_elapsed", 30.0),
        backoff_factor=retry.pop("backoff_factor", 0.01),
        secondary_wait=retry.pop("secondary_wait", 0.05),
        sleep=sleep if sleep is not None else time.sleep,
    )
    return ClientOptions(retry=policy, seconds_between_requests=0, seconds_between_writes=0)


@pytest.fixture
def pull(fake_github: FakeGitHub) -> PullData:
    return fake_github.load_pull(
        REPO,
        {
            "number": 7,
            "title": "Use the staging pause image",
            "head": {"sha": "a" * 40, "ref": "staging-pause"},
            "base": {"sha": "b" * 40, "ref": "main"},
            "labels": ["area/images"],
            "diff": DIFF,
            "commits": [{"sha": "a" * 40, "message": "Use staging pause", "diff": DIFF}],
            "contents": {"main": {POLICY_PATH: "rules:\n  staging: error\n"}},
        },
    )


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gh_app(fake_github: FakeGitHub, rsa_keys: KeyPair, sleeps: Sleeps) -> Iterator[GitHubApp]:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=fast_options(sleeps))
    yield app
    app.close()


@pytest.fixture
def client(gh_app: GitHubApp, pull: PullData) -> Iterator[InstallationClient]:
    with gh_app.client(INSTALLATION_ID) as installation_client:
        yield installation_client


# -- App authentication ------------------------------------------------------------------------


def test_jwt_claims(rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, "http://127.0.0.1:1")
    before = int(time.time())
    claims = jwt.decode(auth.jwt(), rsa_keys.public_pem, algorithms=["RS256"], issuer=str(APP_ID))
    after = int(time.time())
    assert claims["iss"] == str(APP_ID)
    assert before - 61 <= claims["iat"] <= after - 59  # backdated a minute against clock drift
    assert claims["exp"] - after <= 10 * 60  # GitHub's limit
    assert claims["exp"] - before >= 8 * 60
    assert jwt.get_unverified_header(auth.jwt())["alg"] == "RS256"


def test_jwt_uses_the_injected_clock(rsa_keys: KeyPair) -> None:
    clock = FakeClock()
    clock.now = 1_700_000_000.0
    auth = AppAuth(APP_ID, rsa_keys.private_pem, clock=clock)
    claims = jwt.decode(auth.jwt(), rsa_keys.public_pem, algorithms=["RS256"], options={"verify_exp": False})
    assert (claims["iat"], claims["exp"]) == (1_700_000_000 - 60, 1_700_000_000 + 9 * 60)


def test_repr_shows_no_key(rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem)
    assert "PRIVATE" not in repr(auth)
    assert repr(auth) == f"AppAuth(app_id={APP_ID}, api_url='https://api.github.com')"


def test_installation_token_is_cached(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url)
    tokens = {auth.installation_token(INSTALLATION_ID) for _ in range(20)}
    assert len(tokens) == 1
    assert len(fake_github.calls("POST", "/app/installations/*/access_tokens")) == 1


def test_installation_token_is_fetched_once_under_concurrency(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url)
    fake_github.faults.script(Fault("delay", delay=0.2, path="access_tokens"))
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(auth.installation_token(1))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert len(fake_github.calls("POST", "/app/installations/*/access_tokens")) == 1


def test_installation_token_is_renewed_shortly_before_expiry(rsa_keys: KeyPair) -> None:
    clock = FakeClock()
    fake = FakeGitHub(app_id=APP_ID, public_key=rsa_keys.public_pem, clock=clock)
    fake.add_installation(INSTALLATION_ID, ACCOUNT)
    with fake.serve() as url:
        auth = AppAuth(APP_ID, rsa_keys.private_pem, url, clock=clock)
        first = auth.installation_token(INSTALLATION_ID)
        clock.now += 54 * 60  # six minutes left of the hour: still good
        assert auth.installation_token(INSTALLATION_ID) == first
        clock.now += 2 * 60  # four minutes left: inside the five-minute margin
        second = auth.installation_token(INSTALLATION_ID)
        assert second != first
        assert auth.installation_token(INSTALLATION_ID) == second
    assert len(fake.calls("POST", "/app/installations/*/access_tokens")) == 2


def test_a_renewed_token_is_used_by_the_pygithub_client(rsa_keys: KeyPair) -> None:
    clock = FakeClock()
    fake = FakeGitHub(app_id=APP_ID, public_key=rsa_keys.public_pem, clock=clock)
    fake.add_installation(INSTALLATION_ID, ACCOUNT)
    fake.add_repo(REPO)
    with fake.serve() as url:
        app = GitHubApp(APP_ID, rsa_keys.private_pem, url, options=fast_options(), clock=clock)
        with app.client(INSTALLATION_ID) as c:
            assert c.github.get_repo(REPO).default_branch == "main"  # lazy: fetched here
            clock.now += 57 * 60
            assert c.github.get_repo(REPO).default_branch == "main"
    used = [r.headers["Authorization"] for r in fake.calls("GET", f"/repos/{REPO}")]
    assert len(used) == 2 and used[0] != used[1]
    assert all(header.startswith("token ghs_") for header in used)


def test_token_request_with_the_wrong_key_fails_clearly(fake_github: FakeGitHub) -> None:
    other = make_key_pair()
    auth = AppAuth(APP_ID, other.private_pem, fake_github.base_url)
    with pytest.raises(AppAuthError) as caught:
        auth.installation_token(INSTALLATION_ID)
    assert caught.value.status == 401
    assert str(caught.value).startswith(
        f"could not get a token for installation {INSTALLATION_ID} of App {APP_ID}: 401 "
        "A JSON web token could not be decoded"
    )


def test_token_for_an_unknown_installation(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url)
    with pytest.raises(AppAuthError, match=r"installation 99 .*: 404 Not Found"):
        auth.installation_token(99)


def test_app_request_uses_the_jwt(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    fake_github.add_delivery("pull_request", status_code=502)
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url)
    deliveries = auth.app_request("GET", "/app/hook/deliveries").json()
    assert [d["status_code"] for d in deliveries] == [502]
    auth.app_request("POST", f"/app/hook/deliveries/{deliveries[0]['id']}/attempts")
    assert fake_github.redelivered == [deliveries[0]["id"]]
    assert fake_github.calls("GET", "/app/hook/deliveries")[0].headers["Authorization"].startswith("Bearer ")


# -- PyGithub client ---------------------------------------------------------------------------


def test_pygithub_reads_the_pull_request(client: InstallationClient, fake_github: FakeGitHub) -> None:
    pr = client.github.get_repo(REPO).get_pull(7)
    assert (pr.number, pr.head.sha, pr.base.ref, pr.draft) == (7, "a" * 40, "main", False)
    assert [label.name for label in pr.labels] == ["area/images"]
    assert [f.filename for f in pr.get_files()] == ["deploy/pause.yaml", "README.md"]
    assert [c.commit.message for c in pr.get_commits()] == ["Use staging pause"]
    assert fake_github.calls("GET", "/repos/*")[0].headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_pygithub_follows_pagination(fake_github: FakeGitHub, rsa_keys: KeyPair, pull: PullData) -> None:
    options = ClientOptions(retry=RetryPolicy(), per_page=1, seconds_between_requests=0, seconds_between_writes=0)
    with GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=options).client(1) as c:
        names = [f.filename for f in c.github.get_repo(REPO).get_pull(7).get_files()]
    assert names == ["deploy/pause.yaml", "README.md"]
    pages = fake_github.calls("GET", f"/repos/{REPO}/pulls/7/files")
    assert [r.query.get("page") for r in pages] == [None, "2"]


def test_calls_and_rate_limit_are_counted(client: InstallationClient, gh_app: GitHubApp) -> None:
    assert client.github.get_repo(REPO).get_pull(7).head.sha == "a" * 40
    client.raw.pull_diff(REPO, 7)
    stats = client.counter.snapshot()
    assert stats.requests == 2
    assert stats.by_status == {200: 2}
    assert stats.rate_limit_remaining == 4998
    assert stats.rate_limit_reset is not None
    # The token request is counted by the App's own counter; both add up in the total.
    assert gh_app.auth.counter.requests == 1
    assert gh_app.total.requests == 3


# -- retries -----------------------------------------------------------------------------------


def test_two_502s_then_success(client: InstallationClient, fake_github: FakeGitHub, sleeps: Sleeps) -> None:
    fake_github.faults.script(Fault("502", path="/pulls/"), Fault("502", path="/pulls/"))
    pr = client.github.get_repo(REPO).get_pull(7)
    assert pr.head.sha == "a" * 40
    assert [r.status for r in fake_github.calls("GET", f"/repos/{REPO}/pulls/7")] == [502, 502, 200]
    assert client.counter.snapshot().retries == 2
    assert sleeps.waits == [0.01, 0.02]  # exponential backoff


def test_post_and_patch_are_retried(client: InstallationClient, fake_github: FakeGitHub) -> None:
    fake_github.faults.script(Fault("502", method="POST", path="/labels"), Fault("503", method="PATCH"))
    issue = client.github.get_repo(REPO).get_issue(7)
    issue.add_to_labels("area/images")  # adding a label twice is harmless: retried on 5xx
    comment = issue.create_comment("first words")
    comment.edit("second words")  # an edit is the same edit again
    assert [r.status for r in fake_github.calls("POST", f"/repos/{REPO}/issues/7/labels")] == [502, 200]
    assert [r.status for r in fake_github.calls("PATCH", f"/repos/{REPO}/issues/comments/*")] == [503, 200]
    assert fake_github.repo(REPO).pulls[7].labels == ["area/images"]


def test_writes_that_would_be_doubled_get_their_5xx_back(client: InstallationClient, fake_github: FakeGitHub) -> None:
    # The gateway answers 502 after GitHub created the run: sending it again would make two.
    fake_github.faults.script(
        Fault("secondary", retry_after=0, method="POST", path="check-runs"),  # answered first: retried
        Fault("502", method="POST", path="check-runs", after=True),
    )
    repo = client.github.get_repo(REPO)
    with pytest.raises(GithubException) as raised:
        repo.create_check_run(name="image-review", head_sha="a" * 40, status="in_progress")
    assert raised.value.status == 502
    assert [r.status for r in fake_github.calls("POST", f"/repos/{REPO}/check-runs")] == [403, 502]
    assert len(fake_github.repo(REPO).check_runs) == 1
    assert not_repeatable("POST", f"/api/v3/repos/{REPO}/pulls/7/reviews?x=1")
    assert not_repeatable("PATCH", f"/repos/{REPO}/check-runs/12")
    assert not_repeatable("POST", f"/repos/{REPO}/pulls/7/comments/3/replies")
    assert not not_repeatable("PATCH", f"/repos/{REPO}/issues/comments/3")
    assert not not_repeatable("POST", "/app/installations/1/access_tokens")


def test_retry_after_is_honoured(client: InstallationClient, fake_github: FakeGitHub, sleeps: Sleeps) -> None:
    fake_github.faults.script(
        Fault("secondary", retry_after=3, path="/pulls/"), Fault("429", retry_after=2, path="/pulls/")
    )
    assert client.github.get_repo(REPO).get_pull(7).title
    assert sleeps.waits == [3.0, 2.0]


def test_retry_after_really_waits(fake_github: FakeGitHub, rsa_keys: KeyPair, pull: PullData) -> None:
    fake_github.faults.script(Fault("429", retry_after=1, path="/pulls/"))
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=fast_options())
    with app.client(INSTALLATION_ID) as c:
        c.github.get_repo(REPO)  # lazy: no request
        started = time.monotonic()
        c.raw.pull_diff(REPO, 7)
        assert time.monotonic() - started >= 1.0


def test_secondary_rate_limit_named_only_in_the_body(
    client: InstallationClient, fake_github: FakeGitHub, sleeps: Sleeps
) -> None:
    fake_github.faults.script(Fault("secondary-no-header", path="/pulls/"))
    assert client.raw.pull_diff(REPO, 7).startswith("diff --git")
    assert sleeps.waits == [0.05]  # the policy's secondary wait


def test_primary_rate_limit_waits_for_the_reset(
    client: InstallationClient, fake_github: FakeGitHub, sleeps: Sleeps
) -> None:
    fake_github.faults.script(Fault("primary", retry_after=2, path="/pulls/"))
    assert client.github.get_repo(REPO).get_pull(7).title
    assert len(sleeps.waits) == 1
    assert 1.5 <= sleeps.waits[0] <= 3.5  # until X-RateLimit-Reset, plus a second


def test_an_ordinary_403_is_not_retried_and_keeps_its_message(
    client: InstallationClient, fake_github: FakeGitHub
) -> None:
    fake_github.faults.script(Fault("forbidden", path="/pulls/"), Fault("forbidden", path="/pulls/"))
    with pytest.raises(GithubException) as caught:
        _ = client.github.get_repo(REPO).get_pull(7).title
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by integration"
    with pytest.raises(GithubException) as raw_caught:
        client.raw.pull_diff(REPO, 7)
    assert raw_caught.value.status == 403
    assert len(fake_github.calls("GET", f"/repos/{REPO}/pulls/7")) == 2


def test_gives_up_after_the_attempt_bound(fake_github: FakeGitHub, rsa_keys: KeyPair, pull: PullData) -> None:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=fast_options(max_attempts=3))
    fake_github.faults.random(Fault("502", path="/pulls/"), rate=1.0)
    with app.client(INSTALLATION_ID) as c, pytest.raises(RetriesExhausted) as caught:
        _ = c.github.get_repo(REPO).get_pull(7).title
    error = caught.value
    assert error.status == 502
    assert error.attempts == 3
    assert str(error).startswith(f"GitHub API GET /repos/{REPO}/pulls/7 still failing after 3 attempt(s)")
    assert len(fake_github.calls("GET", f"/repos/{REPO}/pulls/7")) == 3


def test_gives_up_when_the_wait_exceeds_the_time_budget(
    fake_github: FakeGitHub, rsa_keys: KeyPair, pull: PullData
) -> None:
    sleeps = Sleeps()
    options = fast_options(sleeps, max_elapsed=5.0)
    fake_github.faults.script(
        Fault("secondary", retry_after=2, path="/pulls/"), Fault("secondary", retry_after=10, path="/pulls/")
    )
    budget = re.escape("the next wait of 10.0s would exceed the 5s retry budget")
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=options)
    with app.client(1) as c, pytest.raises(RetriesExhausted, match=budget):
        c.raw.pull_diff(REPO, 7)
    assert sleeps.waits == [2.0]
    assert len(fake_github.calls("GET", f"/repos/{REPO}/pulls/7")) == 2


def test_retries_with_random_faults_are_repeatable(fake_github: FakeGitHub, client: InstallationClient) -> None:
    fake_github.faults.random(Fault("502", path="/contents/"), rate=0.3)
    fake_github.faults.random(Fault("429", retry_after=0, path="/contents/"), rate=0.2)
    for _ in range(10):
        assert client.raw.file_text(REPO, POLICY_PATH, "main") is not None
    injected = [kind for _, _, kind in fake_github.faults.injected]
    assert injected  # seed 0 injects some of each within 10 requests
    assert client.counter.snapshot().retries == len(injected)


def test_connection_failure_is_bounded(rsa_keys: KeyPair) -> None:
    sleeps = Sleeps()
    auth = AppAuth(APP_ID, rsa_keys.private_pem, "http://127.0.0.1:9", policy=fast_options(sleeps).retry)
    with pytest.raises(requests.ConnectionError):
        auth.installation_token(INSTALLATION_ID)
    assert auth.counter.snapshot().errors == 4


# -- raw requests: diffs and contents ----------------------------------------------------------


def test_pull_diff(client: InstallationClient, fake_github: FakeGitHub) -> None:
    assert client.raw.pull_diff(REPO, 7) == DIFF
    assert fake_github.calls("GET", f"/repos/{REPO}/pulls/7")[0].headers["Accept"] == "application/vnd.github.diff"


def test_commit_diff(client: InstallationClient) -> None:
    assert client.raw.commit_diff(REPO, "a" * 40) == DIFF


@pytest.mark.parametrize(
    ("limit", "value", "reason"), [("diff_max_files", 1, "files (1)"), ("diff_max_lines", 2, "lines (2)")]
)
def test_diff_too_large(
    client: InstallationClient, fake_github: FakeGitHub, limit: str, value: int, reason: str
) -> None:
    setattr(fake_github.limits, limit, value)
    with pytest.raises(DiffTooLarge) as caught:
        client.raw.pull_diff(REPO, 7)
    assert caught.value.status == 406
    assert f"GitHub will not render the diff of {REPO}#7" in str(caught.value)
    assert reason in str(caught.value)
    # The files API still answers, as GitHub's message suggests.
    assert len(list(client.github.get_repo(REPO).get_pull(7).get_files())) == 2


def test_conditional_contents_fetch(client: InstallationClient, fake_github: FakeGitHub) -> None:
    first = client.raw.file_text(REPO, POLICY_PATH, "main")
    remaining = client.counter.rate_limit_remaining
    second = client.raw.file_text(REPO, POLICY_PATH, "main")
    assert first == second == "rules:\n  staging: error\n"
    calls = fake_github.calls("GET", f"/repos/{REPO}/contents/*")
    assert [c.status for c in calls] == [200, 304]
    assert "If-None-Match" not in calls[0].headers
    assert calls[1].headers["If-None-Match"] == f'"{_blob_sha(first)}"'
    assert client.counter.snapshot().not_modified == 1
    assert client.counter.rate_limit_remaining == remaining  # a 304 is free


def test_changed_contents_are_fetched_again(client: InstallationClient, fake_github: FakeGitHub) -> None:
    client.raw.file_text(REPO, POLICY_PATH, "main")
    fake_github.set_file(REPO, "main", POLICY_PATH, "rules: {}\n")
    assert client.raw.file_text(REPO, POLICY_PATH, "main") == "rules: {}\n"
    assert [c.status for c in fake_github.calls("GET", f"/repos/{REPO}/contents/*")] == [200, 200]


def test_the_contents_cache_is_shared_by_clients(gh_app: GitHubApp, fake_github: FakeGitHub, pull: PullData) -> None:
    for _ in range(2):
        with gh_app.client(INSTALLATION_ID) as c:
            c.raw.file_text(REPO, POLICY_PATH, "main")
    assert [c.status for c in fake_github.calls("GET", f"/repos/{REPO}/contents/*")] == [200, 304]


def test_absent_file_is_none(client: InstallationClient) -> None:
    assert client.raw.file_text(REPO, "no/such/file.yml", "main") is None


def test_a_directory_is_not_a_file(client: InstallationClient) -> None:
    with pytest.raises(GithubException, match="is not a file"):
        client.raw.file_text(REPO, ".github", "main")


def test_content_cache_bounds() -> None:
    cache = ContentCache(max_entries=2, max_bytes=10)
    cache.put("o/r", "a", "main", CachedContent('"1"', "aaaa"))
    cache.put("o/r", "b", "main", CachedContent('"2"', "bbbb"))
    assert cache.get("O/R", "a", "main") is not None  # repository names are case-insensitive
    cache.put("o/r", "c", "main", CachedContent('"3"', "cc"))  # evicts b, the least recently used
    assert cache.get("o/r", "b", "main") is None
    cache.put("o/r", "d", "main", CachedContent('"4"', "d" * 9))  # the byte bound evicts the rest
    assert len(cache) == 1 and cache.get("o/r", "d", "main") is not None
    cache.put("o/r", "huge", "main", CachedContent('"5"', "x" * 11))  # never cached
    assert cache.get("o/r", "huge", "main") is None


def test_counter_parent_adds_up() -> None:
    total = ApiCounter()
    child = ApiCounter(parent=total)
    child.record_response(200, {"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "5"})
    child.record_response(304, {})
    child.record_retry()
    assert child.snapshot().requests == total.snapshot().requests == 2
    assert total.snapshot().not_modified == 1
    assert total.snapshot().retries == 1
    assert total.rate_limit_remaining == 10


def _blob_sha(text: str | None) -> str:
    data = (text or "").encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# -- the fake itself (what other tests rely on) ------------------------------------------------



def test_fake_rejects_review_comments_outside_the_diff(client: InstallationClient) -> None:
    pr = client.github.get_repo(REPO).get_pull(7)
    with pytest.raises(GithubException) as caught:
        pr.create_review(body="x", event="COMMENT", comments=[{"path": "deploy/pause.yaml", "line": 9, "body": "no"}])
    assert caught.value.status == 422
    assert caught.value.data["errors"] == [LINE_MUST_BE_IN_DIFF]
    comments: list[ReviewComment] = [
        {"path": "deploy/pause.yaml", "line": 3, "side": "RIGHT", "body": "added line"},
        {"path": "deploy/pause.yaml", "line": 3, "side": "LEFT", "body": "removed line"},
        {"path": "deploy/pause.yaml", "line": 1, "side": "RIGHT", "body": "context line"},
        {"path": "deploy/pause.yaml", "start_line": 2, "line": 3, "side": "RIGHT", "body": "range"},
    ]
    review = pr.create_review(body="", event="COMMENT", comments=comments)
    assert review.state == "COMMENTED"
    stored = list(pr.get_review_comments())
    assert [(c.line, c.side, c.body) for c in stored] == [
        (3, "RIGHT", "added line"),
        (3, "LEFT", "removed line"),
        (1, "RIGHT", "context line"),
        (3, "RIGHT", "range"),
    ]
    reply = pr.create_review_comment_reply(stored[0].id, "thanks")
    assert reply.in_reply_to_id == stored[0].id
    stored[1].delete()
    assert len(list(pr.get_review_comments())) == 4


def test_fake_annotation_batches(client: InstallationClient, fake_github: FakeGitHub) -> None:
    def annotations(n: int) -> list[dict[str, Any]]:
        return [
            {
                "path": "deploy/pause.yaml",
                "start_line": 3,
                "end_line": 3,
                "annotation_level": "warning",
                "message": f"m{i}",
            }
            for i in range(n)
        ]

    repo = client.github.get_repo(REPO)
    run = repo.create_check_run(
        name="image-review", head_sha="a" * 40, output={"title": "t", "summary": "s", "annotations": annotations(50)}
    )
    with pytest.raises(GithubException) as caught:
        run.edit(output={"title": "t", "summary": "s", "annotations": annotations(51)})
    assert caught.value.status == 422
    run.edit(output={"title": "t", "summary": "s", "annotations": annotations(20)}, conclusion="failure")
    assert run.output.annotations_count == 70
    assert run.status == "completed"
    assert len(list(run.get_annotations())) == 70
    [listed] = repo.get_commit("a" * 40).get_check_runs(check_name="image-review")
    assert listed.id == run.id


def test_fake_file_and_commit_limits(fake_github: FakeGitHub, client: InstallationClient) -> None:
    files = [
        {"filename": f"f{i}.txt", "status": "added", "additions": 1, "patch": "@@ -0,0 +1 @@\n+x"} for i in range(5)
    ]
    commits = [{"sha": f"{i}" * 40, "message": f"c{i}"} for i in range(3)]
    fake_github.load_pull(REPO, {"number": 8, "files": files, "commits": commits})
    fake_github.limits.files_max = 3
    fake_github.limits.commits_max = 2
    fake_github.limits.patch_max_bytes = 5
    pr = client.github.get_repo(REPO).get_pull(8)
    listed = list(pr.get_files())
    assert [f.filename for f in listed] == ["f0.txt", "f1.txt", "f2.txt"]
    assert all(f.patch is None for f in listed)  # over the patch size limit: omitted, as GitHub does
    assert [c.sha for c in pr.get_commits()] == ["0" * 40, "1" * 40]


def test_fake_issues_comments_and_labels(fake_github: FakeGitHub, client: InstallationClient) -> None:
    fake_github.add_issue(REPO, 40, state="closed", title="Track staging image")
    repo = client.github.get_repo(REPO)
    assert repo.get_issue(40).state == "closed"
    pr = repo.get_pull(7)
    comment = pr.create_issue_comment("summary v1")
    comment.edit("summary v2")
    assert [c.body for c in pr.get_issue_comments()] == ["summary v2"]
    pr.add_to_labels("image-review/staging")
    pr.remove_from_labels("area/images")
    assert [label.name for label in pr.get_labels()] == ["image-review/staging"]
    with pytest.raises(GithubException) as caught:
        pr.remove_from_labels("absent")
    assert caught.value.status == 404


def test_fake_rejects_a_jwt_from_a_skewed_clock(fake_github: FakeGitHub, rsa_keys: KeyPair) -> None:
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url, clock=lambda: time.time() - 20 * 60)
    with pytest.raises(AppAuthError, match="401"):
        auth.installation_token(INSTALLATION_ID)


def test_fake_answers_404_for_repositories_outside_the_installation(
    fake_github: FakeGitHub, client: InstallationClient
) -> None:
    fake_github.add_installation(2, "other-org")
    fake_github.add_repo("other-org/secret", installation_id=2)
    with pytest.raises(GithubException) as caught:
        _ = client.github.get_repo("other-org/secret").default_branch
    assert caught.value.status == 404


def test_fixture_from_yaml(tmp_path: Path, fake_github: FakeGitHub) -> None:
    path = tmp_path / "pr.yaml"
    path.write_text(
        "number: 3\nhead: {sha: " + "e" * 40 + ", ref: topic}\nlabels: [a]\n"
        "diff: |\n" + "".join("  " + line + "\n" for line in DIFF.splitlines())
    )
    pull = fake_github.load_pull(REPO, PullData.from_file(path))
    assert (pull.head_sha, pull.head_ref, pull.labels) == ("e" * 40, "topic", ["a"])
    assert [(f.filename, f.additions, f.deletions) for f in pull.files] == [
        ("deploy/pause.yaml", 1, 1),
        ("README.md", 1, 0),
    ]

