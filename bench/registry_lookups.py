"""Registry lookups per pull request: how many HTTP requests, and how much added latency?

Starts two real registries on 127.0.0.1 (``docker-registry``): a staging one behind
anonymous bearer tokens, like gcr.io, and a release one without auth, like
registry.k8s.io.  Pushes the kops etcd-manager case (staging ``v3.0.20220428`` promoted as
release ``v3.0.20220503``, same digest) and a few neighbours, then evaluates a PR
resembling the real one: the same release reference written in 120 files, plus a few
other images.

Evaluating a PR = promotion evidence for every (removed staging, added release) pair,
plus the release-tag check for every added release reference.  Three ways, in one run:

* baseline: one lookup per reference occurrence, sequential, nothing remembered
  (what a straightforward per-line check does);
* cold: this client, empty cache: lookups deduplicated per PR and run concurrently;
* warm: the same client re-evaluating the PR (a new push to it) within the tag TTL;
  and again past the tag TTL and the token lifetime, when tags and tokens are fetched anew.

Run: ``.venv/bin/python bench/registry_lookups.py [--repeat N]``.  Loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from registry_server import (  # noqa: E402
    Pusher,
    RegistryServer,
    RegistryUnavailable,
    TokenAuthConfig,
    TokenIssuer,
    TokenServer,
    make_image,
    start_registry,
)

from app.promotion import check_promotions, check_release_tag  # noqa: E402
from app.references import ImageRef, parse  # noqa: E402
from app.registry import RegistryClient, RegistryConfig, Resolution  # noqa: E402

LOOPBACK = frozenset({"127.0.0.1:*"})
STAGING_TAG = "v3.0.20220428"
RELEASE_TAG = "v3.0.20220503"
FILES_WITH_ETCD_MANAGER = 120


@dataclass
class Environment:
    staging: RegistryServer
    release: RegistryServer
    tokens: TokenServer

    def stop(self) -> None:
        self.staging.cleanup()
        self.release.cleanup()
        self.tokens.stop()


@dataclass(frozen=True)
class PullRequest:
    pairs: list[tuple[ImageRef, ImageRef]]  # one per changed line: (removed staging, added release)
    added_release: list[ImageRef]


@dataclass
class Measurement:
    label: str
    requests: list[int]
    seconds: list[float]

    @property
    def median_requests(self) -> float:
        return statistics.median(self.requests)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


class ManualClock:
    """Lets the bench step past the tag TTL without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def start_environment(workdir: Path) -> Environment:
    issuer = TokenIssuer.create(workdir)
    tokens = TokenServer(issuer).start()
    auth = TokenAuthConfig(tokens.realm, issuer.service, issuer.issuer, issuer.cert_path)
    staging = start_registry(token_auth=auth)
    release = start_registry()
    return Environment(staging, release, tokens)


def push_images(env: Environment) -> None:
    """etcd-manager promoted (same digest); etcd-backup rebuilt; etcd-dump never promoted;
    etcd-manager-slim multi-arch promoted; kops-controller promoted."""
    stage = "k8s-staging-etcdadm"

    def staging_pusher(name: str) -> Pusher:
        return Pusher(env.staging.url, headers=env.tokens.push_headers(f"{stage}/{name}"))

    release = Pusher(env.release.url)
    build = make_image("etcd-manager")
    staging_pusher("etcd-manager").push_image(f"{stage}/etcd-manager", STAGING_TAG, build)
    release.push_image("etcdadm/etcd-manager", RELEASE_TAG, build)
    staging_pusher("etcd-backup").push_image(f"{stage}/etcd-backup", STAGING_TAG, make_image("backup-1"))
    release.push_image("etcdadm/etcd-backup", RELEASE_TAG, make_image("backup-2"))
    staging_pusher("etcd-dump").push_image(f"{stage}/etcd-dump", STAGING_TAG, make_image("dump"))
    staging_pusher("etcd-manager-slim").push_index(
        f"{stage}/etcd-manager-slim", STAGING_TAG, "slim", ["amd64", "arm64"]
    )
    release.push_index("etcdadm/etcd-manager-slim", RELEASE_TAG, "slim", ["amd64", "arm64"])
    controller = make_image("kops-controller")
    staging_pusher("kops-controller").push_image(f"{stage}/kops-controller", "v1.24.0-beta.2", controller)
    release.push_image("kops/kops-controller", "v1.24.0-beta.2", controller)


def pull_request(env: Environment) -> PullRequest:
    def staging(image: str, tag: str = STAGING_TAG) -> ImageRef:
        return parse(f"{env.staging.host}/k8s-staging-etcdadm/{image}:{tag}")

    def release(path: str, tag: str = RELEASE_TAG) -> ImageRef:
        return parse(f"{env.release.host}/{path}:{tag}")

    pairs = [(staging("etcd-manager"), release("etcdadm/etcd-manager"))] * FILES_WITH_ETCD_MANAGER
    pairs += [
        (staging("etcd-manager-slim"), release("etcdadm/etcd-manager-slim")),
        (staging("etcd-manager-slim"), release("etcdadm/etcd-manager-slim")),
        (staging("etcd-backup"), release("etcdadm/etcd-backup")),
        (staging("etcd-dump"), release("etcdadm/etcd-dump")),
        (staging("kops-controller", "v1.24.0-beta.2"), release("kops/kops-controller", "v1.24.0-beta.2")),
    ]
    return PullRequest(pairs, [r for _, r in pairs])


def new_client(clock: Callable[[], float] = time.monotonic) -> RegistryClient:
    config = RegistryConfig(allowed_hosts=LOOPBACK, insecure_hosts=LOOPBACK, tag_ttl=300, max_workers=8)
    return RegistryClient(config, clock=clock)


def evaluate(pr: PullRequest, client: RegistryClient) -> list[str]:
    """The optimized path: deduplicated, concurrent, cached."""
    evidence = check_promotions(pr.pairs, client)
    # The release tags were just resolved for the evidence, so these checks hit the cache.
    checks = [check_release_tag(ref, client) for ref in dict.fromkeys(pr.added_release)]
    by_ref = {c.ref: c.outcome for c in checks}
    return [e.verdict for e in evidence] + [by_ref[r] for r in pr.added_release]


def evaluate_naively(pr: PullRequest, client: RegistryClient) -> list[str]:
    """The baseline: every occurrence looked up on its own, one after another, no memory."""
    out: list[str] = []
    for staging, release in pr.pairs:
        client.clear_cache()
        out.append(check_promotions([(staging, release)], _Sequential(client))[0].verdict)
    for ref in pr.added_release:
        client.clear_cache()
        out.append(check_release_tag(ref, client).outcome)
    return out


class _Sequential:
    """A resolver that looks references up one by one (no thread pool)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def resolve(self, ref: ImageRef) -> Resolution:
        return self._client.resolve(ref)

    def resolve_many(self, refs: Iterable[ImageRef], max_workers: int | None = None) -> list[Resolution]:
        return [self._client.resolve(r) for r in refs]


def timed(run: Callable[[], list[str]], client: RegistryClient) -> tuple[int, float, list[str]]:
    before = client.requests_made
    started = time.perf_counter()
    verdicts = run()
    return client.requests_made - before, time.perf_counter() - started, verdicts


def measure(pr: PullRequest, repeat: int) -> tuple[list[Measurement], list[str]]:
    rows = {name: Measurement(name, [], []) for name in ("baseline", "cold", "warm", "warm-tags-expired")}
    verdicts: list[str] = []

    def record(name: str, result: tuple[int, float, list[str]]) -> list[str]:
        rows[name].requests.append(result[0])
        rows[name].seconds.append(result[1])
        return result[2]

    for _ in range(repeat):
        with new_client() as naive:
            expected = record("baseline", timed(lambda: evaluate_naively(pr, naive), naive))
        clock = ManualClock()
        with new_client(clock) as client:
            verdicts = record("cold", timed(lambda: evaluate(pr, client), client))
            record("warm", timed(lambda: evaluate(pr, client), client))
            clock.offset += 301  # past the tag TTL: tags are asked again, digests are not
            record("warm-tags-expired", timed(lambda: evaluate(pr, client), client))
        if verdicts != expected:
            raise SystemExit("the optimized evaluation disagrees with the baseline")
    return list(rows.values()), verdicts


def report(pr: PullRequest, rows: list[Measurement], verdicts: list[str], repeat: int) -> None:
    base = rows[0]
    occurrences = len(pr.pairs) + len(pr.added_release)
    print(
        f"PR: {len(pr.pairs)} changed references ({FILES_WITH_ETCD_MANAGER} files share one etcd-manager ref), "
        f"{len(set(pr.pairs))} distinct staging->release pairs, {occurrences} checks"
    )
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    print("verdicts: " + ", ".join(f"{v}={n}" for v, n in counts.items()))
    print(
        f"median of {repeat} runs; registries on 127.0.0.1 (staging: bearer tokens like gcr.io; "
        "release: anonymous like registry.k8s.io)\n"
    )
    print(f"{'mode':<20}{'HTTP requests':>15}{'x baseline':>12}{'latency ms':>13}{'x baseline':>12}")
    for row in rows:
        req_ratio = row.median_requests / base.median_requests if base.median_requests else 0.0
        ms_ratio = row.median_ms / base.median_ms if base.median_ms else 0.0
        print(f"{row.label:<20}{row.median_requests:>15.0f}{req_ratio:>12.3f}{row.median_ms:>13.1f}{ms_ratio:>12.3f}")
    print("\nbaseline = one lookup per occurrence, sequential, no cache (same client and connections);")
    print("cold = dedupe per PR + concurrent lookups + empty cache; warm = same client again within the tag TTL;")
    print("warm-tags-expired = past the tag TTL and the token lifetime (300 s): tags and staging tokens fetched again.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="runs per mode (median reported)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="image-review-bench-") as tmp:
        try:
            env = start_environment(Path(tmp))
        except RegistryUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            push_images(env)
            pr = pull_request(env)
            rows, verdicts = measure(pr, max(1, args.repeat))
            report(pr, rows, verdicts, max(1, args.repeat))
        finally:
            env.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
