"""Which changed lines of a commit belong to its image change, and which commits only regenerate output.

The two-step rules ask "does this commit change anything besides the image?".  A line is part of
the image change, not an "other" line, when it is:

* a line holding a reference (or a field of a split reference);
* a line in a generated file (``generated_paths``) or anywhere in a regenerated-output commit;
* a line that only moved: the same text removed and added again in the same file (a key reorder,
  a re-sorted list);
* a line that carries the switched version: it contains the old or new tag of a reference the
  commit changes (the Go constant holding the tag, a chart's ``appVersion``);
* a chart's ``version:``/``appVersion:`` in a ``Chart.yaml`` of a commit that changes images;
* the declaration of a variable an image line uses (``var tag string`` for ``fmt.Sprintf("...:%v", tag)``);
* a branch selector beside an image line (``case "1.24":``, ``default:``, a shell ``1.24)``);
* structure only (closing brackets, ``;;``, ``esac``, ``fi``) or blank/comment-only lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from app.core.comment_syntax import is_neutral
from app.core.diffs import FileDiff
from app.core.filekinds import base_name
from app.core.models import RefChange

# Commit subjects of tools rewriting their output (kops `hack/update-expected.sh`, `make generate`,
# `go generate`, helm-docs, kustomize renders, "autogen: ..."). The subject must open with it: "Switch
# the image and regenerate" is a commit that does more than regenerate.
_REGENERATED_SUBJECT = re.compile(
    r"^\W*((chore|build|test|tests|docs|ci)(\([^)]*\))?:\s*)?((run|ran|running|rerun|re-run)\s+)?"
    r"(\.?/?hack/update[-\w]*(\.sh)?|update[-_ ](expected|generated|golden|gen)\b|\bregen(erat\w*)?\b|re-generat|"
    r"autogen|go generate|make (gen|generate|update|manifests|helm-docs|docs)\b|helm-docs|"
    r"(update|refresh)\s+(the\s+)?(expected|generated|golden|rendered)\b|squashed\s+'[^']+/?'\s+changes)",
    re.IGNORECASE,
)
_SELECTOR = re.compile(r"^\s*(case\s.+|default)\s*:\s*(//.*)?$|^\s*[\w.\"'*|-]+\)\s*$")
_STRUCTURE = re.compile(r"^\s*([\]\)\};,]+|;;|esac|fi|done|end)\s*$")
_CHART_VERSION = re.compile(r"^\s*(version|appVersion)\s*:")
_NEAR = 2  # lines between a selector and the image line it selects


def is_regenerated_subject(subject: str) -> bool:
    return bool(_REGENERATED_SUBJECT.match(subject))


def version_tokens(refs: Iterable[RefChange]) -> set[str]:
    """Tags that name a version (a digit, at least four characters): the old and new values switched."""
    out: set[str] = set()
    for ref in refs:
        tag = ref.tag
        if tag and len(tag) >= 4 and any(c.isdigit() for c in tag) and "{" not in tag and "$" not in tag:
            out.add(tag)
            if tag[0] in "vV" and "." in tag:
                out.add(tag[1:])
    return out


@dataclass(frozen=True, slots=True)
class FileLines:
    """The changed lines of one file: (side, number, text), in diff order."""

    path: str
    lines: tuple[tuple[str, int, str], ...]


def changed_lines(f: FileDiff) -> FileLines:
    rows: list[tuple[str, int, str]] = []
    for hunk in f.hunks:
        for line in hunk.lines:
            if line.kind == "+" and line.new_no is not None:
                rows.append(("added", line.new_no, line.text))
            elif line.kind == "-" and line.old_no is not None:
                rows.append(("removed", line.old_no, line.text))
    return FileLines(f.path, tuple(rows))


def _moved_key(text: str) -> str:
    # A key that moves to or from the head of a YAML list item gains or loses the `- ` marker
    # (`- image: x` / `name: y` reordered to `- name: y` / `image: x`): the same line moved.
    key = text.strip()
    return key[2:].lstrip() if key.startswith("- ") else key


def moved(rows: Sequence[tuple[str, int, str]]) -> set[tuple[str, int]]:
    """Lines whose text is removed and added again in the same file (a reorder, not a change)."""
    removed = Counter(_moved_key(text) for side, _, text in rows if side == "removed" and _moved_key(text))
    added = Counter(_moved_key(text) for side, _, text in rows if side == "added" and _moved_key(text))
    both = removed & added
    out: set[tuple[str, int]] = set()
    budget = {"removed": Counter(both), "added": Counter(both)}
    for side, number, text in rows:
        key = _moved_key(text)
        if budget[side][key] > 0:
            budget[side][key] -= 1
            out.add((side, number))
    return out


# A declaration or assignment: `var tag string`, `tag := ...`, `TAG ?= ...`, `ARG TAG=`, `export TAG=`.
_DECLARED = re.compile(
    r"^\s*(?:var\s+|const\s+|export\s+|ARG\s+|ENV\s+|local\s+|let\s+)?([A-Za-z_][\w.]*)\s*(?:[:?+]?=|\s+\w+\s*$)"
)
_WORD = re.compile(r"[A-Za-z_]\w{2,}")


def image_words(texts: Iterable[str]) -> set[str]:
    """Identifiers on image lines: a variable declared elsewhere that builds the reference (``tag``)."""
    return {w for t in texts for w in _WORD.findall(t)}


def belongs_to_change(
    path: str, text: str, *, versions: set[str], near_image: bool, changes_images: bool,
    words: AbstractSet[str] = frozenset(),
) -> bool:
    """Whether a changed line without a reference is still part of the image change (see module doc)."""
    if is_neutral(path, text) or _STRUCTURE.match(text):
        return True
    declared = _DECLARED.match(text)
    if declared and declared.group(1).split(".")[-1] in words:
        return True
    if any(v in text for v in versions):
        return True
    if changes_images and base_name(path) == "chart.yaml" and _CHART_VERSION.match(text):
        return True
    return near_image and bool(_SELECTOR.match(text))


_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def _shape(text: str) -> str:
    """The line with its version numbers blanked: ``go 1.23.0`` and ``go 1.23.2`` share a shape."""
    return _NUMBERS.sub("#", text.strip())


def other_halves(
    rows: Sequence[tuple[str, int, str]], unrelated: Sequence[tuple[str, int, str]]
) -> list[tuple[str, int, str]]:
    """Drop unrelated lines whose other half belongs to the change.

    A version bump replaces ``go 1.23.0`` with ``go 1.23.2``: the added half carries the new tag
    and belongs; the removed half, same line but for its numbers, belongs with it.
    """
    left = {(side, number) for side, number, _ in unrelated}
    belonging = Counter(_shape(text) for side, number, text in rows if (side, number) not in left)
    return [row for row in unrelated if belonging[_shape(row[2])] == 0]


def near(numbers: set[int], number: int) -> bool:
    return any(abs(number - n) <= _NEAR for n in numbers)
