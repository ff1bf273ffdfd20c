"""Registry evidence as the rules read it, and which references need it.

Evidence is gathered before evaluation (``app.registry.verify`` asks the registries and the image
promoter's manifests) and handed to the engine in ``EvalContext.registry``; the rules stay pure.
The functions choosing the references live here, beside the rules that read the answers, so the
gatherer asks exactly what the rules will look at and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from app.core.models import RefChange
from app.core.references import ImageRef, try_parse
from app.policy.catalog import RELEASE_DIGEST_MISMATCH, RELEASE_TAG_MISSING, STAGING_IMAGE
from app.policy.config import Policy
from app.policy.tags import is_release_shaped

Verdict = Literal["promoted", "different-build", "not-promoted", "unknown"]
ReleaseTagOutcome = Literal["ok", "missing-tag", "missing-digest", "digest-mismatch", "unknown"]


@dataclass(frozen=True, slots=True)
class PromotionEvidence:
    """What the registries (or the promoter manifest) say about one staging → release pair.

    ``failed_registry`` names the registry that could not answer when the verdict is
    ``unknown`` because of it; ``source`` is ``registry`` or ``promoter-manifest``.
    """

    staging_ref: ImageRef
    release_ref: ImageRef
    staging_digest: str | None
    release_digest: str | None
    verdict: Verdict
    reason: str
    failed_registry: str | None = None
    source: str = "registry"
    manifest: str | None = None  # the images.yaml path, when the promoter's manifest answered


@dataclass(frozen=True, slots=True)
class ReleaseTagCheck:
    """Outcome of checking a release reference against its registry (the policy wraps it).

    ``severity`` is ``error`` for a missing tag or digest and for a tag/digest mismatch;
    ``None`` when fine or when the registry could not be asked (``outcome`` = unknown).
    """

    ref: ImageRef
    outcome: ReleaseTagOutcome
    message: str
    severity: Literal["error"] | None = None
    registry_digest: str | None = None
    reason: str = ""  # why the registry could not answer (outcome unknown), naming it

    @property
    def failed(self) -> bool:
        return self.severity == "error"


def unverified_reason(reason: str, registry: str | None) -> str:
    """``<registry> could not be asked: <cause>`` out of a reason that names the registry once or twice."""
    marker = f"{registry}: " if registry else ""
    if marker and marker in reason:
        return f"{registry} could not be asked: {reason.rsplit(marker, 1)[1]}"
    return reason


@dataclass(frozen=True)
class RegistryEvidence:
    """What the registries said about one pull request's references.

    ``promotion`` is keyed by the normalized staging reference IR001 judges; ``release_tags`` by
    the normalized release reference added; ``not_asked`` names registries that were not asked
    (not on the allow-list) with the reason. A reference missing from both maps was not checked,
    and its rules behave as without verification.
    """

    promotion: Mapping[str, PromotionEvidence] = field(default_factory=dict)
    release_tags: Mapping[str, ReleaseTagCheck] = field(default_factory=dict)
    not_asked: Mapping[str, str] = field(default_factory=dict)


def image_ref(ref: RefChange) -> ImageRef | None:
    """The parsed form of a fully literal reference (None for partial or templated ones)."""
    if ref.registry is None or ref.repository is None or ref.partial or ref.templated:
        return None
    return ImageRef(ref.registry, ref.repository, ref.tag, ref.digest, raw=ref.reference)


def judged(policy: Policy, ref: RefChange) -> bool:
    """Added, really used (not in a comment) and not in a generated file: what reference rules judge."""
    return ref.side == "added" and not ref.in_comment and not policy.is_generated(ref.path)


def suggested_release(policy: Policy, ref: RefChange) -> ImageRef | None:
    """The release reference IR001 suggests for a staging reference: the mapped release name with
    the same tag (and digest, which promotion copies unchanged); None when there is none."""
    release_name = policy.mapper.release_name(ref.name)
    if not release_name or ref.templated or not is_release_shaped(ref.tag):
        return None
    return try_parse(release_name + f":{ref.tag}" + (f"@{ref.digest}" if ref.digest else ""))


def promotion_targets(refs: Iterable[RefChange], policy: Policy) -> dict[str, tuple[ImageRef, ImageRef]]:
    """Staging reference (normalized) → (staging, suggested release) for every IR001 suggestion."""
    if not policy.rule(STAGING_IMAGE).enabled:
        return {}
    out: dict[str, tuple[ImageRef, ImageRef]] = {}
    for ref in refs:
        if not judged(policy, ref) or ref.registry is None or ref.repository is None:
            continue
        if policy.classifier.classify(ref.registry, ref.repository) != "staging" or not policy.is_production(ref.path):
            continue
        staging, release = image_ref(ref), suggested_release(policy, ref)
        if staging is not None and release is not None:
            out.setdefault(ref.normalized(), (staging, release))
    return out


def release_targets(refs: Iterable[RefChange], policy: Policy) -> dict[str, ImageRef]:
    """Release reference (normalized) → parsed reference, for every release reference added."""
    if not (policy.rule(RELEASE_TAG_MISSING).enabled or policy.rule(RELEASE_DIGEST_MISMATCH).enabled):
        return {}
    out: dict[str, ImageRef] = {}
    for ref in refs:
        if not judged(policy, ref) or ref.registry is None or ref.repository is None:
            continue
        if policy.classifier.classify(ref.registry, ref.repository) != "release":
            continue
        parsed = image_ref(ref)
        # No tag and no digest is IR002's business; there is nothing to look up.
        if parsed is not None and (parsed.tag is not None or parsed.digest is not None):
            out.setdefault(ref.normalized(), parsed)
    return out
