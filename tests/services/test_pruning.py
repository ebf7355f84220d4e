"""Old bookkeeping is pruned: skipped scheduler rows and webhook deliveries after a configurable
number of days; real runs and everything newer stay."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from store import clock
from store.database import db
from store.models import SyncRun, WebhookDelivery
from store.outcomes import DeliveryOutcome, SkipReason, SyncStatus, SyncTrigger


def add_history(app, days_ago: int) -> None:
    at = clock.now() - timedelta(days=days_ago)
    with app.app_context():
        db.session.add_all(
            [
                SyncRun(trigger=SyncTrigger.SCHEDULER, status=SyncStatus.SKIPPED, started_at=at,
                        finished_at=at, outcome=SkipReason.RAN_ELSEWHERE, tick=at),
                SyncRun(trigger=SyncTrigger.SCHEDULER, status=SyncStatus.SUCCEEDED,
                        started_at=at, finished_at=at),
                WebhookDelivery(received_at=at, event="invitee.created", signature_valid=True,
                                outcome=DeliveryOutcome.APPLIED),
            ]
        )  # fmt: skip
        db.session.commit()


def remaining(app):
    with app.app_context():
        runs = db.session.scalars(select(SyncRun.status).order_by(SyncRun.id)).all()
        deliveries = db.session.scalar(select(db.func.count(WebhookDelivery.id)))
        return runs, deliveries


def test_old_skips_and_deliveries_are_pruned_runs_and_recent_rows_stay(make_app):
    app = make_app(PRUNE_AFTER_DAYS=30)
    add_history(app, days_ago=45)
    add_history(app, days_ago=3)
    result = app.test_cli_runner().invoke(args=["maintenance", "prune"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 skipped sync runs and 1 webhook deliveries" in result.output
    runs, deliveries = remaining(app)
    assert runs == ["succeeded", "skipped", "succeeded"]
    assert deliveries == 1


def test_the_scheduler_prunes_by_itself(make_app):
    from services import scheduler

    make_app()  # the schema exists before the scheduler's threads look at it
    app = make_app(PRUNE_AFTER_DAYS=7, SCHEDULER_ENABLED=True, SCHEDULER_WATCH_SECONDS=0.2)
    add_history(app, days_ago=8)
    running = scheduler.init_scheduler(app)
    try:
        deadline = time.monotonic() + 10
        while remaining(app) != (["succeeded"], 0) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        running.shutdown(wait=True)
    assert remaining(app) == (["succeeded"], 0)
