"""Limits that keep a policy file cheap to parse, whoever wrote it.

The policy file comes from any repository that installs the App, so it is untrusted input.
Three shapes make a naive YAML load unbounded: a huge file, aliases that expand exponentially
("billion laughs": each level refers to the previous one several times) and deep nesting (the
PyYAML composer recurses once per level). :func:`check_events` walks the parser's event stream,
which is iterative and holds one event at a time, and rejects the file before anything is built;
:class:`ExpansionBudget` caps the number of values produced when aliases are expanded.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

MAX_POLICY_BYTES = 256 * 1024  # real policy files are a few KB
MAX_DEPTH = 64  # the deepest real key path is about 4 levels
MAX_ALIASES = 256
MAX_EXPANDED_VALUES = 100_000  # values after alias expansion; a bomb reaches billions


class PolicyTooLarge(Exception):
    """The policy file exceeds one of the limits; the message says which, in the user's terms."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = MAX_POLICY_BYTES
    max_depth: int = MAX_DEPTH
    max_aliases: int = MAX_ALIASES
    max_expanded_values: int = MAX_EXPANDED_VALUES


DEFAULT_LIMITS = Limits()


def check_size(text: str, limits: Limits = DEFAULT_LIMITS) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise PolicyTooLarge(f"policy file is {size:,} bytes; the limit is {limits.max_bytes:,} bytes")


def check_events(text: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Reject nesting deeper than ``max_depth`` and more than ``max_aliases`` aliases.

    YAML syntax errors propagate as ``yaml.YAMLError`` for the caller's usual handling.
    """
    depth = 0
    aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.max_depth:
                line = _line(event)
                raise PolicyTooLarge(f"nesting deeper than {limits.max_depth} levels (at line {line})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                line = _line(event)
                raise PolicyTooLarge(f"more than {limits.max_aliases} YAML aliases (at line {line})")


class ExpansionBudget:
    """Counts values as aliases are expanded; raises once the expanded document is too large."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.left = limits.max_expanded_values
        self.limit = limits.max_expanded_values

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise PolicyTooLarge(
                f"YAML aliases expand to more than {self.limit:,} values; write the values out or use fewer aliases"
            )


def _line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None
