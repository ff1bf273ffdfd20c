"""The data that flows from analysis to publishing: references found, findings, commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Side = Literal["added", "removed"]
RefClass = Literal["staging", "release", "other"]
Severity = Literal["error", "warning", "notice"]
CommitKind = Literal["image-switch", "config", "mixed", "regenerated", "none"]
ChangePattern = Literal["n/a", "single-commit", "image-only-first", "mixed"]

SEVERITY_RANK: dict[str, int] = {"notice": 0, "warning": 1, "error": 2}


@dataclass(frozen=True, slots=True)
class RefChange:
    """One image reference on an added or removed line.

    ``line`` is the new-side line for added references and the old-side line for
    removed ones; for a split reference (helm ``repository:``/``tag:``) it is the
    line of the first changed field and ``lines`` holds every field's line.
    """

    path: str
    line: int
    side: Side
    reference: str  # as written; split fields assembled
    registry: str | None
    repository: str | None
    tag: str | None
    digest: str | None
    ref_class: RefClass
    context: str  # dockerfile-from, yaml-image, yaml-split, kustomize, code-literal, ...
    commit: str | None = None
    partial: bool = False
    templated: bool = False
    in_comment: bool = False
    registry_implicit: bool = False
    lines: tuple[int, ...] = ()
    # This line's only change is inside this reference: an in-place version bump.
    in_place: bool = False
    # Set when a split reference could not be assembled completely.
    note: str | None = None

    @property
    def name(self) -> str | None:
        if self.registry is None or self.repository is None:
            return None
        return f"{self.registry}/{self.repository}"

    @property
    def plain(self) -> bool:
        return not (self.partial or self.templated or self.in_comment)

    def normalized(self) -> str:
        """The canonical form when fully literal, else the text as written."""
        if self.name is None or self.templated or self.partial:
            return self.reference
        out = self.name
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "side": self.side,
            "commit": self.commit,
            "reference": self.reference,
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "class": self.ref_class,
            "context": self.context,
            "partial": self.partial,
            "templated": self.templated,
            "in_comment": self.in_comment,
            "in_place": self.in_place,
            "lines": list(self.lines) if self.lines else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Location:
    """Another place a grouped finding covers (its anchor is the finding's own path and line)."""

    path: str
    line: int | None
    # The finding this place would have been on its own: a comment posted for it before the
    # grouping (or before the anchor moved) still stands while the place does.
    fingerprint: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # stable code, e.g. IR001
    name: str  # stable name, e.g. staging-image
    severity: Severity
    path: str
    line: int | None
    message: str
    fingerprint: str
    suggestion: str | None = None  # replacement for the whole line, or None
    commit: str | None = None
    side: Side = "added"
    exempted_by: str | None = None  # the exemption that lowered this finding to a notice
    # A grouped finding (one cause, many references): the other references it covers.
    also: tuple[Location, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "commit": self.commit,
            "message": self.message,
            "suggestion": self.suggestion,
            "fingerprint": self.fingerprint,
            "exempted_by": self.exempted_by,
            "also": [str(loc) for loc in self.also],
        }


@dataclass(slots=True)
class CommitSummary:
    sha: str | None
    subject: str
    kind: CommitKind
    image_lines: int = 0
    other_lines: int = 0
    generated_lines: int = 0
    # "path:line" of changed lines that are neither image references nor generated.
    other_locations: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"sha": self.sha, "subject": self.subject, "kind": self.kind}


@dataclass(slots=True)
class Analysis:
    """Everything one review found: the pure result of analyze(), before publishing."""

    references: list[RefChange]
    findings: list[Finding]
    commits: list[CommitSummary]
    change_pattern: ChangePattern
    # What could not be analysed, one human-readable line each ("path: patch omitted (too large)").
    not_analysed: list[str] = field(default_factory=list)
    # Extra Markdown for the summary (e.g. the effective-policy difference).
    summary_notes: list[str] = field(default_factory=list)
    files_analysed: int = 0
    # References found commit by commit (each with its sha), when the change has commits.
    commit_references: list[RefChange] = field(default_factory=list)

    def worst_severity(self) -> Severity | None:
        worst: Severity | None = None
        for f in self.findings:
            if worst is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]:
                worst = f.severity
        return worst
