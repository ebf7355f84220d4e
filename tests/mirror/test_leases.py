"""The database lease lets exactly one holder in, across threads, and expires."""

import threading
import time

from mirror import leases


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
