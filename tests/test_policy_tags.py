"""Tag kinds and version comparison."""

from __future__ import annotations

import pytest

from app.policy import default_policy, load_policy
from app.policy.tags import compare_versions, is_release_shaped, parse_version


def kind(tag: str | None, digest: str | None = None) -> str:
    return default_policy().tag_rules.kind(tag, digest)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        # version (from the corpus README table and records)
        ("v3.0.20220203", "version"),
        ("3.5.6-0", "version"),
        ("1.24.1-bookworm", "version"),
        ("bookworm-v1.0.8", "version"),
        ("v3.0.20230119-slim", "version"),
        ("3.0.20210430", "version"),
        ("3.9-alpine", "version"),
        ("v1", "version"),
        ("1-20-0dockertag", "version"),
        ("20220203", "version"),
        ("v4.6.1-1", "version"),
        # prerelease
        ("1.24.0-alpha.2", "prerelease"),
        ("v1.21.0-alpha.0", "prerelease"),
        ("0.9.0-beta.10", "prerelease"),
        ("v1.30.0-rc.1", "prerelease"),
        ("1.0.0-rc1", "prerelease"),
        # development builds
        ("v3.0.20220128-20-g9ef09c83", "git-describe"),
        ("v1.24.0-alpha.0-23-gf6b92bb", "git-describe"),
        ("v1.2.3-dirty", "git-describe"),
        ("f1ea649", "git-sha"),
        ("0123456789abcdef0123456789abcdef01234567", "git-sha"),
        ("v20211008-60e346af", "build-id"),
        ("v20220314-46af1b01a6", "build-id"),
        ("sha-1a2b3c4", "build-id"),
        ("v1.31.0-alpha.0.123_abcdef012345", "build-id"),
        ("1.16-dev", "build-id"),
        # floating
        ("latest", "floating"),
        ("LATEST", "floating"),
        ("main", "floating"),
        ("master", "floating"),
        ("latest-master", "floating"),
        ("nightly", "floating"),
        # other
        ("alpine", "other"),
    ],
)
def test_tag_kinds(tag: str, expected: str) -> None:
    assert kind(tag) == expected


def test_no_tag() -> None:
    assert kind(None) == "none"
    assert kind(None, "sha256:" + "a" * 64) == "digest-only"


def test_policy_patterns_extend_kinds() -> None:
    p = load_policy("dev_tag_patterns: {weekly: '^wk\\d+$'}\nmutable_tags: {add: ['release-*']}\n")
    assert p.issues == ()
    assert p.tag_rules.kind("wk12") == "weekly"
    assert p.tag_rules.is_development("weekly")
    assert p.tag_rules.kind("release-1.24") == "floating"


@pytest.mark.parametrize(
    ("tag", "shaped"),
    [("v3.0.20230925", True), ("3.0.20210430", True), ("v1.2.3", True), ("v5.0.0", True),
     ("v1.2.3-rc.1", True), ("latest", False), ("f1ea649", False), ("bookworm-v1.0.8", True),
     ("v2.4.0-go1.23.2-bookworm.0", True), ("v1.2.3-4-g1a2b3c4", False), ("v20211008-60e346af", False),
     (None, False)],
)
def test_release_shaped(tag: str | None, shaped: bool) -> None:
    assert is_release_shaped(tag) is shaped


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("v3.0.20220203", "v3.0.20220128-22-g9ef09c83", 1),
        ("v3.0.20220128-22-g9ef09c83", "v3.0.20220128", 1),
        ("v3.0.20220128-20-g9ef09c83", "v3.0.20220128-22-g09fbed34", -1),
        ("3.0.20210430", "v3.0.20211117", -1),  # the "v" prefix does not matter
        ("1.24.1-bookworm", "1.23.5-bookworm", 1),
        ("1.24.1-bookworm", "1.24.1-alpine", None),  # flavours do not compare
        ("v1.2.3", "v1.2.3", 0),
        ("v1.2", "v1.2.0", 0),
        ("v1.10.0", "v1.9.9", 1),  # numeric, not lexical
        ("v1.2.3-rc.1", "v1.2.3", -1),
        ("v1.2.3-alpha.2", "v1.2.3-beta.1", -1),
        ("v1.2.3-rc.2", "v1.2.3-rc.10", -1),
        ("3.5.6-0", "3.5.6", 0),
        ("3.5.6-1", "3.5.6-0", 1),
        ("v20211008-60e346af", "v20211118-2f2d816b90", -1),  # dated builds compare by date
        ("v20211008-60e346af", "v20211008-1234567", None),  # same day: order unknown
        ("v3.0.20220203", "v3.1.0", -1),
        ("v20220203", "v1.2.3", None),  # a date is not a major version
        ("latest", "v1.0.0", None),
        ("f1ea649", "v1.0.0", None),
    ],
)
def test_compare_versions(a: str, b: str, expected: int | None) -> None:
    assert compare_versions(a, b) == expected
    if expected is not None:
        assert compare_versions(b, a) == -expected


def test_parse_version_parts() -> None:
    v = parse_version("v3.0.20220128-22-g9ef09c83")
    assert v is not None and v.core == (3, 0, 20220128) and v.commits_after == 22
    assert parse_version("alpine") is None
    assert parse_version(None) is None
