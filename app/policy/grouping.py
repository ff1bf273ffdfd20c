"""One finding per cause: the findings of a grouping rule (``RuleMeta.group``) merged into one.

    group(pairs) -> findings

A registry migration that rewrites 81 references to ``k8s.gcr.io`` has one cause, not 81; a file
listing five version-keyed images with pre-release tags has one, not five. A rule declares the scope
of a cause in its metadata (``"pull-request"``: one finding per pull request and grouping key;
``"file"``: one per file and key) and each draft carries its key (``Draft.group_key``).

The grouped finding is its first reference's finding — the first one with a suggestion, when the
first has none — (same path, line, suggestion and fingerprint, so an inline comment keeps its
one-click fix and a re-run finds it again) with a message that counts the references and files it
covers, and the other references in ``Finding.also``.

Only findings that stand are grouped: an exempted reference keeps its own (notice) finding, which
names its exemption, and a finding on a removed line or without a line stays as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from app.core.models import Finding, Location
from app.policy.context import Draft
from app.policy.rulemeta import GroupScope

# How many files (pull-request scope) or lines (file scope) a grouped message names.
NAMED = 3

GroupKey = tuple[str, str, str, str]  # rule, severity, path (file scope) or "", draft's key


def group(pairs: Sequence[tuple[Draft, Finding]]) -> list[Finding]:
    """The findings, with each group in place of its first member (the input order is kept)."""
    members: dict[GroupKey, list[tuple[Draft, Finding]]] = {}
    slots: list[Finding | GroupKey] = []
    for draft, finding in pairs:
        key = _key(draft, finding)
        if key is None:
            slots.append(finding)
            continue
        if key not in members:
            members[key] = []
            slots.append(key)
        members[key].append((draft, finding))
    return [slot if isinstance(slot, Finding) else _merged(members[slot]) for slot in slots]


def _key(draft: Draft, finding: Finding) -> GroupKey | None:
    scope = draft.meta.group
    if (scope is None or draft.group_key is None or finding.exempted_by is not None or finding.side != "added"
            or finding.line is None):
        return None
    return (finding.rule, finding.severity, finding.path if scope == "file" else "", draft.group_key)


def _merged(members: Sequence[tuple[Draft, Finding]]) -> Finding:
    if len(members) == 1:
        return members[0][1]
    # The first reference with a one-click fix carries the comment: a Bazel `container_pull` split
    # over three lines has none, the manifest after it has one.
    at = next((i for i, (_, f) in enumerate(members) if f.suggestion), 0)
    draft, first = members[at]
    findings = [f for _, f in members]  # the message lists them in path and line order
    scope: GroupScope = draft.meta.group or "pull-request"
    about = draft.group_about or "like this one"
    lead = _file_lead(findings, about) if scope == "file" else _pull_request_lead(findings, about)
    return replace(
        first,
        message=f"{lead} On this line: {first.message}",
        also=tuple(Location(f.path, f.line, f.fingerprint) for i, (_, f) in enumerate(members) if i != at),
    )


def _pull_request_lead(findings: Sequence[Finding], about: str) -> str:
    per_file = Counter(f.path for f in findings)  # in order of first appearance
    named = list(per_file.items())[:NAMED]
    listing = ", ".join(f"`{path}` ({n})" for path, n in named)
    rest_files = len(per_file) - len(named)
    if rest_files:
        rest_refs = len(findings) - sum(n for _, n in named)
        listing += f" and {plural(rest_files, 'more file')} ({plural(rest_refs, 'reference')})"
    return (f"This pull request adds {plural(len(findings), 'reference')} {about} "
            f"in {plural(len(per_file), 'file')}: {listing}.")


def _file_lead(findings: Sequence[Finding], about: str) -> str:
    lines = [str(f.line) for f in findings]
    listing = ", ".join(lines[:NAMED])
    if len(lines) > NAMED:
        listing += f" and {plural(len(lines) - NAMED, 'more line')}"
    return f"This file adds {plural(len(findings), 'reference')} {about}, on lines {listing}."


def plural(count: int, noun: str) -> str:
    """``1 reference``, ``3 references``, ``2 more files``: the noun's last word takes the s."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
