"""gunicorn for ``image-review serve``: the options, the server hooks and JSON logging.

Choices, and why:

* ``preload_app = False``: each worker builds the app after the fork. The app opens the queue's
  store (an SQLite connection or a Redis pool), which must not be shared across processes, and
  one worker may start consumer threads, which must never exist in a process that forks. The
  cost is a second or so of imports per worker at start.
* workers: ``2 × CPUs + 1`` (the CPUs this process may run on), at most ``MAX_WORKERS``: the
  receiver only verifies and enqueues, so more processes than that buy nothing but memory.
  ``--workers`` or ``WEB_CONCURRENCY`` override it.
* ``gthread`` workers with a few threads: requests are short, but a slow client (or a 25 MB
  payload on a slow link) must not hold a whole process.
* ``timeout = 30``: GitHub gives up on a delivery after 10 s, so a request still running at 30 s
  is stuck. ``graceful_timeout = 30`` covers the embedded consumer's shutdown (25 s for running
  jobs); what it cuts short is recovered by the queue's leases.
* logs: the error log and the access log as JSON lines (``JsonLogger``). A webhook delivery's
  access line also carries the receiver's decision ("review of #12 queued", repository, pull
  request, head): one line per delivery, not two.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from app.service.logs import make_formatter
from app.service.webhook import DECISION_KEY, Decision

if TYPE_CHECKING:
    from flask import Flask

    from app.service.settings import Settings

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
MAX_WORKERS = 8
DEFAULT_THREADS = 4
TIMEOUT = 30
GRACEFUL_TIMEOUT = 30
KEEPALIVE = 5


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours CPU pinning (taskset, cpusets)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(cpus: int | None = None) -> int:
    cpus = cpu_count() if cpus is None else cpus
    return max(2, min(2 * cpus + 1, MAX_WORKERS))


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def options(*, host: str, port: int, workers: int, threads: int, log_level: str = "info") -> dict[str, Any]:
    """gunicorn settings for serve (names as in gunicorn's documentation)."""
    opts: dict[str, Any] = {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": KEEPALIVE,
        "preload_app": False,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": log_level,
        "logger_class": JsonLogger,
        "proc_name": "image-review",
        "worker_exit": worker_exit,
        "child_exit": child_exit,
    }
    # The workers' heartbeat files: on a memory file system a busy or read-only disk cannot
    # make gunicorn think its workers hung.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        opts["worker_tmp_dir"] = "/dev/shm"
    return opts


def prepare_metrics_dir(data_dir: Path) -> Path:
    """Point prometheus_client's multiprocess mode at an empty directory (before any worker starts).

    ``PROMETHEUS_MULTIPROC_DIR`` is used when set, else ``<data dir>/prometheus``. Values left by
    an earlier run are removed: counters restart with the server, as Prometheus expects.
    """
    configured = os.environ.get(MULTIPROC_VARIABLE)
    path = Path(configured) if configured else data_dir / "prometheus"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_VARIABLE] = str(path)
    return path


# ---------------------------------------------------------------------------------------------
# Server hooks


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, as it exits: stop the embedded consumer if this worker runs it."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from app.service.factory import stop_consumer

        stop_consumer(app)


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker is gone: drop its live-gauge files (prometheus_client's rule)."""
    if os.environ.get(MULTIPROC_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------------------------
# Logging


class JsonLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's logger with JSON lines for both its error log and its access log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = make_formatter()
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        status = resp.status
        code = int(str(status).split(None, 1)[0]) if status else 0
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "-")
        decision = environ.get(DECISION_KEY)
        fields = dict(decision.fields) if isinstance(decision, Decision) else {}
        fields |= {
            "method": method,
            "path": path,
            "status": code,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "delivery_id": environ.get("HTTP_X_GITHUB_DELIVERY"),
            "event": environ.get("HTTP_X_GITHUB_EVENT"),
        }
        try:
            if isinstance(decision, Decision):
                self.access_log.info("%s %s %s: %s", method, path, code, decision.message, extra=fields)
            else:
                self.access_log.info("%s %s %s", method, path, code, extra=fields)
        except Exception:  # an access log line must never fail a request
            self.error_log.exception("access log failed")


# ---------------------------------------------------------------------------------------------
# The application


class ServeApplication(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn run as a library, serving ``create_app()`` with settings validated beforehand."""

    def __init__(self, settings: Settings, opts: dict[str, Any], *, consumer_threads: int) -> None:
        self.settings = settings
        self.opts = opts
        self.consumer_threads = consumer_threads
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.opts.items():
            self.cfg.set(key, value)
        # gunicorn >= 25 opens a control socket under $HOME by default: not wanted in a container
        # (a read-only or missing home), and serve is managed by signals.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        from app.service.factory import create_app

        # Runs in each worker after the fork (preload_app is off).
        return create_app(
            self.settings,
            consumer_threads=self.consumer_threads,
            configure_logs=True,
            access_log=bool(self.cfg.accesslog),
        )


def log_level_name() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
