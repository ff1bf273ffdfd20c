"""Which kind of file a path is (Dockerfile, YAML, Go, ...), from its name."""

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
