"""The switch-back change: every promoted staging reference rewritten to its release, nothing else.

It is the first step of the two-step pattern (an image-only change), planned from a staging board
whose rows carry promotion evidence. Only rows whose release has the staging build's digest are
switched. Each line is edited where the reference is written: the whole reference when it is
on one line, else its name (a split ``repository:`` / ``tag:`` pair keeps its tag line, which
promotion does not change). A row whose line no longer reads as expected is left out and named.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from app.analysis.staging_board import StagingBoard, StagingRow
from app.core.references import ImageRef


@dataclass(frozen=True, slots=True)
class LineEdit:
    path: str
    line: int
    old: str
    new: str


Grouping = Literal["image", "project"]


@dataclass(slots=True)
class SwitchBack:
    """The switch back of one staging image (its registry/repository), or of every image of one
    staging project (``group: project``), to the release."""

    staging_name: str  # the image, or the project's location
    release: ImageRef  # the first row's release (the only one when grouped by image)
    rows: list[StagingRow] = field(default_factory=list)
    edits: list[LineEdit] = field(default_factory=list)

    @property
    def release_names(self) -> list[str]:
        return sorted({r.promotion.release.name for r in self.rows if r.promotion.release is not None})

    @property
    def slug(self) -> str:
        return slug_for(self.staging_name)

    @property
    def issues(self) -> list[int]:
        return sorted({r.item.issue for r in self.rows if r.item.issue is not None})

    @property
    def paths(self) -> list[str]:
        return sorted({e.path for e in self.edits})


def group_name(image: str, group: Grouping) -> str:
    """What a switch-back gathers: the image itself, or its project (the location it sits in)."""
    return image.rsplit("/", 1)[0] if group == "project" and "/" in image else image


def slug_for(name: str) -> str:
    """A branch-name-safe name for an image: its last path component (``etcd-manager``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1]).strip("-.") or "image"


@dataclass(slots=True)
class SwitchBackPlan:
    changes: list[SwitchBack] = field(default_factory=list)
    skipped: list[tuple[StagingRow, str]] = field(default_factory=list)  # row, why it is left out


def release_text(row: StagingRow) -> str | None:
    """The release reference to write in place of the row's staging reference."""
    release = row.promotion.release
    if release is None:
        return None
    digest = f"@{row.ref.digest}" if row.ref.digest else ""
    return f"{release.name}:{release.tag}{digest}" if release.tag else f"{release.name}{digest}"


def written_name(reference: str) -> str:
    """The name part of a reference as written (no tag, no digest)."""
    name = reference.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def plan_switch_back(board: StagingBoard, read: Callable[[str], str | None],
                     group: Grouping = "image") -> SwitchBackPlan:
    """Edits for every promoted row, grouped by staging image (or project); ``read(path)`` gives a
    file's text."""
    plan = SwitchBackPlan()
    by_name: dict[str, SwitchBack] = {}
    texts: dict[str, list[str] | None] = {}
    for row in board.rows:
        if row.promotion.state != "promoted" or row.promotion.release is None:
            continue
        if row.ref.path not in texts:
            text = read(row.ref.path)
            texts[row.ref.path] = text.splitlines(keepends=True) if text is not None else None
        lines = texts[row.ref.path]
        edit = _edit(row, lines) if lines is not None else None
        if edit is None:
            plan.skipped.append((row, "the line no longer holds the reference"))
            continue
        name = group_name(row.ref.name or written_name(row.ref.reference), group)
        change = by_name.setdefault(name, SwitchBack(name, row.promotion.release))
        change.rows.append(row)
        if edit not in change.edits:
            change.edits.append(edit)
    plan.changes = sorted(by_name.values(), key=lambda c: c.staging_name)
    return plan


def _edit(row: StagingRow, lines: list[str]) -> LineEdit | None:
    new_ref = release_text(row)
    if new_ref is None:
        return None
    reference = row.ref.reference
    release_name = written_name(new_ref)
    for number in row.ref.lines or (row.ref.line,):
        if not 1 <= number <= len(lines):
            continue
        old = lines[number - 1]
        if _contains(old, reference):
            return LineEdit(row.ref.path, number, old, _replace(old, reference, new_ref))
        name = written_name(reference)
        if name != reference and _contains(old, name) and (row.promotion.release and
                                                            row.promotion.release.tag == row.ref.tag):
            return LineEdit(row.ref.path, number, old, _replace(old, name, release_name))
    return None


def _pattern(reference: str) -> re.Pattern[str]:
    # Not inside a longer reference: no name character right before or after it.
    return re.compile(r"(?<![\w./:@-])" + re.escape(reference) + r"(?![\w./:@-])")


def _contains(line: str, reference: str) -> bool:
    return _pattern(reference).search(line) is not None


def _replace(line: str, reference: str, new: str) -> str:
    return _pattern(reference).sub(lambda _m: new, line, count=1)


def apply_edits(text: str, edits: Iterable[LineEdit]) -> str:
    """``text`` with the edits applied; raises ValueError when a line differs from what was planned."""
    lines = text.splitlines(keepends=True)
    for edit in edits:
        if not 1 <= edit.line <= len(lines) or lines[edit.line - 1] != edit.old:
            raise ValueError(f"{edit.path}:{edit.line} has changed since it was read")
        lines[edit.line - 1] = edit.new
    return "".join(lines)


def edits_by_path(changes: Iterable[SwitchBack]) -> dict[str, list[LineEdit]]:
    out: dict[str, list[LineEdit]] = {}
    for change in changes:
        for edit in change.edits:
            out.setdefault(edit.path, []).append(edit)
    return out


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{path}", f"b/{path}"))
