"""The JobQueue protocol in memory, with switches to make it fail, for receiver and metrics tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from app.jobs.model import JobCounts, ReviewJob


class MemoryQueue:
    def __init__(self) -> None:
        self.jobs: list[ReviewJob] = []
        self.seen: set[str] = set()
        self.fail_enqueue = False
        self.fail_depth = False
        self._lock = threading.Lock()

    def accept(self, delivery_id: str, jobs: Sequence[ReviewJob]) -> bool:
        if self.fail_enqueue:
            raise ConnectionError("queue store unreachable")
        with self._lock:
            if delivery_id in self.seen:
                return False
            self.seen.add(delivery_id)
            self.jobs.extend(jobs)
            return True

    def depth(self) -> int:
        if self.fail_depth:
            raise ConnectionError("queue store unreachable")
        return len(self.jobs)

    def counts(self) -> JobCounts:
        """Totals like HueyJobQueue.counts(): what was enqueued here, plus fixed finished ones."""
        return JobCounts(enqueued=len(self.jobs), succeeded=3, given_up=1)
