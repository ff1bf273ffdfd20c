"""Label fields of one image reference, following the corpus schema in ../shared/corpus/README.md.

Deliberately independent of app/: the labels are the yardstick for the scanner, so they must
not be derived from its grammar.
"""

from __future__ import annotations

import re

TEMPLATE = re.compile(r"\{\{|\$\{|\$[A-Za-z_(]|%[sv]|\{[A-Z_]+\}")
STAGING_TEST_PROJECTS = ("k8s-testimages", "kubernetes-e2e-test-images", "k8s-authenticated-test",
                         "kubernetes-ci-images")
RELEASE_HOSTS = ("registry.k8s.io", "k8s.gcr.io")
FLOATING = {"latest", "master", "main", "dev", "latest-master", "nightly", "edge", "canary"}


def split_reference(text: str) -> tuple[str | None, bool, str, str | None, str | None]:
    """Return (registry, registry_implicit, repository, tag, digest) of a written reference."""
    name, _, digest = text.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, implicit, path = first, False, rest
    else:
        registry, implicit, path = "docker.io", True, name
    repository, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return registry, implicit, repository, (tag if colon else None), (digest or None)


def classify(registry: str | None, repository: str) -> str:
    if registry is None:
        return "other"
    project = repository.split("/", 1)[0]
    if "staging" in registry or project.startswith("k8s-staging-") or "staging" in project:
        return "staging"
    if registry.endswith("gcr.io") and project in STAGING_TEST_PROJECTS:
        return "staging"
    if registry in RELEASE_HOSTS or (registry.endswith("gcr.io") and project in (
            "k8s-artifacts-prod", "google_containers", "google-containers")):
        return "release"
    return "other"


def tag_kind(tag: str | None, digest: str | None) -> tuple[str, bool | None]:
    if tag is None:
        return ("digest-only", True) if digest else ("none", False)
    if TEMPLATE.search(tag):
        return "templated", None
    if tag in FLOATING:
        return "floating", False
    if re.fullmatch(r"v?\d+(\.\d+)*-\d+-g[0-9a-f]{7,}", tag):
        return "git-describe", False
    if re.fullmatch(r"[0-9a-f]{7,40}", tag) and not tag.isdigit():
        return "git-sha", False
    if re.fullmatch(r"v?\d{8}-[0-9a-f]{7,}", tag):
        return "build-id", False
    if re.search(r"-(alpha|beta|rc)\.?\d*", tag):
        return "prerelease", True
    if re.search(r"\d", tag):
        return "version", True
    return "other", None


def scope(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    parts = path.split("/")
    if "vendor" in parts[:-1]:
        return "vendor"
    if parts[0] == "docs" or "docs" in parts[:-1] or parts[0] == "site" or name.endswith(".md"):
        return "docs"
    if (parts[0] in (".github", "ci", ".ci", ".prow") or name.startswith("cloudbuild")
            or name == "netlify.toml"):
        return "ci"
    if any(p in ("test", "tests", "testdata", "e2e") for p in parts[:-1]) or name.endswith("_test.go"):
        return "test"
    if (name.startswith("Dockerfile") or name.endswith((".Dockerfile", ".mk")) or name == "Makefile"
            or parts[0] in ("hack", "build", "images", "scripts") or name in (".ko.yaml", "WORKSPACE", "Tiltfile")):
        return "build"
    return "production"


def describe(path: str, side: str, line: int, reference: str, method: str, **extra: object) -> dict[str, object]:
    """A full label record for `reference` written on `line` of `path` (old-side line when removed)."""
    registry, implicit, repository, tag, digest = split_reference(reference)
    templated = bool(TEMPLATE.search(reference))
    if registry is not None and TEMPLATE.search(registry):
        registry = None
    kind, stable = tag_kind(tag, digest)
    record: dict[str, object] = {"file": path}
    record.update({"line": line, "side": side} if side == "added" else {"line": None, "old_line": line, "side": side})
    record.update({"reference": reference, "registry": registry})
    if implicit:
        record["registry_implicit"] = True
    record.update({"repository": repository, "tag": tag, "digest": digest,
                   "class": classify(registry, repository), "tag_kind": kind, "tag_stable": stable,
                   "scope": scope(path)})
    if templated:
        record["templated"] = True
    record.update(extra)
    record["method"] = method
    return record
