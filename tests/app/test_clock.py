"""The suite's `--at` option, which scripts/test relies on to run the date-dependent tests on
awkward days: the app, the simulator and every thread live at that instant."""

import threading
from datetime import datetime, timedelta

import pytest

from devtools.sample_data import parse_time
from services.syncing import sync_from_settings
from store import clock

pytestmark = pytest.mark.dated

# The clock ticks on from the instant; no session runs this long.
SESSION = timedelta(hours=1)


@pytest.fixture
def instant(request):
    at = request.config.getoption("--at")
    if not at:
        pytest.skip("the clock is only moved with --at")
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def test_app_simulator_and_threads_run_at_the_instant_asked_for(instant, sim_app, calendly_sim):
    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(clock.now()))
    thread.start()
    thread.join()
    with sim_app.app_context():
        run = sync_from_settings("cli")
        assert run.status == "succeeded" and run.events_created > 0
        started_at = run.started_at

    for seen in (clock.now(), in_thread[0], calendly_sim.now(), started_at):
        assert timedelta(0) <= seen - instant < SESSION, seen
    # The simulated account lies around the instant (60 days back, 120 ahead by default).
    starts = [parse_time(event["start_time"]) for event in calendly_sim.events.values()]
    assert instant - timedelta(days=61) < min(starts) < max(starts) < instant + timedelta(days=121)
