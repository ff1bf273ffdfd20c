"""Build a unified diff from two texts and extract its references: shared by the detection tests."""

from __future__ import annotations

import difflib

from app.core.diffs import parse_diff
from app.core.extract import FileReader, extract
from app.core.models import RefChange


def make_diff(path: str, old: str, new: str, *, old_path: str | None = None, context: int = 3) -> bytes:
    before = old_path or path
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{before}", f"b/{path}", n=context
    )
    header = f"diff --git a/{before} b/{path}\n"
    if before != path:
        header += f"similarity index 80%\nrename from {before}\nrename to {path}\n"
    return (header + "".join(lines)).encode()


def refs_of(path: str, old: str, new: str, *, reader: FileReader | None = None, context: int = 3,
            old_path: str | None = None) -> list[RefChange]:
    return extract(parse_diff(make_diff(path, old, new, old_path=old_path, context=context)), reader=reader)


def added(path: str, text: str) -> list[RefChange]:
    return [r for r in refs_of(path, "", text) if r.side == "added"]


def by_side(refs: list[RefChange]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"added": [], "removed": []}
    for r in refs:
        out[r.side].append(r.reference)
    return out
