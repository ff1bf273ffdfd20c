"""Explicit versions: IR002 mutable-tag, IR003 development-build, IR004 prerelease-tag.

A tag rule judges only what the pull request chose (a tag it kept through a registry rename is not
its choice) and only references that are pulled as written (see ``choices``).

A pre-release tag that a commit subject of the pull request names is an announced choice, and
IR004 only asks to confirm the choice. A dated build id (``v20241212-9f82dd49``) is a development
build only in a staging registry:
Kubernetes image builds keep that tag through promotion, so elsewhere it is a release.

Staging references on production paths are left to IR001 (its message names the tag problem), so
one line does not collect two findings for one mistake; with IR001 disabled, these rules judge
staging references too.
"""

from __future__ import annotations

from app.core.models import RefChange
from app.policy.catalog import DEVELOPMENT_BUILD, MUTABLE_TAG, PRERELEASE_TAG, STAGING_IMAGE, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.rules.choices import KeptTags, pulled
from app.policy.tags import BUILD_ID, FLOATING, NONE, PRERELEASE, is_dated_build_id

RULES: tuple[RuleMeta, ...] = (MUTABLE_TAG, DEVELOPMENT_BUILD, PRERELEASE_TAG)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    staging_rule_on = inp.policy.rule(STAGING_IMAGE).enabled
    previous = KeptTags(inp)
    for ref in inp.refs:
        if not inp.judged(ref) or ref.partial:
            continue
        if ref.tag is None and ref.templated:
            continue  # the tag is computed: nothing to judge
        production = inp.policy.is_production(ref.path)
        if staging_rule_on and production and inp.ref_class(ref) == "staging":
            continue
        kind = inp.policy.tag_rules.kind(ref.tag, ref.digest)
        if previous.kept(ref) or not pulled(inp, ref, untagged=kind == NONE):
            continue
        draft = _judge(inp, ref, kind)
        if draft is not None:
            draft.production = production
            out.drafts.append(draft)
    return out


def _released_build(inp: RuleInput, ref: RefChange, kind: str) -> bool:
    """A dated build id outside staging: how Kubernetes projects release (and promote) image builds."""
    return kind == BUILD_ID and is_dated_build_id(ref.tag) and inp.ref_class(ref) != "staging"


def _announced(inp: RuleInput, tag: str | None) -> bool:
    """A commit subject of the pull request names the pre-release ("Bumping webhook version to
    v0.7.0-rc1", "bump default image to kindest/node:v1.37.0-rc.1"): the choice is explicit, and
    asking to confirm it is what IR004 would do."""
    if not tag or not inp.commits:
        return False
    bare = tag[1:] if tag[:1] in "vV" else tag
    return any(bare in commit.subject for commit in inp.commits)


def _judge(inp: RuleInput, ref: RefChange, kind: str) -> Draft | None:
    key = ref.normalized()
    if kind == NONE:
        return Draft(
            MUTABLE_TAG, ref.path, ref.line,
            f"`{ref.reference}` has no tag and no digest, so it pulls whatever `latest` is at the time. "
            "Pin an explicit version tag (and a digest where you can).",
            key, commit=ref.commit,
        )
    if kind == FLOATING:
        return Draft(
            MUTABLE_TAG, ref.path, ref.line,
            f"`{ref.reference}` uses the floating tag `{ref.tag}`: what it pulls changes without any change "
            "here. Pin an explicit version tag (and a digest where you can).",
            key, commit=ref.commit,
        )
    if inp.policy.tag_rules.is_development(kind) and not _released_build(inp, ref, kind):
        return Draft(
            DEVELOPMENT_BUILD, ref.path, ref.line,
            f"`{ref.reference}` uses a development build tag (`{ref.tag}`, {kind}). Use a released version; "
            "if this build is needed before a release, add a tracked exemption.",
            key, commit=ref.commit,
        )
    if kind == PRERELEASE and not _announced(inp, ref.tag):
        return Draft(
            PRERELEASE_TAG, ref.path, ref.line,
            f"`{ref.reference}` is a pre-release (`{ref.tag}`). Use the final release when it is out, or "
            "confirm that a pre-release is intended here.",
            key, commit=ref.commit, group_about="with a pre-release tag",
        )
    return None
