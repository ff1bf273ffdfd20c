"""IR001 staging-image: no staging image may be added on a production path."""

from __future__ import annotations

from app.core.models import RefChange
from app.core.references import ImageRef
from app.policy.catalog import STAGING_IMAGE, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput, replace_in_line
from app.policy.evidence import PromotionEvidence, suggested_release, unverified_reason
from app.policy.tags import is_release_shaped

RULES: tuple[RuleMeta, ...] = (STAGING_IMAGE,)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    allowed = 0
    for ref in inp.refs:
        if not inp.judged(ref) or ref.partial or inp.ref_class(ref) != "staging":
            continue
        if inp.policy.is_production(ref.path):
            out.drafts.append(_finding(inp, ref))
        else:
            allowed += 1
    if allowed:
        # Allowed by policy (tests, CI, docs, tooling): no finding, but the summary says so.
        out.notes.append(
            f"{allowed} staging image reference(s) added on paths where the policy allows staging images "
            "(staging_allowed_paths)."
        )
    return out


def _finding(inp: RuleInput, ref: RefChange) -> Draft:
    release = suggested_release(inp.policy, ref)
    evidence = inp.context.registry.promotion.get(ref.normalized()) if inp.context.registry else None
    if release is not None and evidence is not None:
        message, suggestion = _with_evidence(inp, ref, evidence)
    elif release is not None:
        replacement = _written(release)
        suggestion = replace_in_line(inp.lines.text(ref.path, ref.line), ref.reference, replacement)
        message = (
            f"`{ref.reference}` is a staging image; production paths must use the promoted release image. "
            f"Use `{replacement}` (check that tag {ref.tag} has been promoted), or add a tracked exemption."
        )
    else:
        suggestion = None
        message = _promote_first(inp, ref)
    # A line with a one-click fix keeps its own comment; the same staging image without one, written in
    # seven manifests, is one cause (one comment naming the other places).
    return Draft(
        STAGING_IMAGE, ref.path, ref.line, message, ref.normalized(), suggestion=suggestion, commit=ref.commit,
        production=True, group_key=None if suggestion else ref.normalized(),
        group_about=f"of the staging image `{ref.reference}`",
    )


def _written(ref: ImageRef) -> str:
    return ref.raw or ref.canonical()


def _promote_first(inp: RuleInput, ref: RefChange) -> str:
    release_name = inp.policy.mapper.release_name(ref.name)
    release_location = inp.policy.mapper.release_location(ref.name)
    if is_release_shaped(ref.tag):
        why = ""  # the version is fine; what is missing is a known place it was promoted to
    else:
        why = f" (tag `{ref.tag}` is not a release version)" if ref.tag else " (it has no release version tag)"
    if release_name or release_location:
        where = f"it would be promoted to `{release_name or release_location}`"
    else:
        where = "no release location is known for this staging location"
    return (
        f"`{ref.reference}` is a staging image{why}; production paths must use a promoted release "
        f"image. Promote the build first ({where}), then reference the release image by its version, "
        "or add a tracked exemption."
    )


def _with_evidence(inp: RuleInput, ref: RefChange, evidence: PromotionEvidence) -> tuple[str, str | None]:
    """The message and suggestion once the registries (or the promoter's manifest) have answered.

    Only a release that is the same build gets a suggestion; a missing or different release
    would break or silently change what runs, so the comment says what is missing instead.
    """
    staged = f"`{ref.reference}` is a staging image; production paths must use"
    replacement = _written(evidence.release_ref)
    line = inp.lines.text(ref.path, ref.line)
    if evidence.verdict == "promoted":
        source = (
            f"listed in kubernetes/k8s.io `{evidence.manifest}`"
            if evidence.manifest
            else f"checked in {evidence.release_ref.registry}"
        )
        message = (
            f"{staged} the promoted release image. Use `{replacement}`: it is the same build "
            f"(same digest `{evidence.release_digest}`, {source})."
        )
        return message, replace_in_line(line, ref.reference, replacement)
    if evidence.verdict == "not-promoted":
        message = (
            f"{staged} a promoted release image, and this build has not been promoted: {evidence.reason}. "
            "Promote it first, then use the release image, or add a tracked exemption."
        )
        return message, None
    if evidence.verdict == "different-build":
        message = (
            f"{staged} a promoted release image, but `{_written(evidence.release_ref)}` is not this build: "
            f"{evidence.reason}. Switching to it would ship something other than what was tested; promote this "
            "build (or test the release), or add a tracked exemption."
        )
        return message, None
    message = (
        f"{staged} the promoted release image. Use `{replacement}` "
        f"(unverified: {unverified_reason(evidence.reason, evidence.failed_registry)}), or add a tracked exemption."
    )
    return message, replace_in_line(line, ref.reference, replacement)

