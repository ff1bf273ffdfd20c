"""The App as real processes, for the fault and crash tests and the throughput bench.

``Apps`` starts ``image-review serve`` and ``image-review worker`` (the installed commands, as
an operator runs them) against a local fake GitHub and stops whatever is still running when it
closes. ``app_env`` is the environment they get: the fake's address, a data dir, and the knobs
that make a review quick against a fake on loopback (no write pacing, short backoffs and job
retry delays, no registry lookups). The readers at the end tell what the App left on the fake.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
from ports import answers, free_port
from secret_grep import leaks, private_key_lines

from app.report.summary import SUMMARY_MARKER
from app.testing.fake_github import FakeGitHub, signed_delivery
from app.testing.sample_pr import SamplePull, load_sample

ROOT = Path(__file__).resolve().parents[1]
SECRET = "app-process-webhook-secret"
MARKER = re.compile(r"<!-- image-review:fingerprint=(\S+) -->")


def command() -> list[str]:
    script = Path(sys.executable).with_name("image-review")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]




def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def app_env(
    data_dir: Path,
    api_url: str,
    private_key: str,
    app_id: int,
    *,
    redis_url: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of serve and worker (settings only from here, nothing inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "IMAGE_REVIEW_", "PROMETHEUS_"))}
    env.pop("REDIS_URL", None)
    env.update(
        {
            "GITHUB_APP_ID": str(app_id),
            "GITHUB_PRIVATE_KEY": private_key,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": api_url,
            "IMAGE_REVIEW_DATA_DIR": str(data_dir),
            "IMAGE_REVIEW_WRITES_PER_MINUTE": "0",  # a local fake has no secondary rate limit
            "IMAGE_REVIEW_GITHUB_BACKOFF": "0.05",
            "IMAGE_REVIEW_JOB_RETRY_DELAY": "0.2",
            "IMAGE_REVIEW_REGISTRY_VERIFY": "0",  # loopback only: no registry lookups
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class AppProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""  # serve's address, or the worker's metrics endpoint

    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or released but by the kernel."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Apps:
    """Processes of the App started for one test or bench run; all gone when it closes."""

    directory: Path
    started: list[AppProcess] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # values that must not appear in any log

    def __enter__(self) -> Apps:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        for process in reversed(self.started):
            if process.alive():
                process.kill()
        if exc_type is None:
            self.assert_no_secret_in_logs()

    def assert_no_secret_in_logs(self) -> None:
        """Every line the processes wrote (logs, errors, tracebacks) holds none of their secrets."""
        found = [
            (process.log.name, what)
            for process in self.started
            for line in (process.log.read_text(errors="replace").splitlines() if process.log.exists() else [])
            for what in leaks(line, self.secrets)
        ]
        assert not found, f"{len(found)} log lines hold a secret, e.g. {found[0]}"

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> AppProcess:
        self.secrets.update(private_key_lines(env.get("GITHUB_PRIVATE_KEY", "")))
        self.secrets.update(v for k, v in env.items() if k == "GITHUB_WEBHOOK_SECRET")
        # Registry credentials: user:password, and the password on its own.
        self.secrets.update(p for k, v in env.items() if "_REGISTRY_AUTH_" in k for p in (v, v.partition(":")[2]))
        log = self.directory / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([*command(), *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        process = AppProcess(name, proc, log)
        self.started.append(process)
        return process

    def serve(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        threads: int = 4,
        consumer_threads: int = 2,
        timeout: float = 30.0,
    ) -> AppProcess:
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        args += ["--threads", str(threads), "--consumer-threads", str(consumer_threads)]
        process = self.spawn("serve", args, env)
        process.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.alive(), f"serve exited with {process.proc.returncode}:\n{process.logs()}"
            return answers(process.url)

        wait_until(ready, "image-review serve to answer /healthz", timeout)
        return process

    def worker(self, env: dict[str, str], *, threads: int = 2, timeout: float = 30.0) -> AppProcess:
        port = free_port()
        process = self.spawn("worker", ["worker", "--threads", str(threads), "--metrics-port", str(port)], env)
        process.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            # Its metrics endpoint answers once the queue is open; jobs wait for the consumer.
            assert process.alive(), f"worker exited with {process.proc.returncode}:\n{process.logs()}"
            return answers(process.url)

        wait_until(ready, "image-review worker to start", timeout)
        return process


def deliver(
    url: str,
    event: str,
    payload: dict[str, Any],
    *,
    delivery_id: str | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    d = signed_delivery(SECRET, event, payload, delivery_id=delivery_id)
    return (session or requests).post(f"{url}/webhook", data=d.body, headers=d.headers, timeout=10)


def own_sample(repo: str, number: int) -> SamplePull:
    """The bundled sample pull request as ``repo#number``, with commit SHAs of its own (the
    sample's are the same wherever it is loaded, and check runs are found by head SHA)."""
    sample = load_sample().at(repo, number)
    own = tuple(replace(c, sha=hashlib.sha1(f"{repo}#{number}:{c.sha}".encode()).hexdigest()) for c in sample.commits)
    return replace(sample, commits=own)


def load_head(fake: FakeGitHub, pull: SamplePull, installation_id: int = 1) -> None:
    """A pull request's (new) head on the fake; labels stay on it, as on GitHub."""
    with fake._lock:
        repo = fake.repos.get(pull.repo)
        labels = list(repo.pulls[pull.number].labels) if repo and pull.number in repo.pulls else []
    fake.load_pull(pull.repo, pull.fixture(labels), installation_id=installation_id)


# ---------------------------------------------------------------------------------------------
# What the App left on the fake


def check_runs(fake: FakeGitHub, repo: str, head: str) -> list[dict[str, Any]]:
    with fake._lock:
        return [dict(r) for r in fake.repo(repo).check_runs.values() if r["head_sha"] == head]


def inline_markers(fake: FakeGitHub, repo: str, number: int) -> list[str]:
    """The fingerprint markers of the App's inline comments (not replies) on a pull request."""
    with fake._lock:
        comments = [dict(c) for c in fake.repo(repo).review_comments.values() if c["_pull"] == number]
    return [
        match.group(1)
        for c in comments
        if c["user"]["type"] == "Bot" and not c.get("in_reply_to_id") and (match := MARKER.search(c["body"]))
    ]


def summaries(fake: FakeGitHub, repo: str, number: int) -> list[dict[str, Any]]:
    with fake._lock:
        return [
            dict(c)
            for c in fake.repo(repo).issue_comments.values()
            if c["_issue"] == number and SUMMARY_MARKER in c["body"]
        ]
