"""The only module that reads or writes HX-* headers."""

import json

from flask import request


def is_partial_request() -> bool:
    """True for an htmx request that wants a fragment (not boosted, not a history restore)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def trigger(response, events: dict):
    """Ask the page to fire `events` (name -> detail) once the response is swapped in."""
    existing = response.headers.get("HX-Trigger")
    merged = json.loads(existing) if existing else {}
    merged.update(events)
    response.headers["HX-Trigger"] = json.dumps(merged)
    return response


def vary_on_htmx(response):
    """Caches must not hand a fragment to a full-page request or the reverse."""
    response.vary.add("HX-Request")
    return response
