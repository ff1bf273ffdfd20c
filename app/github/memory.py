"""What the App remembers about each pull request between reviews, so it need not ask GitHub again.

Per pull request: the check run made for each head SHA and how many annotations it already holds
(GitHub appends annotations, so a re-run must not send them twice), the summary comment's id and
a digest of its body (unchanged summaries are not edited), and the inline comments we posted by
finding fingerprint.

A record is written before the first write to GitHub of a review and after each one, so a retried
job (in any process sharing the store) knows what the earlier attempt left; a write that must not
be doubled is noted as unsure before it is sent, so a write whose outcome was never learnt is
looked for on GitHub rather than sent again. GitHub stays the
truth: when there is no record the review looks at GitHub instead, and ids that have gone stale
(a deleted comment) are noticed on use and dropped.

Stores: ``LocalMemory`` (one process), ``SqliteMemory`` (processes sharing the data dir, the
embedded deployment), ``RedisMemory`` (the scale-out deployment).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.github.text_records import RedisTextRecords, SqliteTextRecords

# Check runs are remembered for the newest heads only: older heads are never re-run in practice.
MAX_HEADS = 20


@dataclass(slots=True)
class CheckRunMemory:
    id: int
    annotations_sent: int = 0
    completed: bool = False
    # Digests of the annotations the run holds (None: not known, ask GitHub).
    sent_keys: list[str] | None = None


@dataclass(slots=True)
class PullMemory:
    summary_comment_id: int | None = None
    summary_digest: str | None = None
    # fingerprint -> id of our inline comment whose finding still stands (or stood when last seen)
    comments: dict[str, int] = field(default_factory=dict)
    # fingerprint -> id of our inline comment already answered "Resolved in ..."
    resolved: dict[str, int] = field(default_factory=dict)
    check_runs: dict[str, CheckRunMemory] = field(default_factory=dict)  # head sha -> run
    # Whether ``comments``/``resolved`` and the summary fields reflect GitHub: true for a pull
    # request we saw opened, or once we listed what is there. Until then they are only hints.
    comments_known: bool = False
    summary_known: bool = False
    # Writes sent whose outcome is not known (GitHub answered 5xx, or the review died waiting):
    # whoever publishes next looks at GitHub for them before writing again (app.github.publish).
    unsure: list[str] = field(default_factory=list)

    def remember_run(self, head_sha: str, run: CheckRunMemory) -> None:
        self.check_runs.pop(head_sha, None)
        self.check_runs[head_sha] = run
        while len(self.check_runs) > MAX_HEADS:
            del self.check_runs[next(iter(self.check_runs))]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PullMemory:
        data: dict[str, Any] = json.loads(text)
        runs = {str(sha): CheckRunMemory(**run) for sha, run in data.get("check_runs", {}).items()}
        return cls(
            summary_comment_id=data.get("summary_comment_id"),
            summary_digest=data.get("summary_digest"),
            comments={str(k): int(v) for k, v in data.get("comments", {}).items()},
            resolved={str(k): int(v) for k, v in data.get("resolved", {}).items()},
            check_runs=runs,
            comments_known=bool(data.get("comments_known", False)),
            summary_known=bool(data.get("summary_known", False)),
            unsure=[str(key) for key in data.get("unsure", [])],
        )


class ReviewMemory(Protocol):
    def load(self, repo: str, number: int) -> PullMemory | None:
        """The record for the pull request, or None when this store has never seen it."""
        ...

    def save(self, repo: str, number: int, memory: PullMemory) -> None: ...


def _key(repo: str, number: int) -> str:
    return f"{repo.lower()}#{number}"


class LocalMemory:
    """In-process store, least recently used records dropped first."""

    def __init__(self, max_pulls: int = 10_000) -> None:
        self._max = max_pulls
        self._data: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, repo: str, number: int) -> PullMemory | None:
        with self._lock:
            raw = self._data.get(_key(repo, number))
            if raw is not None:
                self._data.move_to_end(_key(repo, number))
        return None if raw is None else PullMemory.from_json(raw)

    def save(self, repo: str, number: int, memory: PullMemory) -> None:
        with self._lock:
            self._data[_key(repo, number)] = memory.to_json()
            self._data.move_to_end(_key(repo, number))
            while len(self._data) > self._max:
                self._data.popitem(last=False)


class SqliteMemory:
    """A table in a SQLite file, shared by every process on the host; records expire after ``ttl``."""

    def __init__(self, path: Path, ttl: float = 90 * 24 * 3600.0) -> None:
        self._records = SqliteTextRecords(path, "pull_memory", ttl)

    def load(self, repo: str, number: int) -> PullMemory | None:
        raw = self._records.get(_key(repo, number))
        return None if raw is None else PullMemory.from_json(raw)

    def save(self, repo: str, number: int, memory: PullMemory) -> None:
        self._records.put(_key(repo, number), memory.to_json())


class RedisMemory:
    """One key per pull request on the queue's Redis."""

    def __init__(self, url: str, prefix: str = "image-review:memory:", ttl: float = 90 * 24 * 3600.0) -> None:
        self._records = RedisTextRecords(url, prefix, ttl)

    def load(self, repo: str, number: int) -> PullMemory | None:
        raw = self._records.get(_key(repo, number))
        return None if raw is None else PullMemory.from_json(raw)

    def save(self, repo: str, number: int, memory: PullMemory) -> None:
        self._records.put(_key(repo, number), memory.to_json())
