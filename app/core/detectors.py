"""Line detectors: every image reference on one line of a file, by file kind and context.

Dockerfile instructions, image-like keys (YAML, JSON, code, flags, shell variables), string
literals, and bare references in text. Each candidate value is interpreted by app.core.values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.core.filekinds import FileKind
from app.core.values import Interpretation, interpret, is_known_registry

_LINE_CUE = re.compile(r"[:/@=]|\bFROM\b", re.IGNORECASE)

# A key is the run of key characters before an operator, starting at its first letter. Matching
# runs first and the operator after each (see _keys) keeps this linear: a single regex retried
# from every letter of a long run without an operator ("imageaaaa...") was quadratic.
_KEY_RUN = re.compile(r"[\w.\-\[\]*]+")
_KEY_START = re.compile(r"[A-Za-z_]")
_KEY_OP = re.compile(r"[\"']?[ \t]*(?P<op>:=|\?=|\+=|=|:)(?=[ \t\"'`\w{$/.-])[ \t]*")
_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|`[^`\n]*`")
_BARE = re.compile(
    r"(?<![\w@/:.$-])(?P<ref>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]+(?::\d+)?"
    r"(?:/[\w.{}$-]+)+(?::[\w.{}$-]+)?(?:@sha(?:256|384|512):[0-9a-f]+)?)(?![\w/])"
)
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<v>\S+)", re.IGNORECASE)
# The mount spec is bounded: an unbounded lazy scan per "--mount=" was quadratic on long lines.
_COPY_FROM = re.compile(
    r"^\s*(?:COPY|ADD|RUN)\b.*?--(?:from|mount=[^ ]{0,512}?from)=(?P<v>[^\s,]+)", re.IGNORECASE
)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>\w+)=(?P<v>\S+)", re.IGNORECASE)
_STAGE = re.compile(r"^\s*FROM\s+.*\sAS\s+(?P<name>\S+)", re.IGNORECASE)  # not .*\s+: overlapping
_NON_IMAGE_KEYS = {
    "osimage", "vmimage", "machineimage", "diskimage", "bootimage", "instanceimage", "amiimage",
    "cloudimage", "imagefamily", "imagepullpolicy", "imagepullsecrets", "imageid", "sourceimage",
}
_DOCKER_URI = re.compile(r"^docker://")
CODE_KINDS = {"go", "python", "c-like", "starlark", "terraform"}
_IMAGE_WORDS = re.compile(r"(?i)image|registry|\brepo(?:sitory)?\b|\btag\b")


@dataclass(frozen=True, slots=True)
class _Key:
    start: int
    end: int  # after the operator and the blanks that follow it
    key: str
    op: str


def _keys(text: str) -> Iterator[_Key]:
    """Each ``key op`` on a line, left to right, in one pass over the line."""
    for run in _KEY_RUN.finditer(text):
        tail = _KEY_OP.match(text, run.end())
        if tail is None:
            continue
        first = _KEY_START.search(text, run.start(), run.end())
        if first is not None:
            yield _Key(first.start(), tail.end(), text[first.start():run.end()], tail.group("op"))


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


def dockerfile_context(texts: Iterable[str]) -> tuple[frozenset[str], dict[str, str]]:
    """Build stage names (``FROM x AS name``) and ``ARG NAME=default`` values seen in these lines."""
    texts = list(texts)
    stages = frozenset(m.group("name") for t in texts if (m := _STAGE.match(t)))
    args = {m.group("name"): m.group("v").strip("\"'") for t in texts if (m := _ARG.match(t))}
    return stages, args


def _substitute_args(raw: str, args: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        return args.get(m.group(1) or m.group(2), m.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, raw)


def _key_values(text: str, kind: FileKind) -> list[Candidate]:
    out: list[Candidate] = []
    lead = len(text) - len(text.lstrip(" \t-"))
    for m in _keys(text):
        key = m.key
        if m.start > 0 and text[m.start - 1] not in " \t{,([;\"'-":
            continue
        is_image = image_key(key) or (key == "container" and kind == "yaml")
        if not (is_image or image_context_key(key) or key in ("uses", "name")):
            continue
        start, end = scan_value(text, m.end, m.op)
        raw = text[start:end]
        if kind in CODE_KINDS and not _literal_value(text, m, start, lead):
            continue  # in code an unquoted value is an expression (image=image), not a reference
        if key == "uses":
            if not _DOCKER_URI.match(raw):
                continue
            start, raw = start + len("docker://"), raw[len("docker://"):]
        value = interpret(raw)
        if value is None or _overlaps(start, end, out):
            continue
        if is_image and kind in CODE_KINDS:
            # In code, `image: str` (an annotation) or `kind = "image"` is a word, not a reference.
            accepted = _pinned_or_hosted(value)
        elif is_image or key == "uses":
            accepted = weak_ok(value)
        else:
            accepted = strong(value) or (value.partial and value.explicit_registry and image_context_key(key))
        if accepted:
            out.append(Candidate(start, start + len(raw), value, _kv_context(kind, key, m.op, text)))
    return out


def _pinned_or_hosted(v: Interpretation) -> bool:
    return not v.partial and (v.tag is not None or v.digest is not None or v.explicit_registry or v.templated)


def _literal_value(text: str, m: _Key, start: int, lead: int) -> bool:
    """Quoted, or a YAML line inside code (a Go raw string holding a manifest)."""
    quoted = start > 0 and text[start - 1] in "\"'`"
    yaml_line = m.op == ":" and m.start == lead  # only blanks and dashes before the key
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
        before = text[max(0, m.start() - 60): m.start()]  # a slice, not the whole prefix: linear per line
        imagey = bool(_IMAGE_WORDS.search(before)) or _names_registry(value)
        if value.registry_implicit and not any(ch.isdigit() for ch in value.tag or ""):
            imagey = imagey and bool(re.search(r"(?i)image|registry", before))
        concat = _PLUS_AFTER.match(text, m.end()) is not None or _plus_before(text, m.start())
        prefix = value.partial and value.explicit_registry and (concat or "/" in value.text.rstrip("/:"))
        if strong(value) or (imagey and value.tag is not None and not value.partial) or (
                prefix and (value.repository or concat)):
            out.append(Candidate(start, end, value, "code-literal"))
    return out


_PLUS_AFTER = re.compile(r"\s*\+")


def _plus_before(text: str, pos: int) -> bool:
    """``"a" + "b"``: the nearest non-blank before ``pos`` is a ``+`` (scans only the blanks)."""
    i = pos - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return i >= 0 and text[i] == "+"


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
