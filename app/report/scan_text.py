"""Human-readable text output for `image-review scan`."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from app.core.models import RefChange


def _flags(ref: RefChange) -> str:
    flags = [name for name, on in (("templated", ref.templated), ("partial", ref.partial),
                                   ("in comment", ref.in_comment), ("in place", ref.in_place)) if on]
    return f" ({', '.join(flags)})" if flags else ""


def format_references(refs: Iterable[RefChange]) -> str:
    refs = list(refs)
    if not refs:
        return "No image references changed.\n"
    lines: list[str] = []
    for path, group in groupby(sorted(refs, key=lambda r: (r.path, r.line, r.side)), key=lambda r: r.path):
        lines.append(path)
        for ref in group:
            sign = "+" if ref.side == "added" else "-"
            commit = f" [{ref.commit[:12]}]" if ref.commit else ""
            lines.append(f"  {sign} {ref.path}:{ref.line}  {ref.reference}  {ref.ref_class}  {ref.context}"
                         f"{_flags(ref)}{commit}")
            if ref.note:
                lines.append(f"      note: {ref.note}")
    added = sum(r.side == "added" for r in refs)
    lines.append(f"\n{len(refs)} references: {added} added, {len(refs) - added} removed.")
    return "\n".join(lines) + "\n"
