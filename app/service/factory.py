"""image-review: reviews pull requests for container-image changes.

``create_app()`` is the Flask factory. Flask and the web modules are imported inside it, so that
importing the analysis modules (``app.core.references``, ``app.core.diffs``, ...) from the CLI does not pull
in the web stack.
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.jobs.model import JobQueue, ReviewJob
    from app.service.runtime import EmbeddedConsumer
    from app.service.settings import Settings

CONSUMER_KEY = "image_review.consumer"

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    queue: JobQueue | None = None,
    *,
    consumer_threads: int = 0,
    configure_logs: bool = False,
    access_log: bool = False,
) -> Flask:
    """Build the web app: settings (from os.environ when not given), the webhook blueprint, the
    queue, and ``GET /metrics``.

    A queue passed in is used as it is. By default this function starts no threads of its own;
    with ``consumer_threads > 0`` and the embedded store (no Redis URL) this process competes to
    run the embedded consumer (see app.service.runtime), stopped by ``stop_consumer(app)`` or at exit.
    ``configure_logs`` sends this process's logs to stderr as JSON lines (app.service.logs).
    ``access_log`` says the server writes an access line per request that adds the receiver's
    decision (gunicorn with app.service.gunicorn_conf.JsonLogger): routine decisions go there.
    """
    from flask import Flask

    from app.service import metrics
    from app.service.settings import Settings
    from app.service.webhook import EXTENSION_KEY, AppState, webhook_blueprint

    if configure_logs:
        from app.service.logs import configure_logging

        configure_logging()
    settings = settings if settings is not None else Settings.from_env(os.environ)
    if queue is None:
        queue = _default_queue(settings)
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = AppState(settings=settings, queue=queue, access_log=access_log)
    app.register_blueprint(webhook_blueprint())
    metrics.install(app, queue)
    if consumer_threads > 0 and not settings.redis_url:
        app.extensions[CONSUMER_KEY] = _start_consumer(settings, consumer_threads)
    return app


def stop_consumer(app: Flask) -> None:
    """Stop the embedded consumer this app started, if any (idempotent)."""
    consumer: EmbeddedConsumer | None = app.extensions.pop(CONSUMER_KEY, None)
    if consumer is not None:
        consumer.stop()


def _start_consumer(settings: Settings, threads: int) -> EmbeddedConsumer:
    from app.service.runtime import EmbeddedConsumer

    consumer = EmbeddedConsumer(settings, threads=threads)
    consumer.start()
    # A host that does not call stop_consumer (a plain WSGI server) still stops it on exit.
    atexit.register(consumer.stop)
    return consumer


def _default_queue(settings: Settings) -> JobQueue:
    """The durable queue the settings describe (SQLite in the data dir, or Redis).

    The web app only enqueues: jobs run in the consumer (app.service.runtime) or in worker processes, each
    with a queue of its own built with the review handler, so the handler given here is never called.
    """
    from app.jobs.huey_queue import build_queue
    from app.service.runtime import queue_settings

    return build_queue(queue_settings(settings), _runs_in_worker)


def _runs_in_worker(job: ReviewJob) -> None:
    raise RuntimeError(f"review jobs run in the worker process, not the web process ({job.coalesce_key})")
