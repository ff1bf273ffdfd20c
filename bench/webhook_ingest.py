"""Webhook ingest speed: deliveries acknowledged per second and p99 latency of ``POST /webhook``.

    python bench/webhook_ingest.py [--requests 2000] [--threads 8] [--workers 2] [--queues sqlite,redis] [--rounds 4]

Servers in one run, all under gunicorn with the same settings, on loopback:

* a bare Flask endpoint that only checks the signature and answers 202 (the floor);
* the App as deployed: ``app.service.factory:create_app()`` (signature check, JSON, delivery dedupe, routing, and
  the durable enqueue), once per queue: SQLite in a temporary data dir (the embedded default) and
  Redis (a redis-server started here; skipped when none is installed).

Each gets the same signed ``pull_request.synchronize`` deliveries (about 12 KB, unique delivery ids
and heads) from a few client threads after a warm-up, in turns (``--rounds``): all servers stay up
and each round measures each in sequence, so a busier moment of the machine is shared. The
target: the App acknowledges at least 0.8 of the bare endpoint's deliveries per second. No worker
runs: this measures ingest only.
The SQLite queue commits with ``synchronous=NORMAL`` unless the environment says otherwise:
``IMAGE_REVIEW_SQLITE_SYNC=full python bench/webhook_ingest.py`` measures fsync on every commit.

    python bench/webhook_ingest.py --with-consumer [--requests 5000] [--pulls 1,50]

measures the deployed shape instead: ``image-review serve`` (gunicorn, the embedded SQLite queue,
its consumer running reviews against a fake GitHub served by a process of its own) beside the
bare endpoint, under a burst of ``--requests`` signed ``pull_request.synchronize`` deliveries for
one pull request and then for 50 (each for the pull request's current head, as when GitHub sends
many events for a head). Reviews run during the burst; the App's log level stays at its default.
The targets: at least 0.8 of the bare endpoint's acknowledgements per second and a p99 of at
most 50 ms. The number of reviews the consumer ran meanwhile is printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ports import free_port  # noqa: E402
from redis_server import optional_redis_url  # noqa: E402

SECRET = "bench-webhook-secret"
TARGET = 0.8
P99_TARGET_MS = 50.0


# ---------------------------------------------------------------------------------------------
# The bare endpoint (gunicorn imports this module as ``webhook_ingest:bare_app()``)


def bare_app() -> object:
    from flask import Flask, Response, request

    app = Flask("bare-webhook")
    secret = os.environ.get("GITHUB_WEBHOOK_SECRET", SECRET).encode()

    @app.post("/webhook")
    def webhook() -> tuple[Response | str, int]:
        body = request.get_data()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return "bad signature", 401
        return Response('{"status":"queued"}', mimetype="application/json"), 202

    return app


# ---------------------------------------------------------------------------------------------
# Servers


def _gunicorn() -> str:
    found = Path(sys.executable).with_name("gunicorn")
    return str(found) if found.exists() else (shutil.which("gunicorn") or "gunicorn")


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int, *, chdir: Path = ROOT) -> Iterator[str]:
    port = free_port()
    cmd = [
        _gunicorn(),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--log-level",
        "warning",
        "--chdir",
        str(chdir),
    ]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                requests.post(f"{url}/webhook", data=b"{}", timeout=5)
                break
            except requests.RequestException:  # refused, or accepted but not answered yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {app} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Load


def deliveries(count: int, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    from app.testing.fake_github import pull_request_payload, signed_delivery

    out = []
    filler = "Updates the etcd-manager image and regenerates the expected output. " * 60
    for i in range(count):
        payload = pull_request_payload(
            repo="kubernetes/kops",
            number=13000 + i % 50,
            action="synchronize",
            head_sha=hashlib.sha1(f"{tag}-{i}".encode()).hexdigest(),
            labels=("area/etcd", "size/S"),
        )
        payload["pull_request"]["body"] = filler  # real payloads are 10-30 KB
        d = signed_delivery(SECRET, "pull_request", payload, delivery_id=f"{tag}-{i}")
        out.append((d.body, d.headers))
    return out


@dataclass
class Figures:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


def hammer(name: str, url: str, items: list[tuple[bytes, dict[str, str]]], threads: int) -> Figures:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    cursor = iter(items)

    def run() -> None:
        session = requests.Session()
        mine: list[float] = []
        seen: dict[int, int] = {}
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                break
            body, headers = item
            start = time.perf_counter()
            status = session.post(f"{url}/webhook", data=body, headers=headers, timeout=30).status_code
            mine.append(time.perf_counter() - start)
            seen[status] = seen.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                statuses[k] = statuses.get(k, 0) + v

    workers = [threading.Thread(target=run) for _ in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return Figures(name, len(items), time.perf_counter() - began, latencies, statuses)


def combine(parts: list[Figures]) -> Figures:
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return Figures(
        parts[0].name,
        sum(p.requests for p in parts),
        sum(p.seconds for p in parts),
        [latency for p in parts for latency in p.latencies],
        statuses,
    )


# ---------------------------------------------------------------------------------------------
# The deployed shape: serve with its consumer running reviews


def burst(
    events: list[tuple[str, dict[str, Any]]], count: int, tag: str, secret: str
) -> list[tuple[bytes, dict[str, str]]]:
    """`count` signed deliveries cycling over `events` (one per pull request), unique ids."""
    from app.testing.fake_github import signed_delivery

    out = []
    for i in range(count):
        event, payload = events[i % len(events)]
        d = signed_delivery(secret, event, payload, delivery_id=f"{tag}-{i}")
        out.append((d.body, d.headers))
    return out


def _fake_github_process(public_pem: str, pulls: int, out: Any, stop: Any) -> None:
    """The fake GitHub with `pulls` pull requests, served until `stop` is set; sends back its
    address and one ``pull_request.synchronize`` payload per pull request."""
    from app_process import load_head, own_sample
    from conftest import ACCOUNT, APP_ID, INSTALLATION_ID

    from app.testing.fake_github import FakeGitHub

    repo = f"{ACCOUNT}/bench"
    fake = FakeGitHub(app_id=APP_ID, public_key=public_pem)
    fake.add_installation(INSTALLATION_ID, ACCOUNT)
    for n in range(1, pulls + 1):
        load_head(fake, own_sample(repo, n), INSTALLATION_ID)
    with fake.serve() as url:
        out.put((url, [fake.pull_request_event(repo, n, "synchronize") for n in range(1, pulls + 1)]))
        stop.wait()


@contextmanager
def fake_github_process(public_pem: str, pulls: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A fake GitHub in a process of its own: serving the consumer's requests from the process
    that sends the deliveries would take its interpreter lock from the senders, in the App's
    turns only."""
    context = multiprocessing.get_context("spawn")
    out, stop = context.Queue(), context.Event()
    process = context.Process(target=_fake_github_process, args=(public_pem, pulls, out, stop), daemon=True)
    process.start()
    try:
        yield out.get(timeout=60)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()


def reviews_logged(process: Any) -> int:
    return sum(1 for line in process.logs(10**9).splitlines() if "review job for" in line)


def with_consumer(args: argparse.Namespace) -> int:
    from app_process import SECRET as APP_SECRET
    from app_process import Apps, app_env
    from conftest import APP_ID, make_key_pair

    keys = make_key_pair()
    scenarios = [int(n) for n in args.pulls.split(",") if n.strip()]
    rows: list[tuple[int, Figures, Figures, int]] = []
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        fake_url, payloads = stack.enter_context(fake_github_process(keys.public_pem, max(scenarios)))
        events = [("pull_request", payload) for payload in payloads]
        apps = stack.enter_context(Apps(root))
        web = apps.serve(app_env(root / "data", fake_url, keys.private_pem, APP_ID), workers=args.workers, threads=4)
        bare_env = {"GITHUB_WEBHOOK_SECRET": APP_SECRET}
        here = Path(__file__).parent
        bare_url = stack.enter_context(gunicorn("webhook_ingest:bare_app()", bare_env, args.workers, chdir=here))
        hammer("warm", bare_url, burst(events, 200, "warm-bare", APP_SECRET), args.threads)
        hammer("warm", web.url, burst(events[:1], 200, "warm-app", APP_SECRET), args.threads)
        for pulls in scenarios:
            before = reviews_logged(web)
            share = max(1, args.requests // args.rounds)
            parts: dict[str, list[Figures]] = {"bare": [], "app": []}
            for round_ in range(args.rounds):
                for name, url in (("bare", bare_url), ("app", web.url)):
                    items = burst(events[:pulls], share, f"{name}-{pulls}-{round_}", APP_SECRET)
                    parts[name].append(hammer(name, url, items, args.threads))
            rows.append((pulls, combine(parts["bare"]), combine(parts["app"]), reviews_logged(web) - before))

    print(
        f"{args.requests} deliveries per endpoint and burst in {args.rounds} turns, {args.threads} client threads, "
        f"gunicorn {args.workers} workers x 4 threads; serve runs its consumer (2 threads)"
    )
    print(f"{'burst':10} {'endpoint':28} {'acks/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  statuses")
    ok = True
    for pulls, bare, app, reviews in rows:
        ratio = app.per_second / bare.per_second
        met = ratio >= TARGET and app.p99_ms <= P99_TARGET_MS and set(app.statuses) == {202}
        ok &= met
        label = f"{pulls} PR" + ("s" if pulls > 1 else "")
        print(
            f"{label:10} {'bare Flask (signature only)':28} {bare.per_second:8.0f} {bare.p50_ms:8.1f} "
            f"{bare.p99_ms:8.1f} {1:6.2f}  {bare.statuses}"
        )
        verdict = "" if met else "  BELOW TARGET"
        print(
            f"{label:10} {'image-review serve':28} {app.per_second:8.0f} {app.p50_ms:8.1f} {app.p99_ms:8.1f} "
            f"{ratio:6.2f}  {app.statuses}  reviews run meanwhile: {reviews}{verdict}"
        )
    print(
        f"targets: >= {TARGET} of the bare endpoint's acks/s, p99 <= {P99_TARGET_MS:.0f} ms: "
        f"{'OK' if ok else 'not met'}"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=None, help="deliveries per endpoint (2000; 5000 with a consumer)"
    )
    parser.add_argument("--with-consumer", action="store_true", help="measure image-review serve with its consumer")
    parser.add_argument("--pulls", default="1,50", help="with a consumer: pull requests per burst, comma-separated")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (4 threads each)")
    parser.add_argument("--queues", default="sqlite,redis", help="the App's queues to measure")
    parser.add_argument("--rounds", type=int, default=4, help="the endpoints take turns, this many times each")
    args = parser.parse_args(argv)
    if args.with_consumer:
        args.requests = args.requests or 5000
        return with_consumer(args)
    args.requests = args.requests or 2000

    from conftest import make_key_pair

    key = make_key_pair().private_pem
    results: list[Figures] = []
    base_env = {
        "GITHUB_APP_ID": "1",
        "GITHUB_PRIVATE_KEY": key,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": "http://127.0.0.1:9",  # the web process never calls GitHub
    }
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp, ExitStack() as stack:
        # All servers up at once, idle but for the one being measured; the endpoints take turns
        # so that a busier moment of the machine does not fall on one of them only.
        env = {**base_env, "IMAGE_REVIEW_DATA_DIR": str(Path(tmp) / "bare")}
        here = Path(__file__).parent
        bare_url = stack.enter_context(gunicorn("webhook_ingest:bare_app()", env, args.workers, chdir=here))
        endpoints = [("bare Flask (signature only)", bare_url, "bare")]
        for queue in [q.strip() for q in args.queues.split(",") if q.strip()]:
            redis_url = stack.enter_context(optional_redis_url(queue == "redis", Path(tmp) / "redis"))
            if queue == "redis" and redis_url is None:
                print("redis-server not installed: the Redis queue is not measured")
                continue
            env = {**base_env, "IMAGE_REVIEW_DATA_DIR": str(Path(tmp) / queue)}
            if redis_url:
                env["REDIS_URL"] = redis_url
            url = stack.enter_context(gunicorn("app.service.factory:create_app()", env, args.workers))
            endpoints.append((f"image-review ({'Redis' if redis_url else 'SQLite'} queue)", url, queue))
        parts: dict[str, list[Figures]] = {name: [] for name, _, _ in endpoints}
        for name, url, tag in endpoints:
            hammer(name, url, deliveries(min(200, args.requests // 10), f"{tag}-warm"), args.threads)
        share = max(1, args.requests // args.rounds)
        for round_ in range(args.rounds):
            for name, url, tag in endpoints:
                parts[name].append(hammer(name, url, deliveries(share, f"{tag}-{round_}"), args.threads))
        bare, *results = [combine(parts[name]) for name, _, _ in endpoints]

    sync = os.environ.get("IMAGE_REVIEW_SQLITE_SYNC") or "normal"
    print(
        f"{bare.requests} deliveries each in {args.rounds} turns, {args.threads} client threads, "
        f"gunicorn {args.workers} workers x 4 threads, SQLite synchronous={sync}"
    )
    print(f"{'endpoint':34} {'acks/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  statuses")
    print(f"{bare.name:34} {bare.per_second:8.0f} {bare.p50_ms:8.1f} {bare.p99_ms:8.1f} {1:6.2f}  {bare.statuses}")
    ok = True
    for f in results:
        ratio = f.per_second / bare.per_second
        met = ratio >= TARGET and set(f.statuses) == {202}
        ok &= met
        verdict = "" if met else f"  BELOW TARGET {TARGET}"
        print(f"{f.name:34} {f.per_second:8.0f} {f.p50_ms:8.1f} {f.p99_ms:8.1f} {ratio:6.2f}  {f.statuses}{verdict}")
    print(f"target: at least {TARGET} of the bare endpoint's throughput: {'OK' if ok else 'not met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
