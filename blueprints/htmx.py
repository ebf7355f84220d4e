"""The only module that reads or writes HX-* headers."""

import json
from urllib.parse import urlsplit

from flask import request


def is_htmx_request() -> bool:
    """True for any request made by htmx (fragment, boosted or history restore)."""
    return request.headers.get("HX-Request") == "true"


def is_partial_request() -> bool:
    """True for an htmx request that wants a fragment (not boosted, not a history restore)."""
    return (
        is_htmx_request()
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def current_page_path() -> str | None:
    """Path and query of the page the htmx request came from, when it is on this host."""
    url = request.headers.get("HX-Current-URL")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def redirect(response, url: str):
    """Make htmx load `url` as a full page instead of swapping `response` in."""
    response.headers["HX-Redirect"] = url
    return response


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
