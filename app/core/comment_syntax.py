"""Comment syntax per file type: where a comment starts, which lines are comment-only, directives."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from app.core.filekinds import base_name

HASH = "#"
SLASHES = "//"
BLOCK = "/*"
HTML = "<!--"
DASHES = "--"
SEMI = ";"


@dataclass(frozen=True, slots=True)
class CommentSyntax:
    # Openers that start a comment running to the end of the line (or to its closer).
    openers: tuple[str, ...]
    # Lines of a block comment's body often start with "*" (Go, JS, Java doc comments).
    star_continuation: bool = False


_HASH = CommentSyntax((HASH,))
# Go source in Kubernetes projects embeds YAML in raw strings (kops' etcd-manager manifest lives in
# model.go), so a YAML "#" comment is a comment there too.
_C_LIKE = CommentSyntax((SLASHES, BLOCK, HASH), star_continuation=True)
_C_ONLY = CommentSyntax((SLASHES, BLOCK), star_continuation=True)
_MARKUP = CommentSyntax((HTML,))
_SQL = CommentSyntax((DASHES, HASH))
_INI = CommentSyntax((HASH, SEMI))
_ANY = CommentSyntax((HASH, SLASHES, BLOCK, HTML), star_continuation=False)

_BY_EXTENSION: dict[str, CommentSyntax] = {
    **dict.fromkeys(
        (".yaml", ".yml", ".sh", ".bash", ".py", ".rb", ".pl", ".mk", ".bzl", ".bazel", ".star", ".tf",
         ".toml", ".cfg", ".conf", ".env", ".dockerfile", ".containerfile", ".ps1", ".r"),
        _HASH,
    ),
    **dict.fromkeys((".go", ".jsonnet", ".libsonnet", ".cue", ".proto"), _C_LIKE),
    **dict.fromkeys(
        (".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".scala", ".c", ".h", ".cc", ".cpp",
         ".hpp", ".cs", ".rs", ".swift", ".groovy", ".gradle", ".json5", ".hcl"),
        _C_ONLY,
    ),
    **dict.fromkeys((".md", ".markdown", ".html", ".htm", ".xml", ".svg", ".vue"), _MARKUP),
    **dict.fromkeys((".sql", ".lua", ".hs"), _SQL),
    **dict.fromkeys((".ini",), _INI),
}
_BY_NAME: dict[str, CommentSyntax] = {
    **dict.fromkeys(("dockerfile", "containerfile", "makefile", "gnumakefile", "workspace", "build",
                     "procfile", "owners", ".gitignore", ".dockerignore", ".gitattributes"), _HASH),
}
# JSON has no comments; its lines are never comment-only.
_NONE = CommentSyntax(())


def syntax_for(path: str) -> CommentSyntax:
    """The comment syntax of ``path``; unknown types accept every common opener."""
    name = base_name(path)
    if name in _BY_NAME or name.startswith(("dockerfile.", "makefile.")) or name.endswith(".dockerfile"):
        return _BY_NAME.get(name, _HASH)
    ext = posixpath.splitext(name)[1]
    if ext == ".json":
        return _NONE
    return _BY_EXTENSION.get(ext, _ANY)


def is_comment_only(path: str, text: str) -> bool:
    """True for a line that holds nothing but a comment (or a block comment's closer/body)."""
    stripped = text.strip()
    if not stripped:
        return False
    syntax = syntax_for(path)
    if any(stripped.startswith(o) for o in syntax.openers):
        return True
    if syntax.star_continuation and (stripped.startswith("*") or stripped == "*/"):
        return True
    return HTML in syntax.openers and stripped == "-->"


def is_neutral(path: str, text: str) -> bool:
    """Blank and comment-only lines change nothing that runs (the two-step pattern ignores them)."""
    return not text.strip() or is_comment_only(path, text)


def comment_start(path: str, text: str, needle: str) -> int | None:
    """The index of the comment opener that directly precedes ``needle`` on the line, if any.

    Used to find directives such as ``# image-review: ...``: the needle must be the first thing in a
    comment written in the file's syntax.
    """
    syntax = syntax_for(path)
    # Only a real comment counts: not `"# image-review: ..."` inside a string, nor a "### heading:".
    comment = line_comment_start(path, text)
    start = 0
    while True:
        at = text.find(needle, start)
        if at < 0:
            return None
        before = text[:at].rstrip()
        for opener in syntax.openers:
            opened = len(before) - len(opener)
            if before.endswith(opener) and opened >= comment and (opened == 0 or before[opened - 1].isspace()):
                return opened
        start = at + len(needle)


def line_comment_start(path: str, text: str) -> int:
    """Index where a comment starts on this line (openers inside quotes do not count), or len(text).

    A line that opens with a comment marker is a comment from its indentation on; further in, "#"
    counts only after whitespace (``image@sha256`` and ``a#b`` are not comments) and "//" never
    after ":" (``https://``).
    """
    syntax = syntax_for(path)
    stripped = text.lstrip()
    indent = len(text) - len(stripped)
    if any(stripped.startswith(o) for o in syntax.openers) or (
            syntax.star_continuation and (stripped.startswith("* ") or stripped == "*")):
        return indent
    quote, prev = "", " "
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and prev != "\\":
                quote = ""
        elif ch in "\"'`" and HTML not in syntax.openers:
            quote = ch
        elif _opens_comment(text, i, syntax.openers, prev):
            return i
        prev = ch
    return len(text)


def _opens_comment(text: str, i: int, openers: tuple[str, ...], prev: str) -> bool:
    if text[i] == "#":
        return HASH in openers and prev in " \t"
    if text.startswith(SLASHES, i):
        return SLASHES in openers and prev != ":"
    return any(text.startswith(o, i) for o in openers if o not in (HASH, SLASHES)) and prev in " \t"
