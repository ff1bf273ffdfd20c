"""Output of `image-review check`: text for people, JSON, SARIF, and GitHub Actions workflow commands."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import groupby
from typing import Any

from app.core.models import Analysis, Finding, RefChange
from app.policy import rules_meta
from app.report import escape
from app.report.sarif import to_sarif

_SIGN = {"error": "error", "warning": "warning", "notice": "notice"}


def references_for_output(analysis: Analysis) -> list[RefChange]:
    """Commit by commit when the input has commits (each names its commit), else the whole diff.

    A plain diff is judged as one pseudo-commit without references of its own: its references are
    the diff's (the same contract as `scan`).
    """
    return analysis.commit_references or analysis.references


def to_json(analysis: Analysis) -> dict[str, Any]:
    return {
        "references": [r.to_json() for r in references_for_output(analysis)],
        "findings": [f.to_json() for f in analysis.findings],
        "commits": [c.to_json() for c in analysis.commits],
        "change_pattern": analysis.change_pattern,
        "not_analysed": analysis.not_analysed,
    }


def format_json(analysis: Analysis) -> str:
    return json.dumps(to_json(analysis), indent=1) + "\n"


def format_sarif(analysis: Analysis) -> str:
    return json.dumps(to_sarif(analysis, rules_meta()), indent=1) + "\n"


def format_text(analysis: Analysis) -> str:
    out: list[str] = []
    findings = sorted(analysis.findings, key=lambda f: (f.path, f.line or 0, f.rule))
    for path, group in groupby(findings, key=lambda f: f.path):
        out.append(path or "(pull request)")
        for f in group:
            where = f"{f.path}:{f.line}" if f.line else f.path or "-"
            exempt = f" (accepted: {f.exempted_by})" if f.exempted_by else ""
            out.append(f"  {f.severity:7} {where}  {f.rule} {f.name}: {f.message}{exempt}")
            if f.suggestion is not None:
                out.append(f"          suggestion: {f.suggestion.strip()}")
            if f.also:
                out.append(f"          also: {_also(f)}")
    if analysis.commits:
        out.append("")
        out.append("Commits:")
        out += [f"  {(c.sha or '')[:12]:12}  {c.kind:12}  {c.subject}" for c in analysis.commits]
    out.append("")
    out.append(f"Change pattern: {analysis.change_pattern}")
    out += [f"Not analysed: {item}" for item in analysis.not_analysed]
    out += [f"Note: {note}" for note in analysis.summary_notes]
    out += _by_rule(analysis.findings)
    out.append(_totals(analysis.findings, len(analysis.references)))
    return "\n".join(escape.plain_line(line) for line in out) + "\n"


# A grouped finding's other places in the text output: enough to find them, not a wall of lines.
MAX_ALSO = 10


def _also(f: Finding) -> str:
    shown = ", ".join(str(loc) for loc in f.also[:MAX_ALSO])
    rest = len(f.also) - MAX_ALSO
    return shown + (f" and {rest} more (see the JSON or SARIF output)" if rest > 0 else "")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _by_rule(findings: Iterable[Finding]) -> list[str]:
    """One line per rule that repeats, with counts and files: a long listing's shape at a glance."""
    per_rule: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        per_rule.setdefault((f.rule, f.name), []).append(f)
    out = []
    for (rule, name), group in sorted(per_rule.items()):
        if len(group) < 2:
            continue
        severities = ", ".join(
            plural(n, severity)
            for severity in ("error", "warning", "notice")
            if (n := sum(1 for f in group if f.severity == severity))
        )
        files = len({f.path for f in group if f.path})
        out.append(f"By rule: {rule} {name}: {severities}" + (f" in {plural(files, 'file')}" if files else ""))
    return out


def _totals(findings: Iterable[Finding], refs: int) -> str:
    counts = {s: 0 for s in ("error", "warning", "notice")}
    for f in findings:
        counts[f.severity] += 1
    return (f"{plural(refs, 'image reference')} changed; {plural(counts['error'], 'error')}, "
            f"{plural(counts['warning'], 'warning')}, {plural(counts['notice'], 'notice')}.")


MAX_ANNOTATIONS_PER_RULE = 10


def format_github(analysis: Analysis, per_rule: int = MAX_ANNOTATIONS_PER_RULE) -> str:
    """Workflow commands (`::error file=..,line=..::msg`): annotations in a GitHub Actions run.

    At most ``per_rule`` annotations per rule (the most severe first), then one line saying how many
    more there are: a registry migration must not bury the one staging image under a hundred warnings.
    """
    lines = []
    rank = {"error": 0, "warning": 1, "notice": 2}
    by_rule: dict[str, list[Finding]] = {}
    for f in sorted(analysis.findings, key=lambda f: (f.rule, rank[f.severity], f.path, f.line or 0)):
        by_rule.setdefault(f.rule, []).append(f)
    for rule, findings in by_rule.items():
        lines += [_annotation(f) for f in findings[:per_rule]]
        rest = findings[per_rule:]
        if rest:
            worst = min((f.severity for f in rest), key=lambda s: rank[s])
            lines.append(f"::{_SIGN[worst]} title={escape.workflow_property(f'{rule} {rest[0].name}')}::"
                         + escape.workflow_data(f"{plural(len(rest), 'more finding')} of {rule} {rest[0].name} not "
                                        "shown as annotations (see the text or JSON output)."))
    lines.append(_totals(analysis.findings, len(analysis.references)))
    return "\n".join(lines) + "\n"


def _annotation(f: Finding) -> str:
    props = [f"title={escape.workflow_property(f'{f.rule} {f.name}')}"]
    message = f.message
    if f.path:
        props.insert(0, f"file={escape.workflow_property(f.path)}")
        if f.line and f.side == "added":
            props.insert(1, f"line={f.line}")
        elif f.line:
            # Annotations point at the new file: a removed line is named in the text, not mis-anchored.
            message = f"(removed line {f.line}) {message}"
    message += f"\nSuggestion: {f.suggestion.strip()}" if f.suggestion else ""
    return f"::{_SIGN[f.severity]} {','.join(props)}::{escape.workflow_data(message)}"


FORMATTERS = {"text": format_text, "json": format_json, "sarif": format_sarif, "github": format_github}
