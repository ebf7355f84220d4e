"""The one sync: mirror Calendly's scheduled events and their invitees into the database.

Called by the CLI, the "Sync now" button, the scheduler and demo mode (webhook deliveries write
single invitees through `mirror.writer` directly). It holds a lease in the database so that
only one sync runs across threads and processes, records every run in `sync_runs`, and writes
each batch of events together with all their attendees in one transaction: a sync that fails or
is killed halfway leaves consistent rows, and the next one completes the work.

Every record is validated against one schema (calendly/records.py) by the downloading thread
(mirror/download.py) and fitted to the columns by the writer. A malformed event or invitee is
skipped and recorded on the run as data (SyncRun.records_skipped and skipped_records); every
other record is still written. A skipped event still counts as seen upstream, and an event with a
skipped invitee stays incomplete, so the next sync reads its invitees again.

A heartbeat thread renews the lease whatever the sync is waiting for; a batch commits only
while the lease is still the run's own. A busy database is waited for a bounded time
(mirror/waits.py), and the run's `waiting_since` says so meanwhile.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from calendly.client import CalendlyClient, uuid_from_uri
from calendly.errors import MalformedResponseError, NotFoundError
from calendly.records import MalformedRecordError
from calendly.scope import reads_for
from mirror import leases, waits
from mirror.download import Downloader, Fetched, Listing, next_batch
from mirror.event_types import (
    EventTypeSelection,
    selection_from_cache,
    store_listing,
    store_unlisted,
)
from mirror.problems import log_failure, problem_of
from mirror.scope import HOSTS, ORGANIZATION, Scope, ScopeHostUnknown, ScopeNotAllowed
from mirror.waits import DatabaseBusy, Patience
from mirror.writer import (
    WriteCounts,
    attendee_values,
    event_values,
    purged_event_ids,
    write_attendees,
    write_events,
)
from store import clock, log_context
from store.database import db, start_write
from store.models import CalendlyEvent, SyncRun
from store.outcomes import RecordSkip, RunProblem, SyncStatus, SyncTrigger

log = logging.getLogger(__name__)

SYNC_LEASE = "calendly_sync"
# How often a running sync writes its progress for the dashboard.
PROGRESS_SECONDS = 0.5
# Events fetched ahead of the database writer; bounds memory on large accounts.
PIPELINE_DEPTH = 64
# Events written per transaction at most: fewer commits, short enough locks.
BATCH_EVENTS = 50
# Skipped records a run names (it counts them all): enough to find them, bounded in size.
SKIPPED_LISTED = 50


class SyncAlreadyRunning(Exception):
    """Another sync holds the lease."""


class NoEventTypeChoice(Exception):
    """Nobody has chosen the event types to sync, so the run copies nothing."""

    run_problem = RunProblem.NO_EVENT_TYPES


@dataclass
class SyncOptions:
    """What one sync run does, and everything it needs that is not Calendly or the database."""

    trigger: SyncTrigger
    full: bool = False
    # URIs or names, or [ALL_TYPES]; None (nobody chose) fails the run before any request.
    event_types: Sequence[str] | None = None
    lookback_days: int = 14
    lease_seconds: float = 90.0
    # The heartbeat renews the lease this often, whatever the run is doing.
    lease_renew_seconds: float = 20.0
    # How long the run waits for a busy database before it gives up.
    db_wait_seconds: float = 60.0
    owner: str = field(default_factory=leases.process_owner)
    # The Calendly user whose events are read; asked of /users/me when unknown.
    user_uri: str | None = None
    # Told what /users/me said when the sync had to ask (so that the next one need not).
    on_user: Callable[[dict], None] | None = None
    # The scheduled time a scheduler run belongs to.
    tick: datetime | None = None
    # Whose events are read (mirror/scope.py), the organization they belong to (asked of
    # /users/me when unknown) and the token's role there (None: not probed yet).
    scope: Scope = field(default_factory=Scope)
    organization_uri: str | None = None
    role: str | None = None
    # The organization's members as last listed: email (case-folded) -> user URI.
    members: dict[str, str] = field(default_factory=dict)
    # Told what /organization_memberships said when the sync had to ask.
    on_members: Callable[[list[dict]], None] | None = None
    # Told when the run has ended (recorded or not): its trigger, its outcome ("succeeded" or
    # the RunProblem) and how many seconds its work took, e.g. for metrics.
    on_end: Callable[[str, str, float], None] | None = None
    # The key of the erased people's tombstones (ERASURE_KEY): their bookings made before the
    # erasure are not stored again. None: no check (the mirror alone, in tests).
    erasure_key: str | None = None
    # The admin's time zone (IANA name): the webinars' local_* columns give their start in it.
    zone: str = "UTC"


def begin_run(options: SyncOptions) -> SyncRun:
    """Take the sync lease and record a running SyncRun.

    Raises:
        SyncAlreadyRunning: another sync holds the lease.
    """
    if not leases.try_acquire(SYNC_LEASE, options.owner, options.lease_seconds):
        holder = leases.current_holder(SYNC_LEASE)
        if not (
            holder
            and leases.owner_process_is_gone(holder)
            and leases.take_over(SYNC_LEASE, holder, options.owner, options.lease_seconds)
        ):
            raise SyncAlreadyRunning("A sync is already running; wait for it to finish.")
        log.warning("took over the sync lease of %s, whose process has ended", holder)
    # Holding the lease proves that no other run is alive: any run still marked as
    # running was cut off (process killed, machine restarted).
    start_write(db.session)
    db.session.execute(
        update(SyncRun)
        .where(SyncRun.status == SyncStatus.RUNNING)
        .values(
            status=SyncStatus.FAILED,
            finished_at=clock.now(),
            outcome=RunProblem.INTERRUPTED,
            outcome_params={},
        )
    )
    run = SyncRun(
        trigger=options.trigger,
        full=options.full,
        status=SyncStatus.RUNNING,
        owner=options.owner,
        tick=options.tick,
    )
    db.session.add(run)
    db.session.commit()
    return run


def execute_run(
    run: SyncRun,
    client_factory: Callable[[], CalendlyClient],
    options: SyncOptions,
    *,
    now: datetime | None = None,
) -> SyncRun:
    """Do the work of a run begun with `begin_run`, record its outcome and release the lease.

    A failure ends the run as failed with its RunProblem and parameters; nothing is raised.
    Every line logged meanwhile, in any of the run's threads, carries the run's id.
    """
    with log_context.bound(sync_run_id=run.id):
        return _execute_run(run, client_factory, options, now)


def _execute_run(run, client_factory, options, now) -> SyncRun:
    run_id, trigger = run.id, run.trigger
    started = time.monotonic()
    client = None
    released = False
    status, problem, params = SyncStatus.FAILED, None, None
    heartbeat = leases.Heartbeat(
        SYNC_LEASE, options.owner, options.lease_seconds, options.lease_renew_seconds
    )
    try:
        with heartbeat:
            try:
                client = client_factory()
                if options.event_types is None:
                    raise NoEventTypeChoice("no event types are chosen")
                client.on_retry = waits.RetryNote(run_id)
                _SyncJob(client, run, options, now or clock.now(), heartbeat).run()
                status = SyncStatus.SUCCEEDED
            except Exception as exc:
                problem, params = problem_of(exc)
                if problem == RunProblem.UNEXPECTED:
                    log_failure(log, "sync #%s (%s) crashed", run_id, trigger, exc=exc)
                else:
                    log.warning("sync #%s (%s) failed: %s %s", run_id, trigger, problem, params)
            finally:
                waits.note_waiting(run_id, None, record=False)
            api_requests = client.request_count if client is not None else None
            released = _record_end(run, options, heartbeat, status, problem, params, api_requests)
    finally:
        if client is not None:
            client.close()
        if not released:
            _release(options.owner)  # only if still its own
        if options.on_end is not None:
            outcome = SyncStatus.SUCCEEDED if status == SyncStatus.SUCCEEDED else problem
            seconds = time.monotonic() - started
            options.on_end(str(trigger), str(outcome or RunProblem.UNEXPECTED), seconds)
    return run


def _record_end(run, options, heartbeat, status, problem, params, api_requests) -> bool:
    """Store the run's outcome and release the lease in one transaction, waiting for a busy
    database as the run did (bounded); False when that never happened.

    Together, because whoever sees the run ended may start the next one at once ("Sync now"
    right after the panel said it finished): a lease released a moment later refused it.
    """

    def record():
        # A fresh write transaction: loading `run`'s expired attributes in a read transaction
        # first would make SQLite refuse the write at once while others are writing.
        db.session.rollback()
        start_write(db.session)
        run.status, run.finished_at = status, clock.now()
        run.outcome, run.outcome_params = problem, params
        run.waiting_since = None
        if api_requests is not None:
            run.api_requests = api_requests
        if status == SyncStatus.SUCCEEDED:  # before the commit expires what the log line reads
            log.info("sync #%s (%s) succeeded: %s", run.id, run.trigger, counts_line(run))
        heartbeat.releasing()
        leases.release_in(db.session, SYNC_LEASE, options.owner)  # only if still its own
        db.session.commit()

    try:
        Patience(options.db_wait_seconds).run(record)
    except DatabaseBusy:
        # Its row says "running" until the lease runs out; the next run marks it interrupted.
        log.error("could not record the end of sync #%s: the database stayed busy", run.id)
        return False
    return True


def _release(owner: str) -> None:
    try:
        leases.release(SYNC_LEASE, owner)
    except DBAPIError as exc:
        log.warning("could not release the sync lease (%s); it runs out by itself", exc.orig)


def counts_line(run: SyncRun) -> str:
    """What a run did, in one English line for logs and the command line."""
    return (
        f"events: {run.events_created} new, {run.events_updated} updated, "
        f"{run.events_unchanged} unchanged, {run.events_missing} missing upstream; "
        f"attendees: {run.attendees_created} new, {run.attendees_updated} updated, "
        f"{run.attendees_unchanged} unchanged; {run.api_requests} API requests"
        + (f"; {run.records_skipped} malformed records skipped" if run.records_skipped else "")
    )


def run_sync(
    client_factory: Callable[[], CalendlyClient], options: SyncOptions, *, now=None
) -> SyncRun:
    """Run one sync to the end and return its recorded run.

    Raises:
        SyncAlreadyRunning: another sync holds the lease.
    """
    run = begin_run(options)
    return execute_run(run, client_factory, options, now=now)


def running_run() -> SyncRun | None:
    """The run in progress, if its holder is alive (its lease has not expired)."""
    run = db.session.scalars(
        select(SyncRun)
        .where(SyncRun.status == SyncStatus.RUNNING)
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    if run is None or leases.current_holder(SYNC_LEASE) != run.owner:
        return None
    return run


class _SyncJob:
    """One pass over the synced window: events from Calendly in, rows in the database out."""

    def __init__(
        self,
        client: CalendlyClient,
        run: SyncRun,
        options: SyncOptions,
        now: datetime,
        heartbeat: leases.Heartbeat,
    ):
        self.client = client
        self.sync_run = run
        self.options = options
        self.now = now
        self.heartbeat = heartbeat
        self.patience = Patience(
            options.db_wait_seconds, functools.partial(waits.note_waiting, run.id), heartbeat.check
        )
        self.window_start = None if options.full else now - timedelta(days=options.lookback_days)
        self.seen: set[str] = set()
        # Stored events in the window: calendly_id -> what decides whether to refetch invitees.
        self.known: dict[str, tuple] = {}
        self.counts = {"events": WriteCounts(), "attendees": WriteCounts()}
        self.skipped: list[dict] = []
        self.records_skipped = 0
        # A skipped event without a readable URI might be any stored one: flag none missing.
        self.unreadable_event = False
        self._last_progress = 0.0

    def run(self) -> None:
        scope = self.options.scope
        # Refused before any request when the probe already said so: nothing changes.
        if not scope.allowed_for(self.options.role):
            raise ScopeNotAllowed(scope.mode)
        user_uri, org_uri = self._account()
        reads = reads_for(
            scope.mode, user=user_uri, organization=org_uri, hosts=self._host_uris(org_uri)
        )
        wanted = selection_from_cache(self.options.event_types)
        self.known = self.patience.run(self._known_events)
        # The walk reads events from the window's start on: only those purged matter.
        purged = self.patience.run(functools.partial(purged_event_ids, self.window_start))
        downloader = Downloader(
            self.client,
            window_start=self.window_start,
            full=self.options.full,
            known=self.known,
            wanted=wanted,
            scope=scope,
            type_owner={"organization": org_uri} if scope.needs_admin else {"user": user_uri},
            purged=purged,
        )
        # A producer thread downloads while this thread writes, so that the database work
        # hides behind the network wait instead of adding to it.
        pipe: queue.Queue = queue.Queue(maxsize=PIPELINE_DEPTH)
        stop = threading.Event()
        producer = threading.Thread(
            target=log_context.carried(functools.partial(downloader.run, reads, pipe, stop)),
            daemon=True,
        )
        producer.start()
        try:
            done = False
            while not done:
                # A download may stall for long: stop waiting once the lease is gone.
                items, done, error = next_batch(pipe, BATCH_EVENTS, self.heartbeat.check)
                if items:
                    batch = self._prepare_batch(items)
                    self._count(*self.patience.run(functools.partial(self._write, *batch)))
                if error is not None:
                    raise error
        finally:
            stop.set()
            # Unblock a producer waiting on a full queue, then let it finish.
            while producer.is_alive():
                try:
                    pipe.get_nowait()
                except queue.Empty:
                    producer.join(0.05)
        # The selection as the walk left it: knowing every type it listed.
        candidates = self.patience.run(functools.partial(self._unseen, downloader.wanted))
        missing = self._gone_upstream(candidates, scope)
        self.patience.run(functools.partial(self._flag_missing, missing))
        self.patience.run(lambda: self._save_progress(force=True))

    def _account(self) -> tuple[str, str | None]:
        """The token's user URI and its organization's, asking /users/me only when unknown."""
        user_uri, org_uri = self.options.user_uri, self.options.organization_uri
        if user_uri and (org_uri or not self.options.scope.needs_admin):
            return user_uri, org_uri
        user = self.client.get_current_user()
        if self.options.on_user is not None:
            self.options.on_user(user)
        if not user.get("uri"):
            raise MalformedResponseError("/users/me answered without a user URI")
        if self.options.scope.needs_admin and not user.get("current_organization"):
            raise MalformedResponseError("/users/me answered without an organization URI")
        return user["uri"], user.get("current_organization")

    def _host_uris(self, org_uri: str | None) -> list[str]:
        """The chosen hosts as user URIs; emails resolve through the members as last listed,
        and /organization_memberships is asked only when one is unknown."""
        scope = self.options.scope
        if scope.mode != HOSTS:
            return []
        members = dict(self.options.members)
        if any("://" not in host and host.casefold() not in members for host in scope.hosts):
            listed = list(self.client.iter_organization_memberships(organization=org_uri))
            if self.options.on_members is not None:
                self.options.on_members(listed)
            members = {
                (item.get("user") or {}).get("email", "").casefold(): item["user"]["uri"]
                for item in listed
                if (item.get("user") or {}).get("uri")
            }
        uris = []
        for host in scope.hosts:
            uri = host if "://" in host else members.get(host.casefold())
            if uri is None:
                raise ScopeHostUnknown(host)
            uris.append(uri)
        return uris

    def _known_events(self) -> dict[str, tuple]:
        query = select(
            CalendlyEvent.calendly_id,
            CalendlyEvent.calendly_updated_at,
            CalendlyEvent.invitees_active,
            CalendlyEvent.invitees_total,
            CalendlyEvent.invitees_limit,
            CalendlyEvent.attendees_synced_at,
        )
        if self.window_start is not None:
            query = query.where(CalendlyEvent.start_time >= self.window_start)
        known = {row[0]: tuple(row[1:]) for row in db.session.execute(query)}
        db.session.commit()  # end the read transaction: the writer thread is this one
        return known

    def _prepare_batch(self, items: list) -> tuple[list, list]:
        """The batch's events as (event values, invitee rows or None, all invitees readable),
        and its event type listings. Malformed events and invitees are skipped and recorded
        here, once, however often a busy database makes the write itself start over."""
        prepared = [self._prepare(item) for item in items if isinstance(item, Fetched)]
        listings = [item for item in items if isinstance(item, Listing)]
        return [entry for entry in prepared if entry is not None], listings

    def _write(self, prepared: list, listings: list):
        """Write a batch of events, each with all its fetched invitees, in one transaction;
        returns their ids, what became of them, and the attendee counts.

        An event with a skipped invitee is not marked complete, so that the next sync reads its
        invitees again.
        """
        ids = [values["calendly_id"] for values, _, _ in prepared]
        fetched = {
            cid: ok for cid, (_, rows, ok) in zip(ids, prepared, strict=True) if rows is not None
        }
        start_write(db.session)
        try:
            for listing in listings:
                if listing.types is not None:
                    store_listing(listing.types, self.now)
                store_unlisted(listing.unlisted, self.now)
            written = write_events(
                [values for values, _, _ in prepared],
                self.now,
                new_ids={cid for cid in ids if cid not in self.known},
                complete_ids={cid for cid, ok in fetched.items() if ok},
                incomplete_ids={cid for cid, ok in fetched.items() if not ok},
                zone=self.options.zone,
            )
            rows, created = [], set()
            for calendly_id, (_, invitee_rows, _) in zip(ids, prepared, strict=True):
                event_id, outcome = written[calendly_id]
                if outcome == "created":
                    created.add(event_id)
                rows.extend(dict(row, event_id=event_id) for row in invitee_rows or ())
            attendee_counts = write_attendees(
                rows, self.now, new_event_ids=created, erasure_key=self.options.erasure_key
            )
            # Last, so that the lease row stays locked for a moment only: commit only what
            # was written under the run's own lease.
            if not leases.held_by(db.session, SYNC_LEASE, self.options.owner):
                raise leases.LeaseLost()
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return ids, written, attendee_counts

    def _count(self, ids, written, attendee_counts) -> None:
        """Count a written batch, and save the progress now and then."""
        self.seen.update(ids)
        for _, outcome in written.values():
            self.counts["events"].record(outcome)
        self.counts["attendees"].add(attendee_counts)
        self.patience.run(self._save_progress)

    def _prepare(self, item: Fetched) -> tuple[dict, list[dict] | None, bool] | None:
        """(event values, invitee rows or None, all invitees readable), or None when the event
        itself is skipped."""
        try:
            if item.fault is not None:
                raise item.fault
            values = event_values(item.event)
        except MalformedRecordError as fault:
            self._skip(RecordSkip.MALFORMED_EVENT, fault, item.position)
            return None
        if item.invitees is None:
            return values, None, False
        rows, complete = [], True
        for position, invitee in enumerate(item.invitees, 1):
            try:
                if isinstance(invitee, MalformedRecordError):
                    raise invitee
                rows.append(attendee_values(invitee, None))
            except MalformedRecordError as fault:
                self._skip(RecordSkip.MALFORMED_INVITEE, fault, position, event=item.event.uri)
                complete = False
        return values, rows, complete

    def _skip(self, code: RecordSkip, fault: MalformedRecordError, position: int, event=None):
        """Record a skipped record on the run (as data: code, which record, the fields)."""
        self.records_skipped += 1
        if code == RecordSkip.MALFORMED_EVENT:
            if fault.uri is None:
                self.unreadable_event = True
            else:
                self.seen.add(uuid_from_uri(fault.uri))  # still upstream: never missing
        log.warning("sync skipped %s #%d %s: %s", code, position, fault.uri or "", fault)
        if len(self.skipped) >= SKIPPED_LISTED:
            return
        entry = {"code": str(code), "record": fault.uri, "position": position}
        if event is not None:
            entry["event"] = event
        self.skipped.append(dict(entry, fields=fault.fields, errors=fault.errors))

    def _unseen(self, wanted: EventTypeSelection) -> list[tuple[int, str]]:
        """(id, calendly_id) of stored events of the chosen types in the window that the
        scope's reads did not return."""
        if self.unreadable_event:
            log.warning("an event without a readable URI was skipped: none is flagged missing")
            return []
        columns = (CalendlyEvent.id, CalendlyEvent.calendly_id, CalendlyEvent.event_type_uri)
        query = select(*columns, CalendlyEvent.name).where(
            CalendlyEvent.missing_upstream.is_(False)
        )
        if self.window_start is not None:
            query = query.where(CalendlyEvent.start_time >= self.window_start)
        unseen = [
            (row.id, row.calendly_id)
            for row in db.session.execute(query)
            if row.calendly_id not in self.seen and wanted.includes(row.event_type_uri, row.name)
        ]
        db.session.commit()  # no snapshot held while Calendly is asked below
        return unseen

    def _gone_upstream(self, unseen: list[tuple[int, str]], scope: Scope) -> list[int]:
        """The unseen events that Calendly no longer has. The organization scope reads every
        event, so unseen means gone; a narrower one does not see an event whose host left
        the scope, so each unseen event is looked up (only these cost a request)."""
        if scope.mode == ORGANIZATION:
            return [event_id for event_id, _ in unseen]
        gone = []
        for event_id, calendly_id in unseen:
            self.heartbeat.check()
            try:
                self.client.get_scheduled_event(calendly_id)
            except NotFoundError:
                gone.append(event_id)
        return gone

    def _flag_missing(self, missing: list[int]) -> None:
        """Flag stored events in the window that Calendly no longer has (never delete)."""
        start_write(db.session)
        for start in range(0, len(missing), 500):
            db.session.execute(
                update(CalendlyEvent)
                .where(CalendlyEvent.id.in_(missing[start : start + 500]))
                .values(missing_upstream=True, synced_at=self.now)
            )
        self.sync_run.events_missing = len(missing)
        db.session.commit()
        if missing:
            log.warning("%d stored events are no longer returned by Calendly", len(missing))

    def _save_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_SECONDS:
            return
        self._last_progress = now
        events, attendees = self.counts["events"], self.counts["attendees"]
        start_write(db.session)
        run = self.sync_run
        run.events_seen = len(self.seen)
        run.events_created, run.events_updated = events.created, events.updated
        run.events_unchanged = events.unchanged
        run.attendees_created, run.attendees_updated = attendees.created, attendees.updated
        run.attendees_unchanged = attendees.unchanged
        run.api_requests = self.client.request_count
        run.records_skipped, run.skipped_records = self.records_skipped, list(self.skipped) or None
        db.session.commit()
