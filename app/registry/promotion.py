"""Promotion evidence: is a release reference the same build as the staging one it replaces?

Promotion copies a manifest byte for byte, so "promoted" means the release tag resolves to
the same digest as the staging reference.  Two sources answer that:

* the registries themselves (:func:`check_promotion`, :func:`check_promotions`), and
* for Kubernetes projects, the image promoter's manifests in kubernetes/k8s.io
  (``registry.k8s.io/images/<project>/images.yaml``), which need no registry at all
  (:class:`PromoterManifestSource`).

Mapping a staging reference to its release reference is the policy's job; every function
here takes both.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import yaml

from app.core.references import ImageRef
from app.policy.evidence import PromotionEvidence, ReleaseTagCheck, Verdict
from app.registry.client import Resolution

ManifestStatus = Literal["promoted", "not-promoted", "unknown"]

IMAGES_YAML_PATH = "registry.k8s.io/images/{project}/images.yaml"
_SHA256_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Resolver(Protocol):
    """What promotion checks need from a registry client (``RegistryClient`` fits)."""

    def resolve(self, ref: ImageRef) -> Resolution: ...

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]: ...


# --- Evidence from the registries ---------------------------------------------------------------


def release_lookup_ref(release_ref: ImageRef) -> ImageRef:
    """What to resolve for the release side: its tag when written (the tag is what is
    being promised), else its digest."""
    if release_ref.tag is not None:
        return release_ref.with_tag(release_ref.tag)
    return release_ref


def check_promotion(staging_ref: ImageRef, release_ref: ImageRef, resolver: Resolver) -> PromotionEvidence:
    """Compare the digests behind ``staging_ref`` and ``release_ref``."""
    return check_promotions([(staging_ref, release_ref)], resolver)[0]


def check_promotions(
    pairs: Iterable[tuple[ImageRef, ImageRef]], resolver: Resolver, max_workers: int | None = None
) -> list[PromotionEvidence]:
    """Evidence for many pairs, in order, with each distinct reference looked up once.

    Release tags are resolved first, all at once; staging references are resolved only
    for pairs whose release tag exists, since a missing release tag settles the verdict.
    A staging reference that carries a digest is never looked up.
    """
    ordered = list(pairs)
    unique = list(dict.fromkeys(ordered))
    releases = _resolve_all([release_lookup_ref(r) for _, r in unique], resolver, max_workers)
    need_staging = [s for s, r in unique if s.digest is None and releases[release_lookup_ref(r)].found]
    stagings = _resolve_all(need_staging, resolver, max_workers)
    evidence = {(s, r): _evidence(s, r, stagings.get(s), releases[release_lookup_ref(r)]) for s, r in unique}
    return [evidence[pair] for pair in ordered]


def _resolve_all(refs: Sequence[ImageRef], resolver: Resolver, max_workers: int | None) -> dict[ImageRef, Resolution]:
    distinct = list(dict.fromkeys(refs))
    if not distinct:
        return {}
    return dict(zip(distinct, resolver.resolve_many(distinct, max_workers=max_workers), strict=True))


def _evidence(
    staging: ImageRef, release: ImageRef, staging_res: Resolution | None, release_res: Resolution
) -> PromotionEvidence:
    def make(verdict: Verdict, reason: str, staging_digest: str | None, failed: str | None = None) -> PromotionEvidence:
        return PromotionEvidence(staging, release, staging_digest, release_res.digest, verdict, reason, failed)

    if release_res.unknown:
        return make(
            "unknown",
            f"release registry {release.registry} could not be checked: {release_res.reason}",
            staging.digest,
            release.registry,
        )
    if release_res.not_found:
        return make("not-promoted", _missing_release_reason(release), staging.digest)
    staging_digest = staging.digest or (staging_res.digest if staging_res else None)
    if staging_digest is None:
        return _staging_unresolved(staging, release_res, staging_res, make)
    if staging_digest == release_res.digest:
        return make("promoted", f"{_shown(release)} is {staging_digest}, the same build as staging", staging_digest)
    return make(
        "different-build",
        f"{_shown(release)} is {release_res.digest} but staging {_shown(staging)} is {staging_digest}: "
        "a different build, not a promotion of this one",
        staging_digest,
    )


def _staging_unresolved(
    staging: ImageRef,
    release_res: Resolution,
    staging_res: Resolution | None,
    make: Callable[..., PromotionEvidence],
) -> PromotionEvidence:
    if staging_res is not None and staging_res.not_found:
        # Staging registries delete old images (AR staging: 90 days), so a missing staging
        # tag says nothing about whether it was promoted.
        return make(
            "unknown",
            f"staging tag {_shown(staging)} no longer exists in {staging.registry} (staging images are "
            f"cleaned up); the release tag exists as {release_res.digest} but the builds cannot be compared",
            None,
            staging.registry,
        )
    why = staging_res.reason if staging_res is not None else "not looked up"
    return make("unknown", f"staging registry {staging.registry} could not be checked: {why}", None, staging.registry)


def _missing_release_reason(release: ImageRef) -> str:
    if release.tag is not None:
        return f"release tag {release.tag!r} does not exist in {release.registry}/{release.repository}"
    return f"{release.digest} is not in {release.registry}/{release.repository}"


def _shown(ref: ImageRef) -> str:
    return ref.raw or ref.canonical()


# --- Release-tag rule helper ---------------------------------------------------------------------


def check_release_tag(ref: ImageRef, resolver: Resolver) -> ReleaseTagCheck:
    """Does the release tag exist, and does it agree with the digest written beside it?"""
    lookup = release_lookup_ref(ref)
    answer = resolver.resolve(lookup)
    where = f"{ref.registry}/{ref.repository}"
    if answer.unknown:
        return ReleaseTagCheck(ref, "unknown", f"could not check {_shown(ref)}: {answer.reason}", reason=answer.reason)
    if answer.not_found:
        if ref.tag is None:
            return ReleaseTagCheck(ref, "missing-digest", f"{ref.digest} does not exist in {where}", "error")
        return ReleaseTagCheck(ref, "missing-tag", f"tag {ref.tag!r} does not exist in {where}", "error")
    if ref.tag is not None and ref.digest is not None and answer.digest != ref.digest:
        return ReleaseTagCheck(
            ref,
            "digest-mismatch",
            f"tag {ref.tag!r} in {where} is {answer.digest}, but the reference pins {ref.digest}",
            "error",
            answer.digest,
        )
    return ReleaseTagCheck(ref, "ok", f"{_shown(ref)} exists as {answer.digest}", None, answer.digest)


# --- Evidence from the image promoter's manifests ----------------------------------------------


class ManifestFormatError(ValueError):
    """An images.yaml does not have the promoter's shape; the message says where."""


@dataclass(frozen=True, slots=True)
class PromotedImage:
    """One image of an images.yaml: digest → tags, and the reverse index tag → digest."""

    name: str
    dmap: Mapping[str, tuple[str, ...]]
    tag_index: Mapping[str, str]

    def digest_for(self, tag: str) -> str | None:
        return self.tag_index.get(tag)

    def tags_for(self, digest: str) -> tuple[str, ...] | None:
        """The tags a promoted digest carries (possibly none); None if not promoted."""
        return self.dmap.get(digest)


@dataclass(frozen=True, slots=True)
class PromoterManifest:
    project: str
    images: Mapping[str, PromotedImage]

    def image(self, name: str) -> PromotedImage | None:
        return self.images.get(name)

    def digest_index(self) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        """Digest → [(image, tags)] over the whole project (a digest may serve several images)."""
        index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for image in self.images.values():
            for digest, tags in image.dmap.items():
                index.setdefault(digest, []).append((image.name, tags))
        return index


def parse_images_yaml(text: str, project: str = "") -> PromoterManifest:
    """Parse ``[{name, dmap: {"sha256:…": [tags]}}]`` into a :class:`PromoterManifest`."""
    try:
        # BaseLoader keeps every scalar a string, so an unquoted tag such as 1.10 does not
        # become the float 1.1; it builds only str, list and dict, so it is safe.
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise ManifestFormatError(f"{project or 'images.yaml'}: not valid YAML ({exc})") from exc
    if data is None or data == "":
        return PromoterManifest(project, {})
    if not isinstance(data, list):
        raise ManifestFormatError(f"{project or 'images.yaml'}: expected a list of images")
    merged: dict[str, dict[str, tuple[str, ...]]] = {}
    for position, item in enumerate(data):
        name, dmap = _parse_image_entry(item, position, project)
        merged.setdefault(name, {}).update(dmap)
    return PromoterManifest(project, {n: _promoted_image(n, d, project) for n, d in merged.items()})


def _parse_image_entry(item: Any, position: int, project: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    where = f"{project or 'images.yaml'} entry {position + 1}"
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise ManifestFormatError(f"{where}: expected a mapping with a 'name'")
    raw_dmap = item.get("dmap") or {}
    if not isinstance(raw_dmap, dict):
        raise ManifestFormatError(f"{where} ({item['name']}): 'dmap' must map digests to tag lists")
    dmap: dict[str, tuple[str, ...]] = {}
    for digest, tags in raw_dmap.items():
        if not isinstance(digest, str) or not _SHA256_DIGEST.match(digest):
            raise ManifestFormatError(f"{where} ({item['name']}): {digest!r} is not a sha256 digest")
        if tags in (None, ""):
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ManifestFormatError(f"{where} ({item['name']}): tags of {digest} must be a list")
        dmap[digest] = tuple(tags)
    return item["name"], dmap


def _promoted_image(name: str, dmap: Mapping[str, tuple[str, ...]], project: str) -> PromotedImage:
    tag_index: dict[str, str] = {}
    for digest, tags in dmap.items():
        for tag in tags:
            other = tag_index.setdefault(tag, digest)
            if other != digest:
                # The promoter rejects this too: a tag names exactly one digest.
                raise ManifestFormatError(f"{project or 'images.yaml'}: {name}:{tag} maps to {other} and {digest}")
    return PromotedImage(name, dict(dmap), tag_index)


@dataclass(frozen=True, slots=True)
class ManifestLookup:
    """Is (image, tag) — or (image, digest) — promoted according to the project's images.yaml?"""

    project: str
    image: str
    tag: str | None
    status: ManifestStatus
    digest: str | None = None
    tags: tuple[str, ...] = ()
    reason: str = ""

    @property
    def promoted(self) -> bool:
        return self.status == "promoted"


Fetcher = Callable[[str], str | None]


class ManifestUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class PromoterManifestSource:
    """images.yaml files fetched through ``fetch(path) -> text | None`` and cached.

    ``fetch`` gets a repository path such as
    ``registry.k8s.io/images/k8s-staging-etcdadm/images.yaml`` and returns the text, or
    None when the file does not exist.  Parsed manifests are kept ``ttl`` seconds (new
    promotions land in k8s.io all the time); a missing file ``missing_ttl`` seconds; a
    fetch that raised is not kept.
    """

    fetch: Fetcher
    ttl: float = 600.0
    missing_ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    fetches: int = 0
    _cache: dict[str, tuple[PromoterManifest | None, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def with_fetch(self, fetch: Fetcher) -> PromoterManifestSource:
        """The same cache, filled through another fetcher.

        The App keeps one source per process (parsed files outlive a review) but reads GitHub
        through each job's installation client.
        """
        return replace(self, fetch=fetch, fetches=0)

    def manifest(self, project: str) -> PromoterManifest:
        """The parsed images.yaml of ``project`` (``k8s-staging-<name>``), or ManifestUnavailable."""
        with self._lock:
            cached = self._cache.get(project)
        if cached is not None and self.clock() < cached[1]:
            return _present(cached[0], project)
        manifest = self._load(project)
        return _present(manifest, project)

    def _load(self, project: str) -> PromoterManifest | None:
        path = IMAGES_YAML_PATH.format(project=project)
        with self._lock:
            self.fetches += 1
        try:
            text = self.fetch(path)
        except Exception as exc:
            # The fetcher is supplied by the caller (GitHub API, a file, a test); whatever
            # it raises must become an "unknown" answer rather than end the review.
            raise ManifestUnavailable(f"could not fetch {path}: {exc}") from exc
        if text is None:
            self._store(project, None, self.missing_ttl)
            return None
        try:
            manifest = parse_images_yaml(text, project)
        except ManifestFormatError as exc:
            raise ManifestUnavailable(f"{path} is malformed: {exc}") from exc
        self._store(project, manifest, self.ttl)
        return manifest

    def _store(self, project: str, manifest: PromoterManifest | None, ttl: float) -> None:
        with self._lock:
            self._cache[project] = (manifest, self.clock() + ttl)

    def lookup(self, project: str, image: str, tag: str) -> ManifestLookup:
        """Is ``image:tag`` promoted, and with which digest?"""
        try:
            entry = self.manifest(project).image(image)
        except ManifestUnavailable as exc:
            return ManifestLookup(project, image, tag, "unknown", reason=exc.reason)
        digest = entry.digest_for(tag) if entry else None
        if entry is None or digest is None:
            where = "has no image " + repr(image) if entry is None else f"has no tag {tag!r} for {image}"
            return ManifestLookup(project, image, tag, "not-promoted", reason=f"{project} images.yaml {where}")
        tags = entry.tags_for(digest) or ()
        return ManifestLookup(project, image, tag, "promoted", digest, tags, f"{image}:{tag} is {digest}")

    def lookup_digest(self, project: str, image: str, digest: str) -> ManifestLookup:
        """Was this digest promoted for ``image``, and under which tags?"""
        try:
            entry = self.manifest(project).image(image)
        except ManifestUnavailable as exc:
            return ManifestLookup(project, image, None, "unknown", digest, reason=exc.reason)
        tags = entry.tags_for(digest) if entry else None
        if tags is None:
            reason = f"{project} images.yaml does not list {digest} for {image}"
            return ManifestLookup(project, image, None, "not-promoted", digest, reason=reason)
        return ManifestLookup(project, image, None, "promoted", digest, tags, f"{digest} promoted as {tags}")

    def evidence(
        self,
        project: str,
        image: str,
        staging_ref: ImageRef,
        release_ref: ImageRef,
        staging_digest: str | None = None,
    ) -> PromotionEvidence:
        """Promotion evidence for a pair from images.yaml alone (no registry for the release side).

        The staging digest comes from ``staging_ref`` or ``staging_digest`` (e.g. resolved
        earlier); without one only a missing release tag can be concluded.
        """
        staging_digest = staging_ref.digest or staging_digest
        tag = release_ref.tag or "latest"
        found = self.lookup(project, image, tag)

        def make(verdict: Verdict, reason: str) -> PromotionEvidence:
            failed = "github.com/kubernetes/k8s.io" if found.status == "unknown" else None
            return PromotionEvidence(
                staging_ref,
                release_ref,
                staging_digest,
                found.digest,
                verdict,
                reason,
                failed,
                "promoter-manifest",
                IMAGES_YAML_PATH.format(project=project),
            )

        if found.status != "promoted":
            return make("unknown" if found.status == "unknown" else "not-promoted", found.reason)
        if staging_digest is None:
            return make("unknown", f"{found.reason} in images.yaml, but the staging digest is not known")
        if staging_digest == found.digest:
            return make("promoted", f"{found.reason} in {project} images.yaml, the staging digest")
        return make("different-build", f"{found.reason} in {project} images.yaml, but staging is {staging_digest}")


def _present(manifest: PromoterManifest | None, project: str) -> PromoterManifest:
    if manifest is None:
        raise ManifestUnavailable(f"{IMAGES_YAML_PATH.format(project=project)} does not exist")
    return manifest
