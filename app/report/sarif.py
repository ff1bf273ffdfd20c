"""Findings as SARIF 2.1.0, for GitHub code scanning and other SARIF viewers."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any
from urllib.parse import quote

from app.core.models import Analysis, Finding, Severity
from app.policy.catalog import RuleMeta
from app.report import escape

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "image-review"
INFORMATION_URI = "https://github.com/image-review/image-review"
DOCS_PATH = "docs/rules.md"
# partialFingerprints key: versioned, so a future change of the fingerprint recipe is a new key.
FINGERPRINT_KEY = "imageReviewFingerprint/v1"

_LEVEL: dict[Severity, str] = {"error": "error", "warning": "warning", "notice": "note"}


def tool_version() -> str:
    try:
        return metadata.version("image-review")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def help_uri(meta: RuleMeta, information_uri: str = INFORMATION_URI) -> str:
    return f"{information_uri}/blob/main/{DOCS_PATH}#{meta.anchor}"


def _rule(meta: RuleMeta, information_uri: str) -> dict[str, Any]:
    return {
        "id": meta.code,
        "name": meta.name,
        "shortDescription": {"text": meta.summary},
        "fullDescription": {"text": meta.description},
        "helpUri": help_uri(meta, information_uri),
        "help": {"text": f"{meta.summary}. See {help_uri(meta, information_uri)}"},
        "defaultConfiguration": {"level": _LEVEL[meta.severity], "enabled": True},
        "properties": {"tags": ["container-image"], "actionRequired": meta.action_required},
    }


def _uri(path: str) -> str:
    # SARIF wants a relative URI reference: no leading slash, spaces and the like escaped.
    return quote(path.lstrip("/"), safe="/-._~")


def _location(path: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"}}
    if line is not None and line > 0:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


# GitHub code scanning rejects a result with more than 1,000 locations.
MAX_RELATED = 1000


def _related(finding: Finding) -> list[dict[str, Any]]:
    """The other references a grouped finding covers (SARIF ids must be unique within a result)."""
    also = finding.also[:MAX_RELATED]
    return [{"id": i, **_location(loc.path, loc.line)} for i, loc in enumerate(also, start=1)]


def _fix(path: str, line: int, replacement: str) -> dict[str, Any]:
    # Replace the whole line: a region with only startLine covers that line up to its end.
    return {
        "description": {"text": "Replace the line with the suggested reference."},
        "artifactChanges": [{
            "artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"},
            "replacements": [{
                "deletedRegion": {"startLine": line},
                "insertedContent": {"text": replacement},
            }],
        }],
    }


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": _LEVEL[finding.severity],
        "message": {"text": escape.sarif_text(finding.message)},
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"name": finding.name, "side": finding.side},
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.path:
        result["locations"] = [_location(finding.path, finding.line)]
    if finding.also:
        result["relatedLocations"] = _related(finding)
    if finding.commit:
        result["properties"]["commit"] = finding.commit
    if finding.suggestion is not None and finding.line is not None and finding.path and finding.side == "added":
        result["fixes"] = [_fix(finding.path, finding.line, finding.suggestion)]
    if finding.exempted_by:
        result["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": finding.exempted_by}]
    return result


def to_sarif(
    analysis: Analysis,
    rules_meta: Sequence[RuleMeta],
    *,
    information_uri: str = INFORMATION_URI,
    version: str | None = None,
) -> dict[str, Any]:
    """One SARIF run holding every finding of ``analysis``; ``rules_meta`` describes the rules."""
    rules = list(rules_meta)
    index = {meta.code: i for i, meta in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": version or tool_version(),
                "informationUri": information_uri,
                "rules": [_rule(m, information_uri) for m in rules],
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
        "results": [_result(f, index) for f in analysis.findings],
        "columnKind": "unicodeCodePoints",
    }
    if analysis.not_analysed:
        run["invocations"] = [{
            "executionSuccessful": True,
            "toolExecutionNotifications": [{"level": "note", "message": {"text": escape.sarif_text(text)}}
                                           for text in analysis.not_analysed],
        }]
    properties: dict[str, Any] = {"changePattern": analysis.change_pattern}
    if analysis.summary_notes:
        properties["summaryNotes"] = list(analysis.summary_notes)
    run["properties"] = properties
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
