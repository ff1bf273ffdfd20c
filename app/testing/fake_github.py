"""A local fake of the GitHub REST API, for tests that need a GitHub to talk to.

``FakeGitHub`` is a Flask app holding in-memory state (one App, its installations, repositories
with pull requests, commits, file contents, check runs, reviews, comments and labels). ``serve()``
runs it on 127.0.0.1 with werkzeug's threaded server and yields the base URL to use as
``GITHUB_API_URL``. Paths, media types, status codes and JSON shapes follow GitHub closely enough
for PyGithub 2.x and for ``app.github.client.RawClient``.

What tests get besides the API:

* ``fake.requests``: every request recorded (method, path, query, some headers, JSON body,
  status, time) and ``fake.calls(method, pattern)`` to filter them;
* ``fake.faults``: a ``FaultPolicy`` answering scripted or (seeded) random requests with 502,
  429, secondary rate limits (403 with or without Retry-After), primary rate limits, or delays;
  a fault ``after=True`` replaces the answer of a request that was carried out;
* ``fake.limits``: GitHub's size limits (diff 300 files / 20,000 lines, 3,000 files, 250 commits,
  50 annotations per request, ...), lowerable so tests can reach them cheaply;
* fixtures: ``PullData`` (from a dict, a JSON/YAML file or a corpus case directory) loaded with
  ``fake.load_pull()``; payload builders and ``signed_delivery()`` for webhook tests.

The pull request fixture format (a dict, or the same as JSON/YAML; every key but ``number`` is
optional)::

    number: 7
    title: Use the release etcd-manager
    head: {sha: <40 hex>, ref: fix-etcd}      # or head_sha / head_ref
    base: {sha: <40 hex>, ref: main}          # or base_sha / base_ref
    draft: false
    state: open
    labels: [area/etcd]
    user: octocat
    diff: |                                   # the full unified diff ("Files changed")
      diff --git a/x b/x
      ...
    files: [...]                              # instead of diff: filename, status, additions,
                                              # deletions, patch, sha, previous_filename
    commits:                                  # oldest first; each diff gives the commit's files
      - {sha: <40 hex>, message: "...", author: octocat, diff: "..."}
    contents:                                 # file text per ref (branch name or sha)
      main: {.github/image-review.yml: "..."}

``files`` are derived from ``diff`` (or the diff from ``files``); a missing head sha is the last
commit's. ``PullData.from_corpus(case_dir)`` reads a ``shared/corpus/cases/<slug>`` directory.
"""

from __future__ import annotations

import base64
import email.header
import fnmatch
import gzip
import hashlib
import hmac
import io
import itertools
import json
import random
import re
import secrets
import tarfile
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import jwt
import yaml
from flask import Flask, Response, g, request
from werkzeug.serving import WSGIRequestHandler, make_server

from app.testing.fake_git import GitError, GitStore, tree_diff

GITHUB_DOCS = "https://docs.github.com/rest"
LINE_MUST_BE_IN_DIFF = "pull_request_review_thread.line must be part of the diff"
RECORDED_HEADERS = (
    "Accept",
    "Authorization",
    "Content-Type",
    "If-None-Match",
    "User-Agent",
    "X-GitHub-Api-Version",
)
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MBOX_FROM_RE = re.compile(r"^From ([0-9a-f]{40}) Mon Sep 17 00:00:00 2001$", re.M)
_SIGNATURE_RE = re.compile(r"\n-- \n[0-9][^\n]*\n*\Z")


def _sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()


def _git_blob_sha(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64_lines(text: str) -> str:
    # GitHub wraps base64 content at 60 characters.
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the fake records requests itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve_wsgi(app: Any, *, name: str = "wsgi") -> Iterator[str]:
    """Serve a WSGI app with werkzeug's threaded server on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    # A short poll interval makes shutdown (once per test) quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


# ---------------------------------------------------------------------------------------------
# Fixture data


@dataclass
class FileChange:
    """One file of a pull request or commit, as the files API lists it."""

    filename: str
    status: str = "modified"  # added, removed, modified, renamed
    additions: int = 0
    deletions: int = 0
    patch: str | None = None  # hunks only, from the first "@@"; None for binary files
    sha: str = ""
    previous_filename: str | None = None
    header: str = ""  # the "diff --git" header block, to rebuild a full diff

    def lines(self) -> tuple[set[int], set[int]]:
        """Lines a review comment may target: (LEFT/old side, RIGHT/new side)."""
        return diff_lines(self.patch or "")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileChange:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class CommitData:
    sha: str
    message: str
    author: str = "octocat"  # login
    author_name: str = ""
    author_email: str = ""
    date: str = "2024-01-01T00:00:00Z"
    diff: str = ""
    files: list[FileChange] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.files and self.diff:
            self.files = files_from_diff(self.diff)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommitData:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "files"}
        files = [FileChange.from_dict(f) for f in data.get("files", [])]
        return cls(**values, files=files)


@dataclass
class PullData:
    """A pull request fixture. ``files`` are derived from ``diff`` (or the diff from the files)."""

    number: int
    head_sha: str = ""
    base_sha: str = ""
    head_ref: str = "feature"
    base_ref: str = "main"
    title: str = "A pull request"
    body: str = ""
    draft: bool = False
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    user: str = "octocat"
    diff: str = ""
    commits: list[CommitData] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    # File contents per ref (branch name or sha): {"main": {".github/image-review.yml": "..."}}.
    contents: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.files and self.diff:
            self.files = files_from_diff(self.diff)
        elif self.files and not self.diff:
            self.diff = diff_from_files(self.files)
        if not self.head_sha:
            self.head_sha = self.commits[-1].sha if self.commits else _sha("head", str(self.number))
        if not self.base_sha:
            self.base_sha = _sha("base", str(self.number))
        parent = self.base_sha
        for commit in self.commits:
            if not commit.parents:
                commit.parents = [parent]
            parent = commit.sha

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PullData:
        """Read the fixture format (see ``load_pull``); ``head``/``base`` may be objects."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for side in ("head", "base"):
            part = data.get(side)
            if isinstance(part, dict):
                values.setdefault(f"{side}_sha", part.get("sha", ""))
                values.setdefault(f"{side}_ref", part.get("ref", "main" if side == "base" else "feature"))
        values["commits"] = [CommitData.from_dict(c) for c in data.get("commits", [])]
        values["files"] = [FileChange.from_dict(f) for f in data.get("files", [])]
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> PullData:
        """A fixture in JSON or YAML."""
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        return cls.from_dict(data)

    @classmethod
    def from_corpus(cls, case_dir: str | Path, number: int | None = None) -> PullData:
        """A corpus case (``pr.diff``, ``pr.mbox``, ``case.json``) as a pull request."""
        case_dir = Path(case_dir)
        case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
        diff = (case_dir / "pr.diff").read_text(encoding="utf-8", errors="replace")
        mbox = (case_dir / "pr.mbox").read_text(encoding="utf-8", errors="replace")
        commits = commits_from_mbox(mbox)
        return cls(
            number=number if number is not None else int(case["pr"]),
            head_sha=str(case.get("head_commit") or ""),
            base_sha=str(case.get("base_commit") or ""),
            head_ref=f"pr-{case['pr']}",
            base_ref=str(case.get("base_branch") or "main"),
            title=str(case.get("title", "")),
            diff=diff,
            commits=commits,
        )


def files_from_diff(diff: str) -> list[FileChange]:
    """Split a git unified diff into the files API's view of it."""
    blocks = re.split(r"(?m)^(?=diff --git )", diff)
    return [_file_from_block(block) for block in blocks if block.startswith("diff --git ")]


def _file_from_block(block: str) -> FileChange:
    lines = block.split("\n")
    hunk_at = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    header = lines[:hunk_at]
    old = new = None
    status = "modified"
    previous = None
    for line in header:
        if line.startswith("--- "):
            old = None if line[4:] == "/dev/null" else line[4:].removeprefix("a/")
        elif line.startswith("+++ "):
            new = None if line[4:] == "/dev/null" else line[4:].removeprefix("b/")
        elif line.startswith("new file mode"):
            status = "added"
        elif line.startswith("deleted file mode"):
            status = "removed"
        elif line.startswith("rename from "):
            previous, status = line[len("rename from ") :], "renamed"
        elif line.startswith("rename to "):
            new = line[len("rename to ") :]
    match = re.match(r"diff --git a/(.+) b/(.+)$", header[0])
    if match:
        old = old or match.group(1)
        new = new or (match.group(2) if status != "removed" else None)
    filename = new or old or "?"
    body = lines[hunk_at:]
    while body and body[-1] == "":
        body.pop()
    patch = "\n".join(body) if body else None
    is_binary = any(line.startswith("Binary files ") for line in header)
    additions = sum(1 for line in body if line.startswith("+"))
    deletions = sum(1 for line in body if line.startswith("-"))
    return FileChange(
        filename=filename,
        status=status,
        additions=additions,
        deletions=deletions,
        patch=None if is_binary else (patch or None),
        sha=_sha("file", filename, patch or ""),
        previous_filename=previous,
        header="\n".join(header),
    )


def diff_from_files(files: list[FileChange]) -> str:
    out = []
    for f in files:
        header = f.header or _default_header(f)
        out.append(header + "\n" + (f.patch or "") + "\n")
    return "".join(out)


def _default_header(f: FileChange) -> str:
    old = f.previous_filename or f.filename
    lines = [f"diff --git a/{old} b/{f.filename}"]
    if f.status == "added":
        lines += ["new file mode 100644", "--- /dev/null", f"+++ b/{f.filename}"]
    elif f.status == "removed":
        lines += ["deleted file mode 100644", f"--- a/{old}", "+++ /dev/null"]
    else:
        if f.status == "renamed":
            lines += [f"rename from {old}", f"rename to {f.filename}"]
        lines += [f"--- a/{old}", f"+++ b/{f.filename}"]
    return "\n".join(lines)


def diff_lines(patch: str) -> tuple[set[int], set[int]]:
    """(old-side lines, new-side lines) that appear in the patch's hunks."""
    left: set[int] = set()
    right: set[int] = set()
    old = new = 0
    for line in patch.split("\n"):
        match = _HUNK_RE.match(line)
        if match:
            old, new = int(match.group(1)), int(match.group(3))
        elif line.startswith("+"):
            right.add(new)
            new += 1
        elif line.startswith("-"):
            left.add(old)
            old += 1
        elif line.startswith("\\"):
            continue
        else:
            left.add(old)
            right.add(new)
            old += 1
            new += 1
    return left, right


def diff_position(patch: str, position: int) -> tuple[str, int] | None:
    """The (side, line) a legacy ``position`` (lines below the first "@@") points at."""
    old = new = 0
    for index, line in enumerate(patch.split("\n")):
        match = _HUNK_RE.match(line)
        if match:
            old, new = int(match.group(1)), int(match.group(3))
            if index == position:
                return None
            continue
        here = ("RIGHT", new) if not line.startswith("-") else ("LEFT", old)
        if index == position:
            return here
        if line.startswith("+"):
            new += 1
        elif line.startswith("-"):
            old += 1
        elif not line.startswith("\\"):
            old += 1
            new += 1
    return None


def commits_from_mbox(mbox: str) -> list[CommitData]:
    """The commits of a ``git format-patch --stdout`` mailbox, oldest first."""
    starts = [m.start() for m in _MBOX_FROM_RE.finditer(mbox)] + [len(mbox)]
    return [_commit_from_patch(mbox[a:b]) for a, b in itertools.pairwise(starts)]


def _commit_from_patch(text: str) -> CommitData:
    first, _, rest = text.partition("\n")
    sha = first.split()[1]
    head, _, body = rest.partition("\n\n")
    headers: dict[str, str] = {}
    for line in re.sub(r"\n[ \t]+", " ", head).split("\n"):
        name, _, value = line.partition(": ")
        headers[name] = str(email.header.make_header(email.header.decode_header(value)))
    diff_at = body.find("\ndiff --git ")
    message_part = body if diff_at < 0 else body[:diff_at]
    message_body = message_part.split("\n---\n", 1)[0].strip()
    diff = "" if diff_at < 0 else _SIGNATURE_RE.sub("\n", body[diff_at + 1 :])
    subject = re.sub(r"^\[PATCH[^\]]*\]\s*", "", headers.get("Subject", ""))
    name, _, addr = headers.get("From", "").rpartition(" <")
    email_addr = addr.rstrip(">")
    return CommitData(
        sha=sha,
        message=subject + ("\n\n" + message_body if message_body else ""),
        author=email_addr.split("@")[0] or "octocat",
        author_name=name.strip() or email_addr,
        author_email=email_addr,
        date=headers.get("Date", ""),
        diff=diff,
    )


# ---------------------------------------------------------------------------------------------
# Webhook helpers


@dataclass(frozen=True)
class SignedDelivery:
    headers: dict[str, str]
    body: bytes
    delivery_id: str
    event: str


def signed_delivery(
    secret: str,
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
) -> SignedDelivery:
    """Headers and body of a webhook delivery as GitHub sends it, signed with ``secret``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    delivery_id = delivery_id or str(uuid.uuid4())
    signature = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/fake",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": "1",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature-256": signature,
    }
    return SignedDelivery(headers=headers, body=body, delivery_id=delivery_id, event=event)


def _repo_payload(full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    return {
        "id": int(_sha("repo", full_name)[:8], 16),
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": {"login": owner, "type": "Organization"},
        "default_branch": "main",
    }


def push_payload(*, repo: str, ref: str, before: str, after: str, installation_id: int = 1,
                 default_branch: str = "main", pusher: str = "octocat") -> dict[str, Any]:
    """A ``push`` webhook payload with the fields GitHub sends that the app reads."""
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": set(before) == {"0"},
        "deleted": set(after) == {"0"},
        "forced": False,
        "repository": {**_repo_payload(repo), "default_branch": default_branch},
        "installation": {"id": installation_id, "node_id": "MDIz"},
        "pusher": {"name": pusher},
        "sender": {"login": pusher, "type": "User"},
        "head_commit": {"id": after},
    }


def pull_request_payload(
    *,
    repo: str = "octo-org/app",
    number: int = 1,
    action: str = "opened",
    installation_id: int = 1,
    head_sha: str = "a" * 40,
    base_sha: str = "b" * 40,
    head_ref: str = "feature",
    base_ref: str = "main",
    draft: bool = False,
    labels: tuple[str, ...] = (),
    user: str = "octocat",
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``pull_request`` webhook payload with the fields GitHub sends that the app reads."""
    payload: dict[str, Any] = {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "draft": draft,
            "title": f"PR {number}",
            "user": {"login": user, "type": "User"},
            "labels": [{"name": name} for name in labels],
            "head": {"sha": head_sha, "ref": head_ref, "label": f"{repo.split('/')[0]}:{head_ref}"},
            "base": {"sha": base_sha, "ref": base_ref, "label": f"{repo.split('/')[0]}:{base_ref}"},
            "author_association": "CONTRIBUTOR",
        },
        "repository": _repo_payload(repo),
        "installation": {"id": installation_id, "node_id": "MDIz"},
        "sender": {"login": user, "type": "User"},
    }
    if changes is not None:
        payload["changes"] = changes
    return payload


def issue_comment_payload(
    *,
    repo: str = "octo-org/app",
    number: int = 1,
    body: str = "/image-review recheck",
    association: str = "MEMBER",
    login: str = "maintainer",
    user_type: str = "User",
    on_pull_request: bool = True,
    installation_id: int = 1,
    labels: tuple[str, ...] = (),
    state: str = "open",
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "number": number,
        "state": state,
        "labels": [{"name": name} for name in labels],
        "user": {"login": "octocat", "type": "User"},
    }
    if on_pull_request:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": 1,
            "body": body,
            "author_association": association,
            "user": {"login": login, "type": user_type},
        },
        "repository": _repo_payload(repo),
        "installation": {"id": installation_id},
        "sender": {"login": login, "type": user_type},
    }


def check_payload(
    event: Literal["check_run", "check_suite"],
    *,
    repo: str = "octo-org/app",
    numbers: tuple[int, ...] = (1,),
    action: str = "rerequested",
    head_sha: str = "a" * 40,
    installation_id: int = 1,
) -> dict[str, Any]:
    pulls = [
        {"number": n, "head": {"sha": head_sha, "ref": "feature"}, "base": {"sha": "b" * 40, "ref": "main"}}
        for n in numbers
    ]
    return {
        "action": action,
        event: {"id": 99, "head_sha": head_sha, "status": "completed", "pull_requests": pulls},
        "repository": _repo_payload(repo),
        "installation": {"id": installation_id},
        "sender": {"login": "maintainer", "type": "User"},
    }


def review_payload(
    *,
    repo: str = "octo-org/app",
    number: int = 1,
    state: str = "approved",
    action: str = "submitted",
    head_sha: str = "a" * 40,
    installation_id: int = 1,
    reviewer: str = "owner1",
) -> dict[str, Any]:
    payload = pull_request_payload(
        repo=repo, number=number, action=action, head_sha=head_sha, installation_id=installation_id
    )
    payload["review"] = {"id": 5, "state": state, "user": {"login": reviewer, "type": "User"}}
    return payload


# ---------------------------------------------------------------------------------------------
# Faults


FaultKind = Literal["500", "502", "503", "429", "secondary", "secondary-no-header", "primary", "forbidden", "delay"]


@dataclass(frozen=True)
class Fault:
    """One injected answer. ``retry_after`` (seconds) goes into Retry-After / X-RateLimit-Reset."""

    kind: FaultKind
    retry_after: int | None = None
    delay: float = 0.0  # for "delay": seconds before the real answer
    path: str | None = None  # regex the request path must match (search); None: any request
    method: str | None = None
    # The request is carried out first and only its answer replaced: GitHub's gateway timing out
    # on a write that landed. (Without it, a fault answers before anything happens.)
    after: bool = False


class FaultPolicy:
    """Which requests get a fault: a script consumed in order, then seeded random rules."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._script: deque[Fault] = deque()
        self._random: list[tuple[Fault, float]] = []
        self.injected: list[tuple[str, str, FaultKind]] = []  # (method, path, kind)

    def script(self, *faults: Fault) -> None:
        """Answer the next matching requests with these faults, in order (each used once)."""
        with self._lock:
            self._script.extend(faults)

    def random(self, fault: Fault, rate: float) -> None:
        """Answer this fraction of matching requests with the fault (seeded, so repeatable)."""
        with self._lock:
            self._random.append((fault, rate))

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self._random.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._script:
                if _fault_matches(fault, method, path):
                    self._script.remove(fault)
                    self.injected.append((method, path, fault.kind))
                    return fault
            for fault, rate in self._random:
                if _fault_matches(fault, method, path) and self._rng.random() < rate:
                    self.injected.append((method, path, fault.kind))
                    return fault
        return None


def _fault_matches(fault: Fault, method: str, path: str) -> bool:
    if fault.method is not None and fault.method.upper() != method:
        return False
    return fault.path is None or re.search(fault.path, path) is not None


# ---------------------------------------------------------------------------------------------
# State


@dataclass
class FakeLimits:
    diff_max_files: int = 300
    diff_max_lines: int = 20_000
    files_max: int = 3_000
    commits_max: int = 250
    patch_max_bytes: int = 1_000_000  # files API omits "patch" above this
    contents_max_bytes: int = 1_000_000  # contents API answers encoding "none" above this
    annotations_per_request: int = 50
    review_comments_max: int | None = None  # GitHub has no documented cap; set to test one
    per_page_max: int = 100
    token_lifetime: int = 3_600
    rate_limit: int = 5_000


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int = 0
    time: float = 0.0
    duration: float = 0.0


@dataclass
class Installation:
    id: int
    account: str
    repos: set[str] | None = None  # None: every repository of the account


@dataclass
class FakeIssue:
    number: int
    title: str = ""
    body: str = ""
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    user: str = "octocat"
    state_reason: str | None = None
    assignees: list[str] = field(default_factory=list)


@dataclass
class FakeRepo:
    full_name: str
    id: int
    default_branch: str = "main"
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # ref -> path -> text
    blobs: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, PullData] = field(default_factory=dict)
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    commits: dict[str, CommitData] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # pull -> reviews
    review_comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    issue_comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    label_colors: dict[str, str] = field(default_factory=dict)
    # Readable (GET) with any installation token, as public repositories are on GitHub.
    public: bool = False
    git: GitStore = field(default_factory=GitStore)  # the git data API's objects and refs
    protect_default: bool = True  # the default branch refuses ref updates through the API, as protected

    def next_number(self) -> int:
        """Issues and pull requests share one sequence, as on GitHub."""
        return max([0, *self.issues, *self.pulls]) + 1

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    def set_file(self, ref: str, path: str, text: str) -> None:
        self.files.setdefault(ref, {})[path] = text
        self.blobs[_git_blob_sha(text)] = text

    def labels_of(self, number: int) -> list[str] | None:
        if number in self.pulls:
            return self.pulls[number].labels
        if number in self.issues:
            return self.issues[number].labels
        return None


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": GITHUB_DOCS, **extra}


class FakeGitHub:
    """The fake API: state, recorded requests, faults, limits, and the Flask app serving them."""

    def __init__(
        self,
        *,
        app_id: int = 1,
        public_key: str | bytes | None = None,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        bot_login: str = "image-review[bot]",
    ) -> None:
        self.app_id = app_id
        self.public_key = public_key
        self.clock = clock
        self.bot_login = bot_login
        self.limits = FakeLimits()
        self.faults = FaultPolicy(seed)
        self.requests: list[RecordedRequest] = []
        self.server_errors: list[str] = []
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (installation id, expires at)
        self.deliveries: list[dict[str, Any]] = []
        self.redelivered: list[int] = []
        self._remaining: dict[str, int] = {}
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self.base_url = ""
        self.app = self._build_app()

    # -- loading state ------------------------------------------------------------------------

    def add_installation(self, installation_id: int, account: str, repos: set[str] | None = None) -> None:
        with self._lock:
            self.installations[installation_id] = Installation(installation_id, account, repos)

    def add_repo(self, full_name: str, *, default_branch: str = "main", installation_id: int = 1) -> FakeRepo:
        """A repository, reachable by the installation (created for the owner if missing)."""
        with self._lock:
            if full_name in self.repos:
                return self.repos[full_name]
            repo = FakeRepo(full_name, int(_sha("repo", full_name)[:8], 16), default_branch)
            self.repos[full_name] = repo
            installation = self.installations.get(installation_id)
            if installation is None:
                self.add_installation(installation_id, repo.owner, {full_name})
            elif installation.repos is not None:
                installation.repos.add(full_name)
            return repo

    def add_public_repo(self, full_name: str, *, default_branch: str = "main") -> FakeRepo:
        """A public repository of another owner (kubernetes/k8s.io): readable, not installed."""
        with self._lock:
            repo = self.repos.get(full_name)
            if repo is None:
                repo = FakeRepo(full_name, int(_sha("repo", full_name)[:8], 16), default_branch)
                self.repos[full_name] = repo
            repo.public = True
            return repo

    def load_pull(self, repo: str, pull: PullData | dict[str, Any], *, installation_id: int = 1) -> PullData:
        """Add a pull request (a PullData or the fixture dict) with its commits and contents."""
        data = pull if isinstance(pull, PullData) else PullData.from_dict(pull)
        with self._lock:
            fake_repo = self.add_repo(repo, installation_id=installation_id)
            fake_repo.pulls[data.number] = data
            for commit in data.commits:
                fake_repo.commits[commit.sha] = commit
            for ref, files in data.contents.items():
                for path, text in files.items():
                    fake_repo.set_file(ref, path, text)
        return data

    def set_file(self, repo: str, ref: str, path: str, text: str) -> None:
        with self._lock:
            self.add_repo(repo).set_file(ref, path, text)

    def push_commit(self, repo: str, branch: str, changes: dict[str, str | None], message: str,
                    *, author: str = "octocat") -> str:
        """A person's push: one commit on ``branch`` (created if missing); ``None`` deletes a file."""
        with self._lock:
            fake_repo = self.add_repo(repo)
            store = fake_repo.git
            parent = store.refs.get(f"heads/{branch}")
            base_tree = store.commits[parent].tree if parent else None
            entries = [{"path": p, "mode": "100644", "type": "blob", **({"content": t} if t is not None
                                                                         else {"sha": None})}
                       for p, t in changes.items()]
            tree = store.create_tree(base_tree, entries)
            sha = store.create_commit(message, tree, [parent] if parent else [], author=author,
                                      date=_iso(self.clock()))
            store.refs[f"heads/{branch}"] = sha  # a person's push: no API rules, force allowed
            self._ref_moved(fake_repo, f"heads/{branch}")
            return sha

    def push_event(self, repo: str, before: str, after: str, branch: str | None = None) -> dict[str, Any]:
        """The ``push`` webhook payload for a push to ``branch`` (default: the default branch)."""
        fake_repo = self.repos[repo]
        installation_id = next(i.id for i in self.installations.values() if self._can_access(i, repo))
        return push_payload(repo=repo, ref=f"refs/heads/{branch or fake_repo.default_branch}", before=before,
                            after=after, installation_id=installation_id, default_branch=fake_repo.default_branch)

    def add_issue(self, repo: str, number: int, *, state: str = "open", title: str = "") -> FakeIssue:
        with self._lock:
            issue = FakeIssue(number, title=title or f"Issue {number}", state=state)
            self.add_repo(repo).issues[number] = issue
            return issue

    def add_delivery(self, event: str, *, status_code: int = 200, action: str | None = None) -> dict[str, Any]:
        with self._lock:
            delivery = {
                "id": next(self._ids),
                "guid": str(uuid.uuid4()),
                "delivered_at": _iso(self.clock()),
                "redelivery": False,
                "duration": 0.1,
                "status": "OK" if status_code < 400 else "failed",
                "status_code": status_code,
                "event": event,
                "action": action,
                "installation_id": next(iter(self.installations), None),
                "repository_id": None,
            }
            self.deliveries.append(delivery)
            return delivery

    def pull_request_event(self, repo: str, number: int, action: str = "opened") -> dict[str, Any]:
        """The ``pull_request`` webhook payload for a loaded pull request."""
        pull = self.repos[repo].pulls[number]
        installation_id = next(i.id for i in self.installations.values() if self._can_access(i, repo))
        return pull_request_payload(
            repo=repo,
            number=number,
            action=action,
            installation_id=installation_id,
            head_sha=pull.head_sha,
            base_sha=pull.base_sha,
            head_ref=pull.head_ref,
            base_ref=pull.base_ref,
            draft=pull.draft,
            labels=tuple(pull.labels),
            user=pull.user,
        )

    # -- inspecting ---------------------------------------------------------------------------

    def calls(self, method: str | None = None, pattern: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and a glob over the path (``/repos/*/pulls/1``)."""
        with self._lock:
            recorded = list(self.requests)
        return [
            r
            for r in recorded
            if (method is None or r.method == method.upper())
            and (pattern is None or fnmatch.fnmatchcase(r.path, pattern))
        ]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos[full_name]

    # -- serving ------------------------------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on 127.0.0.1 (a free port) in a background thread; yields the base URL."""
        with serve_wsgi(self.app, name="fake-github") as url:
            self.base_url = url
            yield url

    # -- the Flask app ------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("fake_github")
        app.before_request(self._before)
        app.after_request(self._after)
        app.register_error_handler(ApiError, self._api_error)
        app.register_error_handler(GitError, self._git_error)
        app.register_error_handler(Exception, self._crash)
        for rule, methods, view in self._routes():
            app.add_url_rule(rule, view.__name__ + rule, self._locked(view), methods=methods)
        return app

    def _routes(self) -> list[tuple[str, list[str], Callable[..., Any]]]:
        r = "/repos/<owner>/<name>"
        return [
            ("/app", ["GET"], self._get_app),
            ("/app/installations/<int:installation_id>/access_tokens", ["POST"], self._access_token),
            ("/app/hook/deliveries", ["GET"], self._list_deliveries),
            ("/app/installations", ["GET"], self._list_installations),
            ("/installation/repositories", ["GET"], self._installation_repositories),
            ("/app/hook/deliveries/<int:delivery_id>/attempts", ["POST"], self._redeliver),
            (r, ["GET"], self._get_repo),
            (f"{r}/pulls/<int:number>", ["GET"], self._get_pull),
            (f"{r}/pulls/<int:number>/files", ["GET"], self._pull_files),
            (f"{r}/pulls/<int:number>/commits", ["GET"], self._pull_commits),
            (f"{r}/commits/<sha>", ["GET"], self._get_commit),
            (f"{r}/git/blobs/<sha>", ["GET"], self._get_blob),
            (f"{r}/contents/", ["GET"], self._get_contents),
            (f"{r}/contents/<path:path>", ["GET"], self._get_contents),
            (f"{r}/check-runs", ["POST"], self._create_check_run),
            (f"{r}/check-runs/<int:run_id>", ["GET", "PATCH"], self._check_run),
            (f"{r}/check-runs/<int:run_id>/annotations", ["GET"], self._check_run_annotations),
            (f"{r}/commits/<ref>/check-runs", ["GET"], self._commit_check_runs),
            (f"{r}/pulls/<int:number>/reviews", ["GET", "POST"], self._reviews),
            (f"{r}/pulls/<int:number>/comments", ["GET"], self._list_review_comments),
            (f"{r}/pulls/comments/<int:comment_id>", ["GET", "PATCH", "DELETE"], self._review_comment),
            (f"{r}/pulls/<int:number>/comments/<int:comment_id>/replies", ["POST"], self._reply),
            (f"{r}/issues", ["GET", "POST"], self._issues),
            (f"{r}/issues/<int:number>", ["GET", "PATCH"], self._get_issue),
            (f"{r}/pulls", ["GET", "POST"], self._pulls),
            (f"{r}/pulls/<int:number>", ["PATCH"], self._edit_pull),
            (f"{r}/git/blobs", ["POST"], self._create_blob),
            (f"{r}/git/trees", ["POST"], self._create_tree),
            (f"{r}/git/trees/<sha>", ["GET"], self._get_tree),
            (f"{r}/git/commits", ["POST"], self._create_git_commit),
            (f"{r}/git/commits/<sha>", ["GET"], self._get_git_commit),
            (f"{r}/git/ref/<path:ref>", ["GET"], self._get_ref),
            (f"{r}/git/matching-refs/<path:ref>", ["GET"], self._matching_refs),
            (f"{r}/git/refs", ["POST"], self._create_ref),
            (f"{r}/git/refs/<path:ref>", ["PATCH", "DELETE"], self._update_ref),
            (f"{r}/tarball/<path:ref>", ["GET"], self._tarball),
            ("/_codeload/<owner>/<name>/<sha>.tar.gz", ["GET"], self._codeload),
            (f"{r}/issues/<int:number>/comments", ["GET", "POST"], self._issue_comments),
            (f"{r}/issues/comments/<int:comment_id>", ["GET", "PATCH", "DELETE"], self._issue_comment),
            (f"{r}/issues/<int:number>/labels", ["GET", "POST", "PUT", "DELETE"], self._labels),
            (f"{r}/issues/<int:number>/labels/<path:label>", ["DELETE"], self._remove_label),
        ]

    def _locked(self, view: Callable[..., Any]) -> Callable[..., Any]:
        def locked(**kwargs: Any) -> Any:
            with self._lock:
                return view(**kwargs)

        return locked

    def _before(self) -> Response | None:
        g.started = time.monotonic()
        g.token = None
        fault = self.faults.pick(request.method, request.path)
        if fault is None:
            return None
        if fault.kind == "delay":
            time.sleep(fault.delay)
            return None
        if fault.after:
            g.fault_after = fault
            return None
        return self._fault_response(fault)

    def _after(self, response: Response) -> Response:
        fault = g.get("fault_after")
        if fault is not None:
            response = self._fault_response(fault)
        try:
            body = request.get_json(silent=True)
        except Exception:  # a body that is not JSON is recorded as None
            body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            headers={h: request.headers[h] for h in RECORDED_HEADERS if h in request.headers},
            json=body,
            status=response.status_code,
            time=time.time(),
            duration=time.monotonic() - g.get("started", time.monotonic()),
        )
        with self._lock:
            self.requests.append(recorded)
            self._rate_limit_headers(response)
        return response

    def _rate_limit_headers(self, response: Response) -> None:
        token = g.get("token")
        if token is None or "X-RateLimit-Remaining" in response.headers:
            return
        remaining = self._remaining.get(token, self.limits.rate_limit)
        if response.status_code != 304:  # conditional hits are free, as on GitHub
            remaining = max(0, remaining - 1)
            self._remaining[token] = remaining
        response.headers["X-RateLimit-Limit"] = str(self.limits.rate_limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Used"] = str(self.limits.rate_limit - remaining)
        response.headers["X-RateLimit-Reset"] = str(int(self.clock()) + 3600)
        response.headers["X-RateLimit-Resource"] = "core"

    def _fault_response(self, fault: Fault) -> Response:
        wait = fault.retry_after
        headers: dict[str, str] = {}
        if fault.kind in ("500", "502", "503"):
            return self._json({"message": "Server Error"}, int(fault.kind))
        if fault.kind == "429":
            if wait is not None:
                headers["Retry-After"] = str(wait)
            return self._json({"message": "Too Many Requests"}, 429, headers)
        if fault.kind == "primary":
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Limit"] = str(self.limits.rate_limit)
            headers["X-RateLimit-Reset"] = str(int(self.clock()) + (wait or 0))
            message = "API rate limit exceeded for installation ID 1."
            return self._json({"message": message, "documentation_url": GITHUB_DOCS}, 403, headers)
        if fault.kind == "forbidden":
            return self._json({"message": "Resource not accessible by integration"}, 403)
        if fault.kind == "secondary":
            headers["Retry-After"] = str(wait if wait is not None else 1)
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
            "If you reach out to GitHub Support for help, please include the request ID FAKE."
        )
        return self._json({"message": message, "documentation_url": GITHUB_DOCS}, 403, headers)

    def _api_error(self, error: ApiError) -> Response:
        return self._json(error.body, error.status)

    def _git_error(self, error: GitError) -> Response:
        return self._json({"message": str(error), "documentation_url": GITHUB_DOCS}, error.status)

    def _crash(self, error: Exception) -> Response:
        from werkzeug.exceptions import HTTPException

        if isinstance(error, HTTPException):
            return self._json({"message": error.description or error.name}, error.code or 500)
        self.server_errors.append(traceback.format_exc())
        return self._json({"message": f"fake GitHub crashed: {error!r}"}, 500)

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        response = Response(json.dumps(data), status=status, mimetype="application/json")
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    # -- authentication -----------------------------------------------------------------------

    def _require_jwt(self) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "A JSON web token could not be decoded")
        if self.public_key is None:
            raise ApiError(500, "the fake has no App public key configured")
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
            )
        except jwt.InvalidTokenError:
            raise ApiError(401, "A JSON web token could not be decoded") from None
        now = self.clock()
        if str(claims["iss"]) != str(self.app_id):
            raise ApiError(401, "Integration not found")
        if claims["exp"] <= now:
            raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future")
        if claims["exp"] - now > 600:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if claims["iat"] > now + 60:
            raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past")

    def _require_repo(self, owner: str, name: str) -> FakeRepo:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if grant is None or grant[1] <= self.clock():
            raise ApiError(401, "Bad credentials")
        g.token = token
        full_name = f"{owner}/{name}"
        repo = self.repos.get(full_name)
        installation = self.installations.get(grant[0])
        if repo is not None and repo.public and request.method in ("GET", "HEAD"):
            return repo
        if repo is None or installation is None or not self._can_access(installation, full_name):
            raise ApiError(404, "Not Found")
        return repo

    @staticmethod
    def _can_access(installation: Installation, full_name: str) -> bool:
        if installation.repos is None:
            return full_name.split("/", 1)[0] == installation.account
        return full_name in installation.repos

    # -- JSON shapes --------------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return request.host_url.rstrip("/") + path

    def _user(self, login: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "login": login,
            "id": int(_sha("user", login)[:7], 16),
            "type": "Bot" if bot or login.endswith("[bot]") else "User",
            "url": self._api(f"/users/{login}"),
        }

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.full_name.split("/", 1)[1],
            "full_name": repo.full_name,
            "private": False,
            "owner": self._user(repo.owner),
            "default_branch": repo.default_branch,
            "url": self._api(f"/repos/{repo.full_name}"),
            "html_url": f"https://github.com/{repo.full_name}",
        }

    def _label_json(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        return {
            "id": int(_sha("label", repo.full_name, name)[:7], 16),
            "node_id": "LA_x",
            "url": self._api(f"/repos/{repo.full_name}/labels/{name}"),
            "name": name,
            "color": repo.label_colors.setdefault(name, "ededed"),
            "default": False,
            "description": None,
        }

    def _pull_json(self, repo: FakeRepo, pull: PullData) -> dict[str, Any]:
        base = f"/repos/{repo.full_name}"
        additions = sum(f.additions for f in pull.files)
        deletions = sum(f.deletions for f in pull.files)

        def part(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{repo.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self._user(repo.owner),
                "repo": self._repo_json(repo),
            }

        return {
            "url": self._api(f"{base}/pulls/{pull.number}"),
            "id": 100_000 + pull.number,
            "node_id": f"PR_{pull.number}",
            "html_url": f"https://github.com/{repo.full_name}/pull/{pull.number}",
            "diff_url": f"https://github.com/{repo.full_name}/pull/{pull.number}.diff",
            "issue_url": self._api(f"{base}/issues/{pull.number}"),
            "commits_url": self._api(f"{base}/pulls/{pull.number}/commits"),
            "review_comments_url": self._api(f"{base}/pulls/{pull.number}/comments"),
            "comments_url": self._api(f"{base}/issues/{pull.number}/comments"),
            "statuses_url": self._api(f"{base}/statuses/{pull.head_sha}"),
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "draft": pull.draft,
            "user": self._user(pull.user),
            "labels": [self._label_json(repo, name) for name in pull.labels],
            "head": part(pull.head_ref, pull.head_sha),
            "base": part(pull.base_ref, pull.base_sha),
            "author_association": "CONTRIBUTOR",
            "merged": False,
            "mergeable": None,
            "commits": len(pull.commits),
            "additions": additions,
            "deletions": deletions,
            "changed_files": len(pull.files),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }

    def _file_json(self, repo: FakeRepo, ref: str, f: FileChange) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sha": f.sha,
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.additions + f.deletions,
            "blob_url": f"https://github.com/{repo.full_name}/blob/{ref}/{f.filename}",
            "raw_url": f"https://github.com/{repo.full_name}/raw/{ref}/{f.filename}",
            "contents_url": self._api(f"/repos/{repo.full_name}/contents/{f.filename}?ref={ref}"),
        }
        if f.patch is not None and len(f.patch.encode("utf-8")) <= self.limits.patch_max_bytes:
            data["patch"] = f.patch
        if f.previous_filename:
            data["previous_filename"] = f.previous_filename
        return data

    def _commit_json(self, repo: FakeRepo, commit: CommitData, *, with_files: bool) -> dict[str, Any]:
        author = {"name": commit.author_name or commit.author, "email": commit.author_email, "date": commit.date}
        data: dict[str, Any] = {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:8]}",
            "url": self._api(f"/repos/{repo.full_name}/commits/{commit.sha}"),
            "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
            "commit": {
                "message": commit.message,
                "author": author,
                "committer": author,
                "tree": {"sha": _sha("tree", commit.sha)},
                "comment_count": 0,
            },
            "author": self._user(commit.author),
            "committer": self._user(commit.author),
            "parents": [{"sha": p, "url": self._api(f"/repos/{repo.full_name}/commits/{p}")} for p in commit.parents],
        }
        if with_files:
            additions = sum(f.additions for f in commit.files)
            deletions = sum(f.deletions for f in commit.files)
            data["stats"] = {"additions": additions, "deletions": deletions, "total": additions + deletions}
            data["files"] = [self._file_json(repo, commit.sha, f) for f in commit.files[:300]]
        return data

    def _paginate(
        self,
        items: list[Any],
        *,
        max_items: int | None = None,
        wrap: str | None = None,
    ) -> Response:
        """A page of ``items`` with GitHub's Link header (per_page up to the limit, page from 1)."""
        if max_items is not None:
            items = items[:max_items]
        try:
            per_page = int(request.args.get("per_page", 30))
            page = int(request.args.get("page", 1))
        except ValueError:
            raise ApiError(422, "Invalid pagination parameters") from None
        per_page = max(1, min(per_page, self.limits.per_page_max))
        page = max(1, page)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        if page < last:
            links += [(page + 1, "next"), (last, "last")]
        if page > 1:
            links += [(1, "first"), (page - 1, "prev")]
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        header = ", ".join(
            f'<{request.base_url}?{urlencode({**args, "per_page": per_page, "page": n})}>; rel="{rel}"'
            for n, rel in links
        )
        response = self._json({"total_count": len(items), wrap: chunk} if wrap else chunk)
        if header:
            response.headers["Link"] = header
        return response

    # -- endpoints: the App -------------------------------------------------------------------

    def _get_app(self) -> Response:
        self._require_jwt()
        return self._json({"id": self.app_id, "slug": "image-review", "name": "image-review"})

    def _access_token(self, installation_id: int) -> Response:
        self._require_jwt()
        if installation_id not in self.installations:
            raise ApiError(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = self.clock() + self.limits.token_lifetime
        self.tokens[token] = (installation_id, expires)
        body = {
            "token": token,
            "expires_at": _iso(expires),
            "permissions": {"checks": "write", "pull_requests": "write", "contents": "read", "issues": "write"},
            "repository_selection": "selected",
        }
        return self._json(body, 201)

    def _list_installations(self) -> Response:
        self._require_jwt()
        listed = [{"id": i.id, "account": self._user(i.account), "repository_selection":
                   "all" if i.repos is None else "selected"} for i in self.installations.values()]
        return self._paginate(listed)

    def _installation_repositories(self) -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if grant is None or grant[1] <= self.clock():
            raise ApiError(401, "Bad credentials")
        g.token = token
        installation = self.installations[grant[0]]
        repos = [self._repo_json(r) for name, r in sorted(self.repos.items())
                 if not r.public and self._can_access(installation, name)]
        return self._paginate(repos, wrap="repositories")

    def _list_deliveries(self) -> Response:
        self._require_jwt()
        return self._paginate(list(reversed(self.deliveries)))

    def _redeliver(self, delivery_id: int) -> Response:
        self._require_jwt()
        if not any(d["id"] == delivery_id for d in self.deliveries):
            raise ApiError(404, "Not Found")
        self.redelivered.append(delivery_id)
        return self._json({}, 202)

    # -- endpoints: repositories, pulls, commits, contents ------------------------------------

    def _get_repo(self, owner: str, name: str) -> Response:
        return self._json(self._repo_json(self._require_repo(owner, name)))

    def _pull(self, repo: FakeRepo, number: int) -> PullData:
        pull = repo.pulls.get(number)
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull

    def _get_pull(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        if "diff" in request.headers.get("Accept", ""):
            self._check_diff_size(pull)
            return Response(pull.diff, content_type="application/vnd.github.diff; charset=utf-8")
        return self._json(self._pull_json(repo, pull))

    def _check_diff_size(self, pull: PullData) -> None:
        lines = sum(f.additions + f.deletions for f in pull.files)
        if len(pull.files) > self.limits.diff_max_files:
            what = f"the maximum number of files ({self.limits.diff_max_files})"
        elif lines > self.limits.diff_max_lines:
            what = f"the maximum number of lines ({self.limits.diff_max_lines})"
        else:
            return
        raise ApiError(
            406,
            f"Sorry, the diff exceeded {what}. Consider using 'List pull requests files' API "
            "or locally cloning the repository instead.",
            errors=[{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
        )

    def _pull_files(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        files = [self._file_json(repo, pull.head_sha, f) for f in pull.files]
        return self._paginate(files, max_items=self.limits.files_max)

    def _pull_commits(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        commits = [self._commit_json(repo, c, with_files=False) for c in pull.commits]
        return self._paginate(commits, max_items=self.limits.commits_max)

    def _get_commit(self, owner: str, name: str, sha: str) -> Response:
        repo = self._require_repo(owner, name)
        commit = repo.commits.get(sha) or next(
            (c for s, c in repo.commits.items() if len(sha) >= 7 and s.startswith(sha)), None
        )
        if commit is None:
            raise ApiError(422, f"No commit found for SHA: {sha}")
        if "diff" in request.headers.get("Accept", ""):
            diff = commit.diff or diff_from_files(commit.files)
            return Response(diff, content_type="application/vnd.github.diff; charset=utf-8")
        return self._json(self._commit_json(repo, commit, with_files=True))

    def _get_blob(self, owner: str, name: str, sha: str) -> Response:
        repo = self._require_repo(owner, name)
        text = repo.blobs.get(sha)
        if text is None:
            raise ApiError(404, "Not Found")
        return self._json(
            {
                "sha": sha,
                "node_id": f"B_{sha[:8]}",
                "size": len(text.encode("utf-8")),
                "url": self._api(f"/repos/{repo.full_name}/git/blobs/{sha}"),
                "content": _b64_lines(text),
                "encoding": "base64",
            }
        )

    def _get_contents(self, owner: str, name: str, path: str = "") -> Response:
        repo = self._require_repo(owner, name)
        ref = request.args.get("ref") or repo.default_branch
        files = repo.files.get(ref, {})
        path = path.strip("/")
        if path in files:
            return self._file_contents(repo, ref, path, files[path])
        prefix = path + "/" if path else ""
        children = sorted({p[len(prefix) :].split("/", 1)[0] for p in files if p.startswith(prefix)})
        if not children:
            raise ApiError(404, "Not Found")
        entries = [
            {
                "type": "file" if f"{prefix}{child}" in files else "dir",
                "name": child,
                "path": f"{prefix}{child}",
                "sha": _git_blob_sha(files.get(f"{prefix}{child}", child)),
            }
            for child in children
        ]
        return self._json(entries)

    def _file_contents(self, repo: FakeRepo, ref: str, path: str, text: str) -> Response:
        sha = _git_blob_sha(text)
        etag = f'"{sha}"'
        wanted = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
        if etag in wanted:
            response = Response(status=304)
            response.headers["ETag"] = etag
            return response
        size = len(text.encode("utf-8"))
        too_big = size > self.limits.contents_max_bytes
        data = {
            "type": "file",
            "encoding": "none" if too_big else "base64",
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": "" if too_big else _b64_lines(text),
            "sha": sha,
            "url": self._api(f"/repos/{repo.full_name}/contents/{path}?ref={ref}"),
            "git_url": self._api(f"/repos/{repo.full_name}/git/blobs/{sha}"),
            "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
        }
        response = self._json(data)
        response.headers["ETag"] = etag
        return response

    # -- endpoints: check runs ----------------------------------------------------------------

    def _create_check_run(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        body = self._body_object()
        if not body.get("name") or not body.get("head_sha"):
            raise ApiError(422, 'Invalid request.\n\n"name" and "head_sha" are required.')
        run_id = next(self._ids)
        now = _iso(self.clock())
        run: dict[str, Any] = {
            "id": run_id,
            "name": body["name"],
            "head_sha": body["head_sha"],
            "external_id": body.get("external_id", ""),
            "details_url": body.get("details_url"),
            "status": "queued",
            "conclusion": None,
            "started_at": body.get("started_at", now),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None},
        }
        annotations = self._apply_check_update(run, body)
        repo.check_runs[run_id] = run
        repo.annotations[run_id] = annotations
        return self._json(self._check_run_json(repo, run), 201)

    def _check_run(self, owner: str, name: str, run_id: int) -> Response:
        repo = self._require_repo(owner, name)
        run = repo.check_runs.get(run_id)
        if run is None:
            raise ApiError(404, "Not Found")
        if request.method == "PATCH":
            repo.annotations[run_id].extend(self._apply_check_update(run, self._body_object()))
        return self._json(self._check_run_json(repo, run))

    def _apply_check_update(self, run: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
        """Validate as GitHub does, update ``run`` in place, return the new annotations."""
        status = body.get("status")
        conclusion = body.get("conclusion")
        if status is not None and status not in ("queued", "in_progress", "completed"):
            raise ApiError(422, f"Invalid request.\n\n{status!r} is not a valid status.")
        if status == "completed" and not conclusion:
            raise ApiError(422, 'Invalid request.\n\nWhen "status" is "completed", "conclusion" is required.')
        annotations: list[dict[str, Any]] = []
        output = body.get("output")
        if output is not None:
            if not isinstance(output, dict) or not output.get("title") or not output.get("summary"):
                raise ApiError(422, 'Invalid request.\n\n"title" and "summary" are required in "output".')
            annotations = list(output.get("annotations") or [])
            if len(annotations) > self.limits.annotations_per_request:
                raise ApiError(
                    422,
                    f"Invalid request.\n\nOnly {self.limits.annotations_per_request} annotations "
                    "are allowed per request.",
                )
            for annotation in annotations:
                self._check_annotation(annotation)
            run["output"] = {k: output.get(k) for k in ("title", "summary", "text")}
        if conclusion:
            run["conclusion"] = conclusion
            run["status"] = "completed"
            run["completed_at"] = body.get("completed_at", _iso(self.clock()))
        elif status:
            run["status"] = status
        for key in ("name", "details_url", "external_id"):
            if key in body:
                run[key] = body[key]
        return annotations

    @staticmethod
    def _check_annotation(annotation: Any) -> None:
        required = ("path", "start_line", "end_line", "annotation_level", "message")
        if not isinstance(annotation, dict) or any(k not in annotation for k in required):
            raise ApiError(422, f"Invalid request.\n\nAnnotations need {', '.join(required)}.")
        if annotation["annotation_level"] not in ("notice", "warning", "failure"):
            raise ApiError(422, "Invalid request.\n\nannotation_level must be notice, warning or failure.")

    def _check_run_json(self, repo: FakeRepo, run: dict[str, Any]) -> dict[str, Any]:
        url = f"/repos/{repo.full_name}/check-runs/{run['id']}"
        pulls = [
            {"number": p.number, "head": {"sha": p.head_sha, "ref": p.head_ref}, "base": {"sha": p.base_sha}}
            for p in repo.pulls.values()
            if p.head_sha == run["head_sha"]
        ]
        return {
            **run,
            "node_id": f"CR_{run['id']}",
            "url": self._api(url),
            "html_url": f"https://github.com/{repo.full_name}/runs/{run['id']}",
            "output": {
                **run["output"],
                "annotations_count": len(repo.annotations.get(run["id"], [])),
                "annotations_url": self._api(url + "/annotations"),
            },
            "check_suite": {"id": int(_sha("suite", run["head_sha"])[:7], 16)},
            "app": {"id": self.app_id, "slug": "image-review", "name": "image-review"},
            "pull_requests": pulls,
        }

    def _check_run_annotations(self, owner: str, name: str, run_id: int) -> Response:
        repo = self._require_repo(owner, name)
        if run_id not in repo.check_runs:
            raise ApiError(404, "Not Found")
        return self._paginate(repo.annotations[run_id])

    def _commit_check_runs(self, owner: str, name: str, ref: str) -> Response:
        repo = self._require_repo(owner, name)
        runs = [r for r in repo.check_runs.values() if r["head_sha"] == ref]
        if "check_name" in request.args:
            runs = [r for r in runs if r["name"] == request.args["check_name"]]
        if "status" in request.args:
            runs = [r for r in runs if r["status"] == request.args["status"]]
        if request.args.get("filter", "latest") == "latest":
            newest: dict[str, dict[str, Any]] = {}
            for run in runs:
                newest[run["name"]] = run
            runs = list(newest.values())
        runs.sort(key=lambda r: -int(r["id"]))
        return self._paginate([self._check_run_json(repo, r) for r in runs], wrap="check_runs")

    # -- endpoints: reviews and review comments -----------------------------------------------

    def _reviews(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        if request.method == "GET":
            return self._paginate(repo.reviews.get(number, []))
        body = self._body_object()
        comments = body.get("comments") or []
        event = body.get("event")
        commit_id = body.get("commit_id") or pull.head_sha
        if commit_id != pull.head_sha and commit_id not in {c.sha for c in pull.commits}:
            raise ApiError(422, "Unprocessable Entity", errors=["Commit is not part of the pull request"])
        if event == "REQUEST_CHANGES" and not body.get("body"):
            raise ApiError(422, "Unprocessable Entity", errors=["Review body is required"])
        if event == "COMMENT" and not body.get("body") and not comments:
            raise ApiError(422, "Unprocessable Entity", errors=["Review body is required"])
        cap = self.limits.review_comments_max
        if cap is not None and len(comments) > cap:
            raise ApiError(422, "Unprocessable Entity", errors=["Too many review comments"])
        placed = [self._place_comment(pull, c) for c in comments]
        review_id = next(self._ids)
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
        review = {
            "id": review_id,
            "node_id": f"PRR_{review_id}",
            "user": self._user(self.bot_login, bot=True),
            "body": body.get("body", ""),
            "state": state.get(str(event), "PENDING"),
            "commit_id": commit_id,
            "html_url": f"https://github.com/{repo.full_name}/pull/{number}#pullrequestreview-{review_id}",
            "pull_request_url": self._api(f"/repos/{repo.full_name}/pulls/{number}"),
            "submitted_at": _iso(self.clock()),
            "author_association": "NONE",
        }
        repo.reviews.setdefault(number, []).append(review)
        for comment in placed:
            self._store_review_comment(repo, number, comment, review_id=review_id, commit_id=commit_id)
        return self._json(review)

    def _place_comment(self, pull: PullData, comment: Any) -> dict[str, Any]:
        """Check an inline comment against the diff as GitHub does; returns path/line/side/body."""
        if not isinstance(comment, dict) or not comment.get("path") or "body" not in comment:
            raise ApiError(422, "Unprocessable Entity", errors=["Review comments need path and body"])
        changed = next((f for f in pull.files if f.filename == comment["path"]), None)
        if changed is None or changed.patch is None:
            raise ApiError(422, "Unprocessable Entity", errors=["Path could not be resolved"])
        placed = {"path": comment["path"], "body": comment["body"]}
        if "line" in comment:
            side = str(comment.get("side", "RIGHT"))
            lines = changed.lines()[0 if side == "LEFT" else 1]
            wanted = [int(comment["line"])]
            if comment.get("start_line") is not None:
                start = int(comment["start_line"])
                start_side = str(comment.get("start_side", side))
                if start >= wanted[0] or start not in changed.lines()[0 if start_side == "LEFT" else 1]:
                    raise ApiError(422, "Unprocessable Entity", errors=[LINE_MUST_BE_IN_DIFF])
                placed.update(start_line=start, start_side=start_side)
            if any(line not in lines for line in wanted):
                raise ApiError(422, "Unprocessable Entity", errors=[LINE_MUST_BE_IN_DIFF])
            placed.update(line=wanted[0], side=side)
        elif "position" in comment:
            target = diff_position(changed.patch, int(comment["position"]))
            if target is None:
                raise ApiError(422, "Unprocessable Entity", errors=[LINE_MUST_BE_IN_DIFF])
            placed.update(side=target[0], line=target[1], position=int(comment["position"]))
        else:
            raise ApiError(422, "Unprocessable Entity", errors=["Review comments need line or position"])
        return placed

    def _store_review_comment(
        self,
        repo: FakeRepo,
        number: int,
        placed: dict[str, Any],
        *,
        review_id: int | None,
        commit_id: str,
        in_reply_to: int | None = None,
    ) -> dict[str, Any]:
        comment_id = next(self._ids)
        now = _iso(self.clock())
        comment = {
            "id": comment_id,
            "node_id": f"PRRC_{comment_id}",
            "pull_request_review_id": review_id,
            "url": self._api(f"/repos/{repo.full_name}/pulls/comments/{comment_id}"),
            "html_url": f"https://github.com/{repo.full_name}/pull/{number}#discussion_r{comment_id}",
            "pull_request_url": self._api(f"/repos/{repo.full_name}/pulls/{number}"),
            "commit_id": commit_id,
            "original_commit_id": commit_id,
            "user": self._user(self.bot_login, bot=True),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
            "subject_type": "line",
            "original_line": placed.get("line"),
            "start_line": None,
            "start_side": None,
            **placed,
            "_pull": number,
        }
        if in_reply_to is not None:
            comment["in_reply_to_id"] = in_reply_to
        repo.review_comments[comment_id] = comment
        return comment

    @staticmethod
    def _public(comment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if not k.startswith("_")}

    def _list_review_comments(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        self._pull(repo, number)
        comments = [self._public(c) for c in repo.review_comments.values() if c["_pull"] == number]
        return self._paginate(comments)

    def _review_comment(self, owner: str, name: str, comment_id: int) -> Response:
        repo = self._require_repo(owner, name)
        comment = repo.review_comments.get(comment_id)
        if comment is None:
            raise ApiError(404, "Not Found")
        if request.method == "DELETE":
            del repo.review_comments[comment_id]
            return Response(status=204)
        if request.method == "PATCH":
            comment["body"] = self._body_object().get("body", comment["body"])
            comment["updated_at"] = _iso(self.clock())
        return self._json(self._public(comment))

    def _reply(self, owner: str, name: str, number: int, comment_id: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        parent = repo.review_comments.get(comment_id)
        if parent is None or parent["_pull"] != number:
            raise ApiError(404, "Not Found")
        body = self._body_object()
        if not body.get("body"):
            raise ApiError(422, "Unprocessable Entity", errors=["body is required"])
        placed = {"path": parent["path"], "line": parent.get("line"), "side": parent.get("side"), "body": body["body"]}
        reply = self._store_review_comment(
            repo, number, placed, review_id=None, commit_id=pull.head_sha, in_reply_to=comment_id
        )
        return self._json(self._public(reply), 201)

    # -- endpoints: issues, comments, labels --------------------------------------------------

    def _issue_number(self, repo: FakeRepo, number: int) -> None:
        if number not in repo.pulls and number not in repo.issues:
            raise ApiError(404, "Not Found")

    def _get_issue(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        self._issue_number(repo, number)
        if request.method == "PATCH":
            self._edit_issue(repo, number, self._body_object())
        return self._json(self._issue_json(repo, number))

    def _edit_issue(self, repo: FakeRepo, number: int, body: dict[str, Any]) -> None:
        if number in repo.pulls:
            pull = repo.pulls[number]
            pull.title = str(body.get("title", pull.title))
            pull.body = str(body.get("body", pull.body) or "")
            pull.state = self._state(body, pull.state)
            return
        issue = repo.issues[number]
        issue.title = str(body.get("title", issue.title))
        issue.body = str(body.get("body", issue.body) or "")
        new_state = self._state(body, issue.state)
        if new_state != issue.state:
            issue.state_reason = body.get("state_reason") or ("completed" if new_state == "closed" else "reopened")
        issue.state = new_state
        if "labels" in body:
            issue.labels[:] = self._label_names(body)

    @staticmethod
    def _state(body: dict[str, Any], current: str) -> str:
        state = body.get("state", current)
        if state not in ("open", "closed"):
            raise ApiError(422, "Validation Failed", errors=[{"resource": "Issue", "field": "state",
                                                               "code": "invalid"}])
        return str(state)

    def _issues(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        if request.method == "POST":
            body = self._body_object()
            if not body.get("title"):
                raise ApiError(422, "Validation Failed", errors=[{"resource": "Issue", "field": "title",
                                                                   "code": "missing_field"}])
            number = repo.next_number()
            labels = self._label_names(body) if "labels" in body else []
            repo.issues[number] = FakeIssue(number, str(body["title"]), str(body.get("body") or ""),
                                            labels=labels, user=self.bot_login)
            return self._json(self._issue_json(repo, number), 201)
        state = request.args.get("state", "open")
        wanted = [w for w in request.args.get("labels", "").split(",") if w]
        creator = request.args.get("creator")
        numbers = sorted({*repo.issues, *repo.pulls}, reverse=True)
        listed = [self._issue_json(repo, n) for n in numbers]
        listed = [i for i in listed if state == "all" or i["state"] == state]
        listed = [i for i in listed if all(w in {lb["name"] for lb in i["labels"]} for w in wanted)]
        listed = [i for i in listed if creator is None or i["user"]["login"] == creator]
        return self._paginate(listed)

    def _issue_json(self, repo: FakeRepo, number: int) -> dict[str, Any]:
        base = f"/repos/{repo.full_name}"
        data: dict[str, Any] = {
            "url": self._api(f"{base}/issues/{number}"),
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "comments_url": self._api(f"{base}/issues/{number}/comments"),
            "labels_url": self._api(f"{base}/issues/{number}/labels{{/name}}"),
            "id": 200_000 + number,
            "number": number,
            "comments": sum(1 for c in repo.issue_comments.values() if c["_issue"] == number),
        }
        if number in repo.pulls:
            pull = repo.pulls[number]
            data.update(title=pull.title, body=pull.body, state=pull.state, user=self._user(pull.user))
            data["pull_request"] = {"url": self._api(f"{base}/pulls/{number}")}
        else:
            issue = repo.issues[number]
            data.update(title=issue.title, body=issue.body, state=issue.state, user=self._user(issue.user))
            data["closed_at"] = None if issue.state == "open" else "2024-01-02T00:00:00Z"
            data["state_reason"] = issue.state_reason
            data["assignees"] = [self._user(login) for login in issue.assignees]
        data["labels"] = [self._label_json(repo, n) for n in repo.labels_of(number) or []]
        return data

    def _issue_comments(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        self._issue_number(repo, number)
        if request.method == "GET":
            return self._paginate([self._public(c) for c in repo.issue_comments.values() if c["_issue"] == number])
        body = self._body_object()
        if not body.get("body"):
            raise ApiError(422, "Validation Failed", errors=[{"resource": "IssueComment", "code": "missing_field"}])
        comment_id = next(self._ids)
        now = _iso(self.clock())
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": self._api(f"/repos/{repo.full_name}/issues/comments/{comment_id}"),
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": self._api(f"/repos/{repo.full_name}/issues/{number}"),
            "body": body["body"],
            "user": self._user(self.bot_login, bot=True),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
            "_issue": number,
        }
        repo.issue_comments[comment_id] = comment
        return self._json(self._public(comment), 201)

    def _issue_comment(self, owner: str, name: str, comment_id: int) -> Response:
        repo = self._require_repo(owner, name)
        comment = repo.issue_comments.get(comment_id)
        if comment is None:
            raise ApiError(404, "Not Found")
        if request.method == "DELETE":
            del repo.issue_comments[comment_id]
            return Response(status=204)
        if request.method == "PATCH":
            body = self._body_object()
            if not body.get("body"):
                raise ApiError(422, "Validation Failed", errors=[{"resource": "IssueComment", "code": "missing_field"}])
            comment["body"] = body["body"]
            comment["updated_at"] = _iso(self.clock())
        return self._json(self._public(comment))

    def _labels(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        labels = repo.labels_of(number)
        if labels is None:
            raise ApiError(404, "Not Found")
        if request.method in ("POST", "PUT"):
            wanted = self._label_names(request.get_json(silent=True))
            if request.method == "PUT":
                labels.clear()
            labels.extend(n for n in wanted if n not in labels)
        elif request.method == "DELETE":
            labels.clear()
            return Response(status=204)
        return self._json([self._label_json(repo, n) for n in labels])

    @staticmethod
    def _label_names(body: Any) -> list[str]:
        items = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise ApiError(422, "Invalid request.\n\nlabels must be a list.")
        names = [item.get("name") if isinstance(item, dict) else item for item in items]
        if not all(isinstance(n, str) and n for n in names):
            raise ApiError(422, "Invalid request.\n\nlabels must be strings.")
        return [str(n) for n in names]

    def _remove_label(self, owner: str, name: str, number: int, label: str) -> Response:
        repo = self._require_repo(owner, name)
        labels = repo.labels_of(number)
        if labels is None:
            raise ApiError(404, "Not Found")
        if label not in labels:
            raise ApiError(404, "Label does not exist")
        labels.remove(label)
        return self._json([self._label_json(repo, n) for n in labels])

    # -- endpoints: the git data API, pull requests from branches, archives -------------------

    def _git_object(self, repo: FakeRepo, kind: str, sha: str) -> dict[str, Any]:
        return {"sha": sha, "url": self._api(f"/repos/{repo.full_name}/git/{kind}/{sha}")}

    def _create_blob(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        body = self._body_object()
        content = body.get("content")
        if not isinstance(content, str):
            raise ApiError(422, "Invalid request.\n\n\"content\" wasn't supplied.")
        data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode("utf-8")
        sha = repo.git.put_blob(data)
        repo.blobs[sha] = data.decode("utf-8", "replace")
        return self._json(self._git_object(repo, "blobs", sha), 201)

    def _create_tree(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        body = self._body_object()
        entries = body.get("tree")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ApiError(422, "Invalid request.\n\n\"tree\" wasn't supplied.")
        sha = repo.git.create_tree(body.get("base_tree"), entries)
        return self._json(self._tree_json(repo, sha), 201)

    def _tree_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        entries = [
            {"path": path, "mode": "100644", "type": "blob", "sha": blob, "size": len(repo.git.blobs[blob]),
             "url": self._api(f"/repos/{repo.full_name}/git/blobs/{blob}")}
            for path, blob in sorted(repo.git.tree(sha).items())
        ]
        return {**self._git_object(repo, "trees", sha), "tree": entries, "truncated": False}

    def _get_tree(self, owner: str, name: str, sha: str) -> Response:
        repo = self._require_repo(owner, name)
        ref = repo.git.refs.get(f"heads/{sha}", sha)
        tree = repo.git.commits[ref].tree if ref in repo.git.commits else ref
        return self._json(self._tree_json(repo, tree))

    def _create_git_commit(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        body = self._body_object()
        parents = body.get("parents", [])
        if not isinstance(parents, list):
            raise ApiError(422, "Invalid request.\n\n\"parents\" is not an array.")
        sha = repo.git.create_commit(str(body.get("message") or ""), str(body.get("tree") or ""),
                                     [str(p) for p in parents], date=_iso(self.clock()))
        return self._json(self._git_commit_json(repo, sha), 201)

    def _git_commit_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        commit = repo.git.commit(sha)
        person = {"name": commit.author, "email": commit.email, "date": commit.date}
        return {
            **self._git_object(repo, "commits", sha),
            "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "message": commit.message,
            "author": person,
            "committer": person,
            "tree": self._git_object(repo, "trees", commit.tree),
            "parents": [self._git_object(repo, "commits", p) for p in commit.parents],
        }

    def _get_git_commit(self, owner: str, name: str, sha: str) -> Response:
        repo = self._require_repo(owner, name)
        return self._json(self._git_commit_json(repo, sha))

    def _ref_json(self, repo: FakeRepo, ref: str) -> dict[str, Any]:
        sha = repo.git.refs[ref]
        return {"ref": f"refs/{ref}", "node_id": f"REF_{sha[:8]}", "url": self._api(f"/repos/{repo.full_name}/git/"
                                                                                       f"refs/{ref}"),
                "object": {"type": "commit", **self._git_object(repo, "commits", sha)}}

    def _get_ref(self, owner: str, name: str, ref: str) -> Response:
        repo = self._require_repo(owner, name)
        if ref not in repo.git.refs:
            raise ApiError(404, "Not Found")
        return self._json(self._ref_json(repo, ref))

    def _matching_refs(self, owner: str, name: str, ref: str) -> Response:
        repo = self._require_repo(owner, name)
        return self._json([self._ref_json(repo, r) for r in sorted(repo.git.refs) if r.startswith(ref)])

    def _create_ref(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        body = self._body_object()
        ref = repo.git.create_ref(str(body.get("ref") or ""), str(body.get("sha") or ""))
        self._ref_moved(repo, ref)
        return self._json(self._ref_json(repo, ref), 201)

    def _update_ref(self, owner: str, name: str, ref: str) -> Response:
        repo = self._require_repo(owner, name)
        if ref.removeprefix("refs/") == f"heads/{repo.default_branch}" and repo.protect_default:
            raise ApiError(422, "Cannot update the default branch: it is protected")
        if request.method == "DELETE":
            repo.git.delete_ref(ref)
            return Response(status=204)
        body = self._body_object()
        name_ = repo.git.update_ref(ref, str(body.get("sha") or ""), force=bool(body.get("force", False)))
        self._ref_moved(repo, name_)
        return self._json(self._ref_json(repo, name_))

    def _ref_moved(self, repo: FakeRepo, ref: str) -> None:
        """A branch moved: its contents, its new commits and the pull requests on it follow."""
        if not ref.startswith("heads/"):
            return
        branch, sha = ref.removeprefix("heads/"), repo.git.refs[ref]
        files = repo.git.files(sha)
        repo.files[branch] = dict(files)
        repo.files[sha] = dict(files)
        for text in files.values():
            repo.blobs[_git_blob_sha(text)] = text
        for commit_sha in repo.git.ancestors(sha):
            if commit_sha in repo.commits:
                break
            repo.commits[commit_sha] = self._commit_data(repo, commit_sha)
        for pull in repo.pulls.values():
            if pull.state == "open" and branch in (pull.head_ref, pull.base_ref) and pull.head_ref in {
                    r.removeprefix("heads/") for r in repo.git.refs}:
                self._refresh_pull(repo, pull)

    def _commit_data(self, repo: FakeRepo, sha: str) -> CommitData:
        commit = repo.git.commit(sha)
        before = repo.git.files(commit.parents[0]) if commit.parents else {}
        return CommitData(sha, commit.message, author=commit.author, date=commit.date,
                          diff=tree_diff(before, repo.git.files(sha)), parents=list(commit.parents))

    def _refresh_pull(self, repo: FakeRepo, pull: PullData) -> None:
        head = repo.git.refs[f"heads/{pull.head_ref}"]
        base = repo.git.refs[f"heads/{pull.base_ref}"]
        reachable = set(repo.git.ancestors(base))
        merge_base = next((s for s in repo.git.ancestors(head) if s in reachable), base)
        pull.head_sha, pull.base_sha = head, base
        pull.commits = [repo.commits.get(c.sha) or self._commit_data(repo, c.sha)
                        for c in repo.git.commits_between(base, head)]
        pull.diff = tree_diff(repo.git.files(merge_base), repo.git.files(head))
        pull.files = files_from_diff(pull.diff)

    def _pulls(self, owner: str, name: str) -> Response:
        repo = self._require_repo(owner, name)
        if request.method == "GET":
            state = request.args.get("state", "open")
            head = request.args.get("head")
            base = request.args.get("base")
            pulls = [p for _, p in sorted(repo.pulls.items(), reverse=True)
                     if (state == "all" or p.state == state)
                     and (head is None or f"{repo.owner}:{p.head_ref}" == head)
                     and (base is None or p.base_ref == base)]
            return self._paginate([self._pull_json(repo, p) for p in pulls])
        body = self._body_object()
        head_ref = str(body.get("head") or "").split(":", 1)[-1]
        base_ref = str(body.get("base") or "")
        if not body.get("title") or f"heads/{head_ref}" not in repo.git.refs or f"heads/{base_ref}" not in (
                repo.git.refs):
            raise ApiError(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head",
                                                               "code": "invalid"}])
        if any(p.state == "open" and p.head_ref == head_ref and p.base_ref == base_ref for p in repo.pulls.values()):
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {repo.owner}:{head_ref}."}])
        if not repo.git.commits_between(repo.git.refs[f"heads/{base_ref}"], repo.git.refs[f"heads/{head_ref}"]):
            message = f"No commits between {base_ref} and {head_ref}"
            raise ApiError(422, "Validation Failed", errors=[{"resource": "PullRequest", "code": "custom",
                                                               "message": message}])
        pull = PullData(repo.next_number(), head_ref=head_ref, base_ref=base_ref, title=str(body["title"]),
                        body=str(body.get("body") or ""), draft=bool(body.get("draft", False)), user=self.bot_login)
        self._refresh_pull(repo, pull)
        repo.pulls[pull.number] = pull
        return self._json(self._pull_json(repo, pull), 201)

    def _edit_pull(self, owner: str, name: str, number: int) -> Response:
        repo = self._require_repo(owner, name)
        pull = self._pull(repo, number)
        self._edit_issue(repo, number, self._body_object())
        return self._json(self._pull_json(repo, pull))

    def _tarball(self, owner: str, name: str, ref: str) -> Response:
        """As on GitHub: a redirect to a short-lived archive URL that needs no token."""
        repo = self._require_repo(owner, name)
        sha = repo.git.refs.get(f"heads/{ref}", ref)
        if sha not in repo.git.commits:
            raise ApiError(404, "Not Found")
        response = Response(status=302)
        response.headers["Location"] = request.host_url.rstrip("/") + f"/_codeload/{owner}/{name}/{sha}.tar.gz"
        return response

    def _codeload(self, owner: str, name: str, sha: str) -> Response:
        repo = self.repos.get(f"{owner}/{name}")
        if repo is None or sha not in repo.git.commits:
            raise ApiError(404, "Not Found")
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            prefix = f"{owner}-{name}-{sha[:7]}"
            for path, text in sorted(repo.git.files(sha).items()):
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{prefix}/{path}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return Response(gzip.compress(raw.getvalue(), mtime=0), content_type="application/x-gzip")

    @staticmethod
    def _body_object() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return body
