"""Walking Calendly's paged collections by repeating the query with ``page_token``.

The URL in ``pagination.next_page`` is never requested (it always names api.calendly.com, so a
simulator or proxy ``base_url`` would be bypassed); only its ``page_token`` is used. A token that
comes back twice stops the walk instead of looping, and a /scheduled_events walk whose page token
Calendly rejects restarts from the last start time it reached.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from calendly.errors import ApiError
from calendly.times import format_time, parse_time
from calendly.transport import Transport

# One logger name for all of the connector's request log lines, as before the split into modules.
log = logging.getLogger("calendly.client")

# How often a /scheduled_events walk may restart after Calendly rejects its page_token.
MAX_WALK_RESTARTS = 3

_ONE_MICROSECOND = timedelta(microseconds=1)


def iter_collection(transport: Transport, path: str, params: dict) -> Iterator[dict]:
    """Yield every item of a paged collection, page by page as the iterator is consumed.

    Args:
        transport: Sends the requests.
        path: The collection's path, e.g. ``/event_types``.
        params: The query of the first page; later pages add ``page_token``.

    Returns:
        An iterator of the collection's items (dicts).

    Raises:
        MalformedResponseError: a page token repeats, or a page is not the promised JSON.
        CalendlyError: on any other API failure while iterating.
    """
    seen_tokens: set[str] = set()
    page_token: str | None = None
    while True:
        query = dict(params)
        if page_token:
            query["page_token"] = page_token
        body = transport.request("GET", path, query, expect="collection")
        yield from body["collection"]
        next_token = next_page_token(transport, body, path)
        if not next_token:
            return
        if next_token in seen_tokens:
            # A server bug or a broken proxy cache would otherwise make us page forever.
            raise transport.malformed(
                "GET",
                path,
                f"the same pagination token came back twice (after {len(seen_tokens) + 1} "
                "pages); stopped instead of looping.",
            )
        seen_tokens.add(next_token)
        page_token = next_token


def next_page_token(transport: Transport, body: dict, path: str) -> str | None:
    """The token of the next page, or None on the last page.

    Current responses carry ``next_page_token``; older ones only ``next_page`` (a full URL whose
    query holds ``page_token``).

    Args:
        transport: Builds the error for a malformed answer.
        body: A decoded collection page.
        path: The collection's path, for the error message.

    Raises:
        MalformedResponseError: the pagination object is unreadable.
    """
    pagination = body.get("pagination")
    if not isinstance(pagination, dict):
        return None
    if "next_page_token" in pagination:
        token = pagination["next_page_token"]
        if token in (None, ""):
            return None
        if not isinstance(token, str):
            raise transport.malformed("GET", path, "pagination.next_page_token is not a string")
        return token
    next_page = pagination.get("next_page")
    if not next_page:
        return None
    if not isinstance(next_page, str):
        raise transport.malformed("GET", path, "pagination.next_page is not a URL")
    tokens = parse_qs(urlsplit(next_page).query).get("page_token")
    if not tokens or not tokens[0]:
        raise transport.malformed("GET", path, "pagination.next_page has no page_token")
    return tokens[0]


def walk_scheduled_events(transport: Transport, params: dict) -> Iterator[dict]:
    """Page through /scheduled_events, restarting after a rejected page token.

    Events are de-duplicated by ``uri``, so a restart (or a page that overlaps the previous one)
    never yields an event twice.

    Args:
        transport: Sends the requests.
        params: The query of the first page (``sort`` decides how a restart resumes).

    Returns:
        An iterator of Event dicts.

    Raises:
        ApiError: the page token was rejected more than ``MAX_WALK_RESTARTS`` times.
        CalendlyError: on any other API failure while iterating.
    """
    yielded: set[str] = set()
    last_start: str | None = None
    restarts = 0
    query = params
    while True:
        try:
            for event in iter_collection(transport, "/scheduled_events", query):
                uri = event.get("uri")
                if isinstance(uri, str):
                    if uri in yielded:
                        continue
                    yielded.add(uri)
                if isinstance(event.get("start_time"), str):
                    last_start = event["start_time"]
                yield event
            return
        except ApiError as exc:
            if not _rejects_page_token(exc) or restarts >= MAX_WALK_RESTARTS:
                raise
            query_again = restart_query(params, last_start)
            if query_again is None:
                raise
            restarts += 1
            log.warning(
                "Calendly rejected the page token of /scheduled_events; restarting the walk "
                "from start_time %s (restart %d of %d)",
                last_start,
                restarts,
                MAX_WALK_RESTARTS,
            )
            query = query_again


def restart_query(params: dict, last_start: str | None) -> dict | None:
    """The query that restarts a /scheduled_events walk just before ``last_start``.

    It steps 1 µs past the last start time seen (back for ``start_time:asc``, forward for
    ``start_time:desc``), so events sharing that start time are fetched again whether the
    server's bound is inclusive or exclusive; the walk skips the ones already yielded.

    Args:
        params: The walk's original query.
        last_start: ``start_time`` of the last event yielded; None when none was.

    Returns:
        The new query, or None when the sort order gives no way to resume.
    """
    query = dict(params)
    if last_start is None:
        return query  # nothing yielded yet: simply start over
    sort = (params.get("sort") or "").replace(" ", "").lower()
    try:
        moment = parse_time(last_start)
    except ValueError:
        moment = None
    if sort == "start_time:asc":
        key, bound = "min_start_time", moment - _ONE_MICROSECOND if moment else None
    elif sort == "start_time:desc":
        key, bound = "max_start_time", moment + _ONE_MICROSECOND if moment else None
    else:
        return None
    query[key] = format_time(bound, name=key) if bound else last_start
    return query


def _rejects_page_token(exc: ApiError) -> bool:
    if exc.status != 400:
        return False
    for detail in exc.details:
        if "page_token" in f"{detail.get('parameter') or ''} {detail.get('message') or ''}":
            return True
    return False
