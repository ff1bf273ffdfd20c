"""The policy file ``.github/image-review.yml``: schema, validation, and merging over the defaults.

Loading never raises on bad input: every problem becomes a :class:`PolicyIssue` naming the key
path and line, the offending entry is ignored (its default applies), and the engine reports the
issues as findings.  A broken policy is never silently replaced by the defaults.

Merging over the defaults (app/data/default-policy.yaml):

* list keys: a list replaces the default; ``{add: [...], remove: [...]}`` edits it;
* mapping keys (mappings, critical_images, ...): entries are merged; ``key: null`` removes a default;
* ``rules``: per rule, the given fields override;
* ``exemptions``: added to the defaults (which have none).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any, Literal, TypeVar

from app.core.classify import Classifier, LocationPattern
from app.core.models import Severity
from app.policy.catalog import SEVERITIES, OutsideProduction, RuleMeta, lookup, rule_keys
from app.policy.mappings import Mappings, default_mappings
from app.policy.paths import PathGlobError, PathSet
from app.policy.regexsafety import UnsafeRegex, check_regex
from app.policy.tags import DIGEST_ONLY, FLOATING, NONE, OTHER, PRERELEASE, VERSION, TagRules
from app.policy.yamlsource import KeyPath, LocatedYaml, PolicyIssue, format_key, load_located

POLICY_PATH = ".github/image-review.yml"
DEFAULTS_SOURCE = "app/data/default-policy.yaml"
MAX_GLOB_WILDCARDS = 8
SCHEMA_VERSION = 1
_OWNER_RE = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9_.-]+)?$")
_RESERVED_KINDS = {VERSION, PRERELEASE, FLOATING, NONE, DIGEST_ONLY, OTHER}

T = TypeVar("T")
TwoStepScope = Literal["staging", "all", "off"]


class PolicyError(ValueError):
    """Raised by :func:`parse_policy_strict`; ``issues`` lists every problem."""

    def __init__(self, issues: Sequence[PolicyIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


# --- the typed policy ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """A repository's settings for one rule; None means "as the rule defines"."""

    enabled: bool | None = None
    severity: Severity | None = None
    outside_production: OutsideProduction | None = None
    ignore_paths: tuple[str, ...] | None = None

    def over(self, base: RuleConfig) -> RuleConfig:
        return RuleConfig(
            self.enabled if self.enabled is not None else base.enabled,
            self.severity if self.severity is not None else base.severity,
            self.outside_production if self.outside_production is not None else base.outside_production,
            self.ignore_paths if self.ignore_paths is not None else base.ignore_paths,
        )


@dataclass(frozen=True, slots=True)
class ResolvedRule:
    """A rule's effective settings: its defaults with the policy's overrides applied."""

    meta: RuleMeta
    enabled: bool
    severity: Severity
    outside_production: OutsideProduction | None
    ignore_paths: PathSet
    severity_overridden: bool


@dataclass(frozen=True, slots=True)
class Exemption:
    """A tracked exception: accepted findings of ``rules`` until ``expires``, tracked by ``issue``."""

    rules: tuple[str, ...]  # rule codes
    issue: int
    expires: date
    reason: str = ""
    path: str | None = None  # path glob (policy-file form)
    reference: str | None = None  # reference glob (policy-file form)
    origin: str = "policy"  # "policy" or "inline"
    source: str = POLICY_PATH
    line: int | None = None
    key: str = ""  # "exemptions[0]" for the policy-file form

    def describe(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        what = f"{self.key} in {where}" if self.key else f"inline exemption at {where}"
        return f"{what} (tracked by #{self.issue}, until {self.expires.isoformat()})"


@dataclass(frozen=True, slots=True)
class Labels:
    staging_image: str | None = "do-not-merge/staging-image"  # set while an IR001 error remains
    error: str | None = None  # set while any error remains


@dataclass(frozen=True, slots=True)
class RegistryVerification:
    """Whether to ask registries that referenced tags exist (done by the registry client, not here)."""

    enabled: bool = True
    cli: bool = False  # the CLI stays offline unless asked
    allowed_hosts: tuple[str, ...] = ()
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Policy:
    staging_locations: tuple[str, ...] = ()
    release_locations: tuple[str, ...] = ()
    mappings: dict[str, str] = field(default_factory=dict)
    staging_allowed_paths: tuple[str, ...] = ()
    generated_paths: tuple[str, ...] = ()
    deprecated_registries: dict[str, str] = field(default_factory=dict)
    disallowed_registries: dict[str, str] = field(default_factory=dict)  # location → reason ("" if none)
    mutable_tags: tuple[str, ...] = ()
    dev_tag_patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    require_digest: bool = False
    critical_images: dict[str, tuple[str, ...]] = field(default_factory=dict)
    policy_owners: tuple[str, ...] = ()
    rules: dict[str, RuleConfig] = field(default_factory=dict)  # by rule code
    exemptions: tuple[Exemption, ...] = ()
    review_drafts: bool = True
    dashboard: bool = False  # keep a "Staging images" issue for the default branch
    switch_back: bool = False  # open switch-back pull requests once a staging build is promoted
    switch_back_group: str = "image"  # one switch-back pull request per "image" or per "project"
    # Which image switches the two-step rules (IR010/IR011) judge: "staging" (a switch from or to a
    # staging image), "all" (every production switch: the kops convention) or "off".
    two_step: TwoStepScope = "staging"
    labels: Labels = Labels()
    registry_verification: RegistryVerification = RegistryVerification()
    source: str | None = None  # the policy file this came from; None for the defaults alone
    issues: tuple[PolicyIssue, ...] = ()

    # Derived, compiled views (cached: a policy is immutable).

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier.from_patterns(self.staging_locations, self.release_locations)

    @cached_property
    def mapper(self) -> Mappings:
        return Mappings.of(self.mappings)

    @cached_property
    def allowed_paths(self) -> PathSet:
        return PathSet.of(self.staging_allowed_paths)

    @cached_property
    def generated(self) -> PathSet:
        return PathSet.of(self.generated_paths)

    @cached_property
    def tag_rules(self) -> TagRules:
        return TagRules.build(self.mutable_tags, self.dev_tag_patterns)

    def is_production(self, path: str) -> bool:
        return not self.allowed_paths.matches(path)

    def is_generated(self, path: str) -> bool:
        return self.generated.matches(path)

    def rule(self, meta: RuleMeta) -> ResolvedRule:
        cfg = self.rules.get(meta.code, RuleConfig())
        return ResolvedRule(
            meta=meta,
            enabled=cfg.enabled if cfg.enabled is not None else True,
            severity=cfg.severity or meta.severity,
            outside_production=cfg.outside_production or meta.outside_production,
            ignore_paths=PathSet.of(cfg.ignore_paths or ()),
            severity_overridden=cfg.severity is not None,
        )


# --- validation ----------------------------------------------------------------------------------

TOP_LEVEL_KEYS = (
    "version", "staging_locations", "release_locations", "mappings", "staging_allowed_paths",
    "generated_paths", "deprecated_registries", "disallowed_registries", "mutable_tags", "dev_tag_patterns",
    "require_digest", "critical_images", "policy_owners", "rules", "exemptions", "review_drafts", "labels",
    "registry_verification", "dashboard", "switch_back", "switch_back_group", "two_step",
)
TWO_STEP_SCOPES: tuple[TwoStepScope, ...] = ("staging", "all", "off")
RULE_KEYS = ("enabled", "severity", "outside_production", "ignore_paths")
EXEMPTION_KEYS = ("rule", "rules", "path", "reference", "issue", "expires", "reason")
LABEL_KEYS = ("staging_image", "error")
VERIFICATION_KEYS = ("enabled", "cli", "allowed_hosts", "timeout_seconds")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True, slots=True)
class ListEdit:
    """A list key as written: a full replacement, or additions/removals to the defaults."""

    replace: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    remove_lines: tuple[int | None, ...] = ()

    def apply(self, base: tuple[str, ...], issues: list[PolicyIssue], key: str, source: str) -> tuple[str, ...]:
        if self.replace is not None:
            return self.replace
        out = list(base)
        for item, line in zip(self.remove, self.remove_lines, strict=True):
            if item in out:
                out.remove(item)
            else:
                hint = did_you_mean(item, base)
                issues.append(PolicyIssue(f"{key}.remove", line, f"{item!r} is not in the defaults{hint}", source))
        out.extend(a for a in self.add if a not in out)
        return tuple(out)


class _Validator:
    """Checks one located YAML document; collects issues and returns typed values."""

    def __init__(self, doc: LocatedYaml, source: str) -> None:
        self.doc = doc
        self.source = source
        self.issues: list[PolicyIssue] = list(doc.issues)

    def error(self, path: KeyPath, message: str) -> None:
        self.issues.append(PolicyIssue(format_key(path), self.doc.line(path), message, self.source))

    # Generic shapes.

    def mapping(self, value: Any, path: KeyPath, allowed: Sequence[str] | None = None) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping (key: value), not {_kind(value)}")
            return None
        if allowed is not None:
            for key in list(value):
                if key not in allowed:
                    self.error((*path, key), f"unknown key{did_you_mean(key, allowed)}")
                    del value[key]
        return value

    def string(self, value: Any, path: KeyPath, *, allow_empty: bool = False) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(path, f"must be a string, not {_kind(value)}")
            return None
        text = str(value).strip()
        if not text and not allow_empty:
            self.error(path, "must not be empty")
            return None
        return text

    def boolean(self, value: Any, path: KeyPath) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, not {_kind(value)}")
            return None
        return value

    def strings(self, value: Any, path: KeyPath, check: Callable[[str, KeyPath], str | None]) -> list[str] | None:
        if not isinstance(value, list):
            self.error(path, f"must be a list, not {_kind(value)}")
            return None
        out: list[str] = []
        for i, item in enumerate(value):
            text = self.string(item, (*path, i))
            if text is None:
                continue
            checked = check(text, (*path, i))
            if checked is not None and checked not in out:
                out.append(checked)
        return out

    def list_or_edit(self, value: Any, path: KeyPath, check: Callable[[str, KeyPath], str | None]) -> ListEdit | None:
        if isinstance(value, list):
            items = self.strings(value, path, check)
            return None if items is None else ListEdit(replace=tuple(items))
        if isinstance(value, dict):
            edit = self.mapping(value, path, ("add", "remove"))
            if edit is None:
                return None
            add = self.strings(edit.get("add", []), (*path, "add"), check) or []
            remove = self.strings(edit.get("remove", []), (*path, "remove"), check) or []
            lines = tuple(self.doc.line((*path, "remove", i)) for i in range(len(remove)))
            return ListEdit(None, tuple(add), tuple(remove), lines)
        self.error(path, f"must be a list, or a mapping with add:/remove: lists, not {_kind(value)}")
        return None

    # Item checks: return the normalized item or None (after recording an issue).

    def location(self, text: str, path: KeyPath) -> str | None:
        try:
            LocationPattern.parse(text)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        if "://" in text:
            self.error(path, "a location is registry/path without a scheme (e.g. gcr.io/k8s-staging-foo)")
            return None
        return text.strip().strip("/")

    def literal_prefix(self, text: str, path: KeyPath) -> str | None:
        if any(c in text for c in "*?[]"):
            self.error(path, "must be a literal registry/path prefix (no wildcards)")
            return None
        return self.location(text, path)

    def prefix_value(self, raw: Any, path: KeyPath) -> str | None:
        text = self.string(raw, path)
        return self.literal_prefix(text, path) if text is not None else None

    def host_pattern(self, text: str, path: KeyPath) -> str | None:
        if "://" in text or "/" in text or " " in text:
            self.error(path, "must be a registry host or host glob (registry.k8s.io, *.gcr.io, 127.0.0.1:*)")
            return None
        return text.lower()

    def path_glob(self, text: str, path: KeyPath) -> str | None:
        # Globs become backtracking regexes; each wildcard multiplies the worst case by a path's length.
        wildcards = len(re.findall(r"\*+", text))
        if wildcards > MAX_GLOB_WILDCARDS or len(text) > 1024:
            self.error(path, f"path pattern is too complex (at most {MAX_GLOB_WILDCARDS} wildcards, 1024 characters)")
            return None
        try:
            PathSet.of([text])
        except PathGlobError as exc:
            self.error(path, str(exc))
            return None
        return text

    def tag_glob(self, text: str, path: KeyPath) -> str | None:
        return text.lower()

    def regex(self, text: str, path: KeyPath) -> str | None:
        try:
            check_regex(text)
        except re.error as exc:
            self.error(path, f"invalid regular expression: {exc}")
            return None
        except UnsafeRegex as exc:
            self.error(path, f"unsafe regular expression: {exc}")
            return None
        return text

    def owner(self, text: str, path: KeyPath) -> str | None:
        if not _OWNER_RE.match(text):
            self.error(path, "must be a GitHub login (alice, @alice) or a team (@org/team)")
            return None
        return text if text.startswith("@") else "@" + text

    def severity(self, value: Any, path: KeyPath, *, allow_off: bool = False) -> str | None:
        choices = (*SEVERITIES, "off") if allow_off else SEVERITIES
        if value is False and allow_off:
            return "off"  # YAML 1.1 reads a bare "off" as false
        text = self.string(value, path)
        if text is None:
            return None
        text = text.lower()
        if text == "note":
            text = "notice"
        if text not in choices:
            self.error(path, f"must be one of {', '.join(choices)} (got {text!r}){did_you_mean(text, choices)}")
            return None
        return text


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__


# --- per-key readers: each returns a function that applies the key to a base policy -------------

Apply = Callable[[Policy, list[PolicyIssue]], Policy]


def _read(doc: LocatedYaml, source: str) -> tuple[list[Apply], list[PolicyIssue]]:
    v = _Validator(doc, source)
    applies: list[Apply] = []
    if doc.data is None:
        return applies, v.issues
    top = v.mapping(doc.data, (), TOP_LEVEL_KEYS)
    if top is None:
        return applies, v.issues

    def list_key(key: str, check: Callable[[str, KeyPath], str | None]) -> None:
        if key not in top:
            return
        edit = v.list_or_edit(top[key], (key,), check)
        if edit is not None:
            applies.append(lambda p, issues: _with(p, key, edit.apply(getattr(p, key), issues, key, source)))

    def map_key(
        key: str, read_value: Callable[[Any, KeyPath], T | None], read_key: Callable[[str, KeyPath], str | None]
    ) -> None:
        if key not in top:
            return
        m = v.mapping(top[key], (key,))
        if m is None:
            return
        sets: dict[str, T] = {}
        removes: list[str] = []
        for k, raw in m.items():
            nk = read_key(k, (key, k))
            if nk is None:
                continue
            if raw is None:
                removes.append(nk)
                continue
            val = read_value(raw, (key, k))
            if val is not None:
                sets[nk] = val

        def apply(p: Policy, issues: list[PolicyIssue]) -> Policy:
            merged = dict(getattr(p, key))
            for r in removes:
                merged.pop(r, None)
            merged.update(sets)
            return _with(p, key, merged)

        applies.append(apply)

    if "version" in top and top["version"] != SCHEMA_VERSION:
        v.error(("version",), f"unsupported version {top['version']!r}; supported: {SCHEMA_VERSION}")

    list_key("staging_locations", v.location)
    list_key("release_locations", v.location)
    list_key("staging_allowed_paths", v.path_glob)
    list_key("generated_paths", v.path_glob)
    list_key("mutable_tags", v.tag_glob)
    list_key("policy_owners", v.owner)

    map_key("mappings", v.prefix_value, v.literal_prefix)
    map_key("deprecated_registries", v.prefix_value, v.literal_prefix)
    map_key("critical_images", lambda raw, path: _owners(v, raw, path), v.location)
    map_key("dev_tag_patterns", lambda raw, path: _patterns(v, raw, path), lambda k, path: _kind_name(v, k, path))

    if "disallowed_registries" in top:
        raw = top["disallowed_registries"]
        if isinstance(raw, list):
            items = v.strings(raw, ("disallowed_registries",), v.location)
            if items is not None:
                table = dict.fromkeys(items, "")
                applies.append(lambda p, issues: replace(p, disallowed_registries=table))
        else:
            map_key("disallowed_registries", lambda raw, path: v.string(raw, path, allow_empty=True), v.location)

    for key in ("require_digest", "review_drafts", "dashboard", "switch_back"):
        if key in top:
            flag = v.boolean(top[key], (key,))
            if flag is not None:
                applies.append(_setter(key, flag))

    if "switch_back_group" in top:
        group = v.string(top["switch_back_group"], ("switch_back_group",))
        if group is not None and group not in ("image", "project"):
            v.error(("switch_back_group",), f"must be image or project, not {group!r}")
        elif group is not None:
            applies.append(_setter("switch_back_group", group))

    if "two_step" in top:
        applies.extend(_read_two_step(v, top["two_step"]))

    if "rules" in top:
        applies.extend(_read_rules(v, top["rules"]))
    if "exemptions" in top:
        exemptions = _read_exemptions(v, top["exemptions"])
        applies.append(lambda p, issues: replace(p, exemptions=p.exemptions + exemptions))
    if "labels" in top:
        applies.extend(_read_labels(v, top["labels"]))
    if "registry_verification" in top:
        applies.extend(_read_verification(v, top["registry_verification"]))
    return applies, v.issues


def _with(policy: Policy, key: str, value: Any) -> Policy:
    changes: dict[str, Any] = {key: value}
    return replace(policy, **changes)


def _read_two_step(v: _Validator, raw: Any) -> list[Apply]:
    # YAML reads a bare `off` as false: accept it as the word it was written as.
    if raw is False:
        raw = "off"
    scope = v.string(raw, ("two_step",))
    for known in TWO_STEP_SCOPES:
        if scope == known:
            return [_setter("two_step", known)]
    if scope is not None:
        v.error(("two_step",), f"must be staging, all or off, not {scope!r}")
    return []


def _setter(key: str, value: Any) -> Apply:
    def apply(p: Policy, issues: list[PolicyIssue]) -> Policy:
        return _with(p, key, value)

    return apply


def _owners(v: _Validator, raw: Any, path: KeyPath) -> tuple[str, ...] | None:
    if isinstance(raw, str):
        single = v.owner(raw, path)
        return (single,) if single is not None else None
    owners = v.strings(raw, path, v.owner)
    if owners is not None and not owners:
        v.error(path, "needs at least one owner (a login or @org/team); use null to remove a default entry")
        return None
    return tuple(owners) if owners else None


def _patterns(v: _Validator, raw: Any, path: KeyPath) -> tuple[str, ...] | None:
    if isinstance(raw, str):
        single = v.regex(raw, path)
        return (single,) if single is not None else None
    items = v.strings(raw, path, v.regex)
    return tuple(items) if items else None


def _kind_name(v: _Validator, key: str, path: KeyPath) -> str | None:
    if key in _RESERVED_KINDS:
        v.error(path, f"{key!r} is a built-in tag kind; name development-build patterns differently")
        return None
    return key


def _read_rules(v: _Validator, raw: Any) -> list[Apply]:
    m = v.mapping(raw, ("rules",))
    if m is None:
        return []
    configs: dict[str, RuleConfig] = {}
    for key, value in m.items():
        path: KeyPath = ("rules", key)
        meta = lookup(key)
        if meta is None:
            v.error(path, f"unknown rule{did_you_mean(key, rule_keys())}")
            continue
        if meta.code in configs:
            v.error(path, f"{meta.code} ({meta.name}) is configured twice")
            continue
        cfg = _read_rule_config(v, value, path)
        if cfg is not None and meta.severity_fixed and (
            cfg.severity not in (None, meta.severity) or cfg.outside_production not in (None, "off", meta.severity)
        ):
            v.error(path, f"{meta.code} ({meta.name}) is always a {meta.severity}; it can only be disabled")
            cfg = RuleConfig(enabled=cfg.enabled, ignore_paths=cfg.ignore_paths)
        if cfg is not None:
            configs[meta.code] = cfg

    def apply(p: Policy, issues: list[PolicyIssue]) -> Policy:
        merged = dict(p.rules)
        for code, cfg in configs.items():
            merged[code] = cfg.over(merged.get(code, RuleConfig()))
        return replace(p, rules=merged)

    return [apply]


def _read_rule_config(v: _Validator, value: Any, path: KeyPath) -> RuleConfig | None:
    # Shorthands: "staging-image: warning", "staging-image: false" / "off".
    if isinstance(value, bool):
        return RuleConfig(enabled=value)
    if isinstance(value, str):
        sev = v.severity(value, path, allow_off=True)
        if sev is None:
            return None
        return RuleConfig(enabled=False) if sev == "off" else RuleConfig(severity=_sev(sev))
    m = v.mapping(value, path, RULE_KEYS)
    if m is None:
        return None
    enabled = v.boolean(m["enabled"], (*path, "enabled")) if "enabled" in m else None
    severity = v.severity(m["severity"], (*path, "severity")) if "severity" in m else None
    outside = (
        v.severity(m["outside_production"], (*path, "outside_production"), allow_off=True)
        if "outside_production" in m
        else None
    )
    ignore = None
    if "ignore_paths" in m:
        items = v.strings(m["ignore_paths"], (*path, "ignore_paths"), v.path_glob)
        ignore = tuple(items) if items is not None else None
    return RuleConfig(enabled, _sev(severity) if severity else None, _outside(outside), ignore)


def _sev(text: str) -> Severity:
    if text == "error":
        return "error"
    if text == "warning":
        return "warning"
    return "notice"


def _outside(text: str | None) -> OutsideProduction | None:
    if text is None:
        return None
    return "off" if text == "off" else _sev(text)


def parse_issue_number(value: Any) -> int | None:
    """``1234``, ``"#1234"`` or ``"1234"`` → 1234; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        match = re.fullmatch(r"#?(\d+)", value.strip())
        if match and int(match[1]) > 0:
            return int(match[1])
    return None


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _read_exemptions(v: _Validator, raw: Any) -> tuple[Exemption, ...]:
    if not isinstance(raw, list):
        v.error(("exemptions",), f"must be a list of exemptions, not {_kind(raw)}")
        return ()
    out: list[Exemption] = []
    for i, item in enumerate(raw):
        path: KeyPath = ("exemptions", i)
        before = len(v.issues)
        m = v.mapping(item, path, EXEMPTION_KEYS)
        if m is None:
            continue
        codes: list[str] = []
        rule_key = "rules" if "rules" in m else "rule"
        rules_raw = m.get(rule_key)
        if rules_raw is None:
            v.error(path, "missing 'rule': name the rule this exemption accepts (e.g. staging-image)")
        else:
            names = rules_raw if isinstance(rules_raw, list) else [rules_raw]
            for j, name in enumerate(names):
                rpath: KeyPath = (*path, rule_key, j) if isinstance(rules_raw, list) else (*path, rule_key)
                text = v.string(name, rpath)
                if text is None:
                    continue
                meta = lookup(text)
                if meta is None:
                    v.error(rpath, f"unknown rule {text!r}{did_you_mean(text, rule_keys())}")
                elif not meta.exemptable:
                    v.error(rpath, f"{meta.code} ({meta.name}) cannot be exempted")
                else:
                    codes.append(meta.code)
        issue = parse_issue_number(m.get("issue"))
        if "issue" not in m:
            v.error(path, "missing 'issue': exemptions must name a tracking issue (issue: 1234)")
        elif issue is None:
            v.error((*path, "issue"), f"must be an issue number such as 1234 or \"#1234\" (got {m['issue']!r})")
        expires = parse_date(m.get("expires"))
        if "expires" not in m:
            v.error(path, "missing 'expires': exemptions must expire (expires: 2026-12-31)")
        elif expires is None:
            v.error((*path, "expires"), f"must be a date YYYY-MM-DD (got {m['expires']!r})")
        glob_path = v.string(m["path"], (*path, "path")) if "path" in m else None
        if glob_path is not None and v.path_glob(glob_path, (*path, "path")) is None:
            glob_path = None
        reference = v.string(m["reference"], (*path, "reference")) if "reference" in m else None
        if "path" not in m and "reference" not in m:
            v.error(path, "needs 'path' or 'reference' (or both): an exemption for everything is a disabled rule")
        reason = v.string(m.get("reason", ""), (*path, "reason"), allow_empty=True) or ""
        if len(v.issues) > before or issue is None or expires is None or not codes:
            continue  # a malformed exemption is reported and never applied
        out.append(
            Exemption(tuple(codes), issue, expires, reason, glob_path, reference, "policy", v.source,
                      v.doc.line(path), format_key(path))
        )
    return tuple(out)


def _read_labels(v: _Validator, raw: Any) -> list[Apply]:
    m = v.mapping(raw, ("labels",), LABEL_KEYS)
    if m is None:
        return []
    changes: dict[str, str | None] = {}
    for key in LABEL_KEYS:
        if key in m:
            changes[key] = None if m[key] is None else v.string(m[key], ("labels", key))
    return [lambda p, issues: replace(p, labels=replace(p.labels, **changes))]


def _read_verification(v: _Validator, raw: Any) -> list[Apply]:
    path: KeyPath = ("registry_verification",)
    m = v.mapping(raw, path, VERIFICATION_KEYS)
    if m is None:
        return []
    changes: dict[str, Any] = {}
    for key in ("enabled", "cli"):
        if key in m:
            b = v.boolean(m[key], (*path, key))
            if b is not None:
                changes[key] = b
    applies: list[Apply] = []
    if "allowed_hosts" in m:
        edit = v.list_or_edit(m["allowed_hosts"], (*path, "allowed_hosts"), v.host_pattern)
        if edit is not None:
            key, source = format_key((*path, "allowed_hosts")), v.source

            def apply_hosts(p: Policy, issues: list[PolicyIssue]) -> Policy:
                hosts = edit.apply(p.registry_verification.allowed_hosts, issues, key, source)
                return replace(p, registry_verification=replace(p.registry_verification, allowed_hosts=hosts))

            applies.append(apply_hosts)
    if "timeout_seconds" in m:
        t = m["timeout_seconds"]
        if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0:
            v.error((*path, "timeout_seconds"), "must be a positive number of seconds")
        else:
            changes["timeout_seconds"] = float(t)
    applies.insert(0, lambda p, issues: replace(p, registry_verification=replace(p.registry_verification, **changes)))
    return applies


# --- loading -------------------------------------------------------------------------------------


def merge_text(base: Policy, text: str, source: str) -> Policy:
    """Apply the policy text ``text`` over ``base``; problems are kept in ``Policy.issues``."""
    doc = load_located(text, source)
    applies, issues = _read(doc, source)
    policy = base
    for apply in applies:
        policy = apply(policy, issues)
    return replace(policy, source=source, issues=base.issues + tuple(issues))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The Kubernetes conventions: app/data/default-policy.yaml plus the k8s staging map."""
    text = resources.files("app").joinpath("data/default-policy.yaml").read_text(encoding="utf-8")
    base = Policy(mappings=dict(default_mappings()))
    policy = merge_text(base, text, DEFAULTS_SOURCE)
    if policy.issues:
        raise RuntimeError("the packaged default policy is invalid:\n" + "\n".join(map(str, policy.issues)))
    return replace(policy, source=None)


def load_policy(text: str | None, source: str = POLICY_PATH, base: Policy | None = None) -> Policy:
    """The effective policy for a repository: ``text`` (the policy file, or None) over the defaults.

    Never raises for bad input; see ``Policy.issues``.
    """
    defaults = base if base is not None else default_policy()
    if text is None:
        return defaults
    return merge_text(defaults, text, source)


def parse_policy_strict(text: str, source: str = POLICY_PATH) -> Policy:
    """Like :func:`load_policy` but raise :class:`PolicyError` on any problem (for `validate` commands)."""
    policy = load_policy(text, source)
    if policy.issues:
        raise PolicyError(policy.issues)
    return policy

