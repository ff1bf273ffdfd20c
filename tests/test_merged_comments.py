"""One inline comment per line: findings on a line merged into one comment with one suggestion,
and the merged comment's marker keeping re-runs, memory loss, deletion and "Resolved in" right."""

from __future__ import annotations

from review_helpers import human_reply
from test_publish import MODEL, MODEL_DIFF, PR, RELEASE_LINE, REPO, World, finding, world  # noqa: F401

from app.github.memory import LocalMemory
from app.report.inline_comments import group_key, member_keys, merged_body, plan_inline, scan_review_comments

TAG_LINE = "  - image: registry.k8s.io/etcdadm/etcd-manager:v3.0.20220428@sha256:" + "a" * 64


def test_findings_that_agree_share_one_suggestion() -> None:
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag",
                      suggestion=RELEASE_LINE)
    body = merged_body([error, warning])
    assert body.count("```suggestion") == 1
    assert f"Suggested for `IR001`, `IR002`:\n\n```suggestion\n{RELEASE_LINE}\n```" in body
    assert body.index("`IR001` staging-image") < body.index("`IR002` mutable-tag")
    assert body.endswith("<!-- image-review:fingerprint=staging,tag -->")


def test_findings_that_disagree_offer_the_first_suggestion_and_quote_the_other() -> None:
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag",
                      suggestion=TAG_LINE)
    body = merged_body([error, warning])
    assert body.count("```suggestion") == 1
    assert f"```suggestion\n{RELEASE_LINE}\n```" in body
    assert f"`IR002` would suggest instead:\n\n```text\n{TAG_LINE}\n```" in body


def test_merged_marker_reads_back_as_its_findings() -> None:
    key = group_key(["bbb222", "aaa111"])
    assert key == "aaa111,bbb222" and member_keys(key) == ["aaa111", "bbb222"]
    assert member_keys("single") == ["single"]  # comments of one finding keep their marker
    # A fingerprint unsafe in a marker is digested, and the digest holds no separator.
    [digested] = member_keys(group_key(["IR001 a-->b, c"]))
    assert digested.startswith("sha256:")
    body = merged_body([finding(3, fp="bbb222"), finding(3, fp="aaa111")])
    comment = {"id": 5, "user": {"type": "Bot"}, "body": body}
    assert set(scan_review_comments([comment])) == {key}


def test_plan_merges_per_line_and_caps_comments_not_findings() -> None:
    findings = [finding(n, fp=f"e{n}") for n in range(1, 5)]
    findings += [finding(n, fp=f"w{n}", severity="warning", rule="IR002", name="mutable-tag") for n in range(1, 5)]
    plan = plan_inline(findings, {findings[0].path: frozenset(range(1, 10))}, set(), cap=3)
    assert [(c.line, [f.fingerprint for f in c.findings]) for c in plan.new] == [
        (1, ["e1", "w1"]), (2, ["e2", "w2"]), (3, ["e3", "w3"])
    ]
    assert plan.shown["w4"] == plan.shown["e4"] == "over the limit of 3 inline comments: annotation"


def test_a_finding_new_on_a_commented_line_does_not_rewrite_the_comment() -> None:
    # The new finding is the more severe: it is still not a second comment on the line.
    old = finding(4, fp="old", severity="warning", rule="IR002", name="mutable-tag")
    new = finding(4, fp="new")
    plan = plan_inline([old, new], {old.path: frozenset({4})}, {"old"}, cap=30)
    assert plan.new == []
    assert plan.shown == {"new": "annotation (the line has an inline comment already)", "old": "inline comment"}
    # A merged comment on GitHub covers each of its findings.
    plan = plan_inline([old, new], {old.path: frozenset({4})}, {"new,old"}, cap=30)
    assert plan.new == [] and set(plan.shown.values()) == {"inline comment"}


def test_one_comment_per_line_on_github_and_rerun_posts_nothing(world: World) -> None:  # noqa: F811
    world.push(MODEL_DIFF)
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag",
                      suggestion=RELEASE_LINE)
    result = world.review([error, warning], event="pull_request.opened")
    [comment] = world.comments()
    assert (comment["line"], comment["body"]) == (181, merged_body([error, warning]))
    assert result.comments_posted == 1 and result.problems == []
    [review] = world.fake.calls("POST", f"/repos/{REPO}/pulls/{PR}/reviews")
    assert review.json["body"].startswith("image-review: new on this push: 1 error, 1 warning.")

    world.push()
    world.review([error, warning])
    world.memory = LocalMemory()  # memory lost: the merged marker is found on GitHub
    world.push()
    world.review([warning, error])
    assert len(world.fake.calls("POST", f"/repos/{REPO}/pulls/{PR}/reviews")) == 1
    assert len(world.comments()) == 1


def test_merged_comment_replaced_when_a_finding_goes_and_deleted_with_the_last(world: World) -> None:  # noqa: F811
    world.push(MODEL_DIFF)
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag")
    world.review([error, warning], event="pull_request.opened")
    [merged] = world.comments()

    world.push()
    kept = world.review([warning])  # the staging image was fixed, the tag is still mutable
    [fresh] = world.comments()
    assert fresh["id"] != merged["id"] and fresh["body"] == merged_body([warning])
    assert (kept.comments_posted, kept.comments_deleted) == (1, 1)

    world.push()
    again = world.review([warning])  # nothing new to say
    assert (again.comments_posted, again.comments_deleted) == (0, 0)

    world.push()
    gone = world.review([])
    assert gone.comments_deleted == 1 and world.comments() == []


def test_answered_merged_comment_is_kept_while_one_finding_stands(world: World) -> None:  # noqa: F811
    world.push(MODEL_DIFF)
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag")
    world.review([error, warning], event="pull_request.opened")
    [merged] = world.comments()
    reply = human_reply(world.fake, REPO, merged["id"], "The tag is pinned by the next commit.")

    world.push()
    kept = world.review([warning])
    assert (kept.comments_posted, kept.comments_deleted, kept.resolved_replies) == (0, 0, 0)
    assert sorted(c["id"] for c in world.comments()) == sorted([merged["id"], reply])


def test_merged_comment_someone_answered_is_resolved_once(world: World) -> None:  # noqa: F811
    world.push(MODEL_DIFF)
    error = finding(181, path=MODEL, fp="staging", suggestion=RELEASE_LINE)
    warning = finding(181, path=MODEL, fp="tag", severity="warning", rule="IR002", name="mutable-tag")
    world.review([error, warning], event="pull_request.opened")
    [comment] = world.comments()
    human_reply(world.fake, REPO, comment["id"], "Waiting for the promotion PR.")

    head = world.push()
    result = world.review([])
    assert result.resolved_replies == 1 and result.comments_deleted == 0
    [answer] = [c for c in world.comments() if c.get("in_reply_to_id") == comment["id"] and c["user"]["type"] == "Bot"]
    assert answer["body"].startswith(f"Resolved in {head}.")

    world.memory = LocalMemory()  # even found again on GitHub, it is not answered twice
    world.push()
    again = world.review([])
    assert again.resolved_replies == 0 and again.comments_deleted == 0
    # The finding coming back is not commented again: its thread holds the discussion.
    world.push()
    back = world.review([error])
    assert back.comments_posted == 0


def test_deprecated_registry_and_mutable_tag_on_one_line_are_one_comment() -> None:
    from app.analysis.analyze import ChangeSet, analyze
    from app.core.diffs import parse_diff
    from app.report.inline_comments import commentable_lines

    path = "cluster/addons/pause/pause.yaml"
    diff = f"""diff --git a/{path} b/{path}
index 1111111..2222222 100644
--- a/{path}
+++ b/{path}
@@ -40,3 +40,3 @@ spec:
       containers:
-      - image: registry.k8s.io/pause:3.9
+      - image: k8s.gcr.io/pause:latest
         name: pause
"""
    files = parse_diff(diff.encode())
    result = analyze(ChangeSet(files=files))
    plan = plan_inline(result.findings, commentable_lines(files), set(), cap=30)
    [comment] = plan.new
    assert comment.line == 41 and [f.rule for f in comment.findings] == ["IR002", "IR005"]
    # The registry fix is offered, and the comment says it is the deprecated-registry finding's.
    assert "Suggested for `IR005`:\n\n```suggestion\n      - image: registry.k8s.io/pause:latest\n```" in comment.body
    assert comment.body.count("```suggestion") == 1
