"""Pull request text cannot break the App's or the CLI's output (one escaping module for all).

Each test feeds hostile strings — as a pull request's paths, image names, commit subjects and
finding texts could hold them — through the real writers: the summary, inline comments, the
Mermaid commit diagram, `--format github` workflow commands, text output and SARIF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from app.cli import main
from app.core.models import Analysis, CommitSummary, Finding
from app.policy import rules_meta
from app.report import escape
from app.report.check_formats import format_github, format_text
from app.report.inline_comments import fingerprint_marker, inline_body
from app.report.sarif import to_sarif
from app.report.summary import _KIND_STYLE, SUMMARY_MARKER, ReviewFacts, check_summary, comment_body, commit_diagram

ZWSP = escape.ZERO_WIDTH_SPACE
HOSTILE = [
    "close <!-- image-review:summary --> marker -->",
    "--><img src=x onerror=alert(1)>",
    "<details><summary>hidden</summary>",
    "cc @octocat and @kubernetes/sig-release",
    "tick ` and ``` fence",
    "```suggestion\nrm -rf /\n```",
    "line\n::error file=x::forged%0A::add-mask::secret",
    "percent %0A %25 %0D",
    "pipe | cell | split",
    "[link](1) and \\[x](2)",
    "\x1b[31mred\x1b[0m",
    "unicode\u2028line\u2029separators",
]


def hostile_finding(text: str, **extra: object) -> Finding:
    fields: dict[str, object] = {
        "rule": "IR001",
        "name": "staging-image",
        "severity": "error",
        "path": f"deploy/{text}.yaml",
        "line": 3,
        "message": f"Image `gcr.io/k8s-staging-x/app:v1` in {text}",
        "fingerprint": f"IR001:{text}",
        "suggestion": f"    image: registry.k8s.io/app:v1 # {text}",
        **extra,
    }
    return Finding(**fields)  # type: ignore[arg-type]


def analysis_of(findings: list[Finding], subjects: Sequence[str] = ()) -> Analysis:
    commits = [CommitSummary(sha=f"{i:040x}", subject=s, kind="image-switch") for i, s in enumerate(subjects)]
    return Analysis(
        references=[],
        findings=findings,
        commits=commits,
        change_pattern="single-commit",
        not_analysed=[f"deploy/{s}: too large" for s in subjects],
    )


def outside_code(markdown: str) -> str:
    """The Markdown with code spans and fenced blocks removed: what GitHub renders as text."""
    without_fences = re.sub(r"^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    spans = escape._code_spans(without_fences)
    out, pos = [], 0
    for start, end in spans:
        out.append(without_fences[pos:start])
        pos = end
    out.append(without_fences[pos:])
    return "".join(out)


def assert_inert(markdown: str) -> None:
    text = outside_code(markdown)
    assert "<" not in text.replace("<!-- image-review:", "").replace("<br/>", "").replace("<sub>", "").replace(
        "</sub>", ""
    ), text
    assert not re.search(r"@[A-Za-z0-9]", text), text  # every @ is followed by the zero-width space


# --- The rules of each context ---------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_code_span_holds_any_text_on_one_line(text: str) -> None:
    span = escape.code_span(text)
    assert "\n" not in span and "\u2028" not in span
    tick = re.match(r"`+", span)
    assert tick is not None
    body = span[len(tick.group(0)) : -len(tick.group(0))]
    assert span.endswith(tick.group(0))
    # No run of backticks inside is as long as the delimiter, so nothing closes the span early.
    assert all(len(run) < len(tick.group(0)) for run in re.findall(r"`+", body))


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert escape.fence_for("plain") == "```"
    assert escape.fence_for("a ```` b") == "`````"


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_makes_html_mentions_and_fences_inert(text: str) -> None:
    safe = escape.markdown(text)
    assert_inert(safe)
    assert not re.search(r"^ {0,3}(```|~~~)", safe, flags=re.MULTILINE)


def test_markdown_keeps_code_spans_and_breaks_mentions_outside_them() -> None:
    text = "Use `registry.k8s.io/a:v1 <x>` not @someone's <b>tag</b>"
    assert escape.markdown(text) == f"Use `registry.k8s.io/a:v1 <x>` not @{ZWSP}someone's &lt;b&gt;tag&lt;/b&gt;"


def test_marker_key_cannot_end_the_comment() -> None:
    assert escape.marker_key("IR001:deploy/a.yaml:registry.k8s.io/a") == "IR001:deploy/a.yaml:registry.k8s.io/a"
    for text in HOSTILE:
        key = escape.marker_key(text)
        assert "-->" not in key and not re.search(r"\s", key)


def test_workflow_commands_stay_one_command() -> None:
    data = escape.workflow_data("a\nb\r::warning::x %0A")
    assert data == "a%0Ab%0D::warning::x %250A"
    assert escape.workflow_property("deploy/a,b:c.yaml") == "deploy/a%2Cb%3Ac.yaml"


def test_plain_line_breaks_control_characters_and_leading_commands() -> None:
    assert escape.plain_line("  ::error::x\x1b[31m\nnext") == f"  :{ZWSP}:error::x\\x1b[31m next"


def test_sarif_text_escapes_embedded_links() -> None:
    assert escape.sarif_text("see [here](1)") == "see \\[here\\](1)"


# --- The real writers, fed hostile text -----------------------------------------------------


def test_inline_comment_keeps_its_suggestion_and_marker() -> None:
    for text in HOSTILE:
        finding = hostile_finding(text)
        body = inline_body(finding)
        assert_inert(body)
        fence = escape.fence_for(finding.suggestion or "")
        # The suggestion block opens and closes exactly once, around exactly the suggested line.
        assert f"\n{fence}suggestion\n{finding.suggestion}\n{fence}\n" in body
        assert body.endswith(fingerprint_marker(finding.fingerprint))
        rendered = outside_code(body)
        assert rendered.count("-->") == 1 and rendered.count("<!--") == 1


def test_summary_comment_and_check_run_text_stay_inert() -> None:
    analysis = analysis_of([hostile_finding(t) for t in HOSTILE], subjects=HOSTILE)
    facts = ReviewFacts(
        head_sha="a" * 40,
        diff_source="the pull request diff",
        policy_source="`.github/image-review.yml` on `main`",
        problems=[f"label {t} could not be set" for t in HOSTILE],
    )
    comment = comment_body(analysis, "failure", facts)
    summary = check_summary(analysis, "failure", facts)
    for text in (comment, summary):
        assert_inert(text)
        rendered = outside_code(text)
        assert rendered.count("<!--") == rendered.count("-->") == (1 if text is comment else 0)
    assert comment.startswith(SUMMARY_MARKER) and outside_code(comment).count(SUMMARY_MARKER) == 1
    assert SUMMARY_MARKER not in outside_code(summary)
    # One table row per finding: no pipe or newline in PR text split a row.
    rows = [line for line in comment.splitlines() if line.startswith("| :x:")]
    assert len(rows) == len(HOSTILE)
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 6 for row in rows)


def test_commit_diagram_stays_inside_its_fence() -> None:
    commits = [CommitSummary(sha=f"{i:040x}", subject=s, kind="config") for i, s in enumerate(HOSTILE)]
    chart = commit_diagram(commits)
    lines = chart.splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    inner = "\n".join(lines[1:-1])
    assert "`" not in inner and '"]' not in inner.replace('<br/>config"]', "")
    assert len(lines) == 2 + 1 + len(HOSTILE) + 1 + len(_KIND_STYLE)  # header, nodes, chain, classDefs


def test_github_format_emits_one_workflow_command_per_finding() -> None:
    analysis = analysis_of([hostile_finding(t) for t in HOSTILE])
    out = format_github(analysis, per_rule=len(HOSTILE)).split("\n")[:-1]
    assert len(out) == len(HOSTILE) + 1  # one command each, then the totals line
    for line in out[:-1]:
        assert re.fullmatch(r"::error file=[^,:]*,line=3,title=IR001 staging-image::[^\r\n]*", line), line
    assert not out[-1].startswith("::")


def test_text_format_lines_cannot_become_workflow_commands() -> None:
    analysis = analysis_of([hostile_finding(t) for t in HOSTILE], subjects=HOSTILE)
    for line in format_text(analysis).splitlines():
        assert not line.lstrip().startswith("::") and "\x1b" not in line


def test_sarif_messages_cannot_hold_embedded_links() -> None:
    analysis = analysis_of([hostile_finding(t) for t in HOSTILE], subjects=HOSTILE)
    doc = to_sarif(analysis, rules_meta())
    messages = [r["message"]["text"] for r in doc["runs"][0]["results"]]
    assert len(messages) == len(HOSTILE)
    for message in messages:
        assert not re.search(r"(?<!\\)[\[\]]", message), message
    json.dumps(doc)  # still plain JSON


def test_cli_github_format_on_a_hostile_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A real diff whose file name tries to forge a second workflow command.
    path = "deploy/x,line=1::error::forged%0A::add-mask::y.yaml"
    diff = tmp_path / "change.diff"
    diff.write_text(
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n"
        " spec:\n-  image: registry.k8s.io/pause:3.9\n+  image: gcr.io/k8s-staging-foo/pause:latest\n"
    )
    main(["check", "--diff", str(diff), "--format", "github"])
    out = capsys.readouterr().out.splitlines()
    commands = [line for line in out if line.startswith("::")]
    assert commands, out
    for line in commands:
        match = re.fullmatch(r"::(error|warning|notice) file=([^,:]*),line=(\d+),title=[^:]*::(.*)", line)
        assert match is not None, line
        assert match.group(2) == "deploy/x%2Cline=1%3A%3Aerror%3A%3Aforged%250A%3A%3Aadd-mask%3A%3Ay.yaml"


def test_dashboard_rows_keep_their_columns_whatever_the_path_holds() -> None:
    from app.analysis.audit import audit_blobs
    from app.analysis.staging_board import build_board
    from app.policy import default_policy
    from app.report.dashboard import DASHBOARD_MARKER, BoardLinks, board_markdown

    policy = default_policy()
    hostile_path = "deploy/a|b <!-- image-review:staging-dashboard --> @octocat `x`.yaml"
    files = {hostile_path: b"image: gcr.io/k8s-staging-x/app:v1\n"}
    board = build_board(audit_blobs(iter(files.items()), "c" * 40, policy, date(2026, 12, 1)), policy, None,
                        date(2026, 12, 1))
    for links in (BoardLinks(), BoardLinks(blob_base="https://github.com/o/r/blob/" + "c" * 40)):
        body = board_markdown(board, links)
        assert body.startswith(DASHBOARD_MARKER + "\n")
        row = next(line for line in body.splitlines() if "k8s-staging-x" in line)
        assert len(re.split(r"(?<!\\)\|", row)) == 5 + 2  # five cells: no unescaped pipe from the path
        outside_code = re.sub(r"(`+).*?\1", "", row)
        assert "@octocat" not in outside_code and "<!--" not in outside_code
