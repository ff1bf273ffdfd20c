"""Fetching a pull request's changes from the fake GitHub: the route by size, blobs diffed here when
GitHub omits a patch, what cannot be analysed, commits only when images change, the base policy."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import FAST_CLIENT

from app.github.client import GitHubApp, InstallationClient
from app.github.fetch import FetchLimits, PullFetcher, PullInfo, fetch_changes
from app.report.inline_comments import commentable_lines
from app.testing.fake_github import CommitData, FakeGitHub, FileChange, PullData
from app.testing.sample_pr import load_sample

pytestmark = pytest.mark.timeout(30)

REPO = "octo-org/app"
BASE = "b" * 40
HEAD = "e" * 40
POLICY = ".github/image-review.yml"


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def patch_of(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    return "\n".join(list(lines)[2:])


@pytest.fixture
def client(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[InstallationClient]:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    with app.client(INSTALLATION_ID) as c:
        yield c
    app.close()


def info(number: int, head_sha: str = HEAD, changed_files: int | None = None) -> PullInfo:
    return PullInfo(REPO, number, head_sha, BASE, "main", labels=(), changed_files=changed_files)


def big_manifest(image: str, lines: int = 400) -> str:
    filler = "".join(f"    - --flag-{i}=value-{i}\n" for i in range(lines))
    return f"spec:\n  containers:\n  - args:\n{filler}    image: {image}\n    name: app\n"


def test_diff_media_type_first(fake_github: FakeGitHub, client: InstallationClient) -> None:
    sample = load_sample().at(REPO, 1)
    fake_github.load_pull(REPO, sample.fixture())
    fetched = fetch_changes(client, info(1, head_sha=sample.head_sha), FetchLimits())
    assert fetched.files.route == "diff" and fetched.touches_images
    assert next(f.path for f in fetched.change.files) == "pkg/model/components/etcdmanager/model.go"
    diff_calls = [r for r in fake_github.requests if r.headers.get("Accept") == "application/vnd.github.diff"]
    # The pull request's diff, then each of its two commits' diffs (both touch image references).
    assert [r.path for r in diff_calls] == [
        f"/repos/{REPO}/pulls/1",
        f"/repos/{REPO}/commits/{sample.commits[0].sha}",
        f"/repos/{REPO}/commits/{sample.commits[1].sha}",
    ]
    assert fetched.change.commits is not None and len(fetched.change.commits) == 2
    assert fetched.change.not_analysed == []


def test_too_large_diff_falls_back_to_files_and_blobs(fake_github: FakeGitHub, client: InstallationClient) -> None:
    old = big_manifest("registry.k8s.io/app:v1.0.0")
    new = big_manifest("gcr.io/k8s-staging-app/app:v1.1.0")
    small_old, small_new = "image: registry.k8s.io/pause:3.8\n", "image: registry.k8s.io/pause:3.9\n"
    files = [
        FileChange("deploy/big.yaml", additions=1, deletions=1, patch=patch_of(old, new), sha=blob_sha(new)),
        FileChange("deploy/small.yaml", additions=1, deletions=1, patch=patch_of(small_old, small_new)),
        FileChange("logo.png", additions=0, deletions=0, patch=None, sha="f" * 40),
    ]
    pull = PullData(number=2, head_sha=HEAD, base_sha=BASE, files=files, commits=[CommitData(HEAD, "Bump")])
    fake_github.load_pull(REPO, pull)
    fake_github.set_file(REPO, BASE, "deploy/big.yaml", old)
    fake_github.set_file(REPO, HEAD, "deploy/big.yaml", new)
    fake_github.limits.diff_max_files = 2  # the diff media type answers 406
    fake_github.limits.patch_max_bytes = 200  # the files API omits big.yaml's patch

    fetcher = PullFetcher(client, info(2))
    result = fetcher.files()
    assert result.route == "files"
    assert result.local_paths == {"deploy/big.yaml"}
    assert result.not_analysed == []
    by_path = {f.path: f for f in result.files}
    assert by_path["logo.png"].binary
    big = by_path["deploy/big.yaml"]
    assert [(line.kind, line.new_no or line.old_no) for h in big.hunks for line in h.lines if line.kind != " "] == [
        ("-", 404),
        ("+", 404),
    ]
    # GitHub has no diff lines for big.yaml: no inline comments there, only annotations.
    assert set(commentable_lines(result.files, result.local_paths)) == {"deploy/small.yaml"}
    assert fake_github.calls("GET", f"/repos/{REPO}/git/blobs/{blob_sha(new)}")


def test_what_cannot_be_analysed_is_named(fake_github: FakeGitHub, client: InstallationClient) -> None:
    files = [
        FileChange(f"deploy/f{i}.yaml", additions=1, deletions=1, patch="@@ -1 +1 @@\n-a\n+" + "b" * 300, sha="0" * 40)
        for i in range(3)
    ]
    pull = PullData(number=3, head_sha=HEAD, base_sha=BASE, files=files, commits=[CommitData(HEAD, "x")])
    fake_github.load_pull(REPO, pull)
    fake_github.limits.diff_max_files = 1
    fake_github.limits.patch_max_bytes = 100
    fake_github.limits.files_max = 2

    result = PullFetcher(client, info(3, changed_files=3), FetchLimits(max_local_diffs=1)).files()
    assert result.not_analysed == [
        "`deploy/f0.yaml`: GitHub omitted its diff (large file) and its content could not be read",
        "`deploy/f1.yaml`: GitHub omitted its diff (large file) and more than 1 such files are in this pull request",
        "only the first 2 of 3 changed files were analysed (GitHub lists at most 3,000 files of a pull request)",
    ]


def test_commits_only_when_images_change(fake_github: FakeGitHub, client: InstallationClient) -> None:
    diff = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-old\n+new\n"
    fake_github.load_pull(REPO, {"number": 4, "head": {"sha": HEAD}, "diff": diff})
    fetched = fetch_changes(client, info(4))
    assert not fetched.touches_images and fetched.change.commits is None
    assert [r.path for r in fake_github.requests if "/pulls/4" in r.path or "/commits" in r.path] == [
        f"/repos/{REPO}/pulls/4"
    ]


def test_single_commit_reuses_the_pull_request_diff(fake_github: FakeGitHub, client: InstallationClient) -> None:
    sample = load_sample().at(REPO, 5)
    fixture = sample.fixture()
    fixture["commits"] = fixture["commits"][:1]
    fixture["head"]["sha"] = fixture["commits"][0]["sha"]
    fake_github.load_pull(REPO, fixture)
    fetched = fetch_changes(client, info(5, head_sha=fixture["head"]["sha"]))
    assert fetched.change.commits is not None and len(fetched.change.commits) == 1
    assert fetched.change.commits[0].files is fetched.change.files
    assert not fake_github.calls("GET", f"/repos/{REPO}/commits/*")


def test_policy_from_the_base_and_the_head_only_when_changed(
    fake_github: FakeGitHub, client: InstallationClient
) -> None:
    diff = (
        f"diff --git a/{POLICY} b/{POLICY}\n--- a/{POLICY}\n+++ b/{POLICY}\n@@ -1 +1 @@\n"
        "-require_digest: true\n+require_digest: false\n"
    )
    fake_github.load_pull(REPO, {"number": 6, "head": {"sha": HEAD}, "diff": diff})
    fake_github.set_file(REPO, "main", POLICY, "require_digest: true\n")
    fake_github.set_file(REPO, HEAD, POLICY, "require_digest: false\n")
    first = fetch_changes(client, info(6))
    assert first.change.policy_text == "require_digest: true\n"
    assert first.change.head_policy_text == "require_digest: false\n"
    # The next review revalidates the base policy with its ETag: a 304, free of rate limit.
    fetch_changes(client, info(6))
    base_reads = [r for r in fake_github.calls("GET", f"/repos/{REPO}/contents/{POLICY}") if r.query["ref"] == "main"]
    assert [r.status for r in base_reads] == [200, 304]


def test_no_policy_file_means_defaults(fake_github: FakeGitHub, client: InstallationClient) -> None:
    sample = load_sample().at(REPO, 8)
    fake_github.load_pull(REPO, sample.fixture())
    fetched = fetch_changes(client, info(8, head_sha=sample.head_sha))
    assert fetched.change.policy_text is None and fetched.change.head_policy_text is None
    assert [r.query["ref"] for r in fake_github.calls("GET", f"/repos/{REPO}/contents/*")] == ["main"]
