"""The difference between two effective policies, and which changes weaken the checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core.models import SEVERITY_RANK
from app.policy.catalog import ALL_RULES
from app.policy.config import Exemption, Policy

_OFF_RANK = -1
# How many image switches each `two_step` scope judges.
_TWO_STEP_REACH = {"off": 0, "staging": 1, "all": 2}


@dataclass(frozen=True, slots=True)
class PolicyChange:
    key: str  # top-level key, e.g. "staging_locations", "rules"
    text: str  # Markdown, one line
    weakens: bool


def _fmt(items: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _list_changes(key: str, old: Iterable[str], new: Iterable[str], *, weak_add: bool, weak_remove: bool,
                  ) -> list[PolicyChange]:
    before, after = list(old), list(new)
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    out: list[PolicyChange] = []
    if added:
        out.append(PolicyChange(key, f"`{key}`: added {_fmt(added)}", weak_add))
    if removed:
        out.append(PolicyChange(key, f"`{key}`: removed {_fmt(removed)}", weak_remove))
    return out


def _map_changes(key: str, old: dict[str, object], new: dict[str, object], *, weak_remove: bool,
                 weak_change: bool = False) -> list[PolicyChange]:
    out: list[PolicyChange] = []
    for k in new:
        if k not in old:
            out.append(PolicyChange(key, f"`{key}`: added `{k}` → `{_value(new[k])}`", False))
        elif old[k] != new[k]:
            out.append(PolicyChange(
                key, f"`{key}`: `{k}` changed from `{_value(old[k])}` to `{_value(new[k])}`", weak_change
            ))
    for k in old:
        if k not in new:
            out.append(PolicyChange(key, f"`{key}`: removed `{k}`", weak_remove))
    return out


def _value(v: object) -> str:
    if isinstance(v, tuple | list):
        return ", ".join(str(i) for i in v)
    return str(v)


def _rank(sev: str | None, fallback: str) -> int:
    value = sev or fallback
    return _OFF_RANK if value == "off" else SEVERITY_RANK[value]


def _exemption_key(ex: Exemption) -> tuple[object, ...]:
    return (ex.rules, ex.path, ex.reference, ex.issue, ex.expires)


def diff_policies(old: Policy, new: Policy) -> list[PolicyChange]:
    out: list[PolicyChange] = []
    out += _list_changes("staging_locations", old.staging_locations, new.staging_locations,
                         weak_add=False, weak_remove=True)
    out += _list_changes("release_locations", old.release_locations, new.release_locations,
                         weak_add=False, weak_remove=False)
    out += _list_changes("staging_allowed_paths", old.staging_allowed_paths, new.staging_allowed_paths,
                         weak_add=True, weak_remove=False)
    out += _list_changes("generated_paths", old.generated_paths, new.generated_paths,
                         weak_add=True, weak_remove=False)
    out += _list_changes("mutable_tags", old.mutable_tags, new.mutable_tags, weak_add=False, weak_remove=True)
    out += _list_changes("policy_owners", old.policy_owners, new.policy_owners, weak_add=False, weak_remove=True)
    out += _map_changes("mappings", dict(old.mappings), dict(new.mappings), weak_remove=False)
    out += _map_changes("deprecated_registries", dict(old.deprecated_registries), dict(new.deprecated_registries),
                        weak_remove=True)
    out += _map_changes("disallowed_registries", dict(old.disallowed_registries), dict(new.disallowed_registries),
                        weak_remove=True)
    out += _map_changes("dev_tag_patterns", dict(old.dev_tag_patterns), dict(new.dev_tag_patterns),
                        weak_remove=True, weak_change=True)
    # New owners can approve critical changes: changing the owner list relaxes who must agree.
    out += _map_changes("critical_images", dict(old.critical_images), dict(new.critical_images),
                        weak_remove=True, weak_change=True)
    if old.require_digest != new.require_digest:
        out.append(PolicyChange("require_digest", f"`require_digest`: {old.require_digest} → {new.require_digest}",
                                old.require_digest))
    if old.review_drafts != new.review_drafts:
        out.append(PolicyChange("review_drafts", f"`review_drafts`: {old.review_drafts} → {new.review_drafts}",
                                False))
    if old.two_step != new.two_step:
        # Judging fewer image switches (all -> staging -> off) relaxes the two-step rules.
        out.append(PolicyChange("two_step", f"`two_step`: {old.two_step} → {new.two_step}",
                                _TWO_STEP_REACH[new.two_step] < _TWO_STEP_REACH[old.two_step]))
    if old.labels != new.labels:
        out.append(PolicyChange("labels", f"`labels`: {old.labels} → {new.labels}", False))
    ov, nv = old.registry_verification, new.registry_verification
    if ov != nv:
        # Turning verification off, or taking a registry off the allow-list, checks less.
        fewer_hosts = bool(set(ov.allowed_hosts) - set(nv.allowed_hosts))
        out.append(PolicyChange("registry_verification", f"`registry_verification`: {ov} → {nv}",
                                (ov.enabled and not nv.enabled) or fewer_hosts))
    out += _rule_changes(old, new)
    old_ex = {_exemption_key(e) for e in old.exemptions}
    new_ex = {_exemption_key(e) for e in new.exemptions}
    for e in new.exemptions:
        if _exemption_key(e) not in old_ex:
            where = " ".join(x for x in (e.path and f"path `{e.path}`", e.reference and f"reference `{e.reference}`")
                             if x)
            out.append(PolicyChange(
                "exemptions",
                f"`exemptions`: added {', '.join(e.rules)} for {where} until {e.expires.isoformat()} "
                f"(tracked by #{e.issue})",
                True,
            ))
    for e in old.exemptions:
        if _exemption_key(e) not in new_ex:
            out.append(PolicyChange("exemptions", f"`exemptions`: removed {', '.join(e.rules)} (#{e.issue})", False))
    return out


def _rule_changes(old: Policy, new: Policy) -> list[PolicyChange]:
    out: list[PolicyChange] = []
    for meta in ALL_RULES:
        a, b = old.rule(meta), new.rule(meta)
        label = f"`rules.{meta.name}` ({meta.code})"
        if a.enabled != b.enabled:
            out.append(PolicyChange("rules", f"{label}: {'enabled' if b.enabled else 'disabled'}", not b.enabled))
        if a.severity != b.severity:
            out.append(PolicyChange("rules", f"{label}: severity {a.severity} → {b.severity}",
                                    SEVERITY_RANK[b.severity] < SEVERITY_RANK[a.severity]))
        if a.outside_production != b.outside_production:
            lowered = _rank(b.outside_production, b.severity) < _rank(a.outside_production, a.severity)
            out.append(PolicyChange(
                "rules", f"{label}: outside production {a.outside_production or a.severity} → "
                f"{b.outside_production or b.severity}", lowered,
            ))
        before = [g.text for g in a.ignore_paths.globs]
        after = [g.text for g in b.ignore_paths.globs]
        added = [p for p in after if p not in before]
        if added:
            out.append(PolicyChange("rules", f"{label}: now ignores {_fmt(added)}", True))
        removed = [p for p in before if p not in after]
        if removed:
            out.append(PolicyChange("rules", f"{label}: no longer ignores {_fmt(removed)}", False))
    return out


def to_markdown(changes: Iterable[PolicyChange], policy_path: str) -> str:
    items = list(changes)
    if not items:
        return f"**Image policy**: `{policy_path}` changes, but the effective policy stays the same."
    lines = [f"**Image policy changes** (`{policy_path}`, effective policy before → after):", ""]
    for c in items:
        lines.append(f"- {c.text}" + (" — **weakens the checks**" if c.weakens else ""))
    return "\n".join(lines)
