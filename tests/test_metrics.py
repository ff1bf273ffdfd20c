"""Metrics at /metrics (Flask test client; the multi-process case runs under gunicorn in test_ops),
the JSON log format, and the job wrapper's duration, outcome and findings."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import KeyPair
from flask.testing import FlaskClient
from memory_queue import MemoryQueue
from prometheus_client.parser import text_string_to_metric_families

from app.github.client import ApiCounter
from app.jobs.model import ReviewJob
from app.service import metrics
from app.service.factory import create_app
from app.service.logs import JsonFormatter, configure_logging
from app.service.settings import Settings
from app.testing.fake_github import pull_request_payload, signed_delivery

pytestmark = pytest.mark.timeout(30)

SECRET = "metrics-webhook-secret"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue()


@pytest.fixture
def client(rsa_keys: KeyPair, tmp_path: Path, queue: MemoryQueue) -> FlaskClient:
    settings = Settings(app_id=4242, private_key=rsa_keys.private_pem, webhook_secret=SECRET, data_dir=tmp_path)
    return create_app(settings, queue).test_client()


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def grew(before: Samples, after: Samples, metric: str, /, **labels: str) -> float:
    return value(after, metric, **labels) - value(before, metric, **labels)


def deliveries(samples: Samples, event: str, outcome: str) -> float:
    return value(samples, "image_review_webhook_deliveries_total", event=event, outcome=outcome)


def post(client: FlaskClient, event: str, payload: dict[str, Any], *, secret: str = SECRET, **kw: Any) -> int:
    d = signed_delivery(secret, event, payload, **kw)
    return client.post("/webhook", data=d.body, headers=d.headers).status_code


# -- deliveries -----------------------------------------------------------------------------------


def test_deliveries_are_counted_by_event_and_outcome(client: FlaskClient) -> None:
    before = scrape(client)
    assert post(client, "pull_request", pull_request_payload(), delivery_id="m-1") == 202
    assert post(client, "pull_request", pull_request_payload(), delivery_id="m-1") == 200  # duplicate
    assert post(client, "pull_request", pull_request_payload(action="closed")) == 202  # ignored
    assert post(client, "ping", {"zen": "hi"}) == 200
    assert post(client, "pull_request", pull_request_payload(), secret="wrong") == 401
    assert post(client, "pull_request", {"action": "opened"}) == 400
    after = scrape(client)
    for event, outcome in [
        ("pull_request", "queued"),
        ("pull_request", "duplicate"),
        ("pull_request", "ignored"),
        ("ping", "ping"),
        ("unverified", "bad_signature"),
        ("pull_request", "invalid"),
    ]:
        assert deliveries(after, event, outcome) - deliveries(before, event, outcome) == 1, (event, outcome)


def test_unknown_events_do_not_grow_the_label_set(client: FlaskClient) -> None:
    before = scrape(client)
    assert post(client, "made-up-event-123", {"action": "x"}) == 202
    after = scrape(client)
    assert deliveries(after, "other", "ignored") - deliveries(before, "other", "ignored") == 1
    assert not any(labels and ("event", "made-up-event-123") in labels for _, labels in after)


def test_queue_unavailable_is_an_outcome(client: FlaskClient, queue: MemoryQueue) -> None:
    queue.fail_enqueue = True
    before = scrape(client)
    assert post(client, "pull_request", pull_request_payload()) == 503
    after = scrape(client)
    outcome = "queue_unavailable"
    assert deliveries(after, "pull_request", outcome) - deliveries(before, "pull_request", outcome) == 1


# -- queue state at scrape time -------------------------------------------------------------------


def test_queue_depth_and_job_totals_are_read_when_scraped(client: FlaskClient, queue: MemoryQueue) -> None:
    assert value(scrape(client), "image_review_queue_depth") == 0
    post(client, "pull_request", pull_request_payload(number=1))
    post(client, "pull_request", pull_request_payload(number=2))
    samples = scrape(client)
    assert value(samples, "image_review_queue_depth") == 2
    assert value(samples, "image_review_queue_up") == 1
    assert value(samples, "image_review_jobs_total", state="enqueued") == 2
    assert value(samples, "image_review_jobs_total", state="succeeded") == 3
    assert value(samples, "image_review_jobs_total", state="given_up") == 1


def test_an_unreachable_queue_still_answers_the_scrape(client: FlaskClient, queue: MemoryQueue) -> None:
    queue.fail_depth = True
    samples = scrape(client)
    assert value(samples, "image_review_queue_up") == 0
    assert ("image_review_queue_depth", ()) not in samples


# -- findings, jobs, GitHub API -------------------------------------------------------------------


@dataclass(frozen=True)
class FakeFinding:
    rule: str
    name: str
    severity: str


def test_record_findings_counts_by_rule_and_severity(client: FlaskClient) -> None:
    labels = {"rule": "IR001", "name": "staging-image", "severity": "error"}
    before = value(scrape(client), "image_review_findings_total", **labels)
    found = [FakeFinding("IR001", "staging-image", "error")] * 2 + [FakeFinding("IR010", "x", "warning")]
    metrics.record_findings(found)
    after = scrape(client)
    assert value(after, "image_review_findings_total", **labels) - before == 2
    assert value(after, "image_review_findings_total", rule="IR010", name="x", severity="warning") >= 1


def test_github_api_totals_are_exported_as_increments(client: FlaskClient) -> None:
    counter = ApiCounter()
    exporter = metrics.export_github(counter)
    before = scrape(client)
    counter.record_response(200, {"X-RateLimit-Remaining": "4999"})
    counter.record_response(502, {})
    counter.record_retry()
    exporter.sync()
    counter.record_response(200, {"X-RateLimit-Remaining": "4990"})
    after = scrape(client)  # a scrape syncs too
    requests_total = "image_review_github_api_requests_total"
    assert value(after, requests_total, status="200") - value(before, requests_total, status="200") == 2
    assert value(after, requests_total, status="502") - value(before, requests_total, status="502") == 1
    assert grew(before, after, "image_review_github_api_retries_total") == 1
    assert value(after, "image_review_github_rate_limit_remaining") == 4990


@dataclass
class FakeAnalysis:
    findings: list[FakeFinding]


def test_job_wrapper_times_the_review_and_counts_findings_once_published(
    monkeypatch: pytest.MonkeyPatch, client: FlaskClient, rsa_keys: KeyPair, tmp_path: Path
) -> None:
    import app.service.review
    from app.service.runtime import build_runtime

    settings = Settings(app_id=4242, private_key=rsa_keys.private_pem, webhook_secret=SECRET, data_dir=tmp_path)
    probe = FakeFinding("IR099", "probe", "notice")
    runtime = build_runtime(settings, analyzer=lambda change, ctx: FakeAnalysis([probe]))  # type: ignore[arg-type,return-value]
    calls: list[str] = []

    def fake_review(job: ReviewJob, deps: Any) -> object | None:
        calls.append(job.head_sha)
        deps.analyzer(None, None)  # the review analyses, then publishing fails or succeeds
        if job.head_sha == "bad":
            raise RuntimeError("GitHub is down")
        return object()

    monkeypatch.setattr(app.service.review, "review_pull_request", fake_review)
    job = ReviewJob(
        installation_id=1, repo="o/r", pr_number=3, head_sha="good", delivery_id="d-9", event="pull_request.opened"
    )
    labels = {"rule": "IR099", "name": "probe", "severity": "notice"}
    count = "image_review_job_duration_seconds_count"
    before = scrape(client)
    runtime.handle(job)
    with pytest.raises(RuntimeError):
        runtime.handle(ReviewJob(**{**job.to_dict(), "head_sha": "bad", "labels": ()}))
    after = scrape(client)
    runtime.close()
    assert calls == ["good", "bad"]
    assert value(after, count, outcome="reviewed") - value(before, count, outcome="reviewed") == 1
    assert value(after, count, outcome="failed") - value(before, count, outcome="failed") == 1
    # The failed attempt's findings are not counted: only the published review's.
    findings = "image_review_findings_total"
    assert value(after, findings, **labels) - value(before, findings, **labels) == 1


# -- the worker's own endpoint --------------------------------------------------------------------


def test_worker_endpoint_serves_metrics_and_health(queue: MemoryQueue) -> None:
    port, stop = metrics.serve_http("127.0.0.1", 0, queue)
    try:
        base = f"http://127.0.0.1:{port}"
        response = requests.get(f"{base}/metrics", timeout=5)
        assert response.status_code == 200
        assert value(parse(response.text), "image_review_queue_up") == 1
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        queue.fail_depth = True
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
    finally:
        stop()


# -- JSON logs ------------------------------------------------------------------------------------


def test_json_log_lines_carry_context_fields() -> None:
    stream = io.StringIO()
    handler = configure_logging(env={"IMAGE_REVIEW_LOG_LEVEL": "debug"}, stream=stream)
    try:
        log = logging.getLogger("app.test")
        context = {"delivery_id": "d-1", "repo": "o/r", "pr": 7, "head_sha": "abc", "duration_ms": 12}
        log.info("queued %s", "x", extra=context)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", extra={"secret_thing": "not copied"})
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "queued x"
    assert first["level"] == "info" and first["logger"] == "app.test"
    assert first["time"].endswith("Z")
    assert {k: first[k] for k in ("delivery_id", "repo", "pr", "head_sha", "duration_ms")} == {
        "delivery_id": "d-1",
        "repo": "o/r",
        "pr": 7,
        "head_sha": "abc",
        "duration_ms": 12,
    }
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]
    assert "secret_thing" not in second


def test_json_formatter_never_fails_on_odd_values() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.pr = object()
    assert json.loads(JsonFormatter().format(record))["pr"].startswith("<object")
