"""Image arguments of container command lines: ``docker run [flags] IMAGE``, ``docker build -t NAME``.

The image of ``docker run`` is the first argument that is not an option or an option's value, so
the options that take a separate value must be known. Docker Hub names (``tonistiigi/binfmt:x``)
carry no host; the command is what says they are images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOOL = r"(?:docker|podman|nerdctl)"
# The subcommand whose first operand is an image.
_RUN = re.compile(rf"(?<![\w-]){_TOOL}\s+(?:container\s+|image\s+)?(?:run|create|pull|push)\s+")
# Build commands name the image they make with -t/--tag.
_BUILD = re.compile(rf"(?<![\w-]){_TOOL}\s+(?:buildx\s+)?(?:image\s+)?build\s+")
# kind loads images into a cluster by name.
_KIND_LOAD = re.compile(r"(?<![\w-])kind\s+load\s+docker-image\s+")
_TOKEN = re.compile(r"(?:\"[^\"]*\"|'[^']*'|[^\s\"';|&])+")
_END = re.compile(r"\s*(?:[;|&]|$)")

# Options of run/create/pull/push that take the next argument as their value.
_VALUED = frozenset({
    "-a", "--attach", "-e", "--env", "--env-file", "-v", "--volume", "-p", "--publish", "--name", "-w",
    "--workdir", "-u", "--user", "--network", "--net", "--entrypoint", "--platform", "--mount", "-l",
    "--label", "--label-file", "--add-host", "-h", "--hostname", "--cpus", "-m", "--memory", "--restart",
    "--ulimit", "--device", "--cap-add", "--cap-drop", "--security-opt", "--tmpfs", "--log-driver",
    "--log-opt", "--pull", "--gpus", "--ipc", "--pid", "--shm-size", "--stop-signal", "--runtime", "--dns",
    "--cidfile", "--volumes-from", "--link", "--expose", "--userns", "--group-add", "--uts", "--cgroupns",
    "--memory-swap", "--cpuset-cpus", "--health-cmd", "--ip", "--network-alias", "--storage-opt",
    "--sysctl", "--isolation", "--annotation",
})
_TAG_OPTIONS = frozenset({"-t", "--tag"})


@dataclass(frozen=True, slots=True)
class ImageArgument:
    start: int
    end: int
    text: str


def image_arguments(text: str) -> list[ImageArgument]:
    """Every image named as an argument of a container command on this line."""
    out: list[ImageArgument] = []
    for m in _RUN.finditer(text):
        out += _first_operand(text, m.end())
    for m in _BUILD.finditer(text):
        out += _tagged(text, m.end())
    for m in _KIND_LOAD.finditer(text):
        out += _operands(text, m.end())
    return out


def _tokens(text: str, pos: int) -> list[re.Match[str]]:
    """The arguments from ``pos`` up to the end of this command (``;``, ``|``, ``&&``)."""
    out: list[re.Match[str]] = []
    while (m := _TOKEN.match(text, pos)) is not None:
        out.append(m)
        pos = m.end()
        gap = re.match(r"[ \t]*", text[pos:])
        pos += gap.end() if gap else 0
        if _END.match(text, pos) and (pos >= len(text) or text[pos] in ";|&"):
            break
    return out


def _argument(m: re.Match[str], skip: int = 0) -> ImageArgument:
    """The argument's text without its quotes, and where that text is on the line."""
    start, end = m.start() + skip, m.end()
    if m.string[start:start + 1] in "\"'" and end - start >= 2 and m.string[end - 1] == m.string[start]:
        start, end = start + 1, end - 1
    return ImageArgument(start, end, m.string[start:end])


def _first_operand(text: str, pos: int) -> list[ImageArgument]:
    tokens = _tokens(text, pos)
    i = 0
    while i < len(tokens):
        word = tokens[i].group(0)
        if word == "\\":
            i += 1
        elif word.startswith("-"):
            i += 2 if word in _VALUED else 1
        else:
            return [_argument(tokens[i])]
    return []


def _tagged(text: str, pos: int) -> list[ImageArgument]:
    tokens = _tokens(text, pos)
    out: list[ImageArgument] = []
    for i, m in enumerate(tokens):
        word = m.group(0)
        if word in _TAG_OPTIONS and i + 1 < len(tokens):
            out.append(_argument(tokens[i + 1]))
        elif word.startswith("--tag="):
            out.append(_argument(m, skip=len("--tag=")))
    return out


_KIND_VALUED = frozenset({"-n", "--name", "--nodes"})


def _operands(text: str, pos: int) -> list[ImageArgument]:
    out: list[ImageArgument] = []
    tokens = _tokens(text, pos)
    i = 0
    while i < len(tokens):
        word = tokens[i].group(0)
        if word.startswith("-"):
            i += 2 if word in _KIND_VALUED else 1
            continue
        if word != "\\":
            out.append(_argument(tokens[i]))
        i += 1
    return out
