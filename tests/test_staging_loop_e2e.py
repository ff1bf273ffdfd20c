"""The staging loop end to end: the fake GitHub over real HTTP, a real ``docker-registry`` on
127.0.0.1, the App's own GitHub client and review.

A repository's default branch uses a staging etcd-manager image under an exemption → the
dashboard issue lists it; the release is pushed with the same digest → the next run opens the
switch-back pull request (one commit, image lines only) that the App's own review passes; a
run with nothing new changes nothing; deleting the staging reference closes the pull request
and updates the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from registry_server import LOOPBACK_NETWORKS, Pusher, RegistryServer, RegistryUnavailable, make_image, start_registry
from review_helpers import FAST_CLIENT, review_deps

from app.github.client import GitHubApp
from app.github.dashboard import DASHBOARD_LABEL
from app.jobs.model import ReviewJob
from app.registry.client import RegistryClient, RegistryConfig
from app.service.review import review_pull_request
from app.service.scheduled import LoopDeps, LoopResult, run_for_repository
from app.testing.fake_github import FakeGitHub

pytestmark = pytest.mark.timeout(90)

REPO = "octo-org/kops"
POLICY = ".github/image-review.yml"
MODEL = "pkg/model/components/etcdmanager/model.go"
VALUES = "charts/etcd-manager/values.yaml"
TAG = "v3.0.20220428"
TODAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BRANCH = "image-review/switch-back/etcd-manager"


@dataclass
class World:
    fake: FakeGitHub
    registry: RegistryServer
    pusher: Pusher
    deps: LoopDeps
    client: RegistryClient
    private_pem: str

    @property
    def host(self) -> str:
        return self.registry.host

    def run(self) -> LoopResult:
        return run_for_repository(self.deps, INSTALLATION_ID, REPO, "main")

    def writes(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.fake.requests if c.method != "GET" and "/app/" not in c.path]


def policy(host: str) -> str:
    return (
        "version: 1\ndashboard: true\nswitch_back: true\n"
        f"release_locations: {{add: ['{host}/etcdadm']}}\n"
        f"staging_locations: {{add: ['{host}/k8s-staging-etcdadm']}}\n"
        f"mappings: {{'{host}/k8s-staging-etcdadm': '{host}/etcdadm'}}\n"
        f"registry_verification: {{allowed_hosts: {{add: ['{host}']}}}}\n"
    )


def model(image: str, exemption: bool = True) -> str:
    directive = "  # image-review: allow staging-image until 2026-12-20 tracked-by #31\n" if exemption else ""
    return (f"package etcdmanager\n\nconst manifest = `\nspec:\n  containers:\n{directive}"
            f"  - image: {image}\n    name: etcd-manager\n    resources: {{}}\n`\n")


@pytest.fixture
def world(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[World]:
    try:
        registry = start_registry()
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    loopback = frozenset({"127.0.0.1:*"})
    client = RegistryClient(RegistryConfig(allowed_hosts=loopback, insecure_hosts=loopback, connect_timeout=2,
                                           negative_ttl=0, tag_ttl=0, addresses=LOOPBACK_NETWORKS))
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    deps = LoopDeps(github=app.client, registry=client, clock=lambda: TODAY)
    pusher = Pusher(registry.url)
    world = World(fake_github, registry, pusher, deps, client, rsa_keys.private_pem)
    fake_github.add_repo(REPO)
    tracking = fake_github.add_issue(REPO, 31, title="Use the etcd-manager pre-release until it is promoted")
    tracking.assignees = ["etcd-owner"]
    staging = f"{registry.host}/k8s-staging-etcdadm/etcd-manager:{TAG}"
    pusher.push_image("k8s-staging-etcdadm/etcd-manager", TAG, make_image("etcd-manager"))
    fake_github.push_commit(REPO, "main", {
        POLICY: policy(registry.host), MODEL: model(staging), "README.md": "kops\n",
        VALUES: f"image:\n  repository: {registry.host}/k8s-staging-etcdadm/etcd-manager\n  tag: {TAG}\n",
    }, "Use the etcd-manager pre-release")
    yield world
    client.close()
    app.close()
    registry.cleanup()


def dashboard(fake: FakeGitHub) -> tuple[int, str, str]:
    [issue] = [i for i in fake.repo(REPO).issues.values() if DASHBOARD_LABEL in i.labels]
    return issue.number, issue.state, issue.body


def table_rows(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("| `")]


def promote(world: World) -> str:
    return world.pusher.push_image("etcdadm/etcd-manager", TAG, make_image("etcd-manager"))


def test_the_loop_from_staging_to_switch_back_and_back(world: World) -> None:
    fake, host = world.fake, world.host
    first = world.run()
    number, state, body = dashboard(fake)
    assert (first.dashboard, state) == ("created", "open")
    rows = table_rows(body)
    assert len(rows) == 2
    head = fake.repo(REPO).git.refs["heads/main"]
    assert rows[1] == (
        f"| `{host}/k8s-staging-etcdadm/etcd-manager:{TAG}` | [{MODEL}:7](https://github.com/{REPO}/blob/{head}/"
        f"{MODEL}#L7) | production | #31 (@etcd-owner), until 2026-12-20 (19 days) | release tag missing: release tag "
        f"'{TAG}' does not exist in {host}/etcdadm/etcd-manager |")
    # Not expiring within 14 days: by path.
    assert rows[0].startswith(f"| `{host}/k8s-staging-etcdadm/etcd-manager:{TAG}` | [{VALUES}:2]")
    assert first.switch_backs == [] and fake.repo(REPO).pulls == {}

    digest = promote(world)
    second = world.run()
    assert second.dashboard == "edited"
    assert [(o.branch, o.action) for o in second.switch_backs] == [(BRANCH, "opened")]
    pull = fake.repo(REPO).pulls[second.switch_backs[0].number or 0]
    assert (pull.head_ref, pull.base_ref, pull.user) == (BRANCH, "main", "image-review[bot]")
    assert len(pull.commits) == 1 and pull.commits[0].parents == [head]
    changed = [line for line in pull.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        f"-  repository: {host}/k8s-staging-etcdadm/etcd-manager",
        f"+  repository: {host}/etcdadm/etcd-manager",
        f"-  - image: {host}/k8s-staging-etcdadm/etcd-manager:{TAG}",
        f"+  - image: {host}/etcdadm/etcd-manager:{TAG}",
    ]
    assert "Refs #31" in pull.body and f"`{digest}` (staging and release)" in pull.body
    assert "Refs #31" in pull.commits[0].message
    assert "promoted, same digest" in dashboard(fake)[2]
    [note] = [c for c in fake.repo(REPO).issue_comments.values() if c["_issue"] == 31]
    assert f"`{host}/etcdadm/etcd-manager:{TAG}` has the same digest `{digest}`" in note["body"]
    assert not [w for w in world.writes() if "heads/main" in w]

    # The App's own review of its pull request passes.
    review, github = review_deps(fake.base_url, APP_ID, world.private_pem, registry=world.client)
    try:
        review_pull_request(ReviewJob(INSTALLATION_ID, REPO, pull.number, pull.head_sha, "d-1",
                                      "pull_request.opened", base_ref="main"), review)
    finally:
        github.close()
    [run] = [r for r in fake.repo(REPO).check_runs.values() if r["head_sha"] == pull.head_sha]
    assert run["conclusion"] == "success", run["output"]

    fake.reset_requests()
    third = world.run()
    assert third.dashboard == "unchanged"
    assert [(o.branch, o.action) for o in third.switch_backs] == [(BRANCH, "unchanged")]
    assert world.writes() == []
    assert third.api_requests == 2

    fake.push_commit(REPO, "main", {MODEL: model(f"{host}/etcdadm/etcd-manager:{TAG}", exemption=False),
                                    VALUES: "image:\n  repository: registry.k8s.io/pause\n  tag: '3.9'\n"},
                     "Switch etcd-manager by hand")
    fourth = world.run()
    assert [(o.branch, o.action) for o in fourth.switch_backs] == [(BRANCH, "closed")]
    assert pull.state == "closed"
    assert f"heads/{BRANCH}" not in fake.repo(REPO).git.refs
    number_after, state, body = dashboard(fake)
    assert (fourth.dashboard, number_after, state) == ("closed", number, "closed")
    assert "No staging image is left." in body


def test_a_person_s_commit_on_the_switch_back_branch_is_never_overwritten(world: World) -> None:
    fake, host = world.fake, world.host
    promote(world)
    opened = world.run()
    [outcome] = opened.switch_backs
    human = fake.push_commit(REPO, BRANCH, {"docs/etcd.md": "switched\n"}, "Document the switch", author="dev")
    fake.push_commit(REPO, "main", {"pkg/model/extra.go": f'package model\n\nconst image = "{host}/'
                                    f'k8s-staging-etcdadm/etcd-manager:{TAG}"\n'}, "One more use")
    later = world.run()
    assert [(o.branch, o.action, o.number) for o in later.switch_backs] == [(BRANCH, "blocked", outcome.number)]
    assert fake.repo(REPO).git.refs[f"heads/{BRANCH}"] == human
    assert not [w for w in world.writes() if w.endswith(f"/git/refs/heads/{BRANCH}")]


def test_a_lost_memory_finds_the_same_issue_and_pull_request_and_writes_nothing(world: World) -> None:
    from app.github.loop_memory import LocalLoopStore

    fake = world.fake
    promote(world)
    first = world.run()
    tip = fake.repo(REPO).git.refs[f"heads/{BRANCH}"]
    world.deps.store = LocalLoopStore()  # a restarted App without shared memory
    fake.reset_requests()
    again = world.run()
    assert again.dashboard == "unchanged"
    assert [(o.action, o.number) for o in again.switch_backs] == [("unchanged", first.switch_backs[0].number)]
    assert world.writes() == []
    assert fake.repo(REPO).git.refs[f"heads/{BRANCH}"] == tip
    assert len([i for i in fake.repo(REPO).issues.values() if DASHBOARD_LABEL in i.labels]) == 1


def test_the_dashboard_reopens_when_a_staging_image_comes_back(world: World) -> None:
    fake, host = world.fake, world.host
    world.run()
    number = dashboard(fake)[0]
    fake.push_commit(REPO, "main", {MODEL: model("registry.k8s.io/etcd:3.5.9", exemption=False), VALUES: None},
                     "Release images everywhere")
    assert world.run().dashboard == "closed"
    assert dashboard(fake)[1] == "closed"
    fake.push_commit(REPO, "main", {MODEL: model(f"{host}/k8s-staging-etcdadm/etcd-manager:{TAG}")}, "Back")
    assert world.run().dashboard == "reopened"
    assert dashboard(fake)[:2] == (number, "open")
    assert len(table_rows(dashboard(fake)[2])) == 1


def test_a_repository_that_did_not_opt_in_costs_two_requests_and_writes_nothing(world: World) -> None:
    fake = world.fake
    fake.push_commit(REPO, "main", {POLICY: "version: 1\n"}, "No dashboard")
    fake.reset_requests()
    result = world.run()
    assert (result.opted_in, result.dashboard, result.api_requests) == (False, "off", 2)
    assert world.writes() == [] and fake.repo(REPO).issues.keys() == {31}


def test_a_merged_switch_back_is_forgotten_without_a_closing_comment(world: World) -> None:
    fake, host = world.fake, world.host
    promote(world)
    [opened] = world.run().switch_backs
    pull = fake.repo(REPO).pulls[opened.number or 0]
    # Merged: the default branch gets the pull request's change, the pull request is closed.
    fake.push_commit(REPO, "main", {MODEL: model(f"{host}/etcdadm/etcd-manager:{TAG}"),
                                    VALUES: f"image:\n  repository: {host}/etcdadm/etcd-manager\n  tag: {TAG}\n"},
                     f"Merge pull request #{pull.number}")
    pull.state = "closed"
    after = world.run()
    assert [(o.branch, o.action) for o in after.switch_backs] == [(BRANCH, "forgotten")]
    assert [c for c in fake.repo(REPO).issue_comments.values() if c["_issue"] == pull.number] == []
    assert f"heads/{BRANCH}" not in fake.repo(REPO).git.refs
    assert after.dashboard == "closed"


def test_without_switch_back_a_ticked_box_on_the_dashboard_asks_for_one(world: World) -> None:
    from app.service.scheduled import is_staging_job
    from app.service.webhook import Delivery, route

    fake, host = world.fake, world.host
    fake.push_commit(REPO, "main", {POLICY: policy(host).replace("switch_back: true\n", "")}, "Dashboard only")
    promote(world)
    first = world.run()
    assert first.switch_backs == [] and fake.repo(REPO).pulls == {}
    number, _, body = dashboard(fake)
    box = f"- [ ] `{host}/k8s-staging-etcdadm/etcd-manager` <!-- image-review:switch-back-request etcd-manager -->"
    assert box in body
    fake.reset_requests()
    assert world.run().api_requests == 3  # the ref, the policy and the dashboard's boxes
    assert world.writes() == []

    # A person ticks the box; GitHub sends issues.edited.
    issue = fake.repo(REPO).issues[number]
    issue.body = body.replace("- [ ] `", "- [x] `")
    payload = {"action": "edited", "issue": {"number": number, "body": issue.body},
               "repository": {"full_name": REPO, "default_branch": "main"},
               "installation": {"id": INSTALLATION_ID}, "sender": {"login": "dev", "type": "User"}}
    [job] = route(Delivery("d-tick", "issues", payload)).jobs
    assert is_staging_job(job) and job.base_ref == "main"
    asked = world.run()
    assert [(o.branch, o.action) for o in asked.switch_backs] == [(BRANCH, "opened")]
    assert "- [x] `" in dashboard(fake)[2]
    fake.reset_requests()
    again = world.run()
    assert [(o.action) for o in again.switch_backs] == ["unchanged"] and world.writes() == []


def test_the_promoter_manifest_shows_a_build_promoted_under_another_tag(world: World) -> None:
    from app.registry.promotion import IMAGES_YAML_PATH, PromoterManifestSource

    fake, host = world.fake, world.host
    promoted_tag = "v3.0.20220503"
    digest = world.pusher.push_image("etcdadm/etcd-manager", promoted_tag, make_image("etcd-manager"))
    fake.add_public_repo("kubernetes/k8s.io")
    path = IMAGES_YAML_PATH.format(project="k8s-staging-etcdadm")
    images_yaml = f'- name: etcd-manager\n  dmap:\n    "{digest}": ["{promoted_tag}"]\n'
    fake.set_file("kubernetes/k8s.io", "main", path, images_yaml)
    world.deps.manifests = PromoterManifestSource(lambda _path: None)
    result = world.run()
    [outcome] = result.switch_backs
    pull = fake.repo(REPO).pulls[outcome.number or 0]
    assert f"+  - image: {host}/etcdadm/etcd-manager:{promoted_tag}" in pull.diff
    assert f"promoter manifest `{path}`" in pull.body
    assert f"as `{host}/etcdadm/etcd-manager:{promoted_tag}` (per `{path}`)" in dashboard(fake)[2]


def test_grouped_by_project_the_branch_is_named_for_the_project(world: World) -> None:
    fake, host = world.fake, world.host
    fake.push_commit(REPO, "main", {POLICY: policy(host) + "switch_back_group: project\n"}, "One per project")
    promote(world)
    [outcome] = world.run().switch_backs
    pull = fake.repo(REPO).pulls[outcome.number or 0]
    assert (outcome.branch, outcome.action) == ("image-review/switch-back/k8s-staging-etcdadm", "opened")
    assert pull.title == f"Switch k8s-staging-etcdadm back to the release image {host}/etcdadm/etcd-manager"


def test_a_switch_back_someone_closed_is_not_opened_again_after_a_lost_memory(world: World) -> None:
    from app.github.loop_memory import LocalLoopStore

    fake = world.fake
    promote(world)
    [opened] = world.run().switch_backs
    fake.repo(REPO).pulls[opened.number or 0].state = "closed"  # declined by a maintainer
    world.deps.store = LocalLoopStore()
    [again] = world.run().switch_backs
    assert (again.action, again.number) == ("declined", opened.number)
    assert [p.number for p in fake.repo(REPO).pulls.values()] == [opened.number]
    fake.reset_requests()
    assert world.run().switch_backs[0].action == "unchanged" and world.writes() == []
