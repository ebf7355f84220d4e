"""Calendly's timestamps: ISO-8601 in UTC with microseconds and a ``Z``.

Calendly writes every time as ``2024-01-20T14:00:00.000000Z``. This is the one place that reads
and writes that format, so the connector, the mirror and the services agree on it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str | datetime | None) -> datetime | None:
    """Read a Calendly timestamp as an aware UTC datetime.

    Lenient about the spelling (``Z`` or an offset, with or without fractions, surrounding
    blanks); a time without an offset is taken as UTC, because Calendly's times are UTC.

    Args:
        value: An ISO-8601 string or a datetime; None or ``""`` when the time is absent.

    Returns:
        The time in UTC, or None when ``value`` is None or ``""``.

    Raises:
        ValueError: when ``value`` is not a readable timestamp (blanks and other types included).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"unreadable timestamp {value[:64]!r}") from exc
    else:
        raise ValueError(f"unreadable timestamp {value!r:.64}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time_or_none(value: str | datetime | None) -> datetime | None:
    """Like ``parse_time``, for places where an unreadable time is as good as none.

    Returns:
        The time in UTC, or None when ``value`` is missing or unreadable.
    """
    try:
        return parse_time(value)
    except ValueError:
        return None


def format_time(moment: datetime, *, name: str = "time") -> str:
    """Write an aware datetime the way Calendly does (UTC, microseconds, ``Z``).

    Args:
        moment: A timezone-aware datetime.
        name: What the value is, for the error message.

    Returns:
        E.g. ``2030-05-06T07:08:09.123456Z``.

    Raises:
        ValueError: when ``moment`` is naive (it could be any timezone).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive time is ambiguous)")
    utc = moment.astimezone(UTC)
    # Spelled out rather than strftime: %Y does not zero-pad years before 1000 on glibc.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )
