"""Registry hygiene: IR005 deprecated-registry, IR006 disallowed-registry, IR007 digest-required."""

from __future__ import annotations

from app.core.classify import LocationPattern
from app.core.models import RefChange
from app.policy.catalog import DEPRECATED_REGISTRY, DIGEST_REQUIRED, DISALLOWED_REGISTRY, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput, replace_in_line
from app.policy.images import deprecated_match, ref_components, rewrite_prefix

RULES: tuple[RuleMeta, ...] = (DEPRECATED_REGISTRY, DISALLOWED_REGISTRY, DIGEST_REQUIRED)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    banned = [(LocationPattern.parse(loc), loc, reason) for loc, reason in inp.policy.disallowed_registries.items()]
    for ref in inp.refs:
        if not inp.judged(ref) or ref.registry is None:
            continue
        production = inp.policy.is_production(ref.path)
        deprecated = _deprecated(inp, ref)
        if deprecated is not None:
            deprecated.production = production
            out.drafts.append(deprecated)
        parts = ref_components(ref)
        for pattern, location, reason in banned:
            if pattern.matches(parts):
                why = f" ({reason})" if reason else ""
                out.drafts.append(Draft(
                    DISALLOWED_REGISTRY, ref.path, ref.line,
                    f"`{ref.reference}` comes from `{location}`, which the policy disallows{why}. "
                    "Use an image from an allowed registry.",
                    ref.normalized(), commit=ref.commit, production=production,
                ))
                break
        if inp.policy.require_digest and not ref.partial and not ref.templated and ref.digest is None:
            out.drafts.append(Draft(
                DIGEST_REQUIRED, ref.path, ref.line,
                f"`{ref.reference}` is not pinned by digest; the policy requires `@sha256:...`. "
                "Append the digest of the image you tested (e.g. from `crane digest`).",
                ref.normalized(), commit=ref.commit, production=production,
            ))
    return out


def _deprecated(inp: RuleInput, ref: RefChange) -> Draft | None:
    match = deprecated_match(inp.policy, ref)
    if match is None:
        return None
    old, new = match
    rewritten = rewrite_prefix(ref.reference, old, new)
    suggestion = replace_in_line(inp.lines.text(ref.path, ref.line), ref.reference, rewritten) if rewritten else None
    target = f"`{rewritten}`" if rewritten else f"the same image on `{new}`"
    return Draft(
        DEPRECATED_REGISTRY, ref.path, ref.line,
        f"`{ref.reference}` uses the deprecated registry `{old}`; use {target} instead.",
        ref.normalized(), suggestion=suggestion, commit=ref.commit,
        group_key=old, group_about=f"to the deprecated registry `{old}`",
    )
