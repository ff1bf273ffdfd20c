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

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.jobs.model import JobQueue, ReviewJob
from app.service.settings import Settings

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


@dataclass(frozen=True)
class AppState:
    """What the web app needs at request time, kept in ``app.extensions[EXTENSION_KEY]``."""

    settings: Settings
    queue: JobQueue


def app_state(app: Flask) -> AppState:
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise RuntimeError("the app was not built by app.create_app(): no settings or queue")
    return state


class PayloadError(ValueError):
    """The payload lacks something its event needs; the message names the missing field."""


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
    pr = _require_dict(d.payload, "pull_request")
    return Routing(jobs=(_job_from_pull(d, pr, rerun=False),))


def _route_push(d: Delivery) -> Routing:
    """A push to the default branch runs the staging loop (dashboard, switch-back pull requests)."""
    from app.service.scheduled import staging_job

    repository = _require_dict(d.payload, "repository")
    default = _require_str(repository, "default_branch", where="repository")
    if _require_str(d.payload, "ref") != f"refs/heads/{default}" or d.payload.get("deleted"):
        return Routing(note="push not to the default branch")
    after = _require_str(d.payload, "after")
    return Routing(jobs=(staging_job(_installation_id(d.payload), _repo(d.payload), default, after, d.delivery_id,
                                     "push"),))


def _route_dashboard_edit(d: Delivery) -> Routing:
    """A person edited the dashboard issue (ticked a switch-back box): run the staging loop now."""
    from app.analysis.board_format import DASHBOARD_MARKER
    from app.service.scheduled import staging_job

    issue = _require_dict(d.payload, "issue")
    if d.action != "edited" or DASHBOARD_MARKER not in str(issue.get("body") or ""):
        return Routing(note=f"{d.name} is not an edit of the staging dashboard")
    if _optional_dict(d.payload, "sender").get("type") == "Bot":
        return Routing(note="dashboard edited by a bot")
    default = _require_str(_require_dict(d.payload, "repository"), "default_branch", where="repository")
    return Routing(jobs=(staging_job(_installation_id(d.payload), _repo(d.payload), default, "", d.delivery_id,
                                     "dashboard"),))


def _route_check(d: Delivery) -> Routing:
    if d.action != "rerequested":
        return Routing(note=f"{d.name} is not a re-run request")
    check = _require_dict(d.payload, d.event)
    head_sha = _require_str(check, "head_sha", where=d.event)
    pulls = check.get("pull_requests")
    if not isinstance(pulls, list):
        raise PayloadError(f"{d.event}.pull_requests is missing")
    if not pulls:
        # GitHub leaves this empty for pull requests from forks.
        return Routing(note=f"{d.name} names no pull request (a fork's pull request?)")
    jobs = tuple(_job_from_check_pull(d, pr, head_sha) for pr in pulls)
    return Routing(jobs=jobs)


def _route_comment(d: Delivery) -> Routing:
    if d.action != "created":
        return Routing(note=f"{d.name} is not a new comment")
    issue = _require_dict(d.payload, "issue")
    comment = _require_dict(d.payload, "comment")
    if "pull_request" not in issue:
        return Routing(note="comment on an issue, not a pull request")
    if not _has_command(str(comment.get("body") or "")):
        return Routing(note="comment holds no command")
    user = _optional_dict(comment, "user")
    login = str(user.get("login", "?"))
    if user.get("type") == "Bot":
        return Routing(note=f"recheck ignored: {login} is a bot")
    association = str(comment.get("author_association", "NONE"))
    if association not in TRUSTED_ASSOCIATIONS:
        return Routing(note=f"recheck ignored: {login} is {association}, not OWNER/MEMBER/COLLABORATOR")
    if issue.get("state", "open") != "open":
        return Routing(note="recheck ignored: the pull request is closed")
    job = ReviewJob(
        installation_id=_installation_id(d.payload),
        repo=_repo(d.payload),
        pr_number=_require_int(issue, "number", where="issue"),
        head_sha="",  # not in this payload; the job looks it up
        delivery_id=d.delivery_id,
        event=d.name,
        labels=_labels(issue),
        rerun=True,
    )
    return Routing(jobs=(job,))


def _route_review(d: Delivery) -> Routing:
    review = _require_dict(d.payload, "review")
    state = str(review.get("state", "")).lower()
    if d.action == "submitted" and state not in REVIEW_STATES:
        return Routing(note=f"review state {state!r} does not affect change control")
    if d.action not in ("submitted", "dismissed"):
        return Routing(note=f"{d.name} does not affect change control")
    pr = _require_dict(d.payload, "pull_request")
    return Routing(jobs=(_job_from_pull(d, pr, rerun=True),))


def _installation_note(d: Delivery) -> str:
    installation = d.payload.get("installation")
    account = installation.get("account") if isinstance(installation, dict) else None
    login = account.get("login") if isinstance(account, dict) else "?"
    added = d.payload.get("repositories_added") or d.payload.get("repositories") or []
    removed = d.payload.get("repositories_removed") or []
    return f"{d.name} for {login}: {len(added)} repositories added, {len(removed)} removed"


def _job_from_pull(d: Delivery, pr: dict[str, Any], *, rerun: bool) -> ReviewJob:
    head = _require_dict(pr, "head", where="pull_request")
    base = _require_dict(pr, "base", where="pull_request")
    return ReviewJob(
        installation_id=_installation_id(d.payload),
        repo=_repo(d.payload),
        pr_number=_require_int(pr, "number", where="pull_request"),
        head_sha=_require_str(head, "sha", where="pull_request.head"),
        delivery_id=d.delivery_id,
        event=d.name,
        base_sha=str(base.get("sha") or ""),
        base_ref=str(base.get("ref") or ""),
        draft=bool(pr.get("draft", False)),
        labels=_labels(pr),
        rerun=rerun,
    )


def _job_from_check_pull(d: Delivery, pr: Any, head_sha: str) -> ReviewJob:
    if not isinstance(pr, dict):
        raise PayloadError(f"{d.event}.pull_requests holds a non-object")
    base = _optional_dict(pr, "base")
    return ReviewJob(
        installation_id=_installation_id(d.payload),
        repo=_repo(d.payload),
        pr_number=_require_int(pr, "number", where=f"{d.event}.pull_requests[]"),
        head_sha=head_sha,
        delivery_id=d.delivery_id,
        event=d.name,
        base_sha=str(base.get("sha") or ""),
        base_ref=str(base.get("ref") or ""),
        rerun=True,
    )


def _has_command(body: str) -> bool:
    return any(line.strip().lower() == RECHECK_COMMAND for line in body.splitlines())


def _labels(obj: dict[str, Any]) -> tuple[str, ...]:
    labels = obj.get("labels")
    if not isinstance(labels, list):
        return ()
    return tuple(str(label["name"]) for label in labels if isinstance(label, dict) and "name" in label)


def _installation_id(payload: dict[str, Any]) -> int:
    installation = payload.get("installation")
    if not isinstance(installation, dict):
        raise PayloadError("installation is missing (is this an App webhook?)")
    return _require_int(installation, "id", where="installation")


def _repo(payload: dict[str, Any]) -> str:
    return _require_str(_require_dict(payload, "repository"), "full_name", where="repository")


def _at(obj: dict[str, Any], *keys: str) -> Any:
    value: Any = obj
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _optional_dict(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _require_dict(obj: dict[str, Any], key: str, *, where: str = "") -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{_field(where, key)} is missing or not an object")
    return value


def _require_str(obj: dict[str, Any], key: str, *, where: str = "") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{_field(where, key)} is missing or not a string")
    return value


def _require_int(obj: dict[str, Any], key: str, *, where: str = "") -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{_field(where, key)} is missing or not an integer")
    return value


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


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
    return _dispatch(state.queue, Delivery(delivery_id, event, payload))


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


def _dispatch(queue: JobQueue, delivery: Delivery) -> tuple[Response, int]:
    context = _delivery_context(delivery)
    if delivery.event == "ping":
        _log(logging.INFO, "ping", context)
        return _answer(200, "pong")
    try:
        routing = route(delivery)
    except PayloadError as exc:
        _log(logging.WARNING, f"payload rejected: {exc}", context)
        return _answer(400, "error", f"{delivery.name}: {exc}")
    if not routing.jobs:
        _log(logging.INFO, f"ignored: {routing.note}", context)
        return _answer(202, "ignored", routing.note)
    try:
        # Dedupe and enqueue are one transaction: a failure records nothing, so the delivery
        # GitHub shows as failed can be redelivered once the queue is back.
        if not queue.accept(delivery.delivery_id, routing.jobs):
            _log(logging.INFO, "duplicate delivery dropped", context)
            return _answer(200, "duplicate delivery")
    except Exception:
        _log(logging.ERROR, "could not queue the delivery", context, exc_info=True)
        return _answer(503, "error", "job queue unavailable")
    for job in routing.jobs:
        fields = {**context, "pr": job.pr_number, "head_sha": job.head_sha, "rerun": job.rerun}
        _log(logging.INFO, f"review of #{job.pr_number} queued", fields)
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


def _log(level: int, message: str, fields: dict[str, Any], *, exc_info: bool = False) -> None:
    """One record per decision: the fields as record attributes for JSON logs, and the delivery
    id and event in the text for plain ones. Nothing here comes from secrets or headers we verify."""
    prefix = f"delivery {fields.get('delivery_id') or '?'} ({fields.get('event') or '?'}"
    prefix += f".{fields['action']})" if fields.get("action") else ")"
    logger.log(level, "%s: %s", prefix, message, extra=fields, exc_info=exc_info)
