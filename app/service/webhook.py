"""``POST /webhook``: size limit, HMAC check, delivery dedupe, route event → job; ``GET /healthz``.

The receiver does no GitHub calls and no analysis: it checks the delivery, turns it into zero or
more ReviewJobs and answers 202 as soon as the queue holds them (GitHub gives up after 10 s).
``route()`` is a pure function of the delivery so it can be tested without Flask.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from app.jobs.model import JobQueue, ReviewJob
from app.service.payloads import (
    CheckPull,
    PayloadError,
    PullRequest,
    Source,
    parse_check_request,
    parse_comment,
    parse_issue,
    parse_issue_edit,
    parse_pull_request,
    parse_push,
    parse_source,
    review_state,
)
from app.service.settings import Settings

__all__ = ["PayloadError", "route"]

logger = logging.getLogger(__name__)

EXTENSION_KEY = "image_review"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
RECHECK_COMMAND = "/image-review recheck"
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
# Approvals and their withdrawal change the outcome of change control; plain comments do not.
REVIEW_STATES = frozenset({"approved", "changes_requested"})
_READ_CHUNK = 64 * 1024
# The "status" of the answer's body, also kept on flask.g under this name, so that whoever counts
# answers (app.service.metrics) need not parse the JSON it was just serialized to.
ANSWER_STATUS = "image_review_answer_status"
# The WSGI environ key under which the receiver leaves its decision (message and fields) for the
# server's access log line, when that line is written (see AppState.access_log).
DECISION_KEY = "image_review.decision"


@dataclass(frozen=True)
class AppState:
    """What the web app needs at request time, kept in ``app.extensions[EXTENSION_KEY]``."""

    settings: Settings
    queue: JobQueue
    # The server writes one access line per request and adds the decision left in the environ
    # (app.service.gunicorn_conf): the receiver's routine decisions then go there instead of a
    # second line of their own. Warnings and errors always get their own line.
    access_log: bool = False


def app_state(app: Flask) -> AppState:
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise RuntimeError("the app was not built by app.create_app(): no settings or queue")
    return state


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    payload: dict[str, Any]

    @property
    def action(self) -> str:
        action = self.payload.get("action")
        return action if isinstance(action, str) else ""

    @property
    def name(self) -> str:
        return f"{self.event}.{self.action}" if self.action else self.event


@dataclass(frozen=True)
class Routing:
    """What a delivery asks for: jobs to queue, or why there are none."""

    jobs: tuple[ReviewJob, ...] = ()
    note: str = ""


# ---------------------------------------------------------------------------------------------
# Routing (pure)


def route(delivery: Delivery) -> Routing:
    """Turn a verified delivery into jobs; raise PayloadError when a needed field is missing."""
    match delivery.event:
        case "pull_request":
            return _route_pull_request(delivery)
        case "check_run" | "check_suite":
            return _route_check(delivery)
        case "issue_comment":
            return _route_comment(delivery)
        case "pull_request_review":
            return _route_review(delivery)
        case "installation" | "installation_repositories":
            return Routing(note=_installation_note(delivery))
        case "push":
            return _route_push(delivery)
        case "issues":
            return _route_dashboard_edit(delivery)
        case _:
            return Routing(note=f"event {delivery.name} is not handled")


def _route_pull_request(d: Delivery) -> Routing:
    if d.action == "edited" and not isinstance(_at(d.payload, "changes", "base"), dict):
        return Routing(note="pull_request.edited without a base change")
    if d.action not in PULL_REQUEST_ACTIONS and d.action != "edited":
        return Routing(note=f"pull_request action {d.action!r} is not reviewed")
    pull = parse_pull_request(d.payload)
    return Routing(jobs=(_job_from_pull(d, parse_source(d.payload), pull, rerun=False),))


def _route_push(d: Delivery) -> Routing:
    """A push to the default branch runs the staging loop (dashboard, switch-back pull requests)."""
    from app.service.scheduled import staging_job

    push = parse_push(d.payload)
    if not push.to_default_branch:
        return Routing(note="push not to the default branch")
    source = parse_source(d.payload)
    return Routing(jobs=(staging_job(source.installation_id, source.repo, push.default_branch, push.after,
                                     d.delivery_id, "push"),))


def _route_dashboard_edit(d: Delivery) -> Routing:
    """A person edited the dashboard issue (ticked a switch-back box): run the staging loop now."""
    from app.report.dashboard import DASHBOARD_MARKER
    from app.service.scheduled import staging_job

    edit = parse_issue_edit(d.payload)
    if d.action != "edited" or DASHBOARD_MARKER not in edit.body:
        return Routing(note=f"{d.name} is not an edit of the staging dashboard")
    if edit.by_bot:
        return Routing(note="dashboard edited by a bot")
    source = parse_source(d.payload)
    return Routing(jobs=(staging_job(source.installation_id, source.repo, edit.default_branch, "", d.delivery_id,
                                     "dashboard"),))


def _route_check(d: Delivery) -> Routing:
    if d.action != "rerequested":
        return Routing(note=f"{d.name} is not a re-run request")
    check = parse_check_request(d.payload, d.event)
    if not check.pulls:
        # GitHub leaves this empty for pull requests from forks.
        return Routing(note=f"{d.name} names no pull request (a fork's pull request?)")
    source = parse_source(d.payload)
    return Routing(jobs=tuple(_job_from_check_pull(d, source, pr, check.head_sha) for pr in check.pulls))


def _route_comment(d: Delivery) -> Routing:
    if d.action != "created":
        return Routing(note=f"{d.name} is not a new comment")
    issue, comment = parse_issue(d.payload), parse_comment(d.payload)
    if not issue.is_pull_request:
        return Routing(note="comment on an issue, not a pull request")
    if not _has_command(comment.body):
        return Routing(note="comment holds no command")
    if comment.is_bot:
        return Routing(note=f"recheck ignored: {comment.login} is a bot")
    if comment.association not in TRUSTED_ASSOCIATIONS:
        return Routing(
            note=f"recheck ignored: {comment.login} is {comment.association}, not OWNER/MEMBER/COLLABORATOR"
        )
    if not issue.is_open:
        return Routing(note="recheck ignored: the pull request is closed")
    source = parse_source(d.payload)
    if issue.number is None:
        raise PayloadError("issue.number is missing or not an integer")
    job = ReviewJob(
        installation_id=source.installation_id,
        repo=source.repo,
        pr_number=issue.number,
        head_sha="",  # not in this payload; the job looks it up
        delivery_id=d.delivery_id,
        event=d.name,
        labels=issue.labels,
        rerun=True,
    )
    return Routing(jobs=(job,))


def _route_review(d: Delivery) -> Routing:
    state = review_state(d.payload)
    if d.action == "submitted" and state not in REVIEW_STATES:
        return Routing(note=f"review state {state!r} does not affect change control")
    if d.action not in ("submitted", "dismissed"):
        return Routing(note=f"{d.name} does not affect change control")
    pull = parse_pull_request(d.payload)
    return Routing(jobs=(_job_from_pull(d, parse_source(d.payload), pull, rerun=True),))


def _installation_note(d: Delivery) -> str:
    installation = d.payload.get("installation")
    account = installation.get("account") if isinstance(installation, dict) else None
    login = account.get("login") if isinstance(account, dict) else "?"
    added = d.payload.get("repositories_added") or d.payload.get("repositories") or []
    removed = d.payload.get("repositories_removed") or []
    return f"{d.name} for {login}: {len(added)} repositories added, {len(removed)} removed"


def _job_from_pull(d: Delivery, source: Source, pull: PullRequest, *, rerun: bool) -> ReviewJob:
    return ReviewJob(
        installation_id=source.installation_id,
        repo=source.repo,
        pr_number=pull.number,
        head_sha=pull.head_sha,
        delivery_id=d.delivery_id,
        event=d.name,
        base_sha=pull.base_sha,
        base_ref=pull.base_ref,
        draft=pull.draft,
        labels=pull.labels,
        rerun=rerun,
    )


def _job_from_check_pull(d: Delivery, source: Source, pull: CheckPull, head_sha: str) -> ReviewJob:
    return ReviewJob(
        installation_id=source.installation_id,
        repo=source.repo,
        pr_number=pull.number,
        head_sha=head_sha,
        delivery_id=d.delivery_id,
        event=d.name,
        base_sha=pull.base_sha,
        base_ref=pull.base_ref,
        rerun=True,
    )


def _has_command(body: str) -> bool:
    return any(line.strip().lower() == RECHECK_COMMAND for line in body.splitlines())


def _at(obj: dict[str, Any], *keys: str) -> Any:
    value: Any = obj
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# ---------------------------------------------------------------------------------------------
# HTTP


def webhook_blueprint() -> Blueprint:
    bp = Blueprint("webhook", __name__)
    bp.add_url_rule("/webhook", "receive", receive, methods=["POST"])
    bp.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    return bp


def receive() -> tuple[Response, int]:
    state = app_state(current_app)
    body = _read_body(state.settings.max_body)
    if body is None:
        return _answer(413, "error", f"payload larger than {state.settings.max_body} bytes")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return _answer(401, "error", f"missing {SIGNATURE_HEADER}")
    if not signature_matches(state.settings.webhook_secret, body, signature):
        _log(logging.WARNING, "signature mismatch", _header_context())
        return _answer(401, "error", f"{SIGNATURE_HEADER} does not match the payload")
    delivery_id = request.headers.get(DELIVERY_HEADER, "").strip()
    event = request.headers.get(EVENT_HEADER, "").strip()
    if not delivery_id or not event:
        return _answer(400, "error", f"missing {DELIVERY_HEADER} or {EVENT_HEADER}")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "error", "payload is not JSON (the webhook content type must be application/json)")
    except RecursionError:
        # Signed, but nested deeper than the parser goes: no GitHub event looks like this.
        return _answer(400, "error", "payload is nested too deeply")
    if not isinstance(payload, dict):
        return _answer(400, "error", "payload is not a JSON object")
    return _dispatch(state, Delivery(delivery_id, event, payload))


def healthz() -> tuple[Response, int]:
    try:
        app_state(current_app).queue.depth()
    except Exception:
        logger.exception("health check: the queue is unreachable")
        return _answer(503, "unavailable", "queue unreachable")
    return jsonify({"status": "ok"}), 200


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8"))


def _dispatch(state: AppState, delivery: Delivery) -> tuple[Response, int]:
    queue, context = state.queue, _delivery_context(delivery)
    if delivery.event == "ping":
        _decided(state, "ping", context)
        return _answer(200, "pong")
    try:
        routing = route(delivery)
    except PayloadError as exc:
        _log(logging.WARNING, f"payload rejected: {exc}", context)
        return _answer(400, "error", f"{delivery.name}: {exc}")
    if not routing.jobs:
        _decided(state, f"ignored: {routing.note}", context)
        return _answer(202, "ignored", routing.note)
    try:
        # Dedupe and enqueue are one transaction: a failure records nothing, so the delivery
        # GitHub shows as failed can be redelivered once the queue is back.
        if not queue.accept(delivery.delivery_id, routing.jobs):
            _decided(state, "duplicate delivery dropped", context)
            return _answer(200, "duplicate delivery")
    except Exception:
        _log(logging.ERROR, "could not queue the delivery", context, exc_info=True)
        return _answer(503, "error", "job queue unavailable")
    for job in routing.jobs:
        fields = {**context, "pr": job.pr_number, "head_sha": job.head_sha, "rerun": job.rerun}
        if len(routing.jobs) == 1:
            _decided(state, f"review of #{job.pr_number} queued", fields)
        else:  # one access line cannot carry several pull requests
            _log(logging.INFO, f"review of #{job.pr_number} queued", fields)
    setattr(g, ANSWER_STATUS, "queued")
    return jsonify({"status": "queued", "jobs": [_job_summary(job) for job in routing.jobs]}), 202


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit``.

    The declared length is checked first; the read itself is capped too, so a missing or
    understated Content-Length cannot make us buffer more than ``limit + 1`` bytes.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = request.stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def _answer(status: int, state: str, detail: str = "") -> tuple[Response, int]:
    body: dict[str, str] = {"status": state}
    setattr(g, ANSWER_STATUS, state)
    if detail:
        body["detail"] = detail
    return jsonify(body), status


def _job_summary(job: ReviewJob) -> dict[str, Any]:
    return {"repo": job.repo, "pr": job.pr_number, "head_sha": job.head_sha, "event": job.event}


def _header_context() -> dict[str, Any]:
    return {
        "delivery_id": request.headers.get(DELIVERY_HEADER, ""),
        "event": request.headers.get(EVENT_HEADER, ""),
    }


def _delivery_context(d: Delivery) -> dict[str, Any]:
    repository = d.payload.get("repository")
    return {
        "delivery_id": d.delivery_id,
        "event": d.event,
        "action": d.action,
        "repo": repository.get("full_name", "") if isinstance(repository, dict) else "",
        "pr": _pr_number(d.payload),
    }


def _pr_number(payload: dict[str, Any]) -> int | None:
    for key in ("pull_request", "issue"):
        number = _at(payload, key, "number")
        if isinstance(number, int):
            return number
    return None


def _decided(state: AppState, message: str, fields: dict[str, Any]) -> None:
    """Log a routine decision: on the access line when the server writes one, else a line of its own.

    One line per delivery instead of two halves the logging cost of a burst; the access line then
    carries the delivery id, event, repository, pull request and head with status and duration.
    """
    if not state.access_log:
        _log(logging.INFO, message, fields)
        return
    request.environ[DECISION_KEY] = Decision(message, fields)
    if logger.isEnabledFor(logging.DEBUG):
        _log(logging.DEBUG, message, fields)


@dataclass(frozen=True)
class Decision:
    """What the receiver decided about a delivery, for the access log line."""

    message: str
    fields: dict[str, Any]


def _log(level: int, message: str, fields: dict[str, Any], *, exc_info: bool = False) -> None:
    """One record per decision: the fields as record attributes for JSON logs, and the delivery
    id and event in the text for plain ones. Nothing here comes from secrets or headers we verify."""
    prefix = f"delivery {fields.get('delivery_id') or '?'} ({fields.get('event') or '?'}"
    prefix += f".{fields['action']})" if fields.get("action") else ")"
    logger.log(level, "%s: %s", prefix, message, extra=fields, exc_info=exc_info)
