"""The App reads whole files only for split references whose keys lie outside the diff, and says so."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import FAST_CLIENT

from app.analysis.analyze import analyze
from app.github.client import GitHubApp, InstallationClient
from app.github.fetch import FetchLimits, PullInfo, fetch_changes
from app.testing.fake_github import CommitData, FakeGitHub, FileChange, PullData

pytestmark = pytest.mark.timeout(30)

REPO = "octo-org/charts"
BASE = "b" * 40
HEAD = "e" * 40


def values(tag: str) -> str:
    filler = "".join(f"    opt{i}: x\n" for i in range(10))
    return (f"controller:\n  image:\n    registry: registry.k8s.io\n    image: ingress-nginx/controller\n{filler}"
            f"    tag: {tag}\n    pullPolicy: IfNotPresent\n")


def patch_of(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    return "\n".join(list(lines)[2:])


@pytest.fixture
def client(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[InstallationClient]:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    with app.client(INSTALLATION_ID) as c:
        yield c
    app.close()


def load(fake_github: FakeGitHub, number: int, files: dict[str, tuple[str, str]]) -> PullInfo:
    changes = [FileChange(path, additions=1, deletions=1, patch=patch_of(old, new))
               for path, (old, new) in files.items()]
    pull = PullData(number=number, head_sha=HEAD, base_sha=BASE, files=changes,
                    commits=[CommitData(HEAD, "Bump controller", parents=[BASE])])
    fake_github.load_pull(REPO, pull)
    for path, (old, new) in files.items():
        fake_github.set_file(REPO, BASE, path, old)
        fake_github.set_file(REPO, HEAD, path, new)
    return PullInfo(REPO, number, HEAD, BASE, "main", labels=())


def test_head_and_base_read_for_a_far_tag_and_counted(fake_github: FakeGitHub, client: InstallationClient) -> None:
    pull = load(fake_github, 1, {
        "charts/ingress/values.yaml": (values("v1.9.4"), values("v1.9.5")),
        "deploy/pod.yaml": ("image: registry.k8s.io/pause:3.8\n", "image: registry.k8s.io/pause:3.9\n"),
    })
    fetched = fetch_changes(client, pull, FetchLimits())
    analysis = analyze(fetched.change)
    assert {(r.side, r.reference) for r in analysis.references if r.path.endswith("values.yaml")} == {
        ("added", "registry.k8s.io/ingress-nginx/controller:v1.9.5"),
        ("removed", "registry.k8s.io/ingress-nginx/controller:v1.9.4"),
    }
    contents = [r.path for r in fake_github.requests if "/contents/" in r.path and "image-review" not in r.path]
    assert contents == [f"/repos/{REPO}/contents/charts/ingress/values.yaml"] * 2  # head and base, nothing else
    assert any("1 file(s) were read whole (2 API request(s))" in n for n in analysis.summary_notes)


def test_over_the_limit_files_stay_partial_and_are_named(fake_github: FakeGitHub, client: InstallationClient) -> None:
    pull = load(fake_github, 2, {f"charts/c{i}/values.yaml": (values("v1"), values("v2")) for i in range(2)})
    fetched = fetch_changes(client, pull, FetchLimits(max_split_reads=1))
    analysis = analyze(fetched.change)
    partial = [r for r in analysis.references if r.partial]
    assert {r.path for r in partial} == {"charts/c1/values.yaml"} and all(r.note for r in partial)
    assert any("1 file(s) with split image references were not read whole" in n for n in analysis.not_analysed)


def test_no_reads_when_the_hunk_has_every_key(fake_github: FakeGitHub, client: InstallationClient) -> None:
    near = "image:\n  repository: quay.io/org/app\n  tag: {}\n"
    pull = load(fake_github, 3, {"values.yaml": (near.format("v1"), near.format("v2"))})
    analysis = analyze(fetch_changes(client, pull).change)
    assert [r.reference for r in analysis.references if r.side == "added"] == ["quay.io/org/app:v2"]
    assert not [r for r in fake_github.requests if "/contents/" in r.path and "image-review" not in r.path]
    assert not any("read whole" in n for n in analysis.summary_notes)
