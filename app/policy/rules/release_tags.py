"""IR018 release-tag-missing, IR019 release-digest-mismatch, IR020 registry-unverified.

Release references added by the pull request, judged by what their registries said (gathered
before evaluation; nothing here when registry verification is off). A registry that could not
answer is a notice naming it, never an error: an outage must not block a merge.
"""

from __future__ import annotations

from collections import Counter

from app.core.models import RefChange
from app.policy.catalog import REGISTRY_UNVERIFIED, RELEASE_DIGEST_MISMATCH, RELEASE_TAG_MISSING, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.evidence import RegistryEvidence, ReleaseTagCheck, unverified_reason

RULES: tuple[RuleMeta, ...] = (RELEASE_TAG_MISSING, RELEASE_DIGEST_MISMATCH, REGISTRY_UNVERIFIED)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    evidence = inp.context.registry
    if evidence is None:
        return out
    for ref in inp.refs:
        if not inp.judged(ref) or ref.partial or ref.templated:
            continue
        result = evidence.release_tags.get(ref.normalized())
        if result is not None:
            draft = _draft(inp, ref, result)
            if draft is not None:
                out.drafts.append(draft)
    out.notes.extend(summary_notes(evidence))
    return out


def _draft(inp: RuleInput, ref: RefChange, result: ReleaseTagCheck) -> Draft | None:
    production = inp.policy.is_production(ref.path)
    if result.outcome in ("missing-tag", "missing-digest"):
        message = (
            f"`{ref.reference}` does not exist: {result.message}. Every node that pulls it fails to start; "
            "check the version (a typo?), or wait until the release is promoted."
        )
        return Draft(RELEASE_TAG_MISSING, ref.path, ref.line, message, ref.normalized(), commit=ref.commit,
                     production=production)
    if result.outcome == "digest-mismatch":
        message = (
            f"`{ref.reference}`: {result.message}. Runtimes pull the digest, so the tag does not say what "
            "runs; correct the tag or the digest."
        )
        return Draft(RELEASE_DIGEST_MISMATCH, ref.path, ref.line, message, ref.normalized(), commit=ref.commit,
                     production=production)
    if result.outcome == "unknown":
        message = (
            f"`{ref.reference}` was not verified: {unverified_reason(result.reason, ref.registry)}. "
            "Whether its tag exists and matches its digest (IR018, IR019) is unknown; this notice does not fail "
            "the check."
        )
        return Draft(REGISTRY_UNVERIFIED, ref.path, ref.line, message, ref.normalized(), commit=ref.commit)
    return None


def summary_notes(evidence: RegistryEvidence) -> list[str]:
    """What was verified, and which registries could not be asked (stable text: no timings)."""
    notes: list[str] = []
    compared, checked = len(evidence.promotion), len(evidence.release_tags)
    if compared or checked:
        notes.append(
            f"Registry verification: {compared} staging reference(s) compared with their release image, "
            f"{checked} release reference(s) checked."
        )
    failed: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    for p in evidence.promotion.values():
        if p.verdict == "unknown":
            host = p.failed_registry or p.release_ref.registry
            failed[host] += 1
            reasons.setdefault(host, unverified_reason(p.reason, host))
    for c in evidence.release_tags.values():
        if c.outcome == "unknown":
            failed[c.ref.registry] += 1
            reasons.setdefault(c.ref.registry, unverified_reason(c.reason, c.ref.registry))
    for host, count in sorted(failed.items()):
        notes.append(
            f"Registry verification incomplete: {reasons[host]}; {count} reference(s) not verified. "
            "This does not fail the check."
        )
    for host, why in sorted(evidence.not_asked.items()):
        notes.append(f"Registry `{host}` was not asked: {why}.")
    return notes
