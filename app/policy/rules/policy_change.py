"""The policy file itself: IR015 policy-weakened, IR016 policy-invalid (and IR012 for its exemptions).

The policy is read from the base branch, so a pull request cannot relax the rules that judge it.
When it changes the policy file, the effective-policy difference goes to the summary, each
weakening is a notice addressed to the policy owners, and errors in the new file are reported on
its lines.
"""

from __future__ import annotations

from collections import defaultdict

from app.policy.catalog import EXEMPTION_INVALID, POLICY_INVALID, POLICY_WEAKENED, RuleMeta
from app.policy.config import Policy, default_policy, load_policy
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.policy_diff import PolicyChange, diff_policies, to_markdown
from app.policy.yamlsource import PolicyIssue, load_located

RULES: tuple[RuleMeta, ...] = (POLICY_WEAKENED, POLICY_INVALID)


def policy_file_changed(inp: RuleInput) -> bool:
    path = inp.context.policy_path
    return inp.context.policy_changed or any(path in (f.new_path, f.old_path) for f in inp.files)


def _deleted(inp: RuleInput) -> bool:
    path = inp.context.policy_path
    return any(f.old_path == path and f.new_path is None for f in inp.files)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    ctx = inp.context
    if not policy_file_changed(inp):
        out.drafts.extend(issue_drafts(inp.policy.issues))
        return out
    if ctx.policy_text_new is None and not _deleted(inp):
        out.notes.append(
            f"`{ctx.policy_path}` changes in this pull request, but its new text was not available: "
            "the effective-policy difference was not computed."
        )
        return out
    new = load_policy(ctx.policy_text_new, ctx.policy_path) if ctx.policy_text_new is not None else default_policy()
    # Problems in the new file are reported on its lines, which are in this diff.
    out.drafts.extend(issue_drafts(new.issues))
    # The base policy as given, or rebuilt from its text so both sides merge over the same defaults.
    old = load_policy(ctx.policy_text_old, ctx.policy_path) if ctx.policy_text_old is not None else inp.policy
    changes = diff_policies(old, new)
    out.notes.append(to_markdown(changes, ctx.policy_path))
    out.drafts.extend(_weakening_drafts(inp, changes))
    return out


def issue_drafts(issues: tuple[PolicyIssue, ...]) -> list[Draft]:
    drafts: list[Draft] = []
    for issue in issues:
        meta = EXEMPTION_INVALID if issue.key.startswith("exemptions") else POLICY_INVALID
        text = f"{issue.key}: {issue.message}" if issue.key else issue.message
        stop = "" if text.endswith((".", "?", "!")) else "."
        drafts.append(Draft(
            meta, issue.source, issue.line, f"{text}{stop} This entry is ignored until it is fixed.",
            f"{issue.key}|{issue.message}",
        ))
    return drafts


def _addressees(policy: Policy) -> str:
    owners = list(policy.policy_owners)
    if not owners:
        for group in policy.critical_images.values():
            owners += [o for o in group if o not in owners]
    return " ".join(owners) if owners else "Maintainers"


def _weakening_drafts(inp: RuleInput, changes: list[PolicyChange]) -> list[Draft]:
    by_key: dict[str, list[PolicyChange]] = defaultdict(list)
    for c in changes:
        if c.weakens:
            by_key[c.key].append(c)
    if not by_key:
        return []
    ctx = inp.context
    located = load_located(ctx.policy_text_new, ctx.policy_path) if ctx.policy_text_new is not None else None
    who = _addressees(inp.policy)
    drafts: list[Draft] = []
    for key, items in by_key.items():
        line = located.lines.get((key,)) if located is not None else None
        listing = "; ".join(c.text for c in items)
        drafts.append(Draft(
            POLICY_WEAKENED, ctx.policy_path, line,
            f"{who}: this pull request weakens the image policy: {listing}. It takes effect once merged; "
            "please review it.",
            f"{key}|{listing}",
        ))
    return drafts
