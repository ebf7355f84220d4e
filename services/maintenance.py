"""Housekeeping: bookkeeping rows that only matter for a while are deleted when they are old.

Skipped scheduler runs (one per tick per process) and webhook deliveries grow without end
otherwise. Real sync runs stay: they are the history the admins read. Audit log entries go after
AUDIT_KEEP_DAYS (services/audit.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete

from services import audit
from store import clock
from store.database import db, write_connection
from store.models import SyncRun, WebhookDelivery
from store.outcomes import SyncStatus

log = logging.getLogger(__name__)

# Pruning is cheap but not free: each process does it at most this often.
PRUNE_EVERY = timedelta(hours=1)
_LAST_PRUNE = "maintenance_last_prune"


@dataclass(frozen=True)
class Pruned:
    skipped_runs: int
    deliveries: int
    audit_entries: int = 0

    @property
    def total(self) -> int:
        return self.skipped_runs + self.deliveries + self.audit_entries


def prune(now: datetime | None = None) -> Pruned:
    """Delete skipped runs and webhook deliveries older than PRUNE_AFTER_DAYS, and audit log
    entries older than AUDIT_KEEP_DAYS (app context)."""
    now = now or clock.now()
    cutoff = now - timedelta(days=current_app.config["PRUNE_AFTER_DAYS"])
    with write_connection(db.engine) as conn, conn.begin():
        runs = conn.execute(
            delete(SyncRun).where(SyncRun.status == SyncStatus.SKIPPED, SyncRun.started_at < cutoff)
        ).rowcount
        deliveries = conn.execute(
            delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff)
        ).rowcount
        entries = audit.prune(conn, now)
    pruned = Pruned(runs, deliveries, entries)
    if pruned.total:
        log.info(
            "pruned %d skipped sync runs, %d webhook deliveries and %d audit log entries",
            runs,
            deliveries,
            entries,
        )
    return pruned


def prune_if_due() -> int:
    """`prune()` unless this process did so within PRUNE_EVERY; the number of rows deleted."""
    now = clock.now()
    last = current_app.extensions.get(_LAST_PRUNE)
    if last is not None and now - last < PRUNE_EVERY:
        return 0
    current_app.extensions[_LAST_PRUNE] = now
    return prune(now).total
