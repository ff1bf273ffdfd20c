"""Unified diffs → files, hunks and changed lines.

Reads git and plain unified diffs and `git format-patch --stdout` mailboxes.

File sections are located with bytes-level searches and hunk bodies are measured with
``bytes.count`` against the hunk header counts, so a prefilter can reject most of a large diff
before any of its lines is decoded.  Only sections that pass the prefilter are split into
``Line`` objects.

Decoding: every byte string coming from the diff (line texts, paths, hunk sections) is decoded as
UTF-8 with ``errors="replace"``; results are always printable and encodable, at the price of
turning invalid bytes into U+FFFD.
"""

from __future__ import annotations

import gc
import mmap
import os
import re
import stat
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from app.core.prefilter import CueIndex, section_path

if TYPE_CHECKING:
    from email.headerregistry import Address
    from email.message import Message

LineKind = Literal["+", "-", " "]


class DiffError(ValueError):
    """The input is not a diff we can read; the message is meant for the user."""


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and a big diff makes
# hundreds of thousands of these. Nothing changes a Line once built; it stays hashable.
@dataclass(slots=True, unsafe_hash=True)
class Line:
    kind: LineKind
    text: str  # without the leading marker and without the line ending
    old_no: int | None  # set for "-" and " "
    new_no: int | None  # set for "+" and " "


@dataclass(slots=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str  # the text after the second "@@" (function context), may be ""
    lines: list[Line] = field(default_factory=list)
    # Indexes into `lines` of the runs of changed lines in which a prefilter found a cue, when it
    # vouches that no other changed line of this kind of file can hold a reference; None: look at
    # every changed line.
    cued: frozenset[int] | None = field(default=None, compare=False)


@dataclass(slots=True)
class FileDiff:
    old_path: str | None  # None for a new file (/dev/null)
    new_path: str | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    # Counts of changed lines, known even when the hunks were filtered out.
    added: int = 0
    removed: int = 0
    # True when a prefilter decided this file holds no candidate and hunks were not built.
    filtered: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass(slots=True)
class Commit:
    sha: str | None
    author: str
    date: str
    subject: str
    files: list[FileDiff] = field(default_factory=list)


Prefilter = Callable[[bytes], bool]


@runtime_checkable
class HunkPrefilter(Protocol):
    """A prefilter that can also drop single hunks of a file it kept (a big file with one reference)."""

    def __call__(self, section: bytes) -> bool: ...

    def keep_hunks(self, path: str, section: bytes, spans: list[tuple[int, int]]) -> list[bool]:
        """For each (start, end) span of the section's hunk bodies: is it worth parsing?"""
        ...

@runtime_checkable
class IndexingPrefilter(HunkPrefilter, Protocol):
    """A prefilter that reads the whole buffer once, then answers for sections and hunks by position."""

    def index(self, buf: bytes | mmap.mmap, progress: Callable[[int], None] | None = None, start: int = 0,
              end: int | None = None) -> CueIndex: ...

    def wants(self, path: str, cues: CueIndex, start: int, end: int) -> bool: ...

    def span_filter(self, path: str, cues: CueIndex) -> Callable[[int, int], bool]: ...

    def gates_lines(self, path: str) -> bool: ...


# Anything we search: the input bytes, or a read-only map of the input file.
_Buffer = bytes | mmap.mmap

_ENCODING = "utf-8"
_ERRORS = "replace"


class _LineSearch:
    """Finds the next line that starts with a pattern.

    A '^' anchor under re.M makes re try the pattern at every byte; putting the newline in the
    pattern instead lets re skip ahead with its literal-prefix scan, many times faster on
    large inputs.  A separate pattern covers the line at the search position itself.
    """

    def __init__(self, pattern: bytes) -> None:
        self._here = re.compile(pattern)
        self._after_newline = re.compile(b"\n" + pattern)

    def find(self, buf: _Buffer, pos: int) -> int:
        """Start of the first matching line at or after pos (a line start), or -1."""
        if self._here.match(buf, pos) is not None:
            return pos
        m = self._after_newline.search(buf, pos)
        return -1 if m is None else m.start() + 1


def _line_starts(buf: _Buffer, prefix: bytes) -> list[int]:
    """Starts of all lines beginning with a literal prefix."""
    starts = [0] if buf[: len(prefix)] == prefix else []
    needle = b"\n" + prefix
    pos = buf.find(needle)
    while pos >= 0:
        starts.append(pos + 1)
        pos = buf.find(needle, pos + 1)
    return starts


# Lines that can open a file section.  "--- " only counts when "+++ " follows, and only when
# met between sections: inside a hunk such a pair is a removed "-- " and an added "++ " line,
# and hunks are skipped by their header counts before the next search starts.
_SECTION_START = _LineSearch(rb"(?:diff |--- [^\n]*\n\+\+\+ |Binary files )")
# The first line after a hunk header that cannot be a hunk line (or is a plain file header).
# A removed/added pair that looks like a header stops the search too early; the count check
# in _measure_hunk notices and falls back to walking the lines.
_HUNK_STOP = re.compile(rb"\n(?:[^ +\-\\\r\n]|--- [^\n]*\n\+\+\+ )")
_HUNK_HEADER = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?([^\n]*)\n?")
# Hunk headers after the newline that ends the previous line (see _LineSearch for why).
_HUNK_HEADER_NL = re.compile(b"\n" + _HUNK_HEADER.pattern)
_HUNK_COUNTS_NL = re.compile(rb"\n@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
# The usual shape of a git file header: a change, a new or a deleted file, with no rename and
# no space or quote in the name.  Matching it in one go saves reading the header line by line.
_GIT_SIMPLE_HEADER = re.compile(
    rb"diff --git a/([^\s\"]*) b/([^\s\"]*)\n"
    rb"(?:(new|deleted) file mode ([0-7]+)\n)?"
    rb"index [0-9a-f]+\.\.[0-9a-f]+(?: [0-7]+)?\n"
    rb"--- (?:a/([^\t\n\"]*)|/dev/null)\n"
    rb"\+\+\+ (?:b/([^\t\n\"]*)|/dev/null)\n"
)
_BINARY_FILES = re.compile(rb"Binary files (.+) and (.+) differ")
_NON_SPACE = re.compile(rb"\S")
_DEV_NULL = b"/dev/null"

_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord('"'): 34,
    ord("\\"): 92,
}


# --------------------------------------------------------------------------- paths


def _decode(raw: bytes) -> str:
    return raw.decode(_ENCODING, _ERRORS)


def _unquote(raw: bytes, start: int = 0) -> tuple[bytes, int]:
    """Decode the C-style quoted name at raw[start] (a '"'); return it and the index after it."""
    out = bytearray()
    i = start + 1
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x22:
            return bytes(out), i + 1
        if c != 0x5C or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = raw[i + 1]
        if 0x30 <= e <= 0x37:
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= raw[j] <= 0x37:
                j += 1
            out.append(int(raw[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out.append(_C_ESCAPES.get(e, e))
            i += 2
    return bytes(out), i


def _header_name(value: bytes) -> bytes:
    """The name in a '---'/'+++' line value: quoted, or up to the tab before a timestamp."""
    value = value.rstrip(b"\r")
    if value.startswith(b'"'):
        return _unquote(value)[0]
    return value.split(b"\t", 1)[0]


def _split_git_names(rest: bytes) -> tuple[bytes, bytes] | None:
    """Split the two names of a 'diff --git' line; None when they cannot be told apart."""
    rest = rest.rstrip(b"\r")
    if rest.startswith(b'"'):
        first, i = _unquote(rest)
        tail = rest[i:].lstrip(b" ")
        return first, (_unquote(tail)[0] if tail.startswith(b'"') else tail)
    quote = rest.find(b' "')
    if quote >= 0 and rest.endswith(b'"'):
        return rest[:quote], _unquote(rest, quote + 1)[0]
    # Unquoted names may hold spaces.  Without a rename both names are the same apart from
    # their prefixes, so they have the same length and the line splits in the middle.
    mid = len(rest) // 2
    if len(rest) % 2 == 1 and rest[mid] == 0x20:
        first, second = rest[:mid], rest[mid + 1 :]
        if first == second or (first[1:2] == b"/" == second[1:2] and first[2:] == second[2:]):
            return first, second
    if rest.count(b" ") == 1:
        first, second = rest.split(b" ")
        return first, second
    return None


def _git_prefixes(names: tuple[bytes, bytes] | None) -> tuple[bytes, bytes]:
    """Prefixes a git section puts on its names: 'a/' 'b/', a mnemonic pair, or none."""
    if names is None:
        return b"a/", b"b/"
    first, second = names
    if first[1:2] == b"/" == second[1:2] and first[:1] != second[:1]:
        return first[:2], second[:2]
    return b"", b""


def _strip(name: bytes, prefix: bytes) -> bytes:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _plain_paths(old: bytes, new: bytes) -> tuple[str | None, str | None]:
    """Paths of a non-git section: 'a/' and 'b/' go only when the section uses both."""
    old_null, new_null = old == _DEV_NULL, new == _DEV_NULL
    strip = (old_null or old.startswith(b"a/")) and (new_null or new.startswith(b"b/"))
    if strip:
        old, new = _strip(old, b"a/"), _strip(new, b"b/")
    return (None if old_null else _decode(old)), (None if new_null else _decode(new))


# --------------------------------------------------------------------------- section headers


@dataclass(slots=True)
class _Header:
    """What the lines before the first hunk of a file section say."""

    git: bool = False
    git_names: tuple[bytes, bytes] | None = None
    minus: bytes | None = None  # raw name from '--- '
    plus: bytes | None = None  # raw name from '+++ '
    binary_names: tuple[bytes, bytes] | None = None
    rename_from: bytes | None = None
    rename_to: bytes | None = None
    new_file: bool = False
    deleted: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    binary_patch: bool = False  # a 'GIT binary patch' payload follows the header
    end: int = 0  # where the header stops: the first hunk header, or the end of the section
    known_paths: tuple[str | None, str | None] | None = None  # set when read by the fast path

    def paths(self) -> tuple[str | None, str | None]:
        if self.known_paths is not None:
            return self.known_paths
        if not self.git:
            if self.minus is not None and self.plus is not None:
                return _plain_paths(self.minus, self.plus)
            if self.binary_names is not None:
                return _plain_paths(*self.binary_names)
            return None, None
        old_prefix, new_prefix = _git_prefixes(self.git_names)
        old, new = self.git_names or (None, None)
        if old is not None and new is not None:
            old, new = _strip(old, old_prefix), _strip(new, new_prefix)
        if self.minus is not None and self.minus != _DEV_NULL:
            old = _strip(self.minus, old_prefix)
        if self.plus is not None and self.plus != _DEV_NULL:
            new = _strip(self.plus, new_prefix)
        old = self.rename_from if self.rename_from is not None else old
        new = self.rename_to if self.rename_to is not None else new
        if self.new_file or self.minus == _DEV_NULL:
            old = None
        if self.deleted or self.plus == _DEV_NULL:
            new = None
        return (None if old is None else _decode(old)), (None if new is None else _decode(new))


def _line_at(buf: _Buffer, pos: int) -> tuple[bytes, int]:
    """The line starting at pos (without '\\n') and the position of the next line."""
    eol = buf.find(b"\n", pos)
    if eol < 0:
        return buf[pos:], len(buf)
    return buf[pos:eol], eol + 1


def _value(line: bytes, keyword: bytes) -> bytes:
    value = line[len(keyword) :].rstrip(b"\r")
    return _unquote(value)[0] if value.startswith(b'"') else value


def _git_extended(header: _Header, line: bytes) -> bool:
    """Apply one extended git header line; False when the line is not one."""
    if line.startswith(b"index "):
        return True
    for keyword, attr in (
        (b"rename from ", "rename_from"),
        (b"copy from ", "rename_from"),
        (b"rename old ", "rename_from"),
        (b"rename to ", "rename_to"),
        (b"copy to ", "rename_to"),
        (b"rename new ", "rename_to"),
    ):
        if line.startswith(keyword):
            setattr(header, attr, _value(line, keyword))
            return True
    for keyword, attr in (
        (b"old mode ", "old_mode"),
        (b"deleted file mode ", "old_mode"),
        (b"new mode ", "new_mode"),
        (b"new file mode ", "new_mode"),
    ):
        if line.startswith(keyword):
            setattr(header, attr, _decode(_value(line, keyword)))
            header.new_file = header.new_file or keyword == b"new file mode "
            header.deleted = header.deleted or keyword == b"deleted file mode "
            return True
    return line.startswith((b"similarity index ", b"dissimilarity index "))


def _simple_git_header(buf: _Buffer, start: int) -> _Header | None:
    m = _GIT_SIMPLE_HEADER.match(buf, start)
    if m is None:
        return None
    name, status, mode, minus, plus = m[1], m[3], m[4], m[5], m[6]
    old, new = (None if status == b"new" else name), (None if status == b"deleted" else name)
    if m[2] != name or (minus, plus) != (old, new):
        return None
    path = _decode(name)
    header = _Header(git=True, end=m.end())
    header.known_paths = (None if old is None else path), (None if new is None else path)
    if status is not None:
        header.new_file, header.deleted = status == b"new", status == b"deleted"
        if header.new_file:
            header.new_mode = _decode(mode)
        else:
            header.old_mode = _decode(mode)
    return header


def _parse_header(buf: _Buffer, start: int) -> _Header:
    """Read the header lines of the section that starts at `start`."""
    simple = _simple_git_header(buf, start)
    if simple is not None:
        return simple
    header = _Header()
    line, pos = _line_at(buf, start)
    if line.startswith(b"diff --git "):
        header.git = True
        header.git_names = _split_git_names(line[len(b"diff --git ") :])
    elif line.startswith(b"diff "):
        pass  # the command line of `diff -u`/`diff -r`: names follow in '---'/'+++'
    else:
        pos = start
    n = len(buf)
    while pos < n:
        line, nxt = _line_at(buf, pos)
        if line.startswith(b"@@ "):
            break
        if header.git and _git_extended(header, line):
            pos = nxt
            continue
        if line.startswith(b"--- ") and header.minus is None:
            plus, after = _line_at(buf, nxt)
            if not plus.startswith(b"+++ "):
                break
            header.minus, header.plus = _header_name(line[4:]), _header_name(plus[4:])
            pos = after
            continue
        if line.startswith(b"Binary files ") and not header.binary:
            header.binary = True
            names = _BINARY_FILES.match(line.rstrip(b"\r"))
            if names is not None:
                header.binary_names = (_header_name(names[1]), _header_name(names[2]))
            pos = nxt
            continue
        if header.git and line.rstrip(b"\r") == b"GIT binary patch":
            header.binary = header.binary_patch = True
            pos = nxt
        break
    header.end = pos
    return header


# --------------------------------------------------------------------------- hunks


@dataclass(slots=True)
class _HunkSpan:
    """Where one hunk's lines are in the buffer."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: bytes
    body: int  # first line after the '@@' line
    end: int  # first byte after the hunk's last line


@dataclass(slots=True)
class _Hunks:
    """The hunks of one file section, measured but not yet split into lines."""

    start: int  # the first hunk header
    end: int  # first byte after the last hunk: where the file section stops
    added: int = 0
    removed: int = 0
    # Filled when the hunks were measured one at a time; otherwise derived on demand, so
    # that a section the prefilter rejects never pays for per-hunk objects.
    measured: list[_HunkSpan] | None = None

    def spans(self, buf: _Buffer) -> list[_HunkSpan]:
        return list(self.iter_spans(buf))

    def iter_spans(self, buf: _Buffer) -> Iterator[_HunkSpan]:
        """The spans one at a time: a million one-line hunks need not all exist at once."""
        if self.measured is not None:
            yield from self.measured
            return
        last: _HunkSpan | None = None
        for m in _HUNK_HEADER_NL.finditer(buf, self.start - 1, self.end):
            if last is not None:
                last.end = m.start() + 1
                yield last
            last = _span(buf, m)
        if last is not None:
            last.end = self.end
            yield last

    def empty(self) -> bool:
        return self.measured is not None and not self.measured


def _span(buf: _Buffer, m: re.Match[bytes]) -> _HunkSpan:
    old_len = 1 if m[2] is None else int(m[2])
    new_len = 1 if m[4] is None else int(m[4])
    body = m.end()
    return _HunkSpan(int(m[1]), old_len, int(m[3]), new_len, m[5].rstrip(b"\r"), body, body)


def _walk_hunk(buf: _Buffer, pos: int, old_len: int, new_len: int) -> tuple[int, int, int]:
    """Follow a hunk line by line; return (end, added, removed).

    Only used when the counting shortcuts fail (trailing junk, empty context lines, text that
    looks like a file header), so per-line cost here is rare.
    """
    old_left, new_left = old_len, new_len
    added = removed = 0
    n = len(buf)
    while pos < n:
        line, nxt = _line_at(buf, pos)
        kind = line[:1]
        if kind == b"\\":
            pos = nxt
            continue
        if old_left == 0 and new_left == 0:
            break
        if kind == b"-" and old_left:
            old_left -= 1
            removed += 1
        elif kind == b"+" and new_left:
            new_left -= 1
            added += 1
        elif (kind == b" " or not line.rstrip(b"\r")) and old_left and new_left:
            old_left -= 1
            new_left -= 1
        else:
            break
        pos = nxt
    return pos, added, removed


def _measure_hunk(buf: _Buffer, body: int, old_len: int, new_len: int) -> tuple[int, int, int]:
    """Find where a hunk ends and count its changes without looking at single lines.

    The hunk is taken to run up to the first line that cannot belong to it; counting the line
    markers in that span and matching them against the header counts proves the guess right.
    """
    stop = _HUNK_STOP.search(buf, body - 1)
    end = stop.start() + 1 if stop is not None else len(buf)
    # Starting at the newline that ends the '@@' line makes every line start with b"\n".
    span = buf[body - 1 : end]
    lines = span.count(b"\n") - (1 if span.endswith(b"\n") else 0)
    added = span.count(b"\n+")
    removed = span.count(b"\n-")
    context = span.count(b"\n ")
    markers = span.count(b"\n\\")
    if added + removed + context + markers == lines and removed + context == old_len and added + context == new_len:
        return end, added, removed
    return _walk_hunk(buf, body, old_len, new_len)


def _scan_hunks(buf: _Buffer, pos: int) -> _Hunks:
    """Measure the hunks that start at pos one at a time."""
    spans: list[_HunkSpan] = []
    hunks = _Hunks(pos, pos, measured=spans)
    n = len(buf)
    while pos < n:
        m = _HUNK_HEADER.match(buf, pos)
        if m is None:
            break
        span = _span(buf, m)
        if buf[span.body - 1 : span.body] == b"\n":
            span.end, added, removed = _measure_hunk(buf, span.body, span.old_len, span.new_len)
            hunks.added += added
            hunks.removed += removed
        spans.append(span)
        pos = span.end
    hunks.end = pos
    return hunks


def _quick_hunks(section: bytes, pos: int) -> _Hunks | None:
    """Measure all hunks of a git file section at once; None when the counts do not add up.

    Everything from the first hunk header to the end of the section must be hunk headers and
    hunk lines whose markers agree with the header counts summed over the hunks (an empty line
    counts as context, as in _build_lines).  That holds for normal git output and costs a few
    bytes.count calls per file.
    """
    if pos == 0 or not section.startswith(b"@@ ", pos):
        return None
    start = pos - 1  # the newline before the first '@@' line
    # Summed as they are found: a list of every header's counts held a million tuples at once.
    headers = old_total = new_total = 0
    for m in _HUNK_COUNTS_NL.finditer(section, start):
        old_len, new_len = m.groups()
        # An omitted count (empty group) means 1.
        old_total += int(old_len) if old_len else 1
        new_total += int(new_len) if new_len else 1
        headers += 1
    if not headers:
        return None
    lines = section.count(b"\n", start) - (1 if section.endswith(b"\n") else 0)
    added = section.count(b"\n+", start)
    removed = section.count(b"\n-", start)
    markers = section.count(b"\n\\", start)
    # Stray lines (a mail signature, a diffstat) after the last hunk would break one of these:
    # with context = old_total - removed, both sides agree and nothing is left over.
    context = old_total - removed
    if new_total - added == context and added + removed + context + markers + headers == lines:
        return _Hunks(pos, len(section), added, removed)
    return None


def _build_lines(text: str, old_no: int, new_no: int, marked_rows: Iterable[int] = (),
                 marked: set[int] | None = None) -> list[Line]:
    """Split a measured hunk body (already decoded) into Line objects.

    `marked_rows` are row numbers of the body (counting every line, '\\' ones too); the index
    in the result of each marked row that becomes a Line is added to `marked`.
    """
    rows = set(marked_rows)
    if "\r" in text:
        text = text.replace("\r\n", "\n").removesuffix("\r")
    parts = text.split("\n")
    if text.endswith("\n"):
        parts.pop()
    # Drop the joined text and each split part once used: on a 50 MB single line, holding all
    # three copies (text, part, line without its marker) at once set the peak memory.
    del text
    lines: list[Line] = []
    append = lines.append
    for i, raw in enumerate(parts):
        parts[i] = ""
        kind = raw[:1]
        if marked is not None and i in rows and kind != "\\":
            marked.add(len(lines))
        if kind == "+":
            append(Line("+", raw[1:], None, new_no))
            new_no += 1
        elif kind == "-":
            append(Line("-", raw[1:], old_no, None))
            old_no += 1
        elif kind == "\\":
            continue  # "\ No newline at end of file" describes the previous line
        else:
            # An empty line inside a hunk is a context line whose space was lost on the way.
            append(Line(" ", raw[1:], old_no, new_no))
            old_no += 1
            new_no += 1
    return lines


def _build_hunk(buf: _Buffer, span: _HunkSpan, cue_rows: list[int] | None = None) -> Hunk:
    cued: set[int] | None = None if cue_rows is None else set()
    # The text is passed straight through so that _build_lines holds the only reference to it.
    lines = _build_lines(_decode(buf[span.body : span.end]), span.old_start, span.new_start, cue_rows or (), cued)
    return Hunk(span.old_start, span.old_len, span.new_start, span.new_len, _decode(span.section), lines,
                None if cued is None else _whole_blocks(lines, cued))


def _whole_blocks(lines: list[Line], cued: set[int]) -> frozenset[int]:
    """Widen cued lines to their runs of changed lines: an added line replacing a cued removed one
    (`"gcr.io/google_containers:v3"` → `"k8s.gcr.io:v3"`) is part of the same change."""
    out: set[int] = set()
    for i in cued:
        if i in out:
            continue
        lo, hi = i, i
        while lo > 0 and lines[lo - 1].kind != " ":
            lo -= 1
        while hi + 1 < len(lines) and lines[hi + 1].kind != " ":
            hi += 1
        out.update(range(lo, hi + 1))
    return frozenset(out)


# --------------------------------------------------------------------------- files


def _measured_hunks(buf: _Buffer, header: _Header) -> _Hunks:
    hunks = _scan_hunks(buf, header.end)
    if hunks.empty() and header.binary_patch:
        # The base85 payload has no spaces, so it cannot hold a section start.
        nxt = _SECTION_START.find(buf, header.end)
        hunks.end = nxt if nxt >= 0 else len(buf)
    return hunks


def _bare_diff(header: _Header, hunks: _Hunks) -> FileDiff:
    old_path, new_path = header.paths()
    return FileDiff(
        old_path,
        new_path,
        binary=header.binary,
        old_mode=header.old_mode,
        new_mode=header.new_mode,
        added=hunks.added,
        removed=hunks.removed,
    )


def _make_diff(buf: _Buffer, start: int, header: _Header, hunks: _Hunks, prefilter: Prefilter | None) -> FileDiff:
    diff = _bare_diff(header, hunks)
    if prefilter is not None and not prefilter(buf[start : hunks.end]):
        diff.filtered = True
        return diff
    hunk_filter = prefilter if isinstance(prefilter, HunkPrefilter) else None
    spans = _kept_spans(buf, diff.path, hunks, hunk_filter) if hunk_filter else hunks.spans(buf)
    diff.hunks = [_build_hunk(buf, span) for span in spans]
    return diff


_HUNK_BATCH = 4096


def _kept_spans(buf: _Buffer, path: str, hunks: _Hunks, prefilter: HunkPrefilter) -> list[_HunkSpan]:
    """The hunks worth parsing, asked of the prefilter a batch at a time.

    Cues are judged line by line, so the bytes of one batch decide for that batch exactly as
    the whole section would; batching keeps memory flat for files with a million hunks.
    """
    kept: list[_HunkSpan] = []
    batch: list[_HunkSpan] = []
    for span in hunks.iter_spans(buf):
        batch.append(span)
        if len(batch) == _HUNK_BATCH:
            kept += _keep_batch(buf, path, batch, prefilter)
            batch = []
    if batch:
        kept += _keep_batch(buf, path, batch, prefilter)
    return kept


def _keep_batch(buf: _Buffer, path: str, batch: list[_HunkSpan], prefilter: HunkPrefilter) -> list[_HunkSpan]:
    lo, hi = batch[0].body, batch[-1].end
    offsets = [(s.body - lo, s.end - lo) for s in batch]
    keep = prefilter.keep_hunks(path, bytes(buf[lo:hi]), offsets)
    return [s for s, k in zip(batch, keep, strict=True) if k]


def _iter_sections(
    buf: _Buffer, prefilter: Prefilter | None, pos: int = 0, progress: Callable[[int], None] | None = None
) -> Iterator[FileDiff | None]:
    """Walk file sections one after another, each found where the previous one ends.

    Used for plain diffs and for whatever text surrounds git sections.  Yields None for a
    header that led to no file, so the caller can tell "no diff" from "not a diff".
    """
    n = len(buf)
    while pos < n:
        start = _SECTION_START.find(buf, pos)
        if start < 0:
            return
        header = _parse_header(buf, start)
        hunks = _measured_hunks(buf, header)
        # Step at least past a lone 'diff ...' or '--- ' line that opened nothing.
        pos = max(hunks.end, _line_at(buf, start)[1])
        if progress is not None:
            progress(start)
        if header.git or not hunks.empty() or header.binary:
            yield _make_diff(buf, start, header, hunks, prefilter)
        else:
            yield None


_GIT_START = b"diff --git "


def _iter_git_sections(
    buf: _Buffer, window: _Window, prefilter: Prefilter | None, progress: Callable[[int], None] | None
) -> Iterator[FileDiff | None]:
    """Git output in the window: a line starting with 'diff --git ' always opens a file section."""
    start = window.start
    while start >= 0:
        nxt = buf.find(b"\n" + _GIT_START, start, window.stop)
        end = window.stop if nxt < 0 else nxt + 1
        section = buf[start:end]
        if progress is not None:
            progress(end)
        header = _parse_header(section, 0)
        hunks = _quick_hunks(section, header.end)
        if hunks is None:
            hunks = _measured_hunks(section, header)
        yield _make_diff(section, 0, header, hunks, prefilter)
        if hunks.end < len(section):
            yield from _iter_sections(section, prefilter, hunks.end)
        start = -1 if nxt < 0 else end


def _iter_indexed_sections(
    buf: _Buffer, window: _Window, prefilter: IndexingPrefilter, index: CueIndex, keep_filtered: bool,
    progress: Callable[[int], None] | None,
) -> Iterator[FileDiff | None]:
    """Git output in the window, with every section start and cue line known from one scan.

    A section the prefilter does not want is not even copied out of the buffer, unless the caller
    wants its paths and line counts (`keep_filtered`).
    """
    sections = index.sections
    starts = sections[bisect_left(sections, window.start) : bisect_left(sections, window.stop)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else window.stop
        if not keep_filtered and not prefilter.wants(section_path(buf, start), index, start, end):
            if progress is not None:
                progress(end)
            yield None  # a file, but none the caller wants
            continue
        section = buf[start:end]
        if progress is not None:
            progress(end)  # after the copy: its pages are not needed again
        header = _parse_header(section, 0)
        hunks = _quick_hunks(section, header.end)
        if hunks is None:
            hunks = _measured_hunks(section, header)
        yield _make_indexed_diff(section, start, header, hunks, prefilter, index)
        if hunks.end < len(section):
            yield from _iter_sections(section, prefilter, hunks.end)


def _make_indexed_diff(section: bytes, offset: int, header: _Header, hunks: _Hunks, prefilter: IndexingPrefilter,
                       index: CueIndex) -> FileDiff:
    diff = _bare_diff(header, hunks)
    if not prefilter.wants(diff.path, index, offset, offset + hunks.end):
        diff.filtered = True
        return diff
    keep = prefilter.span_filter(diff.path, index)
    gated = prefilter.gates_lines(diff.path)
    diff.hunks = [_build_hunk(section, span, _cue_rows(section, offset, span, index) if gated else None)
                  for span in hunks.iter_spans(section) if keep(offset + span.body, offset + span.end)]
    return diff


def _cue_rows(section: bytes, offset: int, span: _HunkSpan, index: CueIndex) -> list[int]:
    """Row numbers, within the hunk body, of the changed lines the index found a cue on."""
    return [section.count(b"\n", span.body, p - offset)
            for p in index.changed_between(offset + span.body, offset + span.end)]


class _PageReleaser:
    """Drops the pages of a mapped diff that the parser has moved past.

    Mapped pages count toward the resident size of the process: for a 50 MB diff that is a
    third of the memory budget of a scan, and those bytes are never read again.  The buffer may
    be read in several passes (a cue scan, then the sections): a position not past the last one
    heard starts a new pass, whose pages (brought back by fault-around) are dropped again.
    """

    _STEP = 8 << 20

    def __init__(self, mapped: mmap.mmap) -> None:
        self._mapped = mapped
        self._done = 0
        self._last = 0

    def __call__(self, pos: int) -> None:
        if pos <= self._last:  # not past the last position heard: a new pass over the buffer
            self._done = 0
        self._last = pos
        upto = pos - pos % mmap.PAGESIZE
        if upto - self._done >= self._STEP:
            self._mapped.madvise(mmap.MADV_DONTNEED, self._done, upto - self._done)
            self._done = upto


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector.

    A full parse creates up to millions of small objects that never form cycles; letting the
    collector rescan them while they pile up about doubles the parse time.  With parses in
    several threads, the one that found the collector enabled turns it back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first_git_start(buf: _Buffer) -> int:
    if buf[: len(_GIT_START)] == _GIT_START:
        return 0
    pos = buf.find(b"\n" + _GIT_START)
    return -1 if pos < 0 else pos + 1


@dataclass(frozen=True, slots=True)
class _Window:
    """The part of a buffer to parse: [start, stop), each end a buffer end or a 'diff --git' line."""

    start: int
    stop: int


def _parse(buf: _Buffer, prefilter: Prefilter | None, progress: Callable[[int], None] | None = None,
           keep_filtered: bool = True, window: _Window | None = None) -> list[FileDiff]:
    """Parse a whole diff, or one window of it; `progress` hears how far the parser got, for releasing memory."""
    whole = window or _Window(0, len(buf))
    first = whole.start if whole.start > 0 else _first_git_start(buf)
    results: Iterator[FileDiff | None]
    if first < 0 or first >= whole.stop:
        results = _iter_sections(buf if window is None else buf[whole.start : whole.stop], prefilter,
                                 progress=progress)
    else:
        preamble = _iter_sections(buf[whole.start : first], prefilter)
        if isinstance(prefilter, IndexingPrefilter):
            index = prefilter.index(buf, progress, first, whole.stop)
            body = _iter_indexed_sections(buf, _Window(first, whole.stop), prefilter, index, keep_filtered, progress)
        else:
            body = _iter_git_sections(buf, _Window(first, whole.stop), prefilter, progress)
        results = chain(preamble, body)
    found_header = False
    files: list[FileDiff] = []
    with _collector_paused():
        for diff in results:
            found_header = True
            if diff is not None:
                files.append(diff)
    if not found_header and _NON_SPACE.search(buf, whole.start, whole.stop) is not None:
        raise DiffError("input is not a unified diff: no file header ('diff --git', '---'/'+++') found")
    return files


def parse_diff(data: bytes, prefilter: Prefilter | None = None, *, keep_filtered: bool = True) -> list[FileDiff]:
    """Parse a git or plain unified diff.

    With a prefilter, each file section (its raw bytes, header included) is offered to it
    first; sections it rejects come back with filtered=True, paths and counts, but no hunks —
    or, with keep_filtered=False, not at all (a caller that wants references only).
    """
    return _parse(data, prefilter, keep_filtered=keep_filtered)


def parse_diff_file(path: str | os.PathLike[str], prefilter: Prefilter | None = None, *,
                    keep_filtered: bool = True, window: tuple[int, int] | None = None) -> list[FileDiff]:
    """parse_diff for a file, mapped rather than read so a large diff is not copied into memory.

    `window` (start, stop) parses only that part of the file: each end must be an end of the file
    or the start of a 'diff --git' line (see `section_cut`).
    """
    with open(path, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return _parse(fh.read(), prefilter, keep_filtered=keep_filtered)
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            part = None if window is None else _Window(*window)
            if not hasattr(mmap, "MADV_DONTNEED"):
                return _parse(mapped, prefilter, None, keep_filtered, part)
            mapped.madvise(mmap.MADV_SEQUENTIAL)
            return _parse(mapped, prefilter, _PageReleaser(mapped), keep_filtered, part)


def section_cut(path: str | os.PathLike[str]) -> int | None:
    """Where a git diff file can be cut in two near its middle: the start of a 'diff --git' line
    that has another one before it. None when there is no such place (not a git diff, one file)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            first = _first_git_start(mapped)
            cut = mapped.find(b"\n" + _GIT_START, max(first, size // 2))
            return None if first < 0 or cut < 0 else cut + 1


def iter_changed_lines(files: Iterable[FileDiff]) -> Iterator[tuple[FileDiff, Hunk, Line]]:
    """Every added or removed line of the given files, with the file and hunk it belongs to."""
    for diff in files:
        for hunk in diff.hunks:
            for line in hunk.lines:
                if line.kind != " ":
                    yield diff, hunk, line


# --------------------------------------------------------------------------- mailboxes

# git format-patch opens every message with 'From <sha> Mon Sep 17 00:00:00 2001'.
_MBOX_FROM = re.compile(rb"From ([0-9a-f]{40}) ")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PATCH_PREFIX = re.compile(r"^\s*\[[^\]]*PATCH[^\]]*\]\s*", re.I)


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _raw_header(headers: Message, name: str) -> str:
    """A header's text as written (unfolded), without decoding."""
    for key, value in headers.raw_items():
        if key.lower() == name.lower():
            return _one_line(value)
    return ""


def _header_text(headers: Message, name: str) -> str:
    """A header's decoded value on one line; the raw value when it does not decode."""
    try:
        value = headers.get(name)
    except Exception:  # the email package can trip over malformed encoded words
        return _raw_header(headers, name)
    return "" if value is None else _one_line(value)


def _author(headers: Message) -> str:
    try:
        value = headers.get("From")
    except Exception:  # see _header_text
        value = None
    addresses: tuple[Address, ...] = getattr(value, "addresses", ())
    if len(addresses) == 1:
        address = addresses[0]
        if address.display_name:
            return f"{address.display_name} <{address.addr_spec}>"
        return address.addr_spec
    return _header_text(headers, "From")


def _commit_files(message: bytes, body_start: int) -> list[FileDiff]:
    body = message[body_start:]
    first = _first_git_start(body)
    return [] if first < 0 else parse_diff(body[first:])


def _parse_message(sha: str, message: bytes) -> Commit:
    """One format-patch message: the 'From <sha>' line is already cut off."""
    split = _HEADER_END.search(message)
    header_end = split.end() if split is not None else len(message)
    # Imported here: the email package costs a plain diff scan a tenth of its start-up time.
    import email
    import email.policy

    headers = email.message_from_bytes(message[:header_end], policy=email.policy.default)
    subject = _PATCH_PREFIX.sub("", _header_text(headers, "Subject"), count=1)
    return Commit(
        sha=sha,
        author=_author(headers),
        # As written: the parsed form would reformat it (zero-padded day and so on).
        date=_raw_header(headers, "Date"),
        subject=subject,
        files=_commit_files(message, header_end),
    )


def parse_mbox(data: bytes) -> list[Commit]:
    """Parse the output of `git format-patch --stdout`: one Commit per message."""
    # Only a 'From <sha> ' line at column 0 opens a message: inside a diff such text is
    # preceded by a line marker.
    starts = [(pos, m) for pos in _line_starts(data, b"From ") if (m := _MBOX_FROM.match(data, pos))]
    if not starts:
        raise DiffError("input is not a git format-patch mailbox: no 'From <sha>' line found")
    commits: list[Commit] = []
    for i, (pos, m) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(data)
        message = data[_line_at(data, pos)[1] : end]
        commits.append(_parse_message(m[1].decode("ascii"), message))
    return commits
