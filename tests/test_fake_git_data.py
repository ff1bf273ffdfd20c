"""The fake GitHub's git data API, issues and pull requests from branches, with GitHub's rules,
driven over real HTTP through the App's own client (app.github.git_data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from github import GithubException
from review_helpers import FAST_CLIENT

from app.github.client import GitHubApp, InstallationClient
from app.github.git_data import GitData
from app.testing.fake_github import FakeGitHub

REPO = "octo-org/kops"
MODEL = "pkg/model/etcd.go"


@pytest.fixture
def client(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[InstallationClient]:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    with app.client(INSTALLATION_ID) as c:
        yield c
    app.close()


@pytest.fixture
def base(fake_github: FakeGitHub) -> str:
    return fake_github.push_commit(REPO, "main", {MODEL: "image: a:v1\n", "README.md": "kops\n"}, "base")


def status_of(error: pytest.ExceptionInfo[GithubException]) -> tuple[int, str]:
    return error.value.status, str(error.value.data["message"])  # type: ignore[index]


def test_a_commit_through_the_git_data_api_changes_only_the_given_files(
    fake_github: FakeGitHub, client: InstallationClient, base: str
) -> None:
    git = GitData(client.raw, REPO)
    assert git.branch_head("main") == base
    sha = git.write_commit(base, {MODEL: "image: a:v2\n"}, "Use a v2")
    git.create_branch("topic", sha)
    assert git.branch_head("topic") == sha
    assert git.commit(sha).parents == (base,)
    assert fake_github.repo(REPO).files["topic"] == {MODEL: "image: a:v2\n", "README.md": "kops\n"}
    assert dict(git.files_at("topic")) == {MODEL: b"image: a:v2\n", "README.md": b"kops\n"}
    assert git.branch_head("nope") is None


def test_ref_rules_existing_ref_and_non_fast_forward_are_422(
    fake_github: FakeGitHub, client: InstallationClient, base: str
) -> None:
    git = GitData(client.raw, REPO)
    first = git.write_commit(base, {MODEL: "image: a:v2\n"}, "one")
    git.create_branch("topic", first)
    with pytest.raises(GithubException) as exists:
        git.create_branch("topic", first)
    assert status_of(exists) == (422, "Reference already exists")
    human = fake_github.push_commit(REPO, "topic", {"README.md": "edited\n"}, "a person's commit")
    sibling = git.write_commit(base, {MODEL: "image: a:v3\n"}, "would drop the person's commit")
    with pytest.raises(GithubException) as behind:
        git.move_branch("topic", sibling)
    assert status_of(behind) == (422, "Update is not a fast forward")
    assert git.branch_head("topic") == human
    on_top = git.write_commit(human, {MODEL: "image: a:v3\n"}, "on top")
    git.move_branch("topic", on_top)
    assert git.branch_head("topic") == on_top
    with pytest.raises(GithubException) as protected:
        git.move_branch("main", on_top)
    assert protected.value.status == 422


def test_pull_requests_from_branches_follow_pushes_and_refuse_duplicates(
    fake_github: FakeGitHub, client: InstallationClient, base: str
) -> None:
    git = GitData(client.raw, REPO)
    raw = client.raw
    sha = git.write_commit(base, {MODEL: "image: a:v2\n"}, "Use a v2")
    git.create_branch("topic", sha)
    with pytest.raises(GithubException) as empty:
        git.create_branch("same", base)
        raw.request("POST", f"/repos/{REPO}/pulls", json={"title": "t", "head": "same", "base": "main"})
    assert "No commits between main and same" in str(empty.value.data)
    made = raw.request("POST", f"/repos/{REPO}/pulls", json={"title": "Use a v2", "head": "topic", "base": "main"})
    number = made.json()["number"]
    with pytest.raises(GithubException) as twice:
        raw.request("POST", f"/repos/{REPO}/pulls", json={"title": "again", "head": "topic", "base": "main"})
    assert "A pull request already exists for octo-org:topic." in str(twice.value.data)
    pull = fake_github.repo(REPO).pulls[number]
    assert [c.sha for c in pull.commits] == [sha]
    assert "-image: a:v1\n+image: a:v2\n" in pull.diff
    listed = raw.request("GET", f"/repos/{REPO}/pulls", params={"head": "octo-org:topic", "state": "open"}).json()
    assert [p["number"] for p in listed] == [number]
    raw.request("PATCH", f"/repos/{REPO}/pulls/{number}", json={"state": "closed"})
    assert raw.request("GET", f"/repos/{REPO}/pulls", params={"head": "octo-org:topic"}).json() == []


def test_issues_are_created_listed_edited_closed_and_reopened(
    fake_github: FakeGitHub, client: InstallationClient, base: str
) -> None:
    raw = client.raw
    fake_github.add_issue(REPO, 1, title="someone's issue")
    made = raw.request("POST", f"/repos/{REPO}/issues", json={"title": "Staging images", "body": "x",
                                                               "labels": ["image-review"]}).json()
    assert made["number"] == 2 and made["user"]["login"] == "image-review[bot]"
    listed = raw.request("GET", f"/repos/{REPO}/issues", params={"labels": "image-review", "state": "all"}).json()
    assert [i["number"] for i in listed] == [2]
    closed = raw.request("PATCH", f"/repos/{REPO}/issues/2", json={"state": "closed"}).json()
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    assert raw.request("GET", f"/repos/{REPO}/issues", params={"labels": "image-review"}).json() == []
    reopened = raw.request("PATCH", f"/repos/{REPO}/issues/2", json={"state": "open", "body": "y"}).json()
    assert (reopened["state"], reopened["body"]) == ("open", "y")
    with pytest.raises(GithubException) as bad:
        raw.request("PATCH", f"/repos/{REPO}/issues/2", json={"state": "gone"})
    assert bad.value.status == 422
