"""The staging-images board: every staging image of a tree, with its exemption and promotion state.

It is what the dashboard issue shows and what `image-review audit --online` prints: the audit's
staging items, each with the class of its path, the exemption that tracks it and what the
registries say about its promotion (same digest, release tag missing, a different build, unknown).
Expired exemptions and those expiring within ``EXPIRING_DAYS`` come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

from app.analysis.audit import EXPIRED, INVALID, AuditItem, AuditReport
from app.core.models import RefChange
from app.core.references import ImageRef
from app.policy import Policy
from app.policy.evidence import PromotionEvidence, image_ref, suggested_release
from app.registry.client import host_matches
from app.registry.promotion import PromoterManifestSource, Resolver, check_promotions
from app.registry.verify import with_manifest

EXPIRING_DAYS = 14
PromotionState = Literal["promoted", "release-missing", "different-build", "unknown", "no-release", "not-checked"]
_STATE_TEXT: dict[PromotionState, str] = {
    "promoted": "promoted, same digest",
    "release-missing": "release tag missing",
    "different-build": "different build",
    "unknown": "unknown",
    "no-release": "no release location",
    "not-checked": "not checked (offline)",
}
_VERDICT_STATE: dict[str, PromotionState] = {
    "promoted": "promoted", "not-promoted": "release-missing", "different-build": "different-build",
    "unknown": "unknown",
}


class HostResolver(Resolver, Protocol):
    def allows(self, registry: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Promotion:
    """What the registries say about one staging reference's release."""

    state: PromotionState
    reason: str = ""
    release: ImageRef | None = None  # the release reference to switch to
    staging_digest: str | None = None
    release_digest: str | None = None
    manifest: str | None = None  # the promoter manifest that answered, if one did

    @property
    def text(self) -> str:
        return _STATE_TEXT[self.state]

    def to_json(self) -> dict[str, object]:
        return {"state": self.state, "reason": self.reason,
                "release": self.release.canonical() if self.release else None,
                "staging_digest": self.staging_digest, "release_digest": self.release_digest,
                "manifest": self.manifest}


@dataclass(frozen=True, slots=True)
class StagingRow:
    ref: RefChange
    item: AuditItem
    path_class: Literal["production", "allowed"]
    promotion: Promotion

    def expired(self, today: date) -> bool:
        return self.item.expires is not None and self.item.expires < today

    def expiring(self, today: date) -> bool:
        return self.item.expires is not None and 0 <= (self.item.expires - today).days <= EXPIRING_DAYS

    def to_json(self) -> dict[str, object]:
        return {"reference": self.ref.reference, "path": self.ref.path, "line": self.ref.line,
                "path_class": self.path_class, "status": self.item.status, "issue": self.item.issue,
                "expires": self.item.expires.isoformat() if self.item.expires else None,
                "promotion": self.promotion.to_json()}


@dataclass(slots=True)
class StagingBoard:
    commit: str
    today: date
    rows: list[StagingRow] = field(default_factory=list)
    exemption_alerts: list[AuditItem] = field(default_factory=list)  # expired or malformed exemptions

    @property
    def empty(self) -> bool:
        return not self.rows and not self.exemption_alerts

    def to_json(self) -> dict[str, object]:
        return {"commit": self.commit, "rows": [r.to_json() for r in self.rows],
                "exemption_alerts": [i.to_json() for i in self.exemption_alerts]}


def build_board(report: AuditReport, policy: Policy, resolver: HostResolver | None, today: date,
                manifests: PromoterManifestSource | None = None) -> StagingBoard:
    """The board of an audit; the registries are asked when ``resolver`` is given, and the
    promoter's manifests (``manifests``) where the registries show no promotion."""
    # Exemption items carry the exemption's description as subject, so only staging items match.
    by_place = {(i.path, i.line, i.subject): i for i in report.items}
    promotions = promotion_states(report.staging_refs, policy, resolver, manifests)
    rows = [
        StagingRow(ref, by_place[(ref.path, ref.line, ref.reference)],
                   "production" if policy.is_production(ref.path) else "allowed", promotion)
        for ref, promotion in zip(report.staging_refs, promotions, strict=True)
        if (ref.path, ref.line, ref.reference) in by_place
    ]
    board = StagingBoard(report.ref, today, rows)
    board.rows.sort(key=lambda r: (_order(r, today), r.ref.path, r.ref.line))
    board.exemption_alerts = [i for i in report.items if i.urgency in (EXPIRED, INVALID)]
    return board


def _order(row: StagingRow, today: date) -> tuple[int, int]:
    first = 0 if row.expired(today) else 1 if row.expiring(today) else 2
    return first, row.item.urgency


def promotion_states(refs: Sequence[RefChange], policy: Policy, resolver: HostResolver | None,
                     manifests: PromoterManifestSource | None = None) -> list[Promotion]:
    """One promotion state per staging reference; each distinct pair is asked once."""
    pairs: dict[int, tuple[ImageRef, ImageRef]] = {}
    out: list[Promotion] = []
    for index, ref in enumerate(refs):
        staging, release = image_ref(ref), suggested_release(policy, ref)
        if staging is None or release is None:
            out.append(Promotion("no-release", "no release location maps this staging image, or its tag is "
                                 "not a release version"))
        elif resolver is None:
            out.append(Promotion("not-checked", release=release))
        elif (blocked := _not_askable(policy, resolver, staging, release)) is not None:
            out.append(Promotion("unknown", blocked, release=release))
        else:
            pairs[index] = (staging, release)
            out.append(Promotion("unknown"))
    if resolver is not None and pairs:
        for index, evidence in zip(pairs, check_promotions(pairs.values(), resolver), strict=True):
            if manifests is not None:
                evidence = with_manifest(evidence, policy, resolver, manifests)
            out[index] = from_evidence(evidence)
    return out


def from_evidence(evidence: PromotionEvidence) -> Promotion:
    return Promotion(_VERDICT_STATE[evidence.verdict], evidence.reason, evidence.release_ref,
                     evidence.staging_digest, evidence.release_digest, evidence.manifest)


def _not_askable(policy: Policy, resolver: HostResolver, *refs: ImageRef) -> str | None:
    for ref in refs:
        if not host_matches(ref.registry, policy.registry_verification.allowed_hosts):
            return f"{ref.registry} is not on the policy's registry allow-list"
        if not resolver.allows(ref.registry):
            return f"{ref.registry} is not reachable from this reviewer"
    return None
