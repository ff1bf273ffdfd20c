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
    """Commit by commit when the input has commits (each names its commit), else the whole diff."""
    return analysis.commit_references if analysis.commits else analysis.references


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
    if analysis.commits:
        out.append("")
        out.append("Commits:")
        out += [f"  {(c.sha or '')[:12]:12}  {c.kind:12}  {c.subject}" for c in analysis.commits]
    out.append("")
    out.append(f"Change pattern: {analysis.change_pattern}")
    out += [f"Not analysed: {item}" for item in analysis.not_analysed]
    out += [f"Note: {note}" for note in analysis.summary_notes]
    out.append(_totals(analysis.findings, len(analysis.references)))
    return "\n".join(escape.plain_line(line) for line in out) + "\n"


def _totals(findings: Iterable[Finding], refs: int) -> str:
    counts = {s: 0 for s in ("error", "warning", "notice")}
    for f in findings:
        counts[f.severity] += 1
    return (f"{refs} image references changed; {counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['notice']} notices.")


def format_github(analysis: Analysis) -> str:
    """Workflow commands (`::error file=..,line=..::msg`): annotations in a GitHub Actions run."""
    lines = []
    for f in analysis.findings:
        props = [f"title={escape.workflow_property(f'{f.rule} {f.name}')}"]
        if f.path:
            props.insert(0, f"file={escape.workflow_property(f.path)}")
            if f.line:
                props.insert(1, f"line={f.line}")
        message = f.message + (f"\nSuggestion: {f.suggestion.strip()}" if f.suggestion else "")
        lines.append(f"::{_SIGN[f.severity]} {','.join(props)}::{escape.workflow_data(message)}")
    lines.append(_totals(analysis.findings, len(analysis.references)))
    return "\n".join(lines) + "\n"


FORMATTERS = {"text": format_text, "json": format_json, "sarif": format_sarif, "github": format_github}
