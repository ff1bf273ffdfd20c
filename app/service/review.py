"""One review of one pull request head, top to bottom: fetch → analyze → publish.

``review_pull_request(job, deps)`` is the queue's job handler (raising means "try again later");
``mark_failed(job, exc, deps)`` is its give-up hook: the head's check run is closed as neutral
with an honest message, never left in progress.

The order of requests follows the API budget (docs: DESIGN.md, "GitHub"): the payload first,
then the diff; only a change that touches image references gets an in-progress check run, its
commits, and the rest. A change without image references costs three requests: the diff, the
policy file (conditional) and a check run created already completed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze, touches_images
from app.core.models import Analysis
from app.github.client import AppAuthError, ClientOptions, GitHubApp, InstallationClient, RetriesExhausted
from app.github.fetch import (
    FetchedCommits,
    FetchedFiles,
    FetchedPolicy,
    FetchLimits,
    PullFetcher,
    PullInfo,
    PullNotFound,
    assemble,
    paginate,
    resolve_pull,
)
from app.github.loop_memory import LocalLoopStore, LoopStore, RedisLoopStore, SqliteLoopStore
from app.github.memory import LocalMemory, RedisMemory, ReviewMemory, SqliteMemory
from app.github.pacing import PacerPool, PaceSettings
from app.github.publish import LabelConfig, Publisher, PublishOptions, PublishResult, PullTarget
from app.jobs.model import GiveUpHook, JobHandler, JobSuperseded, ReviewJob, WorkerLost
from app.policy.config import POLICY_PATH, Policy, load_policy
from app.policy.context import Approval, IssueState
from app.registry.client import RegistryClient
from app.registry.promotion import PromoterManifestSource
from app.registry.verify import K8S_IO_REF, K8S_IO_REPO, HostResolver
from app.report.summary import ReviewFacts
from app.service.budget import BudgetExceeded, ReviewBudget, check_diff_size, within_deadline
from app.service.scheduled import LoopDeps, handle_staging_job, is_staging_job
from app.service.settings import Settings

log = logging.getLogger(__name__)

Analyzer = Callable[[ChangeSet, AnalysisContext], Analysis]
ClientFactory = Callable[[int], InstallationClient]


@dataclass(frozen=True)
class ReviewOptions:
    publish: PublishOptions = field(default_factory=PublishOptions)
    fetch: FetchLimits = field(default_factory=FetchLimits)
    pace: PaceSettings = field(default_factory=PaceSettings)
    offline: bool = True  # no registry lookups during analysis (also when ReviewDeps has no registry)
    budget: ReviewBudget = field(default_factory=ReviewBudget)


@dataclass
class ReviewDeps:
    """What a review needs from outside: GitHub clients per installation, options, a clock, memory."""

    github: ClientFactory
    options: ReviewOptions = field(default_factory=ReviewOptions)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    memory: ReviewMemory = field(default_factory=LocalMemory)
    pacers: PacerPool | None = None
    analyzer: Analyzer = analyze
    # Registry verification: one client for the process (its token and answer caches outlive a
    # review) and the promoter manifests' cache, read through each job's GitHub client.
    registry: HostResolver | None = None
    manifests: PromoterManifestSource | None = None
    staging_store: LoopStore | None = None  # the staging loop's memory (None: this process only)
    _staging: LoopDeps | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.pacers is None:
            self.pacers = PacerPool(self.options.pace)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        options: ReviewOptions | None = None,
        client_options: ClientOptions | None = None,
        github: GitHubApp | None = None,
    ) -> ReviewDeps:
        """Production wiring: one GitHubApp (token cache, ETag cache; ``github`` when the process
        has one already), memory beside the queue (SQLite in the data dir, or Redis), and the
        registry client when verification is on (close it with ``close_registry``)."""
        app = github if github is not None else GitHubApp.from_settings(settings, options=client_options)
        memory: ReviewMemory = (
            RedisMemory(settings.redis_url)
            if settings.redis_url
            else SqliteMemory(settings.data_dir / "review-memory.sqlite3")
        )
        options = options or ReviewOptions(
            pace=PaceSettings(per_minute=settings.writes_per_minute), budget=settings.review_budget
        )
        publish = replace(options.publish, app_id=settings.app_id, web_url=web_url(settings.api_url))
        verify = settings.registry.verify
        return cls(
            github=app.client,
            options=replace(options, publish=publish, offline=not verify),
            memory=memory,
            registry=RegistryClient(settings.registry.client_config()) if verify else None,
            manifests=PromoterManifestSource(_no_fetch) if verify else None,
            staging_store=(RedisLoopStore(settings.redis_url) if settings.redis_url
                           else SqliteLoopStore(settings.data_dir / "staging-loop.sqlite3")),
        )

    def staging_deps(self) -> LoopDeps:
        """The staging loop's dependencies, sharing this review's clients (made once, then kept)."""
        if self._staging is None:
            self._staging = LoopDeps(github=self.github, registry=self.registry, manifests=self.manifests,
                                     web_url=self.options.publish.web_url, clock=self.clock,
                                     store=self.staging_store or LocalLoopStore())
        return self._staging

    def close_registry(self) -> None:
        if isinstance(self.registry, RegistryClient):
            self.registry.close()


def _no_fetch(path: str) -> str | None:
    """The process-wide manifest source's own fetcher: each review supplies its GitHub client."""
    raise RuntimeError("no GitHub client to read kubernetes/k8s.io with")


def _k8s_io_file(client: InstallationClient, path: str) -> str | None:
    """A file of kubernetes/k8s.io (public: any installation token may read it), None if absent."""
    return client.raw.file_text(K8S_IO_REPO, path, K8S_IO_REF)


def web_url(api_url: str) -> str:
    """The web address for an API address: api.github.com → github.com, GHES /api/v3 → the server."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return "https://github.com"
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    return f"{parts.scheme}://{parts.netloc}{path}"


# ---------------------------------------------------------------------------------------------
# The review


def review_pull_request(job: ReviewJob, deps: ReviewDeps) -> PublishResult | None:
    """Review the job's pull request head and publish the result; None when there was nothing to do."""
    context = {"delivery_id": job.delivery_id, "pr": job.coalesce_key, "event": job.event}
    with deps.github(job.installation_id) as client:
        try:
            pull = resolve_pull(client, job)
        except PullNotFound as exc:
            log.warning("skipping review: %s", exc, extra=context)
            return None
        if pull.state != "open":
            log.info("skipping review of a %s pull request", pull.state, extra=context)
            return None
        result = _review(job, pull, client, deps)
        if result is not None:
            log.info(
                "reviewed %s at %s: %s, %d inline comment(s), %d API request(s)",
                job.coalesce_key,
                pull.head_sha[:12],
                result.conclusion,
                result.comments_posted,
                client.counter.requests,
                extra={**context, "conclusion": result.conclusion, "api_requests": client.counter.requests},
            )
        return result


def _review(job: ReviewJob, pull: PullInfo, client: InstallationClient, deps: ReviewDeps) -> PublishResult | None:
    options = deps.options
    fetcher = PullFetcher(client, pull, options.fetch)
    target = PullTarget(pull.repo, pull.number, pull.head_sha, pull.labels, job.event, job.rerun)
    assert deps.pacers is not None
    publisher = Publisher(
        client,
        target,
        memory=deps.memory,
        pacer=deps.pacers.for_installation(job.installation_id),
        options=options.publish,
        clock=deps.clock,
    )
    policy: FetchedPolicy | None = None
    if pull.draft:
        # Whether drafts are reviewed is the policy's call: read it before anything else.
        policy = fetcher.policy([])
        if not _policy(policy).review_drafts:
            log.info("draft %s not reviewed (review_drafts: false)", job.coalesce_key)
            return None
    files = fetcher.files()
    try:
        check_diff_size(files.files, options.budget)
    except BudgetExceeded as exc:
        _over_budget(job, publisher, exc)
        return None
    touching = touches_images(files.files)
    if touching:
        publisher.start()
    if policy is None or (not policy.changed and _touches_policy(files)):
        policy = fetcher.policy(files.files)
    commits = fetcher.commits(files.files) if touching else FetchedCommits(None)
    splits = fetcher.split_files(files.files) if touching else None
    change = assemble(files, policy, commits, splits)
    effective = _policy(policy)
    ctx = AnalysisContext(
        today=deps.clock().date(),
        head_sha=pull.head_sha,
        # Reviews are fetched only when change control can need them; None = not looked up.
        approvals=_approvals(client, pull, effective) if touching and effective.critical_images else None,
        issue_state=_IssueStates(client, pull.repo),
        offline=options.offline or deps.registry is None,
        resolver=deps.registry,
        manifests=deps.manifests.with_fetch(partial(_k8s_io_file, client)) if deps.manifests else None,
    )
    try:
        scope = f"{len(files.files)} changed files"
        analysis = within_deadline(options.budget.seconds, scope, partial(deps.analyzer, change, ctx))
    except BudgetExceeded as exc:
        _over_budget(job, publisher, exc)
        return None
    facts = ReviewFacts(
        head_sha=pull.head_sha,
        diff_source=_diff_source(files),
        policy_source=_policy_source(policy, pull),
        listed_commits=[(c.sha or "", c.subject) for c in commits.commits or []],
    )
    labels = LabelConfig(effective.labels.staging_image, effective.labels.error)
    return publisher.finish(analysis, files=files.files, local_paths=files.local_paths, facts=facts, labels=labels)


def _over_budget(job: ReviewJob, publisher: Publisher, exc: BudgetExceeded) -> None:
    """Complete the check run neutral, naming what was too large; the worker moves on."""
    run_id = publisher.fail("Too large to review", exc.summary)
    log.warning(
        "review of %s over budget (%s); check run %s closed as neutral",
        job.coalesce_key,
        exc.what,
        run_id,
        extra={"delivery_id": job.delivery_id, "pr": job.coalesce_key},
    )


def _touches_policy(files: FetchedFiles) -> bool:
    return any(POLICY_PATH in (f.old_path, f.new_path) for f in files.files)


def _policy(fetched: FetchedPolicy) -> Policy:
    """The base branch's effective policy (the defaults under the file, if any)."""
    return load_policy(fetched.base_text)


def _diff_source(files: FetchedFiles) -> str:
    if files.route == "diff":
        return "the pull request's diff"
    local = f"; {len(files.local_paths)} large file(s) diffed here from their blobs" if files.local_paths else ""
    return f"the files API (GitHub would not render the diff){local}"


def _policy_source(policy: FetchedPolicy, pull: PullInfo) -> str:
    base = pull.base_ref or pull.base_sha[:12]
    if policy.base_text is not None:
        where = f"`{POLICY_PATH}` on `{base}`"
    else:
        where = f"the defaults (no `{POLICY_PATH}` on `{base}`)"
    if policy.changed:
        where += "; this pull request changes the policy file, and its version does not apply to itself"
    return where


def _approvals(client: InstallationClient, pull: PullInfo, policy: Policy) -> list[Approval]:
    """Approving reviews for change control: each reviewer's latest decisive review, with the owner
    teams (``@org/team`` in ``critical_images``) the reviewer belongs to."""
    reviews = paginate(client.raw, f"/repos/{pull.repo}/pulls/{pull.number}/reviews", 3_000)
    latest: dict[str, dict[str, Any]] = {}
    for review in reviews:
        state = str(review.get("state") or "")
        login = str((review.get("user") or {}).get("login") or "")
        if login and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = review
    teams = sorted({o.lstrip("@") for owners in policy.critical_images.values() for o in owners if "/" in o})
    approvals = []
    for login, review in latest.items():
        if review.get("state") != "APPROVED":
            continue
        member_of = tuple(t for t in teams if _in_team(client, t, login))
        approvals.append(Approval(login, str(review.get("commit_id") or "") or None, member_of))
    return approvals


def _in_team(client: InstallationClient, team: str, login: str) -> bool:
    """Whether ``login`` is an active member of ``org/team`` (needs the App's members:read permission)."""
    org, _, slug = team.partition("/")
    response = client.raw.request(
        "GET", f"/orgs/{org}/teams/{slug}/memberships/{login}", expect=(200, 403, 404)
    )
    if response.status_code == 403:
        log.warning("cannot read the members of @%s (the App needs the members:read permission)", team)
    return response.status_code == 200 and response.json().get("state") == "active"


class _IssueStates:
    """Tracking issue states for exemptions, asked once per issue and review (None: unknown)."""

    def __init__(self, client: InstallationClient, repo: str) -> None:
        self._client = client
        self._repo = repo
        self._seen: dict[int, IssueState | None] = {}

    def __call__(self, number: int) -> IssueState | None:
        if number not in self._seen:
            response = self._client.raw.request("GET", f"/repos/{self._repo}/issues/{number}", expect=(200, 404, 410))
            state = response.json().get("state") if response.status_code == 200 else None
            self._seen[number] = "open" if state == "open" else "closed" if state == "closed" else None
        return self._seen[number]


# ---------------------------------------------------------------------------------------------
# Giving up


def failure_text(job: ReviewJob, exc: BaseException) -> tuple[str, str]:
    """The check run's title and summary for a review that will not be tried again."""
    again = "Push a new commit or comment `/image-review recheck` on the pull request to try again."
    if isinstance(exc, JobSuperseded):
        return (
            "Superseded by a newer push",
            "A newer commit was pushed while this one was being reviewed. The review of the newest commit is "
            "the one that counts; this commit was not judged.",
        )
    if isinstance(exc, WorkerLost):
        reason = f"the review's worker process stopped before it finished ({exc})."
    elif isinstance(exc, RetriesExhausted):
        reason = f"GitHub kept failing: {exc.message}."
    else:
        detail = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
        reason = f"an unexpected error ({type(exc).__name__}{': ' + detail if detail else ''})."
    return (
        "Review could not be completed",
        f"image-review gave up on this commit after retrying: {reason}\n\n"
        f"Nothing was concluded about `{job.head_sha[:12] or 'this commit'}`. {again}",
    )


def mark_failed(job: ReviewJob, exc: BaseException, deps: ReviewDeps) -> None:
    """Close the head's check run as neutral with the reason; never raises (it is the last word)."""
    if is_staging_job(job):
        # No check run belongs to a staging-loop run; the next push or day runs it again.
        log.error("staging loop of %s gave up: %s: %s", job.repo, type(exc).__name__, exc)
        return
    title, summary = failure_text(job, exc)
    try:
        with deps.github(job.installation_id) as client:
            head = job.head_sha or resolve_pull(client, job).head_sha
            target = PullTarget(job.repo, job.pr_number, head, None, job.event, rerun=True)
            assert deps.pacers is not None
            publisher = Publisher(
                client,
                target,
                memory=deps.memory,
                pacer=deps.pacers.for_installation(job.installation_id),
                options=deps.options.publish,
                clock=deps.clock,
            )
            run_id = publisher.fail(title, summary)
            log.warning(
                "review of %s at %s given up (%s); check run %s closed as neutral",
                job.coalesce_key,
                head[:12],
                type(exc).__name__,
                run_id,
                extra={"delivery_id": job.delivery_id, "pr": job.coalesce_key},
            )
    except (AppAuthError, PullNotFound) as err:
        log.error("could not close the check run of %s: %s", job.coalesce_key, err)
    except Exception:
        log.exception("could not close the check run of %s after giving up", job.coalesce_key)


# ---------------------------------------------------------------------------------------------
# Queue wiring


def _handle(deps: ReviewDeps, job: ReviewJob) -> None:
    if is_staging_job(job):
        handle_staging_job(job, deps.staging_deps())
        return
    review_pull_request(job, deps)


def job_handler(deps: ReviewDeps) -> JobHandler:
    """The queue's handler: ``build_queue(settings, job_handler(deps), on_give_up=give_up_hook(deps))``."""
    return partial(_handle, deps)


def give_up_hook(deps: ReviewDeps) -> GiveUpHook:
    return partial(mark_failed, deps=deps)
