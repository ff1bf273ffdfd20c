"""Split references: one image written as sibling fields (helm values, kustomize, Bazel container_pull).

A changed ``tag:`` (or ``digest:``, ``registry:``, ``image:``...) line is assembled with its siblings:
the keys of the same YAML mapping, found by indentation in the lines visible on that side (the hunk,
or the whole file). A list item (``- name: x``) is one mapping: its keys sit at the column after the
dash. What the keys mean is decided in app.core.extract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# File kinds whose references may be assembled from sibling keys (YAML, Starlark, and text files
# that may hold YAML).
SPLIT_KINDS = frozenset({"yaml", "text", "starlark"})
SPLIT_YAML = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>registry|repository|repo|image|tag|digest|name"
                        r"|newName|newTag)\s*:(?:\s+(?P<val>(?:.*\S)?))?\s*$")  # not .*?\s*$: quadratic on blank runs
SPLIT_STARLARK = re.compile(
    r"^(?P<indent>\s*)(?P<dash>)(?P<key>registry|repository|tag|digest)\s*=\s*(?P<val>\"[^\"]*\")\s*,?\s*$"
)
# Keys that make a mapping an image by themselves (with a repository-like sibling).
_ANY_KEY = re.compile(r"^\s*(?:-\s+)?(?P<key>[\w.-]+)\s*[:=]")
REF_FIELDS = {"tag", "newTag", "digest", "repository", "repo", "registry", "newName"}


@dataclass(slots=True)
class Group:
    first: int
    fields: dict[str, str]
    lines: dict[str, int]
    parent_is_image: bool
    parent_key: str  # the key of the enclosing mapping ("images" for kustomize), or ""
    keys: set[str]  # every key of the mapping seen, split field or not (pullPolicy, ...)


@dataclass(frozen=True, slots=True)
class _Shape:
    lead: int  # column of the first non-space character
    column: int  # column of the key (after a list dash)
    dash: bool


def _shape(text: str) -> _Shape:
    lead = len(text) - len(text.lstrip())
    rest = text[lead:]
    if rest.startswith("- ") or rest == "-":
        after = rest[1:]
        return _Shape(lead, lead + 1 + len(after) - len(after.lstrip()), True)
    return _Shape(lead, lead, False)


def sibling_group(view: dict[int, str], number: int, pattern: re.Pattern[str], section: str) -> Group | None:
    m = pattern.match(view.get(number, ""))
    if not m:
        return None
    column = m.start("key")
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    keys: set[str] = set()
    parent = ""

    def take(n: int) -> None:
        km = _ANY_KEY.match(view[n])
        if km and _shape(view[n]).column == column:
            keys.add(km.group("key"))
        sm = pattern.match(view[n])
        if sm and sm.group("key") not in fields and _shape(view[n]).column == column:
            fields[sm.group("key")] = field_value(sm.group("val") or "")
            lines[sm.group("key")] = n

    take(number)
    own = _shape(view[number])
    n = number - 1
    in_item = own.dash
    while n in view and not in_item:
        shape = _shape(view[n])
        if _blank(view[n]) or shape.column > column:
            n -= 1
            continue
        if shape.column < column:
            parent = view[n].strip()
            break
        take(n)
        in_item = shape.dash  # the first key of this list item: the mapping starts here
        n -= 1
    if in_item:
        parent = _parent_of_item(view, n)
    n = number + 1
    while n in view:
        shape = _shape(view[n])
        if not _blank(view[n]):
            if shape.lead < column or (shape.dash and shape.column <= column):
                break
            if shape.column == column:
                take(n)
        n += 1
    # git names the enclosing top-level key in the hunk header when the parent is out of sight.
    parent = parent or section.strip()
    parent_key = parent.lstrip("- ").split(":", 1)[0].strip()
    parent_is_image = "image" in parent.lower() or "container_pull" in parent
    return Group(min(lines.values()), fields, lines, parent_is_image, parent_key, keys) if lines else None


def _parent_of_item(view: dict[int, str], n: int) -> str:
    """The key that holds a list: the first line above the item that is less indented (or not a dash)."""
    item_lead = _shape(view[n + 1]).lead if n + 1 in view else 0
    while n in view:
        shape = _shape(view[n])
        if not _blank(view[n]) and (shape.lead < item_lead or (shape.lead == item_lead and not shape.dash)):
            return view[n].strip()
        n -= 1
    return ""


def _blank(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


# YAML's spellings of "no value": a chart that sets `repository: null` names no image.
_YAML_NULLS = frozenset({"null", "Null", "NULL", "~"})


def field_value(raw: str) -> str:
    raw = raw.split(" #", 1)[0].strip().rstrip(",").strip()
    if raw in _YAML_NULLS:
        return ""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    return raw


_GLOBAL_REGISTRY = re.compile(r"^\s+(?:imageRegistry|registry)\s*:\s*(?P<val>\S+)")


# A key naming where images live (`baseRepo`, `imageRegistry`, `registry`) set to a registry host,
# with or without a path below it (`registry.k8s.io/sig-storage`).
_BASE_KEY = re.compile(r"^\s*(?P<key>\w*(?:[Rr]epo|[Rr]egistry))\s*:\s*(?P<val>\S+)\s*$")
_BARE_HOST = re.compile(r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+|localhost)(?::\d+)?(?:/[a-z0-9._-]+)*$")


def base_repository(view: dict[int, str], before: int) -> str | None:
    """The nearest base registry written above line ``before`` (``baseRepo: mcr.microsoft.com``): what a
    relative ``repository: /oss/kubernetes-csi/azuredisk-csi`` is joined to. None when none is in sight."""
    for n in sorted((n for n in view if n < before), reverse=True):
        m = _BASE_KEY.match(view[n])
        if m:
            value = field_value(m.group("val"))
            if _BARE_HOST.match(value):
                return value
    return None


def global_registry(view: dict[int, str]) -> str | None:
    """The Helm chart-wide registry (``global.imageRegistry``, ``global.image.registry``), if written.

    Charts fall back to it for every image whose mapping names no registry of its own.
    """
    inside = False
    for n in sorted(view):
        text = view[n]
        if _blank(text):
            continue
        if not text[0].isspace():
            inside = text.rstrip() == "global:"
            continue
        m = _GLOBAL_REGISTRY.match(text) if inside else None
        if m:
            return field_value(m.group("val")) or None
    return None
