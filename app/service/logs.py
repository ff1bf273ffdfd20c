"""Structured logs: one JSON object per line, for the web server, the worker and gunicorn itself.

Every line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; a record carrying
context as attributes (``logger.info(..., extra={"delivery_id": ...})``, as app.service.webhook does)
also gets those fields. Only the names in ``CONTEXT_FIELDS`` are copied: a fixed set keeps log
schemas stable and keeps arbitrary objects (or secrets passed by mistake) out of the output.

``IMAGE_REVIEW_LOG_LEVEL`` (default ``INFO``) and ``IMAGE_REVIEW_LOG_FORMAT`` (``json``, the
default, or ``text`` for a terminal) tune it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

LEVEL_VARIABLE = "IMAGE_REVIEW_LOG_LEVEL"
FORMAT_VARIABLE = "IMAGE_REVIEW_LOG_FORMAT"

# Record attributes copied into the JSON object when present (and not None).
CONTEXT_FIELDS = (
    "delivery_id",
    "event",
    "action",
    "repo",
    "pr",
    "head_sha",
    "installation_id",
    "rerun",
    "attempt",
    "outcome",
    "duration_ms",
    # gunicorn access log
    "method",
    "path",
    "status",
    "bytes",
    "remote_addr",
    "user_agent",
)

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_MARK = "_image_review_handler"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (never raises: an odd value becomes its repr)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None and value != "":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=repr, ensure_ascii=False)


def _iso_time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_level(env: Mapping[str, str] | None = None) -> int:
    """The level named by IMAGE_REVIEW_LOG_LEVEL; an unknown name falls back to INFO."""
    raw = (env if env is not None else os.environ).get(LEVEL_VARIABLE, "").strip().upper()
    level = logging.getLevelName(raw) if raw else logging.INFO
    return level if isinstance(level, int) else logging.INFO


def wants_json(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(FORMAT_VARIABLE, "json").strip().lower() != "text"


def make_formatter(env: Mapping[str, str] | None = None) -> logging.Formatter:
    return JsonFormatter() if wants_json(env) else logging.Formatter(_TEXT_FORMAT)


def configure_logging(
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) as JSON lines; safe to call twice.

    Only the handler installed here is replaced on a second call; handlers added by others
    (a test's log capture) stay.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(env))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(log_level(env))
    return handler
