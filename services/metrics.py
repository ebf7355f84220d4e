"""Prometheus metrics: what the app counts, and the text a scrape of /metrics gets.

Counters and the histogram live in this process; under gunicorn every worker writes them to
files in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it up before the workers start) and a
scrape, served by any one worker, adds up the files of all of them. prometheus_client chooses
between the two when it is first imported, so the variable must be set before the app loads.

The gauges of the mirror (webinars, attendees, the last successful sync) are read from the
database at scrape time (`MirrorCollector`): right whichever process synced, and after restarts.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from sqlalchemy.exc import SQLAlchemyError

from calendly.transport import Attempt
from services import queries
from store.database import db
from store.outcomes import DeliveryOutcome, SyncStatus, SyncTrigger

log = logging.getLogger(__name__)

NAMESPACE = "webinar_sync"
# The same test prometheus_client makes when it is imported (values.get_value_class).
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
CONTENT_TYPE = CONTENT_TYPE_LATEST
NETWORK_ERROR = "network_error"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", NETWORK_ERROR)
RETRY_REASONS = ("rate_limited", "server", "network")
# A sync with nothing new takes seconds; a first full one of a large account, many minutes.
DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

# registry=None: each scrape builds its registry (see `exposition`), so that apps built again
# and again in one process (the tests) never register a metric twice.
SYNC_RUNS = Counter(
    "sync_runs",
    "Sync runs that ended, by trigger and outcome (succeeded, or the problem that failed it)",
    ["trigger", "outcome"],
    namespace=NAMESPACE,
    registry=None,
)
SYNC_DURATION = Histogram(
    "sync_duration_seconds",
    "How long the work of a sync run took, whatever its outcome",
    namespace=NAMESPACE,
    buckets=DURATION_BUCKETS,
    registry=None,
)
CALENDLY_REQUESTS = Counter(
    "calendly_requests",
    "HTTP requests to the Calendly API (every attempt, retries included) by status class",
    ["status_class"],
    namespace=NAMESPACE,
    registry=None,
)
CALENDLY_RATE_LIMITED = Counter(
    "calendly_rate_limited",
    "Answers 429 (rate limit) from the Calendly API",
    namespace=NAMESPACE,
    registry=None,
)
CALENDLY_RETRIES = Counter(
    "calendly_retries",
    "Retries of Calendly API calls by reason (rate_limited, server, network)",
    ["reason"],
    namespace=NAMESPACE,
    registry=None,
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Calendly webhook deliveries received, by outcome (applied, ignored, rejected, error)",
    ["outcome"],
    namespace=NAMESPACE,
    registry=None,
)
METRICS = (
    SYNC_RUNS,
    SYNC_DURATION,
    CALENDLY_REQUESTS,
    CALENDLY_RATE_LIMITED,
    CALENDLY_RETRIES,
    WEBHOOK_DELIVERIES,
)

# Every series that is known in advance exists from the start, at 0, so that rates and alerts
# work before the first event of a kind.
for _status_class in STATUS_CLASSES:
    CALENDLY_REQUESTS.labels(_status_class)
for _reason in RETRY_REASONS:
    CALENDLY_RETRIES.labels(_reason)
for _outcome in DeliveryOutcome:
    WEBHOOK_DELIVERIES.labels(_outcome.value)
for _trigger in SyncTrigger:
    SYNC_RUNS.labels(_trigger.value, SyncStatus.SUCCEEDED.value)


def count_sync(trigger: str, outcome: str, seconds: float) -> None:
    """Count an ended sync run (the sync's `on_end`)."""
    SYNC_RUNS.labels(trigger, outcome).inc()
    SYNC_DURATION.observe(seconds)


def count_attempt(attempt: Attempt) -> None:
    """Count one HTTP attempt of the Calendly client (its `on_attempt`)."""
    status = attempt.status
    CALENDLY_REQUESTS.labels(NETWORK_ERROR if status is None else f"{status // 100}xx").inc()
    if status == 429:
        CALENDLY_RATE_LIMITED.inc()
    if attempt.retry is not None:
        CALENDLY_RETRIES.labels(attempt.retry.reason).inc()


def count_delivery(outcome: str) -> None:
    """Count one webhook delivery by its outcome."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


class MirrorCollector:
    """The mirror's gauges, read from the database when scraped (needs an app context).

    Webinars and attendees come from the per-event counters (`queries.mirror_totals`), not from
    a scan of the attendee table.
    """

    def describe(self):
        return self._families()

    def collect(self):
        try:
            totals = queries.mirror_totals()
            last_success = queries.last_success_at()
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("metrics: the mirror's gauges could not be read (%s)", type(exc).__name__)
            return []
        webinars, attendees, last = self._families()
        webinars.add_metric([], totals.webinars)
        attendees.add_metric([], totals.attendees)
        if last_success is not None:
            last.add_metric([], last_success.timestamp())
        return [webinars, attendees, last]

    @staticmethod
    def _families():
        return [
            GaugeMetricFamily(f"{NAMESPACE}_mirror_webinars", "Webinars (events) the mirror holds"),
            GaugeMetricFamily(
                f"{NAMESPACE}_mirror_attendees",
                "Attendees the mirror holds, summed from each webinar's invitee counter",
            ),
            GaugeMetricFamily(
                f"{NAMESPACE}_last_successful_sync_timestamp_seconds",
                "When the last successful sync ended (Unix time; absent before the first)",
            ),
        ]


def exposition() -> bytes:
    """Every metric in the Prometheus text format: the counters of all processes (multiprocess
    mode) or of this one, and the mirror's gauges (needs an app context)."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in METRICS:
            registry.register(metric)
    registry.register(MirrorCollector())
    return generate_latest(registry)
