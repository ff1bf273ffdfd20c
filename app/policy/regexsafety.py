"""Reject user-supplied regular expressions whose matching time can explode.

Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` or ``(a|a)*$`` takes exponential
time on a short non-matching string. Policy patterns (``dev_tag_patterns``) come from any
repository, so they are checked structurally before use: a repeat whose body can itself repeat
without bound (nested quantifiers), a repeat over alternatives that can start with the same
character (overlapping alternation), and backreferences are refused. Patterns are also only ever
run against tags, which are at most :data:`MAX_SUBJECT` characters, so even accepted patterns
see bounded input.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The stdlib parser (public as sre_parse before 3.11) gives the pattern's structure exactly as
# the engine will run it, so no second grammar can disagree with it.
sre_parse: Any = importlib.import_module("re._parser")
MAXREPEAT: int = sre_parse.MAXREPEAT

MAX_SUBJECT = 128  # the OCI distribution spec caps tags at 128 characters
MAX_PATTERN = 512
# Each unbounded repeat over a broad class multiplies the worst case by the subject length;
# three of them on a 128-character tag stay near two million steps.
MAX_BROAD_REPEATS = 3

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


class UnsafeRegex(ValueError):
    """The pattern can take super-linear time; the message says which construct."""


def check_regex(text: str) -> None:
    """Raise :class:`UnsafeRegex` (or ``re.error``) for a pattern unfit for untrusted use."""
    if len(text) > MAX_PATTERN:
        raise UnsafeRegex(f"pattern is longer than {MAX_PATTERN} characters")
    parsed = sre_parse.parse(text)
    _walk(list(parsed), inside_repeat=False)
    broad = _count_broad_repeats(list(parsed))
    if broad > MAX_BROAD_REPEATS:
        raise UnsafeRegex(
            f"{broad} open-ended wildcards (.*, \\w+ ...); at most {MAX_BROAD_REPEATS} keep matching time bounded"
        )


def _name(op: Any) -> str:
    return str(op).upper()


def _walk(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> None:
    for op, arg in items:
        name = _name(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            raise UnsafeRegex("backreferences are not allowed")
        if name in _REPEATS:
            _low, high, body = arg
            unbounded = high == MAXREPEAT or high > 64
            # A small bounded repeat of an unbounded body is polynomial of low degree on a tag.
            repeating = unbounded or high > 3
            if name == "POSSESSIVE_REPEAT":
                _walk(list(body), inside_repeat=False)  # possessive repeats never backtrack into
                continue
            if unbounded and inside_repeat:
                raise UnsafeRegex(
                    "nested quantifiers (a repeat inside a repeat, like (a+)+) can backtrack exponentially"
                )
            if unbounded and _has_overlapping_branches(list(body)):
                raise UnsafeRegex(
                    "a repeated alternation whose branches overlap (like (a|ab)*) can backtrack exponentially"
                )
            _walk(list(body), inside_repeat=inside_repeat or repeating)
        elif name == "SUBPATTERN":
            _walk(list(arg[-1]), inside_repeat=inside_repeat)
        elif name == "ATOMIC_GROUP":
            _walk(list(arg), inside_repeat=False)
        elif name == "BRANCH":
            for branch in arg[1]:
                _walk(list(branch), inside_repeat=inside_repeat)
        elif name in ("ASSERT", "ASSERT_NOT"):
            _walk(list(arg[1]), inside_repeat=inside_repeat)


def _count_broad_repeats(items: list[tuple[Any, Any]]) -> int:
    count = 0
    for op, arg in items:
        name = _name(op)
        if name in _REPEATS:
            _low, high, body = arg
            body_items = list(body)
            if (high == MAXREPEAT or high > 64) and len(body_items) == 1 and _is_broad(body_items[0]):
                count += 1
            count += _count_broad_repeats(body_items)
        elif name == "SUBPATTERN":
            count += _count_broad_repeats(list(arg[-1]))
        elif name == "BRANCH":
            count += max((_count_broad_repeats(list(b)) for b in arg[1]), default=0)
    return count


def _is_broad(item: tuple[Any, Any]) -> bool:
    op, arg = item
    name = _name(op)
    if name == "ANY":
        return True
    if name == "IN":
        for sub_op, sub_arg in arg:
            sub = _name(sub_op)
            if sub == "NEGATE":
                return True
            # Digits alone stay narrow: the dotted shapes (\d+\.\d+) are separated by literals.
            if sub == "CATEGORY" and _name(sub_arg) != "CATEGORY_DIGIT":
                return True
    return False


def _has_overlapping_branches(items: list[tuple[Any, Any]]) -> bool:
    """True if the body contains an alternation where two branches may start with the same character."""
    for op, arg in items:
        name = _name(op)
        if name == "BRANCH":
            firsts = [_first_chars(list(b)) for b in arg[1]]
            for i, a in enumerate(firsts):
                for b in firsts[i + 1:]:
                    if a is None or b is None or a & b:
                        return True
        elif name == "SUBPATTERN" and _has_overlapping_branches(list(arg[-1])):
            return True
    return False


def _first_chars(items: list[tuple[Any, Any]]) -> frozenset[int] | None:
    """The code points a sequence can start with, or None when that is not a small known set."""
    if not items:
        return None  # an empty branch overlaps everything
    op, arg = items[0]
    name = _name(op)
    if name == "LITERAL":
        return _fold(arg)
    if name == "SUBPATTERN":
        return _first_chars(list(arg[-1]))
    if name == "IN":
        chars: set[int] = set()
        for sub_op, sub_arg in arg:
            sub = _name(sub_op)
            if sub == "LITERAL":
                chars |= _fold(sub_arg)
            elif sub == "RANGE" and sub_arg[1] - sub_arg[0] < 512:
                for c in range(sub_arg[0], sub_arg[1] + 1):
                    chars |= _fold(c)
            else:
                return None
        return frozenset(chars)
    return None


def _fold(code: int) -> frozenset[int]:
    # Patterns are compiled with IGNORECASE, so 'A' and 'a' are the same first character.
    ch = chr(code)
    return frozenset({ord(c) for c in (ch, ch.lower(), ch.upper()) if len(c) == 1})


def compile_safe(text: str, flags: int = 0) -> re.Pattern[str]:
    check_regex(text)
    return re.compile(text, flags)
