"""The parts of GitHub's webhook payloads the App reads, as typed values parsed once at the edge.

Each event's model holds only what routing needs; ``parse_*`` builds it from the decoded JSON or
raises PayloadError naming the first field that is missing or of the wrong type (the receiver
answers 400 with that message). Fields that only save an API call (a base SHA, labels) are
optional: their absence is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PayloadError(ValueError):
    """The payload lacks something its event needs; the message names the missing field."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where an event comes from: the App installation and the repository."""

    installation_id: int
    repo: str  # "owner/name"


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    head_sha: str
    base_sha: str = ""
    base_ref: str = ""
    draft: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckPull:
    """A pull request as a check run or suite names it: number and base only."""

    number: int
    base_sha: str = ""
    base_ref: str = ""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    head_sha: str
    pulls: tuple[CheckPull, ...]  # empty for a fork's pull request


@dataclass(frozen=True, slots=True)
class Comment:
    body: str
    login: str
    is_bot: bool
    association: str


@dataclass(frozen=True, slots=True)
class Issue:
    number: int | None  # checked only once the comment turns out to ask for something
    is_pull_request: bool
    is_open: bool
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Push:
    default_branch: str
    to_default_branch: bool  # a push (not a deletion) of the repository's default branch
    after: str


@dataclass(frozen=True, slots=True)
class IssueEdit:
    """An ``issues`` event: who acted and the issue's body (the dashboard's ticked boxes live there)."""

    default_branch: str
    body: str
    by_bot: bool


class _Object:
    """A JSON object with the dotted path it was found at, for error messages."""

    def __init__(self, data: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def object(self, key: str) -> _Object:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise PayloadError(f"{self._field(key)} is missing or not an object")
        return _Object(value, self._field(key))

    def optional_object(self, key: str) -> _Object:
        value = self.data.get(key)
        return _Object(value if isinstance(value, dict) else {}, self._field(key))

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise PayloadError(f"{self._field(key)} is missing or not a string")
        return value

    def optional_text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        return default if value is None else str(value)

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PayloadError(f"{self._field(key)} is missing or not an integer")
        return value

    def labels(self) -> tuple[str, ...]:
        labels = self.data.get("labels")
        if not isinstance(labels, list):
            return ()
        return tuple(str(label["name"]) for label in labels if isinstance(label, dict) and "name" in label)


def parse_source(payload: dict[str, Any]) -> Source:
    if not isinstance(payload.get("installation"), dict):
        raise PayloadError("installation is missing (is this an App webhook?)")
    root = _Object(payload)
    return Source(root.object("installation").integer("id"), root.object("repository").text("full_name"))


def parse_pull_request(payload: dict[str, Any]) -> PullRequest:
    pr = _Object(payload).object("pull_request")
    head, base = pr.object("head"), pr.object("base")
    return PullRequest(
        number=pr.integer("number"),
        head_sha=head.text("sha"),
        base_sha=base.optional_text("sha"),
        base_ref=base.optional_text("ref"),
        draft=bool(pr.data.get("draft", False)),
        labels=pr.labels(),
    )


def parse_check_request(payload: dict[str, Any], event: str) -> CheckRequest:
    check = _Object(payload).object(event)
    head_sha = check.text("head_sha")
    pulls = check.data.get("pull_requests")
    if not isinstance(pulls, list):
        raise PayloadError(f"{event}.pull_requests is missing")
    parsed = []
    for pr in pulls:
        if not isinstance(pr, dict):
            raise PayloadError(f"{event}.pull_requests holds a non-object")
        item = _Object(pr, f"{event}.pull_requests[]")
        base = item.optional_object("base")
        parsed.append(CheckPull(item.integer("number"), base.optional_text("sha"), base.optional_text("ref")))
    return CheckRequest(head_sha, tuple(parsed))


def parse_issue(payload: dict[str, Any]) -> Issue:
    issue = _Object(payload).object("issue")
    return Issue(
        number=issue.data.get("number") if isinstance(issue.data.get("number"), int) else None,
        is_pull_request="pull_request" in issue.data,
        is_open=issue.data.get("state", "open") == "open",
        labels=issue.labels(),
    )


def parse_comment(payload: dict[str, Any]) -> Comment:
    comment = _Object(payload).object("comment")
    user = comment.optional_object("user")
    return Comment(
        body=comment.optional_text("body"),
        login=user.optional_text("login", "?"),
        is_bot=user.data.get("type") == "Bot",
        association=comment.optional_text("author_association", "NONE"),
    )


def parse_push(payload: dict[str, Any]) -> Push:
    root = _Object(payload)
    default = root.object("repository").text("default_branch")
    ref = root.text("ref")
    return Push(default, ref == f"refs/heads/{default}" and not payload.get("deleted"), root.text("after"))


def parse_issue_edit(payload: dict[str, Any]) -> IssueEdit:
    root = _Object(payload)
    return IssueEdit(
        default_branch=root.object("repository").text("default_branch"),
        body=root.object("issue").optional_text("body"),
        by_bot=root.optional_object("sender").data.get("type") == "Bot",
    )


def review_state(payload: dict[str, Any]) -> str:
    return _Object(payload).object("review").optional_text("state").lower()
