"""The review in Markdown: the check run's title and summary, and the pull request's summary comment.

Pure functions of the analysis and of how each finding was shown (inline or not, and why), so
the same text is produced for the same review: an unchanged summary comment is not edited.
The summary comment leaves out the head SHA for that reason; the check run belongs to one head
and names it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.core.models import Analysis, CommitSummary, Finding
from app.report import escape

Conclusion = Literal["success", "failure", "neutral", "action_required"]

SUMMARY_MARKER = "<!-- image-review:summary -->"
# GitHub's limits: check run output summary 65,535 characters, issue comment body 65,536.
MAX_SUMMARY_CHARS = 65_000
MAX_TABLE_ROWS = 200
MAX_COMMENT_ROWS = 50
MAX_DIAGRAM_COMMITS = 30

_ICON = {"error": ":x:", "warning": ":warning:", "notice": ":information_source:"}
_KIND_LABEL = {
    "image-switch": "image switch", "config": "config", "mixed": "mixed", "regenerated": "regenerated output",
    "none": "no effective change",
}
_KIND_STYLE = {
    "image-switch": "fill:#dafbe1,stroke:#1a7f37",
    "config": "fill:#ddf4ff,stroke:#0969da",
    "mixed": "fill:#fff8c5,stroke:#9a6700",
    "regenerated": "fill:#f6f8fa,stroke:#0969da",
    "none": "fill:#f6f8fa,stroke:#8c959f",
}


@dataclass
class ReviewFacts:
    """How the review was done, beside what it found."""

    head_sha: str
    diff_source: str  # e.g. "the pull request diff", "the files API (GitHub would not render the diff)"
    policy_source: str  # e.g. "`.github/image-review.yml` on `main`"
    # Commits as listed when the analysis has no per-commit view: (sha, subject).
    listed_commits: list[tuple[str, str]] = field(default_factory=list)
    # fingerprint -> how the finding appears besides the table (inline comment or why not).
    shown: dict[str, str] = field(default_factory=dict)
    # Problems while publishing (a label that could not be set, comments GitHub refused).
    problems: list[str] = field(default_factory=list)
    max_inline: int = 30


def counts(findings: Sequence[Finding]) -> Counter[str]:
    return Counter(f.severity for f in findings)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _tally(findings: Sequence[Finding]) -> str:
    c = counts(findings)
    parts = [_plural(c[s], s) for s in ("error", "warning", "notice") if c[s]]
    return ", ".join(parts)


MAX_TITLE_CHARS = 200


def title(analysis: Analysis, conclusion: Conclusion) -> str:
    """The verdict in one line (short: GitHub shows it beside the check's name)."""
    text = _title(analysis, conclusion)
    return text if len(text) <= MAX_TITLE_CHARS else text[: MAX_TITLE_CHARS - 1] + "…"


def _title(analysis: Analysis, conclusion: Conclusion) -> str:
    findings = analysis.findings
    refs = len(analysis.references)
    if conclusion == "action_required":
        names = sorted({f.name for f in findings if f.severity == "error"})
        return f"Needs an owner's approval ({', '.join(names)}); {_tally(findings)}"
    if conclusion == "failure":
        names = sorted({f.name for f in findings if f.severity == "error"})
        return f"{_tally(findings)}: {', '.join(names)}"
    if conclusion == "neutral":
        skipped = _plural(len(analysis.not_analysed), "part")
        rest = f"; {_tally(findings)} in the rest" if findings else "; no errors in the rest"
        return f"Not fully analysed ({skipped} skipped){rest}"
    if not refs and not findings:
        return "No image references changed"
    checked = _plural(refs, "image reference") + " checked"
    return f"{checked}: {_tally(findings)}" if findings else f"{checked}: no findings"


def _cell(text: str) -> str:
    return escape.table_cell(text)


def _where(f: Finding) -> str:
    if f.line is None:
        return escape.code_span(f.path) if f.path else "pull request"
    side = " (removed)" if f.side == "removed" else ""
    # A grouped finding sits on its first reference; the count says it stands for the others too.
    also = f" and {_plural(len(f.also), 'more place')}" if f.also else ""
    return f"{escape.code_span(f'{f.path}:{f.line}')}{side}{also}"


def _sorted(findings: Sequence[Finding]) -> list[Finding]:
    rank = {"error": 0, "warning": 1, "notice": 2}
    return sorted(findings, key=lambda f: (rank[f.severity], f.path, f.line or 0, f.rule))


def by_rule(findings: Sequence[Finding]) -> list[str]:
    """One line counting findings per rule, when a rule repeats: the table alone buries the rare ones."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for f in _sorted(findings):
        per = counts.setdefault((f.rule, f.name), {})
        per[f.severity] = per.get(f.severity, 0) + 1
    if all(sum(c.values()) == 1 for c in counts.values()):
        return []
    parts = [
        f"`{rule}` {name}: " + ", ".join(_plural(n, severity) for severity, n in per.items())
        for (rule, name), per in sorted(counts.items())
    ]
    return ["**By rule:** " + " · ".join(parts), ""]


# A rule with more warnings (or notices) than this gets one row with a count, not a row each: a
# registry migration's 81 deprecated-registry warnings must not bury the rest of the table.
# Errors keep a row each: every one blocks the merge and needs its own fix.
GROUP_OVER = 3
GROUP_LOCATIONS = 3


def row_groups(findings: Sequence[Finding]) -> list[list[Finding]]:
    """The table's rows as lists of findings, most severe first: one finding, or one rule's many."""
    ordered = _sorted(findings)
    per_rule: dict[tuple[str, str], list[Finding]] = {}
    for f in ordered:
        per_rule.setdefault((f.severity, f.rule), []).append(f)
    rows: list[list[Finding]] = []
    placed: set[tuple[str, str]] = set()
    for f in ordered:
        key = (f.severity, f.rule)
        group = per_rule[key]
        if f.severity == "error" or len(group) <= GROUP_OVER:
            rows.append([f])
        elif key not in placed:
            placed.add(key)
            rows.append(group)
    return rows


def findings_table(findings: Sequence[Finding], shown: dict[str, str], max_rows: int) -> str:
    if not findings:
        return "No findings."
    rows = [*by_rule(findings), "| | Rule | Where | Finding | Shown |", "|---|---|---|---|---|"]
    groups = row_groups(findings)
    for group in groups[:max_rows]:
        rows.append(_row(group[0], shown) if len(group) == 1 else _group_row(group, shown))
    hidden = sum(len(g) for g in groups[max_rows:])
    if hidden:
        rows.append("")
        rows.append(f"… and {hidden} more (see the check run's annotations).")
    return "\n".join(rows)


def _row(f: Finding, shown: dict[str, str]) -> str:
    exempt = f" (exempted: {_cell(f.exempted_by)})" if f.exempted_by else ""
    return (
        f"| {_ICON[f.severity]} {f.severity} | `{f.rule}` {f.name} | {_cell(_where(f))} | "
        f"{_cell(f.message)}{exempt} | {_cell(shown.get(f.fingerprint, 'annotation'))} |"
    )


def _group_row(group: Sequence[Finding], shown: dict[str, str]) -> str:
    """One rule's many findings: how many, in how many files, the first few places, one example."""
    first = group[0]
    files = len({f.path for f in group if f.path})
    count = f"× {len(group)}" + (f" in {_plural(files, 'file')}" if files else "")
    places = ", ".join(_where(f) for f in group[:GROUP_LOCATIONS])
    if len(group) > GROUP_LOCATIONS:
        places += f" and {len(group) - GROUP_LOCATIONS} more"
    exempted = sum(1 for f in group if f.exempted_by)
    note = f" ({exempted} exempted)" if exempted else ""
    return (
        f"| {_ICON[first.severity]} {first.severity} | `{first.rule}` {first.name} {count} | {_cell(places)} | "
        f"First: {_cell(first.message)}{note} | {_cell(_shown_tally(group, shown))} |"
    )


def _shown_tally(group: Sequence[Finding], shown: dict[str, str]) -> str:
    """Where a group's findings are shown, most common first: "annotation (…) × 76; inline comment × 5"."""
    tally = Counter(shown.get(f.fingerprint, "annotation") for f in group)
    return "; ".join(
        place if n == 1 else f"{place} × {n}" for place, n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def commit_diagram(commits: Sequence[CommitSummary], listed: Sequence[tuple[str, str]] = ()) -> str:
    """The commit sequence as a Mermaid flowchart, each node named by its kind."""
    nodes: list[tuple[str, str, str | None]] = [
        ((c.sha or "")[:7], c.subject, c.kind) for c in commits
    ] or [(sha[:7], subject, None) for sha, subject in listed]
    if not nodes:
        return ""
    hidden = max(0, len(nodes) - MAX_DIAGRAM_COMMITS)
    if hidden:
        nodes = nodes[-MAX_DIAGRAM_COMMITS:]
    lines = ["```mermaid", "flowchart LR"]
    if hidden:
        lines.append(f'  c0["… {hidden} earlier commits"]')
    for i, (sha, subject, kind) in enumerate(nodes, start=1):
        kind_text = _KIND_LABEL.get(kind, "not classified") if kind else "not classified"
        style = f":::{kind.replace('-', '_')}" if kind in _KIND_STYLE else ""
        label = escape.mermaid_label(f"{sha} {_short(subject)}")
        lines.append(f'  c{i}["{label}<br/>{kind_text}"]{style}')
    first = 0 if hidden else 1
    chain = " --> ".join(f"c{i}" for i in range(first, len(nodes) + 1))
    if first < len(nodes):
        lines.append(f"  {chain}")
    for kind, style in _KIND_STYLE.items():
        lines.append(f"  classDef {kind.replace('-', '_')} {style}")
    lines.append("```")
    return "\n".join(lines)


def _analysed(analysis: Analysis, facts: ReviewFacts) -> list[str]:
    commits = len(analysis.commits) or len(facts.listed_commits)
    out = [
        "### What was analysed",
        f"- {_plural(analysis.files_analysed, 'file')} from {facts.diff_source}; "
        f"{_plural(len(analysis.references), 'image reference')} added or removed",
        f"- Policy: {escape.markdown(facts.policy_source)}",
    ]
    if commits:
        out.append(f"- {_plural(commits, 'commit')}, one by one, for the change pattern")
    if analysis.not_analysed:
        out.append("")
        out.append("### Not analysed")
        out += [f"- {escape.table_cell(item)}" for item in analysis.not_analysed]
    else:
        out.append("- Nothing was skipped.")
    return out


def check_summary(analysis: Analysis, conclusion: Conclusion, facts: ReviewFacts) -> str:
    """The check run's summary: findings, the commit sequence, what was and was not analysed."""

    def build(rows: int, diagram: bool) -> str:
        parts = [f"**{title(analysis, conclusion)}** at `{facts.head_sha[:12]}`", ""]
        parts.append(findings_table(analysis.findings, facts.shown, rows))
        parts += _overflow_note(analysis, facts)
        if diagram:
            chart = commit_diagram(analysis.commits, facts.listed_commits)
            if chart:
                parts += ["", f"### Commits ({_pattern(analysis)})", chart]
        parts += ["", *_analysed(analysis, facts)]
        parts += _notes(analysis, facts)
        return "\n".join(parts)

    return _fit(build)


def comment_body(analysis: Analysis, conclusion: Conclusion, facts: ReviewFacts) -> str:
    """The pull request's summary comment (found again by its marker; no head SHA in it)."""

    def build(rows: int, diagram: bool) -> str:
        parts = [SUMMARY_MARKER, f"### image-review: {title(analysis, conclusion)}", ""]
        parts.append(findings_table(analysis.findings, facts.shown, rows))
        parts += _overflow_note(analysis, facts)
        if analysis.not_analysed:
            parts += ["", "**Not analysed:**", *[f"- {escape.table_cell(item)}" for item in analysis.not_analysed]]
        parts += _notes(analysis, facts)
        parts += ["", "<sub>Details, annotations and the commit sequence are in the `image-review` check run.</sub>"]
        return "\n".join(parts)

    return _fit(build, MAX_COMMENT_ROWS)


def _pattern(analysis: Analysis) -> str:
    return {
        "n/a": "no image change",
        "single-commit": "one commit",
        "image-only-first": "image switch first, then config",
        "mixed": "image switch mixed with other changes",
    }.get(analysis.change_pattern, analysis.change_pattern)


def _overflow_note(analysis: Analysis, facts: ReviewFacts) -> list[str]:
    over = sum(1 for f in analysis.findings if facts.shown.get(f.fingerprint, "").startswith("over the limit"))
    if not over:
        return []
    return [
        "",
        f"{_plural(over, 'finding')} beyond the {facts.max_inline} inline comments of one review "
        "are listed here and in the annotations only.",
    ]


def _notes(analysis: Analysis, facts: ReviewFacts) -> list[str]:
    out: list[str] = []
    if analysis.summary_notes:
        # Notes may be Markdown blocks of their own (a list, a table): those are kept as they are.
        notes = [escape.markdown(n if n.startswith(("-", "#", "|")) else f"- {n}") for n in analysis.summary_notes]
        out += ["", "### Notes", *notes]
    if facts.problems:
        out += ["", "### Publishing problems", *[f"- {escape.table_cell(p)}" for p in facts.problems]]
    return out


def _fit(build: Callable[[int, bool], str], rows: int = MAX_TABLE_ROWS) -> str:
    """The fullest text under GitHub's size limit: fewer table rows first, then no diagram."""
    text = build(rows, True)
    while len(text) > MAX_SUMMARY_CHARS and rows > 5:
        rows //= 2
        text = build(rows, True)
    if len(text) > MAX_SUMMARY_CHARS:
        text = build(rows, False)
    if len(text) > MAX_SUMMARY_CHARS:
        text = text[: MAX_SUMMARY_CHARS - 40] + "\n\n… (truncated)"
    return text
