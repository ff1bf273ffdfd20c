"""Split references: one image written as sibling fields (helm values, kustomize, Bazel container_pull).

A changed ``tag:`` line is assembled with its ``registry:``/``repository:``/``digest:`` siblings,
found at the same indentation in the lines visible on that side (the hunk, or the whole file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLIT_YAML = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>registry|repository|image|tag|digest|name|newName|newTag)"
                         r"\s*:\s*(?P<val>(?:.*\S)?)\s*$")  # not .*?\s*$: quadratic on long blank runs
SPLIT_STARLARK = re.compile(
    r"^(?P<indent>\s*)(?P<key>registry|repository|tag|digest)\s*=\s*(?P<val>\"[^\"]*\")\s*,?\s*$"
)
REF_FIELDS = {"tag", "newTag", "digest", "repository", "registry", "newName"}


@dataclass(slots=True)
class Group:
    first: int
    fields: dict[str, str]
    lines: dict[str, int]
    parent_is_image: bool


def sibling_group(view: dict[int, str], number: int, pattern: re.Pattern[str], section: str) -> Group | None:
    m = pattern.match(view.get(number, ""))
    if not m:
        return None
    indent = len(m.group("indent"))
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    parent = ""
    for step in (-1, 1):
        n = number if step == -1 else number + 1
        while n in view:
            text = view[n]
            stripped = text.strip()
            if stripped and not stripped.startswith("#"):
                cur = len(text) - len(text.lstrip())
                if cur < indent or (cur == indent and stripped.startswith("- ") and n != number):
                    if step == -1:
                        parent = stripped
                    break
                sm = pattern.match(text)
                if cur == indent and sm and sm.group("key") not in fields:
                    fields[sm.group("key")] = field_value(sm.group("val"))
                    lines[sm.group("key")] = n
            n += step
    # git names the enclosing top-level key in the hunk header when the parent is out of sight.
    parent = parent or section.strip()
    parent_is_image = "image" in parent.lower() or "container_pull" in parent
    return Group(min(lines.values()), fields, lines, parent_is_image) if lines else None


def field_value(raw: str) -> str:
    raw = raw.split(" #", 1)[0].strip().rstrip(",").strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    return raw
