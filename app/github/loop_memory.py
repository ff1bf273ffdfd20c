"""What the staging loop remembers per repository between runs, so a run with nothing to do is cheap.

The dashboard issue's number, state and a digest of its body (an unchanged body is not sent),
each switch-back pull request (its branch, number, the App's commit and a digest of its edits)
and the tracking-issue notes already posted. GitHub stays the truth: without a record the loop
looks the issue and pull requests up, and a remembered id that has gone stale is noticed on use.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from app.github.text_records import RedisTextRecords, SqliteTextRecords


@dataclass(slots=True)
class SwitchBackMemory:
    number: int
    commit: str  # the App's commit at the branch tip
    edits_digest: str


@dataclass(slots=True)
class LoopMemory:
    dashboard_number: int | None = None
    dashboard_open: bool = False
    dashboard_digest: str | None = None
    switch_backs: dict[str, SwitchBackMemory] = field(default_factory=dict)  # branch -> pull request
    notes: list[str] = field(default_factory=list)  # "<issue>:<kind>:<image>" notes already posted

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoopMemory:
        data = json.loads(text)
        switch_backs = {k: SwitchBackMemory(**v) for k, v in data.pop("switch_backs", {}).items()}
        return cls(**data, switch_backs=switch_backs)


class LoopStore(Protocol):
    def load(self, repo: str) -> LoopMemory | None: ...

    def save(self, repo: str, memory: LoopMemory) -> None: ...


class LocalLoopStore:
    """One process's records (serialised, so a caller cannot change a saved record by accident)."""

    def __init__(self) -> None:
        self._records: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, repo: str) -> LoopMemory | None:
        with self._lock:
            text = self._records.get(repo)
        return None if text is None else LoopMemory.from_json(text)

    def save(self, repo: str, memory: LoopMemory) -> None:
        with self._lock:
            self._records[repo] = memory.to_json()


class SqliteLoopStore:
    """Records in a SQLite file beside the queue, shared by the processes of one host."""

    def __init__(self, path: Path, ttl: float = 90 * 24 * 3600.0) -> None:
        self._records = SqliteTextRecords(path, "loop_memory", ttl)

    def load(self, repo: str) -> LoopMemory | None:
        raw = self._records.get(repo)
        return None if raw is None else LoopMemory.from_json(raw)

    def save(self, repo: str, memory: LoopMemory) -> None:
        self._records.put(repo, memory.to_json())


class RedisLoopStore:
    """One key per repository on the queue's Redis (the scale-out deployment)."""

    def __init__(self, url: str, prefix: str = "image-review:staging-loop:", ttl: float = 90 * 24 * 3600.0) -> None:
        self._records = RedisTextRecords(url, prefix, ttl)

    def load(self, repo: str) -> LoopMemory | None:
        raw = self._records.get(repo)
        return None if raw is None else LoopMemory.from_json(raw)

    def save(self, repo: str, memory: LoopMemory) -> None:
        self._records.put(repo, memory.to_json())
