"""A burst of malformed webhook requests against the served App: answers, 5xx count, health after.

    python bench/webhook_malformed.py [--requests 10000] [--threads 8] [--workers 2]

Starts ``image-review serve`` (gunicorn, as deployed) on 127.0.0.1 against a local fake GitHub
and sends ``--requests`` malformed requests cycling through every kind in
``app.testing.malformed`` (bad and missing signatures, bad JSON, deep JSON, wrong shapes under a
valid signature, huge headers, wrong methods). Prints the statuses by kind, the number of 5xx
(target: 0), whether /healthz answers 200 afterwards, and the malformed requests per second as a
ratio of ``/healthz`` requests per second measured in the same run with the same clients.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from app_process import SECRET, Apps, app_env  # noqa: E402
from conftest import APP_ID, make_key_pair  # noqa: E402

from app.testing.fake_github import FakeGitHub  # noqa: E402
from app.testing.malformed import send_burst  # noqa: E402


def healthz_rate(url: str, count: int, threads: int) -> float:
    """Requests per second of GET /healthz: the cheapest answer the server gives (the baseline)."""
    sessions = [requests.Session() for _ in range(threads)]

    def one(i: int) -> int:
        return sessions[i % threads].get(f"{url}/healthz", timeout=10).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(one, range(count)))
    assert all(s == 200 for s in statuses)
    return count / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    keys = make_key_pair()
    fake = FakeGitHub(app_id=APP_ID, public_key=keys.public_pem)
    with tempfile.TemporaryDirectory() as tmp, fake.serve():
        env = app_env(Path(tmp) / "data", fake.base_url, keys.private_pem, APP_ID)
        with Apps(Path(tmp)) as apps:
            server = apps.serve(env, workers=args.workers, threads=4, consumer_threads=1)
            baseline = healthz_rate(server.url, min(args.requests, 2000), args.threads)
            result = send_burst(server.url, SECRET, args.requests, threads=args.threads)
            healthy = requests.get(f"{server.url}/healthz", timeout=5).status_code == 200 and server.alive()
    rate = args.requests / result.seconds
    print(f"malformed requests: {args.requests} in {result.seconds:.1f} s ({rate:.0f}/s)")
    for kind, statuses in sorted(result.by_kind.items()):
        print(f"  {kind:32} {sorted(statuses)}")
    print(f"statuses: {dict(sorted(result.statuses.items()))}")
    server_errors = sum(n for status, n in result.statuses.items() if status >= 500)
    print(f"5xx answers: {server_errors} (target 0); connection errors: {result.statuses.get(0, 0)}")
    print(f"/healthz after the burst: {'200, serve alive' if healthy else 'FAILED'}")
    print(f"malformed / healthz requests per second: {rate:.0f} / {baseline:.0f} = {rate / baseline:.2f}")
    return 0 if server_errors == 0 and healthy and not result.statuses.get(0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
