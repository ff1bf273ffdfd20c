"""The rule catalogue: every rule's stable code, name, default severity and description.

Each rule lives in a module of its own, ``app/policy/rules/irNNN_<name>.py``, holding its metadata
(``META``) and its docs/rules.md section with examples (``DOC``); this module is the one place that
collects them, in code order.

Codes and names are public (check annotations, SARIF, exemption comments, policy files): never
renumber or rename a rule once shipped; retire it instead.
"""

from __future__ import annotations

from types import ModuleType

from app.core.models import Severity
from app.policy.rulemeta import OutsideProduction, RuleDoc, RuleMeta
from app.policy.rules import (
    ir001_staging_image,
    ir002_mutable_tag,
    ir003_development_build,
    ir004_prerelease_tag,
    ir005_deprecated_registry,
    ir006_disallowed_registry,
    ir007_digest_required,
    ir008_inconsistent_versions,
    ir009_version_downgrade,
    ir010_mixed_image_commit,
    ir011_image_switch_order,
    ir012_exemption_invalid,
    ir013_exemption_expired,
    ir014_critical_image_approval,
    ir015_policy_weakened,
    ir016_policy_invalid,
    ir017_staging_in_history,
    ir018_release_tag_missing,
    ir019_release_digest_mismatch,
    ir020_registry_unverified,
    ir021_staging_generated_output,
)

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "notice")

RULE_MODULES: tuple[ModuleType, ...] = (
    ir001_staging_image,
    ir002_mutable_tag,
    ir003_development_build,
    ir004_prerelease_tag,
    ir005_deprecated_registry,
    ir006_disallowed_registry,
    ir007_digest_required,
    ir008_inconsistent_versions,
    ir009_version_downgrade,
    ir010_mixed_image_commit,
    ir011_image_switch_order,
    ir012_exemption_invalid,
    ir013_exemption_expired,
    ir014_critical_image_approval,
    ir015_policy_weakened,
    ir016_policy_invalid,
    ir017_staging_in_history,
    ir018_release_tag_missing,
    ir019_release_digest_mismatch,
    ir020_registry_unverified,
    ir021_staging_generated_output,
)

STAGING_IMAGE = ir001_staging_image.META
MUTABLE_TAG = ir002_mutable_tag.META
DEVELOPMENT_BUILD = ir003_development_build.META
PRERELEASE_TAG = ir004_prerelease_tag.META
DEPRECATED_REGISTRY = ir005_deprecated_registry.META
DISALLOWED_REGISTRY = ir006_disallowed_registry.META
DIGEST_REQUIRED = ir007_digest_required.META
INCONSISTENT_VERSIONS = ir008_inconsistent_versions.META
VERSION_DOWNGRADE = ir009_version_downgrade.META
MIXED_IMAGE_COMMIT = ir010_mixed_image_commit.META
IMAGE_SWITCH_ORDER = ir011_image_switch_order.META
EXEMPTION_INVALID = ir012_exemption_invalid.META
EXEMPTION_EXPIRED = ir013_exemption_expired.META
CRITICAL_IMAGE_APPROVAL = ir014_critical_image_approval.META
POLICY_WEAKENED = ir015_policy_weakened.META
POLICY_INVALID = ir016_policy_invalid.META
STAGING_IN_HISTORY = ir017_staging_in_history.META
RELEASE_TAG_MISSING = ir018_release_tag_missing.META
RELEASE_DIGEST_MISMATCH = ir019_release_digest_mismatch.META
REGISTRY_UNVERIFIED = ir020_registry_unverified.META
STAGING_IN_GENERATED_OUTPUT = ir021_staging_generated_output.META

ALL_RULES: tuple[RuleMeta, ...] = tuple(module.META for module in RULE_MODULES)
ALL_DOCS: tuple[tuple[RuleMeta, RuleDoc], ...] = tuple((module.META, module.DOC) for module in RULE_MODULES)
BY_CODE: dict[str, RuleMeta] = {r.code: r for r in ALL_RULES}
BY_NAME: dict[str, RuleMeta] = {r.name: r for r in ALL_RULES}


def lookup(key: str) -> RuleMeta | None:
    """A rule by code (``IR001``, any case) or name (``staging-image``)."""
    key = key.strip()
    return BY_CODE.get(key.upper()) or BY_NAME.get(key.lower())


def rule_keys() -> list[str]:
    """Every accepted spelling, for "did you mean" hints."""
    return [r.code for r in ALL_RULES] + [r.name for r in ALL_RULES]


# The metadata types are re-exported: rule families and config import them from here.
__all__ = [
    "ALL_DOCS",
    "ALL_RULES",
    "BY_CODE",
    "BY_NAME",
    "RULE_MODULES",
    "SEVERITIES",
    "OutsideProduction",
    "RuleDoc",
    "RuleMeta",
    "lookup",
    "rule_keys",
]
