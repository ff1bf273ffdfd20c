"""The job queue: durable review jobs.

This module holds the interface (`ReviewJob`, `JobQueue`) and the small types shared by the
implementation and its callers: settings, counters, the hook signatures and the exceptions handed
to `on_give_up`. The huey-backed implementation lives in `app.jobs.huey_queue` (`build_queue`,
`HueyJobQueue`); the consumers that run jobs live in `app.jobs.consumer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ReviewJob:
    """One request to review a pull request at a head SHA (all the webhook payload tells us)."""

    installation_id: int
    repo: str  # "owner/name" of the base repository
    pr_number: int
    head_sha: str
    delivery_id: str
    event: str  # e.g. "pull_request.synchronize", "issue_comment.created"
    # Fields from the payload that save API calls.
    base_sha: str = ""
    base_ref: str = ""
    draft: bool = False
    labels: tuple[str, ...] = ()
    # A requested re-run of the same head: everything is recomputed, annotations are not re-sent.
    rerun: bool = False

    @property
    def coalesce_key(self) -> str:
        """Jobs with the same key supersede each other (a newer push replaces a queued older one)."""
        return f"{self.repo}#{self.pr_number}"

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict (a deep copy): this runs for every
        # delivery accepted, inside the store's write transaction.
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in _JOB_FIELDS}
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewJob:
        data = dict(data)
        data["labels"] = tuple(data.get("labels", ()))
        return cls(**data)


_JOB_FIELDS = fields(ReviewJob)


class JobQueue(Protocol):
    def accept(self, delivery_id: str, jobs: Sequence[ReviewJob]) -> bool:
        """Record the delivery id and enqueue its jobs, atomically and durably before returning;
        False (and nothing enqueued) when the id was already recorded (a duplicate delivery).

        A queued job with the same coalesce key is superseded. On an exception nothing stays
        recorded, so a redelivery of the same id is accepted.
        """
        ...

    def depth(self) -> int:
        """Jobs waiting (for /metrics)."""
        ...


# ---------------------------------------------------------------------------------------------
# Shared types for the implementation (app.jobs.huey_queue) and its callers.

JobHandler = Callable[[ReviewJob], None]
"""Runs one job; raising means "try again later" (until the attempts are used up)."""

GiveUpHook = Callable[[ReviewJob, BaseException], None]
"""Called once a job will not be tried again, so the check run can be closed with an honest message."""


class JobSuperseded(Exception):
    """Handed to `on_give_up` for a job that had already started when a newer push replaced it.

    A job superseded before its first start is dropped silently: it never created anything on
    GitHub. One that started (and failed, or whose worker died) may have left a check run
    in progress, which the hook should close.
    """


class WorkerLost(Exception):
    """Handed to `on_give_up` when workers died while running the job as often as attempts allow."""


@dataclass(frozen=True, slots=True)
class JobCounts:
    """Totals since the store was created, shared by every process on the store (for /metrics)."""

    enqueued: int = 0
    started: int = 0  # attempts that reached the handler
    succeeded: int = 0
    failed: int = 0  # attempts that raised
    retried: int = 0  # failed attempts that will be tried again
    given_up: int = 0
    superseded: int = 0
    coalesced: int = 0  # jobs folded into a review of the same head that had not started yet
    recovered: int = 0  # jobs re-enqueued after their worker stopped mid-run


SQLITE_SYNC_CHOICES = ("normal", "full")


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Everything the queue needs; times are in seconds."""

    data_dir: Path = Path("data")
    redis_url: str | None = None  # set: Redis (scale-out); unset: SQLite in data_dir (embedded)
    name: str = "image-review"  # namespace inside the store, so several apps can share one Redis
    retries: int = 3  # attempts after the first one
    retry_delay: float = 10.0
    retry_backoff: float = 2.0  # each retry waits this many times longer than the one before
    lease_seconds: float = 60.0  # a running job whose worker stops renewing it is re-enqueued after this
    recovery_interval: float = 15.0  # how often workers look for such jobs
    dedupe_ttl: float = 24 * 3600.0  # how long a webhook delivery id is remembered
    head_ttl: float = 30 * 24 * 3600.0  # how long the newest head per pull request is remembered
    done_ttl: float = 7 * 24 * 3600.0  # how long a finished job is remembered (stops late duplicates)
    poll_interval: float = 1.0  # longest wait between queue polls (SQLite) or blocking reads (Redis)
    shutdown_timeout: float = 25.0  # a graceful stop waits this long for running jobs
    # SQLite only: "normal" (a commit survives the process being killed; an OS crash or power
    # loss may lose the last ones) or "full" (every commit is fsynced: survives those too, and
    # costs about a millisecond of disk time per accepted delivery).
    sqlite_sync: str = "normal"

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "queue.sqlite3"

    @classmethod
    def from_object(cls, settings: object) -> QueueSettings:
        """Read the queue's settings from any settings object (the app's `Settings`, a namespace).

        Attributes are looked up by the field names above (`data_dir`, `redis_url`, ...), each
        also under a `queue_` prefix; missing or None ones keep their defaults. An attribute
        `queue` holding a QueueSettings wins outright.
        """
        if isinstance(settings, QueueSettings):
            return settings
        nested = getattr(settings, "queue", None)
        if isinstance(nested, QueueSettings):
            return nested
        values: dict[str, Any] = {}
        for field in fields(cls):
            for attr in (f"queue_{field.name}", field.name):
                value = getattr(settings, attr, None)
                if value is not None:
                    values[field.name] = value
                    break
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)
