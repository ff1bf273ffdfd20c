"""Per-review budgets: how much diff one review may analyse, and for how long.

One pull request must not hold a review worker for minutes or fill its memory. Before the
analysis, the fetched diff is measured (its text is what the analysis holds in memory, so its
size is the memory budget); the analysis then runs in a thread of its own with a deadline. A
review over either budget is not judged: its check run is completed ``neutral`` with a message
naming what was too large, and the worker thread is free for the next job at once.

A Python thread cannot be killed. An analysis past its deadline is asked to stop (an exception
raised in it at its next bytecode); one stuck inside a single C call (a regular expression)
stops when that call returns. The engine's own bounds keep such calls short.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app.core.diffs import FileDiff

T = TypeVar("T")

DEFAULT_SECONDS = 120.0
DEFAULT_MAX_DIFF_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReviewBudget:
    seconds: float = DEFAULT_SECONDS  # wall time of the analysis
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES  # text of all changed and context lines


class BudgetExceeded(Exception):
    """The review went over a budget; ``what`` names what was too large, for the check run."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    @property
    def summary(self) -> str:
        return (
            f"This pull request was not reviewed: {self.what}\n\n"
            "Nothing was concluded about it. The limits are the App's settings "
            "(`IMAGE_REVIEW_REVIEW_SECONDS`, `IMAGE_REVIEW_REVIEW_MAX_DIFF`); the `image-review check` "
            "command has none and can review the change locally."
        )


def _mib(size: int) -> str:
    """A size as people read it: bytes, KiB or MiB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def diff_size(files: list[FileDiff]) -> tuple[int, str, int]:
    """Bytes of diff text in all files, and the largest file with its own size."""
    total, largest, largest_size = 0, "", 0
    for f in files:
        size = sum(len(line.text) + 1 for hunk in f.hunks for line in hunk.lines)
        total += size
        if size > largest_size:
            largest, largest_size = f.new_path or f.old_path or "?", size
    return total, largest, largest_size


def check_diff_size(files: list[FileDiff], budget: ReviewBudget) -> None:
    """Raise BudgetExceeded when the diff is larger than the budget allows."""
    total, largest, largest_size = diff_size(files)
    if total > budget.max_diff_bytes:
        raise BudgetExceeded(
            f"its diff holds {_mib(total)} of changed text in {len(files)} files, over the review budget "
            f"of {_mib(budget.max_diff_bytes)} (the largest file, `{largest}`, holds {_mib(largest_size)})."
        )


class _Stop(BaseException):
    """Raised inside an analysis that ran past its deadline (BaseException: no handler swallows it)."""


def within_deadline(seconds: float, what: str, func: Callable[[], T]) -> T:
    """``func()`` in a thread of its own; BudgetExceeded naming ``what`` if it takes longer than ``seconds``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except _Stop:
            pass
        except BaseException as exc:  # handed to the caller as it is
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="review-analysis", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _ask_to_stop(worker)
        raise BudgetExceeded(f"the analysis of {what} took longer than the review budget of {seconds:g} s.")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _ask_to_stop(worker: threading.Thread) -> None:
    """Raise _Stop in the worker thread at its next bytecode (CPython's asynchronous exception)."""
    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_Stop))
