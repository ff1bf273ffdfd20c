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
SHARED_AR_STAGING = "k8s-staging-images"  # us-central1-docker.pkg.dev/k8s-staging-images/<project>


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

    def match(self, name: str | None) -> tuple[str, str, str] | None:
        """``(staging prefix, release prefix, image path below the prefix)`` for a staging name."""
        if not name:
            return None
        parts = _components(name)
        for m in self.entries:
            if parts[: len(m.staging)] == m.staging and len(parts) > len(m.staging):
                return "/".join(m.staging), "/".join(m.release), "/".join(parts[len(m.staging) :])
        return None

    def staging_sources(self, release_name: str | None) -> list[tuple[str, str, str]]:
        """The staging prefixes promoted to a release name, most specific release prefix first:
        ``[(staging prefix, release prefix, image path below the release prefix)]``."""
        if not release_name:
            return []
        parts = _components(release_name)
        found = [
            m for m in self.entries if parts[: len(m.release)] == m.release and len(parts) > len(m.release)
        ]
        found.sort(key=lambda m: -len(m.release))
        return [("/".join(m.staging), "/".join(m.release), "/".join(parts[len(m.release) :])) for m in found]

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


def projects_from_staging_map(data: Mapping[str, Any]) -> dict[str, str]:
    """Staging prefix → image-promoter project (``k8s-staging-<name>``, its images.yaml directory)."""
    out: dict[str, str] = {}
    for project in data.get("mapped_projects", ()) or ():
        name = str(project.get("project") or "")
        if not name:
            continue
        for staging in project.get("staging", ()) or ():
            out.setdefault("/".join(_components(str(staging))), name)
    return out


@lru_cache(maxsize=1)
def _staging_map() -> dict[str, Any]:
    text = resources.files("app").joinpath("data/k8s-staging-map.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@lru_cache(maxsize=1)
def default_mappings() -> dict[str, str]:
    return mappings_from_staging_map(_staging_map())


@lru_cache(maxsize=1)
def _default_projects() -> dict[str, str]:
    return projects_from_staging_map(_staging_map())


def promoter_project(staging_prefix: str) -> str | None:
    """The image-promoter project whose images.yaml lists what ``staging_prefix`` promoted.

    Known prefixes come from the staging map (the Artifact Registry ones do not carry the
    project's name); otherwise the promoter's naming convention applies: the staging project
    is the path component named ``k8s-staging-<name>``, and in the shared Artifact Registry
    project ``k8s-staging-images/<name>`` it is ``k8s-staging-<name>``.
    """
    parts = _components(staging_prefix)
    known = _default_projects().get("/".join(parts))
    if known is not None:
        return known
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == SHARED_AR_STAGING and i + 1 < len(parts):
            return "k8s-staging-" + parts[i + 1]
        if parts[i].startswith("k8s-staging-") and parts[i] != SHARED_AR_STAGING:
            return parts[i]
    return None
