"""A Calendly API v2 simulator: a real HTTP server that answers like api.calendly.com.

It serves seeded data (see devtools.sample_data) under the paths a sync client uses, with
Calendly's auth, errors, pagination and rate-limit headers, and can inject faults (5xx, 429,
timeouts, dropped connections, malformed bodies, revoked tokens, rejected page tokens). Writes:
no-shows, webhook subscriptions, and the data-compliance deletion of invitees (accepted only
after ``set_enterprise(True)``, as on Calendly's Enterprise plan).

Every ``uri`` and ``next_page`` it returns points at https://api.calendly.com, never at the
simulator's own address: a client that requests those URLs instead of building paths from UUIDs
and page tokens fails here rather than in production.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from calendly.signature import SIGNATURE_HEADER, sign
from devtools import sample_data as sd
from store import clock

API_BASE = sd.API_BASE
JSON_TYPE = "application/json; charset=utf-8"
FAULTS = (
    "500",
    "502",
    "503",
    "429",
    "slow",
    "drop",
    "malformed",
    "revoke",
    "invalid_page_token",
)
# Faults that `set_chaos` may scatter over requests (a revoked token or a page token would not
# be random noise).
CHAOS_FAULTS = ("500", "502", "503", "429", "slow", "drop", "malformed")
DEFAULT_COUNT = 20
# Calendly's paid-plan quota; only reported on injected 429s when no limit is configured.
NOMINAL_RATE_LIMIT = 500

ERR_UNAUTHENTICATED = {"title": "Unauthenticated", "message": "The access token is invalid"}
ERR_NOT_FOUND = {
    "title": "Resource Not Found",
    "message": "The server could not find the requested resource.",
}
ERR_INTERNAL = {
    "title": "Internal Server Error",
    "message": "The server encountered an unexpected condition that prevented it from "
    "fulfilling the request.",
}
ERR_UNAVAILABLE = {
    "title": "Service Unavailable",
    "message": "The service is temporarily unavailable. Please try again later.",
}
ERR_TOO_MANY = {
    "title": "Too Many Requests",
    "message": "You have exceeded the rate limit. Please wait before making more requests.",
}
ERR_PERMISSION = {
    "title": "Permission Denied",
    "message": "You do not have permission to access this resource.",
}
ERR_PLAN = {"title": "Permission Denied", "message": "Please upgrade to a paid Calendly account."}
ERR_ENTERPRISE = {
    "title": "Permission Denied",
    "message": "Please upgrade your Calendly account to Enterprise.",
}
ERR_DATA_REQUESTS = {
    "title": "Permission Denied",
    "message": "You must be an admin/owner with the data requests permission enabled to use "
    "this resource. Contact Calendly support and ask them to grant you data requests "
    "permission.",
}
# The scope the simulator asks for data-compliance deletion (Calendly names none in its spec).
DATA_COMPLIANCE_SCOPE = "data_compliance:write"
ERR_HOOK_EXISTS = {"title": "Already Exists", "message": "Hook with this url already exists"}
# Event names Calendly accepts for webhook subscriptions, and the scopes each one allows.
WEBHOOK_EVENTS = (
    "invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted",
    "event_type.created", "event_type.updated", "event_type.deleted",
    "routing_form_submission.created", "meeting_recap.created", "meeting_recap.updated",
    "meeting_recap.deleted", "contact.created", "contact.updated", "contact.deleted",
)  # fmt: skip
WEBHOOK_SCOPES = ("organization", "user")  # the simulated account has no groups
_EVENT_SCOPES = {
    "routing_form_submission.created": ("organization",),
    "meeting_recap.created": ("user",),
    "meeting_recap.updated": ("user",),
    "meeting_recap.deleted": ("user",),
}
# What an invitee.* delivery embeds of its event (Calendly's InviteePayloadScheduledEvent).
EMBEDDED_EVENT_FIELDS = (
    "uri", "name", "meeting_notes_plain", "meeting_notes_html", "status", "start_time",
    "end_time", "event_type", "location", "invitees_counter", "created_at", "updated_at",
    "event_memberships", "event_guests", "cancellation",
)  # fmt: skip
_INVITEE_URI = re.compile(
    re.escape(API_BASE) + r"/scheduled_events/([A-Za-z0-9_-]+)/invitees/([A-Za-z0-9_-]+)"
)
MAX_BODY_BYTES = 64 * 1024
# Gateways answer 502 in HTML, not in Calendly's JSON: clients must cope with both.
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def insufficient_scope(scopes: list[str]) -> dict:
    """Calendly's 403 for a token without a scope the request needs."""
    return {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": list(scopes),
    }


def invalid_argument(details: list[dict]) -> dict:
    """Calendly's 400 body."""
    return {
        "title": "Invalid Argument",
        "message": "The supplied parameters are invalid.",
        "details": details,
    }


@dataclass
class RequestRecord:
    """One request the simulator received (status 0 = connection dropped, None = in flight)."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None = None
    fault: str | None = None
    at: float = field(default_factory=clock.timestamp)


@dataclass
class DeliveryRecord:
    """One webhook delivery attempt: status None means no HTTP answer (see `error`)."""

    subscription_uuid: str
    event: str
    url: str
    status: int | None = None
    error: str | None = None
    at: float = field(default_factory=clock.timestamp)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Fault:
    kind: str
    times: int | None
    path: str | None
    after: int
    delay: float
    reset: float

    def matches(self, path: str, query: dict[str, str]) -> bool:
        if self.path is not None and not path.startswith(self.path):
            return False
        return self.kind != "invalid_page_token" or bool(query.get("page_token"))


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json(status: int, payload) -> _Response:
    return _Response(
        status, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    )


def _format_reset(seconds: float, whole: bool) -> str:
    if whole:
        return str(max(1, math.ceil(seconds)))
    return f"{max(seconds, 0.001):.3f}"


class _Handler(WSGIRequestHandler):
    # Headers and body go out in separate writes; without this a client's delayed ACK stalls
    # every response by ~40 ms.
    disable_nagle_algorithm = True

    def log_request(self, code="-", size="-"):
        simulator = getattr(self.server, "simulator", None)
        if simulator is not None and simulator.verbose:
            super().log_request(code, size)


class CalendlySimulator:
    """An in-process Calendly API v2 server with mutable state and fault injection."""

    def __init__(
        self,
        token: str = "sim-token",
        seed: int = 42,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        now: datetime | None = None,
    ):
        self.token = token
        self.seed = seed
        self.fixed_now = sd.parse_time(now) if now is not None else None
        self.verbose = False
        self._lock = threading.RLock()
        self._t0 = time.monotonic()
        self._rng = random.Random(f"mutations:{seed}")
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

        self._faults: list[_Fault] = []
        self._revoked = False
        self._latency = 0.0
        self._fail_rate = 0.0
        self._chaos_faults: tuple[str, ...] = ("503",)
        self._chaos_rng = random.Random(f"chaos:{seed}")
        self._rate_limit: int | None = None
        self._rate_window = 60.0
        self._window_start: float | None = None
        self._window_used = 0
        self.set_rate_limit(rate_limit, rate_window)

        self.request_log: list[RequestRecord] = []
        self.responses_429 = 0

        self._server = None
        self._thread: threading.Thread | None = None
        self.host: str | None = None
        self.port: int | None = None

        self.user: dict = {}
        # The organization: its members (User resources, the token's user first), their roles
        # and the hosts of team event types (see sample_data.add_team).
        self.members: list[dict] = []
        self.roles: dict[str, str] = {}
        self.type_hosts: dict[str, list[str]] = {}
        self._membership_uris: dict[str, str] = {}
        self.organization_uri = ""
        self.event_types: list[dict] = []
        self.events: dict[str, dict] = {}
        self.invitees: dict[str, list[dict]] = {}
        self._specs: dict[str, sd.EventTypeSpec] = {}
        self._invitee_index: dict[str, str] = {}
        self._no_show_index: dict[str, str] = {}
        self._init_webhooks()
        self.seed_data()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> CalendlySimulator:
        """Serve in a daemon thread (port 0 picks a free port); returns self."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        try:
            server = make_server(host, port, self._wsgi, threaded=True, request_handler=_Handler)
        except SystemExit as exc:  # werkzeug exits the process when it cannot bind
            raise OSError(f"cannot listen on {host}:{port}") from exc
        server.simulator = self
        self._server = server
        self.host = host
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"calendly-simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CalendlySimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The simulator's own root URL, e.g. http://127.0.0.1:54321."""
        if self.port is None:
            raise RuntimeError("simulator not started")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", None) else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # -- data ----------------------------------------------------------------------------------

    def reset(self, *, now: datetime | str | None = None, **seed_args) -> CalendlySimulator:
        """Back to a fresh account (as `seed_data(**seed_args)`): no subscriptions, faults, rate
        limit or log.

        Lets a test module share one running simulator between its tests. `now` moves the
        simulator's clock there first, so that data reseeded later in a long run is generated
        around the time the test sees, not the time the simulator was built.
        """
        if now is not None:
            self.fixed_now = sd.parse_time(now)
            self._t0 = time.monotonic()
        self.seed_data(**seed_args)
        self._init_webhooks()
        self.clear_faults()
        self.set_rate_limit(None)
        self.reset_log()
        return self

    def seed_data(
        self,
        n_events: int = 300,
        max_invitees: int = 40,
        past_days: int = 60,
        future_days: int = 120,
        exact_invitees: bool = False,
        team: bool = False,
    ) -> None:
        """Replace all data with a deterministic (by seed and now) realistic account.

        ``exact_invitees=True`` gives every event exactly ``max_invitees`` invitees (benchmarks).
        ``team=True`` makes it an organization of three hosts with a round-robin and a
        collective team type (``sample_data.add_team``).
        """
        now = self.fixed_now if self.fixed_now is not None else clock.now()
        data = sd.generate(
            self.seed, now, n_events, max_invitees, past_days, future_days, exact_invitees
        )
        if team:
            data = sd.add_team(data, self.seed)
        with self._lock:
            self.user = data.user
            self.members = data.members
            self.roles = data.roles
            self.type_hosts = data.type_hosts
            self._membership_uris = {
                member["uri"]: f"{API_BASE}/organization_memberships/"
                + sd.new_uuid(random.Random(f"membership:{member['uri']}"))
                for member in data.members
            }
            self.organization_uri = data.organization_uri
            self.event_types = data.event_types
            self.events = data.events
            self.invitees = data.invitees
            self._specs = data.specs
            self._invitee_index = {
                sd.uuid_of(inv["uri"]): ev_uuid
                for ev_uuid, invs in data.invitees.items()
                for inv in invs
            }
            self._no_show_index = {}
            self._rng = random.Random(f"mutations:{self.seed}")
            self._last_stamp = max(self._last_stamp, now)

    def event_type_uri(self, name: str) -> str:
        """URI of the event type called ``name``."""
        for et in self.event_types:
            if et["name"] == name:
                return et["uri"]
        raise KeyError(f"no event type named {name!r}")

    def add_event_type(
        self, name: str, *, like: str = sd.MAIN_EVENT_TYPE, questions: list[dict] | None = None
    ) -> dict:
        """Create an event type called `name`, scheduled like the type `like`; returns it."""
        with self._lock:
            spec = dataclasses.replace(
                self._spec(self.event_type_uri(like)),
                name=name,
                slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            )
            if questions is not None:
                spec.questions = [dict(q) for q in questions]
            event_type = sd.build_event_type(
                self._rng, spec, self.user, self.now(), len(self.event_types)
            )
            self.event_types.append(event_type)
            self._specs[event_type["uri"]] = spec
            return event_type

    def now(self) -> datetime:
        """The simulator's current time: the fixed ``now`` advanced by real elapsed time, else
        the app's clock (store.clock), which tests may move."""
        if self.fixed_now is not None:
            return self.fixed_now + timedelta(seconds=time.monotonic() - self._t0)
        return clock.now()

    def _stamp(self) -> str:
        # Strictly increasing, so every mutation moves updated_at forward.
        moment = max(self.now(), self._last_stamp + timedelta(microseconds=1))
        self._last_stamp = moment
        return sd.fmt_time(moment)

    def _spec(self, event_type_uri: str) -> sd.EventTypeSpec:
        spec = self._specs.get(event_type_uri)
        if spec is None:
            raise KeyError(f"unknown event type {event_type_uri!r}")
        return spec

    def _event(self, event_uuid: str) -> dict:
        try:
            return self.events[event_uuid]
        except KeyError:
            raise KeyError(f"no scheduled event {event_uuid!r}") from None

    def find_invitee(self, invitee_uuid: str) -> tuple[str, dict]:
        """Return (event uuid, invitee dict) for an invitee uuid."""
        with self._lock:
            ev_uuid = self._invitee_index.get(invitee_uuid)
            suffix = f"/invitees/{invitee_uuid}"
            for inv in self.invitees.get(ev_uuid, ()) if ev_uuid else ():
                if inv["uri"].endswith(suffix):
                    return ev_uuid, inv
            # Someone may have edited self.invitees directly: fall back to a scan.
            for ev_uuid, invs in self.invitees.items():
                for inv in invs:
                    if inv["uri"].endswith(suffix):
                        self._invitee_index[invitee_uuid] = ev_uuid
                        return ev_uuid, inv
        raise KeyError(f"no invitee {invitee_uuid!r}")

    def _open_event(self, event_uuid: str) -> tuple[dict, list[dict]]:
        """(event, its invitees) of an active event with a seat left; else ValueError."""
        event = self._event(event_uuid)
        if event["status"] != "active":
            raise ValueError(f"event {event_uuid} is canceled")
        invs = self.invitees.setdefault(event_uuid, [])
        sd.recount(event, invs)
        counter = event["invitees_counter"]
        if counter["active"] >= counter["limit"]:
            raise ValueError(f"event {event_uuid} is full ({counter['limit']})")
        return event, invs

    def _touch(self, event_uuid: str, stamp: str) -> None:
        event = self.events[event_uuid]
        sd.recount(event, self.invitees.setdefault(event_uuid, []))
        event["updated_at"] = stamp

    def _next_free_slot(self, spec: sd.EventTypeSpec) -> datetime:
        taken = {ev["start_time"] for ev in self.events.values()}
        day = (self.now() + timedelta(days=1)).date()
        for _ in range(3660):
            if day.weekday() in spec.weekdays:
                for slot in spec.slots:
                    start = sd.berlin_to_utc(day, *slot)
                    if sd.fmt_time(start) not in taken:
                        return start
            day += timedelta(days=1)
        raise RuntimeError("no free slot within ten years")

    # -- mutations ---------------------------------------------------------------------------

    def add_event(
        self,
        *,
        event_type_uri: str | None = None,
        start_time: datetime | str | None = None,
        name: str | None = None,
        location=...,
        status: str = "active",
        hosts: Iterable[dict] | None = None,
    ) -> dict:
        """Create a scheduled event (default: the Infowebinar type, the next free future slot,
        hosted by the token's user; `hosts`: members who host it instead)."""
        if status not in ("active", "canceled"):
            raise ValueError("status must be 'active' or 'canceled'")
        with self._lock:
            et_uri = event_type_uri or self.event_type_uri(sd.MAIN_EVENT_TYPE)
            spec = self._spec(et_uri)
            start = (
                sd.parse_time(start_time) if start_time is not None else self._next_free_slot(spec)
            )
            stamp = self._stamp()
            event = sd.build_event(
                self._rng,
                user=self.user,
                spec=spec,
                event_type_uri=et_uri,
                start=start,
                created_at=stamp,
                location=location,
                name=name,
            )
            if status == "canceled":
                event["status"] = "canceled"
                event["cancellation"] = sd.cancellation(self.user["name"], None, "host", stamp)
            if hosts is not None:
                template = event["event_memberships"][0]
                event["event_memberships"] = [
                    dict(template, **sd.membership_of(host)) for host in hosts
                ]
            ev_uuid = sd.uuid_of(event["uri"])
            self.events[ev_uuid] = event
            self.invitees[ev_uuid] = []
            return event

    def book(
        self,
        event_uuid: str,
        *,
        name: str,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        timezone: str | None = "Europe/Berlin",
        questions_and_answers: list[dict] | None = None,
    ) -> dict:
        """Add an active invitee to an active event with room left; returns the invitee."""
        with self._lock:
            event, invs = self._open_event(event_uuid)
            stamp = self._stamp()
            inv = sd.build_invitee(
                self._rng,
                event_uri=event["uri"],
                name=name,
                email=email,
                first_name=first_name,
                last_name=last_name,
                timezone=timezone,
                created_at=stamp,
                questions_and_answers=list(questions_and_answers or []),
                tracking_data=sd.empty_tracking(),
            )
            invs.append(inv)
            self._invitee_index[sd.uuid_of(inv["uri"])] = event_uuid
            self._touch(event_uuid, stamp)
            self._announce_invitee("invitee.created", inv)
        self._flush_deliveries()
        return inv

    def _cancel_solo_event(self, event_uuid: str, cancel: dict) -> None:
        # Calendly cancels a one-on-one event once its only invitee is gone.
        event = self.events[event_uuid]
        spec = self._specs.get(event["event_type"])
        active = event["invitees_counter"]["active"]
        if spec is not None and spec.kind == "solo" and active == 0 and event["status"] == "active":
            event["status"] = "canceled"
            event["cancellation"] = dict(cancel)
            sd.fail_conference(event)

    def cancel_invitee(
        self,
        invitee_uuid: str,
        *,
        reason: str | None = None,
        canceler_type: str = "invitee",
        canceled_by: str | None = None,
    ) -> dict:
        """Cancel an active invitee (a solo event is canceled with it); returns the invitee."""
        if canceler_type not in ("invitee", "host"):
            raise ValueError("canceler_type must be 'invitee' or 'host'")
        with self._lock:
            ev_uuid, inv = self.find_invitee(invitee_uuid)
            if inv["status"] != "active":
                raise ValueError(f"invitee {invitee_uuid} is already canceled")
            if canceled_by is None:
                canceled_by = inv["name"] if canceler_type == "invitee" else self.user["name"]
            stamp = self._stamp()
            cancel = sd.cancellation(canceled_by, reason, canceler_type, stamp)
            sd.cancel_invitee_dict(inv, cancel)
            self._touch(ev_uuid, stamp)
            self._cancel_solo_event(ev_uuid, cancel)
            self._announce_invitee("invitee.canceled", inv)
        self._flush_deliveries()
        return inv

    def cancel_event(
        self, event_uuid: str, *, reason: str | None = None, canceled_by: str | None = None
    ) -> dict:
        """Cancel an event as its host, canceling its active invitees too; returns the event."""
        with self._lock:
            event = self._event(event_uuid)
            if event["status"] != "active":
                raise ValueError(f"event {event_uuid} is already canceled")
            stamp = self._stamp()
            cancel = sd.cancellation(canceled_by or self.user["name"], reason, "host", stamp)
            event["status"] = "canceled"
            event["cancellation"] = cancel
            sd.fail_conference(event)
            canceled = []
            for inv in self.invitees.get(event_uuid, []):
                if inv["status"] == "active":
                    sd.cancel_invitee_dict(inv, dict(cancel))
                    canceled.append(inv)
            self._touch(event_uuid, stamp)
            for inv in canceled:
                self._announce_invitee("invitee.canceled", inv)
        self._flush_deliveries()
        return event

    def reschedule(self, invitee_uuid: str, new_event_uuid: str) -> dict:
        """Move an invitee to another event the way Calendly records it; returns the new invitee."""
        with self._lock:
            old_ev_uuid, old = self.find_invitee(invitee_uuid)
            if old["status"] != "active":
                raise ValueError(f"invitee {invitee_uuid} is canceled")
            if new_event_uuid == old_ev_uuid:
                raise ValueError("cannot reschedule into the same event")
            target, target_invs = self._open_event(new_event_uuid)
            stamp = self._stamp()
            new = sd.rescheduled_invitee(self._rng, old, event_uri=target["uri"], created_at=stamp)
            cancel = sd.cancellation(old["name"], None, "invitee", stamp)
            sd.cancel_invitee_dict(old, cancel)
            target_invs.append(new)
            self._invitee_index[sd.uuid_of(new["uri"])] = new_event_uuid
            self._touch(old_ev_uuid, stamp)
            self._touch(new_event_uuid, stamp)
            self._cancel_solo_event(old_ev_uuid, cancel)
            self._announce_invitee("invitee.canceled", old)
            self._announce_invitee("invitee.created", new)
        self._flush_deliveries()
        return new

    def rename_event(self, event_uuid: str, name: str) -> dict:
        """Change an event's name; returns the event."""
        with self._lock:
            event = self._event(event_uuid)
            event["name"] = name
            event["updated_at"] = self._stamp()
            return event

    def set_hosts(self, event_uuid: str, hosts: list[dict]) -> dict:
        """Make `hosts` (dicts with uri, name, email) an event's members; returns the event.

        Its `updated_at` stays: the mirror must see a change of hosts by the hosts alone."""
        with self._lock:
            event = self._event(event_uuid)
            event["event_memberships"] = [
                {"user": host["uri"], "user_email": host["email"], "user_name": host["name"]}
                for host in hosts
            ]
            return event

    def remove_event(self, event_uuid: str) -> None:
        """Make an event vanish upstream (404, absent from every list)."""
        with self._lock:
            self._event(event_uuid)
            del self.events[event_uuid]
            for inv in self.invitees.pop(event_uuid, []):
                self._invitee_index.pop(sd.uuid_of(inv["uri"]), None)

    def set_no_show(self, invitee_uuid: str, on: bool) -> dict:
        """Mark (on=True) or unmark an invitee as a no-show; returns the invitee."""
        with self._lock:
            _, inv = self.find_invitee(invitee_uuid)
            self._set_no_show(inv, on)
        self._flush_deliveries()
        return inv

    def _set_no_show(self, inv: dict, on: bool) -> dict | None:
        """Set or clear `inv`'s no-show (bumping updated_at); returns the no-show created or
        removed, None when nothing changed. Caller holds the lock."""
        if bool(inv["no_show"]) == bool(on):
            return None
        stamp = self._stamp()
        if on:
            no_show_uuid = sd.new_uuid(self._rng)
            inv["no_show"] = {
                "uri": f"{API_BASE}/invitee_no_shows/{no_show_uuid}",
                "created_at": stamp,
            }
            self._no_show_index[no_show_uuid] = sd.uuid_of(inv["uri"])
            no_show = _no_show_resource(inv)
        else:
            no_show = _no_show_resource(inv)
            self._no_show_index.pop(sd.uuid_of(inv["no_show"]["uri"]), None)
            inv["no_show"] = None
        inv["updated_at"] = stamp
        name = "invitee_no_show.created" if on else "invitee_no_show.deleted"
        self._announce(name, no_show, stamp)
        return no_show

    # -- webhook subscriptions, deliveries, plan and scopes -----------------------------------

    def _init_webhooks(self) -> None:
        self.webhook_subscriptions: dict[str, dict] = {}
        self._signing_keys: dict[str, str | None] = {}
        # Every delivery attempt, newest last (tests read it).
        self.delivery_log: list[DeliveryRecord] = []
        # True: book/cancel/reschedule/no-show changes are delivered to active subscriptions.
        self.auto_deliver = False
        # Tests serve the app on http://127.0.0.1:<port> while callback URLs must be https:
        # when set, deliveries go to this origin (scheme, host, port) with the callback's path.
        self.deliver_to: str | None = None
        self._plan_allows_webhooks = True
        # Data-compliance deletion (POST /data_compliance/deletion/invitees): Enterprise only.
        self._enterprise = False
        # The email lists of every accepted deletion request, oldest first (tests read it).
        self.deletion_requests: list[list[str]] = []
        self._org_admin = True
        self._missing_scopes: set[str] = set()
        self._webhook_rng = random.Random(f"webhooks:{self.seed}")
        self._local = threading.local()

    def set_plan_allows_webhooks(self, allowed: bool) -> None:
        """False: listing and creating webhook subscriptions answer 403 (a plan without them)."""
        with self._lock:
            self._plan_allows_webhooks = bool(allowed)

    def set_enterprise(self, enterprise: bool) -> None:
        """True: the account has the Enterprise plan, so data-compliance deletion of invitees
        is accepted (202) and done; False (the default): it answers Calendly's 403."""
        with self._lock:
            self._enterprise = bool(enterprise)

    def set_org_admin(self, admin: bool) -> None:
        """False: the token's user is a plain member (role "user"), so organization-scope
        webhook subscriptions and reading the organization's or colleagues' events and event
        types answer Calendly's 403 (the user's own still work)."""
        with self._lock:
            self._org_admin = bool(admin)

    def role_of(self, user_uri: str) -> str | None:
        """The member's role in the organization (the token's user: "owner", or "user" after
        ``set_org_admin(False)``); None for a stranger."""
        if user_uri == self.user.get("uri"):
            return "owner" if self._org_admin else "user"
        return self.roles.get(user_uri)

    def member(self, email_or_name: str) -> dict:
        """The member (User resource) with this email or name."""
        for member in self.members:
            if email_or_name in (member["email"], member["name"]):
                return member
        raise KeyError(f"no member {email_or_name!r}")

    def events_of(self, user_uri: str) -> list[dict]:
        """The scheduled events `user_uri` hosts (is among the event_memberships of)."""
        return [event for event in self.events.values() if _hosted_by(event, user_uri)]

    def _membership(self, member: dict) -> dict:
        stamp = member.get("created_at")
        return {
            "uri": self._membership_uris[member["uri"]],
            "role": self.role_of(member["uri"]),
            "user": {
                key: member.get(key)
                for key in (
                    "uri",
                    "name",
                    "slug",
                    "email",
                    "scheduling_url",
                    "timezone",
                    "avatar_url",
                    "created_at",
                    "updated_at",
                )
            },  # fmt: skip
            "organization": self.organization_uri,
            "updated_at": member.get("updated_at") or stamp,
            "created_at": stamp,
        }

    def set_scopes(self, *, missing: Iterable[str] = ()) -> None:
        """Scopes the token lacks (e.g. ``scheduled_events:write``): the endpoints needing one
        (event types, scheduled events, no-shows, webhooks) answer 403 Insufficient scope.
        ``missing=()`` grants all."""
        with self._lock:
            self._missing_scopes = set(missing)

    def add_webhook_subscription(
        self,
        url: str,
        events: Iterable[str] = ("invitee.created", "invitee.canceled"),
        *,
        scope: str = "organization",
        signing_key: str | None = None,
    ) -> dict:
        """Create a subscription directly (no HTTP, no validation); returns the resource."""
        with self._lock:
            return self._create_subscription(url, list(events), scope, signing_key)

    def find_subscription(self, ref: str) -> tuple[str, dict]:
        """(uuid, resource) of the subscription with this uuid, uri or callback URL."""
        with self._lock:
            if ref in self.webhook_subscriptions:
                return ref, self.webhook_subscriptions[ref]
            for uuid, sub in self.webhook_subscriptions.items():
                if ref in (sub["uri"], sub["callback_url"]):
                    return uuid, sub
        raise KeyError(f"no webhook subscription {ref!r}")

    def signing_key_of(self, ref: str) -> str | None:
        """The signing key a subscription was created with (Calendly never returns it)."""
        uuid, _ = self.find_subscription(ref)
        return self._signing_keys.get(uuid)

    def disable_subscription(self, ref: str) -> dict:
        """Set a subscription's state to disabled, as Calendly does after 24 h of failures."""
        with self._lock:
            _, sub = self.find_subscription(ref)
            stamp = self._stamp()
            sub["state"] = "disabled"
            sub["retry_started_at"] = sub["retry_started_at"] or stamp
            sub["updated_at"] = stamp
            return sub

    def deliver_webhook(
        self, ref: str, event_name: str, payload: dict, *, created_at: str | None = None
    ) -> DeliveryRecord:
        """POST one signed delivery of `event_name` with `payload` to a subscription's callback
        URL (or `deliver_to`), whatever its state; returns the attempt's record."""
        with self._lock:
            uuid, _ = self.find_subscription(ref)
            envelope = self._envelope(event_name, payload, created_at or self._stamp())
        return self._post_delivery(uuid, event_name, envelope)

    def _create_subscription(
        self, url: str, events: list[str], scope: str, signing_key: str | None
    ) -> dict:
        uuid = sd.new_uuid(self._webhook_rng)
        stamp = self._stamp()
        sub = {
            "uri": f"{API_BASE}/webhook_subscriptions/{uuid}",
            "callback_url": url,
            "created_at": stamp,
            "updated_at": stamp,
            "retry_started_at": None,
            "state": "active",
            "events": list(dict.fromkeys(events)),
            "scope": scope,
            "organization": self.organization_uri,
            "user": self.user["uri"] if scope == "user" else None,
            "group": None,
            "creator": self.user["uri"],
        }
        self.webhook_subscriptions[uuid] = sub
        self._signing_keys[uuid] = signing_key
        return sub

    def _envelope(self, event_name: str, payload: dict, created_at: str) -> dict:
        return {
            "event": event_name,
            "created_at": created_at,
            "created_by": self.user["uri"],
            "payload": copy.deepcopy(payload),
        }

    def _announce_invitee(self, event_name: str, inv: dict) -> None:
        """Queue an invitee.* delivery: the invitee plus its embedded scheduled_event."""
        if not self.auto_deliver:
            return
        event = self.events.get(sd.uuid_of(inv["event"]))
        payload = copy.deepcopy(inv)
        if event is not None:
            embedded = {key: copy.deepcopy(event.get(key)) for key in EMBEDDED_EVENT_FIELDS}
            embedded["event_memberships"] = [
                {key: member.get(key) for key in ("user", "user_email", "user_name")}
                for member in event.get("event_memberships") or []
            ]
            payload["scheduled_event"] = embedded
        self._announce(event_name, payload, inv["updated_at"])

    def _announce(self, event_name: str, payload: dict, created_at: str) -> None:
        """Queue a delivery to every active subscription of `event_name` (auto_deliver only).

        Queued per thread and sent once the lock is released, so the receiving app may call
        back into the simulator while it handles the delivery."""
        if not self.auto_deliver:
            return
        envelope = self._envelope(event_name, payload, created_at)
        pending = self._pending_deliveries()
        event = payload.get("scheduled_event") if isinstance(payload, dict) else None
        for uuid, sub in self.webhook_subscriptions.items():
            # A user-scope subscription hears only of the events its user hosts.
            if sub["scope"] == "user" and event and not _hosted_by(event, sub["user"]):
                continue
            if sub["state"] == "active" and event_name in sub["events"]:
                pending.append((uuid, event_name, envelope))

    def _pending_deliveries(self) -> list:
        if not hasattr(self._local, "pending"):
            self._local.pending = []
        return self._local.pending

    def _flush_deliveries(self) -> None:
        if getattr(self._local, "in_request", False):
            return  # _wsgi flushes once the request's lock is released
        pending = self._pending_deliveries()
        while pending:
            uuid, event_name, envelope = pending.pop(0)
            self._post_delivery(uuid, event_name, envelope)

    def signature(self, body: bytes, key: str) -> str:
        """The `Calendly-Webhook-Signature` header for `body`, signed now by the app's clock."""
        return sign(body, key, int(clock.timestamp()))

    def _post_delivery(self, uuid: str, event_name: str, envelope: dict) -> DeliveryRecord:
        with self._lock:
            sub = self.webhook_subscriptions.get(uuid)
            callback = sub["callback_url"] if sub else ""
            key = self._signing_keys.get(uuid)
        url = self._delivery_url(callback)
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Calendly Webhook Simulator"}
        if key:
            headers[SIGNATURE_HEADER] = self.signature(body, key)
        record = DeliveryRecord(uuid, event_name, url)
        try:
            # Calendly's own limits: 10 s to connect, 15 s to read.
            response = requests.post(
                url, data=body, headers=headers, timeout=(10, 15), allow_redirects=False
            )
            record.status = response.status_code
        except requests.RequestException as exc:
            record.error = type(exc).__name__
        with self._lock:
            self.delivery_log.append(record)
            if sub is not None:
                # Calendly retries failures for 24 h before disabling (see disable_subscription).
                if record.ok:
                    sub["retry_started_at"] = None
                elif sub["retry_started_at"] is None:
                    sub["retry_started_at"] = self._stamp()
        return record

    def _delivery_url(self, callback: str) -> str:
        if not self.deliver_to:
            return callback
        parts = urlsplit(callback)
        return self.deliver_to.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    # -- faults, auth, rate limit, log ---------------------------------------------------------

    def inject(
        self,
        fault: str,
        *,
        times: int | None = 1,
        path: str | None = None,
        after: int = 0,
        delay: float = 1.0,
        reset: float = 1.0,
    ) -> None:
        """Queue a fault for matching requests (``times=None``: until clear_faults)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for unlimited)")
        if path is not None and "://" in path:
            path = urlsplit(path).path
        with self._lock:
            self._faults.append(_Fault(fault, times, path, max(0, after), delay, reset))

    def set_chaos(
        self, latency: float = 0.0, fail_rate: float = 0.0, faults: Iterable[str] = ("503",)
    ) -> None:
        """Answer every request `latency` seconds late, and a random `fail_rate` share of them
        (0..1) with one of `faults` (from CHAOS_FAULTS), picked at random."""
        faults = tuple(faults)
        if not 0 <= fail_rate <= 1:
            raise ValueError("fail_rate must be from 0 to 1")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if unknown := [f for f in faults if f not in CHAOS_FAULTS]:
            raise ValueError(
                f"unknown faults {unknown}; expected some of {', '.join(CHAOS_FAULTS)}"
            )
        if fail_rate and not faults:
            raise ValueError("a fail_rate needs faults to choose from")
        with self._lock:
            self._latency, self._fail_rate, self._chaos_faults = latency, fail_rate, faults

    def revoke_token(self) -> None:
        """Every further request gets 401 until clear_faults()."""
        with self._lock:
            self._revoked = True

    def clear_faults(self) -> None:
        """Drop pending faults and un-revoke the token."""
        with self._lock:
            self._faults.clear()
            self._revoked = False

    def set_rate_limit(self, limit: int | None, window_seconds: float = 60.0) -> None:
        """Enforce ``limit`` requests per fixed window (None disables); starts a new window."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be >= 1 or None")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        with self._lock:
            self._rate_limit = limit
            self._rate_window = float(window_seconds)
            self._window_start = None
            self._window_used = 0

    @property
    def request_count(self) -> int:
        """How many requests arrived since the last reset_log()."""
        return len(self.request_log)

    def reset_log(self) -> None:
        """Clear the request log, the 429 counter and the current rate-limit window."""
        with self._lock:
            self.request_log = []
            self.responses_429 = 0
            self._window_start = None
            self._window_used = 0

    def _take_fault(self, path: str, query: dict[str, str]) -> _Fault | None:
        # Every pending fault counts the matching requests it sees; the first one past its
        # `after` fires. Later ready faults wait for the next request.
        fired = None
        for fault in self._faults:
            if not fault.matches(path, query):
                continue
            if fault.after > 0:
                fault.after -= 1
            elif fired is None:
                fired = fault
        if fired is not None:
            if fired.kind == "revoke":
                self._faults.remove(fired)
            elif fired.times is not None:
                fired.times -= 1
                if fired.times <= 0:
                    self._faults.remove(fired)
        return fired

    def _chaos_fault(self) -> _Fault | None:
        # Called with the lock held, so the seeded draws come in request order.
        if not self._fail_rate or self._chaos_rng.random() >= self._fail_rate:
            return None
        kind = self._chaos_rng.choice(self._chaos_faults)
        return _Fault(kind, None, None, 0, delay=5.0, reset=1.0)

    def _rate_headers(self, moment: float) -> tuple[list[tuple[str, str]], bool]:
        """Count this request against the window; returns (headers, over_limit)."""
        limit = self._rate_limit
        if limit is None:
            return [], False
        window = self._rate_window
        if self._window_start is None or moment >= self._window_start + window:
            self._window_start = moment
            self._window_used = 0
        over = self._window_used >= limit
        if not over:
            self._window_used += 1
        reset = window - (moment - self._window_start)  # not start+window-moment: float drift
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(limit - self._window_used)),
            ("X-RateLimit-Reset", _format_reset(reset, window >= 10)),
        ]
        return headers, over

    # -- HTTP ----------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        record = RequestRecord(method, path, query)
        with self._lock:
            self.request_log.append(record)
            rate_headers, limited = self._rate_headers(time.monotonic())
            fault = None
            if limited:
                self.responses_429 += 1
            else:
                fault = self._take_fault(path, query) or self._chaos_fault()
            latency = self._latency
        if latency:
            time.sleep(latency)
        if fault is not None:
            record.fault = fault.kind

        if limited:
            response = _json(429, ERR_TOO_MANY)
        elif fault is not None and fault.kind == "drop":
            record.status = 0
            _drop(environ)
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        elif fault is not None and fault.kind in ("500", "502", "503", "429", "invalid_page_token"):
            response = self._fault_response(fault, rate_headers)
        else:
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            self._local.in_request = True
            try:
                with self._lock:
                    if fault is not None and fault.kind == "revoke":
                        self._revoked = True
                    response = self._dispatch(method, path, query, environ)
            finally:
                self._local.in_request = False
            self._flush_deliveries()
            if fault is not None and fault.kind == "malformed":
                response = _Response(200, _truncate(response.body))

        record.status = response.status
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
        ]
        rate_names = {name for name, _ in response.headers}
        headers.extend(h for h in rate_headers if h[0] not in rate_names)
        headers.extend(response.headers)
        status_line = f"{response.status} {HTTPStatus(response.status).phrase}"
        start_response(status_line, headers)
        return [response.body]

    def _fault_response(self, fault: _Fault, rate_headers) -> _Response:
        kind = fault.kind
        if kind == "500":
            return _json(500, ERR_INTERNAL)
        if kind == "502":
            return _Response(502, BAD_GATEWAY_HTML, "text/html")
        if kind == "503":
            return _json(503, ERR_UNAVAILABLE)
        if kind == "invalid_page_token":
            return _json(
                400, invalid_argument([{"parameter": "page_token", "message": "is invalid"}])
            )
        with self._lock:
            self.responses_429 += 1
        response = _json(429, ERR_TOO_MANY)
        limit = next(
            (v for k, v in rate_headers if k == "X-RateLimit-Limit"), str(NOMINAL_RATE_LIMIT)
        )
        response.headers = [
            ("X-RateLimit-Limit", limit),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", _format_reset(fault.reset, fault.reset >= 10)),
        ]
        return response

    def _dispatch(self, method, path, query, environ) -> _Response:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, presented = auth.partition(" ")
        if self._revoked or scheme.lower() != "bearer" or presented.strip() != self.token:
            return _json(401, ERR_UNAUTHENTICATED)
        if path.startswith(("/invitee_no_shows", "/webhook_subscriptions")):
            return self._dispatch_writable(method, path, query, environ)
        if path.rstrip("/") == "/data_compliance/deletion/invitees":
            if method != "POST":
                return _json(404, ERR_NOT_FOUND)
            return self._scoped(DATA_COMPLIANCE_SCOPE) or self._delete_invitee_data(environ)
        if method not in ("GET", "HEAD"):
            return _json(404, ERR_NOT_FOUND)
        parts = [p for p in path.split("/") if p]
        n = len(parts)
        scope = f"{parts[0]}:read" if parts else ""
        if scope in ("event_types:read", "scheduled_events:read") and (
            refusal := self._scoped(scope)
        ):
            return refusal
        if n == 2 and parts[0] == "users":
            if parts[1] == "me":
                return _json(200, {"resource": self.user})
            for member in self.members:
                if parts[1] == sd.uuid_of(member["uri"]):
                    return _json(200, {"resource": member})
        elif parts and parts[0] == "organization_memberships":
            if n == 1:
                return self._list_memberships(query)
            for member in self.members if n == 2 else ():
                if self._membership_uris[member["uri"]].endswith(f"/{parts[1]}"):
                    return _json(200, {"resource": self._membership(member)})
        elif parts and parts[0] == "event_types":
            if n == 1:
                return self._list_event_types(query)
            if n == 2:
                for et in self.event_types:
                    if sd.uuid_of(et["uri"]) == parts[1]:
                        return _json(200, {"resource": et})
        elif parts and parts[0] == "scheduled_events":
            if n == 1:
                return self._list_events(query)
            event = self.events.get(parts[1]) if n >= 2 else None
            if event is not None and (self._org_admin or _hosted_by(event, self.user["uri"])):
                if n == 2:
                    return _json(200, {"resource": event})
                if n == 3 and parts[2] == "invitees":
                    return self._list_invitees(parts[1], query)
                if n == 4 and parts[2] == "invitees":
                    suffix = f"/invitees/{parts[3]}"
                    for inv in self.invitees.get(parts[1], ()):
                        if inv["uri"].endswith(suffix):
                            return _json(200, {"resource": inv})
        return _json(404, ERR_NOT_FOUND)

    # -- no-shows and webhook subscriptions over HTTP --------------------------------------------

    def _dispatch_writable(self, method, path, query, environ) -> _Response:
        parts = [p for p in path.split("/") if p]
        n = len(parts)
        if parts[0] == "invitee_no_shows":
            if n == 1 and method == "POST":
                return self._scoped("scheduled_events:write") or self._create_no_show(environ)
            if n == 2 and method in ("GET", "HEAD"):
                return self._scoped("scheduled_events:read") or self._get_no_show(parts[1])
            if n == 2 and method == "DELETE":
                return self._scoped("scheduled_events:write") or self._delete_no_show(parts[1])
        elif parts[0] == "webhook_subscriptions":
            if n == 1 and method in ("GET", "HEAD"):
                return (
                    self._scoped("webhooks:read")
                    or self._plan_refusal()
                    or self._list_subscriptions(query)
                )
            if n == 1 and method == "POST":
                return (
                    self._scoped("webhooks:write")
                    or self._plan_refusal()
                    or self._post_subscription(environ)
                )
            sub = self.webhook_subscriptions.get(parts[1]) if n == 2 else None
            if n == 2 and method in ("GET", "HEAD"):
                return self._scoped("webhooks:read") or (
                    _json(200, {"resource": sub}) if sub else _json(404, ERR_NOT_FOUND)
                )
            if n == 2 and method == "DELETE":
                if refusal := self._scoped("webhooks:write"):
                    return refusal
                if sub is None:
                    return _json(404, ERR_NOT_FOUND)
                del self.webhook_subscriptions[parts[1]]
                self._signing_keys.pop(parts[1], None)
                return _Response(204, b"")
        return _json(404, ERR_NOT_FOUND)

    def _scoped(self, scope: str) -> _Response | None:
        """403 Insufficient scope when the token lacks `scope` (a :write scope implies :read)."""
        family = scope.rsplit(":", 1)[0]
        lacking = scope in self._missing_scopes or (
            scope.endswith(":write") and f"{family}:read" in self._missing_scopes
        )
        return _json(403, insufficient_scope([scope])) if lacking else None

    def _plan_refusal(self) -> _Response | None:
        return None if self._plan_allows_webhooks else _json(403, ERR_PLAN)

    def _delete_invitee_data(self, environ) -> _Response:
        """Enterprise: remove every invitee with one of the emails (any case) and answer 202;
        otherwise Calendly's 403s (plan, or a user without the data requests permission)."""
        if not self._enterprise:
            return _json(403, ERR_ENTERPRISE)
        if not self._org_admin:
            return _json(403, ERR_DATA_REQUESTS)
        body, refusal = _read_json(environ)
        if refusal is not None:
            return refusal
        emails = body.get("emails")
        if (
            not isinstance(emails, list)
            or not emails
            or not all(isinstance(e, str) and "@" in e for e in emails)
        ):
            detail = {"parameter": "emails", "message": "must be a list of email addresses"}
            return _json(400, invalid_argument([detail]))
        wanted = {email.strip().casefold() for email in emails}
        with self._lock:
            for event_uuid, invitees in self.invitees.items():
                kept = [inv for inv in invitees if (inv["email"] or "").casefold() not in wanted]
                if len(kept) != len(invitees):
                    invitees[:] = kept
                    sd.recount(self.events[event_uuid], invitees)
            self.deletion_requests.append(list(emails))
        return _json(202, {})

    def _create_no_show(self, environ) -> _Response:
        body, refusal = _read_json(environ)
        if refusal is not None:
            return refusal
        invitee_uri = body.get("invitee")
        match = _INVITEE_URI.fullmatch(invitee_uri) if isinstance(invitee_uri, str) else None
        if match is None:
            detail = {"parameter": "invitee", "message": "must be an invitee URI"}
            return _json(400, invalid_argument([detail]))
        try:
            event_uuid, inv = self.find_invitee(match.group(2))
        except KeyError:
            return _json(404, ERR_NOT_FOUND)
        if event_uuid != match.group(1):
            return _json(404, ERR_NOT_FOUND)
        if inv["no_show"]:
            # Not documented by Calendly; the simulator's stand-in for "already marked".
            detail = {"parameter": "invitee", "message": "is already marked as no show"}
            return _json(400, invalid_argument([detail]))
        return _json(201, {"resource": self._set_no_show(inv, True)})

    def _no_show_invitee(self, no_show_uuid: str) -> dict | None:
        suffix = f"/invitee_no_shows/{no_show_uuid}"
        inv_uuid = self._no_show_index.get(no_show_uuid)
        if inv_uuid is not None:
            with contextlib.suppress(KeyError):
                _, inv = self.find_invitee(inv_uuid)
                if inv["no_show"] and inv["no_show"]["uri"].endswith(suffix):
                    return inv
        # Seeded no-shows and direct edits are not indexed: scan.
        for invs in self.invitees.values():
            for inv in invs:
                if inv["no_show"] and inv["no_show"]["uri"].endswith(suffix):
                    self._no_show_index[no_show_uuid] = sd.uuid_of(inv["uri"])
                    return inv
        return None

    def _get_no_show(self, no_show_uuid: str) -> _Response:
        inv = self._no_show_invitee(no_show_uuid)
        if inv is None:
            return _json(404, ERR_NOT_FOUND)
        return _json(200, {"resource": _no_show_resource(inv)})

    def _delete_no_show(self, no_show_uuid: str) -> _Response:
        inv = self._no_show_invitee(no_show_uuid)
        if inv is None:
            return _json(404, ERR_NOT_FOUND)
        self._set_no_show(inv, False)
        return _Response(204, b"")

    def _list_subscriptions(self, query) -> _Response:
        details: list[dict] = []
        count = _count(query, details)
        org, scope, user = query.get("organization"), query.get("scope"), query.get("user")
        if not org:
            details.append({"parameter": "organization", "message": "is required"})
        if not scope:
            details.append({"parameter": "scope", "message": "is required"})
        elif scope not in WEBHOOK_SCOPES:
            details.append({"parameter": "scope", "message": "must be one of organization, user"})
        elif scope == "user" and not user:
            details.append({"parameter": "user", "message": "is required for scope user"})
        _, descending = _sort(query, details, ("created_at",), "created_at")
        if details:
            return _json(400, invalid_argument(details))
        if org != self.organization_uri or (user and user != self.user["uri"]):
            return _json(403, ERR_PERMISSION)
        if scope == "organization" and not self._org_admin:
            return _json(403, ERR_PERMISSION)
        items = [
            sub
            for sub in self.webhook_subscriptions.values()
            if sub["scope"] == scope and (scope != "user" or sub["user"] == user)
        ]
        items.sort(key=lambda sub: (sub["created_at"], sub["uri"]), reverse=descending)
        return self._page("/webhook_subscriptions", query, items, count)

    def _post_subscription(self, environ) -> _Response:
        body, refusal = _read_json(environ)
        if refusal is not None:
            return refusal
        url, events, scope = body.get("url"), body.get("events"), body.get("scope")
        org, user, key = body.get("organization"), body.get("user"), body.get("signing_key")
        details = []
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname:
            details.append({"parameter": "url", "message": "must be a valid HTTPS URL"})
        if not isinstance(events, list) or not events:
            details.append({"parameter": "events", "message": "must be a non-empty list"})
        else:
            for name in events:
                if name not in WEBHOOK_EVENTS:
                    details.append({"parameter": "events", "message": f"{name} is not valid"})
                elif scope in WEBHOOK_SCOPES and scope not in _EVENT_SCOPES.get(
                    name, WEBHOOK_SCOPES
                ):
                    message = f"{name} is not allowed for scope {scope}"
                    details.append({"parameter": "events", "message": message})
        if not org:
            details.append({"parameter": "organization", "message": "is required"})
        if scope not in WEBHOOK_SCOPES:
            details.append({"parameter": "scope", "message": "must be one of organization, user"})
        elif scope == "user" and not user:
            details.append({"parameter": "user", "message": "is required for scope user"})
        if key is not None and not isinstance(key, str):
            details.append({"parameter": "signing_key", "message": "must be a string"})
        if details:
            return _json(400, invalid_argument(details))
        if org != self.organization_uri or (user and user != self.user["uri"]):
            return _json(403, ERR_PERMISSION)
        if scope == "organization" and not self._org_admin:
            return _json(403, ERR_PERMISSION)
        if any(sub["callback_url"] == url for sub in self.webhook_subscriptions.values()):
            return _json(409, ERR_HOOK_EXISTS)
        return _json(201, {"resource": self._create_subscription(url, events, scope, key)})

    # -- collections ---------------------------------------------------------------------------

    def _list_event_types(self, query) -> _Response:
        details: list[dict] = []
        count = _count(query, details)
        user, org = query.get("user"), query.get("organization")
        if not user and not org:
            msg = "At least one of organization or user must be filled"
            details += [
                {"parameter": "organization", "message": msg},
                {"parameter": "user", "message": msg},
            ]
        active = query.get("active")
        if active and active not in ("true", "false"):
            details.append({"parameter": "active", "message": "must be true or false"})
        sort_field, descending = _sort(
            query, details, ("name", "position", "created_at", "updated_at"), "name"
        )
        if details:
            return _json(400, invalid_argument(details))
        if refusal := self._reader_refusal(user, org):
            return refusal
        items = [
            et
            for et in self.event_types
            if (not active or et["active"] == (active == "true"))
            and (not user or user in self.type_hosts.get(et["uri"], [self.user["uri"]]))
        ]
        items.sort(
            key=lambda et: (et[sort_field] is None, et[sort_field] or "", et["uri"]),
            reverse=descending,
        )
        return self._page("/event_types", query, items, count)

    def _list_events(self, query) -> _Response:
        details: list[dict] = []
        count = _count(query, details)
        status = _status(query, details)
        _, descending = _sort(query, details, ("start_time",), "start_time")
        min_start = _time_param(query, "min_start_time", details)
        max_start = _time_param(query, "max_start_time", details)
        user, org, group = query.get("user"), query.get("organization"), query.get("group")
        if not (user or org or group):
            msg = "At least one of organization, group or user must be filled"
            details += [{"parameter": p, "message": msg} for p in ("organization", "group", "user")]
        if details:
            return _json(400, invalid_argument(details))
        if refusal := self._reader_refusal(user, org):
            return refusal
        if group:
            return _json(403, ERR_PERMISSION)  # the simulated account has no groups

        email = (query.get("invitee_email") or "").strip().lower()
        items = []
        for ev_uuid, event in self.events.items():
            start = event["start_time"]
            if status and event["status"] != status:
                continue
            if user and not _hosted_by(event, user):
                continue
            if min_start and start < min_start:
                continue
            if max_start and start >= max_start:
                continue
            if email and not any(
                inv["email"].lower() == email for inv in self.invitees.get(ev_uuid, ())
            ):
                continue
            items.append(event)
        items.sort(key=lambda e: (e["start_time"], e["uri"]), reverse=descending)
        return self._page("/scheduled_events", query, items, count)

    def _reader_refusal(self, user: str | None, org: str | None) -> _Response | None:
        """Calendly's 403 unless the token may read `user`'s (or, without a user, the whole
        `org`'s) records: `user=` alone only for the token's own, everything else for owners
        and admins of the organization."""
        if org and org != self.organization_uri:
            return _json(403, ERR_PERMISSION)
        if user == self.user["uri"]:
            return None
        if user and (not org or user not in self._membership_uris):
            return _json(403, ERR_PERMISSION)
        return None if self._org_admin else _json(403, ERR_PERMISSION)

    def _list_memberships(self, query) -> _Response:
        details: list[dict] = []
        count = _count(query, details)
        user, org, email = query.get("user"), query.get("organization"), query.get("email")
        if not user and not org:
            msg = "At least one of organization or user must be filled"
            details += [{"parameter": p, "message": msg} for p in ("organization", "user")]
        if details:
            return _json(400, invalid_argument(details))
        if (org and org != self.organization_uri) or (user and user not in self._membership_uris):
            return _json(403, ERR_PERMISSION)
        items = [
            self._membership(member)
            for member in self.members
            if (not user or member["uri"] == user)
            and (not email or member["email"].lower() == email.strip().lower())
        ]
        return self._page("/organization_memberships", query, items, count)

    def _list_invitees(self, event_uuid, query) -> _Response:
        details: list[dict] = []
        count = _count(query, details)
        status = _status(query, details)
        _, descending = _sort(query, details, ("created_at",), "created_at")
        if details:
            return _json(400, invalid_argument(details))
        email = (query.get("email") or "").strip().lower()
        items = [
            inv
            for inv in self.invitees.get(event_uuid, ())
            if (not status or inv["status"] == status)
            and (not email or inv["email"].lower() == email)
        ]
        items.sort(key=lambda i: (i["created_at"], i["uri"]), reverse=descending)
        return self._page(f"/scheduled_events/{event_uuid}/invitees", query, items, count)

    def _page(self, path: str, query: dict[str, str], items: list, count: int) -> _Response:
        params = [(k, v) for k, v in query.items() if v != "" and k not in ("page_token", "count")]
        fingerprint = _fingerprint(path, params, count)
        offset = 0
        token = query.get("page_token")
        if token:
            offset = _decode_token(token, fingerprint)
            if offset is None:
                return _json(
                    400, invalid_argument([{"parameter": "page_token", "message": "is invalid"}])
                )
        page = items[offset : offset + count]
        next_token = (
            _encode_token(offset + count, fingerprint) if offset + count < len(items) else None
        )
        prev_token = _encode_token(max(0, offset - count), fingerprint) if offset > 0 else None

        def link(tok):
            if tok is None:
                return None
            return f"{API_BASE}{path}?{urlencode([('count', count), *params, ('page_token', tok)])}"

        return _json(
            200,
            {
                "collection": page,
                "pagination": {
                    "count": len(page),
                    "next_page": link(next_token),
                    "previous_page": link(prev_token),
                    "next_page_token": next_token,
                    "previous_page_token": prev_token,
                },
            },
        )


# -- helpers ---------------------------------------------------------------------------------------


def _hosted_by(event: dict, user_uri: str) -> bool:
    members = event.get("event_memberships") or ()
    if not isinstance(members, list) or not all(
        isinstance(member, dict) and isinstance(member.get("user"), str) for member in members
    ):
        # A record a test spoiled on purpose: served to every reader (as it was before scopes),
        # so that the app meets the malformed record instead of never seeing it.
        return True
    return any(member["user"] == user_uri for member in members)


def _no_show_resource(inv: dict) -> dict:
    """The InviteeNoShow resource of an invitee that has one."""
    return {
        "uri": inv["no_show"]["uri"],
        "invitee": inv["uri"],
        "created_at": inv["no_show"]["created_at"],
    }


def _read_json(environ) -> tuple[dict, _Response | None]:
    """The request's JSON object body, or a 400 to answer instead."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(min(max(length, 0), MAX_BODY_BYTES)) if length else b""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        detail = {"parameter": "body", "message": "must be a JSON object"}
        return {}, _json(400, invalid_argument([detail]))
    return body, None


def _drop(environ) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _truncate(body: bytes) -> bytes:
    if len(body) < 4:
        return b'{"'
    cut = len(body) // 2
    while cut > 1 and (body[cut] & 0xC0) == 0x80:  # stay on a UTF-8 boundary
        cut -= 1
    return body[:cut]


def _count(query, details) -> int:
    raw = query.get("count", "")
    if raw == "":
        return DEFAULT_COUNT
    try:
        value = int(raw)
    except ValueError:
        details.append({"parameter": "count", "message": "must be an integer"})
        return DEFAULT_COUNT
    if not 1 <= value <= 100:
        details.append({"parameter": "count", "message": "must be between 1 and 100"})
    return value


def _status(query, details) -> str | None:
    status = query.get("status") or None
    if status not in (None, "active", "canceled"):
        details.append({"parameter": "status", "message": "must be one of active, canceled"})
    return status


def _sort(query, details, fields, default) -> tuple[str, bool]:
    raw = query.get("sort") or f"{default}:asc"
    field_name, _, direction = raw.partition(":")
    direction = direction or "asc"
    if field_name not in fields or direction not in ("asc", "desc"):
        allowed = ", ".join(f"{f}:asc, {f}:desc" for f in fields)
        details.append({"parameter": "sort", "message": f"must be one of {allowed}"})
        return default, False
    return field_name, direction == "desc"


def _time_param(query, name, details) -> str | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return sd.fmt_time(sd.parse_time(raw))
    except (ValueError, OverflowError):
        details.append({"parameter": name, "message": "is not a valid time"})
        return None


def _fingerprint(path, params, count) -> str:
    canonical = json.dumps([path, count, sorted(params)], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _encode_token(offset: int, fingerprint: str) -> str:
    raw = f"{offset}:{fingerprint}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, _, token_fp = raw.partition(":")
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        return None
    if token_fp != fingerprint or offset < 0:
        return None
    return offset


def serve(
    host="127.0.0.1",
    port=8765,
    token="sim-token",
    seed=42,
    n_events=300,
    *,
    latency_ms=0,
    fail_rate=0.0,
    faults=("503",),
    rate_limit=None,
):
    """Seed and serve the simulator in the foreground until Ctrl+C; `latency_ms`, `fail_rate`,
    `faults` and `rate_limit` (requests per minute) make it a slow or failing Calendly."""
    sim = CalendlySimulator(token=token, seed=seed, rate_limit=rate_limit)
    if n_events != 300:
        sim.seed_data(n_events=n_events)
    sim.set_chaos(latency=latency_ms / 1000, fail_rate=fail_rate, faults=faults)
    sim.verbose = True
    sim.start(host=host, port=port)
    n_invitees = sum(len(v) for v in sim.invitees.values())
    print(f"Calendly simulator listening on {sim.base_url}", flush=True)
    print(f"  token:        {token}", flush=True)
    print(f"  user:         {sim.user['uri']}", flush=True)
    print(f"  organization: {sim.organization_uri}", flush=True)
    print(
        f"  data:         {len(sim.events)} events, {n_invitees} invitees (seed {seed})", flush=True
    )
    if latency_ms or fail_rate or rate_limit:
        failing = f"{fail_rate:.0%} of requests fail with {', '.join(faults)}" if fail_rate else ""
        limit = f"{rate_limit} requests per minute" if rate_limit else ""
        slow = f"{latency_ms} ms latency" if latency_ms else ""
        print(f"  chaos:        {'; '.join(p for p in (slow, failing, limit) if p)}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--fault", action="append", choices=CHAOS_FAULTS)
    parser.add_argument("--rate-limit", type=int)
    args = parser.parse_args()
    serve(
        args.host,
        args.port,
        args.token,
        args.seed,
        args.events,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        faults=tuple(args.fault or ("503",)),
        rate_limit=args.rate_limit,
    )
