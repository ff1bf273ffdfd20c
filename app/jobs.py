"""The job queue: durable review jobs (interface; the huey-backed implementation is pending)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewJob:
        data = dict(data)
        data["labels"] = tuple(data.get("labels", ()))
        return cls(**data)


class JobQueue(Protocol):
    def seen_delivery(self, delivery_id: str) -> bool:
        """Atomically record a delivery id; True if it was already recorded (a duplicate)."""
        ...

    def enqueue(self, job: ReviewJob) -> None:
        """Make the job durable before returning; supersede a queued job with the same coalesce key."""
        ...

    def depth(self) -> int:
        """Jobs waiting (for /metrics)."""
        ...
