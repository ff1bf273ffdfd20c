"""The second part of ``image-review sandbox``: the staging loop on the sample's etcd-manager image.

The default branch of a fake repository uses the staging etcd-manager build under an exemption
tracked by an issue; a local registry stands in for gcr.io and registry.k8s.io. The first daily
run creates the "Staging images" dashboard (release tag missing); then the build is promoted
(the release tag gets the same digest) and the next run opens the switch-back pull request,
which the App reviews like any other; a third run changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TextIO

from app.github.client import ClientOptions, GitHubApp, RetryPolicy
from app.github.dashboard import DASHBOARD_LABEL
from app.github.publish import PublishOptions
from app.jobs.model import ReviewJob
from app.registry.addresses import AddressPolicy, parse_networks
from app.registry.client import RegistryClient, RegistryConfig
from app.service.review import ReviewDeps, ReviewOptions, review_pull_request
from app.service.scheduled import LoopDeps, LoopResult, run_for_repository
from app.testing.fake_github import FakeGitHub, serve_wsgi
from app.testing.fake_registry import FakeRegistry

REPO = "kubernetes/kops"
TRACKING_ISSUE = 16000
TAG = "v3.0.20220428"
MODEL = "pkg/model/components/etcdmanager/model.go"
INSTALLATION_ID = 1

LOOPBACK = parse_networks("127.0.0.0/8")


def _policy(host: str) -> str:
    return ("version: 1\ndashboard: true\nswitch_back: true\n"
            f"staging_locations: {{add: ['{host}/k8s-staging-etcdadm']}}\n"
            f"release_locations: {{add: ['{host}/etcdadm']}}\n"
            f"mappings: {{'{host}/k8s-staging-etcdadm': '{host}/etcdadm'}}\n"
            f"registry_verification: {{allowed_hosts: {{add: ['{host}']}}}}\n")


def _model(image: str, expires: str) -> str:
    return ("package etcdmanager\n\n// The etcd-manager pod, as kops renders it.\nconst defaultManifest = `\n"
            "spec:\n  containers:\n"
            f"  # image-review: allow staging-image until {expires} tracked-by #{TRACKING_ISSUE}\n"
            f"  - image: {image}\n    name: etcd-manager\n`\n")


def run_staging_demo(out: TextIO, private_pem: str, public_pem: str, app_id: int) -> int:
    now = datetime.now(UTC)
    fake = FakeGitHub(app_id=app_id, public_key=public_pem)
    registry = FakeRegistry()
    options = ClientOptions(retry=RetryPolicy(max_attempts=3, max_elapsed=10.0, backoff_factor=0.1),
                            seconds_between_requests=0, seconds_between_writes=0)
    with fake.serve(), serve_wsgi(registry, name="fake-registry") as registry_url:
        host = registry_url.removeprefix("http://")
        loopback = frozenset({host})
        # The demo's registry is on loopback: allowed the way an operator would allow it.
        config = RegistryConfig(
            allowed_hosts=loopback, insecure_hosts=loopback, negative_ttl=0, addresses=AddressPolicy(LOOPBACK)
        )
        client = RegistryClient(config)
        github = GitHubApp(app_id, private_pem, fake.base_url, options=options)
        deps = LoopDeps(github=github.client, registry=client, clock=lambda: now)
        try:
            fake.add_installation(INSTALLATION_ID, REPO.split("/")[0])
            fake.add_issue(REPO, TRACKING_ISSUE, title="Promote the etcd-manager IPv6 fix").assignees = ["release-team"]
            staging = f"{host}/k8s-staging-etcdadm/etcd-manager:{TAG}"
            expires = (now + timedelta(days=10)).date().isoformat()
            registry.push("k8s-staging-etcdadm/etcd-manager", TAG, "etcd-manager IPv6 fix")
            fake.push_commit(REPO, "main", {".github/image-review.yml": _policy(host), MODEL: _model(staging, expires)},
                             "Use the etcd-manager pre-release with the IPv6 fix")
            out.write(f"\n\nThe staging loop\n  local registry standing in for gcr.io and registry.k8s.io: {host}\n"
                      f"  {REPO} main uses {staging}, exempted until {expires} (#{TRACKING_ISSUE})\n")
            _show(out, fake, "daily run", _run(deps))
            registry.push("etcdadm/etcd-manager", TAG, "etcd-manager IPv6 fix")
            out.write(f"\n— promoted: {host}/etcdadm/etcd-manager:{TAG} now has the staging build's digest\n")
            result = _run(deps)
            _show(out, fake, "next daily run", result)
            ok = _review_switch_back(out, fake, github, client, app_id, result)
            third = _run(deps)
            out.write(f"\n→ one more run: dashboard {third.dashboard}, switch-back "
                      f"{', '.join(o.action for o in third.switch_backs)}, {third.api_requests} API requests\n")
        finally:
            client.close()
            github.close()
    return 0 if ok else 1


def _run(deps: LoopDeps) -> LoopResult:
    return run_for_repository(deps, INSTALLATION_ID, REPO, "main")


def _show(out: TextIO, fake: FakeGitHub, what: str, result: LoopResult) -> None:
    out.write(f"\n→ {what}: dashboard {result.dashboard}; switch-back "
              f"{', '.join(f'{o.action} #{o.number}' for o in result.switch_backs) or 'none'}; "
              f"{result.api_requests} API requests\n")
    repo = fake.repo(REPO)
    for issue in repo.issues.values():
        if DASHBOARD_LABEL in issue.labels:
            out.write(f"  issue #{issue.number} {issue.title!r} ({issue.state}):\n")
            out.write("".join(f"    | {line}\n" for line in issue.body.rstrip("\n").split("\n")))
    for comment in repo.issue_comments.values():
        if comment["_issue"] == TRACKING_ISSUE:
            out.write(f"  note on #{TRACKING_ISSUE}: {comment['body'].splitlines()[-1]}\n")
    for outcome in result.switch_backs:
        pull = repo.pulls[outcome.number or 0]
        out.write(f"  pull request #{pull.number} {pull.title!r} from {pull.head_ref} ({len(pull.commits)} commit):\n")
        out.write("".join(f"    | {line}\n" for line in pull.body.rstrip("\n").split("\n")))
        out.write("".join(f"    {line}\n" for line in pull.diff.rstrip("\n").split("\n")))


def _review_switch_back(out: TextIO, fake: FakeGitHub, github: GitHubApp, client: RegistryClient, app_id: int,
                        result: LoopResult) -> bool:
    """The App reviews its own switch-back pull request, with registry verification."""
    if not result.switch_backs:
        out.write("  no switch-back pull request was opened\n")
        return False
    pull = fake.repo(REPO).pulls[result.switch_backs[0].number or 0]
    deps = ReviewDeps(github=github.client, registry=client,
                      options=ReviewOptions(publish=PublishOptions(app_id=app_id), offline=False))
    review_pull_request(ReviewJob(INSTALLATION_ID, REPO, pull.number, pull.head_sha, "sandbox-switch-back",
                                  "pull_request.opened", base_ref="main"), deps)
    [run] = [r for r in fake.repo(REPO).check_runs.values() if r["head_sha"] == pull.head_sha]
    out.write(f"\n→ the App's review of #{pull.number}: check run {run['conclusion']}: {run['output']['title']}\n")
    return bool(run["conclusion"] == "success")
