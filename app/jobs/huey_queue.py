"""The huey-backed JobQueue: SQLite in the data dir (embedded default) or Redis (scale-out).

huey moves the messages (queue, retry schedule, consumers). What huey does not know -- which
push is the newest for a pull request, which deliveries were seen, which jobs are running and
whether their worker is still alive -- is kept as small records in the same store: tables next
to huey's in `queue.sqlite3`, or keys next to huey's in the same Redis. Every record change is
one atomic transaction (SQLite `BEGIN EXCLUSIVE` on huey's own connection; Redis
`WATCH`/`MULTI`), and the decisions are pure functions shared by both backends.

Accepting a delivery is a single transaction: the dedupe entry, the job's sequence number, the
head record, the counters and -- only when nothing is pending for the pull request -- huey's
message commit together (on SQLite, huey's own insert joins the transaction). Each SQLite commit
is a serialization point for every web process, so the receiver's throughput is decided by how
many there are per delivery and what each costs: one, in WAL mode with `synchronous=NORMAL` by
default. A committed transaction then survives the process being killed; only an OS crash or
power loss can lose the last commits before a checkpoint. `QueueSettings.sqlite_sync = "full"`
(`IMAGE_REVIEW_SQLITE_SYNC=full`) fsyncs every commit instead.

Coalescing. A pull request has at most one message on the queue (`HeadRecord.queued`) and at
most one job waiting for the review that holds it (`HeadRecord.next`): a delivery for a pull
request with a job pending is merged into that job (newest delivery wins, a re-run request is
kept) in the accept transaction, with no message and no log line; the claiming worker reads the
merged job from the record. `let_go` turns `next` into the queued job and sends its message in
the transaction that ends the holder's attempt. A job that has not started reads the newest
state when it does, so merging loses nothing, while a delivery that arrives during a review
still gets a review that starts after it.

Supersession. Every accepted job takes a number from a store-wide sequence and folds
(sequence, head SHA) into the pull request's `HeadRecord`. A job is
superseded iff some job enqueued after it, for the same pull request, has a different head
SHA. The record (newest head, its sequence, the newest sequence with another head) answers that
exactly whatever order concurrent enqueues fold in, and a job newer than the record (its own
fold not yet done, or lost in a crash) is never superseded. Jobs for the same head all run
(a requested re-run runs), and a push back to an older head supersedes everything between.

One pull request at a time. Two reviews of the same pull request running at once would both
find no summary comment and post one, both post the same new inline comment, and so on; so a
job that is about to act holds its pull request in the `HeadRecord` (`running`) for the length
of one attempt. A job claimed while another holds it is parked in the record (`waiting`), in
the claim's transaction, and the holder puts the parked messages back on the queue in the
transaction that ends its attempt (finished, given up, or waiting for a retry). A holder whose
worker dies keeps the pull request until recovery has run it again under the same token.

Crash recovery. huey deletes a message when a worker takes it, so a worker killed mid-job
would lose it. Before calling the handler the job is claimed in a `JobRecord` with a lease; a
heartbeat thread renews the lease while the handler runs; the record turns into a `done`
tombstone when the job ends. `recover()` (run by every worker at start and periodically)
re-enqueues jobs whose lease ran out, under a new generation number: any older copy of the
message still around (e.g. a huey retry waiting in the schedule) then finds a newer
generation in the record and skips itself, and a copy arriving after the job finished finds
the tombstone. The attempt count lives in the record, so a job that keeps killing its worker
ends with `on_give_up(job, WorkerLost(...))` instead of looping.

Worker processes rebuild the same task registry by calling `build_queue` with the same settings
and a handler: the huey instance, its single task (`TASK_NAME`) and the handler are all held by
the HueyJobQueue object. Nothing is registered at import time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum, StrEnum
from functools import partial
from typing import IO, Any, Protocol, TypeVar

from huey import RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from app.jobs.model import (
    GiveUpHook,
    JobCounts,
    JobHandler,
    JobSuperseded,
    QueueSettings,
    ReviewJob,
    WorkerLost,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

TASK_NAME = "review_job"
KIND_HEAD = "head"
KIND_JOB = "job"
KIND_TICK = "tick"
KIND_DELIVERY = "delivery"
_SEQ_COUNTER = "seq"
_RECOVER_BATCH = 100


# ---------------------------------------------------------------------------------------------
# Records and the pure decisions over them.


@dataclass(frozen=True, slots=True)
class Pending:
    """A job accepted for a pull request and not started yet: the one message on the queue for
    it (`HeadRecord.queued`), or the one to run once the review holding it lets go (`.next`)."""

    token: str
    seq: int
    job: ReviewJob

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "seq": self.seq, "job": self.job.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Pending | None:
        if data is None:
            return None
        return cls(str(data["token"]), int(data["seq"]), ReviewJob.from_dict(data["job"]))

    def message(self) -> JobMessage:
        return JobMessage(self.token, self.seq, 0, self.job)


@dataclass(frozen=True, slots=True)
class HeadRecord:
    """Per pull request: whether a job was superseded by a newer push, which job holds it, and
    the jobs accepted for it that have not started."""

    head_sha: str  # head of the newest job folded in
    last_seq: int  # sequence of that job
    prev_seq: int  # newest sequence among jobs whose head differs from head_sha (0: none)
    running: str | None = None  # token of the job holding the pull request for an attempt
    waiting: tuple[dict[str, Any], ...] = ()  # parked messages: {"payload": ..., "retries": n}
    queued: Pending | None = None  # its message is on the queue, not yet claimed
    next: Pending | None = None  # no message yet: enqueued when the holder lets go

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"head_sha": self.head_sha, "last_seq": self.last_seq, "prev_seq": self.prev_seq}
        if self.running is not None:
            data["running"] = self.running
        if self.waiting:
            data["waiting"] = list(self.waiting)
        if self.queued is not None:
            data["queued"] = self.queued.to_dict()
        if self.next is not None:
            data["next"] = self.next.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HeadRecord | None:
        if data is None:
            return None
        running = data.get("running")
        return cls(
            str(data["head_sha"]),
            int(data["last_seq"]),
            int(data["prev_seq"]),
            None if running is None else str(running),
            tuple(dict(entry) for entry in data.get("waiting") or ()),
            Pending.from_dict(data.get("queued")),
            Pending.from_dict(data.get("next")),
        )


def advance_head(record: HeadRecord | None, head_sha: str, seq: int) -> HeadRecord | None:
    """Fold a newly enqueued job into the record; None means "no change"."""
    if record is None:
        return HeadRecord(head_sha, seq, 0)
    if seq > record.last_seq:
        prev = record.prev_seq if head_sha == record.head_sha else record.last_seq
        return replace(record, head_sha=head_sha, last_seq=seq, prev_seq=prev)
    # A slower enqueuer folding in after a newer job: only "newest other head" can move.
    if head_sha != record.head_sha and seq > record.prev_seq:
        return replace(record, prev_seq=seq)
    return None


def is_superseded(record: HeadRecord | None, head_sha: str, seq: int) -> bool:
    """True iff a job enqueued after (seq, head_sha) for the same pull request has another head."""
    if record is None or seq > record.last_seq:
        return False  # nothing newer is known (the record expired or lags behind this job)
    if head_sha != record.head_sha:
        return True  # the newest job has another head
    return seq < record.prev_seq


class Intake(Enum):
    """What accepting a job did to its pull request's record."""

    ENQUEUE = "enqueue"  # nothing pending: one message goes on the queue
    FOLDED = "folded"  # merged into the job queued for the pull request, which has not started
    NEXT = "next"  # a review holds the pull request: kept to run once it lets go


@dataclass(frozen=True, slots=True)
class Accepted:
    intake: Intake
    head: HeadRecord
    replaced: ReviewJob | None = None  # the pending job this one was merged into


def merge(old: Pending | None, token: str, seq: int, job: ReviewJob) -> Pending:
    """The pending job once `job` arrives: the newest delivery wins (a newer push supersedes an
    older one; the same head is reviewed once), a requested re-run is kept, and a message
    already on the queue keeps its token (the worker claiming it reads the job from here)."""
    if old is None:
        return Pending(token, seq, job)
    return Pending(old.token, seq, replace(job, rerun=job.rerun or old.job.rerun))


def accept_job(head: HeadRecord | None, job: ReviewJob, seq: int, token: str) -> Accepted:
    """Fold a newly accepted job into its pull request's record (pure).

    At most one message per pull request is on the queue and at most one job waits for the
    running review: every later delivery only rewrites the record. A job that has not started
    when another delivery for its pull request arrives reads the newest state when it does
    start, so merging loses nothing; a delivery arriving during a review runs after it."""
    advanced = advance_head(head, job.head_sha, seq) or head
    assert advanced is not None
    if advanced.queued is not None:
        pending = merge(advanced.queued, token, seq, job)
        return Accepted(Intake.FOLDED, replace(advanced, queued=pending), advanced.queued.job)
    if advanced.running is not None:
        pending = merge(advanced.next, token, seq, job)
        replaced = None if advanced.next is None else advanced.next.job
        return Accepted(Intake.NEXT, replace(advanced, next=pending), replaced)
    return Accepted(Intake.ENQUEUE, replace(advanced, queued=Pending(token, seq, job)))


def take_queued(head: HeadRecord | None, message: JobMessage) -> tuple[HeadRecord | None, JobMessage]:
    """When `message` is its pull request's queued one: the record without it, and the message
    carrying the newest job merged into it. Otherwise (a retry, a recovered copy, a record that
    expired) both unchanged."""
    if head is None or head.queued is None or head.queued.token != message.token:
        return head, message
    pending = head.queued
    return replace(head, queued=None), JobMessage(message.token, pending.seq, message.gen, pending.job)


class JobState(StrEnum):
    RUNNING = "running"  # claimed by a worker whose heartbeat renews the lease
    RECOVERING = "recovering"  # lease ran out; a recoverer is re-enqueueing it
    QUEUED = "queued"  # re-enqueued after recovery, waiting in huey's queue
    DONE = "done"  # finished, given up or superseded after starting; kept to stop late copies


@dataclass(frozen=True, slots=True)
class JobRecord:
    token: str
    seq: int
    gen: int  # bumped by each recovery; messages with another generation are stale copies
    attempts: int
    state: JobState
    lease: float | None  # wall-clock time after which the job counts as abandoned
    job: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "seq": self.seq,
            "gen": self.gen,
            "attempts": self.attempts,
            "state": self.state.value,
            "lease": self.lease,
            "job": self.job,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JobRecord | None:
        if data is None:
            return None
        lease = data.get("lease")
        return cls(
            token=str(data["token"]),
            seq=int(data["seq"]),
            gen=int(data["gen"]),
            attempts=int(data["attempts"]),
            state=JobState(data["state"]),
            lease=None if lease is None else float(lease),
            job=dict(data["job"]),
        )


@dataclass(frozen=True, slots=True)
class JobMessage:
    """The huey task's argument: one delivery of one job (plain data, so it pickles stably)."""

    token: str
    seq: int
    gen: int
    job: ReviewJob

    def to_payload(self) -> dict[str, Any]:
        return {"token": self.token, "seq": self.seq, "gen": self.gen, "job": self.job.to_dict()}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> JobMessage:
        return cls(str(data["token"]), int(data["seq"]), int(data["gen"]), ReviewJob.from_dict(data["job"]))


class Verdict(Enum):
    RUN = "run"
    SKIP = "skip"  # a stale or late copy of a job that is handled elsewhere or finished
    SUPERSEDED = "superseded"  # never started; dropped silently
    SUPERSEDED_STARTED = "superseded-started"  # started before; on_give_up closes what it left
    WORKER_LOST = "worker-lost"  # attempts used up by workers that died mid-run
    WAIT = "wait"  # another job holds the pull request: parked until it lets go


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: Verdict
    attempt: int = 0


def decide_claim(
    record: JobRecord | None,
    head: HeadRecord | None,
    message: JobMessage,
    *,
    now: float,
    lease_seconds: float,
    max_attempts: int,
) -> tuple[Claim, JobRecord | None]:
    """What a worker that just took `message` should do, and the record to write (None: none)."""
    if record is not None and (record.state is JobState.DONE or record.gen != message.gen):
        return Claim(Verdict.SKIP), None
    superseded = is_superseded(head, message.job.head_sha, message.seq)
    if record is None and superseded:
        return Claim(Verdict.SUPERSEDED), None
    if head is not None and head.running not in (None, message.token):
        # Parked in the head record, the job needs no lease: nothing is running it.
        parked = None if record is None else replace(record, state=JobState.QUEUED, lease=None)
        return Claim(Verdict.WAIT), parked
    attempt = 1 if record is None else record.attempts + 1
    running = JobRecord(
        token=message.token,
        seq=message.seq,
        gen=message.gen,
        attempts=attempt,
        state=JobState.RUNNING,
        lease=now + lease_seconds,
        job=message.job.to_dict(),
    )
    # Give-ups keep a lease too: if the worker dies inside on_give_up, recovery calls it again.
    if superseded:
        return Claim(Verdict.SUPERSEDED_STARTED, attempt), running
    if attempt > max_attempts:
        return Claim(Verdict.WORKER_LOST, attempt), running
    return Claim(Verdict.RUN, attempt), running


def hold(head: HeadRecord | None, message: JobMessage) -> HeadRecord:
    """The head record with `message`'s job holding its pull request."""
    base = head or advance_head(None, message.job.head_sha, message.seq)
    assert base is not None
    return replace(base, running=message.token)


def park(head: HeadRecord | None, message: JobMessage, retries: int) -> HeadRecord:
    """The head record with `message` parked until the holder lets go."""
    base = head or advance_head(None, message.job.head_sha, message.seq)
    assert base is not None
    entry = {"payload": message.to_payload(), "retries": retries}
    return replace(base, waiting=(*base.waiting, entry))


def let_go(head: HeadRecord | None, token: str) -> HeadRecord | None:
    """The head record once `token`'s job stops holding it (None: it did not hold it); the job
    kept for after it becomes the queued one (its message goes out in the same transaction)."""
    if head is None or head.running != token:
        return None
    queued = head.queued if head.next is None else head.next
    return replace(head, running=None, waiting=(), queued=queued, next=None)


# ---------------------------------------------------------------------------------------------
# Stores: atomic record transactions over huey's SQLite file or Redis server.


class Txn(Protocol):
    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def put(
        self,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        ttl: float | None = None,
        lease: float | None = None,
    ) -> None:
        """Write a record; `lease` (wall-clock) indexes it for `expired_leases`, `ttl` expires it."""
        ...

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        """Record a delivery id unless present and unexpired (declare (KIND_DELIVERY, id))."""
        ...

    def next_seq(self) -> int:
        """A number from the store-wide job sequence: increasing, with gaps where a body reran."""
        ...

    def incr(self, counter: str, amount: int = 1) -> None:
        """Add to a counter as part of the transaction."""
        ...

    def enqueue(self, data: bytes) -> None:
        """Put a serialized huey message on the queue as part of the transaction."""
        ...


class Store(Protocol):
    def transact(self, keys: Sequence[tuple[str, str]], body: Callable[[Txn], T]) -> T:
        """Run body atomically; it may only read the (kind, key) records named, and may rerun."""
        ...

    def expired_leases(self, kind: str, now: float, limit: int) -> list[str]: ...

    def drop_lease(self, kind: str, key: str) -> None:
        """Forget an index entry whose record is gone (only possible where the index is separate)."""
        ...

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        """Record the id unless present and unexpired; True if it was added."""
        ...

    def forget_delivery(self, delivery_id: str) -> None: ...

    def incr(self, counter: str, amount: int = 1) -> int: ...

    def counters(self) -> dict[str, int]: ...

    def prune(self) -> int:
        """Drop expired records (where the backend does not expire them itself)."""
        ...


class _SqliteTxn:
    def __init__(self, storage: JoinableSqliteStorage, cursor: Any, queue: str, now: float) -> None:
        self._storage = storage
        self._cursor = cursor
        self._queue = queue
        self._now = now
        # Counter increments wait for the end of the transaction and go out as one statement:
        # an accepted delivery bumps two or three of them.
        self._increments: dict[str, int] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        self._cursor.execute(
            "select value from ir_record where queue = ? and kind = ? and key = ? and (expires is null or expires > ?)",
            (self._queue, kind, key, self._now),
        )
        row = self._cursor.fetchone()
        return None if row is None else _loads(row[0])

    def put(
        self,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        ttl: float | None = None,
        lease: float | None = None,
    ) -> None:
        expires = None if ttl is None else self._now + ttl
        self._cursor.execute(
            "insert or replace into ir_record (queue, kind, key, value, lease, expires) values (?, ?, ?, ?, ?, ?)",
            (self._queue, kind, key, json.dumps(value), lease, expires),
        )

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        return _sqlite_add_delivery(self._cursor, self._queue, delivery_id, ttl, self._now)

    def next_seq(self) -> int:
        return _sqlite_incr(self._cursor, self._queue, _SEQ_COUNTER, 1)

    def incr(self, counter: str, amount: int = 1) -> None:
        self._increments[counter] = self._increments.get(counter, 0) + amount

    def enqueue(self, data: bytes) -> None:
        # huey's own insert, run inside this transaction (see JoinableSqliteStorage).
        self._storage.enqueue(data, None)

    def flush(self) -> None:
        """Write the counter increments (called once, before the transaction commits)."""
        if not self._increments:
            return
        rows = [(self._queue, key, amount) for key, amount in self._increments.items()]
        placeholders = ", ".join("(?, ?, ?)" for _ in rows)
        self._cursor.execute(
            f"insert into ir_counter (queue, key, value) values {placeholders} "  # only placeholders
            "on conflict (queue, key) do update set value = value + excluded.value",
            [value for row in rows for value in row],
        )
        self._increments.clear()


def _sqlite_add_delivery(cursor: Any, queue: str, delivery_id: str, ttl: float, now: float) -> bool:
    # One statement: insert, or take over an expired entry; a live entry changes no row.
    cursor.execute(
        "insert into ir_delivery (queue, id, expires) values (?, ?, ?) "
        "on conflict (queue, id) do update set expires = excluded.expires where ir_delivery.expires <= ?",
        (queue, delivery_id, now + ttl, now),
    )
    return bool(cursor.rowcount == 1)


def _sqlite_incr(cursor: Any, queue: str, counter: str, amount: int) -> int:
    cursor.execute(
        "insert into ir_counter (queue, key, value) values (?, ?, ?) "
        "on conflict (queue, key) do update set value = value + excluded.value returning value",
        (queue, counter, amount),
    )
    return int(cursor.fetchone()[0])


SQLITE_SYNC_MODES = {"normal": 1, "full": 2}  # PRAGMA synchronous values


class JoinableSqliteStorage(SqliteStorage):  # type: ignore[misc]  # huey has no type hints
    """huey's SQLite storage, with three changes.

    * Calls made by the thread that has a transaction open (`db(commit=True)`) join that
      transaction instead of starting their own, so huey's enqueue can commit together with our
      records. (huey's lock is not reentrant: without this the nested call would deadlock.)
    * `synchronous` is set explicitly: "normal" (in WAL mode, commits are written but not fsynced;
      a killed process loses nothing, an OS crash may lose the last commits) or "full".
    * Write transactions of every process take an exclusive `flock` on `<file>.lock` first.
      SQLite's own wait for a busy database sleeps (1, 2, 5, 10 ... 100 ms between tries), so
      two processes writing at once -- web workers accepting deliveries, the consumer taking
      jobs -- cost the loser milliseconds; the kernel wakes a `flock` waiter as soon as the
      holder lets go. SQLite's locking still guarantees correctness for writers without it.
    """

    def __init__(self, *args: Any, synchronous: str = "normal", **kwargs: Any) -> None:
        if synchronous not in SQLITE_SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SQLITE_SYNC_MODES)}, got {synchronous!r}")
        self._synchronous = synchronous
        self._open = threading.local()
        self._writer = threading.Lock()  # flock excludes processes, not threads sharing its file
        self._lock_file: tuple[int, IO[bytes]] | None = None  # (pid, file): reopened after a fork
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute(f"pragma synchronous={SQLITE_SYNC_MODES[self._synchronous]}")
        return conn

    def _writer_file(self) -> IO[bytes]:
        # A file inherited over fork shares its lock with the parent: each process opens its own.
        if self._lock_file is None or self._lock_file[0] != os.getpid():
            self._lock_file = (os.getpid(), open(f"{self.filename}.lock", "ab"))  # noqa: SIM115
        return self._lock_file[1]

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._writer:
            handle = self._writer_file()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def db(self, commit: bool = False, close: bool = False) -> Iterator[Any]:
        cursor = getattr(self._open, "cursor", None)
        if cursor is not None:
            yield cursor
            return
        if not commit:
            with super().db(commit=False, close=close) as cursor:
                yield cursor
            return
        with self._exclusive(), super().db(commit=True, close=close) as cursor:
            self._open.cursor = cursor
            try:
                yield cursor
            finally:
                self._open.cursor = None

    def close(self) -> bool:
        closed = bool(super().close())
        if self._lock_file is not None:
            self._lock_file[1].close()
            self._lock_file = None
        return closed


class SqliteStore:
    """Records in tables beside huey's, through huey's connection and lock (one writer at a time)."""

    _DDL = (
        "create table if not exists ir_record (queue text not null, kind text not null, "
        "key text not null, value text not null, lease real, expires real, "
        "primary key (queue, kind, key))",
        "create index if not exists ir_record_lease on ir_record (queue, kind, lease) where lease is not null",
        "create table if not exists ir_delivery (queue text not null, id text not null, "
        "expires real not null, primary key (queue, id))",
        "create table if not exists ir_counter (queue text not null, key text not null, "
        "value integer not null, primary key (queue, key))",
    )

    def __init__(self, storage: JoinableSqliteStorage, queue: str) -> None:
        self._storage = storage
        self._queue = queue
        with storage.db(commit=True) as cursor:
            for ddl in self._DDL:
                cursor.execute(ddl)

    def transact(self, keys: Sequence[tuple[str, str]], body: Callable[[Txn], T]) -> T:
        # BEGIN EXCLUSIVE: the whole body is one serialized transaction across processes.
        with self._storage.db(commit=True) as cursor:
            txn = _SqliteTxn(self._storage, cursor, self._queue, time.time())
            result = body(txn)
            txn.flush()
            return result

    def expired_leases(self, kind: str, now: float, limit: int) -> list[str]:
        with self._storage.db() as cursor:
            cursor.execute(
                "select key from ir_record where queue = ? and kind = ? and lease is not null "
                "and lease <= ? order by lease limit ?",
                (self._queue, kind, now, limit),
            )
            return [str(row[0]) for row in cursor.fetchall()]

    def drop_lease(self, kind: str, key: str) -> None:
        return None  # the lease is a column of the record itself

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        with self._storage.db(commit=True) as cursor:
            return _sqlite_add_delivery(cursor, self._queue, delivery_id, ttl, time.time())

    def forget_delivery(self, delivery_id: str) -> None:
        with self._storage.db(commit=True) as cursor:
            cursor.execute("delete from ir_delivery where queue = ? and id = ?", (self._queue, delivery_id))

    def incr(self, counter: str, amount: int = 1) -> int:
        with self._storage.db(commit=True) as cursor:
            return _sqlite_incr(cursor, self._queue, counter, amount)

    def counters(self) -> dict[str, int]:
        with self._storage.db() as cursor:
            cursor.execute("select key, value from ir_counter where queue = ?", (self._queue,))
            return {str(key): int(value) for key, value in cursor.fetchall()}

    def prune(self) -> int:
        now = time.time()
        with self._storage.db(commit=True) as cursor:
            cursor.execute("delete from ir_delivery where queue = ? and expires <= ?", (self._queue, now))
            removed = int(cursor.rowcount)
            cursor.execute(
                "delete from ir_record where queue = ? and expires is not null and expires <= ?",
                (self._queue, now),
            )
            return removed + int(cursor.rowcount)


class _RedisTxn:
    """Reads come from the watched keys, all fetched at once when the body starts (one round
    trip); writes are buffered for the MULTI block (and read back by later reads of the body)."""

    def __init__(self, store: RedisStore, pipe: Any, values: dict[tuple[str, str], bytes | None]) -> None:
        self._store = store
        self._pipe = pipe
        self._values = values
        self._writes: list[Callable[[Any], None]] = []
        self._written: dict[tuple[str, str], dict[str, Any]] = {}

    def _check(self, kind: str, key: str) -> None:
        if (kind, key) not in self._values:
            raise KeyError(f"{kind}:{key} was not declared (and so not watched) for this transaction")

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        self._check(kind, key)
        if (kind, key) in self._written:
            return self._written[(kind, key)]
        raw = self._values[(kind, key)]
        return None if raw is None else _loads(raw)

    def put(
        self,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        ttl: float | None = None,
        lease: float | None = None,
    ) -> None:
        self._written[(kind, key)] = value
        record, index = self._store.key(kind, key), self._store.lease_index(kind)
        text = json.dumps(value)
        px = None if ttl is None else max(1, int(ttl * 1000))

        def write(pipe: Any) -> None:
            pipe.set(record, text, px=px)
            if lease is None:
                pipe.zrem(index, key)
            else:
                pipe.zadd(index, {key: lease})

        self._writes.append(write)

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        self._check(KIND_DELIVERY, delivery_id)
        key = self._store.key(KIND_DELIVERY, delivery_id)
        if (KIND_DELIVERY, delivery_id) in self._written or self._values[(KIND_DELIVERY, delivery_id)] is not None:
            return False
        self._written[(KIND_DELIVERY, delivery_id)] = {}
        px = max(1, int(ttl * 1000))
        self._writes.append(lambda pipe: pipe.set(key, b"1", px=px))
        return True

    def next_seq(self) -> int:
        # Outside the MULTI (its value is needed now): a body that reruns takes a new number and
        # leaves a gap, which the coalescing rules allow.
        return self._store.incr(_SEQ_COUNTER)

    def incr(self, counter: str, amount: int = 1) -> None:
        name = self._store.counters_key
        self._writes.append(lambda pipe: pipe.hincrby(name, counter, amount))

    def enqueue(self, data: bytes) -> None:
        queue_key = self._store.queue_key
        self._writes.append(lambda pipe: pipe.lpush(queue_key, data))

    def flush(self) -> None:
        for write in self._writes:
            write(self._pipe)


class RedisStore:
    """Records as JSON strings under `image-review:<name>:`; a sorted set per kind indexes leases."""

    def __init__(self, conn: Any, name: str, queue_key: str) -> None:
        self._conn = conn  # huey's redis.Redis client
        self._prefix = f"image-review:{name}:"
        self.queue_key = queue_key  # huey's list of messages (RedisStorage.queue_key)
        self.counters_key = f"{self._prefix}counters"

    def key(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def lease_index(self, kind: str) -> str:
        return f"{self._prefix}leases:{kind}"

    def transact(self, keys: Sequence[tuple[str, str]], body: Callable[[Txn], T]) -> T:
        # The lease index is not watched: it is only a hint for scans, re-checked in the record.
        declared = list(dict.fromkeys(keys))
        watched = [self.key(kind, key) for kind, key in declared]

        def attempt(pipe: Any) -> T:
            fetched = pipe.mget(watched) if watched else []
            txn = _RedisTxn(self, pipe, dict(zip(declared, fetched, strict=True)))
            result = body(txn)
            pipe.multi()
            txn.flush()
            return result

        result: T = self._conn.transaction(attempt, *watched, value_from_callable=True)
        return result

    def expired_leases(self, kind: str, now: float, limit: int) -> list[str]:
        members = self._conn.zrangebyscore(self.lease_index(kind), "-inf", now, start=0, num=limit)
        return [_text(member) for member in members]

    def drop_lease(self, kind: str, key: str) -> None:
        self._conn.zrem(self.lease_index(kind), key)

    def add_delivery(self, delivery_id: str, ttl: float) -> bool:
        added = self._conn.set(self.key(KIND_DELIVERY, delivery_id), b"1", nx=True, px=max(1, int(ttl * 1000)))
        return bool(added)

    def forget_delivery(self, delivery_id: str) -> None:
        self._conn.delete(self.key(KIND_DELIVERY, delivery_id))

    def incr(self, counter: str, amount: int = 1) -> int:
        return int(self._conn.hincrby(self.counters_key, counter, amount))

    def counters(self) -> dict[str, int]:
        raw = self._conn.hgetall(self.counters_key)
        return {_text(key): int(value) for key, value in raw.items()}

    def prune(self) -> int:
        return 0  # Redis expires records itself


def _loads(raw: str | bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"corrupt queue record: {raw!r}")
    return value


def _text(raw: str | bytes) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


# ---------------------------------------------------------------------------------------------
# The queue.


def make_huey(settings: QueueSettings) -> Any:
    """A huey instance on the configured store (results off: jobs report through GitHub)."""
    if settings.redis_url:
        return RedisHuey(
            settings.name,
            url=settings.redis_url,
            results=False,
            blocking=True,
            read_timeout=settings.poll_interval,
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        settings.name,
        filename=str(settings.sqlite_path),
        results=False,
        storage_class=JoinableSqliteStorage,
        journal_mode="wal",
        synchronous=settings.sqlite_sync,
    )


def make_store(huey: Any, settings: QueueSettings) -> Store:
    if settings.redis_url:
        return RedisStore(huey.storage.conn, settings.name, huey.storage.queue_key)
    return SqliteStore(huey.storage, settings.name)


def _log_give_up(job: ReviewJob, exc: BaseException) -> None:
    log.error(
        "giving up on %s#%s at %s: %s",
        job.repo,
        job.pr_number,
        job.head_sha,
        exc,
        extra={"delivery_id": job.delivery_id, "pr": job.coalesce_key},
    )


class _Gone(Enum):
    GONE = "gone"


_GONE = _Gone.GONE


class _Heartbeat:
    """Renews a running job's lease from a side thread while the handler or give-up hook runs."""

    def __init__(self, renew: Callable[[], bool], interval: float, label: str) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{label}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._renew():
                    log.warning("lease of %s was taken over; the job may run twice", self._thread.name)
                    return
            except Exception:  # a store hiccup: try again next beat, the lease has slack
                log.exception("renewing %s failed", self._thread.name)


class HueyJobQueue:
    """JobQueue on huey, with coalescing, delivery dedupe, retries and crash recovery."""

    def __init__(
        self,
        settings: QueueSettings,
        handler: JobHandler,
        on_give_up: GiveUpHook | None = None,
    ) -> None:
        self.settings = settings
        self.huey: Any = make_huey(settings)
        self.store: Store = make_store(self.huey, settings)
        self._handler = handler
        self._on_give_up = on_give_up or _log_give_up
        self._task: Any = self.huey.task(
            retries=settings.retries,
            retry_delay=settings.retry_delay,
            retry_backoff=settings.retry_backoff,
            context=True,
            name=TASK_NAME,
        )(self._run_task)

    # -- JobQueue ---------------------------------------------------------------------------

    def seen_delivery(self, delivery_id: str) -> bool:
        """Record a delivery id on its own; True if it was recorded already (see `accept`)."""
        return not self.store.add_delivery(delivery_id, self.settings.dedupe_ttl)

    def forget_delivery(self, delivery_id: str) -> None:
        """Undo seen_delivery."""
        self.store.forget_delivery(delivery_id)

    def accept(self, delivery_id: str, jobs: Sequence[ReviewJob]) -> bool:
        """Record the delivery and enqueue its jobs in one transaction; False for a duplicate.

        Nothing is written for a duplicate, and a failure leaves neither the jobs nor the
        delivery id behind, so GitHub's redelivery of a delivery answered 503 goes through.
        """
        keys = [(KIND_DELIVERY, delivery_id), *((KIND_HEAD, job.coalesce_key) for job in jobs)]

        def body(txn: Txn) -> bool:
            if not txn.add_delivery(delivery_id, self.settings.dedupe_ttl):
                return False
            for job in jobs:
                self._submit(txn, job)
            return True

        return self.store.transact(keys, body)

    def enqueue(self, job: ReviewJob) -> None:
        self.store.transact([(KIND_HEAD, job.coalesce_key)], partial(self._submit, job=job))

    def _submit(self, txn: Txn, job: ReviewJob) -> None:
        # Message and head record commit together, so no crash can leave one without the other.
        # Only a pull request with nothing pending gets a message: later deliveries for it cost
        # this one record write (see accept_job).
        seq = txn.next_seq()
        head = HeadRecord.from_dict(txn.get(KIND_HEAD, job.coalesce_key))
        accepted = accept_job(head, job, seq, uuid.uuid4().hex)
        if accepted.intake is Intake.ENQUEUE:
            assert accepted.head.queued is not None
            txn.enqueue(self.huey.serialize_task(self._task.s(accepted.head.queued.message().to_payload())))
        txn.put(KIND_HEAD, job.coalesce_key, accepted.head.to_dict(), ttl=self.settings.head_ttl)
        txn.incr("jobs.enqueued")
        if accepted.intake is Intake.NEXT and accepted.replaced is None:
            txn.incr("jobs.parked")  # waits outside the queue: counted in depth()
        if accepted.replaced is not None:
            same = accepted.replaced.head_sha == job.head_sha
            txn.incr("jobs.coalesced" if same else "jobs.superseded")

    def depth(self) -> int:
        """Jobs waiting: queued, retries waiting for their time, and jobs parked behind another
        review of their pull request (superseded ones included)."""
        stored = self.store.counters()
        parked = stored.get("jobs.parked", 0) - stored.get("jobs.unparked", 0)
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count()) + max(0, parked)

    def settled(self) -> bool:
        """Nothing left to do: no job queued, scheduled for a retry or waiting for its pull
        request, and none holding a lease (running, or given up by a worker that died).

        Only a new delivery changes that, which makes it the condition to wait for before
        asserting that something did not happen (a duplicate review, a further retry). A message
        huey has handed to a worker thread and the worker has not claimed yet is invisible here
        for the instant in between."""
        return self.depth() == 0 and not self.store.expired_leases(KIND_JOB, float("inf"), 1)

    # -- for workers and /metrics -------------------------------------------------------------

    def counts(self) -> JobCounts:
        stored = self.store.counters()
        return JobCounts(**{f.name: stored.get(f"jobs.{f.name}", 0) for f in fields(JobCounts)})

    def recover(self, now: float | None = None) -> int:
        """Re-enqueue jobs whose worker stopped renewing their lease; returns how many."""
        now = time.time() if now is None else now
        recovered = 0
        for token in self.store.expired_leases(KIND_JOB, now, _RECOVER_BATCH):
            record = self.store.transact([(KIND_JOB, token)], partial(self._reclaim, token=token, now=now))
            if record is _GONE:
                # The record vanished under its index entry (e.g. a Redis evicting keys): drop
                # the entry so it cannot crowd real work out of every batch.
                self.store.drop_lease(KIND_JOB, token)
                continue
            if record is None:
                continue
            self._requeue(record)
            recovered += 1
        return recovered

    def try_tick(self, name: str, interval: float) -> bool:
        """True at most once per interval across every process on the store (periodic hooks)."""

        def body(txn: Txn) -> bool:
            if txn.get(KIND_TICK, name) is not None:
                return False
            txn.put(KIND_TICK, name, {"at": time.time()}, ttl=interval)
            return True

        return self.store.transact([(KIND_TICK, name)], body)

    def prune(self) -> int:
        return self.store.prune()

    def close(self) -> None:
        self.huey.storage.close()
        pool = getattr(self.huey.storage, "pool", None)
        if pool is not None:
            pool.disconnect()

    # -- the task -----------------------------------------------------------------------------

    def _run_task(self, payload: dict[str, Any], task: Any) -> None:
        claim, message = self._claim(JobMessage.from_payload(payload), int(task.retries))
        if claim.verdict is Verdict.SKIP:
            log.info("skipping a stale copy of job %s", message.token)
        elif claim.verdict is Verdict.WAIT:
            # Debug only: under a burst of deliveries this would be a line per delivery.
            job = message.job
            log.debug("job for %s at %s waits for the review running on it", job.coalesce_key, job.head_sha)
        elif claim.verdict is Verdict.SUPERSEDED:
            log.info("job for %s at %s superseded by a newer push", message.job.coalesce_key, message.job.head_sha)
            self._count("superseded")
        elif claim.verdict is Verdict.SUPERSEDED_STARTED:
            self._count("superseded")
            self._give_up(message, JobSuperseded(f"superseded by a newer push to {message.job.coalesce_key}"))
        elif claim.verdict is Verdict.WORKER_LOST:
            reason = f"the worker stopped mid-run; {claim.attempt - 1} attempt(s) used, none finished"
            self._give_up(message, WorkerLost(reason))
        else:
            self._attempt(message, claim.attempt, task)

    def _heartbeat(self, message: JobMessage) -> _Heartbeat:
        return _Heartbeat(lambda: self._renew(message), self.settings.lease_seconds / 3, message.token)

    def _attempt(self, message: JobMessage, attempt: int, task: Any) -> None:
        # The heartbeat covers the handler and the give-up hook (both may be slow), and stops
        # before the record changes, so no renewal lands after the job is finished or deferred.
        with self._heartbeat(message):
            error = self._call_handler(message)
            final = error is not None and (attempt >= self.settings.max_attempts or task.retries <= 0)
            if error is not None and final:
                log.error("job %s failed on its last attempt (%d)", message.token, attempt, exc_info=error)
                self._call_give_up_hook(message, error)
        if error is None:
            self._finish(message, "succeeded")
        elif final:
            self._finish(message, "given_up")
            # Returning (not raising) keeps huey from retrying a job given up on.
        else:
            # Keep the lease past the retry's due time: a crash before huey schedules the retry
            # is then recovered, and the retry, when it comes, claims the same generation.
            self._defer(message, float(task.retry_delay))
            raise error

    def _call_handler(self, message: JobMessage) -> Exception | None:
        try:
            self._handler(message.job)
        except Exception as exc:  # BaseException (a dying worker) passes: the lease recovers it
            self._count("failed")
            return exc
        return None

    def _give_up(self, message: JobMessage, exc: BaseException) -> None:
        with self._heartbeat(message):
            self._call_give_up_hook(message, exc)
        self._finish(message, "given_up")

    def _call_give_up_hook(self, message: JobMessage, exc: BaseException) -> None:
        try:
            self._on_give_up(message.job, exc)
        except Exception:
            log.exception("on_give_up failed for job %s", message.token)

    # -- record transactions ------------------------------------------------------------------

    def _claim(self, message: JobMessage, retries: int) -> tuple[Claim, JobMessage]:
        """The claim's verdict, and the message to act on: the pull request's queued message
        comes back carrying the newest job merged into it."""
        key = message.job.coalesce_key

        def body(txn: Txn) -> tuple[Claim, JobMessage]:
            stored = HeadRecord.from_dict(txn.get(KIND_HEAD, key))
            head, current = take_queued(stored, message)
            claim, new = decide_claim(
                JobRecord.from_dict(txn.get(KIND_JOB, message.token)),
                head,
                current,
                now=time.time(),
                lease_seconds=self.settings.lease_seconds,
                max_attempts=self.settings.max_attempts,
            )
            if new is not None:
                txn.put(KIND_JOB, message.token, new.to_dict(), lease=new.lease)
            changed = head if head is not stored else None
            if claim.verdict is Verdict.WAIT:
                changed = park(head, current, retries)
                txn.incr("jobs.parked")
            elif claim.verdict in (Verdict.RUN, Verdict.SUPERSEDED_STARTED, Verdict.WORKER_LOST):
                if head is None or head.running != message.token:
                    changed = hold(head, current)
                if claim.verdict is Verdict.RUN:
                    txn.incr("jobs.started")
            if changed is not None:
                txn.put(KIND_HEAD, key, changed.to_dict(), ttl=self.settings.head_ttl)
            return claim, current

        keys = [(KIND_JOB, message.token), (KIND_HEAD, key)]
        return self.store.transact(keys, body)

    def _update_own(
        self,
        message: JobMessage,
        change: Callable[[JobRecord], JobRecord | None],
        count: str | None = None,
        *,
        release: bool = False,
    ) -> bool:
        """Apply change to this message's record if the message still owns it (same generation);
        `count` names a counter bumped in the same transaction either way; `release` lets go of
        the pull request (with the change applied) and puts the jobs parked behind it back."""
        key = message.job.coalesce_key

        def body(txn: Txn) -> bool:
            if count is not None:
                txn.incr(f"jobs.{count}")
            record = JobRecord.from_dict(txn.get(KIND_JOB, message.token))
            if record is None or record.gen != message.gen or record.state is JobState.DONE:
                return False
            new = change(record)
            if new is None:
                return False
            ttl = self.settings.done_ttl if new.state is JobState.DONE else None
            txn.put(KIND_JOB, message.token, new.to_dict(), ttl=ttl, lease=new.lease)
            if release:
                head = HeadRecord.from_dict(txn.get(KIND_HEAD, key))
                free = let_go(head, message.token)
                if head is not None and free is not None:
                    for entry in head.waiting:
                        task = self._task.s(entry["payload"], retries=int(entry["retries"]))
                        txn.enqueue(self.huey.serialize_task(task))
                    if head.next is not None:
                        txn.enqueue(self.huey.serialize_task(self._task.s(head.next.message().to_payload())))
                    unparked = len(head.waiting) + (head.next is not None)
                    if unparked:
                        txn.incr("jobs.unparked", unparked)
                    txn.put(KIND_HEAD, key, free.to_dict(), ttl=self.settings.head_ttl)
            return True

        keys = [(KIND_JOB, message.token), (KIND_HEAD, key)] if release else [(KIND_JOB, message.token)]
        return self.store.transact(keys, body)

    def _renew(self, message: JobMessage) -> bool:
        lease = time.time() + self.settings.lease_seconds

        def extend(record: JobRecord) -> JobRecord | None:
            if record.state is not JobState.RUNNING:
                return None
            # Only ever extend: a longer lease set by _defer must survive a late renewal.
            return replace(record, lease=max(lease, record.lease or 0.0))

        return self._update_own(message, extend)

    def _defer(self, message: JobMessage, delay: float) -> None:
        lease = time.time() + delay + self.settings.lease_seconds
        self._update_own(message, lambda r: replace(r, lease=lease), "retried", release=True)

    def _finish(self, message: JobMessage, outcome: str) -> None:
        done = partial(replace, state=JobState.DONE, lease=None)
        if not self._update_own(message, done, outcome, release=True):
            log.warning("job %s finished after another worker took it over", message.token)

    def _reclaim(self, txn: Txn, *, token: str, now: float) -> JobRecord | _Gone | None:
        record = JobRecord.from_dict(txn.get(KIND_JOB, token))
        if record is None:
            return _GONE
        if record.state not in (JobState.RUNNING, JobState.RECOVERING):
            return None
        if record.lease is None or record.lease > now:
            return None  # renewed since the scan
        # Keep a lease while re-enqueueing: if this process dies before the message is out,
        # the next recovery picks the job up again.
        new = replace(record, gen=record.gen + 1, state=JobState.RECOVERING, lease=now + self.settings.lease_seconds)
        txn.put(KIND_JOB, token, new.to_dict(), lease=new.lease)
        return new

    def _requeue(self, record: JobRecord) -> None:
        message = JobMessage(record.token, record.seq, record.gen, ReviewJob.from_dict(record.job))
        retries = max(0, self.settings.max_attempts - record.attempts - 1)
        self.huey.enqueue(self._task.s(message.to_payload(), retries=retries))

        def queued(r: JobRecord) -> JobRecord | None:
            # Only if no worker has claimed the new copy yet (claiming makes it RUNNING).
            return replace(r, state=JobState.QUEUED, lease=None) if r.state is JobState.RECOVERING else None

        self._update_own(message, queued)
        self._count("recovered")
        log.warning("re-enqueued job %s for %s after its worker stopped", record.token, message.job.coalesce_key)

    def _count(self, name: str) -> None:
        try:
            self.store.incr(f"jobs.{name}")
        except Exception:  # metrics must never fail a job
            log.exception("counting %s failed", name)


def build_queue(
    settings: object,
    handler: JobHandler,
    *,
    on_give_up: GiveUpHook | None = None,
) -> HueyJobQueue:
    """The queue for these settings (a QueueSettings or any settings object, see from_object).

    Both the web process (to enqueue) and each worker process (to run) call this; the worker's
    handler is the one that runs. The web process may pass any handler, it is never called there
    unless that process also runs an embedded consumer.
    """
    return HueyJobQueue(QueueSettings.from_object(settings), handler, on_give_up)
