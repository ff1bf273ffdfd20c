"""Findings → GitHub: the check run, inline review comments, the summary comment and labels.

Economy and idempotence rules, each because of how GitHub behaves:

* one check run per head SHA; GitHub *appends* annotations on every update, so annotations a
  run already holds are never sent again (a re-run reuses the run and sends only what it lacks);
  at most 50 annotations go in one request;
* one review per push holding only the new inline comments, at most ``max_inline_comments``
  (GitHub fails large reviews), only on lines inside the diff (else a 422 fails the whole
  review); each comment carries a hidden fingerprint marker, so a finding is commented once
  across pushes; a comment whose finding is gone is deleted, or answered when someone replied;
* one summary comment, found again by its marker and edited in place, not edited when unchanged;
* labels from the payload, so adding or removing one costs a request only when it changes;
* every content-creating request waits for the installation's write pacer;
* a write that would be doubled if carried out twice (creating a check run, a review, a reply
  or the summary; sending annotations) is never sent again blindly after an answer that leaves
  its outcome open (a 5xx, a dropped connection): GitHub's gateway does answer 502 for writes
  that landed. It is noted as unsure in memory before it goes out, and whoever would send it
  again (this review a moment later, or a later attempt of the job) first looks on GitHub.

What we created is remembered (``app.github.memory``) so later reviews need not list it again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from github.CheckRun import CheckRun
from github.GithubException import GithubException, UnknownObjectException
from github.GithubObject import NotSet, Opt
from github.Issue import Issue
from github.Repository import Repository
from requests import ConnectionError as RequestsConnectionError
from requests import Timeout as RequestsTimeout

from app.core.diffs import FileDiff
from app.core.models import Analysis, Finding
from app.github.client import InstallationClient, RetriesExhausted
from app.github.fetch import paginate
from app.github.memory import CheckRunMemory, PullMemory, ReviewMemory
from app.github.pacing import WritePacer
from app.policy.catalog import lookup
from app.policy.engine import label_states
from app.report.inline_comments import (
    InlinePlan,
    OurComment,
    commentable_lines,
    is_bot,
    marker_key,
    member_keys,
    ordered,
    plan_inline,
    resolved_marker,
    scan_review_comments,
)
from app.report.summary import SUMMARY_MARKER, Conclusion, ReviewFacts, check_summary, comment_body, title

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_NAME = "image-review"
DEFAULT_LABEL = "do-not-merge/staging-image"
MAX_INLINE_COMMENTS = 30
ANNOTATIONS_PER_REQUEST = 50
ANNOTATION_LEVEL = {"error": "failure", "warning": "warning", "notice": "notice"}

# Statuses that will not change on a retry: the step is reported and the review goes on.
_PERMANENT = frozenset({403, 404, 410, 422})

# Keys of unsure writes in PullMemory.unsure (check runs and annotations carry their head / id).
UNSURE_COMMENTS = "comments"  # a review or a reply: our inline comments must be listed again
UNSURE_SUMMARY = "summary"  # the summary comment's creation: look for it before creating one
MAX_UNSURE = 50


# ---------------------------------------------------------------------------------------------
# Configuration and inputs


@dataclass(frozen=True)
class LabelConfig:
    """Label names (None: not used): ``staging_image`` while a staging-image error stands,
    ``error`` while any error stands."""

    staging_image: str | None = DEFAULT_LABEL
    error: str | None = None

    def wanted(self, findings: Sequence[Finding]) -> dict[str, bool]:
        return label_states(findings, self.staging_image, self.error)


@dataclass(frozen=True)
class PublishOptions:
    check_name: str = CHECK_NAME
    max_inline_comments: int = MAX_INLINE_COMMENTS
    annotations_per_request: int = ANNOTATIONS_PER_REQUEST
    labels: LabelConfig = LabelConfig()
    app_id: int | None = None  # our App: check runs of other Apps with the same name are not ours
    web_url: str = "https://github.com"  # for details_url (GitHub Enterprise: the server's URL)


@dataclass(frozen=True)
class PullTarget:
    repo: str
    number: int
    head_sha: str
    labels: tuple[str, ...] | None  # None: not known
    event: str = ""
    rerun: bool = False

    @property
    def is_new(self) -> bool:
        """A pull request just opened: nothing of ours can be on it yet."""
        return self.event == "pull_request.opened" and not self.rerun

    @property
    def same_head_again(self) -> bool:
        """An event that reviews a head we may have reviewed before (a push always brings a new one)."""
        return self.rerun or self.event not in ("pull_request.opened", "pull_request.synchronize")

    @property
    def web_path(self) -> str:
        return f"/{self.repo}/pull/{self.number}"


@dataclass
class PublishResult:
    conclusion: Conclusion
    title: str
    check_run_id: int | None = None
    annotations_sent: int = 0
    comments_posted: int = 0
    comments_deleted: int = 0
    resolved_replies: int = 0
    summary: str = "none"  # created | edited | unchanged | none
    labels_added: list[str] = field(default_factory=list)
    labels_removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Pure parts


def decide(analysis: Analysis) -> Conclusion:
    """failure for errors, action_required when every error asks a person to act (change control),
    neutral when something was not analysed and nothing failed, else success."""
    errors = [f for f in analysis.findings if f.severity == "error"]
    if errors:
        return "action_required" if all(asks_for_action(f) for f in errors) else "failure"
    return "neutral" if analysis.not_analysed else "success"


def asks_for_action(finding: Finding) -> bool:
    """A finding of a rule that waits for a person (change control), still standing."""
    if finding.exempted_by is not None or finding.severity == "notice":
        return False
    meta = lookup(finding.rule) or lookup(finding.name)
    return meta is not None and meta.action_required


def annotation(finding: Finding) -> dict[str, Any] | None:
    """The check run annotation of a finding on a line of the head commit (None otherwise)."""
    if finding.line is None or finding.side != "added" or not finding.path:
        return None
    data: dict[str, Any] = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": finding.line,
        "annotation_level": ANNOTATION_LEVEL[finding.severity],
        "title": f"{finding.rule} {finding.name}",
        "message": finding.message,
    }
    if finding.suggestion is not None:
        data["raw_details"] = f"Suggested line:\n{finding.suggestion}"
    return data


def annotation_digest(data: dict[str, Any]) -> str:
    """What makes an annotation the same one again (GitHub's copy or ours), in 16 hex digits."""
    key = "\0".join(
        (
            str(data.get("path")),
            str(data.get("start_line") or 0),
            str(data.get("annotation_level")),
            str(data.get("title") or ""),
            str(data.get("message") or ""),
        )
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# What is on GitHub already


def find_summary(items: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Our summary comment (the oldest, should there be several)."""
    for c in items:
        # The marker opens the comment; a quoted copy further down does not make it ours.
        if is_bot(c) and str(c.get("body") or "").startswith(SUMMARY_MARKER):
            return c
    return None


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# The publisher


class Publisher:
    """Publishes one review of one head: ``start()`` when it begins, ``finish()`` with the analysis."""

    def __init__(
        self,
        client: InstallationClient,
        target: PullTarget,
        *,
        memory: ReviewMemory,
        pacer: WritePacer,
        options: PublishOptions | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.target = target
        self.options = options or PublishOptions()
        self.pacer = pacer
        self.clock = clock
        self._store = memory
        self._repo: Repository = client.github.get_repo(target.repo)
        loaded = memory.load(target.repo, target.number)
        self.memory = loaded if loaded is not None else PullMemory()
        if loaded is None and target.is_new:
            # Written before the first write to GitHub: a retry of this review then trusts it.
            self.memory.comments_known = True
            self.memory.summary_known = True
            self._save()
        self._run: CheckRunMemory | None = self.memory.check_runs.get(target.head_sha)
        if UNSURE_SUMMARY in self.memory.unsure and self.memory.summary_comment_id is None:
            self.memory.summary_known = False  # a summary may have been created: look first
        self._existing_annotations: set[str] | None = None
        self._listed: dict[str, OurComment] | None = None
        self._looked_up = False
        self.result = PublishResult(conclusion="neutral", title="")

    # -- check run --------------------------------------------------------------------------

    def start(self) -> int:
        """The head's check run, in progress: created, or reused on a re-run of the same head."""
        run = self._run or (self._find_run() if self._may_have_run() else None)
        if run is not None:
            existing = self._check_run(run.id)
            edit = partial(
                existing.edit,
                status="in_progress",
                output={"title": "Reviewing…", "summary": "The review is running."},
            )
            self._write_once(None, partial(_call_then, edit, run.id), None)
            run.completed = False
        else:
            create = partial(
                self._repo.create_check_run,
                name=self.options.check_name,
                head_sha=self.target.head_sha,
                status="in_progress",
                started_at=self.clock(),
                external_id=f"{self.target.repo}#{self.target.number}",
                output={"title": "Reviewing…", "summary": "The review is running."},
            )
            run_id = self._write_once(self._run_key(), partial(_id_of, create), self._landed_run)
            run = CheckRunMemory(id=run_id, sent_keys=[])
        self._run = run
        self._remember_run()
        return run.id

    def _run_key(self) -> str:
        return f"check-run:{self.target.head_sha}"

    def _may_have_run(self) -> bool:
        """Whether the head may have a check run memory does not know: a head reviewed before,
        or a creation whose outcome was never learnt."""
        return self.target.same_head_again or self._run_key() in self.memory.unsure

    def _landed_run(self) -> int | None:
        run = self._fetch_run()
        return None if run is None else run.id

    def _find_run(self) -> CheckRunMemory | None:
        """Our newest check run for the head, from GitHub (memory did not know it); asked once."""
        if self._looked_up:
            return self._run
        self._looked_up = True
        run = self._fetch_run()
        self._settle(self._run_key())  # looked: whatever an unsure creation did is known now
        return run

    def _fetch_run(self) -> CheckRunMemory | None:
        response = self.client.raw.request(
            "GET",
            f"/repos/{self.target.repo}/commits/{self.target.head_sha}/check-runs",
            params={"check_name": self.options.check_name, "filter": "latest", "per_page": "100"},
        )
        runs = response.json().get("check_runs") or []
        for run in runs:
            app = run.get("app") or {}
            if self.options.app_id is not None and app.get("id") != self.options.app_id:
                continue
            output = run.get("output") or {}
            return CheckRunMemory(
                id=int(run["id"]),
                annotations_sent=int(output.get("annotations_count") or 0),
                completed=run.get("status") == "completed",
            )
        return None

    def _check_run(self, run_id: int) -> CheckRun:
        return self._repo.get_check_run(run_id)  # lazy: no request

    def _remember_run(self) -> None:
        if self._run is not None:
            self.memory.remember_run(self.target.head_sha, self._run)
            self._save()

    def _annotations_to_send(self, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        run = self._run
        unsure = run is not None and _annotations_key(run.id) in self.memory.unsure
        if run is None or (run.annotations_sent == 0 and not unsure):
            return wanted
        if run.sent_keys is not None and not unsure:
            sent = set(run.sent_keys)
            return [a for a in wanted if annotation_digest(a) not in sent]
        if self._existing_annotations is None:
            # A run we did not fill ourselves (memory lost), or one whose last update may have
            # landed unseen: what it holds is on GitHub.
            items = paginate(
                self.client.raw,
                f"/repos/{self.target.repo}/check-runs/{run.id}/annotations",
                cap=100_000,
            )
            self._existing_annotations = {annotation_digest(a) for a in items}
            run.sent_keys = sorted(self._existing_annotations)
            run.annotations_sent = len(items)
            self._settle(_annotations_key(run.id))
        return [a for a in wanted if annotation_digest(a) not in self._existing_annotations]

    def _landed_annotations(self, run_id: int, expected: int) -> int | None:
        """The run's id once it holds ``expected`` annotations (an update that landed unseen)."""
        response = self.client.raw.request("GET", f"/repos/{self.target.repo}/check-runs/{run_id}")
        output = response.json().get("output") or {}
        return run_id if int(output.get("annotations_count") or 0) >= expected else None

    def complete_check(
        self,
        conclusion: Conclusion,
        title_text: str,
        summary: str,
        annotations: list[dict[str, Any]],
    ) -> None:
        """Complete the head's check run, sending only the annotations it does not hold yet."""
        batches = chunks(self._annotations_to_send(annotations), self.options.annotations_per_request) or [[]]
        # GitHub sends people to details_url for action_required: the pull request itself.
        details: Opt[str] = (
            f"{self.options.web_url.rstrip('/')}{self.target.web_path}" if conclusion == "action_required" else NotSet
        )

        def output(batch: list[dict[str, Any]]) -> dict[str, Any]:
            data: dict[str, Any] = {"title": title_text, "summary": summary}
            if batch:
                data["annotations"] = batch
            return data

        if self._run is None and self._may_have_run():
            self._run = self._find_run()  # a re-run of a head reviewed before: complete that run
        run = self._run
        if run is None:
            # Not started (nothing to review at length): created already completed, one request.
            create = partial(
                self._repo.create_check_run,
                name=self.options.check_name,
                head_sha=self.target.head_sha,
                status="completed",
                conclusion=conclusion,
                completed_at=self.clock(),
                external_id=f"{self.target.repo}#{self.target.number}",
                output=output(batches[0]),
                details_url=details,
            )
            run_id = self._write_once(self._run_key(), partial(_id_of, create), self._landed_run)
            run = self._run = CheckRunMemory(
                id=run_id,
                annotations_sent=len(batches[0]),
                completed=True,
                sent_keys=[annotation_digest(a) for a in batches[0]],
            )
            self._remember_run()
            rest = batches[1:]
            final = False
        else:
            rest = batches
            final = True
        for i, batch in enumerate(rest):
            last = final and i == len(rest) - 1
            check_run = self._check_run(run.id)
            if last:
                edit = partial(
                    check_run.edit,
                    status="completed",
                    conclusion=conclusion,
                    completed_at=self.clock(),
                    output=output(batch),
                    details_url=details,
                )
            else:
                edit = partial(check_run.edit, output=output(batch))
            if batch:
                # GitHub appends annotations: an update that landed unseen must not go twice.
                expected = run.annotations_sent + len(batch)
                landed = partial(self._landed_annotations, run.id, expected)
                self._write_once(_annotations_key(run.id), partial(_call_then, edit, run.id), landed)
            else:
                self._write_once(None, partial(_call_then, edit, run.id), None)
            if last:
                run.completed = True
            run.annotations_sent += len(batch)
            if run.sent_keys is not None:
                run.sent_keys.extend(annotation_digest(a) for a in batch)
            self._remember_run()
        self.result.check_run_id = run.id
        self.result.annotations_sent = sum(len(b) for b in batches)

    def fail(self, title_text: str, summary: str) -> int:
        """Close the head's check run as neutral with an honest message (the review gave up)."""
        run = self._run or self._find_run()
        if run is not None and run.completed:
            return run.id  # a finished review stands; a failure after it changes nothing it said
        self._run = run
        self.complete_check("neutral", title_text, summary, [])
        assert self._run is not None
        return self._run.id

    # -- the whole review -------------------------------------------------------------------

    def finish(
        self,
        analysis: Analysis,
        *,
        files: Sequence[FileDiff],
        local_paths: Iterable[str] = (),
        facts: ReviewFacts,
        labels: LabelConfig | None = None,
    ) -> PublishResult:
        """Publish the analysis: inline comments, resolutions, summary comment, labels, check run.

        The check run is completed last, so a review that fails half-way stays in progress
        (and is retried, or closed as neutral by the give-up hook) rather than looking done.
        """
        conclusion = decide(analysis)
        self.result.conclusion = conclusion
        facts.max_inline = self.options.max_inline_comments
        facts.problems = self.result.problems
        active = bool(analysis.references or analysis.findings)
        ours = self._our_comments(needed=active or bool(self.memory.comments))
        ours, stale = self._stale_merged(analysis, ours)
        plan = plan_inline(
            analysis.findings,
            commentable_lines(files, local_paths),
            (set(ours) | set(self.memory.comments) | set(self.memory.resolved)) - stale,
            self.options.max_inline_comments,
        )
        facts.shown = plan.shown
        self._post_review(plan, facts)
        self._resolve_gone(analysis, ours, replaced=_replaced(stale, analysis, plan))
        self._upsert_summary(analysis, conclusion, facts, wanted=active or bool(analysis.not_analysed))
        self._apply_labels(analysis, labels or self.options.labels)
        head_title = title(analysis, conclusion)
        self.result.title = head_title
        annotations = [a for a in (annotation(f) for f in ordered(analysis.findings)) if a is not None]
        self.complete_check(conclusion, head_title, check_summary(analysis, conclusion, facts), annotations)
        return self.result

    # -- inline comments --------------------------------------------------------------------

    def _our_comments(self, *, needed: bool) -> dict[str, OurComment]:
        """Our inline comments as GitHub has them, listed only when memory cannot answer."""
        if UNSURE_COMMENTS in self.memory.unsure:
            return self._list_our_comments()  # a review or reply may have landed unseen
        if not needed or self.memory.comments_known:
            return {}
        return self._list_our_comments()

    def _list_our_comments(self, *, fresh: bool = False) -> dict[str, OurComment]:
        if self._listed is not None and not fresh:
            return self._listed
        items = paginate(self.client.raw, f"/repos/{self.target.repo}/pulls/{self.target.number}/comments", 10_000)
        ours = self._listed = scan_review_comments(items)
        self.memory.comments = {k: c.id for k, c in ours.items() if not c.resolved}
        self.memory.resolved = {k: c.id for k, c in ours.items() if c.resolved}
        self.memory.comments_known = True
        self._settle(UNSURE_COMMENTS)
        self._save()
        return ours

    def _landed_review(self, keys: list[str]) -> int | None:
        """Non-zero once our comments for these findings are on GitHub (a review is all or nothing)."""
        ours = self._list_our_comments(fresh=True)
        return 1 if any(key in ours for key in keys) else None

    def _landed_reply(self, key: str) -> int | None:
        comment = self._list_our_comments(fresh=True).get(key)
        return comment.id if comment is not None and comment.resolved else None

    def _post_review(self, plan: InlinePlan, facts: ReviewFacts) -> None:
        if not plan.new:
            return
        comments: list[Any] = [
            {"path": c.path, "line": c.line, "side": "RIGHT", "body": c.body} for c in plan.new
        ]
        posted = [f for c in plan.new for f in c.findings]
        tally = ", ".join(
            f"{n} {severity}{'s' if n > 1 else ''}"
            for severity in ("error", "warning", "notice")
            if (n := sum(1 for f in posted if f.severity == severity))
        )
        body = f"image-review: new on this push: {tally}. The summary comment and the check run have the rest."
        pull = self._repo.get_pull(self.target.number)
        commit = self._repo.get_commit(self.target.head_sha)
        create = partial(pull.create_review, commit=commit, body=body, event="COMMENT", comments=comments)
        keys = [c.key for c in plan.new]
        try:
            self._write_once(UNSURE_COMMENTS, partial(_id_of, create), partial(self._landed_review, keys))
        except GithubException as exc:
            if exc.status not in _PERMANENT or isinstance(exc, RetriesExhausted):
                raise
            self._settle(UNSURE_COMMENTS)  # refused: nothing landed
            self._save()
            # A 422 fails the whole review: its findings stay in the summary and the annotations.
            for f in posted:
                plan.shown[f.fingerprint] = "annotation (GitHub refused the inline comment)"
            self.result.problems.append(f"the inline comments could not be posted: {_message(exc)}")
            return
        for c in plan.new:
            # The review's answer does not list comment ids; 0 = posted, id looked up when needed.
            self.memory.comments.setdefault(c.key, 0)
        self._save()
        self.result.comments_posted = len(plan.new)

    def _stale_merged(
        self, analysis: Analysis, ours: dict[str, OurComment]
    ) -> tuple[dict[str, OurComment], set[str]]:
        """Merged comments some of whose findings are gone and which nobody answered.

        Their text speaks of findings that no longer stand: the rest get a fresh comment and the
        old one is deleted. A comment someone answered is kept as it is (the thread is theirs).
        """
        current = _standing(analysis)
        partial = [k for k in self.memory.comments if _partly_gone(k, current)]
        if not partial:
            return ours, set()
        if any(k not in ours for k in partial):
            ours = self._list_our_comments()  # memory does not know whether someone replied
        return ours, {k for k in partial if k in ours and not ours[k].replied}

    def _resolve_gone(self, analysis: Analysis, ours: dict[str, OurComment], replaced: set[str]) -> None:
        """Delete our comments whose findings are all gone, or answer them when someone replied.

        A merged comment stays while one of its findings stands, unless a fresh comment for those
        findings replaced it (``replaced``, never answered by anyone): then it is deleted.
        """
        current = _standing(analysis)
        gone = [k for k in self.memory.comments if k in replaced or not any(m in current for m in member_keys(k))]
        if not gone:
            return
        if any(k not in ours or self.memory.comments.get(k) == 0 for k in gone):
            # Memory knows the finding was commented, not whether someone replied since.
            ours = self._list_our_comments()
        pull = self._repo.get_pull(self.target.number)
        for key in gone:
            comment = ours.get(key)
            if comment is None:
                self.memory.comments.pop(key, None)  # deleted by someone: nothing left to do
                continue
            if comment.resolved:
                self.memory.comments.pop(key, None)
                self.memory.resolved[key] = comment.id
                continue
            if comment.replied:
                text = f"Resolved in {self.target.head_sha}.\n\n{resolved_marker(key)}"
                send = partial(_id_of, partial(pull.create_review_comment_reply, comment.id, text))
                reply = partial(self._write_once, UNSURE_COMMENTS, send, partial(self._landed_reply, key))
                done = self._soft("answer a resolved comment", reply)
                if done is not None:
                    self.memory.comments.pop(key, None)
                    self.memory.resolved[key] = comment.id
                    self.result.resolved_replies += 1
            else:
                review_comment = pull.get_review_comment(comment.id)  # lazy: no request
                try:
                    self._write(review_comment.delete)
                except UnknownObjectException:
                    pass  # already gone
                except GithubException as exc:
                    if exc.status not in _PERMANENT or isinstance(exc, RetriesExhausted):
                        raise
                    self.result.problems.append(f"an outdated inline comment could not be deleted: {_message(exc)}")
                    continue
                self.memory.comments.pop(key, None)
                self.result.comments_deleted += 1
            self._save()

    # -- summary comment --------------------------------------------------------------------

    def _upsert_summary(self, analysis: Analysis, conclusion: Conclusion, facts: ReviewFacts, *, wanted: bool) -> None:
        mem = self.memory
        if not wanted and mem.summary_comment_id is None:
            # Nothing to say and no summary we know of to correct. A pull request without image
            # changes is not searched for an old summary: the budget for those is three requests.
            return
        body = comment_body(analysis, conclusion, facts)
        new_digest = digest(body)
        issue = self._repo.get_issue(self.target.number)
        if mem.summary_comment_id is not None:
            if mem.summary_digest == new_digest:
                self.result.summary = "unchanged"
                return
            comment = issue.get_comment(mem.summary_comment_id)  # lazy: no request
            try:
                self._write(lambda: comment.edit(body))
            except UnknownObjectException:
                mem.summary_comment_id = None  # deleted by someone: find or create below
                mem.summary_known = False
            else:
                mem.summary_digest = new_digest
                self._save()
                self.result.summary = "edited"
                return
        if not mem.summary_known:
            found = self._look_for_summary()
            mem.summary_known = True
            self._settle(UNSURE_SUMMARY)
            if found is not None:
                mem.summary_comment_id = int(found["id"])
                mem.summary_digest = digest(str(found.get("body") or ""))
                self._save()
                self._upsert_summary(analysis, conclusion, facts, wanted=True)
                return
        if not wanted:
            return
        create = partial(_id_of, partial(issue.create_comment, body))
        mem.summary_comment_id = self._write_once(UNSURE_SUMMARY, create, self._landed_summary)
        mem.summary_digest = new_digest
        self._save()
        self.result.summary = "created"

    def _look_for_summary(self) -> dict[str, Any] | None:
        items = paginate(self.client.raw, f"/repos/{self.target.repo}/issues/{self.target.number}/comments", 10_000)
        return find_summary(items)

    def _landed_summary(self) -> int | None:
        found = self._look_for_summary()
        return None if found is None else int(found["id"])

    # -- labels -----------------------------------------------------------------------------

    def _apply_labels(self, analysis: Analysis, labels: LabelConfig) -> None:
        current = self.target.labels
        issue = self._repo.get_issue(self.target.number)
        for name, on in labels.wanted(analysis.findings).items():
            present = None if current is None else name in current
            if on and present is not True:
                if self._soft(f"add the label {name!r}", partial(_add_label, issue, name)):
                    self.result.labels_added.append(name)
            elif not on and present is not False:
                try:
                    self._write(partial(issue.remove_from_labels, name))
                except UnknownObjectException:
                    continue  # it was not there (labels unknown beforehand)
                except GithubException as exc:
                    if exc.status not in _PERMANENT or isinstance(exc, RetriesExhausted):
                        raise
                    self.result.problems.append(f"the label {name!r} could not be removed: {_message(exc)}")
                    continue
                self.result.labels_removed.append(name)

    # -- helpers ----------------------------------------------------------------------------

    def _write(self, call: Callable[[], T]) -> T:
        self.pacer.acquire()
        return call()

    def _write_once(
        self,
        key: str | None,
        send: Callable[[], int],
        landed: Callable[[], int | None] | None,
    ) -> int:
        """A write GitHub may carry out although it answers 5xx (or the connection drops);
        returns the id of what was written.

        ``key`` notes the write in memory as unsure until its outcome is known, so that a later
        attempt of the review looks on GitHub before writing it again (None: sending it twice is
        harmless). After an answer that leaves the outcome open, ``landed`` looks now: an id
        means the write is there; None sends it again, with the client's backoff in between.
        """
        if key is not None and key not in self.memory.unsure:
            self.memory.unsure = [*self.memory.unsure, key][-MAX_UNSURE:]
            self._save()
        policy = self.client.retry
        attempt = 1
        began = policy.clock()
        while True:
            try:
                result = self._write(send)
                break
            except (GithubException, RequestsConnectionError, RequestsTimeout) as exc:
                if not _outcome_unknown(exc):
                    raise
                if attempt >= policy.max_attempts:
                    if isinstance(exc, GithubException):
                        raise RetriesExhausted(
                            exc.status,
                            exc.data,
                            dict(exc.headers or {}),
                            method="write",
                            url=f"{self.target.web_path} ({key or 'check run'})",
                            attempts=attempt,
                            elapsed=policy.clock() - began,
                            reason=f"last answer {exc.status}",
                        ) from exc
                    raise
                log.info("a write to %s got %s; looking whether it landed", self.target.web_path, _describe(exc))
            found = landed() if landed is not None else None
            if found is not None:
                result = found
                break
            policy.sleep(min(policy.backoff_max, policy.backoff_factor * 2 ** (attempt - 1)))
            attempt += 1
        self._settle(key)
        return result

    def _settle(self, key: str | None) -> None:
        """The unsure write ``key`` is known now (saved with the caller's next save)."""
        if key is not None and key in self.memory.unsure:
            self.memory.unsure = [k for k in self.memory.unsure if k != key]

    def _soft(self, what: str, call: Callable[[], T]) -> T | None:
        """A write whose permanent failure is reported in the summary instead of failing the review."""
        try:
            return self._write(call)
        except GithubException as exc:
            if exc.status not in _PERMANENT or isinstance(exc, RetriesExhausted):
                raise
            self.result.problems.append(f"could not {what}: {_message(exc)}")
            return None

    def _save(self) -> None:
        self._store.save(self.target.repo, self.target.number, self.memory)


def _standing(analysis: Analysis) -> set[str]:
    """Marker keys of every finding that stands, the places a grouped finding covers included: a
    comment on one of them (posted before the grouping, or before its anchor moved) is not resolved."""
    keys = {marker_key(f.fingerprint) for f in analysis.findings}
    keys.update(marker_key(place.fingerprint) for f in analysis.findings for place in f.also if place.fingerprint)
    return keys


def _annotations_key(run_id: int) -> str:
    return f"annotations:{run_id}"


def _id_of(create: Callable[[], Any]) -> int:
    return int(create().id)


def _call_then(call: Callable[[], object], value: int) -> int:
    call()
    return value


def _outcome_unknown(exc: Exception) -> bool:
    """Whether GitHub may have carried out the request this error answered."""
    if isinstance(exc, RetriesExhausted):
        return False  # only rate limits are retried for these writes, and GitHub answers those first
    if isinstance(exc, GithubException):
        return exc.status >= 500
    return True  # the connection dropped or timed out after the request went out


def _describe(exc: Exception) -> str:
    return f"{exc.status}" if isinstance(exc, GithubException) else type(exc).__name__


def _add_label(issue: Issue, name: str) -> bool:
    issue.add_to_labels(name)
    return True


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            message += " (" + "; ".join(str(e.get("message", e) if isinstance(e, dict) else e) for e in errors) + ")"
        if message:
            return f"{exc.status} {message}"
    return f"{exc.status}"


def _partly_gone(key: str, current: set[str]) -> bool:
    members = member_keys(key)
    standing = sum(1 for m in members if m in current)
    return 0 < standing < len(members)


def _replaced(stale: set[str], analysis: Analysis, plan: InlinePlan) -> set[str]:
    """Stale merged comments whose standing findings got their fresh comment in this review."""
    posted = {
        marker_key(f.fingerprint)
        for c in plan.new
        for f in c.findings
        if plan.shown.get(f.fingerprint) == "inline comment"  # not refused by GitHub
    }
    current = {marker_key(f.fingerprint) for f in analysis.findings}
    return {k for k in stale if all(m in posted for m in member_keys(k) if m in current)}
