"""Ask GitHub to send again the webhook deliveries that failed: GitHub does not retry them itself.

The App lists its recent deliveries with ``GET /app/hook/deliveries`` (newest first, paginated by
a cursor in the ``Link`` header) and asks for one to be resent with
``POST /app/hook/deliveries/{id}/attempts``. Every attempt is its own entry with its own ``id``;
all attempts of one event share a ``guid`` (the ``X-GitHub-Delivery`` header our receiver dedupes
on, so a redelivery of an event that did get queued is dropped there).

A guid is redelivered when none of its attempts succeeded and its newest attempt is not one we
already asked to resend: after our request, GitHub's new attempt appears in the list, and only if
that one fails too is the guid tried again, at most ``max_attempts`` times. The memory of what was
asked lives in the queue's store, so every worker process sharing the store agrees.

Oldest events are resent first: the queue lets a newer push supersede an older one, so the order
of arrival should follow the order of the events. Each run is bounded in pages read and in
redeliveries made; what it leaves is picked up by the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests

from app.jobs.huey_queue import Store, Txn

log = logging.getLogger(__name__)

DELIVERIES_PATH = "/app/hook/deliveries"
MEMORY_KIND = "redelivery"


@dataclass(frozen=True)
class RedeliveryOptions:
    interval: float = 300.0  # seconds between runs (the worker's periodic hook)
    lookback: float = 24 * 3600.0  # deliveries older than this are left alone (GitHub keeps 3 days)
    max_per_run: int = 20  # redeliveries requested per run
    max_pages: int = 10  # pages of the delivery list read per run
    per_page: int = 100  # GitHub's maximum for this endpoint
    max_attempts: int = 3  # redeliveries requested per event, ever


@dataclass(frozen=True)
class Attempt:
    """One entry of the delivery list."""

    id: int
    guid: str
    delivered_at: float  # epoch seconds
    status: str
    status_code: int
    event: str
    action: str | None
    redelivery: bool

    @property
    def failed(self) -> bool:
        return self.status_code >= 400 or self.status != "OK"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            id=int(data["id"]),
            guid=str(data["guid"]),
            delivered_at=_epoch(str(data["delivered_at"])),
            status=str(data.get("status") or ""),
            status_code=int(data.get("status_code") or 0),
            event=str(data.get("event") or ""),
            action=str(data["action"]) if data.get("action") else None,
            redelivery=bool(data.get("redelivery", False)),
        )


@dataclass
class RedeliveryReport:
    scanned: int = 0  # attempts read within the lookback window
    failed: int = 0  # events (guids) with no successful attempt
    redelivered: list[str] = field(default_factory=list)  # guids resent in this run
    already_requested: int = 0  # failed events whose newest attempt we had already asked to resend
    exhausted: int = 0  # failed events that used up max_attempts
    errors: list[str] = field(default_factory=list)
    more: bool = False  # a bound stopped the run before it saw or resent everything


class AppRequester(Protocol):
    """What is needed from app.github.client.AppAuth: requests signed as the App."""

    api_url: str

    def app_request(self, method: str, path: str, **kwargs: Any) -> requests.Response: ...


class RedeliveryMemory(Protocol):
    def claim(self, guid: str, attempt_id: int, max_attempts: int) -> bool | None:
        """Record that ``attempt_id`` of ``guid`` is being resent: True if it may be, False if it
        was already requested, None if the guid has used up its attempts."""
        ...

    def release(self, guid: str, attempt_id: int) -> None:
        """Undo a claim whose request failed (the attempt counts, so the bound still holds)."""
        ...


def _decide(record: dict[str, Any] | None, attempt_id: int, max_attempts: int) -> tuple[bool | None, dict[str, Any]]:
    count = int(record.get("count", 0)) if record else 0
    if record is not None and record.get("last") == attempt_id:
        return False, record
    if count >= max_attempts:
        return None, record or {}
    return True, {"last": attempt_id, "count": count + 1}


class StoreMemory:
    """Redelivery memory as records in the queue's store (SQLite data dir or Redis)."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl

    def claim(self, guid: str, attempt_id: int, max_attempts: int) -> bool | None:
        def body(txn: Txn) -> bool | None:
            verdict, record = _decide(txn.get(MEMORY_KIND, guid), attempt_id, max_attempts)
            if verdict:
                txn.put(MEMORY_KIND, guid, record, ttl=self._ttl)
            return verdict

        return self._store.transact([(MEMORY_KIND, guid)], body)

    def release(self, guid: str, attempt_id: int) -> None:
        def body(txn: Txn) -> None:
            record = txn.get(MEMORY_KIND, guid)
            if record is not None and record.get("last") == attempt_id:
                txn.put(MEMORY_KIND, guid, {**record, "last": None}, ttl=self._ttl)

        self._store.transact([(MEMORY_KIND, guid)], body)


class LocalMemory:
    """Redelivery memory in this process only (tests, one-off runs)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def claim(self, guid: str, attempt_id: int, max_attempts: int) -> bool | None:
        verdict, record = _decide(self.records.get(guid), attempt_id, max_attempts)
        if verdict:
            self.records[guid] = record
        return verdict

    def release(self, guid: str, attempt_id: int) -> None:
        record = self.records.get(guid)
        if record is not None and record.get("last") == attempt_id:
            record["last"] = None


def redeliver_failed(
    app: AppRequester,
    memory: RedeliveryMemory,
    options: RedeliveryOptions | None = None,
    *,
    now: float | None = None,
) -> RedeliveryReport:
    """One run: find the failed events of the lookback window and ask GitHub to resend them."""
    options = options or RedeliveryOptions()
    now = time.time() if now is None else now
    report = RedeliveryReport()
    newest: dict[str, Attempt] = {}  # guid -> its newest attempt (the list is newest first)
    succeeded: set[str] = set()
    for attempt in _recent_attempts(app, options, now - options.lookback, report):
        report.scanned += 1
        newest.setdefault(attempt.guid, attempt)
        if not attempt.failed:
            succeeded.add(attempt.guid)
    failed = sorted((a for g, a in newest.items() if g not in succeeded), key=lambda a: (a.delivered_at, a.id))
    report.failed = len(failed)
    for attempt in failed:
        if len(report.redelivered) >= options.max_per_run:
            report.more = True
            break
        verdict = memory.claim(attempt.guid, attempt.id, options.max_attempts)
        if verdict is False:
            report.already_requested += 1
        elif verdict is None:
            report.exhausted += 1
        elif _resend(app, attempt, report):
            report.redelivered.append(attempt.guid)
        else:
            memory.release(attempt.guid, attempt.id)
    _log_report(report)
    return report


def _recent_attempts(
    app: AppRequester,
    options: RedeliveryOptions,
    since: float,
    report: RedeliveryReport,
) -> Iterator[Attempt]:
    path: str | None = f"{DELIVERIES_PATH}?per_page={options.per_page}"
    pages = 0
    while path is not None:
        if pages >= options.max_pages:
            report.more = True
            return
        response = app.app_request("GET", path)
        pages += 1
        items = response.json()
        if not isinstance(items, list):
            raise ValueError(f"GET {DELIVERIES_PATH} answered {type(items).__name__}, not a list")
        for item in items:
            try:
                attempt = Attempt.from_json(item)
            except (KeyError, TypeError, ValueError) as exc:
                report.errors.append(f"unreadable delivery entry: {exc!r}")
                continue
            if attempt.delivered_at < since:
                return  # newest first: everything after this is older still
            yield attempt
        path = _next_path(response, app.api_url)


def _next_path(response: requests.Response, api_url: str) -> str | None:
    """The path of the next page, or None; a link to another host is not followed (it would be
    sent the App's JWT)."""
    url = response.links.get("next", {}).get("url")
    if not url:
        return None
    base = api_url.rstrip("/")
    if not url.startswith(base + "/"):
        log.warning("not following a pagination link outside %s: %s", base, url.split("?", 1)[0])
        return None
    return url[len(base) :]


def _resend(app: AppRequester, attempt: Attempt, report: RedeliveryReport) -> bool:
    what = f"{attempt.event}{'.' + attempt.action if attempt.action else ''}"
    try:
        app.app_request("POST", f"{DELIVERIES_PATH}/{attempt.id}/attempts")
    except Exception as exc:  # one refused redelivery must not stop the others
        report.errors.append(f"{attempt.guid}: {exc}")
        log.warning(
            "could not redeliver %s (%s, attempt %d): %s",
            attempt.guid,
            what,
            attempt.id,
            exc,
            extra={"delivery_id": attempt.guid, "event": attempt.event, "outcome": "error"},
        )
        return False
    log.info(
        "asked GitHub to redeliver %s (%s), which failed with %s",
        attempt.guid,
        what,
        attempt.status_code or attempt.status,
        extra={"delivery_id": attempt.guid, "event": attempt.event, "outcome": "redelivered"},
    )
    return True


def _log_report(report: RedeliveryReport) -> None:
    if not report.failed and not report.errors:
        log.debug("no failed webhook deliveries among the %d recent ones", report.scanned)
        return
    log.info(
        "webhook redelivery: %d failed event(s) in %d recent deliveries; %d resent, %d already asked, "
        "%d given up, %d error(s)%s",
        report.failed,
        report.scanned,
        len(report.redelivered),
        report.already_requested,
        report.exhausted,
        len(report.errors),
        "; more left for the next run" if report.more else "",
    )


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
