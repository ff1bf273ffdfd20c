"""The pure analysis step: a change (diff, commits, policy text) in, an Analysis out.

Imports nothing from Flask, PyGithub or the queue: the CLI, the App and the tests share it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from app.core.classify import default_classifier
from app.core.diffs import Commit, FileDiff
from app.core.extract import FileReader, extract
from app.core.models import Analysis, RefChange
from app.core.netrefs import net_references
from app.policy import POLICY_PATH, Approval, CommitInput, EvalContext, Policy, evaluate, load_policy
from app.policy.context import IssueState, IssueStateLookup
from app.policy.evidence import RegistryEvidence
from app.policy.rules.exemptions import tracking_issues
from app.registry.promotion import PromoterManifestSource
from app.registry.verify import HostResolver, gather

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ChangeSet:
    """What the fetch step hands to analysis."""

    files: list[FileDiff]  # the whole change (GitHub's "Files changed")
    commits: list[Commit] | None = None  # None when not fetched or not available
    policy_text: str | None = None  # .github/image-review.yml at the base; None = defaults
    head_policy_text: str | None = None  # the same file at the head, when the change touches it
    reader: FileReader | None = None  # whole files, for split references (git mode)
    not_analysed: list[str] = field(default_factory=list)
    # Reads a file at a commit (git mode), for split references inside one commit's diff.
    commit_reader: Callable[[Commit], FileReader | None] | None = None
    # An already loaded policy (the CLI's --config); wins over policy_text.
    policy: Policy | None = None
    # True when ``files`` are the commits' diffs one after another (a mailbox), not one diff of the change.
    files_are_commits: bool = False
    # Extra lines for the summary from the fetch step (e.g. files read whole for split references).
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AnalysisContext:
    """Facts from outside the diff; the App fills what it can, the CLI less."""

    today: date = field(default_factory=date.today)
    head_sha: str | None = None
    # Approving reviews as (login, commit sha) or Approval; None when unknown (the CLI).
    approvals: list[tuple[str, str]] | list[Approval] | None = None
    issue_state: IssueStateLookup | None = None
    offline: bool = True  # no registry lookups
    # Registry verification (used when not offline and the policy enables it): the registries,
    # and the image promoter's manifests as a second, registry-free source.
    resolver: HostResolver | None = None
    manifests: PromoterManifestSource | None = None


def touches_images(files: list[FileDiff]) -> bool:
    """Cheap test the App uses to decide whether commits are worth fetching."""
    return bool(extract(files, default_classifier()))


def effective_policy(change: ChangeSet) -> Policy:
    return change.policy if change.policy is not None else load_policy(change.policy_text)


def analyze(change: ChangeSet, ctx: AnalysisContext | None = None) -> Analysis:
    ctx = ctx or AnalysisContext()
    policy = effective_policy(change)
    classifier = policy.classifier
    commits = _commit_inputs(change, policy) if change.commits is not None else None
    if change.files_are_commits and commits is not None:
        refs = net_references(c.refs for c in commits)
    else:
        refs = extract(change.files, classifier, change.reader)
    issues = _issue_states(change, policy, ctx)
    context = _eval_context(change, ctx, _registry_evidence(refs, policy, ctx), issues)
    evaluation = evaluate(refs, change.files, commits, policy, context)
    analysis = evaluation.to_analysis(
        refs, not_analysed=change.not_analysed, files_analysed=sum(1 for f in change.files if not f.binary)
    )
    analysis.summary_notes = [*change.notes, *analysis.summary_notes]
    if commits is not None:
        # Commit-level references (with their sha) show what the net diff hides: a staging
        # image added in one commit and removed in a later one.
        analysis.commit_references = [r for c in commits for r in c.refs]
    return analysis


def _commit_inputs(change: ChangeSet, policy: Policy) -> list[CommitInput]:
    classifier = policy.classifier
    out = []
    for c in change.commits or []:
        reader = change.commit_reader(c) if change.commit_reader else None
        out.append(CommitInput(c.sha, c.subject, c.files, extract(c.files, classifier, reader, c.sha)))
    return out


def _registry_evidence(refs: Sequence[RefChange], policy: Policy, ctx: AnalysisContext) -> RegistryEvidence | None:
    """What the registries say, when verification is on; None (rules as offline) otherwise."""
    if ctx.offline or ctx.resolver is None or not policy.registry_verification.enabled:
        return None
    try:
        return gather(refs, policy, ctx.resolver, ctx.manifests)
    except Exception:
        # Verification is extra information: a defect in it must not stop the review itself.
        log.exception("registry verification failed; reviewing without it")
        return None


def _issue_states(change: ChangeSet, policy: Policy, ctx: AnalysisContext) -> dict[int, IssueState] | None:
    """The states of the tracking issues the exemptions name, asked before evaluation; None
    when there is no way to ask (the CLI). An issue whose state is unknown is left out."""
    if ctx.issue_state is None:
        return None
    states: dict[int, IssueState] = {}
    for number in sorted(tracking_issues(change.files, policy)):
        state = ctx.issue_state(number)
        if state is not None:
            states[number] = state
    return states


def _eval_context(
    change: ChangeSet, ctx: AnalysisContext, registry: RegistryEvidence | None, issues: dict[int, IssueState] | None
) -> EvalContext:
    policy_changed = any(POLICY_PATH in (f.old_path, f.new_path) for f in change.files)
    approvals = None if ctx.approvals is None else [
        a if isinstance(a, Approval) else Approval(a[0], a[1]) for a in ctx.approvals
    ]
    return EvalContext(
        today=ctx.today,
        issue_states=issues,
        approvals=approvals,
        head_sha=ctx.head_sha,
        policy_text_old=change.policy_text,
        policy_text_new=change.head_policy_text,
        policy_changed=policy_changed,
        registry=registry,
    )
