"""Registry verification through analysis and the CLI, against a real ``docker-registry`` on 127.0.0.1:
staging and release repositories sharing a digest, one rebuilt, one never promoted; a registry
behind basic auth (credentials from the environment); and a registry that is stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from registry_server import LOOPBACK_NETWORKS, Pusher, RegistryServer, RegistryUnavailable, make_image, start_registry

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.cli import main
from app.core.diffs import parse_diff
from app.core.models import Analysis, Finding
from app.policy import Policy, load_policy
from app.registry.client import CredentialStore, RegistryClient, RegistryConfig, env_var_for_host

pytestmark = pytest.mark.timeout(60)

LOOPBACK = frozenset({"127.0.0.1:*"})
TAG = "v3.0.20220428"
MODEL = "pkg/model/components/etcdmanager/model.go"


def running_registry(htpasswd: dict[str, str] | None = None) -> RegistryServer:
    try:
        return start_registry(htpasswd=htpasswd)
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclass
class Setup:
    server: RegistryServer
    digests: dict[str, str]

    @property
    def host(self) -> str:
        return self.server.host

    def staging(self, image: str, tag: str = TAG) -> str:
        return f"{self.host}/k8s-staging-etcdadm/{image}:{tag}"

    def release(self, image: str, tag: str = TAG) -> str:
        return f"{self.host}/etcdadm/{image}:{tag}"


def policy_text(host: str, release_host: str | None = None) -> str:
    """The loopback staging location mapped to the loopback release location, both allow-listed."""
    release_host = release_host or host
    return (
        "version: 1\n"
        f"release_locations: {{add: ['{release_host}/etcdadm']}}\n"
        f"mappings: {{'{host}/k8s-staging-etcdadm': '{release_host}/etcdadm'}}\n"
        f"registry_verification: {{allowed_hosts: {{add: ['{host}', '{release_host}']}}}}\n"
    )


def push_etcdadm(pusher: Pusher) -> dict[str, str]:
    """etcd-manager promoted (same digest), etcd-backup rebuilt for release, etcd-dump never promoted."""
    build = make_image("etcd-manager build")
    return {
        "manager": pusher.push_image("k8s-staging-etcdadm/etcd-manager", TAG, build),
        "manager-release": pusher.push_image("etcdadm/etcd-manager", TAG, build),
        "backup": pusher.push_image("k8s-staging-etcdadm/etcd-backup", TAG, make_image("backup 1")),
        "backup-release": pusher.push_image("etcdadm/etcd-backup", TAG, make_image("backup 2")),
        "dump": pusher.push_image("k8s-staging-etcdadm/etcd-dump", TAG, make_image("dump")),
    }


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    server = running_registry()
    yield Setup(server, push_etcdadm(Pusher(server.url)))
    server.cleanup()


def loopback_client(credentials: CredentialStore | None = None) -> RegistryClient:
    config = RegistryConfig(
        allowed_hosts=LOOPBACK,
        insecure_hosts=LOOPBACK,
        addresses=LOOPBACK_NETWORKS,
        credentials=credentials or CredentialStore(),
        connect_timeout=2,
        read_timeout=2,
    )
    return RegistryClient(config)


def diff_adding(*images: str, path: str = MODEL) -> str:
    body = "".join(f"+    - image: {image}\n" for image in images)
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -1,1 +1,{len(images) + 1} @@\n   containers:\n{body}"
    )


def analyse(diff: str, policy: Policy, client: RegistryClient | None) -> Analysis:
    change = ChangeSet(files=parse_diff(diff.encode()), policy=policy)
    return analyze(change, AnalysisContext(offline=client is None, resolver=client))


def by_line(analysis: Analysis) -> dict[int, list[Finding]]:
    out: dict[int, list[Finding]] = {}
    for f in analysis.findings:
        out.setdefault(f.line or 0, []).append(f)
    return out


def test_each_verdict_through_analysis(setup: Setup) -> None:
    policy = load_policy(policy_text(setup.host))
    diff = diff_adding(setup.staging("etcd-manager"), setup.staging("etcd-backup"), setup.staging("etcd-dump"))
    with loopback_client() as client:
        analysis = analyse(diff, policy, client)
        # Three release tags, then the two staging tags whose release exists.
        assert client.requests_made == 5
    lines = by_line(analysis)
    [promoted], [rebuilt], [missing] = lines[2], lines[3], lines[4]
    assert promoted.rule == rebuilt.rule == missing.rule == "IR001"
    assert promoted.suggestion == f"    - image: {setup.release('etcd-manager')}"
    assert setup.digests["manager"] in promoted.message and "same build" in promoted.message
    assert rebuilt.suggestion is None
    assert setup.digests["backup"] in rebuilt.message and setup.digests["backup-release"] in rebuilt.message
    assert missing.suggestion is None and "has not been promoted" in missing.message


def test_release_references_checked_in_the_registry(setup: Setup) -> None:
    policy = load_policy(policy_text(setup.host))
    good = setup.release("etcd-manager")
    never_promoted = setup.release("etcd-dump")
    mismatch = f"{setup.release('etcd-backup')}@{setup.digests['manager']}"
    with loopback_client() as client:
        analysis = analyse(diff_adding(good, never_promoted, mismatch), policy, client)
    assert [(f.line, f.rule, f.severity) for f in analysis.findings] == [(3, "IR018", "error"), (4, "IR019", "error")]


def test_offline_and_policy_disabled_ask_nothing(setup: Setup) -> None:
    diff = diff_adding(setup.staging("etcd-manager"))
    off_by_policy = load_policy(policy_text(setup.host).replace("{allowed_hosts", "{enabled: false, allowed_hosts"))
    with loopback_client() as client:
        offline = analyse(diff, load_policy(policy_text(setup.host)), None)
        disabled = analyse(diff, off_by_policy, client)
        assert client.requests_made == 0
    assert "check that tag" in offline.findings[0].message
    assert disabled.findings == offline.findings


def test_stopped_registry_is_unknown_and_fails_nothing(setup: Setup) -> None:
    down = running_registry()
    host = down.host
    down.cleanup()
    policy = load_policy(policy_text(host))
    staging = f"{host}/k8s-staging-etcdadm/etcd-manager:{TAG}"
    release = f"{host}/etcdadm/etcd-manager:{TAG}"
    with loopback_client() as client:
        only_release = analyse(diff_adding(release), policy, client)
        with_staging = analyse(diff_adding(staging), policy, client)
    [notice] = only_release.findings
    assert (notice.rule, notice.severity) == ("IR020", "notice")
    assert f"{host} could not be asked: cannot connect (connection refused)" in notice.message
    assert only_release.worst_severity() == "notice"
    assert any(host in n and "does not fail the check" in n for n in only_release.summary_notes)
    [staged] = with_staging.findings
    assert staged.rule == "IR001" and staged.suggestion == f"    - image: {release}"
    assert f"unverified: {host} could not be asked" in staged.message


@pytest.fixture(scope="module")
def private_registry() -> Iterator[Setup]:
    server = running_registry(htpasswd={"robot": "s3cret"})
    yield Setup(server, push_etcdadm(Pusher(server.url, auth=("robot", "s3cret"))))
    server.cleanup()


def test_basic_auth_with_credentials_from_the_environment(private_registry: Setup) -> None:
    setup = private_registry
    policy = load_policy(policy_text(setup.host))
    diff = diff_adding(setup.staging("etcd-manager"))
    credentials = CredentialStore.from_env({env_var_for_host(setup.host): "robot:s3cret"})
    with loopback_client(credentials=credentials) as client:
        [finding] = analyse(diff, policy, client).findings
    assert finding.suggestion is not None and setup.digests["manager"] in finding.message
    with loopback_client() as anonymous:
        [finding] = analyse(diff, policy, anonymous).findings
    assert "unverified" in finding.message and env_var_for_host(setup.host) in finding.message


# --- The CLI: offline unless asked ------------------------------------------------------------------------


@pytest.fixture()
def cli_files(setup: Setup, tmp_path: Path) -> tuple[Path, Path]:
    diff = tmp_path / "change.diff"
    diff.write_text(diff_adding(setup.staging("etcd-manager"), setup.staging("etcd-dump")))
    config = tmp_path / "policy.yml"
    config.write_text(policy_text(setup.host))
    return diff, config


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["check", "--format", "json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)["findings"], captured.err


def test_cli_is_offline_by_default_and_online_when_asked(
    setup: Setup, cli_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    diff, config = cli_files
    monkeypatch.setenv("IMAGE_REVIEW_INSECURE_REGISTRIES", "127.0.0.1:*")
    monkeypatch.setenv("IMAGE_REVIEW_REGISTRY_PRIVATE_NETWORKS", "127.0.0.0/8")
    base = ("--diff", str(diff), "--config", str(config))
    code, offline, _ = check(capsys, *base)
    assert code == 1 and all("check that tag" in str(f["message"]) for f in offline)
    code, online, _ = check(capsys, *base, "--online")
    assert code == 1
    promoted, missing = online
    assert setup.digests["manager"] in str(promoted["message"]) and promoted["suggestion"]
    assert missing["suggestion"] is None and "has not been promoted" in str(missing["message"])

    # The policy can make the CLI verify by default; --offline still turns it off.
    config.write_text(policy_text(setup.host).replace("{allowed_hosts", "{cli: true, allowed_hosts"))
    assert check(capsys, *base)[1] == online
    assert check(capsys, *base, "--offline")[1] == offline
    # enabled: false wins over --online, and says so.
    config.write_text(policy_text(setup.host).replace("{allowed_hosts", "{enabled: false, allowed_hosts"))
    _, findings, err = check(capsys, *base, "--online")
    assert findings == offline and "--online ignored" in err


def test_cli_credentials_come_from_the_environment_only(
    cli_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    diff, config = cli_files
    monkeypatch.setenv("IMAGE_REVIEW_REGISTRY_AUTH_EXAMPLE_IO", "no-colon")
    code = main(["check", "--diff", str(diff), "--config", str(config), "--online"])
    err = capsys.readouterr().err
    assert code == 2 and "IMAGE_REVIEW_REGISTRY_AUTH_EXAMPLE_IO must be 'user:password'" in err
    assert "no-colon" not in err
