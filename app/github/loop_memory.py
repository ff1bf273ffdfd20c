"""What the staging loop remembers per repository between runs, so a run with nothing to do is cheap.

The dashboard issue's number, state and a digest of its body (an unchanged body is not sent),
each switch-back pull request (its branch, number, the App's commit and a digest of its edits)
and the tracking-issue notes already posted. GitHub stays the truth: without a record the loop
looks the issue and pull requests up, and a remembered id that has gone stale is noticed on use.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol


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
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._ttl = ttl
        self._local = threading.local()
        with self._connect() as db:
            db.execute("create table if not exists loop_memory (repo text primary key, value text not null, "
                       "expires real not null)")

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30.0)
            db.execute("pragma journal_mode=wal")
            self._local.db = db
        return db

    def load(self, repo: str) -> LoopMemory | None:
        row = self._connect().execute("select value from loop_memory where repo = ? and expires > ?",
                                      (repo, time.time())).fetchone()
        return None if row is None else LoopMemory.from_json(row[0])

    def save(self, repo: str, memory: LoopMemory) -> None:
        with self._connect() as db:
            db.execute("insert into loop_memory (repo, value, expires) values (?, ?, ?) on conflict (repo) do update "
                       "set value = excluded.value, expires = excluded.expires",
                       (repo, memory.to_json(), time.time() + self._ttl))


class RedisLoopStore:
    """One key per repository on the queue's Redis (the scale-out deployment)."""

    def __init__(self, url: str, prefix: str = "image-review:staging-loop:", ttl: float = 90 * 24 * 3600.0) -> None:
        import redis

        self._conn = redis.Redis.from_url(url)
        self._prefix = prefix
        self._ttl_ms = int(ttl * 1000)

    def load(self, repo: str) -> LoopMemory | None:
        raw = self._conn.get(self._prefix + repo)
        if raw is None:
            return None
        if not isinstance(raw, str | bytes):
            raise TypeError(f"unexpected value type from Redis: {type(raw).__name__}")
        return LoopMemory.from_json(raw)

    def save(self, repo: str, memory: LoopMemory) -> None:
        self._conn.set(self._prefix + repo, memory.to_json(), px=self._ttl_ms)
