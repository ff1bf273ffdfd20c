"""The App end to end with registry verification: signed webhook → gunicorn → queue → a worker
whose review asks a real ``docker-registry`` on 127.0.0.1 → the fake GitHub.

The policy file on the base branch maps the loopback staging location to the loopback release
location and allow-lists the registry, as a repository would for its own registries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import APP_ID, KeyPair
from registry_server import LOOPBACK_NETWORKS, Pusher, RegistryServer, RegistryUnavailable, make_image, start_registry
from review_helpers import review_deps
from test_review_e2e import Server, annotations, inline, server, wait_for_run  # noqa: F401 (server: a fixture)

from app.jobs.consumer import start_embedded_consumer
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings
from app.registry.client import RegistryClient, RegistryConfig
from app.registry.promotion import IMAGES_YAML_PATH, PromoterManifestSource
from app.report.summary import SUMMARY_MARKER
from app.service.review import give_up_hook, job_handler
from app.testing.fake_github import FakeGitHub

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

REPO = "octo-org/kops"
POLICY = ".github/image-review.yml"
MODEL = "pkg/model/components/etcdmanager/model.go"
OLD = "registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203"
TAG = "v3.0.20220428"


def running_registry() -> RegistryServer:
    try:
        return start_registry()
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclass
class Registry:
    server: RegistryServer
    digests: dict[str, str]

    @property
    def host(self) -> str:
        return self.server.host


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    """etcd-manager promoted (the release tag has the staging digest); etcd-dump never promoted."""
    running = running_registry()
    pusher = Pusher(running.url)
    build = make_image("etcd-manager v3.0.20220428")
    digests = {
        "manager": pusher.push_image("k8s-staging-etcdadm/etcd-manager", TAG, build),
        "manager-release": pusher.push_image("etcdadm/etcd-manager", TAG, build),
        "dump": pusher.push_image("k8s-staging-etcdadm/etcd-dump", TAG, make_image("etcd-dump")),
    }
    yield Registry(running, digests)
    running.cleanup()


@pytest.fixture
def verifying_worker(server: Server, fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[RegistryClient]:  # noqa: F811
    """The review worker with registry verification, as ReviewDeps.from_settings wires it, for loopback."""
    loopback = frozenset({"127.0.0.1:*"})
    config = RegistryConfig(
        allowed_hosts=loopback, insecure_hosts=loopback, connect_timeout=2, addresses=LOOPBACK_NETWORKS
    )
    client = RegistryClient(config)
    manifests = PromoterManifestSource(lambda path: None)
    deps, github = review_deps(fake_github.base_url, APP_ID, rsa_keys.private_pem, registry=client, manifests=manifests)
    settings = QueueSettings(data_dir=server.data_dir, poll_interval=0.05, retries=1, retry_delay=0.2)
    queue = build_queue(settings, job_handler(deps), on_give_up=give_up_hook(deps))
    stop = start_embedded_consumer(queue, workers=2)
    try:
        yield client
    finally:
        stop()
        queue.close()
        github.close()
        client.close()


def policy_for(staging_host: str, release_host: str) -> str:
    return (
        "version: 1\n"
        f"release_locations: {{add: ['{release_host}/etcdadm']}}\n"
        f"mappings: {{'{staging_host}/k8s-staging-etcdadm': '{release_host}/etcdadm'}}\n"
        f"registry_verification: {{allowed_hosts: {{add: ['{staging_host}', '{release_host}']}}}}\n"
    )


def switch_diff(*images: str) -> str:
    """model.go: the release etcd-manager replaced by ``images`` (one line each)."""
    added = "".join(f"+  - image: {image}\n" for image in images)
    return (
        f"diff --git a/{MODEL} b/{MODEL}\nindex 5d0c8a71e2..b94f2c3d18 100644\n--- a/{MODEL}\n+++ b/{MODEL}\n"
        f"@@ -178,5 +178,{4 + len(images)} @@ metadata:\n"
        f"   namespace: kube-system\n spec:\n   containers:\n-  - image: {OLD}\n{added}     name: etcd-manager\n"
    )


def open_pull(fake: FakeGitHub, server: Server, number: int, diff: str, policy: str) -> str:  # noqa: F811
    head = f"{number:040x}"
    contents = {"main": {POLICY: policy}}  # the base branch's policy judges the pull request
    fake.load_pull(REPO, {"number": number, "head": {"sha": head}, "diff": diff, "contents": contents})
    assert server.deliver("pull_request", fake.pull_request_event(REPO, number, "opened")).status_code == 202
    return head


def comment_on(fake: FakeGitHub, number: int, image: str) -> dict[str, Any]:
    [comment] = [c for c in inline(fake, REPO, number) if f"`{image}`" in c["body"].split("\n")[2]]
    return comment


def test_only_the_promoted_staging_image_gets_a_suggestion_with_its_digest(
    server: Server, fake_github: FakeGitHub, verifying_worker: RegistryClient, registry: Registry  # noqa: F811
) -> None:
    host = registry.host
    promoted = f"{host}/k8s-staging-etcdadm/etcd-manager:{TAG}"
    unpromoted = f"{host}/k8s-staging-etcdadm/etcd-dump:{TAG}"
    head = open_pull(fake_github, server, 14001, switch_diff(promoted, unpromoted), policy_for(host, host))
    run = wait_for_run(fake_github, REPO, head)

    assert run["conclusion"] == "failure"
    assert annotations(fake_github, REPO, run) == [
        (MODEL, 181, "failure", "IR001 staging-image"),
        (MODEL, 182, "failure", "IR001 staging-image"),
    ]
    good = comment_on(fake_github, 14001, promoted)
    assert f"```suggestion\n  - image: {host}/etcdadm/etcd-manager:{TAG}\n```" in good["body"]
    assert f"same digest `{registry.digests['manager']}`" in good["body"]
    assert registry.digests["manager"] == registry.digests["manager-release"]
    bad = comment_on(fake_github, 14001, unpromoted)
    assert "```suggestion" not in bad["body"]
    assert f"this build has not been promoted: release tag '{TAG}' does not exist in {host}/etcdadm/etcd-dump" in (
        bad["body"]
    )
    assert "Registry verification: 2 staging reference(s) compared" in run["output"]["summary"]
    # Two release tags, then the one staging tag whose release exists.
    assert verifying_worker.stats().requests_by_host == {host: 3}


def test_stopped_registry_gives_a_notice_naming_it_and_does_not_fail_the_check(
    server: Server, fake_github: FakeGitHub, verifying_worker: RegistryClient  # noqa: F811
) -> None:
    down = running_registry()
    host = down.host
    down.cleanup()
    release = f"{host}/etcdadm/etcd-manager:{TAG}"
    head = open_pull(fake_github, server, 14002, switch_diff(release), policy_for(host, host))
    run = wait_for_run(fake_github, REPO, head)

    assert run["conclusion"] == "success"
    assert annotations(fake_github, REPO, run) == [(MODEL, 181, "notice", "IR020 registry-unverified")]
    assert f"{host} could not be asked: cannot connect (connection refused)" in run["output"]["summary"]
    assert "This does not fail the check." in run["output"]["summary"]
    summary = [c for c in fake_github.repo(REPO).issue_comments.values() if SUMMARY_MARKER in c["body"]]
    assert all("IR001" not in c["body"] for c in summary)


def test_promoter_manifest_answers_when_the_release_registry_cannot(
    server: Server, fake_github: FakeGitHub, verifying_worker: RegistryClient, registry: Registry  # noqa: F811
) -> None:
    down = running_registry()
    release_host = down.host
    down.cleanup()
    digest = registry.digests["manager"]
    # kubernetes/k8s.io, public: the App reads the project's images.yaml through the GitHub API.
    fake_github.add_public_repo("kubernetes/k8s.io")
    images_yaml = f'- name: etcd-manager\n  dmap:\n    "{digest}": ["v3.0.20220503"]\n'
    path = IMAGES_YAML_PATH.format(project="k8s-staging-etcdadm")
    fake_github.set_file("kubernetes/k8s.io", "main", path, images_yaml)
    staging = f"{registry.host}/k8s-staging-etcdadm/etcd-manager:{TAG}"
    head = open_pull(fake_github, server, 14003, switch_diff(staging), policy_for(registry.host, release_host))
    run = wait_for_run(fake_github, REPO, head)

    comment = comment_on(fake_github, 14003, staging)
    # Promoted under another tag than the staging one: the manifest knows, the registry could not say.
    assert f"```suggestion\n  - image: {release_host}/etcdadm/etcd-manager:v3.0.20220503\n```" in comment["body"]
    assert f"same digest `{digest}`" in comment["body"]
    assert "kubernetes/k8s.io `registry.k8s.io/images/k8s-staging-etcdadm/images.yaml`" in comment["body"]
    assert run["conclusion"] == "failure"  # the staging image itself is still IR001
    reads = fake_github.calls("GET", "/repos/kubernetes/k8s.io/contents/*")
    assert [r.query["ref"] for r in reads] == ["main"]
