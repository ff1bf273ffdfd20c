"""The staging loop of one repository: the dashboard issue, switch-back pull requests and notes
on tracking issues, run on a push to the default branch and on a daily schedule.

A run reads the default branch's head (one request) and the policy file there (one request);
a repository that opted into neither ``dashboard`` nor ``switch_back`` costs nothing more. The
tree is read from one archive only when the head is new to this process; the registries are
asked every run (a promotion happens without any push). Writes happen only for what changed.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial

from app.analysis.audit import AuditReport, audit_blobs
from app.analysis.staging_board import StagingBoard, build_board
from app.analysis.switch_back import Grouping, group_name, plan_switch_back, slug_for
from app.github import switch_back
from app.github.client import GitHubApp, InstallationClient
from app.github.dashboard import (
    find_dashboard,
    is_current,
    request_lines,
    requested_slugs,
    sync_dashboard,
    tracking_owners,
)
from app.github.git_data import GitData
from app.github.loop_memory import LocalLoopStore, LoopMemory, LoopStore
from app.github.tracking_notes import post_notes
from app.jobs.consumer import PeriodicHook
from app.jobs.model import ReviewJob
from app.policy.config import POLICY_PATH, Policy, load_policy
from app.registry.promotion import PromoterManifestSource
from app.registry.verify import K8S_IO_REF, K8S_IO_REPO, HostResolver
from app.report.dashboard import BoardLinks, board_markdown

log = logging.getLogger(__name__)

ClientFactory = Callable[[int], InstallationClient]
MAX_CACHED_TREES = 64


@dataclass(frozen=True, slots=True)
class TreeAudit:
    report: AuditReport
    texts: dict[str, str]  # the files holding staging references, for the switch-back edits


class TreeCache:
    """Audits of recent default-branch heads, so a run on an unchanged head reads no tree."""

    def __init__(self, size: int = MAX_CACHED_TREES) -> None:
        self._items: OrderedDict[tuple[str, str, date], TreeAudit] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, date]) -> TreeAudit | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, date], value: TreeAudit) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass
class LoopDeps:
    github: ClientFactory
    registry: HostResolver | None = None
    manifests: PromoterManifestSource | None = None  # the image promoter's images.yaml files
    store: LoopStore = field(default_factory=LocalLoopStore)
    trees: TreeCache = field(default_factory=TreeCache)
    web_url: str = "https://github.com"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def repo_lock(self, repo: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(repo, threading.Lock())


@dataclass
class LoopResult:
    repo: str
    head: str | None = None
    opted_in: bool = False
    dashboard: str = "off"
    switch_backs: list[switch_back.Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    api_requests: int = 0


def run_for_repository(deps: LoopDeps, installation_id: int, repo: str, default_branch: str) -> LoopResult:
    # A push's run and the daily run of one repository never overlap in a process: two would
    # both find no dashboard and create one each.
    with deps.repo_lock(repo), deps.github(installation_id) as client:
        result = run_staging_loop(client, repo, default_branch, deps)
        result.api_requests = client.counter.requests
    log.info("staging loop of %s: dashboard %s, %d switch-back(s), %d note(s), %d API request(s)", repo,
             result.dashboard, len(result.switch_backs), len(result.notes), result.api_requests)
    return result


def run_staging_loop(client: InstallationClient, repo: str, default_branch: str, deps: LoopDeps) -> LoopResult:
    result = LoopResult(repo)
    git = GitData(client.raw, repo)
    head = git.branch_head(default_branch)
    if head is None:
        return result
    result.head = head
    policy = load_policy(client.raw.file_text(repo, POLICY_PATH, head))
    if not (policy.dashboard or policy.switch_back):
        return result
    result.opted_in = True
    today = deps.clock().date()
    tree = _tree_audit(git, repo, head, policy, today, deps.trees)
    manifests = deps.manifests.with_fetch(partial(_k8s_io_file, client)) if deps.manifests else None
    board = build_board(tree.report, policy, deps.registry, today, manifests)
    remembered = deps.store.load(repo)
    memory = remembered or LoopMemory()
    group = grouping(policy)
    promoted = [(name, slug_for(name)) for name in
                (group_name(r.ref.name or r.ref.reference, group) for r in board.rows
                 if r.promotion.state == "promoted")]
    # Without switch_back, the dashboard's ticked boxes ask for switch-backs one image at a time.
    offered = policy.dashboard and not policy.switch_back and bool(promoted)
    requested = _ticked(client, repo, memory) if offered else set()
    if policy.switch_back or requested:
        result.switch_backs = _switch_backs(client, repo, default_branch, head, board, tree, memory, policy,
                                            known=remembered is not None,
                                            only=None if policy.switch_back else requested)
    if policy.dashboard:
        ticked = requested | {b.removeprefix(switch_back.BRANCH_PREFIX) for b in memory.switch_backs}
        extra = (lambda _b: request_lines(promoted, ticked)) if offered else None
        links = BoardLinks(f"{deps.web_url}/{repo}/blob/{head}")
        key = board_markdown(board, links, extra=extra)
        body = key
        if not board.empty and not is_current(memory, key, board.empty, head):
            # The owners (tracking issues' assignees) are looked up only when the rows changed.
            owners = tracking_owners(client.raw, repo, [r.item.issue for r in board.rows if r.item.issue])
            body = board_markdown(board, replace(links, owners=owners), extra=extra)
        result.dashboard = sync_dashboard(client.raw, repo, body, board.empty, memory, commit=head, key=key)
    result.notes = post_notes(client.raw, repo, board, memory)
    deps.store.save(repo, memory)
    return result


def _k8s_io_file(client: InstallationClient, path: str) -> str | None:
    return client.raw.file_text(K8S_IO_REPO, path, K8S_IO_REF)


def _tree_audit(git: GitData, repo: str, head: str, policy: Policy, today: date, cache: TreeCache) -> TreeAudit:
    key = (repo, head, today)
    cached = cache.get(key)
    if cached is not None:
        return cached
    blobs = dict(git.files_at(head))
    report = audit_blobs(blobs.items(), head, policy, today)
    texts = {r.path: blobs[r.path].decode("utf-8", "replace") for r in report.staging_refs}
    tree = TreeAudit(report, texts)
    cache.put(key, tree)
    return tree


def grouping(policy: Policy) -> Grouping:
    return "project" if policy.switch_back_group == "project" else "image"


def _ticked(client: InstallationClient, repo: str, memory: LoopMemory) -> set[str]:
    found = find_dashboard(client.raw, repo, memory.dashboard_number)
    return requested_slugs(found.body) if found is not None and found.state == "open" else set()


def _switch_backs(client: InstallationClient, repo: str, default_branch: str, head: str, board: StagingBoard,
                  tree: TreeAudit, memory: LoopMemory, policy: Policy, *, known: bool,
                  only: set[str] | None) -> list[switch_back.Outcome]:
    group = grouping(policy)
    plan = plan_switch_back(board, tree.texts.get, group)
    if only is not None:
        plan.changes = [c for c in plan.changes if c.slug in only]
    present = {switch_back.BRANCH_PREFIX + slug_for(group_name(r.ref.name or r.ref.reference, group))
               for r in board.rows}
    return switch_back.sync_switch_backs(client.raw, repo, default_branch, head, plan, present, tree.texts, memory,
                                         known=known)


# ---------------------------------------------------------------------------------------------
# Queue wiring: a push to the default branch and the daily schedule ask for a run as a job.

STAGING_EVENTS = frozenset({"push", "schedule", "dashboard"})
STAGING_HOOK = "staging-loop"
DAILY = 24 * 3600.0


def staging_job(installation_id: int, repo: str, default_branch: str, head_sha: str, delivery_id: str,
                event: str) -> ReviewJob:
    """A staging-loop run as a queue job: pull request number 0, so a newer push supersedes a queued one."""
    return ReviewJob(installation_id=installation_id, repo=repo, pr_number=0, head_sha=head_sha,
                     delivery_id=delivery_id, event=event, base_ref=default_branch)


def is_staging_job(job: ReviewJob) -> bool:
    return job.pr_number == 0 and job.event in STAGING_EVENTS


def handle_staging_job(job: ReviewJob, deps: LoopDeps) -> LoopResult:
    return run_for_repository(deps, job.installation_id, job.repo, job.base_ref)


def scheduled_jobs(app: GitHubApp, day: date) -> list[ReviewJob]:
    """One job per repository of every installation; the delivery id makes it once a day."""
    jobs = []
    installations = app.auth.app_request("GET", "/app/installations", params={"per_page": 100}).json()
    for installation in installations:
        installation_id = int(installation["id"])
        with app.client(installation_id) as client:
            listed = client.raw.request("GET", "/installation/repositories", params={"per_page": 100}).json()
        for repo in listed.get("repositories", []):
            name = str(repo["full_name"])
            jobs.append(staging_job(installation_id, name, str(repo.get("default_branch") or "main"), "",
                                    f"schedule:{day.isoformat()}:{name}", "schedule"))
    return jobs


def schedule_hook(app: GitHubApp, deps: LoopDeps, interval: float = DAILY,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> PeriodicHook:
    """The periodic task running every repository's staging loop (about once a day).

    It runs in the ticker's thread, one repository after the other, so a day's runs never crowd
    out reviews on the queue; a repository that fails is logged and tried again the next day.
    """

    def run() -> None:
        for job in scheduled_jobs(app, clock().date()):
            try:
                handle_staging_job(job, deps)
            except Exception:
                log.exception("staging loop of %s failed", job.repo)

    return PeriodicHook(STAGING_HOOK, interval, run)
