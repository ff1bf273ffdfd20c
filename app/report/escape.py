"""Escaping of pull request text for every output the App and the CLI write.

Image names, paths, tags and commit subjects come from whoever opened the pull request. Put
into Markdown, workflow commands or SARIF unescaped, they could close the hidden markers the
App finds its comments by, break a code span or a ```` ```suggestion ```` fence, mention
users or teams (a notification to whoever they name), inject HTML, or inject GitHub Actions
workflow commands. Every writer goes through this one module, so each context has exactly
one rule:

* :func:`code_span` — untrusted text shown as code, on one line;
* :func:`fence_for` — a fence no run of backticks in the text can close;
* :func:`markdown` — Markdown we wrote around untrusted parts: HTML, mentions and
  line-leading fences are made inert outside code spans, code spans are kept;
* :func:`table_cell` — the same, on one line, with pipes escaped;
* :func:`marker_key` — a key safe inside an HTML comment marker;
* :func:`workflow_data` / :func:`workflow_property` — GitHub Actions workflow commands;
* :func:`mermaid_label` — a quoted Mermaid node label (inside a ```` ```mermaid ```` fence);
* :func:`plain_line` — a line of text output (a terminal, or a CI log the runner parses);
* :func:`sarif_text` — SARIF plain-text messages (square brackets start embedded links).
"""

from __future__ import annotations

import hashlib
import re

# A zero-width space after "@" stops GitHub from turning "@name" or "@org/team" into a
# mention (and notifying them) while the text still reads the same.
ZERO_WIDTH_SPACE = "\u200b"
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")
_BACKTICKS = re.compile(r"`+")
# A line that would open a fenced code block or an indented HTML block: up to three spaces,
# then ``` or ~~~.
_LINE_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})", re.MULTILINE)
_SAFE_KEY = re.compile(r"[A-Za-z0-9._:/@+=]{1,200}")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_NEWLINES = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")
# Control characters (terminal escape sequences start with ESC) other than tab.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Every kind of line break as one space (Unicode separators included)."""
    return _NEWLINES.sub(" ", text)


def _visible_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _inert(text: str) -> str:
    """Plain Markdown text with HTML and mentions made inert (for text outside code spans)."""
    text = "".join(_HTML.get(ch, ch) for ch in text)
    return _MENTION.sub("@" + ZERO_WIDTH_SPACE, text)


def code_span(text: str) -> str:
    """``text`` as one inline code span, whatever backticks it holds.

    The delimiter is one backtick longer than the longest run inside; a space pads the content
    when it starts or ends with a backtick, as CommonMark strips one such space.
    """
    text = one_line(text)
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in the text (so the text cannot close it)."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(text)), default=0)
    return "`" * max(3, longest + 1)


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Where CommonMark code spans are: a run of N backticks up to the next run of exactly N."""
    spans: list[tuple[int, int]] = []
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        length = end - start
        close = next((j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == length), None)
        if close is None:
            i += 1  # an unmatched run is literal text
            continue
        spans.append((start, runs[close][1]))
        i = close + 1
    return spans


def markdown(text: str) -> str:
    """Markdown written around untrusted parts, made safe to post.

    Outside code spans, ``<``, ``>`` and ``&`` become entities (no HTML, no comment that could
    close or fake a hidden marker) and mentions are broken; code spans stay as they are, since
    GitHub neither renders HTML nor links mentions inside them. A line that would open a fence
    gets a backslash, so the text cannot swallow a following ```` ```suggestion ```` block.
    """
    out: list[str] = []
    pos = 0
    for start, end in _code_spans(text):
        out.append(_inert(text[pos:start]))
        out.append(text[start:end])
        pos = end
    out.append(_inert(text[pos:]))
    return _LINE_FENCE.sub(lambda m: m.group(1) + "\\" + m.group(2), "".join(out))


def table_cell(text: str) -> str:
    """Markdown for one table cell: safe as :func:`markdown`, on one line, pipes escaped.

    GitHub splits table cells on ``|`` even inside code spans unless it is escaped as ``\\|``.
    """
    return markdown(one_line(text)).replace("|", "\\|").strip()


def marker_key(key: str) -> str:
    """``key`` itself when it is safe inside ``<!-- ... -->``, else a digest of it.

    Only characters that cannot end an HTML comment (``-->``) or break the marker's own
    whitespace-delimited syntax are kept verbatim.
    """
    if _SAFE_KEY.fullmatch(key):
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def workflow_data(text: str) -> str:
    """The message part of a workflow command (``::error ...::<data>``): one line, always.

    ``%`` first, so a literal ``%0A`` in the text stays literal instead of becoming a newline.
    """
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    # Other line separators and control characters (terminal escapes) would still break the log line.
    return _visible_controls(one_line(text))


def workflow_property(text: str) -> str:
    """A property value of a workflow command (``file=``, ``title=``): also no ``:`` or ``,``."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def sarif_text(text: str) -> str:
    """A SARIF plain-text message: square brackets escaped, as ``[text](id)`` is an embedded link."""
    return text.replace("[", "\\[").replace("]", "\\]")


def mermaid_label(text: str) -> str:
    """Text for a quoted Mermaid label: one line; quotes and angle brackets as Mermaid entities.

    Backticks would start Markdown mode in a label, and a run of them could close the fence.
    """
    text = one_line(text)
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("`", "'")


def plain_line(text: str) -> str:
    """One line of text output: control characters shown as ``\\xNN``, no line breaks, and no
    leading ``::`` a GitHub Actions runner would read as a workflow command."""
    text = _visible_controls(one_line(text))
    stripped = text.lstrip()
    if stripped.startswith("::"):
        text = text[: len(text) - len(stripped)] + ":" + ZERO_WIDTH_SPACE + stripped[1:]
    return text
