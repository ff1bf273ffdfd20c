"""``image-review serve`` and ``image-review worker``: the App's two processes.

serve: gunicorn serving the webhook receiver, ``/healthz`` and ``/metrics``. With the embedded
store (no ``REDIS_URL``) one of its workers also runs the job consumer (app.service.runtime explains
how exactly one is chosen); with Redis it only enqueues, and ``image-review worker`` processes,
on any number of machines, run the jobs.

worker: the job consumer in a process of its own, with the webhook redelivery every 5 minutes.
It works on the embedded store too (same machine, same data dir), where it runs beside serve's
own consumer: start serve with ``--consumer-threads 0`` to leave the jobs to it.

Both validate the settings first: a bad configuration prints one line per problem and exits 2.
This module imports nothing heavy at import time: ``image-review scan`` stays fast, and
prometheus_client is first imported after serve has chosen its multiprocess directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from app.cli.common import Exit, SubParsers

if TYPE_CHECKING:
    from app.service.settings import Settings

DEFAULT_PORT = 8000
DEFAULT_CONSUMER_THREADS = 2
DEFAULT_WORKER_THREADS = 4

log = logging.getLogger("app.cli")



def _count(minimum: int) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse  # type: ignore[return-value]  # argparse only calls it


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {value}")
    return value


def register_serve(sub: SubParsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the GitHub App's web server (webhooks, /healthz, /metrics)",
        description="Run the GitHub App's web server under gunicorn. Settings come from the environment "
        "(see docs/deploy.md).",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default: $HOST or 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=None, help=f"port (default: $PORT or {DEFAULT_PORT})")
    parser.add_argument(
        "--workers",
        type=_count(1),
        default=None,
        help="gunicorn worker processes (default: $WEB_CONCURRENCY, or 2 x CPUs + 1, at most 8)",
    )
    parser.add_argument("--threads", type=_count(1), default=None, help="threads per worker process (default: 4)")
    parser.add_argument(
        "--consumer-threads",
        type=_count(0),
        default=DEFAULT_CONSUMER_THREADS,
        help="embedded store only: job threads run by one of the workers; 0 leaves jobs to "
        f"`image-review worker` (default: {DEFAULT_CONSUMER_THREADS})",
    )
    parser.set_defaults(func=cmd_serve)


def register_worker(sub: SubParsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "worker",
        help="run review jobs from the queue (Redis to scale out, or the embedded store)",
        description="Run review jobs from the queue until SIGTERM (running jobs get 25 s to finish) or SIGINT. "
        "Settings come from the environment (see docs/deploy.md).",
    )
    parser.add_argument(
        "--threads", type=_count(1), default=DEFAULT_WORKER_THREADS, help="jobs run at once (default: 4)"
    )
    parser.add_argument(
        "--metrics-port",
        type=_count(0),
        default=None,
        help="serve /metrics and /healthz on this port (default: $IMAGE_REVIEW_WORKER_METRICS_PORT, else off)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default: 127.0.0.1)")
    parser.set_defaults(func=cmd_worker)


def load_settings() -> Settings | None:
    """The settings, or None after printing every problem (never a traceback, never a secret)."""
    from app.service.settings import Settings, SettingsError

    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        problems.extend(exc.problems)
    if problems:
        print("image-review: the configuration is not usable:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Every setting is described in docs/deploy.md.", file=sys.stderr)
        return None
    return settings


def _env_int(name: str, default: int, minimum: int) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        print(f"image-review: {name} must be a whole number of at least {minimum}, got {raw!r}", file=sys.stderr)
        return None
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return Exit.USAGE
    from app.service import gunicorn_conf

    port = args.port if args.port is not None else _env_int("PORT", DEFAULT_PORT, 1)
    workers = args.workers if args.workers is not None else _env_int("WEB_CONCURRENCY", 0, 0)
    if port is None or workers is None:
        return Exit.USAGE
    try:
        # Before anything imports prometheus_client: see app.service.metrics.
        metrics_dir = gunicorn_conf.prepare_metrics_dir(settings.data_dir)
    except OSError as exc:
        print(f"image-review: cannot use the data dir {settings.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return Exit.USAGE
    from app.service.logs import configure_logging

    configure_logging()
    host = args.host or os.environ.get("HOST") or "127.0.0.1"
    threads = args.threads or gunicorn_conf.DEFAULT_THREADS
    opts = gunicorn_conf.options(
        host=host,
        port=port,
        workers=workers or gunicorn_conf.default_workers(),
        threads=threads,
        log_level=gunicorn_conf.log_level_name(),
    )
    consumer_threads = 0 if settings.redis_url else args.consumer_threads
    if settings.redis_url:
        where = "Redis; jobs run in `image-review worker` processes"
    elif consumer_threads:
        where = f"embedded store in {settings.data_dir}; one web worker runs {consumer_threads} job thread(s)"
    else:
        where = f"embedded store in {settings.data_dir}; jobs left to `image-review worker`"
    log.info(
        "serving on %s with %d worker(s) x %d thread(s); queue: %s; metrics in %s",
        opts["bind"][0],
        opts["workers"],
        threads,
        where,
        metrics_dir,
    )
    gunicorn_conf.ServeApplication(settings, opts, consumer_threads=consumer_threads).run()
    return Exit.OK


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return Exit.USAGE
    metrics_port = args.metrics_port
    if metrics_port is None:
        metrics_port = _env_int("IMAGE_REVIEW_WORKER_METRICS_PORT", 0, 0)
        if metrics_port is None:
            return Exit.USAGE
    # One process: its metrics stay in memory and are served by its own endpoint. A directory
    # inherited from serve's environment would be emptied whenever serve restarts.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from app.service.logs import configure_logging

    configure_logging()
    from app.jobs.consumer import run_worker
    from app.service import metrics
    from app.service.runtime import build_runtime, store_for

    runtime = build_runtime(settings)
    try:
        queue = store_for(settings, runtime)
        if metrics_port:
            try:
                bound, stop_http = metrics.serve_http(args.metrics_host, metrics_port, queue)
            except OSError as exc:
                where = f"{args.metrics_host}:{metrics_port}"
                print(f"image-review: cannot serve metrics on {where}: {exc.strerror or exc}", file=sys.stderr)
                return Exit.USAGE
            runtime.on_close(stop_http)
            log.info("worker metrics at http://%s:%d/metrics", args.metrics_host, bound)
        backend = "Redis" if settings.redis_url else f"the embedded store in {settings.data_dir}"
        log.info("worker starting with %d thread(s) on %s", args.threads, backend)
        run_worker(
            queue.settings,
            runtime.handle,
            on_give_up=runtime.give_up,
            workers=args.threads,
            periodic=(runtime.redelivery_hook(queue.store), runtime.staging_hook()),
        )
    finally:
        runtime.close()
    log.info("worker stopped")
    return Exit.OK
