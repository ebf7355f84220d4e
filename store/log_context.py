"""What every log line carries, whichever layer logs it: the id of the web request, of the sync
run and of the webhook delivery being handled (context variables), and the JSON lines that
`LOG_FORMAT=json` writes.

Every layer sets and reads the ids through this module; the Calendly connector knows nothing of
it, yet its lines carry the ids too, as the formatter reads them. A thread starts with empty
context variables: a thread that works for a request or a run is started with `carried(...)`.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
sync_run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "sync_run_id", default=None
)
delivery_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "delivery_id", default=None
)
_IDS = {"request_id": request_id, "sync_run_id": sync_run_id, "delivery_id": delivery_id}

FORMATS = ("text", "json")
# Today's human-readable lines (LOG_FORMAT=text, the default).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def checked_format(value: str | None) -> str:
    """`value` as a LOG_FORMAT ("text" when empty); ValueError when it is none of FORMATS."""
    log_format = (value or "text").strip().lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {value!r}")
    return log_format


def new_id() -> str:
    """A fresh id for a request or a delivery: 32 hex digits."""
    return uuid.uuid4().hex


@contextmanager
def bound(**ids) -> Iterator[None]:
    """Let every line logged inside the block carry `ids` (request_id, sync_run_id,
    delivery_id), then restore what was there before."""
    tokens = [(_IDS[name], _IDS[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def carried(target: Callable[[], object]) -> Callable[[], object]:
    """`target`, to run in another thread with the ids it is started under (a request's id
    reaches the sync thread the request starts)."""
    return functools.partial(contextvars.copy_context().run, target)


def current_ids() -> dict:
    """The ids in force here: request_id, sync_run_id, delivery_id (None where none applies)."""
    return {name: var.get() for name, var in _IDS.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the ids, and an
    exception as one field (its traceback as a string), never as lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **current_ids(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _AppHandler(logging.StreamHandler):
    """The root handler `configure` installs (and replaces when called again)."""


def configure(log_format: str, *, stream=None, level: int = logging.INFO) -> logging.Handler:
    """Send every logger's lines to `stream` (stderr) as `log_format` ("text" or "json"),
    replacing a handler installed by an earlier call; returns the handler."""
    log_format = checked_format(log_format)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _AppHandler)]:
        root.removeHandler(old)
    handler = _AppHandler(stream or sys.stderr)
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def gunicorn_logconfig() -> dict:
    """gunicorn's `logconfig_dict` for LOG_FORMAT=json: gunicorn's own lines (master, workers:
    stderr; access log: stdout) as JSON lines too. The app's lines reach the handler
    `configure` gives the root logger; gunicorn's do not, so none is written twice."""

    def stream(name: str) -> dict:
        return {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": f"ext://sys.{name}",
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
        "handlers": {"stderr": stream("stderr"), "stdout": stream("stdout")},
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
    }
