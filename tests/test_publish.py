"""Publishing against the fake GitHub, through PyGithub: check run, annotations, inline comments,
suggestions, resolution of outdated comments, the summary comment, labels, and the give-up path."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from conftest import APP_ID, INSTALLATION_ID, KeyPair
from review_helpers import FAST_CLIENT, human_reply

from app.core.diffs import FileDiff, parse_diff
from app.core.models import Analysis, Finding, Location
from app.github.client import GitHubApp, InstallationClient
from app.github.memory import LocalMemory, PullMemory, SqliteMemory
from app.github.pacing import PaceSettings, WritePacer
from app.github.publish import DEFAULT_LABEL, LabelConfig, Publisher, PublishOptions, PublishResult, PullTarget, decide
from app.jobs.model import JobSuperseded, ReviewJob
from app.report.inline_comments import commentable_lines, inline_body, plan_inline
from app.report.summary import SUMMARY_MARKER, ReviewFacts
from app.service.review import ReviewDeps, ReviewOptions, mark_failed
from app.testing.fake_github import FakeGitHub

pytestmark = pytest.mark.timeout(60)

REPO = "octo-org/app"
PR = 7
BULK = "deploy/bulk.yaml"
MODEL = "pkg/model/components/etcdmanager/model.go"
STAGING_LINE = "  - image: gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428"
RELEASE_LINE = "  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428"


def bulk_diff(n: int = 150) -> str:
    """A new file of ``n`` added lines: every line 1..n is on the diff."""
    body = "".join(f"+  - image: registry.example.com/team/app{i}:v1.{i}\n" for i in range(1, n + 1))
    return f"diff --git a/{BULK} b/{BULK}\nnew file mode 100644\n--- /dev/null\n+++ b/{BULK}\n@@ -0,0 +1,{n} @@\n{body}"


MODEL_DIFF = f"""diff --git a/{MODEL} b/{MODEL}
index 5d0c8a71e2..b94f2c3d18 100644
--- a/{MODEL}
+++ b/{MODEL}
@@ -178,7 +178,7 @@ metadata:
   namespace: kube-system
 spec:
   containers:
-  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220203
+{STAGING_LINE}
     name: etcd-manager
     resources:
       requests:
"""


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def finding(
    line: int | None,
    *,
    path: str = BULK,
    severity: str = "error",
    fp: str | None = None,
    suggestion: str | None = None,
    rule: str = "IR001",
    name: str = "staging-image",
    side: str = "added",
) -> Finding:
    return Finding(
        rule=rule,
        name=name,
        severity=severity,  # type: ignore[arg-type]
        path=path,
        line=line,
        message=f"finding at {path}:{line}",
        fingerprint=fp or sha(f"{rule}{path}{line}"),
        suggestion=suggestion,
        side=side,  # type: ignore[arg-type]
    )


def analysis(findings: list[Finding], **kw: Any) -> Analysis:
    return Analysis(references=[], findings=findings, commits=[], change_pattern="single-commit", **kw)


@dataclass
class World:
    """A pull request on the fake, a client acting as the App, memory, and push helpers."""

    fake: FakeGitHub
    client: InstallationClient
    memory: LocalMemory = field(default_factory=LocalMemory)
    diff: str = ""
    head: str = ""
    labels: tuple[str, ...] = ()
    pushes: int = 0

    def push(self, diff: str | None = None) -> str:
        """A new head for the pull request (labels on it are kept, as on GitHub)."""
        self.pushes += 1
        self.diff = diff if diff is not None else self.diff
        self.head = sha(f"head {self.pushes}")
        repo = self.fake.add_repo(REPO)
        current = repo.pulls[PR].labels if PR in repo.pulls else []
        self.fake.load_pull(
            REPO,
            {"number": PR, "head": {"sha": self.head, "ref": "feature"}, "diff": self.diff, "labels": list(current)},
        )
        self.labels = tuple(current)
        return self.head

    def files(self) -> list[FileDiff]:
        return parse_diff(self.diff.encode())

    def publisher(self, *, event: str = "pull_request.synchronize", rerun: bool = False, **opts: Any) -> Publisher:
        target = PullTarget(REPO, PR, self.head, self.labels, event, rerun)
        return Publisher(
            self.client,
            target,
            memory=self.memory,
            pacer=WritePacer(PaceSettings(per_minute=0)),
            options=PublishOptions(app_id=APP_ID, **opts),
        )

    def review(self, findings: list[Finding], *, start: bool = True, **kw: Any) -> PublishResult:
        publisher = self.publisher(**kw)
        if start:
            publisher.start()
        facts = ReviewFacts(head_sha=self.head, diff_source="the pull request's diff", policy_source="defaults")
        result = publisher.finish(analysis(findings), files=self.files(), facts=facts)
        self.labels = tuple(self.fake.repo(REPO).pulls[PR].labels)  # the next payload's labels
        return result

    # -- what the fake holds --------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        return [r for r in self.fake.repo(REPO).check_runs.values() if r["head_sha"] == self.head]

    def annotations(self, run_id: int) -> list[dict[str, Any]]:
        return self.fake.repo(REPO).annotations[run_id]

    def comments(self) -> list[dict[str, Any]]:
        return [c for c in self.fake.repo(REPO).review_comments.values() if c["_pull"] == PR]

    def summaries(self) -> list[dict[str, Any]]:
        return [c for c in self.fake.repo(REPO).issue_comments.values() if SUMMARY_MARKER in c["body"]]


@pytest.fixture
def world(fake_github: FakeGitHub, rsa_keys: KeyPair) -> Iterator[World]:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, fake_github.base_url, options=FAST_CLIENT)
    with app.client(INSTALLATION_ID) as client:
        w = World(fake_github, client)
        w.push(bulk_diff())
        yield w
    app.close()


# ---------------------------------------------------------------------------------------------
# Pure planning


def test_conclusions() -> None:
    assert decide(analysis([])) == "success"
    assert decide(analysis([finding(1, severity="warning")])) == "success"
    assert decide(analysis([finding(1)])) == "failure"
    assert decide(analysis([], not_analysed=["big.yaml: too large"])) == "neutral"
    assert decide(analysis([finding(1, severity="warning")], not_analysed=["x"])) == "neutral"
    approval = finding(1, rule="IR014", name="critical-image-approval")
    assert decide(analysis([approval])) == "action_required"
    assert decide(analysis([approval, finding(2)])) == "failure"
    assert decide(analysis([replace(approval, severity="notice")])) == "success"


def test_suggestion_block_replaces_exactly_the_commented_line() -> None:
    f = finding(181, path=MODEL, fp="95ff3c785eece0c00ce69ac46020721da8dcbb59", suggestion=RELEASE_LINE)
    f = replace(f, message="`gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428` is a staging image.")
    assert inline_body(f) == (
        "**Error** · `IR001` staging-image\n"
        "\n"
        "`gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220428` is a staging image.\n"
        "\n"
        "```suggestion\n"
        "  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428\n"
        "```\n"
        "\n"
        "<!-- image-review:fingerprint=95ff3c785eece0c00ce69ac46020721da8dcbb59 -->"
    )
    # A line holding backticks gets a longer fence, so the block still ends where it should.
    tricky = inline_body(replace(f, suggestion="echo ```x```"))
    assert "````suggestion\necho ```x```\n````" in tricky


def test_commentable_lines_are_the_lines_of_the_hunks() -> None:
    lines = commentable_lines(parse_diff(MODEL_DIFF.encode()))
    assert lines == {MODEL: frozenset(range(178, 185))}
    assert commentable_lines(parse_diff(MODEL_DIFF.encode()), exclude=[MODEL]) == {}


def test_plan_caps_and_explains() -> None:
    removed = finding(3, side="removed", fp="removed-3")
    findings = [finding(i) for i in range(1, 41)] + [finding(500), removed, finding(None)]
    plan = plan_inline(findings, {BULK: frozenset(range(1, 151))}, set(), 30)
    assert len(plan.new) == 30
    assert [f.line for f in plan.new] == list(range(1, 31))
    assert plan.shown[finding(35).fingerprint] == "over the limit of 30 inline comments: annotation"
    assert plan.shown[finding(500).fingerprint] == "annotation (line not in the diff)"
    assert plan.shown[removed.fingerprint] == "summary (on a removed line)"
    assert plan.shown[finding(None).fingerprint] == "summary (not tied to a line)"


def test_write_pacer_spaces_writes_after_the_burst() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    pacer = WritePacer(PaceSettings(per_minute=60, burst=2), clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.acquire()
    assert slept == pytest.approx([1.0, 1.0, 1.0])


def test_memory_round_trips_through_sqlite(tmp_path: Any) -> None:
    store = SqliteMemory(tmp_path / "m.sqlite3")
    assert store.load(REPO, PR) is None
    memory = PullMemory(summary_comment_id=5, summary_digest="d", comments={"fp": 9}, comments_known=True)
    store.save(REPO, PR, memory)
    assert store.load(REPO, PR) == memory


# ---------------------------------------------------------------------------------------------
# Against the fake


def test_120_findings_annotations_in_batches_of_50_and_30_inline_comments(world: World) -> None:
    findings = [finding(i) for i in range(1, 121)]
    result = world.review(findings, event="pull_request.opened")

    [run] = world.runs()
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert len(world.annotations(run["id"])) == 120
    created = world.fake.calls("POST", f"/repos/{REPO}/check-runs")
    assert [c.json["status"] for c in created] == ["in_progress"]
    patches = [c.json for c in world.fake.calls("PATCH", f"/repos/{REPO}/check-runs/*")]
    assert [len(p["output"].get("annotations", [])) for p in patches] == [50, 50, 20]
    assert [p.get("conclusion") for p in patches] == [None, None, "failure"]
    assert result.annotations_sent == 120

    # One review holding 30 comments, on lines 1..30; the other 90 are named in the summary.
    reviews = world.fake.calls("POST", f"/repos/{REPO}/pulls/{PR}/reviews")
    assert len(reviews) == 1 and len(reviews[0].json["comments"]) == 30
    assert sorted(c["line"] for c in world.comments()) == list(range(1, 31))
    assert all(c["side"] == "RIGHT" for c in world.comments())
    [summary] = world.summaries()
    # The comment's table has 50 rows (30 inline, 20 beyond the limit); the check run's has all 120.
    assert summary["body"].count("over the limit of 30 inline comments") == 20
    assert "… and 70 more (see the check run's annotations)." in summary["body"]
    assert "90 findings beyond the 30 inline comments" in summary["body"]
    assert run["output"]["summary"].count("over the limit of 30 inline comments") == 90


def test_rerun_of_the_same_head_never_resends_annotations(world: World) -> None:
    findings = [finding(i) for i in range(1, 61)]
    world.review(findings, event="pull_request.opened")
    [run] = world.runs()
    assert len(world.annotations(run["id"])) == 60

    world.fake.reset_requests()
    world.review(findings, event="check_run.rerequested", rerun=True)
    assert world.runs() == [run]  # the same run, reused
    assert len(world.annotations(run["id"])) == 60
    assert not world.fake.calls("POST", f"/repos/{REPO}/check-runs")

    # Memory lost (another host): the run is found on GitHub, its annotations are not sent again.
    world.memory = LocalMemory()
    world.fake.reset_requests()
    world.review([*findings, finding(61)], event="check_run.rerequested", rerun=True)
    assert len(world.runs()) == 1
    assert len(world.annotations(run["id"])) == 61  # only the new one was sent
    assert world.fake.calls("GET", f"/repos/{REPO}/commits/{world.head}/check-runs")
    assert world.runs()[0]["conclusion"] == "failure"


def test_comments_only_on_lines_of_the_diff(world: World) -> None:
    world.push(MODEL_DIFF)
    outside = finding(12, path=MODEL, fp="outside")
    context = finding(178, path=MODEL, fp="context", severity="warning")
    added = finding(181, path=MODEL, fp="added", suggestion=RELEASE_LINE)
    result = world.review([outside, context, added], event="pull_request.opened")

    assert result.problems == []  # no 422
    assert sorted((c["path"], c["line"]) for c in world.comments()) == [(MODEL, 178), (MODEL, 181)]
    [summary] = world.summaries()
    assert f"`{MODEL}:12` | finding at {MODEL}:12 | annotation (line not in the diff) |" in summary["body"]
    [run] = world.runs()
    assert sorted(a["start_line"] for a in world.annotations(run["id"])) == [12, 178, 181]


def test_suggestion_posted_on_the_added_line(world: World) -> None:
    world.push(MODEL_DIFF)
    f = finding(181, path=MODEL, fp="95ff3c785eece0c00ce69ac46020721da8dcbb59", suggestion=RELEASE_LINE)
    world.review([f], event="pull_request.opened")
    [comment] = world.comments()
    assert (comment["path"], comment["line"], comment["side"]) == (MODEL, 181, "RIGHT")
    assert f"```suggestion\n{RELEASE_LINE}\n```" in comment["body"]
    assert comment["body"] == inline_body(f)


def test_a_finding_is_commented_once_across_pushes(world: World) -> None:
    f = finding(5, fp="same-finding")
    world.review([f], event="pull_request.opened")
    world.push()
    world.review([replace(f, line=6)])
    assert len(world.fake.calls("POST", f"/repos/{REPO}/pulls/{PR}/reviews")) == 1
    assert len(world.comments()) == 1

    # Memory lost: the marker in the existing comment is found on GitHub instead.
    world.memory = LocalMemory()
    world.push()
    world.review([replace(f, line=7), finding(8, fp="new-finding")])
    reviews = world.fake.calls("POST", f"/repos/{REPO}/pulls/{PR}/reviews")
    assert len(reviews) == 2
    assert [c["line"] for c in reviews[1].json["comments"]] == [8]
    assert len(world.comments()) == 2


def test_outdated_comment_deleted_or_answered_when_someone_replied(world: World) -> None:
    quiet, discussed, stays = finding(1, fp="quiet"), finding(2, fp="discussed"), finding(3, fp="stays")
    world.review([quiet, discussed, stays], event="pull_request.opened")
    by_line = {c["line"]: c for c in world.comments()}
    human_reply(world.fake, REPO, by_line[2]["id"], "Promotion PR is kubernetes/k8s.io#3603.")

    head = world.push()
    result = world.review([stays])
    assert result.comments_deleted == 1 and result.resolved_replies == 1
    remaining = {c["id"]: c for c in world.comments()}
    assert by_line[1]["id"] not in remaining  # deleted: nobody had answered it
    assert by_line[2]["id"] in remaining and by_line[3]["id"] in remaining
    thread = [c for c in remaining.values() if c.get("in_reply_to_id") == by_line[2]["id"]]
    [answer] = [c for c in thread if c["user"]["type"] == "Bot"]
    assert answer["body"].startswith(f"Resolved in {head}.")

    # The next push answers nothing again.
    world.push()
    again = world.review([stays])
    assert again.resolved_replies == 0 and again.comments_deleted == 0


def test_comments_on_places_a_grouped_finding_now_covers_stay(world: World) -> None:
    """Per-reference comments posted before a rule grouped its findings (or before the group's anchor
    moved) stand while their references do: neither deleted nor answered "Resolved"."""
    first, second, third = finding(1, fp="ref-1"), finding(2, fp="ref-2"), finding(3, fp="ref-3")
    world.review([first, second, third], event="pull_request.opened")
    by_line = {c["line"]: c for c in world.comments()}
    human_reply(world.fake, REPO, by_line[2]["id"], "We mirror k8s.gcr.io internally for now.")

    world.push()
    grouped = replace(first, also=(Location(MODEL, 2, "ref-2"), Location(MODEL, 3, "ref-3")))
    result = world.review([grouped])
    assert result.comments_deleted == 0 and result.resolved_replies == 0
    assert {c["id"] for c in world.comments()} >= {by_line[n]["id"] for n in (1, 2, 3)}

    # The third reference fixed: its comment goes, the others stay.
    world.push()
    result = world.review([replace(first, also=(Location(MODEL, 2, "ref-2"),))])
    assert result.comments_deleted == 1
    assert by_line[3]["id"] not in {c["id"] for c in world.comments()}


def test_summary_comment_edited_in_place_across_three_pushes(world: World) -> None:
    world.review([finding(1)], event="pull_request.opened")
    world.push()
    world.review([finding(1), finding(2, severity="warning")])
    world.push()
    world.review([])
    [summary] = world.summaries()
    assert "No findings." in summary["body"]
    assert len(world.fake.calls("POST", f"/repos/{REPO}/issues/{PR}/comments")) == 1
    assert len(world.fake.calls("PATCH", f"/repos/{REPO}/issues/comments/*")) == 2

    # Unchanged: not edited.
    world.push()
    result = world.review([])
    assert result.summary == "unchanged"
    assert len(world.fake.calls("PATCH", f"/repos/{REPO}/issues/comments/*")) == 2

    # Memory lost: found again by its marker, still never a second one.
    world.memory = LocalMemory()
    world.push()
    world.review([finding(4)])
    assert len(world.summaries()) == 1
    assert len(world.fake.calls("POST", f"/repos/{REPO}/issues/{PR}/comments")) == 1


def test_label_on_while_an_error_stands_and_off_after(world: World) -> None:
    labels_path = f"/repos/{REPO}/issues/{PR}/labels*"
    world.review([finding(1)], event="pull_request.opened")
    assert world.fake.repo(REPO).pulls[PR].labels == [DEFAULT_LABEL]
    assert len(world.fake.calls("POST", labels_path)) == 1

    world.push()
    world.review([finding(1), finding(2)])  # still an error: the payload says the label is on
    assert len(world.fake.calls(None, labels_path)) == 1

    world.push()
    world.review([finding(2, severity="warning")])
    assert world.fake.repo(REPO).pulls[PR].labels == []
    assert len(world.fake.calls("DELETE", labels_path)) == 1

    world.push()
    world.review([])
    assert len(world.fake.calls(None, labels_path)) == 2


def test_error_label_is_configurable(world: World) -> None:
    labels = LabelConfig(staging_image=None, error="do-not-merge/image-policy")
    publisher = world.publisher(event="pull_request.opened")
    facts = ReviewFacts(head_sha=world.head, diff_source="d", policy_source="p")
    mutable = finding(1, rule="IR002", name="mutable-tag")
    publisher.finish(analysis([mutable]), files=world.files(), facts=facts, labels=labels)
    assert world.fake.repo(REPO).pulls[PR].labels == ["do-not-merge/image-policy"]


def test_review_refused_by_github_goes_to_the_summary(world: World) -> None:
    world.fake.limits.review_comments_max = 1  # GitHub answers 422 for too large a review
    result = world.review([finding(1), finding(2)], event="pull_request.opened")
    assert world.comments() == []
    assert result.problems and "inline comments could not be posted: 422" in result.problems[0]
    [summary] = world.summaries()
    assert "annotation (GitHub refused the inline comment)" in summary["body"]
    [run] = world.runs()
    assert run["conclusion"] == "failure" and len(world.annotations(run["id"])) == 2


def test_writes_wait_for_the_pacer(world: World) -> None:
    waits: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    publisher = world.publisher(event="pull_request.opened")
    publisher.pacer = WritePacer(PaceSettings(per_minute=60, burst=1), clock=lambda: now[0], sleep=sleep)
    publisher.start()
    facts = ReviewFacts(head_sha=world.head, diff_source="d", policy_source="p")
    publisher.finish(analysis([finding(1)]), files=world.files(), facts=facts)
    writes = [r for r in world.fake.requests if r.method in ("POST", "PATCH", "DELETE") and "/repos/" in r.path]
    assert len(writes) == 5  # check run, review, summary, label, completion
    assert len(waits) == 4 and sum(waits) == pytest.approx(4.0)


# ---------------------------------------------------------------------------------------------
# Giving up


def _deps(world: World, rsa_keys: KeyPair) -> ReviewDeps:
    app = GitHubApp(APP_ID, rsa_keys.private_pem, world.fake.base_url, options=FAST_CLIENT)
    return ReviewDeps(
        github=app.client,
        options=ReviewOptions(publish=PublishOptions(app_id=APP_ID), pace=PaceSettings(per_minute=0)),
        memory=world.memory,
    )


def _job(world: World) -> ReviewJob:
    return ReviewJob(INSTALLATION_ID, REPO, PR, world.head, "d-1", "pull_request.synchronize", labels=world.labels)


def test_mark_failed_closes_the_run_in_progress_as_neutral(world: World, rsa_keys: KeyPair) -> None:
    world.publisher().start()
    [run] = world.runs()
    assert run["status"] == "in_progress"
    mark_failed(_job(world), RuntimeError("boom"), _deps(world, rsa_keys))
    [run] = world.runs()
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert run["output"]["title"] == "Review could not be completed"
    assert "RuntimeError: boom" in run["output"]["summary"]
    assert "/image-review recheck" in run["output"]["summary"]


def test_mark_failed_without_a_run_creates_one_completed(world: World, rsa_keys: KeyPair) -> None:
    world.memory = LocalMemory()  # another process: nothing remembered, nothing on GitHub
    mark_failed(_job(world), JobSuperseded("newer push"), _deps(world, rsa_keys))
    [run] = world.runs()
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert run["output"]["title"] == "Superseded by a newer push"


def test_mark_failed_leaves_a_finished_review_alone(world: World, rsa_keys: KeyPair) -> None:
    world.review([finding(1)], event="pull_request.opened")
    mark_failed(_job(world), RuntimeError("late"), _deps(world, rsa_keys))
    [run] = world.runs()
    assert run["conclusion"] == "failure"


@pytest.mark.parametrize(
    "findings",
    [
        [],
        [finding(1)],  # a staging-image error: both labels
        [finding(1, rule="IR004", name="mutable-tag")],  # another error: the error label only
        [finding(1, severity="warning")],  # no error: neither
        [finding(1, severity="notice")],  # exempted: neither
    ],
)
def test_the_labels_the_app_sets_are_the_engines_labels(findings: list[Finding]) -> None:
    from app.policy import default_policy
    from app.policy.engine import _labels

    policy = default_policy()
    config = LabelConfig(policy.labels.staging_image, "image-review/error")
    policy = replace(policy, labels=replace(policy.labels, error="image-review/error"))
    wanted = config.wanted(findings)
    assert [name for name, on in wanted.items() if on] == _labels(findings, policy)
