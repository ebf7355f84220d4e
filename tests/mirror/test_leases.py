"""The database lease lets exactly one holder in, across threads, and expires."""

import threading
import time

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mirror import leases
from mirror.sync import SYNC_LEASE
from services.syncing import start_background_sync
from store.database import db
from store.models import SyncRun
from store.outcomes import SyncStatus
from tests.mirror.background import wait_for


def test_one_holder_at_a_time(app_ctx):
    assert leases.try_acquire("job", "a", 60)
    assert not leases.try_acquire("job", "b", 60)
    assert leases.current_holder("job") == "a"
    # The holder may take it again (renewal through acquire).
    assert leases.try_acquire("job", "a", 60)
    leases.release("job", "b")  # not b's to release
    assert leases.current_holder("job") == "a"
    leases.release("job", "a")
    assert leases.current_holder("job") is None
    assert leases.try_acquire("job", "b", 60)


def test_expired_lease_can_be_taken_over(app_ctx):
    assert leases.try_acquire("job", "crashed", 0.2)
    assert not leases.try_acquire("job", "next", 60)
    time.sleep(0.3)
    assert leases.current_holder("job") is None
    assert leases.try_acquire("job", "next", 60)
    assert not leases.renew("job", "crashed", 60)
    assert leases.renew("job", "next", 60)


def test_threads_racing_get_exactly_one_winner(app):
    winners = []
    barrier = threading.Barrier(8)

    def contend(i):
        with app.app_context():
            barrier.wait()
            if leases.try_acquire("race", f"t{i}", 60):
                winners.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_sync_now_right_after_a_run_shows_finished_is_not_refused(make_app, calendly_sim, caplog):
    """The panel says a run has ended as soon as its row does; "Sync now" clicked at that
    moment must start the next run, whatever the finished run's thread still has to do."""
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        SYNC_LEASE_RENEW_SECONDS=0.05,  # its heartbeat beats while the thread is held below
    )
    first_thread = []
    ended, resume = threading.Event(), threading.Event()

    def hold_the_thread_once_its_run_has_ended(_session):
        # Called in the committing thread; the run's row is read on a connection of its own.
        thread = threading.current_thread()
        if ended.is_set() or not first_thread or thread.name != first_thread[0]:
            return
        with db.engine.connect() as conn:
            status = conn.scalar(select(SyncRun.status).where(SyncRun.id == first_id))
        if status != SyncStatus.RUNNING:
            ended.set()
            resume.wait(30)

    def finished_at(run_id):
        db.session.rollback()  # a fresh look each time
        return db.session.get(SyncRun, run_id).finished_at

    def alive(prefix):
        return [t for t in threading.enumerate() if t.name.startswith(prefix)]

    event.listen(Session, "after_commit", hold_the_thread_once_its_run_has_ended)
    try:
        with app.app_context():
            first_id = start_background_sync(app).id
            first_thread.append(f"sync-{first_id}")
            assert ended.wait(30), "the first run did not end"
            # The first run's row says it ended, its thread has not gone on yet.
            assert finished_at(first_id)
            assert db.session.get(SyncRun, first_id).status == SyncStatus.SUCCEEDED
            second = start_background_sync(app)  # raised SyncAlreadyRunning before the fix
            assert second.id != first_id
            wait_for(lambda: finished_at(second.id))
        # The held thread's heartbeat finds the lease gone and ends by itself (quietly).
        wait_for(lambda: not alive("lease-"))
    finally:
        resume.set()
        wait_for(lambda: not alive("sync-"))
        event.remove(Session, "after_commit", hold_the_thread_once_its_run_has_ended)
    with app.app_context():
        assert db.session.get(SyncRun, second.id).status == SyncStatus.SUCCEEDED
        assert leases.current_holder(SYNC_LEASE) is None
    assert not [r for r in caplog.records if "taken over" in r.getMessage()]
