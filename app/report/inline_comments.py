"""Inline review comments, as pure functions: which diff lines take a comment, which findings get
one, what a comment says (with its suggestion and hidden marker), and which comments are ours.

GitHub rejects a whole review (422) when one comment is on a line outside the diff, and fails
large reviews; the plan keeps to lines inside the hunks and to a cap, and says for every other
finding where it is shown instead. A line gets one comment: the findings on it are merged, with
one suggestion when they agree. The hidden marker carries the fingerprints of the findings it
speaks for, so a finding is commented once across pushes and its comment is found again when
all of its findings have gone away.
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


# Joins the keys of one comment's findings. Not a character of a marker key, so a key of one
# finding (the only form older comments have) reads back as itself.
KEY_SEPARATOR = ","


def group_key(fingerprints: Iterable[str]) -> str:
    """The marker key of a comment speaking for these findings (order-free)."""
    return KEY_SEPARATOR.join(sorted({marker_key(fp) for fp in fingerprints}))


def member_keys(key: str) -> list[str]:
    """The marker keys of the findings one comment speaks for."""
    return [k for k in key.split(KEY_SEPARATOR) if k]


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- image-review:fingerprint={marker_key(fingerprint)} -->"


def group_marker(fingerprints: Iterable[str]) -> str:
    return f"<!-- image-review:fingerprint={group_key(fingerprints)} -->"


def resolved_marker(key: str) -> str:
    return f"<!-- image-review:resolved={key} -->"


def inline_body(finding: Finding) -> str:
    """An inline comment: the finding, a suggestion replacing exactly the commented line, the marker."""
    return merged_body([finding])


def merged_body(findings: Sequence[Finding]) -> str:
    """One comment for the findings on one line, most severe first, and one suggestion.

    When the findings suggest different lines, the first one's suggestion is the block GitHub
    can apply (two blocks would each replace the whole line); the others are quoted as text.
    """
    source = next((f for f in findings if f.suggestion is not None), None)
    first = source.suggestion if source is not None else None
    parts: list[str] = []
    for f in findings:
        if parts:
            parts.append("")
        parts += _section(f)
        if f.suggestion is not None and f.suggestion != first:
            fence = escape.fence_for(f.suggestion)
            parts += ["", f"`{f.rule}` would suggest instead:", "", f"{fence}text", f.suggestion, fence]
    if source is not None and first is not None:
        fence = escape.fence_for(first)
        # With several findings, say which one the suggestion fixes: it may leave the others standing.
        agree = [f"`{f.rule}`" for f in findings if f.suggestion == first]
        lead = [f"Suggested for {', '.join(agree)}:", ""] if len(findings) > 1 else []
        parts += ["", *lead, f"{fence}suggestion", first, fence]
    parts += ["", group_marker(f.fingerprint for f in findings)]
    return "\n".join(parts)


def _section(finding: Finding) -> list[str]:
    heading = f"**{finding.severity.capitalize()}** · `{finding.rule}` {finding.name}"
    parts = [heading, "", escape.markdown(finding.message)]
    if finding.exempted_by:
        parts += ["", f"Exempted by {escape.markdown(finding.exempted_by)}."]
    return parts


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
class InlineComment:
    """One comment to post: the findings on one added line, most severe first."""

    path: str
    line: int
    findings: list[Finding]

    @property
    def key(self) -> str:
        return group_key(f.fingerprint for f in self.findings)

    @property
    def body(self) -> str:
        return merged_body(self.findings)


@dataclass
class InlinePlan:
    new: list[InlineComment]
    shown: dict[str, str]  # fingerprint -> how it appears besides the tables


LINE_TAKEN = "annotation (the line has an inline comment already)"


def plan_inline(
    findings: Sequence[Finding],
    commentable: dict[str, frozenset[int]],
    already: set[str],
    cap: int,
) -> InlinePlan:
    """Which lines get a new inline comment (for which findings), and for the rest, why not.

    ``already`` holds the marker keys of comments on GitHub (of one finding or of several).
    A comment already posted is not rewritten: a finding that appears later on its line is an
    annotation, so a re-run never replaces a thread someone may be answering.
    """
    plan = InlinePlan([], {})
    commented = {k for key in already for k in member_keys(key)}
    lines_taken: set[tuple[str, int]] = set()
    waiting: dict[tuple[str, int], list[Finding]] = {}
    for f in ordered(findings):
        if f.fingerprint in plan.shown:
            continue  # the same finding at another line: one comment is enough
        if marker_key(f.fingerprint) in commented:
            # Same words as when it was posted: an unchanged review leaves the summary unchanged.
            plan.shown[f.fingerprint] = "inline comment"
            if f.line is not None:
                lines_taken.add((f.path, f.line))
            continue
        reason = _not_inline(f, commentable)
        if reason is not None:
            plan.shown[f.fingerprint] = reason
            continue
        assert f.line is not None  # _not_inline keeps findings without a line out
        waiting.setdefault((f.path, f.line), []).append(f)
        plan.shown[f.fingerprint] = "inline comment"
    # Lines in the order of their most severe finding, so the cap keeps the errors.
    for (path, line), group in waiting.items():
        if (path, line) in lines_taken:
            reason = LINE_TAKEN
        elif len(plan.new) >= cap:
            reason = f"over the limit of {cap} inline comments: annotation"
        else:
            plan.new.append(InlineComment(path, line, group))
            continue
        for f in group:
            plan.shown[f.fingerprint] = reason
    return plan


def _not_inline(f: Finding, commentable: dict[str, frozenset[int]]) -> str | None:
    """Why a finding cannot have an inline comment of its own, or None when it can."""
    if f.severity == "notice":
        # Notices inform; the check run lists them. Inline comments are kept for what needs action.
        return "check run (notices are not commented inline)"
    if f.line is None:
        return "summary (not tied to a line)"
    if f.side != "added":
        return "summary (on a removed line)"
    if f.line not in commentable.get(f.path, frozenset()):
        return "annotation (line not in the diff)"
    return None


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
