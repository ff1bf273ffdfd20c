"""Line detectors: every image reference on one line of a file, by file kind and context.

Dockerfile instructions, image-like keys (YAML, JSON, code, flags, shell variables), string
literals, and bare references in text. Each candidate value is interpreted by app.core.values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from app.core.commands import image_arguments
from app.core.filekinds import FileKind
from app.core.values import Interpretation, interpret, is_known_registry

_LINE_CUE = re.compile(r"[:/@=]|\bFROM\b", re.IGNORECASE)

# A key starts where a run of word characters does (never retried from inside a long run) and
# is at most 128 characters: linear on minified lines.
_KEY = re.compile(
    r"(?<![\w\[\]*])(?P<key>[A-Za-z_][\w.\-\[\]*]{0,127})[\"']?[ \t]*(?P<op>:=|\?=|\+=|=|:)(?=[ \t\"'`\w{$/.-])[ \t]*"
)
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
_SYNTAX_DIRECTIVE = re.compile(r"^\s*#\s*syntax\s*=", re.IGNORECASE)
_STAGE = re.compile(r"^\s*FROM\s+.*\sAS\s+(?P<name>\S+)", re.IGNORECASE)  # not .*\s+: overlapping
_NON_IMAGE_KEYS = {
    "osimage", "vmimage", "machineimage", "diskimage", "bootimage", "instanceimage", "amiimage",
    "cloudimage", "imagefamily", "imagepullpolicy", "imagepullsecrets", "imageid", "sourceimage",
}
_DOCKER_URI = re.compile(r"^docker://")
CODE_KINDS = {"go", "python", "c-like", "starlark", "terraform"}
_IMAGE_WORDS = re.compile(r"(?i)image|registry|\brepo(?:sitory)?\b|\btag\b")


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    value: Interpretation
    context: str


def normalize_key(key: str) -> str:
    last = re.split(r"[.\[\]*]+", key.strip(".[]*"))[-1] if key else key
    return re.sub(r"[-_]", "", last).lower()


# Keys ending in these name machine images whatever their prefix (CLOUDSCALE_MACHINE_IMAGE, nodeOsImage).
_VM_IMAGE_KEY_SUFFIXES = ("osimage", "vmimage", "machineimage", "diskimage", "bootimage", "instanceimage",
                          "serverimage", "cloudimage", "amiimage", "nodeimageid")


def image_key(key: str) -> bool:
    k = normalize_key(key)
    return k.endswith("image") and k not in _NON_IMAGE_KEYS and not k.endswith(_VM_IMAGE_KEY_SUFFIXES)


def img_variable(key: str, op: str) -> bool:
    """``IMG ?= ...``, ``CONTROLLER_IMG=...``: an assignment, not a ``img:`` key (a MIME type table has those)."""
    return op != ":" and normalize_key(key).endswith("img")


def prefix_key(key: str) -> bool:
    """Keys that name where images live, not one image: ``REGISTRY``, ``imageRepository``, ``repo``."""
    return normalize_key(key).endswith(("registry", "repository", "repo", "prefix"))


def image_context_key(key: str) -> bool:
    k = normalize_key(key)
    if k in _NON_IMAGE_KEYS or k.endswith(_VM_IMAGE_KEY_SUFFIXES):
        return False
    return "image" in k or "registry" in k or k in ("canonical", "download", "container")


def strong(v: Interpretation) -> bool:
    """A reference on its own: an explicit registry host, and a tag, a digest or a known registry."""
    if v.partial or not _lower_host(v) or (not v.repository and not v.templated):
        return False
    return v.tag is not None or v.digest is not None or v.templated or is_known_registry(v.registry)


def _lower_host(v: Interpretation) -> bool:
    """An explicit registry written as hosts are: the grammar takes ``Microsoft.Network/x`` for one, people do not."""
    return v.explicit_registry and v.registry is not None and v.registry == v.registry.lower()


def weak_ok(v: Interpretation) -> bool:
    """Acceptable where the context says "image": also Docker Hub names like ``nginx`` or ``grafana/grafana``."""
    if v.partial:
        return v.explicit_registry
    if strong(v) or v.tag is not None or v.digest is not None or v.templated:
        return True
    return v.registry_implicit and v.repository is not None and v.repository.count("/") == 1 and not (
        vm_image_name(v.repository))


# Cloud machine images share keys with container images (``image:``, ``--image=``) but not their
# names: AWS AMI ids, distribution images carrying a dashed version or an architecture
# (``ubuntu-16-04-x64``, ``ubuntu-20.04``, ``cirros-0.6.2-x86_64-disk``), GCE public image projects.
# Official Docker Hub images put versions in tags (ubuntu:noble); a distribution name with a dash
# suffix and no tag (ubuntu-noble, debian-12-generic) is a cloud image slug.
_VM_IMAGE = re.compile(
    r"^library/(?:a[mrk]i-[0-9a-f]{8,17}|.*\d+[-.]\d+.*|.*-(?:x64|x86_64|amd64|arm64|aarch64|disk|lts)"
    r"|(?:ubuntu|debian|centos|rhel|fedora|rocky|rockylinux|alma|almalinux|flatcar|cos|windows|amzn|amazon"
    r"|opensuse|sles|coreos)-.*)$"
    r"|^[a-z0-9-]+-cloud/"
)


def vm_image_name(repository: str) -> bool:
    return _VM_IMAGE.match(repository) is not None


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
                    args: dict[str, str] | None = None, base_args: frozenset[str] = frozenset()) -> list[Candidate]:
    """Every image reference on one line, in order, without overlaps."""
    if not _LINE_CUE.search(text):
        return []
    if kind == "markdown" and values_table_row(text):
        return []
    found: list[Candidate] = []
    if kind == "dockerfile":
        if _SYNTAX_DIRECTIVE.match(text):
            return []  # the BuildKit frontend that parses this file, never a deployed image
        found += _dockerfile(text, stages, args or {}, base_args)
    else:
        found += _embedded_from(text)
    keyed = _key_values(text, kind, args or {} if kind in _VARIABLE_KINDS else {})
    found += [c for c in keyed if not _overlaps(c.start, c.end, found)]
    found += _literals(text, found, kind)
    found += _bare(text, found)
    if kind == "markdown":
        found += _named_repositories(text, found)
        found += _named_after_image(text, found)
    found += _command_arguments(text, found)
    found.sort(key=lambda c: c.start)
    return found


# A chart's values documentation (helm-docs and hand-written README tables) names a values key in
# its first cell: | `image.repository` | string | `"registry.k8s.io/x"` |. Its default is documented
# there; what deploys is values.yaml, where the same change is reported.
_VALUES_TABLE_ROW = re.compile(r"^\s*\|\s*`?(?P<key>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])+)`?\s*\|")
_HOST_ENDINGS = ("io", "com", "org", "net", "dev", "cloud", "local", "internal")


def values_table_row(text: str) -> bool:
    m = _VALUES_TABLE_ROW.match(text)
    return m is not None and m.group("key").rsplit(".", 1)[-1].lower() not in _HOST_ENDINGS


def _overlaps(start: int, end: int, taken: Iterable[Candidate]) -> bool:
    return any(start < c.end and c.start < end for c in taken)


def _dockerfile(text: str, stages: frozenset[str], args: dict[str, str],
                base_args: frozenset[str] = frozenset()) -> list[Candidate]:
    out = _base_arg(text, base_args)
    for pattern, context in ((_FROM, "dockerfile-from"), (_COPY_FROM, "dockerfile-copy-from")):
        m = pattern.match(text)
        if not m:
            continue
        raw = m.group("v")
        if raw.lower() == "scratch" or raw in stages or raw.isdigit():
            continue
        if (alias := _alias_name(raw)) is not None and alias in base_args:
            continue  # FROM ${BASE}: the image is written, and reported, on the ARG BASE= line
        value = interpret(_substitute_args(raw, args))
        if value is not None and not value.partial and (context == "dockerfile-from" or weak_ok(value)):
            out.append(Candidate(m.start("v"), m.end("v"), value, context))
    return out


def _base_arg(text: str, base_args: frozenset[str]) -> list[Candidate]:
    """``ARG BASE="debian:trixie-slim"`` where some ``FROM ${BASE}`` uses the whole value as its image."""
    m = _ARG.match(text)
    if m is None or m.group("name") not in base_args:
        return []
    start, end = m.span("v")
    if text[start] in "\"'" and end - start >= 2 and text[end - 1] == text[start]:
        start, end = start + 1, end - 1
    value = interpret(text[start:end])
    if value is None or value.partial or not weak_ok(value):
        return []
    return [Candidate(start, end, value, "dockerfile-arg")]


def _alias_name(raw: str) -> str | None:
    m = _ALIAS.match(raw)
    return next(g for g in m.groups() if g) if m else None


# A whole line that is a Dockerfile FROM instruction, inside a Tiltfile/Go/Python string or a shell
# heredoc: ``FROM golang:1.26.2 as tilt``. Only a pinned image counts, so prose ("from the base") does not.
_EMBEDDED_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<v>[^\s\"'`]+)(?:\s+AS\s+[\w.-]+)?\s*$", re.IGNORECASE)


def _embedded_from(text: str) -> list[Candidate]:
    m = _EMBEDDED_FROM.match(text)
    if m is None or not text.lstrip().startswith("FROM"):
        return []
    value = interpret(m.group("v"))
    if value is None or value.partial or (value.tag is None and value.digest is None) or not weak_ok(value):
        return []
    return [Candidate(m.start("v"), m.end("v"), value, "dockerfile-from")]


@dataclass(frozen=True, slots=True)
class DockerfileContext:
    stages: frozenset[str]  # build stage names (FROM x AS name)
    args: dict[str, str]  # ARG NAME=default
    base_args: frozenset[str]  # ARGs that some FROM uses as its whole image (FROM ${BASE})


def dockerfile_context(texts: Iterable[str]) -> DockerfileContext:
    """Build stage names, ``ARG NAME=default`` values and the ARGs a FROM takes its image from."""
    texts = list(texts)
    stages = frozenset(m.group("name") for t in texts if (m := _STAGE.match(t)))
    args = {m.group("name"): m.group("v").strip("\"'") for t in texts if (m := _ARG.match(t))}
    froms = {_alias_name(m.group("v")) for t in texts if (m := _FROM.match(t))}
    return DockerfileContext(stages, args, frozenset(name for name in args if name in froms))


_VARIABLE_KINDS = {"makefile", "shell"}
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+|readonly\s+|declare\s+)?(?P<name>[A-Za-z_]\w*)\s*(?:\?=|:=|\+=|=)\s*"
                         r"(?P<v>\"[^\"\s]*\"|'[^'\s]*'|[^\s#;\"']+)\s*(?:#.*)?$")
_REFERENCE = re.compile(r"\$\{(\w+)\}|\$\((\w+)\)|\$(\w+)")


def variable_assignments(texts: Iterable[str]) -> dict[str, str]:
    """``NAME=value``, ``NAME ?= value``, ``export NAME=value``: literal Makefile and shell variables."""
    out: dict[str, str] = {}
    for text in texts:
        m = _ASSIGNMENT.match(text)
        if m and not text.startswith("\t"):
            out.setdefault(m.group("name"), m.group("v").strip("\"'"))
    return out


def _substitute_args(raw: str, args: dict[str, str]) -> str:
    """Replace ``${X}``, ``$(X)`` and ``$X`` by known values; variables may refer to others."""
    def repl(m: re.Match[str]) -> str:
        return args.get(m.group(1) or m.group(2) or m.group(3), m.group(0))

    for _ in range(4):
        new = _REFERENCE.sub(repl, raw)
        if new == raw:
            break
        raw = new
    return raw


def _key_values(text: str, kind: FileKind, variables: dict[str, str]) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _KEY.finditer(text):
        key, op = m.group("key"), m.group("op")
        if m.start() > 0 and text[m.start() - 1] not in " \t{,([;\"'-":
            continue
        if _not_an_assignment(text, m, kind):
            continue
        is_image = image_key(key) or img_variable(key, op) or (key == "container" and kind == "yaml" and op == ":")
        if not (is_image or image_context_key(key) or key in ("uses", "name")):
            continue
        start, end = scan_value(text, m.end(), m.group("op"))
        raw = text[start:end]
        if kind in CODE_KINDS and not _literal_value(text, m, start):
            continue  # in code an unquoted value is an expression (image=image), not a reference
        start, raw = _expansion_default(text, start, raw)
        if raw in _NO_VALUE:
            continue
        if key == "uses":
            if not _DOCKER_URI.match(raw):
                continue
            start, raw = start + len("docker://"), raw[len("docker://"):]
        value = _composed(text, start, end, kind) if kind in CODE_KINDS else _resolved(raw, variables)
        if value is None or _overlaps(start, end, out):
            continue
        if prefix_key(key) and not is_image:
            value = _as_prefix(value)
        if is_image and kind in CODE_KINDS:
            # In code, `image: str` (an annotation) or `kind = "image"` is a word, not a reference.
            accepted = _pinned_or_hosted(value) or (_container_field(text, m, kind) and weak_ok(value))
        elif is_image or key == "uses":
            accepted = weak_ok(value)
        else:
            accepted = strong(value) or (value.partial and value.explicit_registry and image_context_key(key))
        if accepted:
            out.append(Candidate(start, start + len(raw), value, _kv_context(kind, key, m.group("op"), text)))
    return out


# A key set to "nothing" (`image: null` in a chart, `image = None` in Python, `image: nil` in Go):
# no image is named.
_NO_VALUE = frozenset({"null", "Null", "NULL", "~", "None", "nil"})

_DEFAULT_EXPANSION = re.compile(r"^\$\{\w+:?[-=](?P<d>[^{}$]+)\}$")


def _expansion_default(text: str, start: int, raw: str) -> tuple[int, str]:
    """``${E2E_IMAGE:-registry.k8s.io/x:v1}``: the literal default is what runs unless overridden.

    The caller's override is unknown; the default written here is the reference the change sets.
    """
    m = _DEFAULT_EXPANSION.match(raw)
    if m is None:
        return start, raw
    return start + m.start("d"), m.group("d")


def _not_an_assignment(text: str, m: re.Match[str], kind: FileKind) -> bool:
    """A Makefile rule (``image: build``) or a label matcher (``{container="app"}``), not a key and value."""
    op = m.group("op")
    if kind == "makefile" and op == ":" and not text.startswith("\t"):
        return True
    before = text[m.start() - 1] if m.start() else ""
    return op == "=" and before in "{," and kind not in CODE_KINDS and kind != "shell" and m.start() > 0


def _container_field(text: str, m: re.Match[str], kind: FileKind) -> bool:
    """``Image: "busybox",`` in a Go struct literal: the field of a Kubernetes container spec."""
    return kind == "go" and m.group("key") == "Image" and m.group("op") == ":" and text[m.end():m.end() + 1] == '"'


def _pinned_or_hosted(v: Interpretation) -> bool:
    return not v.partial and (v.tag is not None or v.digest is not None or v.explicit_registry or v.templated)


def _literal_value(text: str, m: re.Match[str], start: int) -> bool:
    """Quoted, or a YAML line inside code (a Go raw string holding a manifest)."""
    quoted = start > 0 and text[start - 1] in "\"'`"
    yaml_line = m.group("op") == ":" and text[: m.start()].strip(" \t-") == ""
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


def _resolved(raw: str, variables: dict[str, str]) -> Interpretation | None:
    """The value with known variables substituted.

    A value made only of variables (``$(REGISTRY)/$(NAME):$(TAG)``) counts only when every variable is
    known: half-resolved, it says less than the assignments it came from.
    """
    value = interpret(raw)
    if not variables:
        return value
    if _ALIAS.match(raw) and raw != _substitute_args(raw, variables):
        return None  # NODE_IMAGE=$(NODE_IMAGE) passes a known variable on: it is reported where it is set
    resolved = interpret(_substitute_args(raw, variables))
    if resolved is not None and resolved.templated:
        # Still templated: the registry and repository learnt from the known variables classify it,
        # and the text is the one written on the line (where reviews point and suggestions replace).
        return replace(resolved, text=raw) if value is not None else None
    return resolved if value is not None or resolved is not None else None


_ALIAS = re.compile(r"^(?:\$\{(\w+)\}|\$\((\w+)\)|\$(\w+))$")


def _as_prefix(value: Interpretation) -> Interpretation:
    """A registry or repository with no tag or digest is where images live: a partial reference."""
    if value.tag is not None or value.digest is not None or value.templated or not value.explicit_registry:
        return value
    return replace(value, partial=True)


_CONCAT = re.compile(r"\s*\+\s*")


def _composed(text: str, start: int, end: int, kind: FileKind) -> Interpretation | None:
    """A string literal, joined with the literals concatenated after it (``"a:" + "v1"``).

    When an expression follows (``"registry.k8s.io/etcd:v" + version``) the reference is not
    complete: a literal ending in ``/`` or ``:`` is a partial prefix, any other is templated.
    """
    raw, pos = text[start:end], end + 1
    while kind in CODE_KINDS and (m := _CONCAT.match(text, pos)):
        nxt = _QUOTED.match(text, m.end())
        if nxt is None:
            value = interpret(raw)
            if raw.endswith(("/", ":")) or (value is not None and value.partial):
                return value  # a prefix, or what only looks like one (a label key and its colon)
            composed = interpret(raw + "{expression}")
            return replace(composed, text=raw) if composed is not None else None
        raw, pos = raw + nxt.group(0)[1:-1], nxt.end()
    return interpret(raw)


def _literals(text: str, taken: list[Candidate], kind: FileKind) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _QUOTED.finditer(text):
        start, end = m.start() + 1, m.end() - 1
        if _overlaps(start, end, taken):
            continue
        value = _composed(text, start, end, kind)
        if value is None:
            continue
        before = text[max(0, m.start() - 120): m.start()]  # a slice, not the whole prefix: linear per line
        if _machine_image_key_before(before):
            continue
        imagey = bool(_IMAGE_WORDS.search(before[-60:])) or _names_registry(value)
        if value.registry_implicit and not any(ch.isdigit() for ch in value.tag or ""):
            # A Docker Hub name whose tag is a word: only an image key or word says it is one. A key
            # naming a registry ("registry = '{}:registry'.format(scope)") holds a registry, never name:tag.
            imagey = imagey and bool(re.search(r"(?i)image", before[-60:]))
        concat = text[m.end():].lstrip().startswith("+") or before.rstrip().endswith("+")
        prefix = value.partial and _lower_host(value) and (concat or "/" in value.text.rstrip("/:"))
        if strong(value) or (imagey and value.tag is not None and not value.partial) or (
                prefix and (value.repository or concat)):
            out.append(Candidate(start, end, value, "code-literal"))
    return out


_KEY_BEFORE = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)[\"']?\s*(?::=|=|:)\s*$")


def _machine_image_key_before(before: str) -> bool:
    m = _KEY_BEFORE.search(before)
    return m is not None and normalize_key(m.group("key")).endswith(_VM_IMAGE_KEY_SUFFIXES)


def _names_registry(value: Interpretation) -> bool:
    """``"k8s.gcr.io:v3"``: a Docker Hub name that spells a registry host is written as an image."""
    last = value.repository.split("/")[-1] if value.repository else None
    return value.registry_implicit and is_known_registry(last)


# A whole token in prose or a code block: a line of its own, a code span, a link's text.
_TOKEN_EDGE_BEFORE = ("", " ", "`", "[", "(", "\t")
_TOKEN_EDGE_AFTER = ("", " ", "`", "]", ")", "\t", ",", ".")


def _named_repositories(text: str, taken: list[Candidate]) -> list[Candidate]:
    """Documentation names an image repository without a tag ("push to registry.k8s.io/x/y").

    Only on a registry known to hold images, so web hosts with paths (github.com/org/repo) stay out.
    """
    out: list[Candidate] = []
    for m in _BARE.finditer(text):
        start, end = m.span("ref")
        if _overlaps(start, end, taken) or text[start - 1:start] not in _TOKEN_EDGE_BEFORE or (
                text[end:end + 1] not in _TOKEN_EDGE_AFTER):
            continue
        value = interpret(m.group("ref"))
        if value is not None and not value.partial and not value.templated and value.repository and (
                value.tag is None and value.digest is None and is_known_registry(value.registry)
                and _lower_host(value)):
            out.append(Candidate(start, end, value, "text"))
    return out


# Prose and tool output name an image right after the word: "node image (kindest/node:v1.35.1)".
_AFTER_IMAGE_WORD = re.compile(r"(?i)\bimage\s*[(`\"']?(?P<ref>[a-z0-9][\w./-]*:[\w][\w.-]*)(?=[)`\"'\s,]|$)")


def _named_after_image(text: str, taken: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for m in _AFTER_IMAGE_WORD.finditer(text):
        start, end = m.span("ref")
        value = interpret(m.group("ref"))
        if _overlaps(start, end, taken) or value is None or value.partial or value.templated:
            continue
        if weak_ok(value) and value.tag is not None and any(ch.isdigit() for ch in value.tag):
            out.append(Candidate(start, end, value, "text"))
    return out


def _command_arguments(text: str, taken: list[Candidate]) -> list[Candidate]:
    """``docker run [flags] IMAGE``, ``docker build -t NAME``: the command says the argument is an image."""
    out: list[Candidate] = []
    for arg in image_arguments(text):
        if _overlaps(arg.start, arg.end, taken) or _ALIAS.match(arg.text):
            continue  # a variable alone ("$IMAGE") is reported where it is assigned
        value = interpret(arg.text)
        if value is not None and not value.partial and weak_ok(value) and (
                value.tag is not None or value.digest is not None or value.templated):
            out.append(Candidate(arg.start, arg.end, value, "command-argument"))
    return out


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
