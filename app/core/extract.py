"""Which changed lines hold image references, by file kind and context.

The line detectors (app.core.detectors) run on every added and removed line; split references
(app.core.splits: helm ``repository:``/``tag:``, Bazel ``container_pull``, kustomize ``images:``)
are assembled from the sibling fields visible on the same side of the hunk, or from the whole
file when the caller can read it (git mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from app.core.classify import Classifier, default_classifier
from app.core.comment_syntax import line_comment_start
from app.core.detectors import Candidate, DockerfileContext, dockerfile_context, strong, variable_assignments
from app.core.diffs import FileDiff, Hunk, Line
from app.core.filekinds import file_kind
from app.core.longlines import find_candidates_bounded
from app.core.models import RefChange, Side
from app.core.splits import (
    REF_FIELDS,
    SPLIT_KINDS,
    SPLIT_STARLARK,
    SPLIT_YAML,
    Group,
    base_repository,
    global_registry,
    sibling_group,
)
from app.core.values import Interpretation, interpret

# Reads a file's whole text on one side ("added" = new side), or None when unavailable.
FileReader = Callable[[str, Side], str | None]


@dataclass(slots=True)
class _LineHit:
    line: Line
    side: Side
    candidates: list[Candidate]


class FileExtractor:
    """Extracts the references of one file's diff."""

    def __init__(self, diff: FileDiff, classifier: Classifier, reader: FileReader | None,
                 commit: str | None) -> None:
        self.diff = diff
        self.kind = file_kind(diff.path)
        self.classifier = classifier
        self.reader = reader
        self.commit = commit
        self._file_lines: dict[Side, list[str] | None] = {}

    def run(self) -> list[RefChange]:
        out: list[RefChange] = []
        docker = self._dockerfile_context() if self.kind == "dockerfile" else _NO_DOCKERFILE
        variables = {side: self._variables(side) for side in _SIDES} if self.kind in ("makefile", "shell") else {}
        for hunk in self.diff.hunks:
            hits = [self._line_hit(line, docker, variables.get(_side(line), docker.args))
                    if hunk.cued is None or i in hunk.cued else _LineHit(line, _side(line), [])
                    for i, line in enumerate(hunk.lines) if line.kind != " "]
            splits, consumed = self._splits(hunk, hits)
            for hit in hits:
                if (hit.side, _number(hit.line, hit.side)) in consumed:
                    hit.candidates = []  # the line is one field of a reference assembled from its mapping
            in_place = _in_place_lines(hits)
            for hit in hits:
                out += self._ref_changes(hit, in_place)
            out += splits
        return out

    def _line_hit(self, line: Line, docker: DockerfileContext, args: dict[str, str]) -> _LineHit:
        hits = find_candidates_bounded(line.text, self.kind, docker.stages, args, docker.base_args)
        return _LineHit(line, _side(line), hits)

    def _path(self, side: Side) -> str:
        """Where a reference is reported: the new path on both sides of a rename (GitHub reviews that path)."""
        return self.diff.path

    def _source_path(self, side: Side) -> str:
        """Where a side's text is read from: a renamed file's old side lives at its old path."""
        return (self.diff.new_path if side == "added" else self.diff.old_path) or self.diff.path

    def _variables(self, side: Side) -> dict[str, str]:
        """Literal Makefile/shell variables of one side: the whole file when readable, else the hunks."""
        full = self._read(side)
        if full is not None:
            return variable_assignments(full)
        keep = "+" if side == "added" else "-"
        return variable_assignments(ln.text for h in self.diff.hunks for ln in h.lines if ln.kind in (" ", keep))

    def _ref_changes(self, hit: _LineHit, in_place: set[int]) -> Iterator[RefChange]:
        if not hit.candidates:
            return
        cstart = line_comment_start(self.diff.path, hit.line.text)
        number = _number(hit.line, hit.side)
        for c in hit.candidates:
            yield self._make(c.value, c.context, self._path(hit.side), number, hit.side,
                             in_comment=c.start >= cstart, in_place=id(hit.line) in in_place)

    def _make(self, v: Interpretation, context: str, path: str, line: int, side: Side, *,
              in_comment: bool = False, in_place: bool = False, lines: tuple[int, ...] = (),
              note: str | None = None) -> RefChange:
        return RefChange(
            path=path, line=line, side=side, reference=v.text, registry=v.registry,
            repository=v.repository, tag=v.tag, digest=v.digest,
            ref_class=self.classifier.classify(v.registry, v.class_repository),
            context=context, commit=self.commit, partial=v.partial, templated=v.templated,
            in_comment=in_comment, registry_implicit=v.registry_implicit, lines=lines,
            in_place=in_place, note=note,
        )

    def _dockerfile_context(self) -> DockerfileContext:
        texts = [ln.text for h in self.diff.hunks for ln in h.lines]
        for side in ("added", "removed"):
            full = self._read(side)
            if full:
                texts += full
        return dockerfile_context(texts)

    def _read(self, side: Side) -> list[str] | None:
        if side not in self._file_lines:
            text = self.reader(self._source_path(side), side) if self.reader else None
            self._file_lines[side] = text.splitlines() if text is not None else None
        return self._file_lines[side]

    def _splits(self, hunk: Hunk, hits: list[_LineHit]) -> tuple[list[RefChange], set[tuple[Side, int]]]:
        """References assembled from sibling keys, and the (side, line) of every field they used."""
        out: list[RefChange] = []
        consumed: set[tuple[Side, int]] = set()
        if self.kind not in SPLIT_KINDS:
            return out, consumed
        sides: tuple[Side, Side] = ("added", "removed")
        for side in sides:
            refs = self._split_side(hunk, [h for h in hits if h.side == side], side)
            out += refs
            consumed.update((side, n) for r in refs if not r.partial for n in r.lines)
        return out, consumed

    def _split_side(self, hunk: Hunk, hits: list[_LineHit], side: Side) -> list[RefChange]:
        pattern = SPLIT_STARLARK if self.kind == "starlark" else SPLIT_YAML
        changed = {_number(h.line, side): h for h in hits if pattern.match(h.line.text)}
        if not changed:
            return []
        view = self._side_view(hunk, side)
        groups: dict[int, RefChange] = {}
        for number in sorted(changed):
            group = sibling_group(view, number, pattern, hunk.section)
            if group is None or group.first in groups:
                continue
            with_candidates = any(changed[n].candidates for n in group.lines.values() if n in changed)
            ref = self._assemble(group, set(changed), side, with_candidates, view)
            if ref is not None:
                groups[group.first] = ref
        return list(groups.values())

    def _side_view(self, hunk: Hunk, side: Side) -> dict[int, str]:
        full = self._read(side)
        if full is not None:
            return dict(enumerate(full, start=1))
        keep = "+" if side == "added" else "-"
        return {_number(ln, side): ln.text for ln in hunk.lines if ln.kind in (" ", keep)}

    def _assemble(self, group: Group, changed: set[int], side: Side, with_candidates: bool,
                  view: dict[int, str]) -> RefChange | None:
        fields = {k: v for k, v in group.fields.items() if v or k in ("tag", "newTag")}
        kustomize = "newName" in fields or "newTag" in fields or (group.parent_key == "images" and "name" in fields)
        if not (REF_FIELDS & set(fields) or (kustomize and "digest" in fields)):
            return None  # a container spec (name + image) or a plain mapping: the line detectors decide
        repo = _repository(fields, kustomize, group.parent_is_image)
        used = {k for k in group.lines if k in fields and (k != "name" or kustomize or repo_uses_name(fields))}
        changed_keys = [k for k in used if group.lines[k] in changed]
        if not changed_keys:
            return None
        if repo is None:
            return None if with_candidates else self._unassembled(group, changed_keys, side)
        if repo.startswith("/") and not kustomize and not fields.get("registry"):
            return self._relative(group, fields, repo, changed_keys, side, view, used)
        written_registry = bool(fields.get("registry"))
        if not kustomize and "registry" not in fields and "." not in repo.split("/", 1)[0]:
            fields["registry"] = global_registry(view) or ""
        value = interpret(_join(fields, repo, kustomize))
        # A registry the mapping writes makes it an image; the chart-wide fallback filled in above does not.
        if value is None or not (group.parent_is_image or kustomize or self.kind == "starlark"
                                 or strong(value) or written_registry):
            return None
        first = min(group.lines[k] for k in changed_keys)
        context = "kustomize" if kustomize else ("starlark-split" if self.kind == "starlark" else "yaml-split")
        return self._make(value, context, self._path(side), first, side,
                          lines=tuple(sorted(group.lines[k] for k in used)))

    def _relative(self, group: Group, fields: dict[str, str], repo: str, changed_keys: list[str], side: Side,
                  view: dict[int, str], used: set[str]) -> RefChange | None:
        """``repository: /sig-storage/nfsplugin`` is joined to a base the chart writes once
        (``baseRepo: registry.k8s.io``): the full reference when the base is in sight, else a partial."""
        tag, digest = fields.get("tag"), fields.get("digest")
        if not (tag or digest):
            return None
        first = min(group.lines[k] for k in changed_keys)
        lines = tuple(sorted(group.lines[k] for k in used))
        text = _join({k: v for k, v in fields.items() if k != "registry"}, repo, False)
        base = base_repository(view, min(group.lines.values()))
        value = interpret(base + text) if base else None
        if value is not None:
            return self._make(value, "yaml-split", self._path(side), first, side, lines=lines)
        return RefChange(
            path=self._path(side), line=first, side=side, reference=text, registry=None,
            repository=repo.strip("/"), tag=tag, digest=digest, ref_class="other", context="yaml-split",
            commit=self.commit, partial=True, lines=lines,
            note="this repository is joined to a base registry written outside the diff context; "
                 "scan with --git to read it from the file",
        )

    def _unassembled(self, group: Group, changed_keys: list[str], side: Side) -> RefChange | None:
        """A changed tag or digest whose repository is not in sight: report what is known, and say so."""
        tag, digest = group.fields.get("tag") or group.fields.get("newTag"), group.fields.get("digest")
        image_like = group.parent_is_image or bool((group.keys - set(changed_keys)) & _IMAGE_SIBLINGS)
        if not image_like or not (tag or digest) or "{{" in (tag or ""):
            return None
        text = (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        first = min(group.lines[k] for k in changed_keys)
        return RefChange(
            path=self._path(side), line=first, side=side, reference=text, registry=None, repository=None,
            tag=tag, digest=digest, ref_class="other", context="yaml-split", commit=self.commit, partial=True,
            lines=tuple(sorted(group.lines.values())),
            note="the repository of this split reference is outside the diff context; "
                 "scan with --git to read it from the file",
        )


_NO_DOCKERFILE = DockerfileContext(frozenset(), {}, frozenset())


def repo_uses_name(fields: dict[str, str]) -> bool:
    """``name`` is the image path in Helm's ``name`` + ``tag`` and ``repository`` + ``name`` styles."""
    return "name" in fields and "image" not in fields and "repo" not in fields


def _repository(fields: dict[str, str], kustomize: bool, parent_is_image: bool) -> str | None:
    if kustomize:
        return fields.get("newName") or fields.get("name")
    if fields.get("image"):
        return fields["image"]
    if fields.get("repository"):
        if fields.get("name") and parent_is_image:
            return fields["repository"].rstrip("/") + "/" + fields["name"]
        return fields["repository"]
    if fields.get("repo"):
        return fields["repo"]
    return fields.get("name") if parent_is_image else None


def _join(fields: dict[str, str], repo: str, kustomize: bool) -> str:
    registry = "" if kustomize else fields.get("registry", "").rstrip("/")
    text = (registry + "/" if registry else "") + repo
    tag = fields.get("newTag") if kustomize else fields.get("tag")
    text += f":{tag}" if tag else ""
    return text + (f"@{fields['digest']}" if fields.get("digest") else "")


_SIDES: tuple[Side, Side] = ("added", "removed")
# Keys that only an image mapping has: a tag next to them is an image tag even when its parent is out of sight.
_IMAGE_SIBLINGS = {"pullPolicy", "imagePullPolicy", "pullSecrets", "digest", "registry"}


def _side(line: Line) -> Side:
    return "added" if line.kind == "+" else "removed"


def _number(line: Line, side: Side) -> int:
    return (line.new_no if side == "added" else line.old_no) or 0


def _in_place_lines(hits: list[_LineHit]) -> set[int]:
    """Lines whose only change is inside a reference: each removed line pairs with an added one."""
    removed: dict[str, list[_LineHit]] = {}
    for h in hits:
        if h.side == "removed" and h.candidates:
            removed.setdefault(_masked(h), []).append(h)
    out: set[int] = set()
    for h in hits:
        if h.side == "added" and h.candidates:
            twins = removed.get(_masked(h))
            if twins:
                twin = twins.pop(0)
                out.update((id(h.line), id(twin.line)))
    return out


def _masked(hit: _LineHit) -> str:
    # Joined in one pass: re-slicing the line per candidate was quadratic on long lines.
    text, parts, pos = hit.line.text, [], 0
    for c in sorted(hit.candidates, key=lambda c: c.start):
        parts += [text[pos:c.start], "\0"]
        pos = c.end
    parts.append(text[pos:])
    return "".join(parts)


def extract_file(diff: FileDiff, classifier: Classifier | None = None, reader: FileReader | None = None,
                 commit: str | None = None) -> list[RefChange]:
    if diff.binary or diff.filtered or not diff.hunks:
        return []
    return FileExtractor(diff, classifier or default_classifier(), reader, commit).run()


def extract(files: Iterable[FileDiff], classifier: Classifier | None = None, reader: FileReader | None = None,
            commit: str | None = None) -> list[RefChange]:
    classifier = classifier or default_classifier()
    out: list[RefChange] = []
    for diff in files:
        out += extract_file(diff, classifier, reader, commit)
    return out


def split_reads_needed(files: Iterable[FileDiff]) -> list[tuple[FileDiff, tuple[Side, ...]]]:
    """Files, with their sides, whose split references need keys outside the diff context.

    Those are the files worth reading whole (the App pays one API request per file and side).
    """
    out: list[tuple[FileDiff, tuple[Side, ...]]] = []
    for diff in files:
        sides = tuple(side for side in _SIDES if any(r.note and r.side == side for r in extract_file(diff)))
        if sides:
            out.append((diff, sides))
    return out


def with_commit(refs: Iterable[RefChange], sha: str | None) -> list[RefChange]:
    return [replace(r, commit=sha) for r in refs]
