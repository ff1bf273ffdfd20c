"""`image-review audit --online` (the dashboard's content) and `image-review switch-back`, on real git
repositories checked against a real ``docker-registry`` on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitrepo import commit, git, init_repo
from registry_server import Pusher, RegistryServer, RegistryUnavailable, make_image, start_registry

from app.cli import main

pytestmark = pytest.mark.timeout(60)

TAG = "v3.0.20220428"
MODEL = "pkg/model/components/etcdmanager/model.go"
VALUES = "charts/etcd/values.yaml"
DUMP = "pkg/model/components/etcdmanager/dump.go"


@dataclass
class Registry:
    server: RegistryServer
    digest: str

    @property
    def host(self) -> str:
        return self.server.host


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    """etcd-manager promoted (same digest); etcd-dump never promoted; etcd-backup rebuilt for release."""
    try:
        running = start_registry()
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    pusher = Pusher(running.url)
    build = make_image("etcd-manager")
    digest = pusher.push_image("k8s-staging-etcdadm/etcd-manager", TAG, build)
    pusher.push_image("etcdadm/etcd-manager", TAG, build)
    pusher.push_image("k8s-staging-etcdadm/etcd-dump", TAG, make_image("etcd-dump"))
    pusher.push_image("k8s-staging-etcdadm/etcd-backup", TAG, make_image("etcd-backup staging"))
    pusher.push_image("etcdadm/etcd-backup", TAG, make_image("etcd-backup rebuilt"))
    yield Registry(running, digest)
    running.cleanup()


def policy(host: str) -> str:
    return (
        "version: 1\n"
        f"release_locations: {{add: ['{host}/etcdadm']}}\n"
        f"staging_locations: {{add: ['{host}/k8s-staging-etcdadm']}}\n"
        f"mappings: {{'{host}/k8s-staging-etcdadm': '{host}/etcdadm'}}\n"
        f"registry_verification: {{allowed_hosts: {{add: ['{host}']}}}}\n"
    )


def model(host: str) -> str:
    return (
        "package etcdmanager\n\nconst manifest = `\nspec:\n  containers:\n"
        "  # image-review: allow staging-image until 2026-12-10 tracked-by #31\n"
        f"  - image: {host}/k8s-staging-etcdadm/etcd-manager:{TAG}\n    name: etcd\n"
        f"  - image: {host}/k8s-staging-etcdadm/etcd-backup:{TAG}\n    name: backup\n`\n"
    )


@pytest.fixture
def repo(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMAGE_REVIEW_INSECURE_REGISTRIES", "127.0.0.1:*")
    monkeypatch.setenv("IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS", "127.0.0.0/8")
    host = registry.host
    root = init_repo(tmp_path / "repo")
    commit(root, {
        ".github/image-review.yml": policy(host),
        MODEL: model(host),
        VALUES: f"etcd:\n  image:\n    repository: {host}/k8s-staging-etcdadm/etcd-manager\n    tag: {TAG}\n"
                "    pullPolicy: IfNotPresent\n",
        DUMP: f'package etcdmanager\n\nconst dumpImage = "{host}/k8s-staging-etcdadm/etcd-dump:{TAG}"\n',
        "README.md": "etcd\n",
    }, "staging etcd images")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_online_json_gives_each_staging_image_its_promotion_state(
    repo: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "--repo", str(repo), "--online", "--format", "json", "--today", "2026-12-01")
    rows = json.loads(out)["staging"]["rows"]
    assert code == 0
    got = [(r["path"], r["line"], r["promotion"]["state"], r["issue"], r["expires"]) for r in rows]
    # The exemption expiring in 9 days comes first.
    assert got == [
        (MODEL, 7, "promoted", 31, "2026-12-10"),
        (VALUES, 3, "promoted", None, None),
        (DUMP, 3, "release-missing", None, None),
        (MODEL, 9, "different-build", None, None),
    ]
    promoted = rows[0]["promotion"]
    assert promoted["staging_digest"] == promoted["release_digest"] == registry.digest
    assert promoted["release"] == f"{registry.host}/etcdadm/etcd-manager:{TAG}"


def test_audit_markdown_is_the_dashboard_table(repo: Path, registry: Registry,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "--repo", str(repo), "--online", "--format", "markdown",
                       "--today", "2026-12-01")
    host = registry.host
    assert code == 0
    assert "| Image | Where | Path | Exemption | Promotion |" in out
    assert (f"| `{host}/k8s-staging-etcdadm/etcd-manager:{TAG}` | `{MODEL}:7` | production | "
            f"#31, until 2026-12-10 (9 days) | promoted, same digest `{registry.digest}` as "
            f"`{host}/etcdadm/etcd-manager:{TAG}` |") in out
    dump = f"| `{host}/k8s-staging-etcdadm/etcd-dump:{TAG}` | `{DUMP}:3` | production | none | release tag missing"
    assert dump in out


def test_audit_offline_markdown_says_not_checked(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "--repo", str(repo), "--format", "markdown", "--today", "2026-12-01")
    assert code == 0
    assert out.count("not checked (offline)") == 4


def test_switch_back_prints_only_the_image_lines_of_promoted_builds(
    repo: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    host = registry.host
    code, out, err = run(capsys, "switch-back", "--repo", str(repo), "--today", "2026-12-01")
    assert code == 0
    changed = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        f"-    repository: {host}/k8s-staging-etcdadm/etcd-manager",
        f"+    repository: {host}/etcdadm/etcd-manager",
        f"-  - image: {host}/k8s-staging-etcdadm/etcd-manager:{TAG}",
        f"+  - image: {host}/etcdadm/etcd-manager:{TAG}",
    ]
    assert f"{host}/k8s-staging-etcdadm/etcd-manager -> {host}/etcdadm/etcd-manager: 2 line(s) in 2 file(s)" in err
    assert git(repo, "status", "--porcelain") == ""


def test_switch_back_write_changes_the_work_tree_and_a_second_run_finds_nothing(
    repo: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "switch-back", "--repo", str(repo), "--write", "--today", "2026-12-01")
    assert code == 0
    diff = git(repo, "diff", "--numstat")
    assert sorted(diff.splitlines()) == [f"1\t1\t{VALUES}", f"1\t1\t{MODEL}"]
    git(repo, "commit", "-qam", "Switch etcd-manager back to the release image")
    code, out, err = run(capsys, "switch-back", "--repo", str(repo), "--today", "2026-12-01")
    assert (code, out) == (0, "")
    assert "no promoted staging image to switch back" in err


def test_switch_back_refuses_a_work_tree_that_moved(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / MODEL).write_text("package etcdmanager\n")
    code, _, err = run(capsys, "switch-back", "--repo", str(repo), "--write", "--today", "2026-12-01")
    assert code == 2
    assert f"{MODEL}:7 has changed since it was read (the work tree differs from HEAD" in err


def test_switch_back_refuses_when_the_policy_forbids_registry_lookups(
    repo: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / "offline.yml"
    config.write_text("version: 1\nregistry_verification: {enabled: false}\n")
    code, out, err = run(capsys, "switch-back", "--repo", str(repo), "--config", str(config))
    assert (code, out) == (2, "")
    assert "registry_verification.enabled: false" in err and "Traceback" not in err


def test_audit_and_switch_back_name_a_missing_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("audit", "switch-back"):
        code, _, err = run(capsys, command, "--repo", str(tmp_path / "nope"), *(("--online",) if command == "audit"
                                                                                 else ()))
        assert code == 2 and "no such directory" in err
