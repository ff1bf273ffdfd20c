"""Prometheus metrics, exposed at ``GET /metrics`` in the text exposition format.

Two kinds of numbers:

* Events counted where they happen (webhook deliveries, job durations, findings, GitHub API
  calls): prometheus_client metrics defined below. ``image-review serve`` runs several gunicorn
  worker processes and a scrape reaches any one of them, so serve uses prometheus_client's
  multiprocess mode: each process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
  (``<data dir>/prometheus`` by default, emptied when serve starts) and every scrape adds up all
  of them. Without that variable (tests, a single process) the values live in this process.
* Queue state (depth, job totals): read from the queue's store at scrape time. The store is
  shared by every process, so any process answers for all of them.

``PROMETHEUS_MULTIPROC_DIR`` must be set before prometheus_client is first imported (it picks
its value storage at import time): ``app.cli.serve`` sets it before gunicorn starts, and no module
imported by the command line imports this one at import time.

The GitHub API numbers come from ``app.github.client.ApiCounter`` totals, copied into counters by
``GitHubExporter.sync()`` after each job and at scrape time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

    from app.github.client import ApiCounter
    from app.jobs.model import JobCounts

log = logging.getLogger(__name__)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# The events the App subscribes to (app.yml) plus the App's own; anything else is "other", so an
# unexpected header cannot grow the label set.
KNOWN_EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_review",
        "check_run",
        "check_suite",
        "issue_comment",
        "installation",
        "installation_repositories",
        "ping",
    }
)

UNVERIFIED = "unverified"  # the event of a delivery whose signature was not checked


class _Metrics:
    """The metric objects, in a registry of their own (importing this module never touches
    prometheus_client's global registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.deliveries = Counter(
            "image_review_webhook_deliveries",
            "Webhook deliveries received, by event and outcome (queued, ignored, duplicate, ping, invalid, "
            "bad_signature, too_large, queue_unavailable, error).",
            ["event", "outcome"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "image_review_webhook_redeliveries",
            "Failed webhook deliveries GitHub was asked to resend, by outcome (requested, error).",
            ["outcome"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "image_review_job_duration_seconds",
            "Time spent in one review job attempt, by outcome (reviewed, skipped, failed).",
            ["outcome"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
            registry=registry,
        )
        self.findings = Counter(
            "image_review_findings",
            "Findings in completed reviews, by rule code, rule name and severity.",
            ["rule", "name", "severity"],
            registry=registry,
        )
        self.github_requests = Counter(
            "image_review_github_api_requests",
            "GitHub API responses received, by HTTP status (retried attempts included).",
            ["status"],
            registry=registry,
        )
        self.github_retries = Counter(
            "image_review_github_api_retries",
            "GitHub API requests sent again after a retryable answer (5xx, 429, rate limits).",
            registry=registry,
        )
        self.github_errors = Counter(
            "image_review_github_api_connection_errors",
            "GitHub API attempts that got no HTTP response.",
            registry=registry,
        )
        self.rate_limit_remaining = Gauge(
            "image_review_github_rate_limit_remaining",
            "The most recent X-RateLimit-Remaining seen from GitHub.",
            multiprocess_mode="mostrecent",
            registry=registry,
        )


_metrics_instance: _Metrics | None = None
_metrics_lock = threading.Lock()


def _metrics() -> _Metrics:
    """The metrics, created on first use: by then the process knows whether it is multiprocess.

    prometheus_client picks its value storage when first imported; a process that imported it
    before PROMETHEUS_MULTIPROC_DIR was set (a gunicorn master that forked this worker) would
    keep per-process values that no scrape in another process can see, so the choice is made
    again here.
    """
    global _metrics_instance
    with _metrics_lock:
        if _metrics_instance is None:
            if multiprocess_dir() and not getattr(values.ValueClass, "_multiprocess", False):
                values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
            _metrics_instance = _Metrics()
        return _metrics_instance


# ---------------------------------------------------------------------------------------------
# Recording


class FindingLike(Protocol):
    @property
    def rule(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def severity(self) -> str: ...


def record_findings(findings: Iterable[FindingLike]) -> None:
    """Count the findings of one completed review (call once per review, after it is published)."""
    for finding in findings:
        _metrics().findings.labels(rule=finding.rule, name=finding.name, severity=str(finding.severity)).inc()


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS or event == UNVERIFIED else "other"


def count_delivery(event: str, outcome: str) -> None:
    _metrics().deliveries.labels(event=event_label(event), outcome=outcome).inc()


def observe_job(seconds: float, outcome: str) -> None:
    _metrics().job_duration.labels(outcome=outcome).observe(seconds)


def count_redeliveries(requested: int, errors: int) -> None:
    if requested:
        _metrics().redeliveries.labels(outcome="requested").inc(requested)
    if errors:
        _metrics().redeliveries.labels(outcome="error").inc(errors)


class GitHubExporter:
    """Copies an ApiCounter's totals into the counters above, as increments since the last sync."""

    def __init__(self, counter: ApiCounter) -> None:
        self._counter = counter
        self._lock = threading.Lock()
        self._by_status: dict[int, int] = {}
        self._retries = 0
        self._errors = 0

    def sync(self) -> None:
        stats = self._counter.snapshot()
        m = _metrics()
        with self._lock:
            for status, total in stats.by_status.items():
                delta = total - self._by_status.get(status, 0)
                if delta > 0:
                    m.github_requests.labels(status=str(status)).inc(delta)
                    self._by_status[status] = total
            if stats.retries > self._retries:
                m.github_retries.inc(stats.retries - self._retries)
                self._retries = stats.retries
            if stats.errors > self._errors:
                m.github_errors.inc(stats.errors - self._errors)
                self._errors = stats.errors
            if stats.rate_limit_remaining is not None:
                m.rate_limit_remaining.set(stats.rate_limit_remaining)


_exporters: list[GitHubExporter] = []
_exporters_lock = threading.Lock()


def export_github(counter: ApiCounter) -> GitHubExporter:
    """Export this counter's totals (synced at every scrape of this process, and by the caller)."""
    exporter = GitHubExporter(counter)
    with _exporters_lock:
        _exporters.append(exporter)
    return exporter


def unexport_github(exporter: GitHubExporter) -> None:
    """Stop syncing at scrapes (what was synced stays counted)."""
    exporter.sync()
    with _exporters_lock:
        if exporter in _exporters:
            _exporters.remove(exporter)


def _sync_exporters() -> None:
    with _exporters_lock:
        exporters = list(_exporters)
    for exporter in exporters:
        try:
            exporter.sync()
        except Exception:  # a scrape must still answer
            log.exception("syncing GitHub API counters failed")


# ---------------------------------------------------------------------------------------------
# Exposition


class QueueLike(Protocol):
    def depth(self) -> int: ...


class QueueCollector(Collector):
    """Queue depth and job totals, read from the queue's store when scraped."""

    def __init__(self, queue: QueueLike) -> None:
        self._queue = queue

    def collect(self) -> Iterator[Metric]:
        up = 1
        try:
            depth = self._queue.depth()
        except Exception:
            log.warning("metrics: the queue is unreachable", exc_info=True)
            up = 0
        else:
            yield GaugeMetricFamily("image_review_queue_depth", "Review jobs waiting (queued or scheduled).", depth)
        counts = _counts(self._queue) if up else None
        if counts is not None:
            family = CounterMetricFamily(
                "image_review_jobs",
                "Review jobs by what happened to them, since the queue's store was created (all processes).",
                labels=["state"],
            )
            for state, value in _count_items(counts):
                family.add_metric([state], value)
            yield family
        yield GaugeMetricFamily("image_review_queue_up", "1 if the queue's store answered the scrape.", up)


def _counts(queue: QueueLike) -> JobCounts | None:
    counts = getattr(queue, "counts", None)
    if not callable(counts):
        return None  # the JobQueue protocol does not require totals
    try:
        result: JobCounts = counts()
    except Exception:
        log.warning("metrics: could not read the job totals", exc_info=True)
        return None
    return result


def _count_items(counts: JobCounts) -> list[tuple[str, int]]:
    return [(f.name, int(getattr(counts, f.name))) for f in fields(counts)]


class _Forward(Collector):
    """This process's metrics, for a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from _metrics().registry.collect()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_VARIABLE) or None


class _SyncExporters(Collector):
    """Registered first: brings the GitHub API counters up to date before the others are read."""

    def collect(self) -> Iterator[Metric]:
        _sync_exporters()
        return iter(())


def scrape_registry(queue: QueueLike | None = None) -> CollectorRegistry:
    """A registry holding everything one scrape should show."""
    registry = CollectorRegistry()
    registry.register(_SyncExporters())
    if multiprocess_dir():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward())
    if queue is not None:
        registry.register(QueueCollector(queue))
    return registry


def render(queue: QueueLike | None = None) -> bytes:
    """The text exposition of every metric."""
    return generate_latest(scrape_registry(queue))


# ---------------------------------------------------------------------------------------------
# The web app: GET /metrics, and deliveries counted from the receiver's answers


WEBHOOK_ENDPOINT = "webhook.receive"
# The receiver's answers, by HTTP status and the "status" field of its JSON body.
_OUTCOMES = {
    (202, "queued"): "queued",
    (202, "ignored"): "ignored",
    (200, "duplicate delivery"): "duplicate",
    (200, "pong"): "ping",
}
_OUTCOMES_BY_STATUS = {400: "invalid", 401: "bad_signature", 413: "too_large", 503: "queue_unavailable"}


def delivery_outcome(status_code: int, body_status: str | None) -> str:
    outcome = _OUTCOMES.get((status_code, body_status or ""))
    if outcome is not None:
        return outcome
    return _OUTCOMES_BY_STATUS.get(status_code, "error")


def install(app: Flask, queue: QueueLike) -> None:
    """Add ``GET /metrics`` and count every answer of the webhook receiver.

    Counting from the answer keeps the receiver free of metrics code. The event header is only
    believed once the signature was checked (not on 401 and 413 answers).
    """
    from flask import Response, g, request

    from app.service.webhook import ANSWER_STATUS

    def metrics_view() -> Response:
        return Response(render(queue), mimetype=CONTENT_TYPE)

    def count_webhook(response: Response) -> Response:
        if request.endpoint != WEBHOOK_ENDPOINT:
            return response
        try:
            body_status = g.get(ANSWER_STATUS)
            if body_status is None:  # an answer not made by the receiver (an error handler's)
                body = response.get_json(silent=True) if response.is_json else None
                body_status = body.get("status") if isinstance(body, dict) else None
            outcome = delivery_outcome(response.status_code, body_status if isinstance(body_status, str) else None)
            verified = response.status_code not in (401, 413)
            event = request.headers.get("X-GitHub-Event", "").strip() if verified else UNVERIFIED
            count_delivery(event, outcome)
        except Exception:  # counting must never change the answer
            log.exception("counting a webhook delivery failed")
        return response

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    app.after_request(count_webhook)


# ---------------------------------------------------------------------------------------------
# A worker process's own endpoint: GET /metrics and GET /healthz


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes and probes are not news
        return None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def worker_wsgi_app(queue: QueueLike) -> WSGIApplication:
    """``/metrics`` (this process's metrics and the queue's) and ``/healthz`` (the store answers)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"only GET\n"]
        if path == "/metrics":
            body = render(queue)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            try:
                queue.depth()
            except Exception:
                log.warning("health check: the queue is unreachable", exc_info=True)
                start_response("503 Service Unavailable", [("Content-Type", "application/json")])
                return [b'{"status": "unavailable", "detail": "queue unreachable"}\n']
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}\n']
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


def serve_http(host: str, port: int, queue: QueueLike) -> tuple[int, Callable[[], None]]:
    """Serve worker_wsgi_app on a daemon thread; returns the bound port and a stop callable."""
    server = make_server(host, port, worker_wsgi_app(queue), server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.5,), name="image-review-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return int(server.server_port), stop
