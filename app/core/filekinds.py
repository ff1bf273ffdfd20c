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
    ".cc": "c-like", ".proto": "c-like", ".kt": "c-like", ".groovy": "c-like", ".cs": "c-like",
    ".dockerfile": "dockerfile", ".containerfile": "dockerfile",
}
_BY_NAME: dict[str, FileKind] = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile", "makefile": "makefile",
    "gnumakefile": "makefile", "workspace": "starlark", "build": "starlark", "tiltfile": "starlark",
}
# Template suffixes wrap another file type: k8s-1.18.yaml.template is YAML.
_TEMPLATE_SUFFIXES = (".template", ".tmpl", ".tpl", ".j2", ".in", ".gotmpl")


def base_name(path: str) -> str:
    """The lower-case file name, without a template suffix."""
    name = posixpath.basename(path).lower()
    for suffix in _TEMPLATE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=4096)
def file_kind(path: str) -> FileKind:
    name = base_name(path)
    if name in _BY_NAME:
        return _BY_NAME[name]
    _, ext = posixpath.splitext(name)
    if ext in _BY_SUFFIX:
        return _BY_SUFFIX[ext]  # Dockerfile.md and dockerfile-lint.yaml are what their extension says
    if name.startswith(_DOCKERFILE_PREFIXES) or name.endswith(("-dockerfile", "_dockerfile")):
        return "dockerfile"
    return "text"


# Dockerfile.cross, Dockerfile-alpine, Dockerfile_debug, Containerfile.rhel, Containerfile-ubi.
_DOCKERFILE_PREFIXES = tuple(f"{base}{sep}" for base in ("dockerfile", "containerfile") for sep in ".-_")
