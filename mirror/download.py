"""The sync's producer: walks Calendly's scheduled events, validates each against the schema,
fetches invitees where they may have changed, and lists the event types when an event names a
type the cache lacks. Network only, no database access: it runs in its own thread while the
sync (mirror/sync.py) writes what it hands over through a queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from calendly.client import CalendlyClient, uuid_from_uri
from calendly.errors import PermissionDeniedError
from calendly.records import EventType, Invitee, MalformedRecordError, ScheduledEvent
from mirror.event_types import EventTypeSelection, catalog_of, read_listing
from mirror.scope import Scope, ScopeNotAllowed

log = logging.getLogger(__name__)

# Handed over after the last event.
DONE = object()


@dataclass
class Fetched:
    """One event as downloaded: validated with its invitees, or the fault that kept it out."""

    position: int  # its place in Calendly's list, from 1
    event: ScheduledEvent | None
    # Each invitee validated, or its fault; None when the invitees were not fetched.
    invitees: list[Invitee | MalformedRecordError] | None = None
    fault: MalformedRecordError | None = None


@dataclass
class Listing:
    """Event types for the cache: a fresh listing (None when there is none) and type URIs that
    events name but no listing contains."""

    types: list[EventType] | None
    unlisted: list[str]


class Downloader:
    """Walks one sync's window of events and hands Fetched and Listing items to a queue."""

    def __init__(
        self,
        client: CalendlyClient,
        *,
        window_start: datetime | None,
        full: bool,
        known: dict[str, tuple],
        wanted: EventTypeSelection,
        scope: Scope | None = None,
        type_owner: dict | None = None,
        purged: frozenset[str] | set[str] = frozenset(),
    ):
        self.client = client
        self.window_start = window_start
        self.full = full
        # Stored events in the window: calendly_id -> what decides whether to refetch invitees.
        self.known = known
        # The selection; it learns the types listed during the walk (read it after the walk).
        self.wanted = wanted
        self.types_listed = False
        self.scope = scope or Scope()
        # Whose event types are listed: {"user": ...}, or {"organization": ...} for a scope
        # wider than the token's own events (team types included).
        self.type_owner = type_owner or {}
        # Events whose attendees the retention purge removed: their invitees are not read again.
        self.purged = purged

    def run(self, reads: list[dict], pipe: queue.Queue, stop: threading.Event) -> None:
        """Walk the events of every read of the scope (``calendly.scope.reads_for``) into
        `pipe`, each event once, then DONE; an exception is handed over instead."""
        try:
            events = self.client.iter_scope_events(
                reads, min_start_time=self.window_start, sort="start_time:asc"
            )
            for position, raw in enumerate(events, 1):
                if stop.is_set():
                    return
                try:
                    event = ScheduledEvent.read(raw, "scheduled_event")
                except MalformedRecordError as fault:
                    if self._may_be_wanted(raw):
                        put(pipe, stop, Fetched(position, None, fault=fault))
                    continue
                self._learn_type(event.event_type, pipe, stop)
                if not self.wanted.includes(event.event_type, event.name):
                    continue
                invitees = None
                if self.needs_invitees(event):
                    invitees = self._invitees(event)
                put(pipe, stop, Fetched(position, event, invitees))
            put(pipe, stop, DONE)
        except PermissionDeniedError as exc:
            if self.scope.needs_admin and not exc.required_scopes:
                # Calendly's 403 for a member's token asking for colleagues' events.
                put(pipe, stop, ScopeNotAllowed(self.scope.mode))
            else:
                put(pipe, stop, exc)
        except BaseException as exc:  # handed to the writer, which raises it
            put(pipe, stop, exc)

    def needs_invitees(self, event: ScheduledEvent) -> bool:
        """Whether the event's invitees may differ from the stored ones (never asked for an event
        whose attendees the retention purge removed, not even by a full sync)."""
        if uuid_from_uri(event.uri) in self.purged:
            return False
        if self.full:
            return True
        stored = self.known.get(uuid_from_uri(event.uri))
        if stored is None:
            return True
        updated_at, active, total, limit, attendees_synced_at = stored
        counter = event.invitees_counter
        return (
            attendees_synced_at is None
            or updated_at != event.updated_at
            or (active, total, limit) != (counter.active, counter.total, counter.limit)
        )

    def _invitees(self, event: ScheduledEvent) -> list[Invitee | MalformedRecordError]:
        """The event's invitees, each validated or its fault.

        Calendly's `invitees_counter.total` counts canceled invitees too, so a total of 0 means
        the list is empty: it is not asked for, and the empty list is written as a complete one
        (what reading it would have given). Attendees stored earlier stay, as they do when a
        read list lacks them; the total only drops to 0 when invitee data was deleted at
        Calendly (a data-compliance deletion), and removing that data is not the sync's work.
        """
        if event.invitees_counter.total == 0:
            return []
        listed = self.client.list_invitees(uuid_from_uri(event.uri))
        return [read_invitee(invitee) for invitee in listed]

    def _may_be_wanted(self, raw) -> bool:
        """Whether a malformed event may be of a selected type (then it counts as skipped)."""
        event_type = raw.get("event_type") if isinstance(raw, dict) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(event_type, str) or not self.wanted.knows(event_type):
            return True
        return self.wanted.includes(event_type, name if isinstance(name, str) else None)

    def _learn_type(self, type_uri: str | None, pipe, stop) -> None:
        """List the event types (once a run) when an event names a type the cache lacks."""
        if self.wanted.knows(type_uri):
            return
        if self.types_listed:  # listed already in this run: a type no listing contains
            self.wanted = self.wanted.learn({type_uri: None})
            put(pipe, stop, Listing(None, [type_uri]))
            return
        self.types_listed = True
        try:
            types = read_listing(self.client.iter_event_types(**self.type_owner))
        except PermissionDeniedError as exc:  # a token without event_types:read still syncs
            log.warning("event types cannot be listed (%s); names match events' names", exc)
            self.wanted = self.wanted.learn({type_uri: None})
            return
        catalog = catalog_of(types)
        unlisted = [] if type_uri in catalog else [type_uri]
        self.wanted = self.wanted.learn({**catalog, **dict.fromkeys(unlisted)})
        put(pipe, stop, Listing(types, unlisted))


def read_invitee(raw) -> Invitee | MalformedRecordError:
    """The invitee validated, or the fault that keeps it out."""
    try:
        return Invitee.read(raw, "invitee")
    except MalformedRecordError as fault:
        return fault


def put(pipe: queue.Queue, stop: threading.Event, item) -> None:
    """Hand `item` over, waiting while the queue is full, unless the sync stops."""
    while not stop.is_set():
        try:
            pipe.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


# How often the writer looks up from waiting for the download (has the lease gone?).
POLL_SECONDS = 0.25


def next_batch(pipe: queue.Queue, limit: int, check: Callable[[], None] = lambda: None):
    """Wait for the next item, then take whatever else is ready (at most `limit` items).

    `check` is called every POLL_SECONDS while waiting; it raises to stop the wait (the lease
    is gone).

    Returns:
        (items, done, error): `done` once DONE or an exception arrived, which is `error`.
    """
    items, done, error = [], False, None
    while True:
        check()
        try:
            item = pipe.get(timeout=POLL_SECONDS)
            break
        except queue.Empty:
            continue
    while True:
        if item is DONE:
            done = True
            break
        if isinstance(item, BaseException):
            done, error = True, item
            break
        items.append(item)
        if len(items) >= limit:
            break
        try:
            item = pipe.get_nowait()
        except queue.Empty:
            break
    return items, done, error
