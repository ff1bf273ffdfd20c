"""Path globs for policy keys such as ``staging_allowed_paths`` and ``generated_paths``.

The semantics follow .gitignore, which repository owners already know:

* ``*`` and ``?`` stay inside one path component; ``**`` spans any number of components.
* A pattern without ``/`` (``*_test.go``, ``testdata``) matches a component at any depth.
* A pattern with ``/`` is anchored at the repository root (``hack/``, ``docs/*.md``); a leading
  ``/`` is allowed and ignored.
* A pattern that matches a directory matches everything below it, so ``tests`` covers
  ``nodeup/pkg/model/tests/golden/x.yaml`` and ``.github`` covers ``.github/workflows/ci.yml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache


class PathGlobError(ValueError):
    """The text is not a usable path glob."""


@dataclass(frozen=True, slots=True)
class PathGlob:
    text: str
    _regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> PathGlob:
        return _compile(text)

    def matches(self, path: str) -> bool:
        path = path.strip("/")
        if self._regex.fullmatch(path):
            return True
        # A match on a leading directory covers everything below it.
        parts = path.split("/")
        return any(self._regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts)))


@lru_cache(maxsize=4096)
def _compile(text: str) -> PathGlob:
    pattern = text.strip()
    if not pattern or pattern in ("/", "**/"):
        raise PathGlobError(f"empty path pattern {text!r}")
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.strip("/")
    if not anchored:
        pattern = "**/" + pattern
    return PathGlob(text, re.compile(_translate(pattern)))


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise PathGlobError(f"unclosed '[' in path pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PathSet:
    """A list of path globs; a path is in the set when any glob matches it."""

    globs: tuple[PathGlob, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> PathSet:
        return cls(tuple(PathGlob.parse(p) for p in patterns))

    def matches(self, path: str) -> bool:
        return any(g.matches(path) for g in self.globs)

    def first_match(self, path: str) -> str | None:
        for g in self.globs:
            if g.matches(path):
                return g.text
        return None
