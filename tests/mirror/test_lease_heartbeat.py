"""The sync lease is renewed by a heartbeat, whatever the sync is doing: a live sync keeps it
through any stall (a slow Calendly, a 429 to wait out, a busy database), a dead holder loses it
within about two minutes, and a sync whose lease was taken stops writing.

The tests scale the defaults (a 90 s lease renewed every 20 s) down to a 2 s lease renewed
every 0.25 s.
"""

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config import DefaultConfig
from mirror import leases
from mirror.sync import SYNC_LEASE, SyncAlreadyRunning, begin_run
from services.syncing import options_from_settings, sync_from_settings
from store import clock
from store.database import db
from store.models import CalendlyEvent, Lease, SyncRun
from store.outcomes import RunProblem, SyncStatus
from tests.mirror.background import stalled, start_sync, wait_for

THIEF = "other-host:4242:thief"
SHORT_LEASE = {"SYNC_LEASE_SECONDS": 2, "SYNC_LEASE_RENEW_SECONDS": 0.25}


@pytest.fixture
def make_sync_app(make_app, calendly_sim):
    def factory(**config):
        return make_app(
            CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token", **config
        )

    return factory


def test_a_live_sync_stalled_longer_than_its_lease_is_never_robbed(make_sync_app, calendly_sim):
    app = make_sync_app(**SHORT_LEASE)
    # Calendly takes more than two lease lengths to answer the first page; nothing is written
    # meanwhile, so nothing but the heartbeat renews the lease.
    calendly_sim.inject("slow", times=1, path="/scheduled_events", delay=4.5)
    thread, result = start_sync(app)
    try:
        wait_for(lambda: stalled(calendly_sim))
        robbed = []
        with app.app_context():
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline and not robbed:
                if leases.try_acquire(SYNC_LEASE, THIEF, 1):
                    robbed.append(THIEF)
                time.sleep(0.1)
        assert not robbed, "another process took the lease of a live sync"
    finally:
        thread.join(60)
    assert result["status"] == SyncStatus.SUCCEEDED, result


def test_a_sync_whose_lease_was_taken_stops_with_lease_lost_and_writes_nothing(
    make_sync_app, calendly_sim
):
    app = make_sync_app(**SHORT_LEASE)
    calendly_sim.inject("slow", times=1, path="/scheduled_events", delay=2.0)
    thread, result = start_sync(app)
    try:
        wait_for(lambda: stalled(calendly_sim))
        with app.app_context(), db.engine.begin() as conn:
            # As if its lease had run out and another process had taken it for a minute.
            expires = clock.now() + timedelta(seconds=60)
            conn.execute(
                update(Lease)
                .where(Lease.name == SYNC_LEASE)
                .values(owner=THIEF, expires_at=expires)
            )
    finally:
        thread.join(60)
    assert (result["status"], result["outcome"]) == (SyncStatus.FAILED, RunProblem.LEASE_LOST)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) == 0
        assert leases.current_holder(SYNC_LEASE) == THIEF  # not released: it was not its own


def test_a_dead_holder_on_another_host_is_taken_over_within_two_minutes(
    make_sync_app, time_machine
):
    # The defaults: renewed often enough that a live holder never misses a renewal by much.
    assert DefaultConfig.SYNC_LEASE_SECONDS <= 120
    assert DefaultConfig.SYNC_LEASE_RENEW_SECONDS * 3 <= DefaultConfig.SYNC_LEASE_SECONDS
    app = make_sync_app()
    with app.app_context():
        # A sync began on another machine, whose process then died: no one renews its lease,
        # and this machine cannot see that the process is gone.
        options = options_from_settings("scheduler")
        options.owner = "other-host:4242:dead"
        dead = begin_run(options)
        with pytest.raises(SyncAlreadyRunning):
            sync_from_settings("cli")

        time_machine.move_to(clock.now() + timedelta(seconds=120), tick=True)
        run = sync_from_settings("cli")
        assert run.status == SyncStatus.SUCCEEDED, run.outcome_params
        dead = db.session.get(SyncRun, dead.id)
        assert (dead.status, dead.outcome) == (SyncStatus.FAILED, RunProblem.INTERRUPTED)
