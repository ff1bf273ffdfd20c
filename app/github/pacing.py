"""Pacing of content-creating requests (GitHub's secondary rate limit: about 80 a minute).

A token bucket: up to ``burst`` writes go out at once, then one every ``60 / per_minute`` seconds.
GitHub counts per App installation, so the review keeps one bucket per installation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PaceSettings:
    per_minute: float = 80.0  # 0 or less: no pacing (tests)
    burst: int = 20


@dataclass
class WritePacer:
    settings: PaceSettings = field(default_factory=PaceSettings)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0  # total seconds spent waiting, for logs and tests

    def __post_init__(self) -> None:
        self._tokens = float(self.settings.burst)
        self._last = self.clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more write may go out."""
        if self.settings.per_minute <= 0:
            return
        rate = self.settings.per_minute / 60.0
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.settings.burst), self._tokens + (now - self._last) * rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / rate
        if wait > 0:
            # The token is already taken: callers waiting concurrently queue up behind each other.
            self.waited += wait
            self.sleep(wait)


class PacerPool:
    """One pacer per installation, created on first use."""

    def __init__(self, settings: PaceSettings | None = None) -> None:
        self.settings = settings or PaceSettings()
        self._pacers: dict[int, WritePacer] = {}
        self._lock = threading.Lock()

    def for_installation(self, installation_id: int) -> WritePacer:
        with self._lock:
            pacer = self._pacers.get(installation_id)
            if pacer is None:
                pacer = self._pacers[installation_id] = WritePacer(self.settings)
            return pacer
