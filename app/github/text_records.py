"""Expiring text records by key, in a SQLite file or on Redis: what the review memory and the
staging loop's memory keep between runs (each serialises its own record to JSON)."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path


class SqliteTextRecords:
    """A table in a SQLite file, shared by every process on the host; records expire after ``ttl``."""

    def __init__(self, path: Path, table: str, ttl: float) -> None:
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(f"not a table name: {table!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._table = table
        self._ttl = ttl
        self._local = threading.local()
        with self._connect() as db:
            db.execute(f"create table if not exists {table} (key text primary key, value text not null, "
                       "expires real not null)")

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30.0)
            db.execute("pragma journal_mode=wal")
            self._local.db = db
        return db

    def get(self, key: str) -> str | None:
        row = self._connect().execute(f"select value from {self._table} where key = ? and expires > ?",
                                      (key, time.time())).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, text: str) -> None:
        with self._connect() as db:
            db.execute(f"insert into {self._table} (key, value, expires) values (?, ?, ?) on conflict (key) do update "
                       "set value = excluded.value, expires = excluded.expires", (key, text, time.time() + self._ttl))


class RedisTextRecords:
    """One Redis key per record, under ``prefix``, expiring after ``ttl``."""

    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        import redis

        self._conn = redis.Redis.from_url(url)
        self._prefix = prefix
        self._ttl_ms = int(ttl * 1000)

    def get(self, key: str) -> str | bytes | None:
        raw = self._conn.get(self._prefix + key)
        if raw is None or isinstance(raw, str | bytes):
            return raw
        raise TypeError(f"unexpected value type from Redis: {type(raw).__name__}")

    def put(self, key: str, text: str) -> None:
        self._conn.set(self._prefix + key, text, px=self._ttl_ms)
