"""Pull request reviews completed per second, end to end, embedded queue beside Redis.

    python bench/throughput.py [--pulls 200] [--threads 4] [--senders 4]

Each configuration gets the same work: ``--pulls`` distinct pull requests (the bundled
etcd-manager staging sample, each with commit SHAs of its own), one signed ``pull_request.opened``
webhook each, sent as fast as the App acknowledges them. A review is complete when its check run
is completed on the fake GitHub; each one fetches the diff, the policy file, the commits and their
diffs, and writes a check run (created, then completed with an annotation), a review with an inline
comment, a summary comment and a label. The clock runs from the first webhook to the last
completed check run.

* embedded: ``image-review serve`` (gunicorn, 2 web workers) with the SQLite queue in a temporary
  data dir; one web worker runs the consumer with ``--threads`` job threads;
* Redis: ``image-review serve`` (2 web workers) enqueueing into a redis-server started here, and
  two ``image-review worker`` processes with ``--threads`` job threads each.

Everything runs on loopback: the fake GitHub (tests/fake_github.py) is served from this process.
Pacing of writes is turned off with ``IMAGE_REVIEW_WRITES_PER_MINUTE=0`` (against GitHub the
App keeps to about 80 content-creating requests a minute per installation, which would make this
measure the pacer), and registry lookups with ``IMAGE_REVIEW_REGISTRY_VERIFY=0``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from app_process import Apps, app_env, deliver, load_head, own_sample  # noqa: E402
from conftest import ACCOUNT, APP_ID, INSTALLATION_ID, make_key_pair  # noqa: E402
from redis_server import optional_redis_url  # noqa: E402

from app.testing.fake_github import FakeGitHub  # noqa: E402
from app.testing.sample_pr import SamplePull  # noqa: E402

TIMEOUT = 300.0  # seconds a configuration may take before the bench gives up on it


@dataclass
class Figures:
    name: str
    layout: str
    pulls: int
    seconds: float
    latencies: list[float]  # webhook sent -> check run completed, per pull request
    requests_per_review: float
    conclusions: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.pulls / self.seconds

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1] if len(self.latencies) > 1 else self.latencies[0]


def run(
    name: str,
    layout: str,
    apps: Apps,
    fake: FakeGitHub,
    env: dict[str, str],
    repo: str,
    pulls: int,
    senders: int,
    start: list[str],
    threads: int,
) -> Figures:
    """Start the configuration (``start``: "serve" with its consumer, or "serve0" plus "worker"s),
    deliver one webhook per pull request, wait for every check run to complete."""
    web = None
    for what in start:
        if what == "serve":
            web = apps.serve(env, workers=2, consumer_threads=threads)
        elif what == "serve0":
            web = apps.serve(env, workers=2, consumer_threads=0)
        else:
            apps.worker(env, threads=threads)
    assert web is not None
    samples: list[SamplePull] = [own_sample(repo, n) for n in range(1, pulls + 1)]
    for pull in samples:
        load_head(fake, pull, INSTALLATION_ID)
    payloads = [fake.pull_request_event(repo, pull.number, "opened") for pull in samples]
    requests_before = len(fake.requests)

    sent: dict[int, float] = {}
    cursor = iter(range(pulls))
    lock = threading.Lock()

    def send() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            sent[i] = time.monotonic()
            status = deliver(web.url, "pull_request", payloads[i], session=session).status_code
            if status != 202:
                raise RuntimeError(f"the App answered {status} to a webhook")

    began = time.monotonic()
    senders_ = [threading.Thread(target=send) for _ in range(senders)]
    for thread in senders_:
        thread.start()
    heads = {pull.head_sha: i for i, pull in enumerate(samples)}
    done: dict[int, float] = {}
    deadline = began + TIMEOUT
    while len(done) < pulls:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: {len(done)} of {pulls} reviews completed in {TIMEOUT:.0f} s")
        with fake._lock:
            finished = [r["head_sha"] for r in fake.repo(repo).check_runs.values() if r["status"] == "completed"]
        now = time.monotonic()
        for head in finished:
            i = heads.get(head)
            if i is not None and i not in done:
                done[i] = now
        time.sleep(0.02)
    seconds = max(done.values()) - began
    for thread in senders_:
        thread.join()
    used = len(fake.requests) - requests_before
    latencies = [done[i] - sent[i] for i in range(pulls)]
    with fake._lock:
        runs = [r for r in fake.repo(repo).check_runs.values() if r["head_sha"] in heads]
    conclusions = Counter(str(r["conclusion"]) for r in runs)
    return Figures(name, layout, pulls, seconds, latencies, used / pulls, dict(conclusions))


@contextmanager
def fake_github(public_key: str) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(app_id=APP_ID, public_key=public_key)
    fake.add_installation(INSTALLATION_ID, ACCOUNT)
    with fake.serve():
        yield fake


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pulls", type=int, default=200, help="pull requests (one review each) per configuration")
    parser.add_argument("--threads", type=int, default=4, help="job threads per consuming process")
    parser.add_argument("--senders", type=int, default=4, help="client threads sending the webhooks")
    args = parser.parse_args(argv)

    keys = make_key_pair()
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        root = Path(tmp)
        configurations = [
            ("embedded SQLite queue", f"serve + consumer, 1 x {args.threads} threads", None, ["serve"]),
            ("Redis queue", f"serve + 2 workers, 2 x {args.threads} threads", "redis", ["serve0", "worker", "worker"]),
        ]
        for name, layout, backend, start in configurations:
            directory = root / name.split()[0]
            directory.mkdir()
            redis = optional_redis_url(backend == "redis", directory / "redis")
            with fake_github(keys.public_pem) as fake, Apps(directory) as apps, redis as url:
                if backend and url is None:
                    print("redis-server not installed: the Redis queue is not measured")
                    continue
                env = app_env(directory / "data", fake.base_url, keys.private_pem, APP_ID, redis_url=url)
                env["IMAGE_REVIEW_LOG_LEVEL"] = "WARNING"  # a line per review would be measured too
                repo = f"{ACCOUNT}/bench"
                results.append(run(name, layout, apps, fake, env, repo, args.pulls, args.senders, start, args.threads))

    print(f"{args.pulls} pull requests per configuration, one review each, on loopback (write pacing off)")
    print(f"{'queue':24} {'layout':34} {'reviews/s':>9} {'seconds':>8} {'p50 s':>6} {'p95 s':>6} {'API/review':>10}")
    for f in results:
        print(
            f"{f.name:24} {f.layout:34} {f.per_second:9.1f} {f.seconds:8.1f} "
            f"{f.quantile(50):6.2f} {f.quantile(95):6.2f} {f.requests_per_review:10.1f}"
        )
    for f in results:
        if f.conclusions != {"failure": f.pulls}:  # every sample flags its staging image
            print(f"{f.name}: unexpected check run conclusions {f.conclusions}")
    if len(results) == 2:
        print(f"Redis with two workers / embedded: {results[1].per_second / results[0].per_second:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
