"""Which kind of file a path is, and how that kind writes comments."""

from __future__ import annotations

import posixpath
from functools import lru_cache
from typing import Literal

FileKind = Literal[
    "dockerfile", "yaml", "json", "go", "python", "shell", "makefile", "terraform",
    "toml", "starlark", "markdown", "c-like", "text",
]

_BY_SUFFIX: dict[str, FileKind] = {
    ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".go": "go", ".py": "python",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".mk": "makefile", ".tf": "terraform",
    ".hcl": "terraform", ".tfvars": "terraform", ".toml": "toml", ".bzl": "starlark",
    ".bazel": "starlark", ".star": "starlark", ".md": "markdown", ".markdown": "markdown",
    ".js": "c-like", ".ts": "c-like", ".java": "c-like", ".rs": "c-like", ".c": "c-like",
    ".cc": "c-like", ".kt": "c-like", ".groovy": "c-like", ".cs": "c-like",
    ".dockerfile": "dockerfile", ".containerfile": "dockerfile",
}
_BY_NAME: dict[str, FileKind] = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile", "makefile": "makefile",
    "gnumakefile": "makefile", "workspace": "starlark", "build": "starlark", "tiltfile": "starlark",
}
_TEMPLATE_SUFFIXES = (".template", ".tmpl", ".tpl", ".j2", ".in", ".gotmpl")

# Line-comment markers by kind; "#" at the start of a line also covers YAML embedded in Go strings.
HASH_KINDS = {"yaml", "python", "shell", "makefile", "terraform", "toml", "starlark", "dockerfile", "text"}
SLASH_KINDS = {"go", "c-like", "terraform", "json"}


@lru_cache(maxsize=4096)
def file_kind(path: str) -> FileKind:
    name = posixpath.basename(path).lower()
    for suffix in _TEMPLATE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(("dockerfile.", "containerfile.")) or name.endswith((".dockerfile", "-dockerfile")):
        return "dockerfile"
    _, ext = posixpath.splitext(name)
    return _BY_SUFFIX.get(ext, "text")


def comment_start(text: str, kind: FileKind) -> int:
    """Index where a line comment starts in ``text`` (outside quotes), or len(text)."""
    stripped = text.lstrip()
    indent = len(text) - len(stripped)
    if kind == "markdown":
        return indent if stripped.startswith("<!--") else len(text)
    if stripped.startswith(("#", "//", "/*", "* ", "<!--")) or stripped == "*":
        return indent
    quote = ""
    prev = " "
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and prev != "\\":
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif _comment_marker(text, i, kind, prev):
            return i
        prev = ch
    return len(text)


def _comment_marker(text: str, i: int, kind: FileKind, prev: str) -> bool:
    if text[i] == "#":
        return kind in HASH_KINDS and prev in " \t"
    # "://" in a URL is not a comment.
    return kind in SLASH_KINDS and text.startswith("//", i) and prev != ":"
