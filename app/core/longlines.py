"""A bounded path for very long lines (minified bundles, lock files, generated JSON).

The line detectors are linear, but some of their bookkeeping grows with the number of
candidates on a line, and a 50 MB line must not be handed to them whole. A line longer than
:data:`LONG_LINE` is searched for cues (the words a reference's context holds, or a
``host.tld/`` shape) with plain substring search; only a window around each cue is given to the
detectors, in chunks of at most :data:`CHUNK` characters that overlap by :data:`OVERLAP`, so a
reference on a chunk boundary is whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.core.detectors import Candidate, find_candidates
from app.core.filekinds import FileKind

LONG_LINE = 64 * 1024
RADIUS = 1024  # context kept on each side of a cue; a reference with its key fits easily
CHUNK = 4096
OVERLAP = 1024  # longer than any reference, so each is whole in some chunk's core

# The same anchors the diff prefilter uses (app.core.prefilter), plus FROM for Dockerfiles, and
# a dotted host followed by a path (references with an unfamiliar registry and no anchor word).
# Case-insensitive matching instead of lower-casing the line: no copy of a 50 MB line. Each
# start reads only a fixed word or the letters after one dot, so the scan stays linear.
_CUE = re.compile(
    r"image|regist|repo|docker|contain|tag|digest|newname|from|[a-z0-9-]\.[a-z]{2,}(?::\d{1,5})?/",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def cue_positions(text: str) -> Iterator[int]:
    """Offsets of cues in a line, in order."""
    for m in _CUE.finditer(text):
        yield m.start()


def windows(text: str) -> list[Span]:
    """Merged windows around every cue, plus the line's start (Dockerfile instructions, YAML keys)."""
    size = len(text)
    out: list[Span] = []
    for pos in (0, *cue_positions(text)):
        lo, hi = max(0, pos - RADIUS), min(size, pos + RADIUS)
        if out and lo <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, hi))
        else:
            out.append(Span(lo, hi))
    return out


def chunks(window: Span) -> Iterator[tuple[Span, Span]]:
    """(chunk, core) pairs covering ``window``: cores tile it exactly, chunks add overlap around them."""
    step = CHUNK - OVERLAP
    pos = window.start
    while pos < window.end:
        core = Span(pos, min(window.end, pos + step))
        chunk = Span(max(window.start, core.start - OVERLAP // 2), min(window.end, core.end + OVERLAP // 2))
        yield chunk, core
        pos = core.end


def find_candidates_bounded(text: str, kind: FileKind, stages: frozenset[str] = frozenset(),
                            args: dict[str, str] | None = None,
                            base_args: frozenset[str] = frozenset()) -> list[Candidate]:
    """:func:`find_candidates`, with lines over :data:`LONG_LINE` read through cue windows."""
    if len(text) <= LONG_LINE:
        return find_candidates(text, kind, stages, args, base_args)
    out: list[Candidate] = []
    for window in windows(text):
        for chunk, core in chunks(window):
            for c in find_candidates(text[chunk.start:chunk.end], kind, stages, args, base_args):
                start, end = c.start + chunk.start, c.end + chunk.start
                if not core.start <= start < core.end or (out and start < out[-1].end):
                    continue  # another chunk owns it, or it overlaps one already taken
                out.append(Candidate(start, end, c.value, c.context))
    return out
