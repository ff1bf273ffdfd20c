"""A throwaway redis-server for tests: loopback only, a free port, its own temp dir, stopped after.

The server comes from the Debian package `redis-server` (CI installs it). Without it the tests
that need Redis fail with that instruction rather than skip: a skipped backend is an untested one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from ports import free_port

_CANDIDATES = ("redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server")
_PORT_ATTEMPTS = 5


class RedisServerMissing(RuntimeError):
    pass


def find_redis_server() -> str:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RedisServerMissing(
        "redis-server not found: the Redis-backed tests need a real server. "
        "Install the Debian package: apt-get install -y redis-server"
    )




@dataclass
class RedisServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        path = self.directory / "redis.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _wait_ready(server: RedisServer, deadline: float) -> bool:
    """True once the server answers PING; False if it exited (e.g. the port was taken)."""
    client = redis.Redis(host="127.0.0.1", port=server.port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        raise TimeoutError(f"redis-server on port {server.port} did not answer in time:\n{server.log_tail()}")
    finally:
        client.close()


def start_redis_server(directory: Path, *, timeout: float = 10.0) -> RedisServer:
    """Start a server persisting (AOF) into directory; the caller must stop() it."""
    executable = find_redis_server()
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    for _ in range(_PORT_ATTEMPTS):
        port = free_port()
        process = subprocess.Popen(
            [
                executable,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--dir", str(directory),
                "--logfile", str(directory / "redis.log"),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server = RedisServer(port, directory, process)
        try:
            if _wait_ready(server, deadline):
                return server
        except BaseException:
            server.stop()
            raise
        server.stop()  # exited early: another process took the port between probe and bind
    raise RuntimeError(f"redis-server would not start after {_PORT_ATTEMPTS} ports:\n{server.log_tail()}")


@contextmanager
def running_redis_server(directory: Path) -> Iterator[RedisServer]:
    server = start_redis_server(directory)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def optional_redis_url(wanted: bool, directory: Path) -> Iterator[str | None]:
    """A running redis-server's URL when wanted and installed, else None (benchmarks then skip it)."""
    if not wanted:
        yield None
        return
    try:
        server = start_redis_server(directory)
    except RedisServerMissing:
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()
