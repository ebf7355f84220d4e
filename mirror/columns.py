"""Fitting a record's values to the mirror's columns, the same way on SQLite and PostgreSQL.

SQLite stores any length and a NUL character; PostgreSQL refuses both. So the lengths are read
from the SQLAlchemy column types and applied before any write:

* free text (names, reasons, locations) loses its NUL characters and is cut to its column: a
  long name is still that person's name;
* everything else identifies or codes something (URIs, status, email, time zone): cut, it would
  name something else, so a value that does not fit makes the record malformed.
"""

from __future__ import annotations

import functools

import orjson
from sqlalchemy import Table

from calendly.records import MalformedRecordError

NUL = "\x00"
# Column -> the Calendly field it comes from, for the fields an error names.
CALENDLY_FIELDS = {
    "calendly_id": "uri",
    "user_uri": "user",
    "event_type_uri": "event_type",
    "old_invitee_uri": "old_invitee",
    "new_invitee_uri": "new_invitee",
    "no_show_uri": "no_show.uri",
    "cancel_reason": "cancellation.reason",
    "canceled_by": "cancellation.canceled_by",
    "canceler_type": "cancellation.canceler_type",
    "location_type": "location.type",
    "location_status": "location.status",
    "location_info": "location.additional_info",
}


def free_text(value):
    """`value` without NUL characters when it is text (nested lists and dicts included)."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, list | dict) and _ESCAPED_NUL not in _json_or_nul(value):
        return value  # one check in C instead of a walk through every answer of a sync
    if isinstance(value, list):
        return [free_text(item) for item in value]
    if isinstance(value, dict):
        return {key: free_text(item) for key, item in value.items()}
    return value


# How JSON spells a NUL character (and how orjson writes it).
_ESCAPED_NUL = b"\\u0000"


def _json_or_nul(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # not JSON: walk it
        return _ESCAPED_NUL


def fit(table: Table, values: dict, record: str, free: frozenset[str]) -> dict:
    """Fit `values` (column -> value) to `table` in place and return them.

    Args:
        table: the table the values go into; its String lengths are the limits.
        values: the row's values.
        record: the record's name for the error (``invitee``, ``scheduled_event`` ...).
        free: the columns that hold free text.

    Raises:
        MalformedRecordError: an identity or code value holds a NUL or is longer than its column.
    """
    fields, errors = [], []
    lengths = _lengths(table)
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        length = lengths[name]
        if name in free:
            value = free_text(value)
            values[name] = value[:length] if length is not None else value
        elif NUL in value:
            fields.append(CALENDLY_FIELDS.get(name, name))
            errors.append("nul_character")
        elif length is not None and len(value) > length:
            fields.append(CALENDLY_FIELDS.get(name, name))
            errors.append("too_long")
    if fields:
        raise MalformedRecordError(record, fields, errors, _uri(values))
    return values


@functools.cache
def _lengths(table: Table) -> dict[str, int | None]:
    # Looked up per value of every record: read from the column types once.
    return {column.name: getattr(column.type, "length", None) for column in table.c}


def _uri(values: dict) -> str | None:
    uri = values.get("uri")
    return uri if isinstance(uri, str) and len(uri) <= 255 and NUL not in uri else None
