"""IR001 staging-image: no staging image may be added on a production path."""

from __future__ import annotations

from app.models import RefChange
from app.policy.context import Draft, RuleInput, RuleOutput, replace_in_line
from app.policy.registry import STAGING_IMAGE, RuleMeta
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
    release_name = inp.policy.mapper.release_name(ref.name)
    release_location = inp.policy.mapper.release_location(ref.name)
    suggestion: str | None = None
    if release_name and not ref.templated and is_release_shaped(ref.tag):
        replacement = release_name + f":{ref.tag}" + (f"@{ref.digest}" if ref.digest else "")
        suggestion = replace_in_line(inp.lines.text(ref.path, ref.line), ref.reference, replacement)
        message = (
            f"`{ref.reference}` is a staging image; production paths must use the promoted release image. "
            f"Use `{replacement}` (check that tag {ref.tag} has been promoted), or add a tracked exemption."
        )
    else:
        why = f"tag `{ref.tag}` is not a release version" if ref.tag else "it has no release version tag"
        if release_name or release_location:
            where = f"it would be promoted to `{release_name or release_location}`"
        else:
            where = "no release location is known for this staging location"
        message = (
            f"`{ref.reference}` is a staging image ({why}); production paths must use a promoted release "
            f"image. Promote the build first ({where}), then reference the release image by its version, "
            "or add a tracked exemption."
        )
    return Draft(
        STAGING_IMAGE, ref.path, ref.line, message, ref.normalized(), suggestion=suggestion, commit=ref.commit,
        production=True,
    )
