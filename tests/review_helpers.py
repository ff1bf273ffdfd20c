"""Shared pieces of the review, publish and end-to-end tests and of the benches.

* ``review_deps``: review dependencies against a fake GitHub, without pacing or client throttles
  (and with registry verification when given a registry client).
* ``human_reply``: a reply by a person in a review thread (the fake's API authors every comment
  as the App, so the reply is put into its state directly).
* ``wait_until``: a bounded wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
from app.core.models import Analysis
from app.github.client import ClientOptions, GitHubApp, RetryPolicy
from app.github.memory import LocalMemory, ReviewMemory
from app.github.pacing import PaceSettings
from app.github.publish import PublishOptions
from app.registry.client import RegistryClient
from app.registry.promotion import PromoterManifestSource
from app.service.review import ReviewDeps, ReviewOptions

FAST_CLIENT = ClientOptions(
    retry=RetryPolicy(max_attempts=3, max_elapsed=5.0, backoff_factor=0.01, sleep=lambda _s: None),
    timeout=10,
    seconds_between_requests=0,
    seconds_between_writes=0,
)


def review_deps(
    api_url: str,
    app_id: int,
    private_key: str,
    *,
    memory: ReviewMemory | None = None,
    analyzer: Callable[[ChangeSet, AnalysisContext], Analysis] = analyze,
    publish: PublishOptions | None = None,
    options: ClientOptions = FAST_CLIENT,
    registry: RegistryClient | None = None,
    manifests: PromoterManifestSource | None = None,
) -> tuple[ReviewDeps, GitHubApp]:
    github = GitHubApp(app_id, private_key, api_url, options=options)
    deps = ReviewDeps(
        github=github.client,
        options=ReviewOptions(
            publish=publish or PublishOptions(app_id=app_id), pace=PaceSettings(per_minute=0), offline=registry is None
        ),
        memory=memory if memory is not None else LocalMemory(),
        analyzer=analyzer,
        registry=registry,
        manifests=manifests,
    )
    return deps, github


def human_reply(fake: Any, repo: str, comment_id: int, body: str, login: str = "reviewer") -> int:
    """A person's reply in the thread of review comment ``comment_id``."""
    with fake._lock:
        fake_repo = fake.repos[repo]
        parent = fake_repo.review_comments[comment_id]
        reply_id = next(fake._ids)
        fake_repo.review_comments[reply_id] = {
            **parent,
            "id": reply_id,
            "body": body,
            "in_reply_to_id": comment_id,
            "pull_request_review_id": None,
            "user": {"login": login, "id": 77, "type": "User"},
        }
        return reply_id


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
