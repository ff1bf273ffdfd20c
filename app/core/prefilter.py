"""Which files, hunks and lines of a big diff are worth parsing: cheap byte-level cues.

Most of a large diff holds no image reference. One pass of one automaton over the whole buffer
finds every line holding a cue and every file section start (`CueIndex`); before any line of a
section is decoded, the section (and then each hunk) must show a cue on a changed line, or, where
references are assembled from sibling keys (YAML, Starlark), on any line of the hunk. In other
files only the runs of changed lines that hold a cue are looked at by the detectors. Everything
else is counted, or skipped when the caller wants references only, but never split into lines.
"""

from __future__ import annotations

import mmap
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

import re2  # type: ignore[import-untyped]

from app.core.filekinds import file_kind
from app.core.splits import SPLIT_KINDS

# What a changed line must contain for any detector to fire on it (or on its split siblings), as
# lower-case words matched case-insensitively. References with an unusual host and no such word are
# caught by _HOST_PATH_TAG when they carry a tag or digest; known registries (gcr.io, quay.io,
# *-docker.pkg.dev, *.azurecr.io) contain ".io/" or "docker".
_CUES = (
    b"image", b"registry", b"repository", b"repo:", b"repo =", b"repo=", b"repo :", b"docker", b"container:",
    b"container_pull", b"tag:", b"tag =", b"tag=", b"digest:", b"digest =", b"newname", b".io/",
    b"img ?=", b"img :=", b"img =", b"img=",  # kubebuilder's IMG ?= controller:latest
)
# An unknown registry host followed by a path and a tag or digest ("harbor.example.net/team/app:1.2").
_HOST_PATH_TAG = re.compile(rb"\.[a-z]{2,}(?::\d+)?/[\w.-]+(?:/[\w.-]+)*[:@]\w")
# For whole files (file_has_cue, the audit of a tree): a few short substrings that every cue
# contains, found with bytes.find before the full list is tried; and a Dockerfile FROM line inside
# another file (a Tiltfile string, a heredoc), whose Docker Hub names carry no cue.
_CUE_RE = re.compile(b"|".join(re.escape(c) for c in _CUES))
_ANCHORS = (b"image", b"regist", b"repo", b"docker", b"contain", b"tag", b"digest", b"newname", b".io/", b"img")
_EMBEDDED_FROM_LINE = re.compile(rb"^[ \t]*FROM[ \t]+[\w.-]+[:@]\w", re.MULTILINE)


# Every line that holds a cue (or an unknown-host reference, or is a FROM line) and every start of a
# git file section, as one RE2 automaton: it reads a 50 MB diff once, in one linear pass, where ten
# bytes.find passes (one per anchor) plus two Python regexes read it twelve times. Each match starts
# at the start of its line, and a line matches once. No pattern crosses a line end, so the buffer can
# be scanned in pieces cut at line ends.
_CUE_WORDS = b"(?i:" + b"|".join(re2.escape(c) for c in _CUES) + b")"
_BUFFER_SCAN = re2.compile(
    rb"(?m:^(?:[-+ ][^\n]*?(?:" + _CUE_WORDS + b"|" + _HOST_PATH_TAG.pattern + rb")"
    rb"|[+-][ \t]*FROM[ \t]+[\w.-]+[:@]\w|diff --git ))"
)
_SCAN_PIECE = 8 << 20
_GIT_START = b"diff --git "


@dataclass(slots=True)
class CueIndex:
    """Line starts found by one scan of a buffer, in ascending order."""

    changed: list[int] = field(default_factory=list)  # added/removed lines holding a cue
    context: list[int] = field(default_factory=list)  # context lines holding a cue
    sections: list[int] = field(default_factory=list)  # 'diff --git ' lines

    def changed_between(self, start: int, end: int) -> list[int]:
        return self.changed[bisect_left(self.changed, start) : bisect_left(self.changed, end)]

    def any_changed(self, start: int, end: int) -> bool:
        return _any_between(self.changed, start, end)

    def any_context(self, start: int, end: int) -> bool:
        return _any_between(self.context, start, end)


def index_cues(buf: bytes | mmap.mmap, start: int = 0, end: int | None = None,
               progress: Callable[[int], None] | None = None) -> CueIndex:
    """Scan buf[start:end] (start must be a line start) for cue lines and section starts.

    `progress` hears how far the scan got, so the pages of a mapped file can be let go.
    """
    index = CueIndex()
    stop = len(buf) if end is None else end
    pos = start
    while pos < stop:
        piece_end = stop if stop - pos <= _SCAN_PIECE else buf.find(b"\n", pos + _SCAN_PIECE, stop) + 1 or stop
        for m in _BUFFER_SCAN.finditer(buf, pos, piece_end):
            _file_line(index, buf, m.start())
        pos = piece_end
        if progress is not None:
            progress(pos)
    return index


def _file_line(index: CueIndex, buf: bytes | mmap.mmap, line: int) -> None:
    head = buf[line : line + len(_GIT_START)]
    marker = head[:1]
    if marker in (b"+", b"-"):
        if not head.startswith((b"+++ ", b"--- ")):
            index.changed.append(line)
    elif marker == b" ":
        index.context.append(line)
    elif head == _GIT_START:
        index.sections.append(line)


class ImagePrefilter:
    """Decides, from raw bytes, which files and hunks of a big diff are worth parsing line by line.

    Whole buffers are indexed once (`index`) and then asked about with absolute positions; the
    section-at-a-time calls index the section they are given.
    """

    def __call__(self, section: bytes) -> bool:
        return self.wants(section_path(section), index_cues(section), 0, len(section))

    def keep_hunks(self, path: str, section: bytes, spans: list[tuple[int, int]]) -> list[bool]:
        return self.keep_spans(path, index_cues(section), spans)

    def index(self, buf: bytes | mmap.mmap, progress: Callable[[int], None] | None = None, start: int = 0,
              end: int | None = None) -> CueIndex:
        return index_cues(buf, start, end, progress)

    def wants(self, path: str, cues: CueIndex, start: int, end: int) -> bool:
        """Is the file section buf[start:end] worth parsing? Where references are assembled from
        sibling keys, a cue on a context line (`image:` above a changed `name:`) is enough."""
        kind = file_kind(path)
        return (kind == "dockerfile" or cues.any_changed(start, end)
                or (kind in SPLIT_KINDS and cues.any_context(start, end)))

    def keep_spans(self, path: str, cues: CueIndex, spans: list[tuple[int, int]]) -> list[bool]:
        """For each (start, end) hunk body: is it worth parsing?"""
        keep = self.span_filter(path, cues)
        return [keep(s, e) for s, e in spans]

    def gates_lines(self, path: str) -> bool:
        """True when, in this kind of file, only a changed line holding a cue can hold a reference.

        Not so in Dockerfiles (`FROM alpine`) or where references are assembled from sibling keys
        (a changed `name:` under a context `image:`).
        """
        kind = file_kind(path)
        return kind != "dockerfile" and kind not in SPLIT_KINDS

    def span_filter(self, path: str, cues: CueIndex) -> Callable[[int, int], bool]:
        """Decides for one hunk body at a time, so a file of a million hunks needs no list of them."""
        kind = file_kind(path)
        if kind == "dockerfile":
            return lambda start, end: True  # ARG lines in one hunk matter to FROM lines in another
        if kind in SPLIT_KINDS:
            return lambda start, end: cues.any_changed(start, end) or cues.any_context(start, end)
        return cues.any_changed



def file_has_cue(content: bytes) -> bool:
    """The same cues on a whole file's content (every line counts): for auditing a tree."""
    lower = content.lower()
    worded = any(a in lower for a in _ANCHORS) and (_CUE_RE.search(lower) is not None or b"image-review:" in lower)
    return worded or _HOST_PATH_TAG.search(content) is not None or _EMBEDDED_FROM_LINE.search(content) is not None


def _any_between(sorted_positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(sorted_positions, start)
    return i < len(sorted_positions) and sorted_positions[i] < end


def section_path(buf: bytes | mmap.mmap, start: int = 0) -> str:
    """The new-side name on the 'diff --git a/x b/x' line at ``start``: enough to tell a file's kind."""
    eol = buf.find(b"\n", start)
    line = buf[start : len(buf) if eol < 0 else eol]
    return line.rstrip(b"\r").rsplit(b" ", 1)[-1].decode("utf-8", "replace")
