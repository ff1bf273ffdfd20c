"""Change control: IR014 critical-image-approval.

A pull request that changes a reference to a critical image (``critical_images`` in the policy)
needs an approving review from one of that image's owners on the current head commit.  The rule is
marked ``action_required`` so the App can set the check run's conclusion accordingly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from app.core.models import RefChange
from app.policy.catalog import CRITICAL_IMAGE_APPROVAL, RuleMeta
from app.policy.context import Approval, Draft, RuleInput, RuleOutput
from app.policy.images import critical_patterns

RULES: tuple[RuleMeta, ...] = (CRITICAL_IMAGE_APPROVAL,)


def owner_approved(owner: str, approval: Approval) -> bool:
    """``@login`` matches the reviewer; ``@org/team`` matches one of the reviewer's teams."""
    name = owner.lstrip("@").lower()
    if "/" in name:
        return any(t.lstrip("@").lower() == name for t in approval.teams)
    return approval.login.lstrip("@").lower() == name


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    if not inp.policy.critical_images:
        return out
    changed: dict[str, list[RefChange]] = defaultdict(list)
    for ref in inp.refs:
        if ref.in_comment or ref.partial:
            continue
        for pattern in critical_patterns(inp.policy, ref):
            changed[pattern].append(ref)
    ctx = inp.context
    for pattern, refs in changed.items():
        owners = inp.policy.critical_images[pattern]
        anchor = next((r for r in refs if r.side == "added"), refs[0])
        who = ", ".join(owners)
        if ctx.approvals is None:
            out.drafts.append(Draft(
                CRITICAL_IMAGE_APPROVAL, anchor.path, anchor.line,
                f"`{anchor.reference}` is a critical image (`{pattern}`); the pull request needs an approving "
                f"review from one of {who}. (Approvals were not checked here.)",
                pattern, severity="notice", side=anchor.side, commit=anchor.commit,
            ))
            continue
        current, stale = _approvals(owners, ctx.approvals, ctx.head_sha)
        if current:
            out.notes.append(f"Critical image `{pattern}` approved by {', '.join('@' + a for a in current)}.")
            continue
        head = f" ({ctx.head_sha[:12]})" if ctx.head_sha else ""
        extra = (
            f" Earlier approvals by {', '.join('@' + a for a in stale)} were for an older commit."
            if stale else ""
        )
        out.drafts.append(Draft(
            CRITICAL_IMAGE_APPROVAL, anchor.path, anchor.line,
            f"`{anchor.reference}` is a critical image (`{pattern}`): one of {who} must approve this pull "
            f"request at its current head commit{head}.{extra}",
            pattern, side=anchor.side, commit=anchor.commit,
        ))
    if ctx.approvals is not None and ctx.head_sha is None and changed:
        out.notes.append("The head commit was not known; approvals of any commit were accepted.")
    return out


def _approvals(
    owners: Sequence[str], approvals: Sequence[Approval], head_sha: str | None
) -> tuple[list[str], list[str]]:
    current: list[str] = []
    stale: list[str] = []
    for approval in approvals:
        if not any(owner_approved(o, approval) for o in owners):
            continue
        if head_sha is None or approval.commit_id == head_sha:
            current.append(approval.login)
        else:
            stale.append(approval.login)
    return current, stale
