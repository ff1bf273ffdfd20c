"""What the rules are given (the PR's data and the review context) and what they return (drafts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal

from app.core.diffs import FileDiff
from app.core.models import RefChange, RefClass, Severity, Side
from app.policy.catalog import RuleMeta
from app.policy.config import Policy
from app.policy.evidence import RegistryEvidence

IssueState = Literal["open", "closed"]
IssueStateLookup = Callable[[int], IssueState | None]


@dataclass(frozen=True, slots=True)
class Approval:
    """An approving review: who, their teams (``org/team``), and the commit it approved."""

    login: str
    commit_id: str | None
    teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommitInput:
    """One commit of the pull request, oldest first: its own diff and the references in it."""

    sha: str | None
    subject: str
    files: Sequence[FileDiff]
    refs: Sequence[RefChange]


@dataclass(frozen=True)
class EvalContext:
    """Everything about the review that is not the diff itself.  ``today`` is injected for tests."""

    today: date
    # The states of the tracking issues the exemptions name, looked up before evaluation (no
    # rule does I/O): None when not checked (the CLI); a number missing when it is not known.
    issue_states: Mapping[int, IssueState] | None = None
    # Approving reviews of the PR; None when not known (the CLI), [] when there are none.
    approvals: Sequence[Approval] | None = None
    head_sha: str | None = None
    policy_path: str = ".github/image-review.yml"
    # When the PR changes the policy file: its text at the base and at the head (None = no file).
    # The change is also detected from the diff; without the texts only a note is written.
    policy_text_old: str | None = None
    policy_text_new: str | None = None
    policy_changed: bool = False
    # What the registries said (gathered before evaluation); None when verification is off.
    registry: RegistryEvidence | None = None


class LineIndex:
    """The text of changed and context lines, by path, side and line number."""

    def __init__(self, files: Sequence[FileDiff]) -> None:
        self._new: dict[tuple[str, int], str] = {}
        self._old: dict[tuple[str, int], str] = {}
        for f in files:
            for hunk in f.hunks:
                for line in hunk.lines:
                    if line.new_no is not None and f.new_path is not None:
                        self._new[(f.new_path, line.new_no)] = line.text
                    if line.old_no is not None and f.old_path is not None:
                        self._old[(f.old_path, line.old_no)] = line.text

    def text(self, path: str, line: int | None, side: Side = "added") -> str | None:
        if line is None:
            return None
        table = self._new if side == "added" else self._old
        return table.get((path, line))


@dataclass(frozen=True)
class RuleInput:
    refs: Sequence[RefChange]
    files: Sequence[FileDiff]
    commits: Sequence[CommitInput] | None
    policy: Policy
    context: EvalContext

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.files)

    def ref_class(self, ref: RefChange) -> RefClass:
        """The class under this repository's policy (the extractor may have used the defaults)."""
        if ref.registry is None:
            return ref.ref_class
        return self.policy.classifier.classify(ref.registry, ref.repository)

    @cached_property
    def added(self) -> list[RefChange]:
        return [r for r in self.refs if r.side == "added"]

    def judged(self, ref: RefChange) -> bool:
        """Whether reference rules look at ``ref``: added, really used, and not in a generated file."""
        return ref.side == "added" and not ref.in_comment and not self.policy.is_generated(ref.path)


@dataclass(slots=True)
class Draft:
    """A finding before the engine applies the policy's rule settings and exemptions."""

    meta: RuleMeta
    path: str
    line: int | None
    message: str
    reference: str  # normalized reference (or another stable key) for the fingerprint and exemptions
    severity: Severity | None = None  # None = the rule's configured severity
    suggestion: str | None = None
    side: Side = "added"
    commit: str | None = None
    # True/False: the path is/is not production (outside_production applies); None: not path-based.
    production: bool | None = None
    exempted_by: str | None = None
    # For rules whose metadata sets ``group``: drafts with the same key (within the scope) are one
    # cause ("the deprecated registry k8s.gcr.io"), and ``group_about`` says what they share, as
    # the end of "This pull request adds 81 references ..." ("to the deprecated registry `k8s.gcr.io`").
    # None: this draft stands alone even in a grouping rule (an IR001 line with its own one-click fix).
    group_key: str | None = ""
    group_about: str = ""


@dataclass(slots=True)
class RuleOutput:
    """What one rule family returns: findings to be, and lines for the summary."""

    drafts: list[Draft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def replace_in_line(line_text: str | None, old: str, new: str) -> str | None:
    """The line with its first ``old`` replaced by ``new``: a suggestion for the whole line."""
    if line_text is None or not old or old not in line_text or old == new:
        return None
    return line_text.replace(old, new, 1)
