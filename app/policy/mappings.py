"""Staging → release location mappings: where a staging image is promoted to.

The default mappings come from app/data/k8s-staging-map.yaml (the Kubernetes image promoter's
manifests): each project's staging locations map to its first ``registry.k8s.io`` release name;
root-level projects (kubernetes, etcd) map to ``registry.k8s.io`` itself.  Prefixes match on whole
path components, so ``gcr.io/k8s-staging-etcd`` never matches ``gcr.io/k8s-staging-etcdadm/...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

RELEASE_REGISTRY = "registry.k8s.io"


def _components(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.strip().strip("/").lower().split("/") if p)


@dataclass(frozen=True, slots=True)
class PrefixMapping:
    staging: tuple[str, ...]
    release: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mappings:
    """Longest-prefix lookup of ``registry/repository`` names."""

    entries: tuple[PrefixMapping, ...]

    @classmethod
    def of(cls, pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Mappings:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        entries = [PrefixMapping(_components(s), _components(r)) for s, r in items]
        # Longest staging prefix first, so the most specific mapping wins.
        entries.sort(key=lambda m: -len(m.staging))
        return cls(tuple(entries))

    def release_name(self, name: str | None) -> str | None:
        """The release name a staging image ``name`` (``registry/repository``) is promoted to."""
        if not name:
            return None
        parts = _components(name)
        for m in self.entries:
            if parts[: len(m.staging)] == m.staging:
                rest = parts[len(m.staging) :]
                if not rest:
                    return None  # a bare project name is not an image
                return "/".join(m.release + rest)
        return None

    def release_location(self, name: str | None) -> str | None:
        """The release prefix (not the image) for ``name``: used when the image path is unknown."""
        if not name:
            return None
        parts = _components(name)
        for m in self.entries:
            if parts[: len(m.staging)] == m.staging:
                return "/".join(m.release)
        return None


def mappings_from_staging_map(data: Mapping[str, Any]) -> dict[str, str]:
    """Build staging prefix → release prefix pairs from a k8s-staging-map.yaml document."""
    out: dict[str, str] = {}
    for project in data.get("mapped_projects", ()) or ():
        releases = [r for r in project.get("release", ()) or () if _components(r)[:1] == (RELEASE_REGISTRY,)]
        if project.get("root_level"):
            target = RELEASE_REGISTRY
        elif releases:
            target = releases[0]
        else:
            continue
        for staging in project.get("staging", ()) or ():
            # Several manifest directories can share a source; the first (newest) entry wins.
            out.setdefault(str(staging).strip("/"), target)
    return out


@lru_cache(maxsize=1)
def default_mappings() -> dict[str, str]:
    text = resources.files("app").joinpath("data/k8s-staging-map.yaml").read_text(encoding="utf-8")
    return mappings_from_staging_map(yaml.safe_load(text))
