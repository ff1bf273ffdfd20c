"""Which files and hunks of a big diff are worth parsing line by line: cheap byte-level cues.

Most of a large diff holds no image reference. Before any line of a file section is decoded,
the section (and then each hunk) must show a cue on a changed line; everything else is counted
but never split into lines.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

from app.core.filekinds import file_kind

# What a changed line must contain for any detector below to fire on it (or on its split siblings),
# as plain lower-case substrings: bytes.find is many times faster than one regex with alternatives.
# References with an unusual host and no such word are caught by _HOST_PATH_TAG when they carry a
# tag or digest; known registries (gcr.io, quay.io, *-docker.pkg.dev, *.azurecr.io) contain ".io/"
# or "docker".
_CUES = (
    b"image", b"registry", b"repository", b"repo:", b"repo =", b"repo=", b"repo :", b"docker", b"container:",
    b"container_pull", b"tag:", b"tag =", b"tag=", b"digest:", b"digest =", b"newname", b".io/",
    b"img ?=", b"img :=", b"img =", b"img=",  # kubebuilder's IMG ?= controller:latest
)
# An unknown registry host followed by a path and a tag or digest ("harbor.example.net/team/app:1.2").
_CUE_RE = re.compile(b"|".join(re.escape(c) for c in _CUES))
# Few short substrings that every cue contains: scanning a whole file once per anchor is cheap.
_ANCHORS = (b"image", b"regist", b"repo", b"docker", b"contain", b"tag", b"digest", b"newname", b".io/", b"img")
_HOST_PATH_TAG = re.compile(rb"\.[a-z]{2,}(?::\d+)?/[\w.-]+(?:/[\w.-]+)*[:@]\w")
# A Dockerfile FROM line inside another file (a Tiltfile string, a heredoc): Docker Hub names carry no cue.
# Matched only at the start of a line that holds "FROM" (found with bytes.find): a regex anchored
# with ^ under MULTILINE is still tried at every byte of a 50 MB diff.
_EMBEDDED_FROM = re.compile(rb"[+-][ \t]*FROM[ \t]+[\w.-]+[:@]\w")
_EMBEDDED_FROM_LINE = re.compile(rb"^[ \t]*FROM[ \t]+[\w.-]+[:@]\w", re.MULTILINE)


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
    yield from _embedded_from_lines(section)


def _embedded_from_lines(section: bytes) -> Iterator[int]:
    """Starts of changed lines that are a Dockerfile ``FROM`` line (inside a Tiltfile, a heredoc)."""
    pos = section.find(b"FROM")
    while pos >= 0:
        start = section.rfind(b"\n", 0, pos) + 1
        if _EMBEDDED_FROM.match(section, start):
            yield start
        end = section.find(b"\n", pos)
        if end < 0:
            return
        pos = section.find(b"FROM", end + 1)


def file_has_cue(content: bytes) -> bool:
    """The same cues on a whole file's content (every line counts): for auditing a tree."""
    lower = content.lower()
    worded = any(a in lower for a in _ANCHORS) and (_CUE_RE.search(lower) is not None or b"image-review:" in lower)
    return worded or _HOST_PATH_TAG.search(content) is not None or _EMBEDDED_FROM_LINE.search(content) is not None


def _any_between(sorted_positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(sorted_positions, start)
    return i < len(sorted_positions) and sorted_positions[i] < end


def _changed_at(section: bytes, line_start: int) -> bool:
    return section[line_start : line_start + 1] in (b"+", b"-") and not section.startswith(
        (b"+++ ", b"--- "), line_start)


def _section_path(section: bytes) -> str:
    first = section[: section.find(b"\n")] if b"\n" in section else section
    return first.rsplit(b" ", 1)[-1].decode("utf-8", "replace")
