"""image-review: reviews pull requests for container-image changes.

``create_app()`` is the Flask factory. Flask and the web modules are imported inside it, so that
importing the analysis modules (``app.references``, ``app.diffs``, ...) from the CLI does not pull
in the web stack.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.jobs import JobQueue, ReviewJob
    from app.settings import Settings


def create_app(settings: Settings | None = None, queue: JobQueue | None = None) -> Flask:
    """Build the web app: settings (from os.environ when not given), the webhook blueprint, the queue.

    A queue passed in is used as it is; this function starts no threads of its own.
    """
    from flask import Flask

    from app.settings import Settings
    from app.webhook import EXTENSION_KEY, AppState, webhook_blueprint

    settings = settings if settings is not None else Settings.from_env(os.environ)
    if queue is None:
        queue = _default_queue(settings)
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = AppState(settings=settings, queue=queue)
    app.register_blueprint(webhook_blueprint())
    return app


def _default_queue(settings: Settings) -> JobQueue:
    """The durable queue the settings describe (SQLite in the data dir, or Redis).

    The web process only enqueues: jobs run in the worker processes, so the handler given here
    is never called.
    """
    from app.queue_huey import build_queue

    return build_queue(settings, _runs_in_worker)


def _runs_in_worker(job: ReviewJob) -> None:
    raise RuntimeError(f"review jobs run in the worker process, not the web process ({job.coalesce_key})")
