"""The container image reference grammar (github.com/distribution/reference).

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path-component ["/" path-component]*
    domain    := host [":" port]   (host: DNS name, IPv4, or "[" IPv6 "]")

The first component is a domain only if it contains "." or ":", is "localhost",
or has upper case (upper case is never valid in a repository path, so Docker
treats it as a host).  Bare names live on Docker Hub under ``library/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
DOMAIN = rf"{HOST}(?::[0-9]+)?"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATH_RE = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(DOMAIN)
_TAG_RE = re.compile(TAG)
_DIGEST_RE = re.compile(DIGEST)

# Registered algorithms have a fixed length; others only need 32+ hex digits.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class ReferenceError(ValueError):
    """The text is not a valid image reference; the message says why."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed, normalized image reference.  ``raw`` keeps the text as written."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    raw: str = field(default="", compare=False)
    registry_implicit: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        """Registry and repository: the canonical name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def canonical(self) -> str:
        """Fully qualified form: ``docker.io/library/python:3.11``."""
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The short form people write: ``python:3.11``, ``quay.io/cilium/cilium:v1``."""
        if self.registry != DEFAULT_REGISTRY:
            return self.canonical()
        repo = self.repository
        if repo.startswith(OFFICIAL_REPO_PREFIX) and "/" not in repo[len(OFFICIAL_REPO_PREFIX) :]:
            repo = repo[len(OFFICIAL_REPO_PREFIX) :]
        return repo + self._suffix()

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, tag, None)

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    @property
    def project(self) -> str:
        """The first path component: the GCP project or the Docker Hub user."""
        return self.repository.split("/", 1)[0]

    def __str__(self) -> str:
        return self.familiar()


def split_domain(name: str) -> tuple[str | None, str]:
    """Split ``name`` into (domain as written or None, remainder)."""
    first, sep, rest = name.partition("/")
    if not sep:
        return None, name
    if "." in first or ":" in first or first == "localhost" or first.lower() != first:
        return first, rest
    return None, name


def parse(text: str) -> ImageRef:
    """Parse and normalize a reference; raise :class:`ReferenceError` with a reason."""
    if not text:
        raise ReferenceError("empty reference")
    rest, digest = _cut_digest(text)
    name, tag = _cut_tag(rest)
    domain, path = split_domain(name)
    if domain is not None and not _DOMAIN_RE.fullmatch(domain):
        raise ReferenceError(f"invalid registry host {domain!r}")
    if not _PATH_RE.fullmatch(path):
        if path.lower() != path and _PATH_RE.fullmatch(path.lower()):
            raise ReferenceError(f"repository name must be lowercase: {path!r}")
        raise ReferenceError(f"invalid repository name {path!r}")
    if len(name) > NAME_TOTAL_MAX:
        raise ReferenceError(f"repository name longer than {NAME_TOTAL_MAX} characters")
    registry = domain if domain is not None else DEFAULT_REGISTRY
    if registry == LEGACY_DEFAULT_REGISTRY:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return ImageRef(registry, path, tag, digest, raw=text, registry_implicit=domain is None)


def try_parse(text: str) -> ImageRef | None:
    try:
        return parse(text)
    except ReferenceError:
        return None


def _cut_digest(text: str) -> tuple[str, str | None]:
    name, at, digest = text.partition("@")
    if not at:
        return text, None
    if not _DIGEST_RE.fullmatch(digest):
        raise ReferenceError(f"invalid digest {digest!r}")
    algorithm, _, hexpart = digest.partition(":")
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is not None and len(hexpart) != expected:
        raise ReferenceError(f"{algorithm} digest must have {expected} hex digits, not {len(hexpart)}")
    return name, digest


def _cut_tag(text: str) -> tuple[str, str | None]:
    colon = text.rfind(":")
    if colon < 0 or "/" in text[colon:]:
        return text, None  # the colon belongs to a registry port
    tag = text[colon + 1 :]
    if not _TAG_RE.fullmatch(tag):
        raise ReferenceError(f"invalid tag {tag!r}")
    return text[:colon], tag
