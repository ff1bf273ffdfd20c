"""100 pull request events while GitHub keeps failing: nothing is lost, nothing is doubled.

``image-review serve`` (gunicorn, the embedded SQLite queue and its consumer threads) receives
100 signed ``pull_request`` events, four pushes' worth for each of 25 pull requests spread over
five installations, while the fake GitHub answers about a fifth of all requests with 502, some
with a secondary rate limit (403 with ``Retry-After: 1``), the first installation-token requests
with both, and some writes with a 502 *after* carrying them out (GitHub's gateway timing out on
a write that landed). Once the queue has drained, every pull request must have exactly one
completed check run for its final head and none left in progress, no inline comment twice and
exactly one summary comment.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
import requests
from app_process import (
    Apps,
    app_env,
    check_runs,
    deliver,
    inline_markers,
    load_head,
    own_sample,
    summaries,
    wait_until,
)
from conftest import APP_ID, KeyPair

from app.github.publish import DEFAULT_LABEL
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings
from app.testing.fake_github import FakeGitHub, Fault
from app.testing.sample_pr import RELEASE_IMAGE, STAGING_IMAGE, SamplePull

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

INSTALLATIONS = 5
PULLS_PER_INSTALLATION = 5  # 25 pull requests
TAGS = ("v3.0.20220428", "v3.0.20220503", "v3.0.20220505")
WRITES = r"/check-runs$|/pulls/\d+/reviews$|/issues/\d+/comments$|/replies$"


def pushes(repo: str, number: int) -> list[SamplePull]:
    """The pull request's three heads: the sample, then two newer staging builds."""
    heads = [own_sample(repo, number)]
    for old, new in itertools.pairwise(TAGS):
        heads.append(heads[-1].push(f"{STAGING_IMAGE}:{old}", f"{STAGING_IMAGE}:{new}", f"Pick up {new}"))
    return heads


def test_a_hundred_events_against_a_failing_github(
    tmp_path: Path, fake_github: FakeGitHub, rsa_keys: KeyPair
) -> None:
    fake = fake_github
    pulls: dict[tuple[str, int], tuple[int, list[SamplePull]]] = {}
    for i in range(INSTALLATIONS):
        installation = 10 + i
        fake.add_installation(installation, f"fleet-{i}")
        for n in range(PULLS_PER_INSTALLATION):
            repo, number = f"fleet-{i}/service", 100 + n
            pulls[(repo, number)] = (installation, pushes(repo, number))

    # Faults from the first request on: token requests included (each process fetches one per
    # installation, and the first two of those fail whatever the dice say).
    fake.faults.script(
        Fault("502", path=r"/access_tokens$"), Fault("secondary", retry_after=1, path=r"/access_tokens$")
    )
    fake.faults.random(Fault("502", method="POST", path=WRITES, after=True), 0.08)
    fake.faults.random(Fault("502", method="PATCH", path=r"/check-runs/\d+$", after=True), 0.08)
    fake.faults.random(Fault("secondary", retry_after=1), 0.02)
    fake.faults.random(Fault("502"), 0.2)

    data_dir = tmp_path / "data"
    env = app_env(data_dir, fake.base_url, rsa_keys.private_pem, APP_ID, IMAGE_REVIEW_JOB_RETRIES="5")
    with Apps(tmp_path) as apps:
        server = apps.serve(env, workers=2, consumer_threads=4)
        session = requests.Session()
        statuses: Counter[int] = Counter()
        # Four rounds over all pull requests: opened, two pushes, and a reopen of the last head.
        for round_, action in enumerate(("opened", "synchronize", "synchronize", "reopened")):
            for (repo, number), (installation, heads) in pulls.items():
                if round_ < len(heads):
                    load_head(fake, heads[round_], installation)
                payload = fake.pull_request_event(repo, number, action)
                statuses[deliver(server.url, "pull_request", payload, session=session).status_code] += 1
        assert statuses == {202: 4 * len(pulls)}

        queue = build_queue(QueueSettings(data_dir=data_dir), lambda job: None)
        try:
            seen, quiet = [-1], [0]

            def drained() -> bool:
                """Nothing queued, parked or running (a running job holds a lease), and no request
                to the fake, for three polls in a row: a retry huey has just handed to a worker
                thread is invisible until the worker claims it, and on a busy machine the
                (low-priority) consumer can take a moment to do so."""
                assert server.alive(), f"serve died:\n{server.logs()}"
                before, seen[0] = seen[0], len(fake.requests)
                idle = queue.settled() and before == seen[0]
                quiet[0] = quiet[0] + 1 if idle else 0
                return quiet[0] >= 3

            wait_until(drained, "the queue to drain", timeout=110, poll=1.0)
            counts = queue.counts()
        finally:
            queue.close()

    problems: list[str] = []
    for (repo, number), (_, heads) in pulls.items():
        where = f"{repo}#{number}"
        final = check_runs(fake, repo, heads[-1].head_sha)
        if len(final) != 1:
            problems.append(f"{where}: {len(final)} check runs for the final head")
        elif final[0]["conclusion"] != "failure":
            problems.append(f"{where}: the final head's check run concluded {final[0]['conclusion']}")
        for head in heads:
            left = [r["id"] for r in check_runs(fake, repo, head.head_sha) if r["status"] != "completed"]
            if left:
                problems.append(f"{where}: check run(s) {left} of {head.head_sha[:8]} left in progress")
        markers = Counter(inline_markers(fake, repo, number))
        if doubled := [m for m, n in markers.items() if n > 1]:
            problems.append(f"{where}: inline comments doubled: {doubled}")
        final_tag = f"{RELEASE_IMAGE}:{TAGS[-1]}"
        with fake._lock:
            bodies = [c["body"] for c in fake.repo(repo).review_comments.values() if c["_pull"] == number]
        if sum(1 for body in bodies if final_tag in body and "fingerprint=" in body) != 1:
            problems.append(f"{where}: the final head's finding is not commented exactly once")
        if (found := len(summaries(fake, repo, number))) != 1:
            problems.append(f"{where}: {found} summary comments")
        if fake.repo(repo).pulls[number].labels != [DEFAULT_LABEL]:
            problems.append(f"{where}: labels {fake.repo(repo).pulls[number].labels}")
    assert not problems, "\n".join(problems)

    # The faults did happen, on every kind of request the review makes.
    kinds = Counter(kind for _, _, kind in fake.faults.injected)
    requested = len(fake.requests)
    assert kinds["502"] >= 0.15 * requested and kinds["secondary"] >= 3, (kinds, requested)
    failed_tokens = [r for r in fake.requests if r.path.endswith("/access_tokens") and r.status != 201]
    assert len(failed_tokens) >= 2
    landed_502 = [r for r in fake.requests if r.method in ("POST", "PATCH") and r.status == 502]
    assert landed_502
    assert counts.enqueued == 4 * len(pulls) and counts.succeeded >= len(pulls)
