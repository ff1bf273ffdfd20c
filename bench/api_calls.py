"""How many GitHub API requests one review costs, counted from the fake GitHub's request log.

    python bench/api_calls.py

Reviews run in-process (``app.service.review.review_pull_request``) against the fake GitHub on loopback,
with the installation token already cached, as in a running App. Cases:

1. a pull request without image changes (opened): at most 3 requests (DESIGN.md's budget:
   the diff, the policy file, a check run created already completed);
2. the etcd-manager staging pull request (the sandbox's sample, opened): the count beside the
   minimum the budget table allows for it, which must be equal;
3. for information: the next push of that pull request (a newer staging build), and a re-run;
4. the staging loop's scheduled run of one repository with nothing to do: (a) a repository that
   did not opt in, (b) one with ``dashboard`` and ``switch_back`` whose dashboard and switch-back
   pull request are current (a real ``docker-registry`` on loopback holds the promoted build):
   at most 3 requests each; for information, (c) the first run, which creates them, and (d) a
   run after the App lost its memory; (e) a dashboard-only repository whose promoted image is
   offered as a box to tick (the boxes are read): at most 3.

Exit status 1 when a budget is exceeded.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import review_helpers  # noqa: E402
from conftest import make_key_pair  # noqa: E402
from review_helpers import review_deps  # noqa: E402

from app.core.diffs import parse_diff  # noqa: E402
from app.core.extract import extract  # noqa: E402
from app.jobs.model import ReviewJob  # noqa: E402
from app.service.review import review_pull_request  # noqa: E402
from app.testing.fake_github import FakeGitHub  # noqa: E402
from app.testing.sample_pr import STAGING_IMAGE, SamplePull, load_sample  # noqa: E402

APP_ID = 4242
INSTALLATION_ID = 1
REPO = "kubernetes/kops"
NO_IMAGE_DIFF = (
    "diff --git a/docs/getting_started/aws.md b/docs/getting_started/aws.md\n"
    "--- a/docs/getting_started/aws.md\n+++ b/docs/getting_started/aws.md\n"
    "@@ -10,3 +10,3 @@ Prerequisites\n"
    " You need an AWS account.\n-Install the AWS CLI first.\n+Install and configure the AWS CLI first.\n"
    " Then create a bucket.\n"
)


def job(fake: FakeGitHub, number: int, action: str, *, rerun: bool = False) -> ReviewJob:
    pull = fake.repo(REPO).pulls[number]
    return ReviewJob(
        installation_id=INSTALLATION_ID,
        repo=REPO,
        pr_number=number,
        head_sha=pull.head_sha,
        delivery_id=f"bench-{number}-{action}",
        event=f"pull_request.{action}" if not rerun else "check_run.rerequested",
        base_sha=pull.base_sha,
        base_ref=pull.base_ref,
        labels=tuple(pull.labels),
        rerun=rerun,
    )


def counted(fake: FakeGitHub, run: Callable[[], Any]) -> list[str]:
    fake.reset_requests()
    run()
    return [
        f"{r.method} {r.path}{'?ref=' + r.query['ref'] if 'ref' in r.query else ''} → {r.status}" for r in fake.requests
    ]


def staging_minimum(pull: SamplePull, annotations: int, labels_change: bool) -> tuple[int, list[str]]:
    """The budget table (DESIGN.md, "GitHub") applied to a first review of this pull request."""
    touching = [c for c in pull.commits if extract(parse_diff(c.diff.encode()))]
    steps = [
        ("pull request diff", 1),
        ("policy file at the base", 1),
        ("commits list", 1),
        (f"diffs of the {len(touching)} commits touching images", len(touching)),
        ("check run created and completed", 2 + max(0, math.ceil(annotations / 50) - 1)),
        ("one review with the new inline comments", 1),
        ("summary comment created", 1),
        ("label added", 1 if labels_change else 0),
    ]
    return sum(n for _, n in steps), [f"{n} {what}" for what, n in steps]


def main() -> int:
    keys = make_key_pair()
    fake = FakeGitHub(app_id=APP_ID, public_key=keys.public_pem)
    fake.add_installation(INSTALLATION_ID, REPO.split("/")[0])
    ok = True
    with fake.serve():
        deps, github = review_deps(fake.base_url, APP_ID, keys.private_pem)
        github.auth.installation_token(INSTALLATION_ID)  # the cached token of a running App

        fake.load_pull(REPO, {"number": 1, "head": {"sha": "1" * 40}, "base": {"ref": "master"}, "diff": NO_IMAGE_DIFF})
        log = counted(fake, lambda: review_pull_request(job(fake, 1, "opened"), deps))
        print(f"1. pull request without image changes: {len(log)} requests (budget: at most 3)")
        print("".join(f"     {line}\n" for line in log), end="")
        ok &= len(log) <= 3

        sample = load_sample()
        fake.load_pull(REPO, sample.fixture())
        result = None

        def first_review() -> None:
            nonlocal result
            result = review_pull_request(job(fake, sample.number, "opened"), deps)

        log = counted(fake, first_review)
        assert result is not None
        minimum, why = staging_minimum(sample, result.annotations_sent, bool(result.labels_added))
        print(
            f"2. etcd-manager staging pull request ({REPO}#{sample.number}, {len(sample.commits)} commits): "
            f"{len(log)} requests; minimum possible: {minimum} ({' + '.join(why)})"
        )
        print("".join(f"     {line}\n" for line in log), end="")
        ok &= len(log) == minimum

        newer = sample.push(f"{STAGING_IMAGE}:v3.0.20220428", f"{STAGING_IMAGE}:v3.0.20220503", "Pick up v3.0.20220503")
        fake.load_pull(REPO, newer.fixture(fake.repo(REPO).pulls[sample.number].labels))
        log = counted(fake, lambda: review_pull_request(job(fake, sample.number, "synchronize"), deps))
        print(f"3a. next push (a newer staging build, {len(newer.commits)} commits): {len(log)} requests")
        print("".join(f"     {line}\n" for line in log), end="")
        log = counted(fake, lambda: review_pull_request(job(fake, sample.number, "synchronize", rerun=True), deps))
        print(f"3b. re-run of that head: {len(log)} requests")
        print("".join(f"     {line}\n" for line in log), end="")
        ok &= scheduled_runs(fake, keys.private_pem)
        github.close()
    print("OK" if ok else "OVER BUDGET")
    return 0 if ok else 1


def scheduled_runs(fake: FakeGitHub, private_key: str) -> bool:
    from datetime import UTC, datetime

    from registry_server import LOOPBACK_NETWORKS, Pusher, make_image, start_registry

    from app.github.client import GitHubApp
    from app.github.loop_memory import LocalLoopStore
    from app.registry.client import RegistryClient, RegistryConfig
    from app.service.scheduled import LoopDeps, run_for_repository

    registry = start_registry()
    loopback = frozenset({"127.0.0.1:*"})
    client = RegistryClient(
        RegistryConfig(allowed_hosts=loopback, insecure_hosts=loopback, addresses=LOOPBACK_NETWORKS)
    )
    app = GitHubApp(APP_ID, private_key, fake.base_url, options=review_helpers.FAST_CLIENT)
    app.auth.installation_token(INSTALLATION_ID)
    deps = LoopDeps(github=app.client, registry=client, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    ok = True
    try:
        host, tag = registry.host, "v3.0.20220428"
        pusher = Pusher(registry.url)
        build = make_image("etcd-manager")
        pusher.push_image("k8s-staging-etcdadm/etcd-manager", tag, build)
        pusher.push_image("etcdadm/etcd-manager", tag, build)
        quiet, busy = "kubernetes/quiet", "kubernetes/etcd"
        fake.push_commit(quiet, "main", {"README.md": "nothing\n"}, "init")
        policy = (f"dashboard: true\nswitch_back: true\nrelease_locations: {{add: ['{host}/etcdadm']}}\n"
                  f"mappings: {{'{host}/k8s-staging-etcdadm': '{host}/etcdadm'}}\n"
                  f"registry_verification: {{allowed_hosts: {{add: ['{host}']}}}}\n")
        staging = f"image: {host}/k8s-staging-etcdadm/etcd-manager:{tag}\n"
        fake.push_commit(busy, "main", {".github/image-review.yml": policy, "manifests/etcd.yaml": staging},
                         "staging etcd-manager")

        def run(repo: str) -> list[str]:
            return counted(fake, lambda: run_for_repository(deps, INSTALLATION_ID, repo, "main"))

        cases = [("4a. scheduled run, repository not opted in", quiet, True),
                 ("4c. scheduled run, first run (creates the dashboard and the switch-back)", busy, False),
                 ("4b. scheduled run, opted in, dashboard and switch-back current", busy, True)]
        for title, repo, budgeted in cases:
            log = run(repo)
            print(f"{title}: {len(log)} requests" + (" (budget: at most 3)" if budgeted else ""))
            print("".join(f"     {line}\n" for line in log), end="")
            ok &= len(log) <= 3 or not budgeted
        deps.store = LocalLoopStore()
        log = run(busy)
        print(f"4d. scheduled run after the App lost its memory: {len(log)} requests")
        print("".join(f"     {line}\n" for line in log), end="")
        boxes = "kubernetes/etcd-boxes"
        fake.push_commit(boxes, "main", {".github/image-review.yml": policy.replace("switch_back: true\n", ""),
                                         "manifests/etcd.yaml": staging}, "dashboard only")
        run(boxes)
        log = run(boxes)
        print(f"4e. scheduled run, dashboard only, a promoted image offered as a box: {len(log)} requests "
              "(budget: at most 3)")
        print("".join(f"     {line}\n" for line in log), end="")
        ok &= len(log) <= 3
    finally:
        client.close()
        app.close()
        registry.cleanup()
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
