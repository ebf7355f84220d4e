"""What monitoring asks of the app: does the database answer (readiness), and how are the sync,
the token and the webhook subscription doing (`operations_status`, for admins and alerts).

Everything here is cheap and local: it reads the database, never Calendly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from services import queries, settings
from services import webhook_subscriptions as hooks
from services.secrets import TokenVaultError
from store import clock
from store.database import busy_reason, probe_engine
from store.models import Lease
from store.outcomes import RunProblem, SyncStatus

log = logging.getLogger(__name__)

# A readiness probe waits at most this long for the database.
READINESS_SECONDS = 1.0
# One statement that needs the database file or server and the app's schema, and nothing more.
READINESS_QUERY = f"SELECT 1 FROM {Lease.__tablename__} LIMIT 1"
# Where an app keeps its probe engine (app.extensions).
PROBE_ENGINE = "readiness_engine"
_probe_lock = threading.Lock()

# Token states: none configured, stored but undecryptable (the key changed), refused (401) or
# lacking a scope (403) by the last run, else usable as far as the app knows.
TOKEN_MISSING = "missing"
TOKEN_UNREADABLE = "unreadable"
TOKEN_REFUSED = "refused"
TOKEN_MISSING_SCOPE = "missing_scope"
TOKEN_OK = "ok"
# Webhook subscription states, from the last listing of the subscriptions (settings page,
# dashboard, scheduler): never listed, not in the Calendly plan, this app's subscription
# disabled by Calendly, active but silent while syncs find changes, active, or none of ours.
WEBHOOK_UNKNOWN = "unknown"
WEBHOOK_NOT_IN_PLAN = "not_in_plan"
WEBHOOK_DISABLED = "disabled"
WEBHOOK_SILENT = "silent"
WEBHOOK_ACTIVE = "active"
WEBHOOK_NONE = "none"


@dataclass(frozen=True)
class OperationsStatus:
    """The app's state as monitoring sees it. Only `database` is known when it is False."""

    database: bool
    last_success_at: datetime | None = None
    last_success_age_seconds: int | None = None
    # The newest run that ended: its status and outcome (a RunProblem code when it failed).
    last_run_status: str | None = None
    last_run_outcome: str | None = None
    token: str | None = None
    webhook: str | None = None
    webhook_checked_at: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready: times as ISO 8601 strings."""
        data = asdict(self)
        if self.last_success_at is not None:
            data["last_success_at"] = self.last_success_at.isoformat()
        return data


def database_answers() -> bool:
    """True when the database answers READINESS_QUERY within READINESS_SECONDS: exactly one
    statement, on a connection of its own (needs an app context)."""
    try:
        with _probe().connect() as conn:
            conn.exec_driver_sql(READINESS_QUERY).all()
    except SQLAlchemyError as exc:
        reason = busy_reason(exc) or type(getattr(exc, "orig", None) or exc).__name__
        log.warning("readiness: the database did not answer (%s)", reason)
        return False
    return True


def _probe():
    """This app's probe engine, made on first use (an app serves many requests)."""
    extensions = current_app.extensions
    with _probe_lock:
        if PROBE_ENGINE not in extensions:
            url = current_app.config["SQLALCHEMY_DATABASE_URI"]
            extensions[PROBE_ENGINE] = probe_engine(url, READINESS_SECONDS)
    return extensions[PROBE_ENGINE]


def operations_status(*, database: bool | None = None) -> OperationsStatus:
    """The database, the last successful sync and its age, the token and the webhook
    subscription (needs an app context; asks nothing of Calendly).

    Args:
        database: the result of a `database_answers()` just made; None: probe now.
    """
    if database is None:
        database = database_answers()
    if not database:
        return OperationsStatus(database=False)
    last_success = queries.last_success_at()
    last_run = queries.last_finished_run()
    webhook, checked_at = _webhook_state()
    return OperationsStatus(
        database=True,
        last_success_at=last_success,
        last_success_age_seconds=None
        if last_success is None
        else int((clock.now() - last_success).total_seconds()),
        last_run_status=last_run.status if last_run else None,
        last_run_outcome=last_run.outcome if last_run else None,
        token=_token_state(last_run),
        webhook=webhook,
        webhook_checked_at=checked_at,
    )


def _token_state(last_run) -> str:
    try:
        token = settings.calendly_token()
    except TokenVaultError:
        return TOKEN_UNREADABLE
    if not token:
        return TOKEN_MISSING
    if last_run is not None and last_run.status == SyncStatus.FAILED:
        if last_run.outcome == RunProblem.TOKEN_REFUSED:
            return TOKEN_REFUSED
        if last_run.outcome == RunProblem.PERMISSION_DENIED:
            return TOKEN_MISSING_SCOPE
    return TOKEN_OK


def _webhook_state() -> tuple[str, str | None]:
    warning = hooks.dashboard_warning()
    stored = hooks.health()
    if warning is None or not stored:
        return WEBHOOK_UNKNOWN, None
    checked_at = stored.get("checked_at")
    if stored.get("plan_blocked"):
        return WEBHOOK_NOT_IN_PLAN, checked_at
    if warning.disabled:
        return WEBHOOK_DISABLED, checked_at
    if warning.silent:
        return WEBHOOK_SILENT, checked_at
    if stored.get("ours_active"):
        return WEBHOOK_ACTIVE, checked_at
    return WEBHOOK_NONE, checked_at
