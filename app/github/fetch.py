"""A pull request's changes from GitHub, by the cheapest route its size allows.

GitHub's limits shape the routes:

* the diff media type (one request) answers 406 above 300 files or 20,000 lines;
* the files API then lists up to 3,000 files with their patches, but omits ``patch`` for large
  files: those get their two blobs fetched and diffed here (difflib), within bounds;
* the commits list stops at 250, and the commits list carries no files: each commit's diff is
  one more request, so commits are fetched only when the change touches image references.

What still cannot be analysed is named in ``ChangeSet.not_analysed``, never skipped silently.
The policy file is read from the base branch (a pull request cannot relax the rules that judge
it); when the pull request changes it, the head version is read too, for the policy diff.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from github.GithubException import GithubException

from app.analysis.analyze import ChangeSet, touches_images
from app.core.diffs import Commit, FileDiff, parse_diff
from app.core.extract import split_reads_needed
from app.core.models import Side
from app.github.client import DiffTooLarge, InstallationClient, RawClient
from app.jobs.model import ReviewJob
from app.policy.config import POLICY_PATH

log = logging.getLogger(__name__)

# GitHub's own limits (documented REST API behaviour).
DIFF_MAX_FILES = 300
DIFF_MAX_LINES = 20_000
FILES_API_MAX = 3_000
COMMITS_API_MAX = 250
PER_PAGE = 100

Route = Literal["diff", "files"]


class PullNotFound(Exception):
    """The pull request is gone or the installation cannot see it."""


@dataclass(frozen=True)
class FetchLimits:
    """Our own bounds on work per review."""

    max_commit_diffs: int = 50  # more commits than this: the commit sequence is not checked
    max_local_diffs: int = 20  # files whose blobs are fetched and diffed here
    max_blob_bytes: int = 5_000_000  # per side; larger files are not diffed here
    max_split_reads: int = 20  # files read whole for split references whose keys are outside the diff


@dataclass(frozen=True)
class PullInfo:
    """What the review needs about the pull request, from the webhook payload or one GET."""

    repo: str
    number: int
    head_sha: str
    base_sha: str
    base_ref: str
    labels: tuple[str, ...] | None  # None: not known (the payload did not carry them)
    draft: bool = False
    state: str = "open"
    changed_files: int | None = None  # known only from the PR JSON
    changed_lines: int | None = None
    html_url: str | None = None

    @classmethod
    def from_json(cls, repo: str, data: dict[str, Any]) -> PullInfo:
        head = data.get("head") or {}
        base = data.get("base") or {}
        additions = data.get("additions")
        deletions = data.get("deletions")
        lines = additions + deletions if isinstance(additions, int) and isinstance(deletions, int) else None
        return cls(
            repo=repo,
            number=int(data["number"]),
            head_sha=str(head.get("sha") or ""),
            base_sha=str(base.get("sha") or ""),
            base_ref=str(base.get("ref") or ""),
            labels=tuple(str(label["name"]) for label in data.get("labels") or [] if isinstance(label, dict)),
            draft=bool(data.get("draft", False)),
            state=str(data.get("state") or "open"),
            changed_files=data.get("changed_files") if isinstance(data.get("changed_files"), int) else None,
            changed_lines=lines,
            html_url=data.get("html_url") if isinstance(data.get("html_url"), str) else None,
        )


def needs_pull_json(job: ReviewJob) -> bool:
    """Whether the payload left out something the review needs (head, base, labels)."""
    if not job.head_sha or not (job.base_ref or job.base_sha):
        return True
    # check_run / check_suite payloads carry no labels: without them the label step would guess.
    return job.event.startswith(("check_run", "check_suite"))


def resolve_pull(client: InstallationClient, job: ReviewJob) -> PullInfo:
    """The pull request as the payload describes it, or as one GET describes it when it falls short."""
    if not needs_pull_json(job):
        return PullInfo(
            repo=job.repo,
            number=job.pr_number,
            head_sha=job.head_sha,
            base_sha=job.base_sha,
            base_ref=job.base_ref,
            labels=job.labels,
            draft=job.draft,
        )
    response = client.raw.request("GET", f"/repos/{job.repo}/pulls/{job.pr_number}", expect=(200, 404))
    if response.status_code == 404:
        raise PullNotFound(f"{job.repo}#{job.pr_number} was not found (deleted, or the App lost access)")
    info = PullInfo.from_json(job.repo, response.json())
    if job.head_sha and job.head_sha != info.head_sha:
        # A re-run asked for an older head: review that commit, the one the check run belongs to.
        info = dataclasses.replace(info, head_sha=job.head_sha)
    return info


@dataclass
class FetchedFiles:
    files: list[FileDiff]
    route: Route
    # Files whose diff was computed here: GitHub has no diff lines for them, so no inline comments.
    local_paths: set[str] = field(default_factory=set)
    not_analysed: list[str] = field(default_factory=list)


@dataclass
class FetchedPolicy:
    base_text: str | None  # None: no policy file at the base (defaults apply)
    head_text: str | None  # set only when the pull request changes the policy file
    changed: bool = False
    not_analysed: list[str] = field(default_factory=list)


@dataclass
class FetchedCommits:
    commits: list[Commit] | None  # None: not checked (see not_analysed)
    listed: int = 0
    diffs_fetched: int = 0
    not_analysed: list[str] = field(default_factory=list)


@dataclass
class FetchedSplitFiles:
    """Whole files read for split references (a Helm ``tag:`` whose ``repository:`` is out of the hunk)."""

    texts: dict[tuple[str, Side], str] = field(default_factory=dict)
    requests: int = 0
    not_analysed: list[str] = field(default_factory=list)

    def reader(self, path: str, side: Side) -> str | None:
        return self.texts.get((path, side))

    def notes(self) -> list[str]:
        if not self.texts:
            return []
        files = len({path for path, _ in self.texts})
        return [f"{files} file(s) were read whole ({self.requests} API request(s)) to assemble split image "
                "references whose keys lie outside the diff"]


@dataclass
class Fetched:
    """Everything fetched for one review."""

    change: ChangeSet
    files: FetchedFiles
    policy: FetchedPolicy
    commits: FetchedCommits
    touches_images: bool


class PullFetcher:
    """The fetch steps for one pull request; the review interleaves them with publishing."""

    def __init__(self, client: InstallationClient, pull: PullInfo, limits: FetchLimits | None = None) -> None:
        self.raw: RawClient = client.raw
        self.pull = pull
        self.limits = limits or FetchLimits()
        self._commit_list: list[dict[str, Any]] | None = None
        self._content_requests = 0  # contents and blobs requests, to report what whole files cost

    # -- the whole change -------------------------------------------------------------------

    def files(self) -> FetchedFiles:
        if self._known_too_large():
            return self._files_via_api()
        try:
            text = self.raw.pull_diff(self.pull.repo, self.pull.number)
        except DiffTooLarge:
            return self._files_via_api()
        return FetchedFiles(parse_diff(text.encode("utf-8")), "diff")

    def _known_too_large(self) -> bool:
        files, lines = self.pull.changed_files, self.pull.changed_lines
        return (files is not None and files > DIFF_MAX_FILES) or (lines is not None and lines > DIFF_MAX_LINES)

    def _files_via_api(self) -> FetchedFiles:
        listed = self._paginate(f"/repos/{self.pull.repo}/pulls/{self.pull.number}/files", FILES_API_MAX)
        result = FetchedFiles([], "files")
        sections: list[str] = []
        local = 0
        for item in listed:
            patch = item.get("patch")
            if isinstance(patch, str):
                sections.append(_section(item, patch))
                continue
            path = str(item.get("filename"))
            if int(item.get("changes") or 0) == 0:
                sections.append(_section(item, None))  # binary, or renamed without changes
                continue
            if local >= self.limits.max_local_diffs:
                result.not_analysed.append(
                    f"`{path}`: GitHub omitted its diff (large file) and more than "
                    f"{self.limits.max_local_diffs} such files are in this pull request"
                )
                continue
            local += 1
            section, problem = self._local_diff(item)
            if section is not None:
                sections.append(section)
                result.local_paths.add(path)
            elif problem is not None:
                result.not_analysed.append(f"`{path}`: GitHub omitted its diff (large file) and {problem}")
        result.files = parse_diff("".join(sections).encode("utf-8"))
        total = self.pull.changed_files
        if len(listed) >= FILES_API_MAX or (total is not None and total > len(listed)):
            of = f" of {total}" if total is not None else ""
            result.not_analysed.append(
                f"only the first {len(listed)}{of} changed files were analysed (GitHub lists at most "
                f"{FILES_API_MAX:,} files of a pull request)"
            )
        return result

    def _local_diff(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        """(a git-style diff section for a file GitHub would not diff, why there is none).

        Both None for a binary file: it holds no image references to read.
        """
        path = str(item["filename"])
        old_path = str(item.get("previous_filename") or path)
        status = str(item.get("status") or "modified")
        base = self.merge_base()
        if base is None:
            return None, "the pull request's merge base is unknown"
        try:
            old = "" if status == "added" else self._text_at(old_path, base)
            new = "" if status == "removed" else self._blob_text(str(item.get("sha") or ""))
        except _NotText as exc:
            return None, None if exc.binary else exc.reason
        if old is None or new is None:
            return None, "its content could not be read"
        minus = "/dev/null" if status == "added" else f"a/{old_path}"
        plus = "/dev/null" if status == "removed" else f"b/{path}"
        lines = difflib.unified_diff(old.splitlines(), new.splitlines(), minus, plus, n=3, lineterm="")
        body = "\n".join(lines)
        # difflib writes its own ---/+++ lines; the git header before them carries mode and rename.
        return _header(item) + "\n" + (body + "\n" if body else ""), None

    def _text_at(self, path: str, ref: str) -> str | None:
        self._content_requests += 1
        response = self.raw.request(
            "GET", f"/repos/{self.pull.repo}/contents/{_quote(path)}", params={"ref": ref}, expect=(200, 404)
        )
        if response.status_code == 404:
            return None
        data = response.json()
        if not isinstance(data, dict) or data.get("type") != "file":
            raise _NotText(f"`{path}` at {ref[:12]} is not a file")
        if data.get("encoding") == "base64" and data.get("content"):
            return _decode(base64.b64decode(str(data["content"])), int(data.get("size") or 0), self.limits)
        # The contents API leaves content out above 1 MB; the blobs API serves up to 100 MB.
        return self._blob_text(str(data.get("sha") or ""))

    def _blob_text(self, sha: str) -> str | None:
        if not sha:
            return None
        self._content_requests += 1
        response = self.raw.request("GET", f"/repos/{self.pull.repo}/git/blobs/{sha}", expect=(200, 404))
        if response.status_code == 404:
            return None
        data = response.json()
        size = int(data.get("size") or 0)
        if size > self.limits.max_blob_bytes:
            raise _NotText(f"it is larger than {self.limits.max_blob_bytes:,} bytes")
        if data.get("encoding") != "base64":
            raise _NotText(f"GitHub served it as {data.get('encoding')!r}")
        return _decode(base64.b64decode(str(data.get("content") or "")), size, self.limits)

    # -- whole files for split references -----------------------------------------------------

    def split_files(self, files: list[FileDiff]) -> FetchedSplitFiles:
        """Read, at the head (and the base for removals), only the files whose split references need it."""
        result = FetchedSplitFiles()
        needed = split_reads_needed(files)
        for diff, sides in needed[: self.limits.max_split_reads]:
            for side in sides:
                path = (diff.new_path if side == "added" else diff.old_path) or diff.path
                ref = self.pull.head_sha if side == "added" else (self.merge_base() or self.pull.base_sha)
                before = self._content_requests
                text, problem = self._readable_text(path, ref)
                if problem is not None:
                    result.not_analysed.append(
                        f"`{path}` at {ref[:12]} could not be read for a split image reference ({problem})")
                result.requests += self._content_requests - before
                if text is not None:
                    result.texts[(path, side)] = text
        if len(needed) > self.limits.max_split_reads:
            result.not_analysed.append(
                f"{len(needed) - self.limits.max_split_reads} file(s) with split image references were not read "
                f"whole (more than {self.limits.max_split_reads}); their references stay partial"
            )
        return result

    def _readable_text(self, path: str, ref: str) -> tuple[str | None, str | None]:
        """(the file's text, why there is none)."""
        try:
            text = self._text_at(path, ref)
        except _NotText as exc:
            return None, exc.reason
        except GithubException as exc:
            return None, _reason(exc)
        return text, None if text is not None else "not found"

    # -- commits ----------------------------------------------------------------------------

    def commit_list(self) -> list[dict[str, Any]]:
        if self._commit_list is None:
            path = f"/repos/{self.pull.repo}/pulls/{self.pull.number}/commits"
            self._commit_list = self._paginate(path, COMMITS_API_MAX)
        return self._commit_list

    def merge_base(self) -> str | None:
        """The first commit's parent: what GitHub diffs the pull request against."""
        listing = self.commit_list()
        parents = listing[0].get("parents") if listing else None
        if isinstance(parents, list) and parents and isinstance(parents[0], dict):
            sha = parents[0].get("sha")
            return str(sha) if sha else None
        return None

    def commits(self, whole_change: list[FileDiff]) -> FetchedCommits:
        listing = self.commit_list()
        result = FetchedCommits(None, listed=len(listing))
        if len(listing) >= COMMITS_API_MAX:
            result.not_analysed.append(
                f"the commit sequence was not checked: GitHub lists at most {COMMITS_API_MAX} commits of a "
                "pull request"
            )
            return result
        if len(listing) > self.limits.max_commit_diffs:
            result.not_analysed.append(
                f"the commit sequence was not checked: {len(listing)} commits, more than the "
                f"{self.limits.max_commit_diffs} this App fetches one by one"
            )
            return result
        if len(listing) == 1:
            # One commit: its diff is the pull request's diff (its parent is the merge base).
            result.commits = [_commit(listing[0], whole_change)]
            return result
        commits: list[Commit] = []
        for item in listing:
            sha = str(item.get("sha") or "")
            try:
                text = self.raw.commit_diff(self.pull.repo, sha)
            except DiffTooLarge:
                result.not_analysed.append(f"commit {sha[:12]}: GitHub would not render its diff (too large)")
                commits.append(_commit(item, []))
                continue
            finally:
                result.diffs_fetched += 1
            commits.append(_commit(item, parse_diff(text.encode("utf-8"))))
        result.commits = commits
        return result

    # -- the policy file --------------------------------------------------------------------

    def policy(self, files: list[FileDiff]) -> FetchedPolicy:
        base_ref = self.pull.base_ref or self.pull.base_sha
        result = FetchedPolicy(None, None)
        try:
            # By branch name: the ETag cache then answers later reviews with a free 304.
            result.base_text = self.raw.file_text(self.pull.repo, POLICY_PATH, base_ref)
        except GithubException as exc:
            if exc.status not in (0, 200):
                raise
            result.not_analysed.append(
                f"`{POLICY_PATH}` on `{base_ref}` could not be read ({_reason(exc)}); the default policy was used"
            )
        result.changed = any(POLICY_PATH in (f.old_path, f.new_path) for f in files)
        if result.changed:
            try:
                result.head_text = self.raw.file_text(self.pull.repo, POLICY_PATH, self.pull.head_sha)
            except GithubException as exc:
                if exc.status not in (0, 200):
                    raise
                result.not_analysed.append(
                    f"the pull request's version of `{POLICY_PATH}` could not be read ({_reason(exc)})"
                )
        return result

    # -- helpers ----------------------------------------------------------------------------

    def _paginate(self, path: str, cap: int) -> list[dict[str, Any]]:
        return paginate(self.raw, path, cap)


def paginate(raw: RawClient, path: str, cap: int, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Up to ``cap`` items of a list endpoint, 100 a page, following GitHub's Link header."""
    items: list[dict[str, Any]] = []
    page = 1
    while len(items) < cap:
        response = raw.request("GET", path, params={**(params or {}), "per_page": str(PER_PAGE), "page": str(page)})
        chunk = response.json()
        if not isinstance(chunk, list):
            raise GithubException(response.status_code, chunk, None, f"unexpected answer from GET {path}")
        items.extend(c for c in chunk if isinstance(c, dict))
        if len(chunk) < PER_PAGE or "next" not in response.links:
            break
        page += 1
    return items[:cap]


def fetch_changes(client: InstallationClient, pull: PullInfo, limits: FetchLimits | None = None) -> Fetched:
    """All fetch steps in order (the review runs them one by one to publish in between)."""
    fetcher = PullFetcher(client, pull, limits)
    files = fetcher.files()
    policy = fetcher.policy(files.files)
    touching = touches_images(files.files)
    commits = fetcher.commits(files.files) if touching else FetchedCommits(None)
    splits = fetcher.split_files(files.files) if touching else FetchedSplitFiles()
    return Fetched(assemble(files, policy, commits, splits), files, policy, commits, touching)


def assemble(files: FetchedFiles, policy: FetchedPolicy, commits: FetchedCommits,
             splits: FetchedSplitFiles | None = None) -> ChangeSet:
    splits = splits or FetchedSplitFiles()
    return ChangeSet(
        files=files.files,
        commits=commits.commits,
        policy_text=policy.base_text,
        head_policy_text=policy.head_text,
        reader=splits.reader if splits.texts else None,
        not_analysed=[*files.not_analysed, *policy.not_analysed, *commits.not_analysed, *splits.not_analysed],
        notes=splits.notes(),
    )


class _NotText(Exception):
    def __init__(self, reason: str, *, binary: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.binary = binary


def _decode(data: bytes, size: int, limits: FetchLimits) -> str:
    if max(size, len(data)) > limits.max_blob_bytes:
        raise _NotText(f"it is larger than {limits.max_blob_bytes:,} bytes")
    if b"\0" in data:
        raise _NotText("it is binary", binary=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotText("it is not UTF-8 text") from None


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _reason(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(exc.message) if getattr(exc, "message", None) else f"HTTP {exc.status}"


def _header(item: dict[str, Any]) -> str:
    """The git header lines of a file from the files API (paths, creation, deletion, rename)."""
    path = str(item["filename"])
    old = str(item.get("previous_filename") or path)
    status = str(item.get("status") or "modified")
    lines = [f"diff --git a/{old} b/{path}"]
    if status == "added":
        lines.append("new file mode 100644")
    elif status == "removed":
        lines.append("deleted file mode 100644")
    elif status == "renamed":
        lines += [f"rename from {old}", f"rename to {path}"]
    return "\n".join(lines)


def _section(item: dict[str, Any], patch: str | None) -> str:
    """One file of the files API as a git diff section, so one parser reads both routes."""
    path = str(item["filename"])
    old = str(item.get("previous_filename") or path)
    status = str(item.get("status") or "modified")
    header = _header(item)
    if patch is None:
        if status == "renamed":
            return header + "\n"
        return f"{header}\nBinary files a/{old} and b/{path} differ\n"
    minus = "/dev/null" if status == "added" else f"a/{old}"
    plus = "/dev/null" if status == "removed" else f"b/{path}"
    return f"{header}\n--- {minus}\n+++ {plus}\n{patch.rstrip(chr(10))}\n"


def _commit(item: dict[str, Any], files: list[FileDiff]) -> Commit:
    detail = item.get("commit") or {}
    author = detail.get("author") or {}
    message = str(detail.get("message") or "")
    return Commit(
        sha=str(item.get("sha") or "") or None,
        author=str(author.get("name") or ""),
        date=str(author.get("date") or ""),
        subject=message.split("\n", 1)[0],
        files=files,
    )
