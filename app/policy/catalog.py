"""The rule catalogue: stable codes, names, default severities and descriptions.

Codes and names are public (check annotations, SARIF, exemption comments, policy files): never
renumber or rename a rule once shipped; retire it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.models import Severity

OutsideProduction = Literal["error", "warning", "notice", "off"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "notice")


@dataclass(frozen=True, slots=True)
class RuleMeta:
    code: str
    name: str
    severity: Severity
    summary: str  # one line: SARIF shortDescription, docs table
    description: str  # a paragraph: SARIF fullDescription
    # Severity for findings on paths outside production (staging_allowed_paths); None = unchanged.
    outside_production: OutsideProduction | None = None
    # Whether a tracked exemption may accept a finding of this rule.
    exemptable: bool = True
    # A finding of this rule asks a person to act (the App sets the check to action_required).
    action_required: bool = False
    # The policy may disable the rule but not change its severity.
    severity_fixed: bool = False

    @property
    def anchor(self) -> str:
        """The docs/rules.md heading anchor for ``## IR001 staging-image``."""
        return f"{self.code.lower()}-{self.name}"


STAGING_IMAGE = RuleMeta(
    "IR001", "staging-image", "error",
    "Staging image added on a production path",
    "A staging (unpromoted) image reference was added outside the paths where staging images are allowed. "
    "Staging registries hold unreviewed builds that may be deleted at any time; production code and manifests "
    "must use the promoted release image.",
    outside_production="off",
)
MUTABLE_TAG = RuleMeta(
    "IR002", "mutable-tag", "error",
    "Image without an explicit, immutable tag",
    "An image reference uses a floating tag (latest, main, master, dev, nightly, ...) or no tag and no digest. "
    "What such a reference pulls changes without any change to the repository.",
    outside_production="warning",
)
DEVELOPMENT_BUILD = RuleMeta(
    "IR003", "development-build", "error",
    "Development build tag on a production path",
    "An image tag names a development build (git describe -N-g<sha>, -dirty, a bare commit sha, or a dated "
    "build id such as v20211008-60e346af). Release paths must use released versions.",
    outside_production="off",
)
PRERELEASE_TAG = RuleMeta(
    "IR004", "prerelease-tag", "warning",
    "Pre-release version on a production path",
    "An image tag is a pre-release (-alpha, -beta, -rc). Pre-releases are immutable but not meant for "
    "production; make sure this is intended.",
    outside_production="off",
)
DEPRECATED_REGISTRY = RuleMeta(
    "IR005", "deprecated-registry", "warning",
    "Image from a deprecated registry",
    "The reference uses a registry the policy lists as deprecated (k8s.gcr.io is frozen since 2023-04-03; "
    "gcr.io/google_containers was its pre-2018 name). The suggestion moves it to the replacement registry.",
)
DISALLOWED_REGISTRY = RuleMeta(
    "IR006", "disallowed-registry", "error",
    "Image from a disallowed registry",
    "The reference uses a registry or location the policy disallows.",
)
DIGEST_REQUIRED = RuleMeta(
    "IR007", "digest-required", "error",
    "Image not pinned by digest",
    "The policy sets require_digest: true and this reference has no @sha256 digest.",
    outside_production="off",
)
INCONSISTENT_VERSIONS = RuleMeta(
    "IR008", "inconsistent-versions", "warning",
    "The same image added at several versions",
    "The pull request adds the same image at more than one version. Usually one place was missed.",
    outside_production="off",
)
VERSION_DOWNGRADE = RuleMeta(
    "IR009", "version-downgrade", "warning",
    "Image version goes backwards",
    "A reference is replaced by an older version of the same image (a staging build is compared with the "
    "release it maps to).",
)
MIXED_IMAGE_COMMIT = RuleMeta(
    "IR010", "mixed-image-commit", "notice",
    "Commit mixes an image switch with other changes",
    "A commit switches an image and also changes other (non-generated) lines. The two-step pattern keeps the "
    "image switch in a commit of its own, so it can be reviewed, cherry-picked and reverted alone. Warning for "
    "critical images.",
)
IMAGE_SWITCH_ORDER = RuleMeta(
    "IR011", "image-switch-order", "notice",
    "Image switch comes after configuration commits",
    "The commit that switches the image comes after commits that change configuration. The two-step pattern "
    "puts the image switch first and the follow-up changes after it.",
)
EXEMPTION_INVALID = RuleMeta(
    "IR012", "exemption-invalid", "error",
    "Malformed exemption",
    "An exemption (inline comment or policy file entry) could not be read: it needs a known rule, an expiry "
    "date (until YYYY-MM-DD) and a tracking issue (tracked-by #N). It is not applied.",
    exemptable=False,
)
EXEMPTION_EXPIRED = RuleMeta(
    "IR013", "exemption-expired", "error",
    "Exemption expired or its tracking issue is closed",
    "An exemption would accept a finding, but its expiry date has passed or its tracking issue is closed.",
    exemptable=False,
)
CRITICAL_IMAGE_APPROVAL = RuleMeta(
    "IR014", "critical-image-approval", "error",
    "Critical image changed without an owner's approval",
    "The pull request changes a reference to an image the policy marks as critical. One of its owners must "
    "approve the pull request at its current head commit.",
    exemptable=False,
    action_required=True,
)
POLICY_WEAKENED = RuleMeta(
    "IR015", "policy-weakened", "notice",
    "Pull request weakens the image policy",
    "The pull request changes .github/image-review.yml in a way that relaxes the checks (removes a staging "
    "location, disables a rule, lowers a severity, adds an exemption or an allowed path, ...).",
    exemptable=False,
)
POLICY_INVALID = RuleMeta(
    "IR016", "policy-invalid", "error",
    "Invalid image policy file",
    "The policy file has an error. The entry is ignored and the default applies for it until it is fixed.",
    exemptable=False,
)

STAGING_IN_HISTORY = RuleMeta(
    "IR017", "staging-in-history", "notice",
    "A commit adds a staging image that a later commit removes",
    "One commit of the pull request adds a staging image on a production path and a later commit removes it "
    "again. The pull request as a whole ships no staging image, but a cherry-pick or revert of that commit "
    "alone would.",
)
RELEASE_TAG_MISSING = RuleMeta(
    "IR018", "release-tag-missing", "error",
    "Release tag does not exist in its registry",
    "A release image reference added by the pull request names a tag (or a digest) that its registry does not "
    "have: a typo, or a version that was never promoted. Every node pulling it fails to start. Checked only when "
    "registry verification is on.",
    outside_production="warning",
)
RELEASE_DIGEST_MISMATCH = RuleMeta(
    "IR019", "release-digest-mismatch", "error",
    "Release tag and pinned digest disagree",
    "A release image reference writes both a tag and a digest, and the registry says the tag is another digest. "
    "Runtimes pull the digest, so the tag misleads every reader of the line. Checked only when registry "
    "verification is on.",
    outside_production="warning",
)
REGISTRY_UNVERIFIED = RuleMeta(
    "IR020", "registry-unverified", "notice",
    "Registry could not be asked",
    "Registry verification was on, but the registry of a release reference could not answer (unreachable, "
    "timed out, refused access, rate limited). The reference was not judged by IR018/IR019; the notice names "
    "the registry and the reason. It never fails a check.",
    exemptable=False,
    severity_fixed=True,
)
STAGING_IN_GENERATED_OUTPUT = RuleMeta(
    "IR021", "staging-generated-output", "warning",
    "Generated production output now holds a staging image",
    "Regenerated golden or expected-output files of production manifests gain a staging image that no "
    "hand-written line of the pull request adds: the change makes production select it indirectly (a deleted "
    "case falling through to a staging default, a template or values change). The finding sits on the source "
    "line that selects the image where the diff shows it.",
)
ALL_RULES: tuple[RuleMeta, ...] = (
    STAGING_IMAGE, MUTABLE_TAG, DEVELOPMENT_BUILD, PRERELEASE_TAG, DEPRECATED_REGISTRY, DISALLOWED_REGISTRY,
    DIGEST_REQUIRED, INCONSISTENT_VERSIONS, VERSION_DOWNGRADE, MIXED_IMAGE_COMMIT, IMAGE_SWITCH_ORDER,
    EXEMPTION_INVALID, EXEMPTION_EXPIRED, CRITICAL_IMAGE_APPROVAL, POLICY_WEAKENED, POLICY_INVALID,
    STAGING_IN_HISTORY, RELEASE_TAG_MISSING, RELEASE_DIGEST_MISMATCH, REGISTRY_UNVERIFIED,
    STAGING_IN_GENERATED_OUTPUT,
)
BY_CODE: dict[str, RuleMeta] = {r.code: r for r in ALL_RULES}
BY_NAME: dict[str, RuleMeta] = {r.name: r for r in ALL_RULES}


def lookup(key: str) -> RuleMeta | None:
    """A rule by code (``IR001``, any case) or name (``staging-image``)."""
    key = key.strip()
    return BY_CODE.get(key.upper()) or BY_NAME.get(key.lower())


def rule_keys() -> list[str]:
    """Every accepted spelling, for "did you mean" hints."""
    return [r.code for r in ALL_RULES] + [r.name for r in ALL_RULES]
