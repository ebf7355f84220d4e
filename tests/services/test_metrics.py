"""The Prometheus series: each exists from the start, and counts what happened (syncs against
the simulator, its 429s, webhook deliveries by outcome); the mirror's gauges come from the
per-event counters. Counters belong to the process, so tests compare before and after."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from calendly.signature import SIGNATURE_HEADER
from services.syncing import sync_from_settings
from services.webhook_subscriptions import WEBHOOK_PATH

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "whsec-metrics-test"
NS = "webinar_sync_"

pytestmark = pytest.mark.sim_account("small")


def scrape(app) -> dict:
    """{(sample name, ((label, value), ...)): value} of one scrape of /metrics."""
    response = app.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((NS + name, tuple(sorted(labels.items()))), 0.0)


def increase(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def app(connected_app, calendly_sim):
    return connected_app(calendly_sim, METRICS_TOKEN=TOKEN, CALENDLY_WEBHOOK_SIGNING_KEY=KEY)


def test_every_series_exists_before_anything_happened(app):
    samples = scrape(app)
    names = {name for name, _ in samples}
    for status_class in ("2xx", "3xx", "4xx", "5xx", "network_error"):
        assert (NS + "calendly_requests_total", (("status_class", status_class),)) in samples
    for reason in ("rate_limited", "server", "network"):
        assert (NS + "calendly_retries_total", (("reason", reason),)) in samples
    for outcome in ("applied", "ignored", "rejected", "error"):
        assert (NS + "webhook_deliveries_total", (("outcome", outcome),)) in samples
    for trigger in ("cli", "manual", "scheduler", "demo", "connected"):
        key = (("outcome", "succeeded"), ("trigger", trigger))
        assert (NS + "sync_runs_total", key) in samples
    assert {
        NS + "calendly_rate_limited_total",
        NS + "sync_duration_seconds_bucket",
        NS + "sync_duration_seconds_count",
        NS + "sync_duration_seconds_sum",
    } <= names
    assert value(samples, "mirror_webinars") == 0 and value(samples, "mirror_attendees") == 0
    # No sync has succeeded yet: no timestamp rather than a made-up one.
    assert NS + "last_successful_sync_timestamp_seconds" not in names


def test_a_sync_counts_its_run_its_duration_and_its_requests(app):
    before = scrape(app)
    with app.app_context():
        run = sync_from_settings("cli")
        assert run.status == "succeeded"
        api_requests, finished_at = run.api_requests, run.finished_at
    after = scrape(app)

    assert increase(before, after, "sync_runs_total", trigger="cli", outcome="succeeded") == 1
    assert increase(before, after, "sync_duration_seconds_count") == 1
    assert increase(before, after, "sync_duration_seconds_sum") > 0
    assert increase(before, after, "calendly_requests_total", status_class="2xx") == api_requests
    assert value(after, "last_successful_sync_timestamp_seconds") == finished_at.timestamp()
    assert value(after, "mirror_webinars") > 0 and value(after, "mirror_attendees") > 0


def test_a_failed_sync_counts_by_its_problem_and_the_refusal_as_4xx(app, calendly_sim):
    calendly_sim.revoke_token()
    before = scrape(app)
    with app.app_context():
        assert sync_from_settings("cli").outcome == "token_refused"
    after = scrape(app)
    assert increase(before, after, "sync_runs_total", trigger="cli", outcome="token_refused") == 1
    assert increase(before, after, "sync_runs_total", trigger="cli", outcome="succeeded") == 0
    assert increase(before, after, "calendly_requests_total", status_class="4xx") == 1
    assert increase(before, after, "sync_duration_seconds_count") == 1


def test_a_429_counts_as_rate_limited_and_as_a_retry(app, calendly_sim):
    calendly_sim.inject("429", times=1, path="/scheduled_events", reset=0.2)
    before = scrape(app)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    after = scrape(app)
    assert increase(before, after, "calendly_rate_limited_total") == 1
    assert increase(before, after, "calendly_retries_total", reason="rate_limited") == 1
    assert increase(before, after, "calendly_requests_total", status_class="4xx") == 1


def test_server_errors_and_network_faults_count_by_class_and_retry_reason(app, calendly_sim):
    calendly_sim.inject("503", times=1, path="/scheduled_events")
    calendly_sim.inject("drop", times=1, path="/scheduled_events")
    before = scrape(app)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    after = scrape(app)
    assert increase(before, after, "calendly_requests_total", status_class="5xx") == 1
    assert increase(before, after, "calendly_requests_total", status_class="network_error") == 1
    assert increase(before, after, "calendly_retries_total", reason="server") == 1
    assert increase(before, after, "calendly_retries_total", reason="network") == 1


def test_webhook_deliveries_count_by_outcome(app, calendly_sim, live_server):
    sub = calendly_sim.add_webhook_subscription(live_server.url + WEBHOOK_PATH, signing_key=KEY)
    before = scrape(app)

    calendly_sim.auto_deliver = True
    event = calendly_sim.add_event()
    calendly_sim.book(event["uri"].rsplit("/", 1)[1], name="Person 1", email="p1@example.org")
    calendly_sim.auto_deliver = False
    ignored = calendly_sim.deliver_webhook(sub["uri"], "routing_form_submission.created", {})
    client = app.test_client()
    unsigned = client.post(WEBHOOK_PATH, data=b'{"event": "invitee.created"}')
    forged = client.post(WEBHOOK_PATH, data=b"{}", headers={SIGNATURE_HEADER: "t=1,v1=00"})

    assert [r.status for r in calendly_sim.delivery_log] == [200, 200]
    assert ignored.status == 200 and unsigned.status_code == forged.status_code == 401
    after = scrape(app)
    assert increase(before, after, "webhook_deliveries_total", outcome="applied") == 1
    assert increase(before, after, "webhook_deliveries_total", outcome="ignored") == 1
    assert increase(before, after, "webhook_deliveries_total", outcome="rejected") == 2
    assert increase(before, after, "webhook_deliveries_total", outcome="error") == 0


def test_mirror_gauges_come_from_the_per_event_counters(app, add_webinar):
    add_webinar(invitees_total=7)  # no attendee rows: a scan of them would say 0
    add_webinar(invitees_total=5)
    samples = scrape(app)
    assert value(samples, "mirror_webinars") == 2
    assert value(samples, "mirror_attendees") == 12
