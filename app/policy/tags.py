"""Tag kinds and version comparison.

Kinds follow the corpus labels (see the corpus README, "tag_kind"):

=============  ===========================================  ==========
kind           examples                                     stable
=============  ===========================================  ==========
version        v3.0.20220203, 3.5.6-0, 1.24.1-bookworm      yes
prerelease     1.24.0-alpha.2, v1.21.0-rc.1                 yes
git-describe   v3.0.20220128-20-g9ef09c83, v1.2.3-dirty     no
git-sha        f1ea649                                      no
build-id       v20211008-60e346af, sha-1a2b3c4              no
floating       latest, main, master, latest-master          no
none           no tag and no digest                         no
digest-only    @sha256:... without a tag                    yes
other          alpine, bookworm                             unknown
=============  ===========================================  ==========

The floating list and the development-build patterns come from the policy
(``mutable_tags``, ``dev_tag_patterns``); the defaults live in default-policy.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from app.policy.regexsafety import MAX_SUBJECT

VERSION = "version"
PRERELEASE = "prerelease"
FLOATING = "floating"
NONE = "none"
DIGEST_ONLY = "digest-only"
OTHER = "other"
BUILD_ID = "build-id"  # the default policy's development kind for dated build ids and similar (dev_tag_patterns)
# Kinds that name one immutable build and may be promoted to a release location.
STABLE_KINDS = frozenset({VERSION, PRERELEASE, DIGEST_ONLY})

_PRERELEASE_RE = re.compile(
    r"^v?\d+(?:\.\d+)*[-.]?(?:alpha|beta|rc|pre|preview)(?:[.-]?\d+)*(?:[-_.][0-9a-z]+)*$", re.IGNORECASE
)
_VERSION_START_RE = re.compile(r"^v?\d", re.IGNORECASE)
_VERSION_INSIDE_RE = re.compile(r"(?:^|[-_.])v?\d+\.\d+", re.IGNORECASE)
# A release version, optionally behind a distro or variant prefix (`bookworm-v1.0.5`) and followed by
# build-environment suffixes (`v2.4.0-go1.23.2-bookworm.0`).
_RELEASE_SHAPED_RE = re.compile(
    r"^(?:[a-z][a-z0-9]*[-_])?v?\d+\.\d+(?:\.\d+)*(?:-[0-9a-z.]+)*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class TagRules:
    """The policy's view of tags: which names float and which shapes are development builds."""

    mutable: tuple[str, ...]
    dev_patterns: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, mutable: Iterable[str], dev_patterns: Mapping[str, Sequence[str]]) -> TagRules:
        compiled = tuple(
            (kind, re.compile(p, re.IGNORECASE)) for kind, patterns in dev_patterns.items() for p in patterns
        )
        return cls(tuple(m.lower() for m in mutable), compiled)

    def kind(self, tag: str | None, digest: str | None = None) -> str:
        """The kind of ``tag`` (``digest`` only matters when there is no tag)."""
        if tag is None:
            return DIGEST_ONLY if digest else NONE
        lowered = tag.lower()
        if any(fnmatchcase(lowered, m) for m in self.mutable):
            return FLOATING
        # Policy patterns are user input: only ever run them over tag-sized text.
        bounded = tag[:MAX_SUBJECT]
        for kind, pattern in self.dev_patterns:
            if pattern.search(bounded):
                return kind
        if _PRERELEASE_RE.match(tag):
            return PRERELEASE
        if _VERSION_START_RE.match(tag) or _VERSION_INSIDE_RE.search(tag):
            return VERSION
        return OTHER

    def is_development(self, kind: str) -> bool:
        return any(kind == k for k, _ in self.dev_patterns)


def is_release_shaped(tag: str | None) -> bool:
    """A tag a promoted release would carry: vX.Y[.Z...], with a distro prefix or build suffixes.

    A git-describe tag (`v3.0.20220128-20-g9ef09c83`) or a dated build id is a development build,
    never a release, whatever its shape.
    """
    if tag is None or _DESCRIBE_RE.match(tag) or _BUILD_ID_RE.match(tag):
        return False
    return bool(_RELEASE_SHAPED_RE.match(tag))


def is_dated_build_id(tag: str | None) -> bool:
    """A Kubernetes image build's tag, ``vYYYYMMDD-<sha>`` (``v20241212-9f82dd49``).

    Image builds carry it in staging and keep it after promotion
    (``registry.k8s.io/ingress-nginx/kube-webhook-certgen:v20231011-8b53cabe0``), so outside a
    staging registry it is the tag the project released the image under.
    """
    return tag is not None and _BUILD_ID_RE.match(tag) is not None


# --- version comparison ------------------------------------------------------------------------

_DESCRIBE_RE = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)-g(?P<sha>[0-9a-f]{7,40})(?:-dirty)?$", re.IGNORECASE)
_BUILD_ID_RE = re.compile(r"^v?(?P<date>\d{8})-(?P<sha>[0-9a-f]{7,40})$", re.IGNORECASE)
_CORE_RE = re.compile(r"^v?(?P<core>\d+(?:\.\d+)*)(?P<rest>.*)$", re.IGNORECASE)
_PRE_RE = re.compile(r"^[-.]?(?P<label>alpha|beta|rc|pre|preview)(?P<nums>(?:[.-]?\d+)*)(?P<rest>.*)$", re.I)
_REVISION_RE = re.compile(r"^-(?P<rev>\d+)$")
_PRE_RANK = {"alpha": 0, "beta": 1, "pre": 2, "preview": 2, "rc": 3}


@dataclass(frozen=True, slots=True)
class Version:
    """A tag read as a version: ``core`` numbers, an optional pre-release, commits after it."""

    core: tuple[int, ...]
    pre: tuple[int, ...] | None = None  # (rank, numbers...); None for a final release
    commits_after: int = 0  # git describe: N commits after the tagged version
    variant: str = ""  # "-bookworm", "-slim": builds of a different flavour do not compare
    exact: bool = True  # False for a dated build without a version (vYYYYMMDD-sha)


def parse_version(tag: str | None) -> Version | None:
    """Read a tag as a version; None when it does not look like one."""
    if not tag:
        return None
    describe = _DESCRIBE_RE.match(tag)
    if describe:
        base = parse_version(describe["base"])
        if base is None:
            return None
        return Version(base.core, base.pre, base.commits_after + int(describe["n"]), base.variant, base.exact)
    build = _BUILD_ID_RE.match(tag)
    if build:
        return Version((int(build["date"]),), exact=False)
    core_match = _CORE_RE.match(tag)
    if core_match is None:
        return None
    core = tuple(int(p) for p in core_match["core"].split("."))
    rest = core_match["rest"]
    pre: tuple[int, ...] | None = None
    pre_match = _PRE_RE.match(rest) if rest else None
    if pre_match:
        nums = tuple(int(n) for n in re.findall(r"\d+", pre_match["nums"]))
        pre = (_PRE_RANK[pre_match["label"].lower()], *nums)
        rest = pre_match["rest"]
    revision = _REVISION_RE.match(rest)
    if revision and pre is None:
        # etcd's "3.5.6-0", "v2.4.1-2": a packaging revision, newer than the plain version.
        core = (*core, int(revision["rev"]))
        rest = ""
    return Version(core, pre, 0, rest.lower())


def _is_date(n: int) -> bool:
    return 19000101 <= n <= 29991231


def names_a_line_of(a: str | None, b: str | None) -> bool:
    """True when ``a`` names fewer version numbers than ``b`` and agrees on all of them (``1.25-trixie``
    against ``1.25.1-trixie``): a tag that follows the newest 1.25.x, not an older version."""
    va, vb = parse_version(a), parse_version(b)
    return (va is not None and vb is not None and va.variant == vb.variant and va.pre is None
            and len(va.core) < len(vb.core) and vb.core[: len(va.core)] == va.core)


def compare_versions(a: str | None, b: str | None) -> int | None:
    """-1, 0 or 1 when ``a`` is older, equal or newer than ``b``; None when they do not compare.

    Date-aware: v3.0.20220203 and v3.0.20220128-22-g9ef09c83 compare by date and then by commits
    after the tag; a date-versioned tag never compares with a semantic version (20220203 is not a
    major version), and flavours (``-bookworm`` vs ``-alpine``) never compare.
    """
    va, vb = parse_version(a), parse_version(b)
    if va is None or vb is None or va.variant != vb.variant:
        return None
    width = max(len(va.core), len(vb.core))
    for i in range(width):
        x = va.core[i] if i < len(va.core) else None
        y = vb.core[i] if i < len(vb.core) else None
        if x is not None and y is not None and _is_date(x) != _is_date(y):
            return None  # the first difference is between a date and a plain number
        if (x or 0) != (y or 0):
            return -1 if (x or 0) < (y or 0) else 1
    if not (va.exact and vb.exact):
        return None  # two builds from the same day: the commit order is unknown
    if va.pre != vb.pre:
        if va.pre is None:
            return 1
        if vb.pre is None:
            return -1
        return -1 if va.pre < vb.pre else 1
    if va.commits_after != vb.commits_after:
        return -1 if va.commits_after < vb.commits_after else 1
    return 0
