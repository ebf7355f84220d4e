"""The cached event types (``GET /event_types``) and the selection of types the mirror keeps.

The cache holds each type's name, kind and booking questions (type, position, answer choices).
The sync refreshes it only when it meets an event of a type it does not hold, so a sync without
changes costs no extra request; the Settings page stores what it lists anyway. Names chosen in
CALENDLY_EVENT_TYPES or on the Settings page resolve to type URIs through it, so an event renamed
at Calendly keeps its place in the selection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from calendly.records import EventType, MalformedRecordError
from mirror.columns import fit
from store.database import db
from store.models import CalendlyEventType

log = logging.getLogger(__name__)

_table = CalendlyEventType.__table__
_FREE_TEXT = frozenset({"name"})


# Stands for "every event type, also those created later" in a selection.
ALL_TYPES = "*"


class EventTypeSelection:
    """The event types the mirror keeps, chosen by URI or by name (ignoring case), or ALL_TYPES;
    an empty selection keeps nothing (a 1:1 appointment is never copied unasked). The sync, the
    webhook receiver and the Settings page's checkboxes all ask this one rule.

    A name stands for the URIs of the types called so in `catalog` (type URI -> name, from the
    cache), so an event is kept by its type whatever the event itself is called. Only an event
    of a type the catalog does not know is judged by its own name, the one hint there is.
    """

    def __init__(
        self, selection: Iterable[str] | None, catalog: Mapping[str, str | None] | None = None
    ):
        self.wanted = [item.strip() for item in selection or () if item and item.strip()]
        self.uris = {item for item in self.wanted if "://" in item}
        self.names = {
            item.casefold() for item in self.wanted if "://" not in item and item != ALL_TYPES
        }
        # Every type URI the cache holds -> its name (None when no listing contained it).
        self.catalog = dict(catalog or {})
        self.named_uris = {
            uri for uri, name in self.catalog.items() if name and name.casefold() in self.names
        }

    @property
    def everything(self) -> bool:
        """True when every type is kept (ALL_TYPES was chosen)."""
        return ALL_TYPES in self.wanted

    def includes(self, event_type_uri: str | None, name: str | None = None) -> bool:
        """True when events of the type `event_type_uri` (an event called `name`) are kept."""
        if self.everything or event_type_uri in self.uris or event_type_uri in self.named_uris:
            return True
        if self.catalog.get(event_type_uri) is not None:
            return False  # a known type by another name
        return bool(self.names) and (name or "").casefold() in self.names

    def knows(self, event_type_uri: str | None) -> bool:
        """True when the cache holds `event_type_uri` (or there is no type to look up)."""
        return event_type_uri is None or event_type_uri in self.catalog

    def learn(self, catalog: Mapping[str, str | None]) -> EventTypeSelection:
        """This selection, knowing the types of `catalog` as well."""
        return EventTypeSelection(self.wanted, {**self.catalog, **catalog})


def cached_catalog() -> dict[str, str | None]:
    """Every cached type URI -> its name (None for a type no listing ever contained)."""
    return {row.uri: row.name for row in db.session.execute(select(_table.c.uri, _table.c.name))}


def selection_from_cache(selection: Iterable[str] | None) -> EventTypeSelection:
    """The selection with names resolved through the cached event types."""
    return EventTypeSelection(selection, cached_catalog())


def read_listing(raw_types: Iterable) -> list[EventType]:
    """Validate the event types of a listing; a malformed one is logged and left out."""
    types = []
    for position, raw in enumerate(raw_types, 1):
        try:
            types.append(EventType.read(raw, "event_type"))
        except MalformedRecordError as exc:
            log.warning("event type #%d left out of the cache: %s", position, exc)
    return types


def catalog_of(types: Iterable[EventType]) -> dict[str, str | None]:
    """Type URI -> name of validated event types."""
    return {item.uri: item.name for item in types}


def _row(item: EventType, now: datetime) -> dict:
    return {
        "uri": item.uri,
        "name": item.name,
        "active": item.active,
        "kind": item.kind,
        "pooling_type": item.pooling_type,
        "owner": item.profile.owner if item.profile is not None else None,
        "custom_questions": [
            question.model_dump(mode="json") for question in item.custom_questions
        ],
        "listed": True,
        "cached_at": now,
    }


def store_listing(types: Iterable[EventType], now: datetime) -> None:
    """Store a complete listing in the cache inside the caller's transaction.

    Types the listing no longer contains stay (events still name them), marked as not listed.
    """
    rows = []
    for item in types:
        try:
            rows.append(fit(_table, _row(item, now), "event_type", _FREE_TEXT))
        except MalformedRecordError as exc:
            log.warning("event type left out of the cache: %s", exc)
    connection = db.session.connection()
    listed = [row["uri"] for row in rows]
    connection.execute(
        update(_table).where(_table.c.uri.not_in(listed)).values(listed=False, cached_at=now)
    )
    for row in rows:
        _upsert(connection, row, replace=True)


def store_unlisted(uris: Iterable[str], now: datetime) -> None:
    """Remember type URIs that events name but no listing contains, inside the caller's
    transaction, so that not every sync looks them up again."""
    connection = db.session.connection()
    for uri in uris:
        if len(uri) <= 255 and "\x00" not in uri:
            stub = {"uri": uri, "listed": False, "cached_at": now, "custom_questions": []}
            _upsert(connection, stub, replace=False)


def _upsert(connection, row: dict, *, replace: bool) -> None:
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(_table).values(**row)
    if not replace:  # a type listed before keeps its name and questions
        connection.execute(statement.on_conflict_do_nothing(index_elements=[_table.c.uri]))
        return
    statement = statement.on_conflict_do_update(
        index_elements=[_table.c.uri],
        set_={name: statement.excluded[name] for name in row if name != "uri"},
    )
    connection.execute(statement)
