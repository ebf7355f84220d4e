"""Housekeeping: bookkeeping rows that only matter for a while are deleted when they are old.

Skipped scheduler runs (one per tick per process) and webhook deliveries grow without end
otherwise. Real sync runs stay: they are the history the admins read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete

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

    @property
    def total(self) -> int:
        return self.skipped_runs + self.deliveries


def prune(now: datetime | None = None) -> Pruned:
    """Delete skipped runs and webhook deliveries older than PRUNE_AFTER_DAYS (app context)."""
    cutoff = (now or clock.now()) - timedelta(days=current_app.config["PRUNE_AFTER_DAYS"])
    with write_connection(db.engine) as conn, conn.begin():
        runs = conn.execute(
            delete(SyncRun).where(SyncRun.status == SyncStatus.SKIPPED, SyncRun.started_at < cutoff)
        ).rowcount
        deliveries = conn.execute(
            delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff)
        ).rowcount
    pruned = Pruned(runs, deliveries)
    if pruned.total:
        log.info("pruned %d skipped sync runs and %d webhook deliveries", runs, deliveries)
    return pruned


def prune_if_due() -> int:
    """`prune()` unless this process did so within PRUNE_EVERY; the number of rows deleted."""
    now = clock.now()
    last = current_app.extensions.get(_LAST_PRUNE)
    if last is not None and now - last < PRUNE_EVERY:
        return 0
    current_app.extensions[_LAST_PRUNE] = now
    return prune(now).total
