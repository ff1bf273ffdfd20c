"""Consistency: IR008 inconsistent-versions, IR009 version-downgrade.

Versions are compared within one deployable file (see ``_inconsistent``). Images are compared by
identity: deprecated registries and staging locations are resolved to
their release names, so ``gcr.io/k8s-staging-etcdadm/etcd-manager`` and
``registry.k8s.io/etcdadm/etcd-manager`` are one image.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from app.core.filekinds import FileKind, file_kind
from app.core.models import RefChange
from app.policy.catalog import INCONSISTENT_VERSIONS, VERSION_DOWNGRADE, RuleMeta
from app.policy.context import Draft, RuleInput, RuleOutput
from app.policy.images import identity
from app.policy.rules.choices import KeptTags
from app.policy.tags import compare_versions, names_a_line_of

RULES: tuple[RuleMeta, ...] = (INCONSISTENT_VERSIONS, VERSION_DOWNGRADE)
_LISTED = 5  # locations named in a message before "and N more"


def _versioned(inp: RuleInput, ref: RefChange) -> bool:
    return ref.plain and ref.tag is not None and ref.name is not None and not inp.policy.is_generated(ref.path)


def check(inp: RuleInput) -> RuleOutput:
    out = RuleOutput()
    out.drafts.extend(_inconsistent(inp))
    out.drafts.extend(_downgrades(inp))
    return out


# Files that deploy what they name. Program code (Go, shell, Python, Starlark, Makefiles) selects among
# versions on purpose (a switch per Kubernetes version), so a spread there is intended.
_DEPLOYABLE: frozenset[FileKind] = frozenset({"yaml", "json", "dockerfile", "toml"})


def _inconsistent(inp: RuleInput) -> list[Draft]:
    """One image at two versions within one deployable file, at least one of them chosen by the PR.

    One file per version (``addons/dashboard/v1.7.0.yaml``, ``v1.8.0.yaml``) and per-version branches
    in code are intended spreads; a tag the pull request kept (a registry rename) is not its choice.
    """
    previous = KeptTags(inp)
    groups: dict[tuple[str, str], list[RefChange]] = defaultdict(list)
    for ref in inp.added:
        if _versioned(inp, ref) and file_kind(ref.path) in _DEPLOYABLE:
            key = identity(inp.policy, ref.name)
            if key:
                groups[(ref.path, key)].append(ref)
    drafts: list[Draft] = []
    for (path, _), refs in sorted(groups.items()):
        tags = _ordered_tags(refs)
        if len(tags) < 2 or all(previous.kept(r) for r in refs):
            continue
        newest = tags[-1]
        odd = next(r for r in sorted(refs, key=lambda r: r.line) if r.tag != newest)
        written = next(r for r in refs if r.tag == newest).name or odd.name
        listing = "; ".join(f"`{t}` at {_where([r for r in refs if r.tag == t])}" for t in reversed(tags))
        drafts.append(Draft(
            INCONSISTENT_VERSIONS, odd.path, odd.line,
            f"`{written}` is added at {len(tags)} versions in `{path}`: {listing}. Use one version in the file "
            "unless the difference is intended.",
            f"{path}\x00{written}", commit=odd.commit, production=inp.policy.is_production(path),
        ))
    return drafts


def _ordered_tags(refs: Sequence[RefChange]) -> list[str]:
    """Distinct tags, oldest first where they compare (the last one is taken as the intended one)."""
    tags: list[str] = []
    for r in refs:
        if r.tag is not None and r.tag not in tags:
            tags.append(r.tag)
    # Insertion sort with a partial order: tags that do not compare keep their order of appearance.
    ordered: list[str] = []
    for t in tags:
        at = len(ordered)
        while at > 0 and (compare_versions(t, ordered[at - 1]) or 0) < 0:
            at -= 1
        ordered.insert(at, t)
    return ordered


def _where(refs: Sequence[RefChange]) -> str:
    shown = [f"line {r.line}" for r in sorted(refs, key=lambda r: (r.path, r.line))[:_LISTED]]
    more = len(refs) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _downgrades(inp: RuleInput) -> list[Draft]:
    old_path_of = {f.new_path: f.old_path for f in inp.files if f.new_path and f.old_path}
    removed: dict[tuple[str, str], list[RefChange]] = defaultdict(list)
    for ref in inp.refs:
        if ref.side == "removed" and _versioned(inp, ref):
            key = identity(inp.policy, ref.name)
            if key:
                removed[(ref.path, key)].append(ref)
    drafts: list[Draft] = []
    for ref in inp.added:
        if not _versioned(inp, ref):
            continue
        key = identity(inp.policy, ref.name)
        if key is None:
            continue
        candidates = removed.get((old_path_of.get(ref.path, ref.path), key), [])
        if not candidates:
            continue
        # The removed reference nearest to this line is the one it replaced (the same line pair).
        before = min(candidates, key=lambda r: abs(r.line - ref.line))
        if compare_versions(ref.tag, before.tag) != -1 or names_a_line_of(ref.tag, before.tag):
            continue
        drafts.append(Draft(
            VERSION_DOWNGRADE, ref.path, ref.line,
            f"`{key}` goes back from `{before.tag}` to `{ref.tag}` (replacing `{before.reference}` with "
            f"`{ref.reference}`). Check that the downgrade is intended; otherwise keep `{before.tag}` or newer.",
            ref.normalized(), commit=ref.commit, production=inp.policy.is_production(ref.path),
        ))
    return drafts
