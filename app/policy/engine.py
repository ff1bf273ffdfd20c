"""Run every rule over one pull request and apply the policy's rule settings and exemptions centrally.

    evaluate(refs, files, commits, policy, context) -> Evaluation

Order: rule families produce drafts → disabled rules, ignored paths and severity settings are
applied (including ``outside_production``) → exemptions accept or reject drafts → findings get
fingerprints and are sorted → the findings of grouping rules are merged, one per cause.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.diffs import FileDiff
from app.core.models import Analysis, ChangePattern, CommitSummary, Finding, RefChange, Severity
from app.policy import grouping
from app.policy.catalog import ALL_RULES, BY_CODE, STAGING_IMAGE, RuleMeta
from app.policy.config import Policy
from app.policy.context import CommitInput, Draft, EvalContext, RuleInput
from app.policy.rules import change_pattern, exemptions
from app.policy.rules.families import FINDING_FAMILIES


@dataclass(slots=True)
class Evaluation:
    findings: list[Finding]
    commits: list[CommitSummary]
    change_pattern: ChangePattern
    summary_notes: list[str] = field(default_factory=list)
    # Labels the pull request should carry (policy ``labels``) while these findings stand.
    labels: list[str] = field(default_factory=list)
    # A finding asks a person to act (critical-image approval): the check is ``action_required``.
    action_required: bool = False

    def to_analysis(
        self, references: Sequence[RefChange], *, not_analysed: Sequence[str] = (), files_analysed: int = 0
    ) -> Analysis:
        return Analysis(
            references=list(references),
            findings=list(self.findings),
            commits=list(self.commits),
            change_pattern=self.change_pattern,
            not_analysed=list(not_analysed),
            summary_notes=list(self.summary_notes),
            files_analysed=files_analysed,
        )


def rules_meta() -> tuple[RuleMeta, ...]:
    """Every rule, in code order (for SARIF ``tool.driver.rules`` and the docs)."""
    return ALL_RULES


def is_action_required(finding: Finding) -> bool:
    meta = BY_CODE.get(finding.rule)
    return bool(meta and meta.action_required and finding.exempted_by is None and finding.severity != "notice")


def evaluate(
    refs: Sequence[RefChange],
    files: Sequence[FileDiff],
    commits: Sequence[CommitInput] | None,
    policy: Policy,
    context: EvalContext,
) -> Evaluation:
    """Judge one pull request.  Pure: everything it needs is in the arguments."""
    inp = RuleInput(refs, files, commits, policy, context)
    drafts: list[Draft] = []
    notes: list[str] = []
    for family in FINDING_FAMILIES:
        result = family.check(inp)
        drafts.extend(result.drafts)
        notes.extend(result.notes)
    pattern = change_pattern.analyse(inp)
    drafts.extend(pattern.output.drafts)
    notes.extend(pattern.output.notes)

    configured = [d for d in (_configure(d, policy) for d in drafts) if d is not None]
    exempted = exemptions.apply(configured, inp)
    notes.extend(exempted.notes)
    # IR012/IR013 drafts come from exemptions.apply; they are configured like any other rule.
    final = [d for d in (_configure(d, policy) if d.exempted_by is None else d for d in exempted.drafts)
             if d is not None]
    findings = grouping.group(_fingerprinted(final))
    return Evaluation(
        findings=findings,
        commits=pattern.commits,
        change_pattern=pattern.change_pattern,
        summary_notes=_dedupe(notes),
        labels=_labels(findings, policy),
        action_required=any(is_action_required(f) for f in findings),
    )


def _configure(draft: Draft, policy: Policy) -> Draft | None:
    """Apply the policy's settings for the draft's rule; None when the rule drops it."""
    rule = policy.rule(draft.meta)
    if not rule.enabled:
        return None
    if draft.path and rule.ignore_paths.matches(draft.path):
        return None
    severity: Severity = rule.severity if rule.severity_overridden or draft.severity is None else draft.severity
    if draft.production is False and rule.outside_production is not None:
        if rule.outside_production == "off":
            return None
        severity = rule.outside_production
    draft.severity = severity
    draft.production = None  # settled; a second pass must not apply it again
    return draft


def fingerprint(rule: str, path: str, reference: str, side: str, occurrence: int = 0) -> str:
    """Stable across pushes: the rule, the path and the normalized reference, never the line number.

    ``occurrence`` separates the same reference repeated in one file (0 for the first, left out of
    the hash so the common case is exactly sha1(rule, path, reference, side)).
    """
    key = "\x00".join((rule, path, reference, side))
    if occurrence:
        key += f"\x00{occurrence}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def _fingerprinted(drafts: Sequence[Draft]) -> list[tuple[Draft, Finding]]:
    """Each draft with its finding, in path and line order (grouping needs the draft's group key)."""
    ordered = sorted(drafts, key=lambda d: (d.path, d.line or 0, d.meta.code, d.reference))
    seen: dict[tuple[str, str, str, str], int] = {}
    findings: list[tuple[Draft, Finding]] = []
    for d in ordered:
        key = (d.meta.code, d.path, d.reference, d.side)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        findings.append((d, Finding(
            rule=d.meta.code,
            name=d.meta.name,
            severity=d.severity or d.meta.severity,
            path=d.path,
            line=d.line,
            message=d.message,
            fingerprint=fingerprint(d.meta.code, d.path, d.reference, d.side, occurrence),
            suggestion=d.suggestion,
            commit=d.commit,
            side=d.side,
            exempted_by=d.exempted_by,
        )))
    return findings


def _labels(findings: Sequence[Finding], policy: Policy) -> list[str]:
    states = label_states(findings, policy.labels.staging_image, policy.labels.error)
    return [name for name, on in states.items() if on]


def label_states(findings: Sequence[Finding], staging_image: str | None, error: str | None) -> dict[str, bool]:
    """Each configured label (None: not used) and whether the pull request should carry it:
    ``staging_image`` while a staging-image error stands, ``error`` while any error stands.
    The one computation behind the engine's labels and the labels the App sets and removes."""
    errors = [f for f in findings if f.severity == "error"]
    out: dict[str, bool] = {}
    if staging_image:
        out[staging_image] = any(f.rule == STAGING_IMAGE.code or f.name == STAGING_IMAGE.name for f in errors)
    if error:
        out[error] = out.get(error, False) or bool(errors)
    return out


def _dedupe(items: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
