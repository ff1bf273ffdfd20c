"""Promotion evidence from real registries on 127.0.0.1, and from promoter images.yaml files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from registry_server import LOOPBACK_NETWORKS, Pusher, RegistryServer, RegistryUnavailable, make_image, start_registry

from app.core.references import ImageRef, parse
from app.registry.client import RegistryClient, RegistryConfig
from app.registry.promotion import (
    IMAGES_YAML_PATH,
    ManifestFormatError,
    PromoterManifestSource,
    check_promotion,
    check_promotions,
    check_release_tag,
    parse_images_yaml,
)

pytestmark = pytest.mark.timeout(30)

LOOPBACK = frozenset({"127.0.0.1:*"})
STAGING_TAG = "v3.0.20220428"
RELEASE_TAG = "v3.0.20220503"


def running_registry() -> RegistryServer:
    try:
        return start_registry()
    except RegistryUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def loopback_client() -> RegistryClient:
    config = RegistryConfig(
        allowed_hosts=LOOPBACK, insecure_hosts=LOOPBACK, connect_timeout=2, read_timeout=2, addresses=LOOPBACK_NETWORKS
    )
    return RegistryClient(config)


@dataclass
class Registries:
    """A staging and a release registry, like gcr.io/k8s-staging-etcdadm and registry.k8s.io/etcdadm."""

    staging: RegistryServer
    release: RegistryServer
    digests: dict[str, str]

    def staging_ref(self, image: str, tag: str = STAGING_TAG) -> ImageRef:
        return parse(f"{self.staging.host}/k8s-staging-etcdadm/{image}:{tag}")

    def release_ref(self, image: str, tag: str = RELEASE_TAG) -> ImageRef:
        return parse(f"{self.release.host}/etcdadm/{image}:{tag}")


@pytest.fixture(scope="module")
def registries() -> Iterator[Registries]:
    staging, release = running_registry(), running_registry()
    push_staging, push_release = Pusher(staging.url), Pusher(release.url)
    build = make_image("etcd-manager release build")
    digests = {
        # The same manifest in both: a promotion.
        "manager": push_staging.push_image("k8s-staging-etcdadm/etcd-manager", STAGING_TAG, build),
        "manager-release": push_release.push_image("etcdadm/etcd-manager", RELEASE_TAG, build),
        # Rebuilt for release: different digest.
        "backup": push_staging.push_image("k8s-staging-etcdadm/etcd-backup", STAGING_TAG, make_image("b1")),
        "backup-release": push_release.push_image("etcdadm/etcd-backup", RELEASE_TAG, make_image("b2")),
        # Never promoted: the release tag is missing.
        "dump": push_staging.push_image("k8s-staging-etcdadm/etcd-dump", STAGING_TAG, make_image("dump")),
        # Multi-arch: the index digest is what gets promoted.
        "slim": push_staging.push_index(
            "k8s-staging-etcdadm/etcd-manager-slim", STAGING_TAG, "slim", ["amd64", "arm64"]
        ),
        "slim-release": push_release.push_index("etcdadm/etcd-manager-slim", RELEASE_TAG, "slim", ["amd64", "arm64"]),
    }
    yield Registries(staging, release, digests)
    staging.cleanup()
    release.cleanup()


# --- Evidence from the registries -------------------------------------------------------------------


def test_same_digest_is_promoted(registries: Registries) -> None:
    with loopback_client() as client:
        evidence = check_promotion(
            registries.staging_ref("etcd-manager"), registries.release_ref("etcd-manager"), client
        )
    assert evidence.verdict == "promoted", evidence.reason
    assert evidence.staging_digest == evidence.release_digest == registries.digests["manager"]
    assert registries.digests["manager"] == registries.digests["manager-release"]


def test_multi_arch_index_promoted(registries: Registries) -> None:
    with loopback_client() as client:
        evidence = check_promotion(
            registries.staging_ref("etcd-manager-slim"), registries.release_ref("etcd-manager-slim"), client
        )
    assert (evidence.verdict, evidence.release_digest) == ("promoted", registries.digests["slim"])


def test_other_digest_is_a_different_build(registries: Registries) -> None:
    with loopback_client() as client:
        evidence = check_promotion(registries.staging_ref("etcd-backup"), registries.release_ref("etcd-backup"), client)
    assert evidence.verdict == "different-build"
    assert evidence.staging_digest == registries.digests["backup"]
    assert evidence.release_digest == registries.digests["backup-release"]
    assert registries.digests["backup"] in evidence.reason and registries.digests["backup-release"] in evidence.reason


def test_missing_release_tag_is_not_promoted_without_asking_staging(registries: Registries) -> None:
    with loopback_client() as client:
        evidence = check_promotion(registries.staging_ref("etcd-dump"), registries.release_ref("etcd-dump"), client)
        assert client.stats().requests_by_host == {registries.release.host: 1}
    assert evidence.verdict == "not-promoted"
    assert RELEASE_TAG in evidence.reason and evidence.release_digest is None


def test_staging_digest_in_reference_is_used_without_asking_staging(registries: Registries) -> None:
    digest = registries.digests["manager"]
    staging = parse(f"{registries.staging.host}/k8s-staging-etcdadm/etcd-manager:{STAGING_TAG}@{digest}")
    with loopback_client() as client:
        evidence = check_promotion(staging, registries.release_ref("etcd-manager"), client)
        assert registries.staging.host not in client.stats().requests_by_host
    assert evidence.verdict == "promoted"


def test_vanished_staging_tag_is_unknown(registries: Registries) -> None:
    with loopback_client() as client:
        evidence = check_promotion(
            registries.staging_ref("etcd-manager", "v3.0.20220101"), registries.release_ref("etcd-manager"), client
        )
    assert evidence.verdict == "unknown"
    assert "no longer exists" in evidence.reason and evidence.failed_registry == registries.staging.host
    assert evidence.release_digest == registries.digests["manager"]


def test_unreachable_staging_registry_is_unknown_naming_it(registries: Registries) -> None:
    down = running_registry()
    down_host = down.host
    down.cleanup()
    staging = parse(f"{down_host}/k8s-staging-etcdadm/etcd-manager:{STAGING_TAG}")
    with loopback_client() as client:
        evidence = check_promotion(staging, registries.release_ref("etcd-manager"), client)
    assert evidence.verdict == "unknown" and evidence.failed_registry == down_host
    assert f"staging registry {down_host}" in evidence.reason and "connection refused" in evidence.reason


def test_unreachable_release_registry_is_unknown_naming_it(registries: Registries) -> None:
    down = running_registry()
    down_host = down.host
    down.cleanup()
    release = parse(f"{down_host}/etcdadm/etcd-manager:{RELEASE_TAG}")
    with loopback_client() as client:
        evidence = check_promotion(registries.staging_ref("etcd-manager"), release, client)
    assert evidence.verdict == "unknown" and evidence.failed_registry == down_host
    assert f"release registry {down_host}" in evidence.reason


def test_repeated_pairs_are_looked_up_once(registries: Registries) -> None:
    # One PR touching 120 files that all carry the same staging reference.
    pair = (registries.staging_ref("etcd-manager"), registries.release_ref("etcd-manager"))
    others = [
        (registries.staging_ref("etcd-backup"), registries.release_ref("etcd-backup")),
        (registries.staging_ref("etcd-dump"), registries.release_ref("etcd-dump")),
    ]
    with loopback_client() as client:
        evidence = check_promotions([pair] * 120 + others, client, max_workers=4)
        # 3 release tags, then 2 staging tags (etcd-dump's release tag is missing).
        assert client.requests_made == 5
    assert [e.verdict for e in evidence[:120]] == ["promoted"] * 120
    assert [e.verdict for e in evidence[120:]] == ["different-build", "not-promoted"]


# --- The release-tag rule -------------------------------------------------------------------------------


def test_release_tag_checks(registries: Registries) -> None:
    host = registries.release.host
    good = registries.digests["manager"]
    other = registries.digests["backup-release"]
    with loopback_client() as client:
        ok = check_release_tag(registries.release_ref("etcd-manager"), client)
        pinned = check_release_tag(parse(f"{host}/etcdadm/etcd-manager:{RELEASE_TAG}@{good}"), client)
        mismatch = check_release_tag(parse(f"{host}/etcdadm/etcd-manager:{RELEASE_TAG}@{other}"), client)
        missing = check_release_tag(registries.release_ref("etcd-manager", "v3.0.20990101"), client)
        missing_digest = check_release_tag(parse(f"{host}/etcdadm/etcd-manager@sha256:{'1' * 64}"), client)
    assert (ok.outcome, ok.severity, ok.registry_digest) == ("ok", None, good)
    assert (pinned.outcome, pinned.failed) == ("ok", False)
    assert (mismatch.outcome, mismatch.severity, mismatch.registry_digest) == ("digest-mismatch", "error", good)
    assert good in mismatch.message and other in mismatch.message
    assert (missing.outcome, missing.severity) == ("missing-tag", "error") and "v3.0.20990101" in missing.message
    assert (missing_digest.outcome, missing_digest.severity) == ("missing-digest", "error")


def test_release_tag_check_with_registry_down_is_not_an_error() -> None:
    down = running_registry()
    host = down.host
    down.cleanup()
    with loopback_client() as client:
        result = check_release_tag(parse(f"{host}/etcdadm/etcd-manager:{RELEASE_TAG}"), client)
    assert (result.outcome, result.severity) == ("unknown", None) and host in result.message


# --- images.yaml parsing ---------------------------------------------------------------------------------

DIGEST_A = "sha256:17461d4049f3406b34b7899f779482240db334f17df4f62768c6804ad6c4a9b0"
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64

SMALL_IMAGES_YAML = f"""
# k8s-staging-etcdadm (abridged)
- name: etcd-manager
  dmap:
    "{DIGEST_A}": ["v3.0.20220503"]
    "{DIGEST_B}": ["v3.0.20220617", "v3.0.20220617-extra"]
- name: pause
  dmap:
    "{DIGEST_C}": [1.10]
- name: untagged
  dmap:
    "{DIGEST_B}": []
"""


def test_parse_images_yaml() -> None:
    manifest = parse_images_yaml(SMALL_IMAGES_YAML, "k8s-staging-etcdadm")
    manager = manifest.image("etcd-manager")
    assert manager is not None
    assert manager.digest_for("v3.0.20220503") == DIGEST_A
    assert manager.tags_for(DIGEST_B) == ("v3.0.20220617", "v3.0.20220617-extra")
    pause = manifest.image("pause")
    assert pause is not None and pause.digest_for("1.10") == DIGEST_C  # not the float 1.1
    assert manifest.digest_index()[DIGEST_B] == [
        ("etcd-manager", ("v3.0.20220617", "v3.0.20220617-extra")),
        ("untagged", ()),
    ]
    assert parse_images_yaml("", "empty").images == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x", "expected a list"),
        ("- dmap: {}", "'name'"),
        ('- name: x\n  dmap: {"sha256:abc": [v1]}', "not a sha256 digest"),
        (f'- name: x\n  dmap: {{"{DIGEST_A}": v1}}', "must be a list"),
        (f'- name: x\n  dmap: {{"{DIGEST_A}": [v1], "{DIGEST_B}": [v1]}}', "x:v1 maps to"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_malformed_images_yaml(text: str, message: str) -> None:
    with pytest.raises(ManifestFormatError, match=message):
        parse_images_yaml(text, "k8s-staging-x")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_manifest_source_lookups_and_cache() -> None:
    clock = FakeClock()
    files = {IMAGES_YAML_PATH.format(project="k8s-staging-etcdadm"): SMALL_IMAGES_YAML}
    source = PromoterManifestSource(files.get, ttl=600, missing_ttl=60, clock=clock)
    promoted = source.lookup("k8s-staging-etcdadm", "etcd-manager", "v3.0.20220503")
    assert (promoted.status, promoted.digest, promoted.tags) == ("promoted", DIGEST_A, ("v3.0.20220503",))
    assert source.lookup("k8s-staging-etcdadm", "etcd-manager", "v3.0.20220428").status == "not-promoted"
    assert source.lookup("k8s-staging-etcdadm", "nope", "v1").status == "not-promoted"
    by_digest = source.lookup_digest("k8s-staging-etcdadm", "etcd-manager", DIGEST_B)
    assert by_digest.promoted and by_digest.tags == ("v3.0.20220617", "v3.0.20220617-extra")
    assert source.fetches == 1
    clock.now += 601
    source.lookup("k8s-staging-etcdadm", "etcd-manager", "v3.0.20220503")
    assert source.fetches == 2


def test_manifest_source_missing_and_failing_files() -> None:
    clock = FakeClock()
    source = PromoterManifestSource(lambda path: None, missing_ttl=60, clock=clock)
    missing = source.lookup("k8s-staging-nothing", "app", "v1")
    assert missing.status == "unknown" and "does not exist" in missing.reason
    source.lookup("k8s-staging-nothing", "app", "v1")
    assert source.fetches == 1

    def failing(path: str) -> str | None:
        raise OSError("GitHub API rate limit")

    broken = PromoterManifestSource(failing, clock=clock)
    answer = broken.lookup("k8s-staging-etcdadm", "etcd-manager", "v1")
    assert answer.status == "unknown" and "rate limit" in answer.reason
    broken.lookup("k8s-staging-etcdadm", "etcd-manager", "v1")
    assert broken.fetches == 2  # failures are not cached

    bad = PromoterManifestSource(lambda path: "- [unclosed", clock=clock)
    assert "malformed" in bad.lookup("k8s-staging-x", "a", "v1").reason


# --- The shared etcd-manager data ---------------------------------------------------------------------------


def shared_data_file(name: str) -> Path:
    """shared/ sits beside the repository checkout (here and in CI)."""
    repo = Path(__file__).resolve().parents[1]
    candidates = [repo.parent / "shared" / "data" / name, Path("/work/shared/data") / name]
    if os.environ.get("IMAGE_REVIEW_SHARED_DIR"):
        candidates.insert(0, Path(os.environ["IMAGE_REVIEW_SHARED_DIR"]) / "data" / name)
    for path in candidates:
        if path.exists():
            return path
    pytest.fail(f"shared test data {name} not found (looked in {', '.join(map(str, candidates))})", pytrace=False)


@dataclass
class PromotedData:
    source: PromoterManifestSource
    records: list[dict[str, Any]]
    negatives: list[dict[str, Any]]
    prefixes: list[tuple[str, str]]  # (staging or release prefix, project)

    def locate(self, ref: str) -> tuple[str, str, str]:
        """(project, image, tag) for a staging or release reference, by the longest prefix."""
        parsed = parse(ref)
        assert parsed.tag is not None
        name = parsed.name
        prefix, project = max(
            ((p, proj) for p, proj in self.prefixes if name.startswith(p + "/")), key=lambda x: len(x[0])
        )
        return project, name[len(prefix) + 1 :], parsed.tag


def images_yaml_from_records(records: list[dict[str, Any]]) -> str:
    images: dict[str, dict[str, list[str]]] = {}
    for record in records:
        images.setdefault(record["image"], {}).setdefault(record["digest"], []).append(record["tag"])
    return yaml.safe_dump([{"name": n, "dmap": d} for n, d in images.items()])


@pytest.fixture(scope="module")
def promoted_data() -> PromotedData:
    data = yaml.safe_load(shared_data_file("etcd-manager-promoted.yaml").read_text())
    files: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    for source in data["sources"]:
        project = source["file"].split("/")[2]
        files[source["file"]] = images_yaml_from_records([r for r in data["promoted"] if r["project"] == project])
        prefixes += [(source["staging"], project), (source["release"], project)]
    return PromotedData(PromoterManifestSource(files.get), data["promoted"], data["negative_examples"], prefixes)


def test_every_promoted_record_is_found(promoted_data: PromotedData) -> None:
    assert len(promoted_data.records) == 86
    for record in promoted_data.records:
        project, image, tag = promoted_data.locate(record["release_ref"])
        assert (project, image, tag) == (record["project"], record["image"], record["tag"])
        answer = promoted_data.source.lookup(project, image, tag)
        assert (answer.status, answer.digest) == ("promoted", record["digest"]), record["release_ref"]


def test_negative_examples_are_not_promoted(promoted_data: PromotedData) -> None:
    assert promoted_data.negatives
    for example in promoted_data.negatives:
        project, image, tag = promoted_data.locate(example["ref"])
        answer = promoted_data.source.lookup(project, image, tag)
        assert example["promoted"] is False
        assert answer.status == "not-promoted", f"{example['ref']}: {answer.reason}"


def test_etcd_manager_case_from_the_promoter_manifest(promoted_data: PromotedData) -> None:
    staging = parse(f"gcr.io/k8s-staging-etcdadm/etcd-manager:{STAGING_TAG}")
    release = parse(f"registry.k8s.io/etcdadm/etcd-manager:{RELEASE_TAG}")
    source = promoted_data.source
    same = source.evidence("k8s-staging-etcdadm", "etcd-manager", staging, release, staging_digest=DIGEST_A)
    assert (same.verdict, same.release_digest, same.source) == ("promoted", DIGEST_A, "promoter-manifest")
    other = source.evidence("k8s-staging-etcdadm", "etcd-manager", staging, release, staging_digest=DIGEST_B)
    assert other.verdict == "different-build"
    unpromoted = source.evidence(
        "k8s-staging-etcdadm", "etcd-manager", staging, release.with_tag("v3.0.20220428"), staging_digest=DIGEST_A
    )
    assert unpromoted.verdict == "not-promoted"
    unknown_staging = source.evidence("k8s-staging-etcdadm", "etcd-manager", staging, release)
    assert unknown_staging.verdict == "unknown" and "staging digest is not known" in unknown_staging.reason
