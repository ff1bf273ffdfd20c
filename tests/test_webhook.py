from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import KeyPair
from flask import Flask
from flask.testing import FlaskClient
from memory_queue import MemoryQueue

from app.jobs.model import ReviewJob
from app.service.factory import create_app
from app.service.settings import Settings
from app.service.webhook import DECISION_KEY, Delivery, route
from app.testing.fake_github import (
    SignedDelivery,
    check_payload,
    issue_comment_payload,
    pull_request_payload,
    review_payload,
    signed_delivery,
)

SECRET = "webhook-secret-for-tests"
REPO = "octo-org/app"


@pytest.fixture
def settings(rsa_keys: KeyPair, tmp_path: Path) -> Settings:
    return Settings(
        app_id=4242,
        private_key=rsa_keys.private_pem,
        webhook_secret=SECRET,
        data_dir=tmp_path,
        max_body=64 * 1024,
    )


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue()


@pytest.fixture
def app(settings: Settings, queue: MemoryQueue) -> Flask:
    return create_app(settings, queue)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post(client: FlaskClient, delivery: SignedDelivery) -> Any:
    return client.post("/webhook", data=delivery.body, headers=delivery.headers)


def deliver(client: FlaskClient, event: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    return post(client, signed_delivery(SECRET, event, payload, **kwargs))


# -- routed events -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened", "ready_for_review"])
def test_pull_request_actions_queue_a_review(client: FlaskClient, queue: MemoryQueue, action: str) -> None:
    payload = pull_request_payload(
        repo=REPO, number=12, action=action, installation_id=77, draft=True, labels=("area/images", "lgtm")
    )
    response = deliver(client, "pull_request", payload, delivery_id="d-1")
    assert response.status_code == 202
    assert response.json["status"] == "queued"
    assert queue.jobs == [
        ReviewJob(
            installation_id=77,
            repo=REPO,
            pr_number=12,
            head_sha="a" * 40,
            delivery_id="d-1",
            event=f"pull_request.{action}",
            base_sha="b" * 40,
            base_ref="main",
            draft=True,
            labels=("area/images", "lgtm"),
            rerun=False,
        )
    ]


def test_edited_base_queues_a_review(client: FlaskClient, queue: MemoryQueue) -> None:
    payload = pull_request_payload(action="edited", changes={"base": {"ref": {"from": "release-1.0"}}})
    assert deliver(client, "pull_request", payload).status_code == 202
    assert [job.event for job in queue.jobs] == ["pull_request.edited"]


def test_edited_title_is_ignored(client: FlaskClient, queue: MemoryQueue) -> None:
    payload = pull_request_payload(action="edited", changes={"title": {"from": "old"}})
    response = deliver(client, "pull_request", payload)
    assert response.status_code == 202
    assert response.json == {"status": "ignored", "detail": "pull_request.edited without a base change"}
    assert queue.jobs == []


@pytest.mark.parametrize("action", ["closed", "labeled", "assigned"])
def test_other_pull_request_actions_are_ignored(client: FlaskClient, queue: MemoryQueue, action: str) -> None:
    assert deliver(client, "pull_request", pull_request_payload(action=action)).status_code == 202
    assert queue.jobs == []


@pytest.mark.parametrize("event", ["check_run", "check_suite"])
def test_check_rerequested_queues_a_rerun_per_pull_request(client: FlaskClient, queue: MemoryQueue, event: str) -> None:
    payload = check_payload(event, numbers=(3, 4), head_sha="c" * 40, installation_id=5)  # type: ignore[arg-type]
    response = deliver(client, event, payload, delivery_id="d-check")
    assert response.status_code == 202
    assert [(j.pr_number, j.head_sha, j.rerun, j.event, j.base_ref) for j in queue.jobs] == [
        (3, "c" * 40, True, f"{event}.rerequested", "main"),
        (4, "c" * 40, True, f"{event}.rerequested", "main"),
    ]
    assert {j.delivery_id for j in queue.jobs} == {"d-check"}
    assert {j.installation_id for j in queue.jobs} == {5}


def test_check_run_created_is_ignored(client: FlaskClient, queue: MemoryQueue) -> None:
    assert deliver(client, "check_run", check_payload("check_run", action="created")).status_code == 202
    assert queue.jobs == []


def test_check_rerequested_without_pull_requests_is_ignored(client: FlaskClient, queue: MemoryQueue) -> None:
    response = deliver(client, "check_suite", check_payload("check_suite", numbers=()))
    assert response.status_code == 202
    assert "names no pull request" in response.json["detail"]
    assert queue.jobs == []


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR"])
def test_recheck_from_a_maintainer(client: FlaskClient, queue: MemoryQueue, association: str) -> None:
    payload = issue_comment_payload(
        number=9, body="Looks off.\r\n  /image-review recheck  \nthanks", association=association, labels=("x",)
    )
    assert deliver(client, "issue_comment", payload, delivery_id="d-c").status_code == 202
    assert queue.jobs == [
        ReviewJob(
            installation_id=1,
            repo=REPO,
            pr_number=9,
            head_sha="",
            delivery_id="d-c",
            event="issue_comment.created",
            labels=("x",),
            rerun=True,
        )
    ]


@pytest.mark.parametrize("association", ["CONTRIBUTOR", "NONE", "FIRST_TIME_CONTRIBUTOR"])
def test_recheck_from_others_is_ignored_and_logged(
    client: FlaskClient, queue: MemoryQueue, caplog: pytest.LogCaptureFixture, association: str
) -> None:
    caplog.set_level(logging.INFO, logger="app.service.webhook")
    payload = issue_comment_payload(association=association, login="drive-by")
    response = deliver(client, "issue_comment", payload, delivery_id="d-x")
    assert response.status_code == 202
    assert queue.jobs == []
    [record] = [r for r in caplog.records if "recheck ignored" in r.getMessage()]
    assert f"drive-by is {association}, not OWNER/MEMBER/COLLABORATOR" in record.getMessage()
    assert (record.delivery_id, record.event, record.action, record.repo, record.pr) == (  # type: ignore[attr-defined]
        "d-x",
        "issue_comment",
        "created",
        REPO,
        1,
    )


@pytest.mark.parametrize(
    ("overrides", "note"),
    [
        ({"body": "please /image-review recheck"}, "comment holds no command"),
        ({"on_pull_request": False}, "comment on an issue, not a pull request"),
        ({"user_type": "Bot", "association": "MEMBER"}, "is a bot"),
        ({"state": "closed"}, "the pull request is closed"),
    ],
)
def test_comments_that_are_not_recheck_requests(
    client: FlaskClient, queue: MemoryQueue, overrides: dict[str, Any], note: str
) -> None:
    response = deliver(client, "issue_comment", issue_comment_payload(**overrides))
    assert response.status_code == 202
    assert note in response.json["detail"]
    assert queue.jobs == []


@pytest.mark.parametrize(
    ("action", "state"), [("submitted", "approved"), ("submitted", "changes_requested"), ("dismissed", "dismissed")]
)
def test_reviews_reevaluate_change_control(client: FlaskClient, queue: MemoryQueue, action: str, state: str) -> None:
    payload = review_payload(number=2, action=action, state=state, head_sha="d" * 40)
    assert deliver(client, "pull_request_review", payload).status_code == 202
    assert [(j.pr_number, j.head_sha, j.rerun, j.event) for j in queue.jobs] == [
        (2, "d" * 40, True, f"pull_request_review.{action}")
    ]


def test_comment_only_review_is_ignored(client: FlaskClient, queue: MemoryQueue) -> None:
    assert deliver(client, "pull_request_review", review_payload(state="commented")).status_code == 202
    assert queue.jobs == []


def test_installation_events_are_logged_only(
    client: FlaskClient, queue: MemoryQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.service.webhook")
    payload = {
        "action": "added",
        "installation": {"id": 1, "account": {"login": "octo-org"}},
        "repositories_added": [{"full_name": REPO}],
        "repositories_removed": [],
    }
    assert deliver(client, "installation_repositories", payload).status_code == 202
    assert queue.jobs == []
    assert "installation_repositories.added for octo-org: 1 repositories added, 0 removed" in caplog.text


def test_ping(client: FlaskClient, queue: MemoryQueue) -> None:
    response = deliver(client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert response.status_code == 200
    assert response.json == {"status": "pong"}
    assert queue.jobs == [] and queue.seen == set()


def test_unsupported_event(client: FlaskClient, queue: MemoryQueue, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.service.webhook")
    # (push is handled since the staging loop: a push to the default branch runs it)
    response = deliver(client, "star", {"action": "created"}, delivery_id="d-star")
    assert response.status_code == 202
    assert response.json == {"status": "ignored", "detail": "event star.created is not handled"}
    assert queue.jobs == []
    assert "delivery d-star (star.created): ignored: event star.created is not handled" in caplog.text


# -- rejected deliveries -----------------------------------------------------------------------


def test_bad_signature(client: FlaskClient, queue: MemoryQueue) -> None:
    delivery = signed_delivery("not-the-secret", "pull_request", pull_request_payload())
    response = post(client, delivery)
    assert response.status_code == 401
    assert response.json["detail"] == "X-Hub-Signature-256 does not match the payload"
    assert queue.jobs == [] and queue.seen == set()


def test_tampered_body(client: FlaskClient, queue: MemoryQueue) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload(number=1))
    tampered = replace(delivery, body=delivery.body.replace(b'"number": 1', b'"number": 2'))
    assert post(client, tampered).status_code == 401
    assert queue.jobs == []


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256="])
def test_missing_or_malformed_signature(client: FlaskClient, queue: MemoryQueue, header: str | None) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload())
    headers = dict(delivery.headers)
    del headers["X-Hub-Signature-256"]
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    response = client.post("/webhook", data=delivery.body, headers=headers)
    assert response.status_code == 401
    assert queue.jobs == []


def test_signature_is_checked_before_json(client: FlaskClient) -> None:
    delivery = signed_delivery("wrong", "pull_request", b"{not json")
    assert post(client, delivery).status_code == 401


def test_body_over_the_limit(client: FlaskClient, queue: MemoryQueue, settings: Settings) -> None:
    payload = pull_request_payload()
    payload["padding"] = "x" * settings.max_body
    response = deliver(client, "pull_request", payload)
    assert response.status_code == 413
    assert response.json["detail"] == f"payload larger than {settings.max_body} bytes"
    assert queue.jobs == []


def test_body_at_the_limit_is_accepted(client: FlaskClient, queue: MemoryQueue, settings: Settings) -> None:
    payload = pull_request_payload()
    body = json.dumps(payload).encode()
    payload["padding"] = "x" * (settings.max_body - len(body) - len(b', "padding": ""'))
    body = json.dumps(payload).encode()
    assert len(body) == settings.max_body
    assert post(client, signed_delivery(SECRET, "pull_request", body)).status_code == 202


def test_malformed_json(client: FlaskClient, queue: MemoryQueue) -> None:
    response = post(client, signed_delivery(SECRET, "pull_request", b'{"action": "opened",'))
    assert response.status_code == 400
    assert "payload is not JSON" in response.json["detail"]
    assert queue.jobs == []


def test_json_that_is_not_an_object(client: FlaskClient) -> None:
    assert post(client, signed_delivery(SECRET, "pull_request", b"[1, 2]")).status_code == 400


@pytest.mark.parametrize(
    ("event", "payload", "missing"),
    [
        ("pull_request", {"action": "opened"}, "pull_request is missing"),
        (
            "pull_request",
            {**pull_request_payload(), "installation": None},
            "installation is missing (is this an App webhook?)",
        ),
        ("check_run", {"action": "rerequested", "check_run": {"pull_requests": []}}, "check_run.head_sha is missing"),
        ("issue_comment", {**issue_comment_payload(), "repository": {}}, "repository.full_name is missing"),
        # Wrong types are named like missing fields: a number as a string, a list for an object.
        (
            "pull_request",
            {**pull_request_payload(), "pull_request": {**pull_request_payload()["pull_request"], "number": "7"}},
            "pull_request.number is missing or not an integer",
        ),
        (
            "check_suite",
            {"action": "rerequested", "check_suite": {"head_sha": "a" * 40, "pull_requests": [{"number": True}]}},
            "check_suite.pull_requests[].number is missing or not an integer",
        ),
        ("pull_request_review", {"action": "submitted", "review": []}, "review is missing or not an object"),
    ],
)
def test_payload_missing_what_the_event_needs(
    client: FlaskClient, queue: MemoryQueue, event: str, payload: dict[str, Any], missing: str
) -> None:
    response = deliver(client, event, payload)
    assert response.status_code == 400
    assert missing in response.json["detail"]
    assert queue.jobs == []


def test_pull_request_without_head_sha(client: FlaskClient) -> None:
    payload = pull_request_payload()
    del payload["pull_request"]["head"]["sha"]
    response = deliver(client, "pull_request", payload)
    assert response.status_code == 400
    assert response.json["detail"] == "pull_request.opened: pull_request.head.sha is missing or not a string"


def test_missing_delivery_header(client: FlaskClient) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload())
    headers = {k: v for k, v in delivery.headers.items() if k != "X-GitHub-Delivery"}
    assert client.post("/webhook", data=delivery.body, headers=headers).status_code == 400


# -- dedupe and queue failures -----------------------------------------------------------------


def test_duplicate_deliveries_queue_one_job(client: FlaskClient, queue: MemoryQueue) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload(), delivery_id="same-id")
    statuses = [post(client, delivery).status_code for _ in range(3)]
    assert statuses == [202, 200, 200]
    assert post(client, delivery).json == {"status": "duplicate delivery"}
    assert len(queue.jobs) == 1


def test_queue_failure_answers_503_and_a_redelivery_goes_through(
    client: FlaskClient, queue: MemoryQueue, caplog: pytest.LogCaptureFixture
) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload(), delivery_id="retry-me")
    queue.fail_enqueue = True
    assert post(client, delivery).status_code == 503
    assert "could not queue the delivery" in caplog.text
    queue.fail_enqueue = False
    assert post(client, delivery).status_code == 202  # a redelivery goes through
    assert len(queue.jobs) == 1


def test_logs_never_carry_the_secret(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    deliver(client, "pull_request", pull_request_payload())
    post(client, signed_delivery("wrong", "pull_request", pull_request_payload()))
    assert caplog.records
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in json.dumps(record.__dict__, default=str)


def test_queued_log_record_is_structured(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.service.webhook")
    deliver(client, "pull_request", pull_request_payload(number=31), delivery_id="d-31")
    [record] = [r for r in caplog.records if "queued" in r.getMessage()]
    fields = {k: getattr(record, k) for k in ("delivery_id", "event", "action", "repo", "pr", "head_sha")}
    assert fields == {
        "delivery_id": "d-31",
        "event": "pull_request",
        "action": "opened",
        "repo": REPO,
        "pr": 31,
        "head_sha": "a" * 40,
    }


def test_with_an_access_log_decisions_ride_on_the_access_line(
    settings: Settings, queue: MemoryQueue, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, queue, access_log=True)
    environs = keep_environs(app)
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="app.service.webhook")
    response = deliver(client, "pull_request", pull_request_payload(number=32), delivery_id="d-32")
    assert response.status_code == 202
    decision = environs[-1][DECISION_KEY]
    assert decision.message == "review of #32 queued"
    assert {k: decision.fields[k] for k in ("delivery_id", "repo", "pr", "head_sha")} == {
        "delivery_id": "d-32",
        "repo": REPO,
        "pr": 32,
        "head_sha": "a" * 40,
    }
    assert deliver(client, "pull_request", pull_request_payload(number=32), delivery_id="d-32").status_code == 200
    assert environs[-1][DECISION_KEY].message == "duplicate delivery dropped"
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "d-32" in r.getMessage()]
    # Warnings keep a line of their own.
    assert post(client, signed_delivery("wrong", "pull_request", pull_request_payload())).status_code == 401
    assert DECISION_KEY not in environs[-1]
    assert "signature mismatch" in caplog.text


def keep_environs(app: Flask) -> list[dict[str, Any]]:
    """The WSGI environ of each request, as the server sees it once the app has answered."""
    seen: list[dict[str, Any]] = []
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ)
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return seen


def test_gunicorn_access_line_carries_the_decision() -> None:
    from datetime import timedelta
    from io import StringIO
    from types import SimpleNamespace

    from gunicorn.config import Config

    from app.service.gunicorn_conf import JsonLogger
    from app.service.webhook import Decision

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    out = StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(out)
    fields = {"delivery_id": "d-7", "event": "pull_request", "repo": REPO, "pr": 7, "head_sha": "b" * 40}
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhook",
        "HTTP_X_GITHUB_DELIVERY": "d-7",
        "HTTP_X_GITHUB_EVENT": "pull_request",
        DECISION_KEY: Decision("review of #7 queued", fields),
    }
    logger.access(SimpleNamespace(status="202 ACCEPTED", sent=40), None, environ, timedelta(milliseconds=3))
    logger.access(SimpleNamespace(status="200 OK", sent=9), None, {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"},
                  timedelta(milliseconds=1))
    hook, health = (json.loads(line) for line in out.getvalue().splitlines())
    assert hook["message"] == "POST /webhook 202: review of #7 queued"
    assert (hook["status"], hook["repo"], hook["pr"], hook["head_sha"]) == (202, REPO, 7, "b" * 40)
    assert hook["duration_ms"] == 3.0
    assert health["message"] == "GET /healthz 200" and "pr" not in health


# -- health ------------------------------------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_when_the_queue_is_down(client: FlaskClient, queue: MemoryQueue) -> None:
    queue.fail_depth = True
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "detail": "queue unreachable"}


def test_webhook_only_accepts_post(client: FlaskClient) -> None:
    assert client.get("/webhook").status_code == 405


# -- the route() function on its own -----------------------------------------------------------


def test_route_is_pure() -> None:
    routing = route(Delivery("d", "pull_request", pull_request_payload(number=4)))
    assert [job.pr_number for job in routing.jobs] == [4]
    assert route(Delivery("d", "watch", {"action": "started"})).note == "event watch.started is not handled"


# -- over real HTTP ----------------------------------------------------------------------------


@pytest.fixture
def served(serve_app: Any, app: Flask) -> Iterator[str]:
    yield serve_app(app)


def test_signed_delivery_over_http(served: str, queue: MemoryQueue) -> None:
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload(number=5), delivery_id="http-1")
    response = requests.post(f"{served}/webhook", data=delivery.body, headers=delivery.headers, timeout=5)
    assert response.status_code == 202
    assert response.json()["jobs"] == [{"repo": REPO, "pr": 5, "head_sha": "a" * 40, "event": "pull_request.opened"}]
    assert [job.delivery_id for job in queue.jobs] == ["http-1"]
    assert requests.get(f"{served}/healthz", timeout=5).json() == {"status": "ok"}


def test_oversized_declared_length_over_http(served: str, settings: Settings) -> None:
    body = b"x" * (settings.max_body + 1)
    delivery = signed_delivery(SECRET, "pull_request", body)
    response = requests.post(f"{served}/webhook", data=body, headers=delivery.headers, timeout=5)
    assert response.status_code == 413


def test_oversized_chunked_body_over_http(served: str, settings: Settings, queue: MemoryQueue) -> None:
    """Without Content-Length the read is capped all the same."""
    payload = pull_request_payload()
    payload["padding"] = "x" * (settings.max_body * 2)
    delivery = signed_delivery(SECRET, "pull_request", payload)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(delivery.body), 8192):
            yield delivery.body[start : start + 8192]

    response = requests.post(f"{served}/webhook", data=chunks(), headers=delivery.headers, timeout=5)
    assert response.status_code == 413
    assert queue.jobs == []


def test_understated_content_length_over_http(served: str, queue: MemoryQueue) -> None:
    """A Content-Length shorter than the body: only that much is read, so the signature fails."""
    delivery = signed_delivery(SECRET, "pull_request", pull_request_payload())
    parts = urlsplit(served)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    headers = {**delivery.headers, "Content-Length": "10"}
    connection.request("POST", "/webhook", body=delivery.body, headers=headers)
    response = connection.getresponse()
    assert response.status == 401
    connection.close()
    assert queue.jobs == []


# -- the factory -------------------------------------------------------------------------------


def test_create_app_reads_the_environment(
    rsa_keys: KeyPair, monkeypatch: pytest.MonkeyPatch, queue: MemoryQueue
) -> None:
    monkeypatch.setenv("GITHUB_APP_ID", "17")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", rsa_keys.private_pem)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "from-env")
    app = create_app(queue=queue)
    assert app.extensions["image_review"].settings.app_id == 17
    delivery = signed_delivery("from-env", "pull_request", pull_request_payload())
    assert app.test_client().post("/webhook", data=delivery.body, headers=delivery.headers).status_code == 202


def test_create_app_builds_the_configured_queue(settings: Settings) -> None:
    app = create_app(settings)
    state = app.extensions["image_review"]
    try:
        assert app.test_client().get("/healthz").status_code == 200
        delivery = signed_delivery(SECRET, "pull_request", pull_request_payload())
        assert app.test_client().post("/webhook", data=delivery.body, headers=delivery.headers).status_code == 202
        assert state.queue.depth() == 1
    finally:
        state.queue.close()


def test_payload_models_hold_the_fields_routing_reads() -> None:
    from app.service.payloads import PullRequest, parse_pull_request, parse_source

    payload = pull_request_payload(number=42, head_sha="f" * 40, labels=("area/etcd",))
    payload["pull_request"]["draft"] = True
    pull = parse_pull_request(payload)
    assert isinstance(pull, PullRequest)
    assert (pull.number, pull.head_sha, pull.draft, pull.labels) == (42, "f" * 40, True, ("area/etcd",))
    assert pull.base_sha == payload["pull_request"]["base"]["sha"]
    assert parse_source(payload).repo == payload["repository"]["full_name"]
