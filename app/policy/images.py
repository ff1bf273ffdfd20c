"""Image names under a policy: deprecated-registry rewrites, identity across locations, critical images."""

from __future__ import annotations

from fnmatch import fnmatchcase

from app.core.classify import LocationPattern, name_components
from app.core.models import RefChange
from app.policy.config import Policy


def ref_components(ref: RefChange) -> list[str]:
    return name_components(ref.registry, ref.repository)


def _prefix_parts(prefix: str) -> list[str]:
    return [p for p in prefix.strip("/").lower().split("/") if p]


def deprecated_match(policy: Policy, ref: RefChange) -> tuple[str, str] | None:
    """(deprecated prefix, replacement) for ``ref``, the longest prefix first."""
    parts = ref_components(ref)
    best: tuple[str, str] | None = None
    for old, new in policy.deprecated_registries.items():
        old_parts = _prefix_parts(old)
        if parts[: len(old_parts)] == old_parts and (best is None or len(old_parts) > len(_prefix_parts(best[0]))):
            best = (old, new)
    return best


def rewrite_prefix(text: str, old: str, new: str) -> str | None:
    """``text`` with its leading ``old`` location replaced by ``new``; None if it does not start so."""
    old = old.strip("/")
    if text.lower().startswith(old.lower()):
        rest = text[len(old) :]
        if not rest or rest[0] in "/:@":
            return new.strip("/") + rest
    return None


def identity(policy: Policy, name: str | None) -> str | None:
    """The name an image is known by across locations: deprecated registries and staging locations
    resolved to their release names, so a staging build and its release compare as one image."""
    if not name:
        return None
    current = name.lower()
    for old, new in sorted(policy.deprecated_registries.items(), key=lambda kv: -len(_prefix_parts(kv[0]))):
        rewritten = rewrite_prefix(current, old, new)
        if rewritten is not None:
            current = rewritten.lower()
            break
    return policy.mapper.release_name(current) or current


def critical_patterns(policy: Policy, ref: RefChange) -> list[str]:
    """The ``critical_images`` patterns ``ref`` matches (by its own name or its release identity).

    A pattern with ``/`` is a location prefix glob (``registry.k8s.io/etcd-manager``); one without
    matches the image's last path component (``etcd-manager*``).
    """
    names = [n for n in (ref.name, identity(policy, ref.name)) if n]
    out: list[str] = []
    for pattern in policy.critical_images:
        for name in names:
            parts = name.lower().split("/")
            if "/" in pattern:
                hit = LocationPattern.parse(pattern.lower()).matches(parts)
            else:
                hit = fnmatchcase(parts[-1], pattern.lower())
            if hit:
                out.append(pattern)
                break
    return out
