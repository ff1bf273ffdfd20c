"""YAML loading that remembers where each value came from, so every error can name its line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from app.policy.yamlbounds import ExpansionBudget, PolicyTooLarge, check_events, check_size

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy file: the key path, its line (1-based) and what is wrong."""

    key: str  # "rules.staging-image.severity", "exemptions[0].expires", "" for the whole file
    line: int | None
    message: str
    source: str = ".github/image-review.yml"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def format_key(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass(slots=True)
class LocatedYaml:
    """Plain data (dicts, lists, scalars) plus the line of every key path."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    issues: list[PolicyIssue] = field(default_factory=list)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_located(text: str, source: str) -> LocatedYaml:
    """Parse one YAML document; syntax errors and duplicate keys become issues, never exceptions.

    A file over the size, depth, alias or expansion limits (app/policy/yamlbounds.py) is one issue
    and no data, so the caller's defaults apply.
    """
    try:
        check_size(text)
        check_events(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        return LocatedYaml(None, {}, [PolicyIssue("", line, f"invalid YAML: {problem}", source)])
    except yaml.YAMLError as exc:
        return LocatedYaml(None, {}, [PolicyIssue("", None, f"invalid YAML: {exc}", source)])
    except PolicyTooLarge as exc:
        return _too_large(exc, source)
    out = LocatedYaml(None)
    if node is None:
        return out
    try:
        out.data = _convert(node, (), out, source, ExpansionBudget())
    except PolicyTooLarge as exc:
        return _too_large(exc, source)
    finally:
        # The shared constructor caches every scalar it builds; drop them between files.
        _CONSTRUCTOR.constructed_objects.clear()
    return out


def _too_large(exc: PolicyTooLarge, source: str) -> LocatedYaml:
    return LocatedYaml(None, {}, [PolicyIssue("", None, f"policy file ignored: {exc}", source)])


_CONSTRUCTOR = yaml.SafeLoader("")


def _convert(node: yaml.Node, path: KeyPath, out: LocatedYaml, source: str, budget: ExpansionBudget) -> Any:
    budget.spend()
    out.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                out.issues.append(
                    PolicyIssue(format_key(path), key_node.start_mark.line + 1,
                                "YAML merge keys (<<) are not supported here; write the keys out", source)
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                out.issues.append(
                    PolicyIssue(format_key(path), key_node.start_mark.line + 1, "keys must be plain strings", source)
                )
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in key_lines:
                out.issues.append(
                    PolicyIssue(format_key((*path, key)), line,
                                f"duplicate key (first defined on line {key_lines[key]}); YAML keeps only one", source)
                )
            key_lines[key] = line
            result[key] = _convert(value_node, (*path, key), out, source, budget)
            # Errors about a key point at the key, which is where people look.
            out.lines[(*path, key)] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), out, source, budget) for i, item in enumerate(node.value)]
    return _CONSTRUCTOR.construct_object(node, deep=True)
