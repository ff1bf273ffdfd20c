"""Classify a reference as staging, release or other, from location patterns given as data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from app.core.models import RefClass


@dataclass(frozen=True, slots=True)
class LocationPattern:
    """A prefix glob on ``registry/repository``, compared path component by component."""

    text: str
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> LocationPattern:
        parts = tuple(p for p in text.strip().strip("/").split("/") if p)
        if not parts:
            raise ValueError(f"empty location pattern {text!r}")
        return cls(text, parts)

    def matches(self, components: Sequence[str]) -> bool:
        if len(components) < len(self.parts):
            return False
        return all(fnmatchcase(c, p) for c, p in zip(components, self.parts, strict=False))


def name_components(registry: str | None, repository: str | None) -> list[str]:
    """``registry/repository`` as components; a templated registry gives no components."""
    if not registry:
        return []
    return [registry.lower(), *((repository or "").split("/") if repository else [])]


@dataclass(frozen=True, slots=True)
class Classifier:
    staging: tuple[LocationPattern, ...]
    release: tuple[LocationPattern, ...]

    @classmethod
    def from_patterns(cls, staging: Iterable[str], release: Iterable[str]) -> Classifier:
        return cls(
            tuple(LocationPattern.parse(p) for p in staging),
            tuple(LocationPattern.parse(p) for p in release),
        )

    @classmethod
    def from_policy_data(cls, data: Mapping[str, Any]) -> Classifier:
        return cls.from_patterns(data.get("staging_locations", ()), data.get("release_locations", ()))

    def classify(self, registry: str | None, repository: str | None) -> RefClass:
        components = name_components(registry, repository)
        if not components:
            return "other"
        if any(p.matches(components) for p in self.staging):
            return "staging"
        if any(p.matches(components) for p in self.release):
            return "release"
        return "other"


@lru_cache(maxsize=1)
def default_policy_data() -> dict[str, Any]:
    text = resources.files("app").joinpath("data/default-policy.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def default_classifier() -> Classifier:
    return Classifier.from_policy_data(default_policy_data())
