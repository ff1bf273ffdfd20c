"""Registry evidence for one pull request, gathered before the rules run.

What is asked: the staging references IR001 suggests a release for (is the release the same
build?) and the release references the change adds (does the tag exist, does it match the
digest written beside it?); ``app.policy.evidence`` chooses them. Only hosts on both allow-lists
are asked: the repository policy's (``registry_verification.allowed_hosts``) and the resolver's
own (the App's operator decides which hosts the App may reach at all; a repository cannot widen
that). Each distinct reference is looked up once per pull request, concurrently up to the
resolver's bound, through its cache.

When a registry cannot answer, or the release tag differs from the staging one, the image
promoter's manifests (kubernetes/k8s.io ``registry.k8s.io/images/<project>/images.yaml``: digest
→ tags) answer where a Kubernetes project is involved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from app.core.models import RefChange
from app.core.references import ImageRef, try_parse
from app.policy.config import Policy
from app.policy.evidence import PromotionEvidence, RegistryEvidence, ReleaseTagCheck, promotion_targets, release_targets
from app.policy.mappings import promoter_project
from app.registry.client import Resolution, host_matches
from app.registry.promotion import (
    IMAGES_YAML_PATH,
    ManifestUnavailable,
    PromoterManifestSource,
    Resolver,
    check_promotions,
    check_release_tag,
    release_lookup_ref,
)

log = logging.getLogger(__name__)

K8S_IO_REPO = "kubernetes/k8s.io"
K8S_IO_REF = "main"


class HostResolver(Resolver, Protocol):
    """A resolver that also says which registries it may ask (``RegistryClient`` fits)."""

    def allows(self, registry: str) -> bool: ...


class PerReview:
    """One pull request's view of a resolver: each distinct reference is asked once.

    ``asked`` counts the references sent on (the resolver may still answer from its cache).
    """

    def __init__(self, inner: Resolver, max_workers: int | None = None) -> None:
        self._inner = inner
        self._max_workers = max_workers
        self._answers: dict[ImageRef, Resolution] = {}
        self.asked = 0

    def resolve(self, ref: ImageRef) -> Resolution:
        return self.resolve_many([ref])[0]

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]:
        ordered = list(refs)
        missing = [r for r in dict.fromkeys(ordered) if r not in self._answers]
        if missing:
            self.asked += len(missing)
            workers = max_workers if max_workers is not None else self._max_workers
            self._answers.update(zip(missing, self._inner.resolve_many(missing, max_workers=workers), strict=True))
        return [self._answers[r] for r in ordered]


def gather(
    refs: Sequence[RefChange],
    policy: Policy,
    resolver: HostResolver,
    manifests: PromoterManifestSource | None = None,
    *,
    max_workers: int | None = None,
) -> RegistryEvidence:
    """Ask the registries (and the promoter's manifests) what the rules need to know."""
    started = time.monotonic()
    not_asked: dict[str, str] = {}

    def askable(host: str) -> bool:
        if not host_matches(host, policy.registry_verification.allowed_hosts):
            not_asked[host] = "not on the policy's registry allow-list (`registry_verification.allowed_hosts`)"
            return False
        if not resolver.allows(host):
            not_asked[host] = "this reviewer is not configured to reach it"
            return False
        return True

    pairs = {
        key: pair for key, pair in promotion_targets(refs, policy).items() if all(askable(r.registry) for r in pair)
    }
    releases = {key: ref for key, ref in release_targets(refs, policy).items() if askable(ref.registry)}
    memo = PerReview(resolver, max_workers)
    # Every release tag at once: they settle most verdicts, and the checks below reuse them.
    wanted = [r for _, r in pairs.values()] + list(releases.values())
    memo.resolve_many([release_lookup_ref(r) for r in wanted])
    promotion = dict(zip(pairs, check_promotions(pairs.values(), memo), strict=True))
    release_tags = {key: check_release_tag(ref, memo) for key, ref in releases.items()}
    if manifests is not None:
        promotion = {key: _from_manifest(e, policy, memo, manifests) for key, e in promotion.items()}
        release_tags = {key: _release_from_manifest(c, policy, manifests) for key, c in release_tags.items()}
    if pairs or releases:
        log.info(
            "registry verification: %d reference(s) asked for %d staging and %d release reference(s) in %.0f ms",
            memo.asked,
            len(pairs),
            len(releases),
            (time.monotonic() - started) * 1000,
        )
    return RegistryEvidence(promotion, release_tags, not_asked)


# --- The promoter's manifests -----------------------------------------------------------------------


def with_manifest(
    evidence: PromotionEvidence, policy: Policy, resolver: Resolver, manifests: PromoterManifestSource
) -> PromotionEvidence:
    """``evidence`` improved from the promoter's manifests when the registries did not show a
    promotion (for callers outside a review: the staging dashboard, switch-back)."""
    return _from_manifest(evidence, policy, PerReview(resolver), manifests)


def _from_manifest(
    evidence: PromotionEvidence, policy: Policy, memo: PerReview, manifests: PromoterManifestSource
) -> PromotionEvidence:
    """Better evidence from images.yaml, when the registries did not show a promotion.

    The manifest maps digests to tags, so it finds a build promoted under another tag than its
    staging one (a registry cannot be asked that), and it answers while a registry is down.
    """
    if evidence.verdict == "promoted":
        return evidence
    match = policy.mapper.match(evidence.staging_ref.name)
    project = promoter_project(match[0]) if match else None
    if match is None or project is None:
        return evidence
    try:
        manifests.manifest(project)  # cached; no staging lookup for a project without one
    except ManifestUnavailable:
        return evidence
    _, release_prefix, image = match
    staging_digest = evidence.staging_digest
    if staging_digest is None:
        # The registries stop at a missing release tag or a registry that is down, before asking
        # staging; the manifest needs the staging digest.
        answer = memo.resolve(evidence.staging_ref)
        staging_digest = answer.digest if answer.found else None
    if staging_digest is not None:
        by_digest = manifests.lookup_digest(project, image, staging_digest)
        if by_digest.promoted and by_digest.tags:
            tag = _pick_tag(by_digest.tags, evidence.release_ref.tag)
            pinned = f"@{evidence.staging_ref.digest}" if evidence.staging_ref.digest else ""
            release = try_parse(f"{release_prefix}/{image}:{tag}{pinned}")
            if release is not None:
                path = IMAGES_YAML_PATH.format(project=project)
                reason = f"{image}@{staging_digest} is promoted as {', '.join(by_digest.tags)} in {path}"
                return PromotionEvidence(
                    evidence.staging_ref, release, staging_digest, staging_digest, "promoted", reason,
                    source="promoter-manifest", manifest=path,
                )
    if evidence.verdict == "unknown":
        answer_from_manifest = manifests.evidence(
            project, image, evidence.staging_ref, evidence.release_ref, staging_digest
        )
        if answer_from_manifest.verdict != "unknown":
            return answer_from_manifest
    return evidence


def _pick_tag(tags: Sequence[str], wanted: str | None) -> str:
    """The staging tag when it was promoted under it, else the first version-shaped tag."""
    if wanted is not None and wanted in tags:
        return wanted
    versions = [t for t in tags if t[:1] == "v" or t[:1].isdigit()]
    return (versions or list(tags))[0]


def _release_from_manifest(
    check: ReleaseTagCheck, policy: Policy, manifests: PromoterManifestSource
) -> ReleaseTagCheck:
    """A release reference whose registry could not be asked, checked against images.yaml.

    Only a listed tag settles it: the file can lag the registry, and several projects may
    promote to one name, so a tag missing from it stays unverified rather than failing.
    """
    if check.outcome != "unknown":
        return check
    ref = check.ref
    sources = policy.mapper.staging_sources(ref.name)
    # Only the most specific release prefix: registry.k8s.io/etcdadm/x belongs to etcdadm, not to
    # the root-level projects that promote to registry.k8s.io/<image>.
    nearest = [s for s in sources if s[1] == sources[0][1]] if sources else []
    for staging_prefix, _, image in nearest:
        project = promoter_project(staging_prefix)
        if project is None:
            continue
        path = IMAGES_YAML_PATH.format(project=project)
        found = (
            manifests.lookup(project, image, ref.tag)
            if ref.tag is not None
            else manifests.lookup_digest(project, image, ref.digest or "")
        )
        if not found.promoted or found.digest is None:
            continue
        where = f"kubernetes/k8s.io {path} (the registry could not be asked: {check.message})"
        if ref.tag is not None and ref.digest is not None and ref.digest != found.digest:
            return ReleaseTagCheck(
                ref,
                "digest-mismatch",
                f"tag {ref.tag!r} is promoted as {found.digest} per {where}, but the reference pins {ref.digest}",
                "error",
                found.digest,
            )
        shown = ref.raw or ref.canonical()
        return ReleaseTagCheck(ref, "ok", f"{shown} is {found.digest} per {where}", None, found.digest)
    return check
