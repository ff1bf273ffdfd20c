"""Registry lookups per pull request, and the review latency they add: the etcd-manager case.

Starts two real registries on 127.0.0.1 (``docker-registry``): a staging one behind anonymous
bearer tokens, like gcr.io, and a release one without auth, like registry.k8s.io. Pushes the kops
etcd-manager case: staging ``etcd-manager:v3.0.20220428`` was promoted as release
``v3.0.20220503`` (same digest, another tag: only the promoter's images.yaml can say so), beside
a rebuilt etcd-backup, a never-promoted etcd-dump and a multi-arch etcd-manager-slim promoted
under its own tag.

The pull request resembles kops #13588: model.go and its neighbours switch to staging builds, the
regenerated expected output repeats the etcd-manager reference in 120 generated files (not
judged, so never looked up), and two release references are added (one with a typo).

Each run times ``analyze()`` (extraction, evidence, rules) in four ways:

* offline: no registry asked (the CLI's default): the time the review takes anyway;
* cold: verification with an empty client (no cache, no tokens) and an empty images.yaml cache;
* warm: the same client again (the next push of the pull request) within the tag TTL;
* warm-tags-expired: past the tag TTL and the token lifetime (300 s): tags and tokens asked
  again, digests still cached.

Run: ``.venv/bin/python bench/registry_lookups.py [--repeat N]``. Loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from registry_server import (  # noqa: E402
    LOOPBACK_NETWORKS,
    Pusher,
    RegistryServer,
    RegistryUnavailable,
    TokenAuthConfig,
    TokenIssuer,
    TokenServer,
    make_image,
    start_registry,
)

from app.analysis.analyze import AnalysisContext, ChangeSet, analyze  # noqa: E402
from app.core.diffs import parse_diff  # noqa: E402
from app.core.models import Analysis  # noqa: E402
from app.core.references import ImageRef  # noqa: E402
from app.policy import Policy, load_policy  # noqa: E402
from app.registry.client import RegistryClient, RegistryConfig, Resolution  # noqa: E402
from app.registry.promotion import IMAGES_YAML_PATH, PromoterManifestSource  # noqa: E402

LOOPBACK = frozenset({"127.0.0.1:*"})
STAGING_TAG = "v3.0.20220428"
PROMOTED_AS = "v3.0.20220503"
GENERATED_FILES = 120
STAGE = "k8s-staging-etcdadm"


@dataclass
class Environment:
    staging: RegistryServer
    release: RegistryServer
    tokens: TokenServer
    images_yaml: str = ""

    def stop(self) -> None:
        self.staging.cleanup()
        self.release.cleanup()
        self.tokens.stop()


@dataclass
class Measurement:
    label: str
    lookups: list[int] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    manifest_reads: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def median(self, values: list[int] | list[float]) -> float:
        return statistics.median(values) if values else 0.0


class ManualClock:
    """Lets the bench step past the tag TTL without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class Counting:
    """The client as analysis sees it, counting the references it is asked (after per-PR dedupe)."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.asked = 0

    def allows(self, registry: str) -> bool:
        return self.client.allows(registry)

    def resolve(self, ref: ImageRef) -> Resolution:
        return self.resolve_many([ref])[0]

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]:
        ordered = list(refs)
        self.asked += len(ordered)
        return self.client.resolve_many(ordered, max_workers)


def start_environment(workdir: Path) -> Environment:
    issuer = TokenIssuer.create(workdir)
    tokens = TokenServer(issuer).start()
    auth = TokenAuthConfig(tokens.realm, issuer.service, issuer.issuer, issuer.cert_path)
    return Environment(start_registry(token_auth=auth), start_registry(), tokens)


def push_images(env: Environment) -> None:
    def staging(name: str) -> Pusher:
        return Pusher(env.staging.url, headers=env.tokens.push_headers(f"{STAGE}/{name}"))

    release = Pusher(env.release.url)
    build = make_image("etcd-manager")
    manager = staging("etcd-manager").push_image(f"{STAGE}/etcd-manager", STAGING_TAG, build)
    release.push_image("etcdadm/etcd-manager", PROMOTED_AS, build)
    staging("etcd-backup").push_image(f"{STAGE}/etcd-backup", STAGING_TAG, make_image("backup-1"))
    release.push_image("etcdadm/etcd-backup", STAGING_TAG, make_image("backup-2"))
    staging("etcd-dump").push_image(f"{STAGE}/etcd-dump", STAGING_TAG, make_image("dump"))
    slim = staging("etcd-manager-slim").push_index(
        f"{STAGE}/etcd-manager-slim", STAGING_TAG, "slim", ["amd64", "arm64"]
    )
    release.push_index("etcdadm/etcd-manager-slim", STAGING_TAG, "slim", ["amd64", "arm64"])
    controller = make_image("kops-controller")
    release.push_image("kops/kops-controller", "v1.24.0-beta.2", controller)
    env.images_yaml = (
        f'- name: etcd-manager\n  dmap:\n    "{manager}": ["{PROMOTED_AS}"]\n'
        f'- name: etcd-manager-slim\n  dmap:\n    "{slim}": ["{STAGING_TAG}"]\n'
    )


def policy(env: Environment) -> Policy:
    s, r = env.staging.host, env.release.host
    return load_policy(
        "version: 1\n"
        f"release_locations: {{add: ['{r}/etcdadm', '{r}/kops']}}\n"
        f"mappings: {{'{s}/{STAGE}': '{r}/etcdadm'}}\n"
        "registry_verification: {allowed_hosts: {add: ['127.0.0.1:*']}}\n"
    )


def section(path: str, old: str, new: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -10,3 +10,3 @@\n"
        f"   containers:\n-  - image: {old}\n+  - image: {new}\n     name: main\n"
    )


def pull_request(env: Environment) -> tuple[str, int, int]:
    """The diff, the number of references added, and how many of them are in generated files."""
    s, r = env.staging.host, env.release.host

    def staging(image: str) -> str:
        return f"{s}/{STAGE}/{image}:{STAGING_TAG}"

    old = f"{r}/etcdadm/etcd-manager:v3.0.20220203"
    parts = [
        section("pkg/model/components/etcdmanager/model.go", old, staging("etcd-manager")),
        section("pkg/model/components/etcdmanager/backup.go", old, staging("etcd-backup")),
        section("pkg/model/components/etcdmanager/dump.go", old, staging("etcd-dump")),
        section("pkg/model/components/etcdmanager/slim.go", old, staging("etcd-manager-slim")),
        section("channels/etcd/main.yaml", old, staging("etcd-manager")),
        section("upup/models/kops-controller.yaml", f"{r}/kops/kops-controller:v1.23.0",
                f"{r}/kops/kops-controller:v1.24.0-beta.2"),
        section("upup/models/etcd-events.yaml", old, f"{r}/etcdadm/etcd-manager:v3.0.2022503"),
    ]
    production = len(parts)
    parts += [
        section(f"tests/integration/update_cluster/case{i}/data/aws_s3_object_manifests-etcdmanager-main_content",
                old, staging("etcd-manager"))
        for i in range(GENERATED_FILES)
    ]
    return "".join(parts), production + GENERATED_FILES, GENERATED_FILES


def run_once(
    change: ChangeSet, resolver: Counting | None, manifests: PromoterManifestSource | None
) -> tuple[Analysis, float]:
    ctx = AnalysisContext(offline=resolver is None, resolver=resolver, manifests=manifests)
    started = time.perf_counter()
    analysis = analyze(change, ctx)
    return analysis, time.perf_counter() - started


def measure(env: Environment, change: ChangeSet, repeat: int) -> tuple[list[Measurement], Analysis]:
    rows = {name: Measurement(name) for name in ("offline", "cold", "warm", "warm-tags-expired")}
    files = {IMAGES_YAML_PATH.format(project=STAGE): env.images_yaml}
    last: Analysis | None = None
    for _ in range(repeat):
        rows["offline"].seconds.append(run_once(change, None, None)[1])
        for counter in ("lookups", "cached", "requests", "manifest_reads"):
            getattr(rows["offline"], counter).append(0)
        clock = ManualClock()
        config = RegistryConfig(
            allowed_hosts=LOOPBACK, insecure_hosts=LOOPBACK, tag_ttl=300, max_workers=8, addresses=LOOPBACK_NETWORKS
        )
        manifests = PromoterManifestSource(files.get, clock=clock)
        with RegistryClient(config, clock=clock) as client:
            for name in ("cold", "warm", "warm-tags-expired"):
                if name == "warm-tags-expired":
                    clock.offset += 301  # past the tag TTL and the token lifetime; images.yaml (600 s) stays
                resolver = Counting(client)
                before = client.stats()
                reads_before = manifests.fetches
                last, seconds = run_once(change, resolver, manifests)
                after = client.stats()
                row = rows[name]
                row.lookups.append(resolver.asked)
                row.cached.append(after.cache_hits - before.cache_hits)
                row.requests.append(after.requests - before.requests)
                row.manifest_reads.append(manifests.fetches - reads_before)
                row.seconds.append(seconds)
    assert last is not None
    return list(rows.values()), last


def report(rows: list[Measurement], analysis: Analysis, added: int, generated: int, repeat: int) -> None:
    judged = {f.rule for f in analysis.findings}
    print(
        f"PR: {added} image references added ({added - generated} on production paths, {generated} in "
        "generated expected output, which no rule judges and no lookup asks about)"
    )
    print("findings with verification: " + ", ".join(
        f"{code}={sum(1 for f in analysis.findings if f.rule == code)}" for code in sorted(judged)
    ))
    for f in analysis.findings:
        if f.rule == "IR001":
            verdict = "suggests " + f.suggestion.strip().removeprefix("- image: ") if f.suggestion else "no suggestion"
            print(f"  {f.path}: {verdict}")
    print(f"\nmedian of {repeat} runs; registries on 127.0.0.1 (staging: bearer tokens like gcr.io; "
          "release: anonymous like registry.k8s.io)\n")
    base = rows[0].median(rows[0].seconds) * 1000
    print(f"{'mode':<19}{'lookups':>9}{'cached':>8}{'HTTP requests':>15}{'images.yaml':>13}"
          f"{'review ms':>11}{'added ms':>10}")
    for row in rows:
        ms = row.median(row.seconds) * 1000
        extra = "—" if row.label == "offline" else f"{ms - base:.1f}"
        print(
            f"{row.label:<19}{row.median(row.lookups):>9.0f}{row.median(row.cached):>8.0f}"
            f"{row.median(row.requests):>15.0f}{row.median(row.manifest_reads):>13.0f}{ms:>11.1f}{extra:>10}"
        )
    print("\nlookups = distinct references asked per PR (after dedupe); cached = answered from the client's cache;")
    print("HTTP requests = to the registries, token requests included; images.yaml = promoter manifest reads")
    print("(one GitHub contents request each in the App, kept 10 minutes); added ms = review time over offline.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="runs per mode (median reported)")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    with tempfile.TemporaryDirectory(prefix="image-review-bench-") as tmp:
        try:
            env = start_environment(Path(tmp))
        except RegistryUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            push_images(env)
            diff, added, generated = pull_request(env)
            change = ChangeSet(files=parse_diff(diff.encode()), policy=policy(env))
            rows, analysis = measure(env, change, repeat)
            report(rows, analysis, added, generated, repeat)
        finally:
            env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
