"""Unified diffs → files, hunks and changed lines (interface; implementation pending)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

LineKind = Literal["+", "-", " "]


class DiffError(ValueError):
    """The input is not a diff we can read; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class Line:
    kind: LineKind
    text: str  # without the leading marker and without the line ending
    old_no: int | None  # set for "-" and " "
    new_no: int | None  # set for "+" and " "


@dataclass(slots=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str  # the text after the second "@@" (function context), may be ""
    lines: list[Line] = field(default_factory=list)


@dataclass(slots=True)
class FileDiff:
    old_path: str | None  # None for a new file (/dev/null)
    new_path: str | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    # Counts of changed lines, known even when the hunks were filtered out.
    added: int = 0
    removed: int = 0
    # True when a prefilter decided this file holds no candidate and hunks were not built.
    filtered: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass(slots=True)
class Commit:
    sha: str | None
    author: str
    date: str
    subject: str
    files: list[FileDiff] = field(default_factory=list)


Prefilter = Callable[[bytes], bool]
