"""Inline review comments, as pure functions: which diff lines take a comment, which findings get
one, what a comment says (with its suggestion and hidden marker), and which comments are ours.

GitHub rejects a whole review (422) when one comment is on a line outside the diff, and fails
large reviews; the plan keeps to lines inside the hunks and to a cap, and says for every other
finding where it is shown instead. The hidden marker carries the finding's fingerprint, so a
finding is commented once across pushes and its comment is found again when it goes away.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.diffs import FileDiff
from app.core.models import Finding
from app.report import escape

# Markers are the last line of what the App writes: one quoted earlier (a suggestion holds a
# line of the pull request) is not ours.
_MARKER_RE = re.compile(r"<!-- image-review:fingerprint=(\S+) -->\s*\Z")
_RESOLVED_RE = re.compile(r"<!-- image-review:resolved=(\S+) -->\s*\Z")


def marker_key(fingerprint: str) -> str:
    """The fingerprint as it appears in markers: itself when it is safe inside an HTML comment."""
    return escape.marker_key(fingerprint)


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- image-review:fingerprint={marker_key(fingerprint)} -->"


def resolved_marker(key: str) -> str:
    return f"<!-- image-review:resolved={key} -->"


def inline_body(finding: Finding) -> str:
    """An inline comment: the finding, a suggestion replacing exactly the commented line, the marker."""
    message = escape.markdown(finding.message)
    parts = [f"**{finding.severity.capitalize()}** · `{finding.rule}` {finding.name}", "", message]
    if finding.exempted_by:
        parts += ["", f"Exempted by {escape.markdown(finding.exempted_by)}."]
    if finding.suggestion is not None:
        fence = escape.fence_for(finding.suggestion)
        parts += ["", f"{fence}suggestion", finding.suggestion, fence]
    parts += ["", fingerprint_marker(finding.fingerprint)]
    return "\n".join(parts)


def commentable_lines(files: Iterable[FileDiff], exclude: Iterable[str] = ()) -> dict[str, frozenset[int]]:
    """New-side lines GitHub accepts review comments on: every line shown in a hunk of the diff."""
    skip = set(exclude)
    out: dict[str, frozenset[int]] = {}
    for f in files:
        if f.binary or f.new_path is None or f.new_path in skip:
            continue
        lines = {line.new_no for hunk in f.hunks for line in hunk.lines if line.new_no is not None}
        if lines:
            out[f.new_path] = frozenset(lines)
    return out



def ordered(findings: Sequence[Finding]) -> list[Finding]:
    rank = {"error": 0, "warning": 1, "notice": 2}
    return sorted(findings, key=lambda f: (rank[f.severity], f.path, f.line or 0, f.rule, f.fingerprint))


@dataclass
class InlinePlan:
    new: list[Finding]
    shown: dict[str, str]  # fingerprint -> how it appears besides the tables


def plan_inline(
    findings: Sequence[Finding],
    commentable: dict[str, frozenset[int]],
    already: set[str],
    cap: int,
) -> InlinePlan:
    """Which findings get a new inline comment, and for the rest, why not."""
    plan = InlinePlan([], {})
    lines_taken: set[tuple[str, int]] = set()
    for f in ordered(findings):
        key = marker_key(f.fingerprint)
        if f.fingerprint in plan.shown:
            continue  # the same finding at another line: one comment is enough
        if key in already:
            # Same words as when it was posted: an unchanged review leaves the summary unchanged.
            plan.shown[f.fingerprint] = "inline comment"
            if f.line is not None:
                lines_taken.add((f.path, f.line))
        elif f.severity == "notice":
            # Notices inform; the check run lists them. Inline comments are kept for what needs action.
            plan.shown[f.fingerprint] = "check run (notices are not commented inline)"
        elif f.line is None:
            plan.shown[f.fingerprint] = "summary (not tied to a line)"
        elif f.side != "added":
            plan.shown[f.fingerprint] = "summary (on a removed line)"
        elif f.line not in commentable.get(f.path, frozenset()):
            plan.shown[f.fingerprint] = "annotation (line not in the diff)"
        elif (f.path, f.line) in lines_taken:
            # One comment per line: the most severe finding speaks there, the others are annotations.
            plan.shown[f.fingerprint] = "annotation (the line has an inline comment already)"
        elif len(plan.new) >= cap:
            plan.shown[f.fingerprint] = f"over the limit of {cap} inline comments: annotation"
        else:
            plan.new.append(f)
            lines_taken.add((f.path, f.line))
            plan.shown[f.fingerprint] = "inline comment"
    return plan



@dataclass
class OurComment:
    id: int
    key: str
    replied: bool  # someone else answered in the thread
    resolved: bool  # we already answered "Resolved in ..."


def scan_review_comments(items: Iterable[dict[str, Any]]) -> dict[str, OurComment]:
    """Our inline comments by marker key, with what their threads hold."""
    items = list(items)
    replies: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in items:
        parent = c.get("in_reply_to_id")
        if isinstance(parent, int):
            replies[parent].append(c)
    ours: dict[str, OurComment] = {}
    for c in items:
        if c.get("in_reply_to_id") or not is_bot(c):
            continue
        match = _MARKER_RE.search(str(c.get("body") or ""))
        if match is None:
            continue
        thread = replies.get(int(c["id"]), [])
        ours[match.group(1)] = OurComment(
            id=int(c["id"]),
            key=match.group(1),
            replied=any(not is_bot(r) for r in thread),
            resolved=any(is_bot(r) and _RESOLVED_RE.search(str(r.get("body") or "")) for r in thread),
        )
    return ours


def is_bot(item: dict[str, Any]) -> bool:
    user = item.get("user")
    return isinstance(user, dict) and user.get("type") == "Bot"
