"""How long a web request waits for a busy database: a few seconds, never until gunicorn kills
the worker. Past the limit the query fails, and errors.py answers 503 with Retry-After.

PostgreSQL: `lock_timeout` and `statement_timeout` for each transaction of the request. SQLite:
the busy timeout (its only wait). Downloads (views marked `@download`) may run statements for
longer. Threads a request starts (the sync of "Sync now") keep their own limits: these are set
for the request's thread only.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from store import database

DOWNLOAD_MARK = "long_download"


def download(view):
    """Mark `view` as a download (CSV, XLSX) whose statements may take longer than a page's."""
    setattr(view, DOWNLOAD_MARK, True)
    return view


def init_app(app: Flask) -> None:
    """Limit the database waits of every request to the configured seconds."""
    app.before_request(_limit_waits)
    app.teardown_request(_end_limits)


def _limit_waits() -> None:
    config = current_app.config
    view = current_app.view_functions.get(request.endpoint)
    statement = config["WEB_DB_STATEMENT_TIMEOUT_SECONDS"]
    if getattr(view, DOWNLOAD_MARK, False):
        statement = config["DOWNLOAD_DB_STATEMENT_TIMEOUT_SECONDS"]
    database.set_wait_limits(
        database.WaitLimits(
            lock_seconds=config["WEB_DB_LOCK_TIMEOUT_SECONDS"], statement_seconds=statement
        )
    )


def _end_limits(_error=None) -> None:
    # The thread serves other work next (gunicorn's worker thread, a test's thread).
    database.set_wait_limits(None)
