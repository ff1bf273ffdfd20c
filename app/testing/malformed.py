"""Malformed webhook requests, of every kind the endpoint must turn away with a 4xx (or ignore).

Used by the burst test and bench against the served App: bad and missing signatures, bodies
that are not JSON (or not UTF-8), JSON of the wrong shape under a valid signature, wrong
methods and content types, and header sections larger than any server should read.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.testing.fake_github import signed_delivery


@dataclass(frozen=True)
class BadRequest:
    kind: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _signed(secret: str, kind: str, event: str, body: bytes) -> BadRequest:
    d = signed_delivery(secret, event, body)
    return BadRequest(kind, "POST", "/webhook", dict(d.headers), body)


# Valid JSON, valid signature, wrong shape: every field a handler reads, missing or mistyped.
_SHAPES: list[tuple[str, object]] = [
    ("pull_request", []),
    ("pull_request", "opened"),
    ("pull_request", {"action": "opened"}),
    ("pull_request", {"action": "opened", "pull_request": "x", "repository": 1}),
    ("pull_request", {"action": "synchronize", "pull_request": {"head": {"sha": 5}}, "installation": {"id": "x"}}),
    ("pull_request", {"action": ["opened"], "pull_request": {"number": "1"}, "repository": {"full_name": None}}),
    ("check_run", {"action": "rerequested", "check_run": {"pull_requests": "all"}}),
    ("check_suite", {"action": "rerequested", "check_suite": {"head_sha": {}, "pull_requests": [1, None]}}),
    ("issue_comment", {"action": "created", "comment": {"body": 7}, "issue": {"pull_request": True}}),
    ("pull_request_review", {"action": "submitted", "review": None, "pull_request": {"number": -1}}),
    ("ping", {"zen": ["not", "text"]}),
    ("installation", {"action": 1, "installation": []}),
    ("no-such-event", {"action": "opened"}),
    ("pull_request", {"action": "opened", "pull_request": {"number": 10**30}, "installation": {"id": 1e308}}),
    ("pull_request", {"a" * 1000: "b" * 100_000}),
]


def kinds(secret: str) -> list[BadRequest]:
    """One request of each malformed kind (the webhook secret signs the wrong-shape ones)."""
    payload = json.dumps({"action": "opened", "number": 1}).encode()
    requests = [
        BadRequest("no signature", "POST", "/webhook", {"X-GitHub-Event": "pull_request"}, payload),
        BadRequest(
            "wrong signature",
            "POST",
            "/webhook",
            {"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": "sha256=" + "0" * 64},
            payload,
        ),
        BadRequest(
            "garbled signature",
            "POST",
            "/webhook",
            {"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": "sha256=zz\u00e9"},
            payload,
        ),
        BadRequest("sha1 signature only", "POST", "/webhook", {"X-Hub-Signature": "sha1=" + "0" * 40}, payload),
        _signed(secret, "signed, not JSON", "pull_request", b"{not json"),
        _signed(secret, "signed, not UTF-8", "pull_request", b"\xff\xfe{\x00}"),
        _signed(secret, "signed, empty body", "pull_request", b""),
        _signed(secret, "signed, deep JSON", "pull_request", b"[" * 100_000 + b"]" * 100_000),
        _signed(secret, "signed, no event header", "", payload),
        BadRequest("GET webhook", "GET", "/webhook"),
        BadRequest("PUT webhook", "PUT", "/webhook", {"Content-Type": "application/json"}, payload),
        BadRequest("form body", "POST", "/webhook", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b&c"),
        BadRequest("huge header", "POST", "/webhook", {"X-GitHub-Event": "x" * 64 * 1024}, payload),
        BadRequest("many headers", "POST", "/webhook", {f"X-Pad-{i}": "y" * 100 for i in range(300)}, payload),
        BadRequest("huge signature", "POST", "/webhook", {"X-Hub-Signature-256": "sha256=" + "a" * 60_000}, payload),
        BadRequest("unknown path", "POST", "/webhook/../../etc/passwd", {}, payload),
    ]
    for i, (event, shape) in enumerate(_SHAPES):
        requests.append(_signed(secret, f"signed, wrong shape {i}", event, json.dumps(shape).encode()))
    return requests


def burst(secret: str, count: int) -> Iterator[BadRequest]:
    """``count`` malformed requests, cycling through every kind."""
    return itertools.islice(itertools.cycle(kinds(secret)), count)


@dataclass
class BurstResult:
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    by_kind: dict[str, set[int]] = field(default_factory=dict)  # kind -> statuses seen
    failures: dict[str, str] = field(default_factory=dict)  # kind -> first connection error
    seconds: float = 0.0

    @property
    def server_errors(self) -> dict[str, set[int]]:
        return {k: {s for s in v if s >= 500} for k, v in self.by_kind.items() if any(s >= 500 for s in v)}


def send_burst(base_url: str, secret: str, count: int, threads: int = 8, timeout: float = 10.0) -> BurstResult:
    """Send ``count`` malformed requests from ``threads`` keep-alive clients; tally the answers."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import requests as http

    result = BurstResult()
    lock = threading.Lock()
    local = threading.local()

    def send(req: BadRequest) -> None:
        session = getattr(local, "session", None) or http.Session()
        local.session = session
        try:
            answer = session.request(
                req.method, base_url + req.path, headers=req.headers, data=req.body, timeout=timeout
            )
            status, error = answer.status_code, ""
        except http.RequestException as exc:
            status, error = 0, type(exc).__name__
            local.session = None  # the server closed the connection: start a new one
        with lock:
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.by_kind.setdefault(req.kind, set()).add(status)
            if error:
                result.failures.setdefault(req.kind, error)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(send, burst(secret, count)):
            pass
    result.seconds = time.monotonic() - started
    return result
