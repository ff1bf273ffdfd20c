"""Which changed lines hold image references, by file kind and context.

The line detectors run on every added and removed line; split references
(helm ``repository:``/``tag:``, Bazel ``container_pull``, kustomize ``images:``)
are assembled from the sibling fields visible on the same side of the hunk, or
from the whole file when the caller can read it (git mode).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from app.classify import Classifier, default_classifier
from app.diffs import FileDiff, Hunk, Line
from app.filekinds import FileKind, comment_start, file_kind
from app.models import RefChange, Side
from app.values import Interpretation, interpret, is_known_registry

# Reads a file's whole text on one side ("added" = new side), or None when unavailable.
FileReader = Callable[[str, Side], str | None]

# What a changed line must contain for any detector below to fire on it (or on its split siblings),
# as plain lower-case substrings: bytes.find is many times faster than one regex with alternatives.
# References with an unusual host and no such word are caught by _HOST_PATH_TAG when they carry a
# tag or digest; known registries (gcr.io, quay.io, *-docker.pkg.dev, *.azurecr.io) contain ".io/"
# or "docker".
_CUES = (
    b"image", b"registry", b"repository", b"repo:", b"repo =", b"repo=", b"repo :", b"docker", b"container:",
    b"container_pull", b"tag:", b"tag =", b"tag=", b"digest:", b"digest =", b"newname", b".io/",
)
# An unknown registry host followed by a path and a tag or digest ("harbor.example.net/team/app:1.2").
_CUE_RE = re.compile(b"|".join(re.escape(c) for c in _CUES))
# Few short substrings that every cue contains: scanning a whole file once per anchor is cheap.
_ANCHORS = (b"image", b"regist", b"repo", b"docker", b"contain", b"tag", b"digest", b"newname", b".io/")
_HOST_PATH_TAG = re.compile(rb"\.[a-z]{2,}(?::\d+)?/[\w.-]+(?:/[\w.-]+)*[:@]\w")


class ImagePrefilter:
    """Decides, from raw bytes, which files and hunks of a big diff are worth parsing line by line."""

    def __call__(self, section: bytes) -> bool:
        return file_kind(_section_path(section)) == "dockerfile" or has_cue(section)

    def keep_hunks(self, path: str, section: bytes, spans: list[tuple[int, int]]) -> list[bool]:
        if file_kind(path) == "dockerfile":
            return [True] * len(spans)  # ARG lines in one hunk matter to FROM lines in another
        hits = sorted(_cue_lines(section))
        return [_any_between(hits, start, end) for start, end in spans]


def has_cue(section: bytes) -> bool:
    """True when some changed line holds a cue (context lines do not count)."""
    return next(_cue_lines(section), None) is not None


def _cue_lines(section: bytes) -> Iterator[int]:
    """Positions of changed lines that hold a cue.

    Each anchor is looked for with bytes.find over the whole section (fast), and only a line
    holding one is matched against the full list of cues.
    """
    lower = section.lower()
    for anchor in _ANCHORS:
        pos = lower.find(anchor)
        while pos >= 0:
            start = lower.rfind(b"\n", 0, pos) + 1
            end = lower.find(b"\n", pos)
            end = len(lower) if end < 0 else end
            if _changed_at(section, start) and _CUE_RE.search(lower, start, end):
                yield start
            pos = lower.find(anchor, end + 1)
    for m in _HOST_PATH_TAG.finditer(section):
        start = section.rfind(b"\n", 0, m.start()) + 1
        if _changed_at(section, start):
            yield start


def file_has_cue(content: bytes) -> bool:
    """The same cues on a whole file's content (every line counts): for auditing a tree."""
    lower = content.lower()
    return (any(a in lower for a in _ANCHORS) and (
        _CUE_RE.search(lower) is not None or b"image-review:" in lower)) or _HOST_PATH_TAG.search(content) is not None


def _any_between(sorted_positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(sorted_positions, start)
    return i < len(sorted_positions) and sorted_positions[i] < end


def _changed_at(section: bytes, line_start: int) -> bool:
    return section[line_start : line_start + 1] in (b"+", b"-") and not section.startswith(
        (b"+++ ", b"--- "), line_start)


def _section_path(section: bytes) -> str:
    first = section[: section.find(b"\n")] if b"\n" in section else section
    return first.rsplit(b" ", 1)[-1].decode("utf-8", "replace")


_LINE_CUE = re.compile(r"[:/@=]|\bFROM\b", re.IGNORECASE)

_KEY = re.compile(r"(?P<key>[A-Za-z_][\w.\-\[\]*]*)[\"']?[ \t]*(?P<op>:=|\?=|\+=|=|:)(?=[ \t\"'`\w{$/.-])[ \t]*")
_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|`[^`\n]*`")
_BARE = re.compile(
    r"(?<![\w@/:.$-])(?P<ref>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]+(?::\d+)?"
    r"(?:/[\w.{}$-]+)+(?::[\w.{}$-]+)?(?:@sha(?:256|384|512):[0-9a-f]+)?)(?![\w/])"
)
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<v>\S+)", re.IGNORECASE)
_COPY_FROM = re.compile(r"^\s*(?:COPY|ADD|RUN)\b.*?--(?:from|mount=[^ ]*?from)=(?P<v>[^\s,]+)", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>\w+)=(?P<v>\S+)", re.IGNORECASE)
_STAGE = re.compile(r"^\s*FROM\s+.*\s+AS\s+(?P<name>\S+)", re.IGNORECASE)
_NON_IMAGE_KEYS = {
    "osimage", "vmimage", "machineimage", "diskimage", "bootimage", "instanceimage", "amiimage",
    "cloudimage", "imagefamily", "imagepullpolicy", "imagepullsecrets", "imageid", "sourceimage",
}
_SPLIT_YAML = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>registry|repository|image|tag|digest|name|newName|newTag)"
                         r"\s*:\s*(?P<val>.*?)\s*$")
_SPLIT_STARLARK = re.compile(
    r"^(?P<indent>\s*)(?P<key>registry|repository|tag|digest)\s*=\s*(?P<val>\"[^\"]*\")\s*,?\s*$"
)
_DOCKER_URI = re.compile(r"^docker://")
CODE_KINDS = {"go", "python", "c-like", "starlark", "terraform"}
_IMAGE_WORDS = re.compile(r"(?i)image|registry|\brepo(?:sitory)?\b|\btag\b")
_REF_FIELDS = {"tag", "newTag", "digest", "repository", "registry", "newName"}


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    value: Interpretation
    context: str


def normalize_key(key: str) -> str:
    last = re.split(r"[.\[\]*]+", key.strip(".[]*"))[-1] if key else key
    return re.sub(r"[-_]", "", last).lower()


def image_key(key: str) -> bool:
    k = normalize_key(key)
    return k.endswith("image") and k not in _NON_IMAGE_KEYS


def image_context_key(key: str) -> bool:
    k = normalize_key(key)
    return k not in _NON_IMAGE_KEYS and ("image" in k or "registry" in k or k in ("canonical", "download", "container"))


def strong(v: Interpretation) -> bool:
    """A reference on its own: an explicit registry host, and a tag, a digest or a known registry."""
    if v.partial or not v.explicit_registry or (not v.repository and not v.templated):
        return False
    return v.tag is not None or v.digest is not None or v.templated or is_known_registry(v.registry)


def weak_ok(v: Interpretation) -> bool:
    """Acceptable where the context says "image": also Docker Hub names like ``nginx`` or ``alpine:3``."""
    if v.partial:
        return v.explicit_registry
    if strong(v) or v.tag is not None or v.digest is not None or v.templated:
        return True
    return v.registry_implicit and v.repository is not None and v.repository.count("/") == 1 and (
        v.repository.startswith("library/"))


def scan_value(text: str, pos: int, op: str) -> tuple[int, int]:
    """Span of the value starting at ``pos``: quoted, or up to where the value must end."""
    if pos >= len(text):
        return pos, pos
    if text[pos] in "\"'`":
        return pos + 1, _closing_quote(text, pos)
    depth, i = 0, pos
    while i < len(text):
        ch = text[i]
        if text.startswith("{{", i) or text.startswith("${", i) or text.startswith("$(", i):
            depth += 1
            i += 2
            continue
        if depth and (text.startswith("}}", i) or ch in "})"):
            depth -= 1
            i += 2 if text.startswith("}}", i) else 1
            continue
        if not depth and (ch in ",;)}]\"'" or (ch.isspace() and (op != ":" or text.startswith(" #", i)))):
            break
        i += 1
    end = i
    while end > pos and text[end - 1].isspace():
        end -= 1
    return pos, end


def _closing_quote(text: str, pos: int) -> int:
    """The matching quote, skipping template actions that may hold quotes of their own."""
    i = pos + 1
    while i < len(text):
        if text.startswith("{{", i):
            close = text.find("}}", i)
            if close < 0:
                break
            i = close + 2
            continue
        if text[i] == text[pos]:
            return i
        i += 1
    return len(text)


def find_candidates(text: str, kind: FileKind, stages: frozenset[str] = frozenset(),
                    args: dict[str, str] | None = None) -> list[Candidate]:
    """Every image reference on one line, in order, without overlaps."""
    if not _LINE_CUE.search(text):
        return []
    found: list[Candidate] = []
    if kind == "dockerfile":
        found += _dockerfile(text, stages, args or {})
    found += _key_values(text, kind)
    found += _literals(text, found)
    found += _bare(text, found)
    found.sort(key=lambda c: c.start)
    return found


def _overlaps(start: int, end: int, taken: Iterable[Candidate]) -> bool:
    return any(start < c.end and c.start < end for c in taken)


def _dockerfile(text: str, stages: frozenset[str], args: dict[str, str]) -> list[Candidate]:
    out: list[Candidate] = []
    for pattern, context in ((_FROM, "dockerfile-from"), (_COPY_FROM, "dockerfile-copy-from")):
        m = pattern.match(text)
        if not m:
            continue
        raw = m.group("v")
        if raw.lower() == "scratch" or raw in stages or raw.isdigit():
            continue
        value = interpret(_substitute_args(raw, args))
        if value is not None and not value.partial and (context == "dockerfile-from" or weak_ok(value)):
            out.append(Candidate(m.start("v"), m.end("v"), value, context))
    return out


def _substitute_args(raw: str, args: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        return args.get(m.group(1) or m.group(2), m.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, raw)


def _key_values(text: str, kind: FileKind) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _KEY.finditer(text):
        key = m.group("key")
        if m.start() > 0 and text[m.start() - 1] not in " \t{,([;\"'-":
            continue
        is_image = image_key(key) or (key == "container" and kind == "yaml")
        if not (is_image or image_context_key(key) or key in ("uses", "name")):
            continue
        start, end = scan_value(text, m.end(), m.group("op"))
        raw = text[start:end]
        if kind in CODE_KINDS and not _literal_value(text, m, start):
            continue  # in code an unquoted value is an expression (image=image), not a reference
        if key == "uses":
            if not _DOCKER_URI.match(raw):
                continue
            start, raw = start + len("docker://"), raw[len("docker://"):]
        value = interpret(raw)
        if value is None or _overlaps(start, end, out):
            continue
        accepted = weak_ok(value) if (is_image or key == "uses") else (
            strong(value) or (value.partial and value.explicit_registry and image_context_key(key)))
        if accepted:
            out.append(Candidate(start, start + len(raw), value, _kv_context(kind, key, m.group("op"), text)))
    return out


def _literal_value(text: str, m: re.Match[str], start: int) -> bool:
    """Quoted, or a YAML line inside code (a Go raw string holding a manifest)."""
    quoted = start > 0 and text[start - 1] in "\"'`"
    yaml_line = m.group("op") == ":" and text[: m.start()].strip(" \t-") == ""
    return quoted or yaml_line


def _kv_context(kind: FileKind, key: str, op: str, text: str) -> str:
    if text.lstrip().startswith("--") or f"--{key}" in text:
        return "flag"
    yaml_style = op == ":" and kind != "json" and text.lstrip(" \t-").startswith(key)
    if yaml_style or (kind in ("yaml", "text", "markdown") and op == ":"):
        return "yaml-image" if image_key(key) else "yaml-value"
    if kind in ("shell", "makefile") or op in ("?=", "+=", ":="):
        return "shell-variable"
    return "code-assignment"


def _literals(text: str, taken: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _QUOTED.finditer(text):
        start, end = m.start() + 1, m.end() - 1
        if _overlaps(start, end, taken):
            continue
        value = interpret(text[start:end])
        if value is None:
            continue
        before = text[: m.start()]
        imagey = bool(_IMAGE_WORDS.search(before[-60:])) or _names_registry(value)
        if value.registry_implicit and not any(ch.isdigit() for ch in value.tag or ""):
            imagey = imagey and bool(re.search(r"(?i)image|registry", before[-60:]))
        concat = text[m.end():].lstrip().startswith("+") or before.rstrip().endswith("+")
        prefix = value.partial and value.explicit_registry and (concat or "/" in value.text.rstrip("/:"))
        if strong(value) or (imagey and value.tag is not None and not value.partial) or (
                prefix and (value.repository or concat)):
            out.append(Candidate(start, end, value, "code-literal"))
    return out


def _names_registry(value: Interpretation) -> bool:
    """``"k8s.gcr.io:v3"``: a Docker Hub name that spells a registry host is written as an image."""
    last = value.repository.split("/")[-1] if value.repository else None
    return value.registry_implicit and is_known_registry(last)


def _bare(text: str, taken: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _BARE.finditer(text):
        start, end = m.span("ref")
        if _overlaps(start, end, taken) or _overlaps(start, end, out):
            continue
        value = interpret(m.group("ref"))
        if value is not None and strong(value) and (value.tag is not None or value.digest is not None):
            out.append(Candidate(start, end, value, "text"))
    return out


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
        stages, args = self._dockerfile_context() if self.kind == "dockerfile" else (frozenset(), {})
        for hunk in self.diff.hunks:
            hits = [self._line_hit(line, stages, args) for line in hunk.lines if line.kind != " "]
            in_place = _in_place_lines(hits)
            for hit in hits:
                out += self._ref_changes(hit, in_place)
            out += self._splits(hunk, hits)
        return out

    def _line_hit(self, line: Line, stages: frozenset[str], args: dict[str, str]) -> _LineHit:
        side: Side = "added" if line.kind == "+" else "removed"
        return _LineHit(line, side, find_candidates(line.text, self.kind, stages, args))

    def _path(self, side: Side) -> str:
        return (self.diff.new_path if side == "added" else self.diff.old_path) or self.diff.path

    def _ref_changes(self, hit: _LineHit, in_place: set[int]) -> Iterator[RefChange]:
        cstart = comment_start(hit.line.text, self.kind)
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

    def _dockerfile_context(self) -> tuple[frozenset[str], dict[str, str]]:
        texts = [ln.text for h in self.diff.hunks for ln in h.lines]
        for side in ("added", "removed"):
            full = self._read(side)
            if full:
                texts += full
        stages = frozenset(m.group("name") for t in texts if (m := _STAGE.match(t)))
        args = {m.group("name"): m.group("v").strip("\"'") for t in texts if (m := _ARG.match(t))}
        return stages, args

    def _read(self, side: Side) -> list[str] | None:
        if side not in self._file_lines:
            text = self.reader(self._path(side), side) if self.reader else None
            self._file_lines[side] = text.splitlines() if text is not None else None
        return self._file_lines[side]

    def _splits(self, hunk: Hunk, hits: list[_LineHit]) -> list[RefChange]:
        if self.kind not in ("yaml", "text", "starlark"):
            return []
        out: list[RefChange] = []
        for side in ("added", "removed"):
            out += self._split_side(hunk, [h for h in hits if h.side == side and not h.candidates], side)
        return out

    def _split_side(self, hunk: Hunk, hits: list[_LineHit], side: Side) -> list[RefChange]:
        pattern = _SPLIT_STARLARK if self.kind == "starlark" else _SPLIT_YAML
        changed = {_number(h.line, side): h for h in hits if pattern.match(h.line.text)}
        if not changed:
            return []
        view = self._side_view(hunk, side)
        groups: dict[int, RefChange] = {}
        for number in sorted(changed):
            group = _sibling_group(view, number, pattern, hunk.section)
            if group is None or group.first in groups:
                continue
            ref = self._assemble(group, set(changed), side)
            if ref is not None:
                groups[group.first] = ref
        return list(groups.values())

    def _side_view(self, hunk: Hunk, side: Side) -> dict[int, str]:
        full = self._read(side)
        if full is not None:
            return dict(enumerate(full, start=1))
        keep = "+" if side == "added" else "-"
        return {_number(ln, side): ln.text for ln in hunk.lines if ln.kind in (" ", keep)}

    def _assemble(self, group: _Group, changed: set[int], side: Side) -> RefChange | None:
        fields = group.fields
        kustomize = "newName" in fields or "newTag" in fields
        repo = fields.get("newName") or fields.get("repository") or (fields.get("name") if kustomize else None)
        changed_keys = [k for k, ln in group.lines.items() if (ln in changed and k != "name") or
                        (k == "name" and kustomize and ln in changed)]
        if not _REF_FIELDS & set(changed_keys):
            return None
        if repo is None:
            return self._unassembled(group, changed_keys, side)
        tag = fields.get("newTag") or fields.get("tag")
        text = (fields["registry"].rstrip("/") + "/" if fields.get("registry") else "") + repo
        text += f":{tag}" if tag else ""
        text += f"@{fields['digest']}" if fields.get("digest") else ""
        value = interpret(text)
        if value is None or not (group.parent_is_image or kustomize or self.kind == "starlark"
                                 or strong(value)):
            return None
        first = min(group.lines[k] for k in changed_keys)
        context = "kustomize" if kustomize else ("starlark-split" if self.kind == "starlark" else "yaml-split")
        return self._make(value, context, self._path(side), first, side,
                          lines=tuple(sorted(group.lines.values())))


    def _unassembled(self, group: _Group, changed_keys: list[str], side: Side) -> RefChange | None:
        """A changed tag or digest whose repository is not in sight: report what is known, and say so."""
        tag, digest = group.fields.get("tag") or group.fields.get("newTag"), group.fields.get("digest")
        if not group.parent_is_image or not (tag or digest) or "{{" in (tag or ""):
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


@dataclass(slots=True)
class _Group:
    first: int
    fields: dict[str, str]
    lines: dict[str, int]
    parent_is_image: bool


def _sibling_group(view: dict[int, str], number: int, pattern: re.Pattern[str], section: str) -> _Group | None:
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
                    fields[sm.group("key")] = _field_value(sm.group("val"))
                    lines[sm.group("key")] = n
            n += step
    # git names the enclosing top-level key in the hunk header when the parent is out of sight.
    parent = parent or section.strip()
    parent_is_image = "image" in parent.lower() or "container_pull" in parent
    return _Group(min(lines.values()), fields, lines, parent_is_image) if lines else None


def _field_value(raw: str) -> str:
    raw = raw.split(" #", 1)[0].strip().rstrip(",").strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    return raw


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
    text = hit.line.text
    for c in sorted(hit.candidates, key=lambda c: -c.start):
        text = text[: c.start] + "\0" + text[c.end:]
    return text


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


def with_commit(refs: Iterable[RefChange], sha: str | None) -> list[RefChange]:
    return [replace(r, commit=sha) for r in refs]
