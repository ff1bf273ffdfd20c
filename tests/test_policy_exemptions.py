"""Tracked exceptions: inline (each comment syntax) and policy-file forms; valid, expired, malformed."""

from __future__ import annotations

from datetime import date

import pytest

try:
    from tests.test_policy_scenario import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from test_policy_scenario import run

from app.policy.rules.exemptions import parse_directive

STAGING = "gcr.io/k8s-staging-etcdadm/etcd-manager:v3.0.20220128-22-g9ef09c83"
ALLOW = "image-review: allow staging-image until 2026-12-31 tracked-by #7"


def summary(text: str) -> list[tuple[str, str, int | None, bool]]:
    return [(f.rule, f.severity, f.line, f.exempted_by is not None) for f in run(text).findings]


# --- inline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "comment"),
    [
        ("pkg/model/etcd.yaml", "# image-review: allow staging-image until 2026-12-31 tracked-by #1234"),
        ("pkg/model/etcd.go", "// image-review: allow staging-image until 2026-12-31 tracked-by #1234"),
        # YAML embedded in a Go raw string: a YAML comment is accepted in Go files.
        ("pkg/model/etcdmanager/model.go", "# image-review: allow IR001 until 2026-12-31 tracked-by #1234"),
        ("pkg/model/manifest.html", "<!-- image-review: allow staging-image until 2026-12-31 tracked-by #1234 -->"),
        ("pkg/model/Dockerfile", "# image-review: allow staging-image until 2026-12-31 tracked-by #1234 -- why"),
    ],
)
def test_inline_valid_on_the_line_above(path: str, comment: str) -> None:
    line = f'    image: "{STAGING}"' if not path.endswith("Dockerfile") else f"FROM {STAGING}"
    result = run(f"# file: {path}\n+{comment}\n+{line}\n")
    [f] = result.findings
    assert (f.rule, f.severity) == ("IR001", "notice")
    assert f.exempted_by is not None and "tracked by #1234" in f.exempted_by and "until 2026-12-31" in f.exempted_by
    assert any("#1234 was not checked" in n for n in result.summary_notes)
    assert result.labels == []


def test_inline_markdown_comment() -> None:
    # Markdown is docs scope (no IR001 there); the deprecated-registry rule applies everywhere.
    text = (
        "# file: docs/releases/1.30-NOTES.md\n"
        "+<!-- image-review: allow deprecated-registry until 2026-12-31 tracked-by #12 -->\n"
        "+    image: k8s.gcr.io/pause:3.1\n"
    )
    assert summary(text) == [("IR005", "notice", 2, True)]
    wrong_syntax = text.replace("<!--", "#").replace(" -->", "")
    # "#" starts a heading in Markdown, not a comment: no exemption.
    assert [x for x in summary(wrong_syntax) if x[0] == "IR005"] == [("IR005", "warning", 2, False)]


def test_comment_syntax_by_file_type() -> None:
    from app.core.comment_syntax import is_comment_only, is_neutral

    assert is_comment_only("a.yaml", "  # note")
    assert is_comment_only("a.go", "\t// note") and is_comment_only("a.go", " * doc")
    assert is_comment_only("a.go", "# yaml in a raw string")
    assert not is_comment_only("a.js", "# not a comment")
    assert is_comment_only("k8s-1.18.yaml.template", "# note")
    assert is_comment_only("Dockerfile", "# syntax") and is_comment_only("Makefile", "# x")
    assert is_comment_only("a.md", "<!-- x -->") and not is_comment_only("a.md", "* bullet")
    assert not is_comment_only("a.json", "# x")
    assert is_neutral("a.yaml", "   ") and not is_neutral("a.yaml", "key: 1")


def test_inline_valid_on_the_same_line() -> None:
    text = f"# file: pkg/a.yaml\n+    image: {STAGING}  # {ALLOW}\n"
    assert summary(text) == [("IR001", "notice", 1, True)]


def test_inline_with_multiple_rules() -> None:
    text = (
        "# policy: {rules: {staging-image: false}}\n# file: pkg/a.yaml\n"
        "+    # image-review: allow development-build, inconsistent-versions until 2026-12-31 tracked-by #7\n"
        f"+    image: {STAGING}\n"
    )
    assert summary(text) == [("IR003", "notice", 2, True)]


def test_inline_wrong_comment_syntax_is_not_an_exemption() -> None:
    # "//" is not a comment in YAML: the text is not a directive, so the finding stands.
    text = f"# file: pkg/a.yaml\n+    // {ALLOW}\n+    image: {STAGING}\n"
    assert [x for x in summary(text) if x[0] == "IR001"] == [("IR001", "error", 2, False)]


def test_inline_two_lines_above_does_not_apply() -> None:
    text = (
        "# file: pkg/a.yaml\n+    # image-review: allow staging-image until 2026-12-31 tracked-by #7\n+    x: 1\n"
        f"+    image: {STAGING}\n"
    )
    assert ("IR001", "error", 3, False) in summary(text)


def test_inline_on_a_context_line_applies() -> None:
    text = f"# file: pkg/a.yaml\n     # {ALLOW}\n+    image: {STAGING}\n"
    assert summary(text) == [("IR001", "notice", 2, True)]


def test_inline_expired() -> None:
    text = (
        "# today: 2027-01-01\n# file: pkg/a.yaml\n"
        f"+    # image-review: allow staging-image until 2026-12-31 tracked-by #7\n+    image: {STAGING}\n"
    )
    result = run(text)
    assert [(f.rule, f.severity, f.line) for f in result.findings] == [("IR001", "error", 2), ("IR013", "error", 2)]
    expired = result.findings[1]
    assert "expired on 2026-12-31" in expired.message and "pkg/a.yaml:1" in expired.message


def test_inline_valid_through_its_last_day() -> None:
    text = (
        "# today: 2026-12-31\n# file: pkg/a.yaml\n"
        f"+    # image-review: allow staging-image until 2026-12-31 tracked-by #7\n+    image: {STAGING}\n"
    )
    assert summary(text) == [("IR001", "notice", 2, True)]


def test_inline_closed_issue_fails_open_issue_passes() -> None:
    base = f"# file: pkg/a.yaml\n+    # {ALLOW}\n+    image: {STAGING}\n"
    closed = run("# issue #7: closed\n" + base)
    assert [(f.rule, f.severity) for f in closed.findings] == [("IR001", "error"), ("IR013", "error")]
    assert "#7 is closed" in closed.findings[1].message
    opened = run("# issue #7: open\n" + base)
    assert [(f.rule, f.severity) for f in opened.findings] == [("IR001", "notice")]
    assert not any("not checked" in n for n in opened.summary_notes)


@pytest.mark.parametrize(
    ("directive", "needle"),
    [
        ("allow staging-image tracked-by #7", "missing `until"),
        ("allow staging-image until 2026-12-31", "missing `tracked-by"),
        ("allow staging-image until 31/12/2026 tracked-by #7", "needs a date"),
        ("allow staging-image until 2026-12-31 tracked-by 7", "issue number"),
        ("allow stagingimage until 2026-12-31 tracked-by #7", "unknown rule"),
        ("allow critical-image-approval until 2026-12-31 tracked-by #7", "cannot be exempted"),
        ("allow until 2026-12-31 tracked-by #7", "names no rule"),
        ("ignore staging-image", "expected"),
        ("allow staging-image until 2026-12-31 tracked-by #7 because", "unexpected"),
    ],
)
def test_inline_malformed(directive: str, needle: str) -> None:
    result = run(f"# file: pkg/a.yaml\n+    # image-review: {directive}\n+    image: {STAGING}\n")
    assert [(f.rule, f.severity, f.line) for f in result.findings] == [("IR012", "error", 1), ("IR001", "error", 2)]
    assert needle in result.findings[0].message


def test_malformed_directive_without_a_finding_is_still_reported() -> None:
    result = run("# file: pkg/a.yaml\n+    # image-review: allow staging-image\n+    x: 1\n")
    assert [f.rule for f in result.findings] == ["IR012"]


def test_parse_directive_details() -> None:
    d = parse_directive("a.md", 3, "<!-- image-review: allow IR001 until 2026-01-02 tracked-by #9 -- ok -->")
    assert d is not None and d.exemption is not None
    assert (d.exemption.rules, d.exemption.issue, d.exemption.reason) == (("IR001",), 9, "ok")
    assert parse_directive("a.yaml", 1, "image: x  # unrelated comment") is None
    assert parse_directive("a.yaml", 1, 'msg: "image-review: allow"') is None  # not in a comment


# --- policy file ----------------------------------------------------------------------------------


def policy_exemption(expires: str = "2026-12-31", extra: str = "") -> str:
    return (
        "# policy: {exemptions: [{rule: staging-image, path: 'pkg/model/**', "
        f"reference: 'gcr.io/k8s-staging-etcdadm/*', issue: 1234, expires: {expires}{extra}}}]}}\n"
    )


def test_policy_file_valid() -> None:
    result = run(policy_exemption() + f"# file: pkg/model/a.yaml\n+    image: {STAGING}\n")
    [f] = result.findings
    assert (f.rule, f.severity) == ("IR001", "notice")
    assert f.exempted_by is not None and f.exempted_by.startswith("exemptions[0] in .github/image-review.yml")


def test_policy_file_does_not_match_other_paths_or_references() -> None:
    other_path = run(policy_exemption() + f"# file: cmd/a.yaml\n+    image: {STAGING}\n")
    assert [(f.rule, f.severity) for f in other_path.findings] == [("IR001", "error")]
    other_ref = run(policy_exemption() + "# file: pkg/model/a.yaml\n+    image: gcr.io/k8s-staging-dns/x:v1.0.0\n")
    assert [(f.rule, f.severity) for f in other_ref.findings] == [("IR001", "error")]


def test_policy_file_expired() -> None:
    result = run("# today: 2027-02-01\n" + policy_exemption() + f"# file: pkg/model/a.yaml\n+    image: {STAGING}\n")
    assert [(f.rule, f.severity) for f in result.findings] == [("IR001", "error"), ("IR013", "error")]
    assert "exemptions[0]" in result.findings[1].message


def test_policy_file_malformed_is_reported_and_not_applied() -> None:
    from app.policy import load_policy
    from app.policy.context import EvalContext

    policy = load_policy(
        "exemptions:\n  - rule: staging-image\n    path: 'pkg/**'\n    issue: 1234\n    expires: someday\n"
    )
    assert policy.exemptions == ()
    try:
        from tests.test_policy_scenario import parse_scenario
    except ImportError:
        from test_policy_scenario import parse_scenario
    s = parse_scenario(f"# file: pkg/a.yaml\n+    image: {STAGING}\n", base_policy=policy)
    from app.policy import evaluate

    result = evaluate(s.refs, s.files, None, policy, EvalContext(today=s.context.today))
    assert sorted((f.rule, f.severity, f.path, f.line) for f in result.findings) == [
        ("IR001", "error", "pkg/a.yaml", 1),
        ("IR012", "error", ".github/image-review.yml", 5),
    ]


# --- issue states gathered before evaluation ------------------------------------------------------


def test_tracking_issue_states_are_looked_up_before_evaluation_not_by_the_rule() -> None:
    from app.analysis.analyze import AnalysisContext, ChangeSet, analyze
    from app.core.diffs import parse_diff
    from app.policy.context import IssueState

    diff = (
        "diff --git a/pkg/model/etcd.yaml b/pkg/model/etcd.yaml\n"
        "--- a/pkg/model/etcd.yaml\n+++ b/pkg/model/etcd.yaml\n"
        "@@ -1,1 +1,3 @@\n"
        " kind: Pod\n"
        "+# image-review: allow staging-image until 2026-12-31 tracked-by #7\n"
        f"+    image: {STAGING}\n"
    ).encode()
    policy_text = (
        "exemptions:\n  - rule: mutable-tag\n    path: 'deploy/**'\n    issue: 99\n    expires: 2026-12-31\n"
    )
    asked: list[int] = []
    states: dict[int, IssueState] = {7: "closed"}

    def lookup(number: int) -> IssueState | None:
        asked.append(number)
        return states.get(number)

    change = ChangeSet(files=parse_diff(diff), policy_text=policy_text)
    analysis = analyze(change, AnalysisContext(today=date(2026, 6, 1), issue_state=lookup))
    # Every issue the exemptions name (inline #7, the policy file's #99), once each, in order.
    assert asked == [7, 99]
    by_rule = {f.rule: f for f in analysis.findings}
    assert "IR013" in by_rule and "#7 is closed" in by_rule["IR013"].message
    assert by_rule["IR001"].exempted_by is None  # its exemption's issue is closed: not accepted
