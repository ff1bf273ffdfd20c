"""Running it for real: `image-review serve` and `image-review worker` as processes, the webhook
redelivery against the fake GitHub, and the deploy files (Dockerfile, compose, Kubernetes, app.yml).

Everything listens on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import APP_ID, KeyPair
from ports import answers, free_port
from prometheus_client.parser import text_string_to_metric_families
from redis_server import RedisServerMissing, start_redis_server

from app.github.client import AppAuth, RetryPolicy
from app.github.redeliver import LocalMemory, RedeliveryOptions, StoreMemory, _next_path, redeliver_failed
from app.jobs.consumer import WORKER_READY as READY_LINE
from app.jobs.huey_queue import build_queue
from app.jobs.model import QueueSettings
from app.service.settings import Settings
from app.testing.fake_github import FakeGitHub, signed_delivery
from app.testing.sample_pr import load_sample

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # starts processes: left out by `-m "not slow"`

ROOT = Path(__file__).resolve().parents[1]
SECRET = "ops-webhook-secret"
MUTABLE_TAGS = {"latest", "main", "master", "dev", "develop", "edge", "nightly", "stable", "canary"}




def command() -> list[str]:
    script = Path(sys.executable).with_name("image-review")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "IMAGE_REVIEW_", "PROMETHEUS_"))}
    env.pop("REDIS_URL", None)
    env.update({"IMAGE_REVIEW_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)})
    env["IMAGE_REVIEW_REGISTRY_VERIFY"] = "0"  # loopback only: no registry lookups
    return env


@pytest.fixture
def app_env(tmp_path: Path, rsa_keys: KeyPair, fake_github: FakeGitHub) -> dict[str, str]:
    key = tmp_path / "app.pem"
    key.write_text(rsa_keys.private_pem)
    return {
        **base_env(tmp_path),
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY_FILE": str(key),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.base_url,
    }


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def lines(self, which: str = "stderr") -> list[str]:
        path = self.stdout if which == "stdout" else self.stderr
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def logs(self) -> str:
        return "\n".join(self.lines("stderr")[-40:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            message = f"the process did not stop within {timeout:.0f} s of SIGTERM:\n{self.logs()}"
            raise AssertionError(message) from None


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str]], Process]]:
    started: list[Process] = []

    def start(args: list[str], env: dict[str, str]) -> Process:
        n = len(started)
        out, err = tmp_path / f"proc{n}.out", tmp_path / f"proc{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen([*command(), *args], cwd=ROOT, env=env, stdout=o, stderr=e)
        process = Process(proc, out, err)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.proc.kill()
            process.proc.wait()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        parsed.append(entry)
    return parsed


# -- serve ----------------------------------------------------------------------------------------


def test_serve_receives_reviews_and_reports(
    spawn: Callable[[list[str], dict[str, str]], Process], app_env: dict[str, str], fake_github: FakeGitHub
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = spawn(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "2"], app_env)

    def healthy() -> bool:
        assert server.alive(), f"serve exited with {server.proc.returncode}:\n{server.logs()}"
        # Our gunicorn, not another process that took the port in between.
        if not any(f"Listening at: {url}" in line for line in server.lines()):
            return False
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, "serve to answer /healthz")

    pull = load_sample().at("octo-org/app", 7)
    fake_github.load_pull(pull.repo, pull.fixture())
    delivery = signed_delivery(SECRET, "pull_request", fake_github.pull_request_event(pull.repo, pull.number))
    response = requests.post(f"{url}/webhook", data=delivery.body, headers=delivery.headers, timeout=10)
    assert response.status_code == 202, f"{response.status_code} {response.text}\n{server.logs()}"

    # Two gunicorn workers: every scrape, whichever worker answers it, shows the delivery.
    for _ in range(6):
        assert sample(scrape(url), "image_review_webhook_deliveries_total", event="pull_request", outcome="queued") == 1

    # The embedded consumer (in one of the workers) runs the review against the fake GitHub.
    def check_run_completed() -> bool:
        runs = fake_github.repo(pull.repo).check_runs.values()
        return any(r["head_sha"] == pull.head_sha and r["status"] == "completed" for r in runs)

    wait_until(check_run_completed, "the review's check run", timeout=30)
    wait_until(lambda: sample(scrape(url), "image_review_jobs_total", state="succeeded") == 1, "the job total")
    samples = scrape(url)
    assert sample(samples, "image_review_job_duration_seconds_count", outcome="reviewed") == 1
    assert sample(samples, "image_review_queue_depth") == 0
    assert sum(v for (name, _), v in samples.items() if name == "image_review_github_api_requests_total") > 0

    assert server.stop() == 0
    errors = json_lines(server.lines("stderr"))
    # One line per delivery: the access line carries the receiver's decision, no second line.
    assert not [e for e in errors if e.get("delivery_id") == delivery.delivery_id and "queued" in e["message"]]
    [job] = [e for e in errors if e["logger"] == "app.service.runtime" and e.get("outcome") == "reviewed"]
    assert job["delivery_id"] == delivery.delivery_id
    assert job["head_sha"] == pull.head_sha
    assert isinstance(job["duration_ms"], int)
    access = json_lines(server.lines("stdout"))
    [hook] = [e for e in access if e.get("path") == "/webhook"]
    assert hook["status"] == 202 and hook["method"] == "POST" and hook["delivery_id"] == delivery.delivery_id
    assert hook["message"] == f"POST /webhook 202: review of #{pull.number} queued"
    assert hook["repo"] == pull.repo and hook["pr"] == pull.number and hook["head_sha"] == pull.head_sha
    assert "duration_ms" in hook


def test_redis_serve_enqueues_and_workers_review(
    spawn: Callable[[list[str], dict[str, str]], Process],
    app_env: dict[str, str],
    fake_github: FakeGitHub,
    tmp_path: Path,
) -> None:
    try:
        redis = start_redis_server(tmp_path / "redis")
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    try:
        env = {**app_env, "REDIS_URL": redis.url}
        port, metrics_port = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        server = spawn(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env)
        worker = spawn(["worker", "--threads", "2", "--metrics-port", str(metrics_port)], env)

        def up() -> bool:
            assert server.alive() and worker.alive(), server.logs() + "\n" + worker.logs()
            try:
                return all(
                    requests.get(f"{base}/healthz", timeout=2).status_code == 200
                    for base in (url, f"http://127.0.0.1:{metrics_port}")
                )
            except requests.RequestException:
                return False

        wait_until(up, "serve and worker")
        pull = load_sample().at("octo-org/app", 9)
        fake_github.load_pull(pull.repo, pull.fixture())
        delivery = signed_delivery(SECRET, "pull_request", fake_github.pull_request_event(pull.repo, pull.number))
        response = requests.post(f"{url}/webhook", data=delivery.body, headers=delivery.headers, timeout=10)
        assert response.status_code == 202, f"{response.status_code} {response.text}\n{server.logs()}"

        def reviewed() -> bool:
            runs = fake_github.repo(pull.repo).check_runs.values()
            return any(r["head_sha"] == pull.head_sha and r["status"] == "completed" for r in runs)

        wait_until(reviewed, "the worker's review", timeout=30)
        worker_url = f"http://127.0.0.1:{metrics_port}"
        wait_until(lambda: sample(scrape(worker_url), "image_review_jobs_total", state="succeeded") == 1, "job total")
        assert sample(scrape(worker_url), "image_review_job_duration_seconds_count", outcome="reviewed") == 1
        assert server.stop() == 0 and worker.stop() == 0
        # With Redis, serve never runs a consumer: the review happened in the worker.
        assert not any("embedded consumer" in line for line in server.lines())
        assert not (tmp_path / "data" / "consumer.lock").exists()
    finally:
        redis.stop()


def test_missing_settings_exit_2_naming_every_variable(
    spawn: Callable[[list[str], dict[str, str]], Process], tmp_path: Path
) -> None:
    for sub in (["serve", "--port", str(free_port())], ["worker"]):
        process = spawn(sub, base_env(tmp_path))
        assert process.proc.wait(timeout=20) == 2
        err = process.stderr.read_text()
        for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET"):
            assert name in err, err
        assert "Traceback" not in err
        assert process.stdout.read_text() == ""


def test_bad_settings_never_echo_secrets(spawn: Callable[[list[str], dict[str, str]], Process], tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "GITHUB_APP_ID": "not-a-number",
        "GITHUB_PRIVATE_KEY": "super-secret-key-material",
        "GITHUB_WEBHOOK_SECRET": "super-secret-webhook-value",
        "REDIS_URL": "http://user:super-secret-password@redis:6379",
        "IMAGE_REVIEW_JOB_RETRIES": "many",
    }
    process = spawn(["serve"], env)
    assert process.proc.wait(timeout=20) == 2
    err = process.stderr.read_text()
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "REDIS_URL", "IMAGE_REVIEW_JOB_RETRIES"):
        assert name in err, err
    assert "super-secret" not in err
    assert "Traceback" not in err


# -- worker ---------------------------------------------------------------------------------------


def test_worker_starts_and_stops_on_sigterm(
    spawn: Callable[[list[str], dict[str, str]], Process], app_env: dict[str, str]
) -> None:
    port = free_port()
    worker = spawn(["worker", "--threads", "1", "--metrics-port", str(port)], app_env)

    def ready() -> bool:
        assert worker.alive(), f"worker exited with {worker.proc.returncode}:\n{worker.logs()}"
        # Logged once the consumer's signal handlers are in place: SIGTERM is then graceful.
        return any(READY_LINE in line for line in worker.lines()) and answers(f"http://127.0.0.1:{port}")

    wait_until(ready, "the worker to start")
    assert sample(scrape(f"http://127.0.0.1:{port}"), "image_review_queue_up") == 1
    assert worker.stop(timeout=30) == 0
    entries = json_lines(worker.lines())
    assert any(e["message"] == "worker stopped" for e in entries)


# -- redelivery -----------------------------------------------------------------------------------


@pytest.fixture
def app_auth(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[AppAuth]:
    policy = RetryPolicy(max_attempts=2, max_elapsed=2.0, backoff_factor=0.01, sleep=lambda _s: None)
    auth = AppAuth(APP_ID, rsa_keys.private_pem, fake_github.base_url, policy=policy)
    yield auth
    auth.close()


def test_failed_deliveries_are_redelivered_once(fake_github: FakeGitHub, app_auth: AppAuth) -> None:
    ok = fake_github.add_delivery("pull_request", action="opened")
    failed = fake_github.add_delivery("pull_request", status_code=502, action="synchronize")
    timeout = fake_github.add_delivery("issue_comment", status_code=0, action="created")
    timeout["status"] = "timed out"
    memory = LocalMemory()

    report = redeliver_failed(app_auth, memory)
    assert fake_github.redelivered == [failed["id"], timeout["id"]]  # oldest first
    assert report.redelivered == [failed["guid"], timeout["guid"]]
    assert ok["id"] not in fake_github.redelivered

    # GitHub has not made a new attempt yet: nothing is asked twice.
    report = redeliver_failed(app_auth, memory)
    assert fake_github.redelivered == [failed["id"], timeout["id"]]
    assert report.already_requested == 2

    # GitHub's new attempt for one of them failed again: that one is tried again; the other
    # event's new attempt succeeded, so it is done.
    for original, status in ((failed, 503), (timeout, 200)):
        attempt = fake_github.add_delivery(original["event"], status_code=status, action=original["action"])
        attempt.update(guid=original["guid"], redelivery=True)
    retry_id = fake_github.deliveries[-2]["id"]
    redeliver_failed(app_auth, memory)
    assert fake_github.redelivered == [failed["id"], timeout["id"], retry_id]


def test_redelivery_is_bounded(fake_github: FakeGitHub, app_auth: AppAuth) -> None:
    for _ in range(12):
        fake_github.add_delivery("pull_request", status_code=500, action="opened")
    memory = LocalMemory()
    options = RedeliveryOptions(max_per_run=5, per_page=4, max_attempts=1)
    first = redeliver_failed(app_auth, memory, options)
    assert len(fake_github.redelivered) == 5 and first.more
    assert first.scanned == 12  # three pages, followed through the Link header
    redeliver_failed(app_auth, memory, options)
    redeliver_failed(app_auth, memory, options)
    assert len(fake_github.redelivered) == 12
    assert len(set(fake_github.redelivered)) == 12

    # Few pages per run: the newest 4 are read, and only they can be resent.
    fake_github.redelivered.clear()
    limited = redeliver_failed(app_auth, LocalMemory(), RedeliveryOptions(per_page=4, max_pages=1))
    assert limited.scanned == 4 and limited.more
    assert len(fake_github.redelivered) == 4


def test_old_deliveries_are_left_alone(fake_github: FakeGitHub, app_auth: AppAuth) -> None:
    now = time.time()
    fake_github.clock = lambda: now - 3 * 24 * 3600
    fake_github.add_delivery("pull_request", status_code=500, action="opened")
    fake_github.clock = time.time
    report = redeliver_failed(app_auth, LocalMemory(), RedeliveryOptions(lookback=24 * 3600), now=now)
    assert report.scanned == 0
    assert fake_github.redelivered == []


def test_redelivery_memory_is_shared_through_the_queue_store(
    fake_github: FakeGitHub, app_auth: AppAuth, tmp_path: Path
) -> None:
    failed = fake_github.add_delivery("check_run", status_code=500, action="rerequested")
    queues = [build_queue(QueueSettings(data_dir=tmp_path), lambda job: None) for _ in range(2)]
    try:
        for queue in queues:  # two processes sharing the data dir, one after the other
            redeliver_failed(app_auth, StoreMemory(queue.store, ttl=3600))
    finally:
        for queue in queues:
            queue.close()
    assert fake_github.redelivered == [failed["id"]]


def test_pagination_links_to_other_hosts_are_not_followed() -> None:
    response = requests.Response()
    response.headers["Link"] = '<https://evil.example/app/hook/deliveries?cursor=x>; rel="next"'
    assert _next_path(response, "https://api.github.com") is None
    response.headers["Link"] = '<https://api.github.com/app/hook/deliveries?cursor=v1_9>; rel="next"'
    assert _next_path(response, "https://api.github.com") == "/app/hook/deliveries?cursor=v1_9"


# -- deploy files ---------------------------------------------------------------------------------


def image_tag(ref: str) -> str | None:
    """The tag of an image reference (None when it has none); the digest, if any, is ignored."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def dockerfile_images(path: Path) -> list[str]:
    images = []
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", line, re.IGNORECASE)
        if match:
            images.append(match.group(1))
    return images


def yaml_images(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for value in node.values() for i in yaml_images(value)]
    if isinstance(node, list):
        return [i for item in node for i in yaml_images(item)]
    return []


def deploy_images() -> dict[str, list[str]]:
    images = {"Dockerfile": dockerfile_images(ROOT / "Dockerfile")}
    images["docker-compose.yml"] = yaml_images(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, path
        images[str(path.relative_to(ROOT))] = yaml_images(docs)
    return images


def test_every_deploy_image_has_an_explicit_release_tag() -> None:
    images = deploy_images()
    assert images["Dockerfile"] and images["docker-compose.yml"]
    assert any(images[k] for k in images if k.startswith("deploy/kubernetes/"))
    for where, refs in images.items():
        for ref in refs:
            tag = image_tag(ref)
            assert tag, f"{where}: {ref} has no tag"
            assert tag.lower() not in MUTABLE_TAGS, f"{where}: {ref} uses a mutable tag"
            assert "staging" not in ref, f"{where}: {ref} is a staging image"
            assert "$" not in ref and "{" not in ref, f"{where}: {ref} is templated"


def test_the_projects_own_check_passes_on_the_deploy_files(tmp_path: Path) -> None:
    manifests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "deploy").rglob("*.yaml"))
    diff = "".join(
        subprocess.run(
            ["git", "diff", "--no-index", "--", "/dev/null", path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for path in ["Dockerfile", "docker-compose.yml", *manifests]
    )
    patch = tmp_path / "deploy.diff"
    patch.write_text(diff)
    result = subprocess.run(
        [*command(), "check", "--diff", str(patch), "--format", "json", "--fail-on", "error"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [f for f in findings if f["severity"] == "error"] == []


def test_compose_and_kubernetes_wire_redis_and_probes() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "redis"} <= services.keys()
    for name in ("web", "worker"):
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
    docs = [
        d
        for p in (ROOT / "deploy" / "kubernetes").glob("*.yaml")
        for d in yaml.safe_load_all(p.read_text())
        if d and "metadata" in d  # kustomization.yaml has none
    ]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    expected = {("Deployment", "image-review-web"), ("Deployment", "image-review-worker"), ("Service", "image-review")}
    assert expected <= kinds
    assert ("StatefulSet", "image-review-redis") in kinds and ("Service", "image-review-redis") in kinds
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            secret_refs = [e for e in container["env"] if "valueFrom" in e]
            assert {e["name"] for e in secret_refs} >= {"GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET", "REDIS_URL"}
            assert all("value" not in e for e in secret_refs)


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    assert len(stages) == 3, "a builder stage and a final stage"
    final = stages[-1]
    assert "build-essential" not in final and "apt-get install" not in final
    assert re.search(r"^USER 10001", final, re.M)
    assert "HEALTHCHECK" in final and "/healthz" in final and "curl" not in final.split("HEALTHCHECK", 1)[1]
    assert "requirements.lock" in stages[1] and "--no-deps" in stages[1]


def test_requirements_lock_pins_the_runtime_closure_only() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = dict(line.split("==", 1) for line in lines)
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+", v) for v in pins.values()), "exact versions only"
    names = {n.lower().replace("_", "-") for n in pins}
    assert {"flask", "gunicorn", "huey", "pygithub", "pyjwt", "redis", "prometheus-client", "cryptography"} <= names
    assert not names & {"pytest", "ruff", "mypy", "hypothesis", "image-review", "psutil"}


def test_procfile_runs_web_and_worker() -> None:
    entries = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert entries["web"].split()[:2] == ["image-review", "serve"]
    assert entries["worker"].split()[:2] == ["image-review", "worker"]


def test_app_manifest_asks_for_the_needed_permissions_and_events() -> None:
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    assert manifest["default_permissions"] == {
        "checks": "write",
        "pull_requests": "write",
        "contents": "write",
        "issues": "write",
        "metadata": "read",
    }
    assert set(manifest["default_events"]) == {
        "pull_request",
        "pull_request_review",
        "check_run",
        "check_suite",
        "issue_comment",
        "push",
        "issues",
    }
    assert manifest["hook_attributes"]["url"].endswith("/webhook")
    assert manifest["name"] and manifest["url"] and manifest["redirect_url"]
    assert manifest["public"] is False


# -- the embedded consumer ------------------------------------------------------------------------


def test_one_embedded_consumer_per_data_dir_with_takeover(
    tmp_path: Path, rsa_keys: KeyPair, fake_github: FakeGitHub
) -> None:
    from app.service.runtime import EmbeddedConsumer

    settings = Settings(
        app_id=APP_ID,
        private_key=rsa_keys.private_pem,
        webhook_secret=SECRET,
        api_url=fake_github.base_url,
        data_dir=tmp_path / "data",
    )
    # Two competitors stand for two gunicorn workers: flock locks per open file, so they exclude
    # each other in one process as they would across processes.
    first, second = EmbeddedConsumer(settings, threads=1, poll=0.1), EmbeddedConsumer(settings, threads=1, poll=0.1)
    try:
        first.start()
        wait_until(lambda: first.running, "the first consumer")
        second.start()
        wait_until(second.standing_by.is_set, "the second consumer to find the lock taken")
        assert not second.running
        first.stop()
        wait_until(lambda: second.running, "the second consumer to take over")
    finally:
        first.stop()
        second.stop()


def test_no_consumer_in_serve_with_redis(tmp_path: Path, rsa_keys: KeyPair) -> None:
    from app.service.factory import CONSUMER_KEY, create_app

    settings = Settings(
        app_id=APP_ID,
        private_key=rsa_keys.private_pem,
        webhook_secret=SECRET,
        data_dir=tmp_path,
        redis_url="redis://127.0.0.1:1/0",
    )
    app = create_app(settings, NullQueue(), consumer_threads=2)
    assert CONSUMER_KEY not in app.extensions
    assert not (tmp_path / "consumer.lock").exists()


class NullQueue:
    def accept(self, delivery_id: str, jobs: Sequence[object]) -> bool:
        return True

    def depth(self) -> int:
        return 0
