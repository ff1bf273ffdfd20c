"""Scan a big diff file on two cores: two processes, each parsing and extracting one half.

The halves are cut at the start of a git file section, so each half is a diff of its own and
the two lists of references, joined, are what one pass over the whole file finds. Only
references cross the pipe (a few hundred bytes for a 50 MB diff), never parsed files.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import TypeVar

from app.core.classify import Classifier
from app.core.diffs import section_cut
from app.core.extract import extract
from app.core.models import RefChange
from app.local.inputs import from_diff

# Below this size a fork and a second mapping cost more than half the work saves.
PARALLEL_FROM = 8 << 20

T = TypeVar("T")


class WorkerFailed(RuntimeError):
    """The child process ended without sending a result (killed, out of memory)."""


def scan_diff_file(path: str, classifier: Classifier, parallel_from: int = PARALLEL_FROM) -> list[RefChange]:
    """The references of a diff file, as `scan --diff` reports them; big git diffs use two processes."""
    size = os.path.getsize(path)
    cut = section_cut(path) if size >= parallel_from and hasattr(os, "fork") else None
    if cut is None:
        return _scan(path, classifier, None)
    second = _forked(lambda: _scan(path, classifier, (cut, size)))
    try:
        first = _scan(path, classifier, (0, cut))
    finally:
        rest = second()
    return first + rest


def _scan(path: str, classifier: Classifier, window: tuple[int, int] | None) -> list[RefChange]:
    return extract(from_diff(path, references_only=True, window=window).files, classifier)


def _forked(task: Callable[[], T]) -> Callable[[], T]:
    """Start `task` in a forked child now; the call returned waits for its result or raises its error."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, whose coverage is not collected
        os.close(read_fd)
        _send(write_fd, task)
        os._exit(0)
    os.close(write_fd)

    def result() -> T:
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not data:
            raise WorkerFailed(f"the second scan process ended with status {os.waitstatus_to_exitcode(status)}")
        ok, value = pickle.loads(data)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return result


def _send(fd: int, task: Callable[[], object]) -> None:  # pragma: no cover - runs in the child
    try:
        payload = pickle.dumps((True, task()))
    except Exception as exc:
        try:
            payload = pickle.dumps((False, exc))
        except Exception:
            payload = pickle.dumps((False, RuntimeError(str(exc))))
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(payload)
