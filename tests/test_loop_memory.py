"""The staging loop's memory: the same record back from each store, across store instances."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis_server import RedisServerMissing, start_redis_server

from app.github.loop_memory import (
    LocalLoopStore,
    LoopMemory,
    LoopStore,
    RedisLoopStore,
    SqliteLoopStore,
    SwitchBackMemory,
)

RECORD = LoopMemory(dashboard_number=12, dashboard_open=True, dashboard_digest="d" * 64,
                    switch_backs={"image-review/switch-back/etcd-manager": SwitchBackMemory(13, "c" * 40, "e" * 64)},
                    notes=["31:release-available:gcr.io/k8s-staging-etcdadm/etcd-manager"])


def roundtrip(first: LoopStore, second: LoopStore) -> None:
    assert first.load("octo-org/kops") is None
    first.save("octo-org/kops", RECORD)
    assert second.load("octo-org/kops") == RECORD
    assert second.load("octo-org/other") is None


def test_local_store_keeps_a_copy() -> None:
    store = LocalLoopStore()
    roundtrip(store, store)
    loaded = store.load("octo-org/kops")
    assert loaded is not None
    loaded.notes.append("changed")
    assert store.load("octo-org/kops") == RECORD


def test_sqlite_store_is_shared_by_instances_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "staging-loop.sqlite3"
    roundtrip(SqliteLoopStore(path), SqliteLoopStore(path))


def test_redis_store_is_shared_by_instances_on_one_server(tmp_path: Path) -> None:
    try:
        server = start_redis_server(tmp_path / "redis")
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        roundtrip(RedisLoopStore(server.url), RedisLoopStore(server.url))
    finally:
        server.stop()
