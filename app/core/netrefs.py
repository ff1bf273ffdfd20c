"""The net image-reference change of a commit sequence, when no diff of the whole change exists.

A format-patch mailbox carries one diff per commit, never the pull request's own diff. A
reference added by one commit and removed by a later one (or removed and added back) is not part
of the net change, exactly as it would be absent from `git diff base...head`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.core.models import RefChange

_Key = tuple[str, str]


def net_references(per_commit: Iterable[Sequence[RefChange]]) -> list[RefChange]:
    """Later commits cancel earlier ones per (path, normalized reference); what is left is the net change."""
    added: dict[_Key, list[RefChange]] = {}
    removed: dict[_Key, list[RefChange]] = {}
    for refs in per_commit:
        for ref in refs:
            key = (ref.path, ref.normalized())
            mine, other = (added, removed) if ref.side == "added" else (removed, added)
            if other.get(key):
                other[key].pop()
            else:
                mine.setdefault(key, []).append(ref)
    survivors = [r for group in (*added.values(), *removed.values()) for r in group]
    return sorted(survivors, key=lambda r: (r.path, r.line, r.side))
