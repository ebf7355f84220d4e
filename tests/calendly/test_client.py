"""Tests for calendly.client against real HTTP servers (no patching of requests).

The Calendly simulator (devtools/simulator.py) covers the main paths; a small pytest-httpserver
handler covers what the simulator cannot express (repeated tokens, old pagination, Retry-After,
Insufficient scope). Waits are recorded through the injected ``sleep`` unless the test is about
real pacing.
"""

import json
import logging
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
from werkzeug import Response

from calendly.client import CalendlyClient, _time_filter, uuid_from_uri
from calendly.errors import (
    ApiError,
    AuthenticationError,
    CalendlyError,
    MalformedResponseError,
    MissingTokenError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from calendly.pagination import restart_query

SIM_TOKEN = "sim-token"
SECRET = "pat-Secret-0123456789abcdef"
USER_URI = "https://api.calendly.com/users/USER1"


class Waits(list):
    """An injected ``sleep`` that records waits instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


class RecordingSession(requests.Session):
    """A real session that remembers the keyword arguments of every request."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        return super().request(method, url, **kwargs)


def json_response(body, status=200, headers=None):
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def page(items, next_token=None, **extra):
    pagination = {"count": len(items), "next_page_token": next_token, **extra}
    return {"collection": items, "pagination": pagination}


def event(n, start=None):
    start = start or f"2030-01-01T{n:02d}:00:00.000000Z"
    return {"uri": f"https://api.calendly.com/scheduled_events/EV{n}", "start_time": start}


@pytest.fixture
def waits():
    return Waits()


@pytest.fixture
def make_client(waits):
    clients = []

    def factory(base_url, token=SIM_TOKEN, **kw):
        kw.setdefault("sleep", waits)
        kw.setdefault("timeout", (2.0, 5.0))
        client = CalendlyClient(token, base_url=base_url, **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def server(httpserver):
    """pytest-httpserver with a helper to answer one path from a handler function."""

    def route(path, handler, method="GET"):
        httpserver.expect_request(path, method=method).respond_with_handler(handler)

    httpserver.route = route
    httpserver.base = httpserver.url_for("/").rstrip("/")
    return httpserver


def sim_statuses(sim):
    return [entry.status for entry in sim.request_log]


# -- construction and helpers -----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_fails_before_any_request(token):
    with pytest.raises(MissingTokenError) as info:
        CalendlyClient(token)
    assert str(info.value) == (
        "Calendly API token is not configured. "
        "Paste a Personal Access Token in Settings or set CALENDLY_TOKEN."
    )


def test_unsendable_token_is_rejected_without_echoing_it():
    with pytest.raises(AuthenticationError) as info:
        CalendlyClient("pat-with\nnewline")
    assert "pat-with" not in str(info.value)


@pytest.mark.parametrize(
    ("uri", "uuid"),
    [
        ("https://api.calendly.com/scheduled_events/AB-12_x", "AB-12_x"),
        ("https://api.calendly.com/users/U1/", "U1"),
        ("EV1", "EV1"),
    ],
)
def test_uuid_from_uri(uri, uuid):
    assert uuid_from_uri(uri) == uuid


@pytest.mark.parametrize(
    "garbage", ["", "   ", None, "https://api.calendly.com/", "a/..", "x%2F..", "a b", "ü"]
)
def test_uuid_from_uri_rejects_garbage(garbage):
    with pytest.raises(ValueError):
        uuid_from_uri(garbage)


def test_bad_arguments_fail_when_called_not_when_iterated(make_client):
    client = make_client("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        client.iter_scheduled_events()
    with pytest.raises(ValueError):
        client.iter_scheduled_events(user=USER_URI, min_start_time=datetime(2030, 1, 1))
    with pytest.raises(ValueError):
        client.iter_scheduled_events(user=USER_URI, count=101)
    with pytest.raises(ValueError):
        client.iter_invitees("events/..")
    assert client.request_count == 0


def test_repr_and_context_manager_hide_token():
    with CalendlyClient(SECRET, base_url="http://127.0.0.1:9") as client:
        assert SECRET not in repr(client)
        assert "127.0.0.1:9" in repr(client)


# -- headers, base URL, pagination ---------------------------------------------------------------


def test_every_request_has_auth_accept_user_agent_and_timeout(server, make_client):
    seen = []

    def handler(request):
        seen.append(dict(request.headers))
        return json_response({"resource": {"uri": USER_URI}})

    server.route("/users/me", handler)
    session = RecordingSession()
    client = make_client(server.base, token=SECRET, session=session, timeout=(1.5, 4.0))
    assert client.get_current_user() == {"uri": USER_URI}
    assert client.get_current_user() == {"uri": USER_URI}

    assert [h["Authorization"] for h in seen] == [f"Bearer {SECRET}"] * 2
    assert all(h["Accept"] == "application/json" for h in seen)
    assert all(h["User-Agent"].startswith("webinar-sync/") for h in seen)
    assert [kw["timeout"] for _, _, kw in session.calls] == [(1.5, 4.0)] * 2
    assert all(kw["allow_redirects"] is False for _, _, kw in session.calls)
    client.close()  # an injected session stays usable for its owner
    assert session.get(server.url_for("/users/me")).status_code == 200


def test_full_walk_matches_simulator_and_stays_on_base_url(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    user = client.get_current_user()
    assert user["uri"] == calendly_sim.user["uri"]

    events = list(client.iter_scheduled_events(user=user["uri"]))
    assert len(events) == len(calendly_sim.events) > 200
    assert {uuid_from_uri(e["uri"]) for e in events} == set(calendly_sim.events)
    starts = [e["start_time"] for e in events]
    assert starts == sorted(starts)

    # Paths are built from UUIDs (accepting a URI too), never from the absolute URIs Calendly sends.
    some = [e for e in events if calendly_sim.invitees.get(uuid_from_uri(e["uri"]))][:3]
    for ev in some:
        invitees = client.list_invitees(ev["uri"])
        assert sorted(i["uri"] for i in invitees) == sorted(
            i["uri"] for i in calendly_sim.invitees[uuid_from_uri(ev["uri"])]
        )
    assert client.get_scheduled_event(uuid_from_uri(some[0]["uri"]))["uri"] == some[0]["uri"]

    # Every request the client sent reached the simulator (api.calendly.com is unreachable here).
    assert client.request_count == len(calendly_sim.request_log)
    paged = [r for r in calendly_sim.request_log if "page_token" in r.query]
    assert len(paged) >= 2
    assert all(r.path.startswith("/") for r in calendly_sim.request_log)


def test_datetimes_are_sent_in_calendly_format(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    since = datetime(2030, 1, 1, 15, 30, tzinfo=timezone(timedelta(hours=2)))
    list(
        client.iter_scheduled_events(
            user=calendly_sim.user["uri"], min_start_time=since, status="active"
        )
    )
    assert calendly_sim.request_log[0].query["min_start_time"] == "2030-01-01T13:30:00.000000Z"


def test_old_style_pagination_uses_page_token_from_next_page(server, make_client):
    queries = []

    def handler(request):
        queries.append(request.args.to_dict())
        if "page_token" not in request.args:
            # Older responses: only count and next_page, an absolute URL on api.calendly.com.
            nxt = "https://api.calendly.com/scheduled_events?count=100&page_token=TOK2&user=x"
            return json_response({"collection": [event(1)], "pagination": {"next_page": nxt}})
        return json_response({"collection": [event(2)]})  # no pagination at all: last page

    server.route("/scheduled_events", handler)
    client = make_client(server.base)
    events = list(client.iter_scheduled_events(user=USER_URI))
    assert [e["uri"][-3:] for e in events] == ["EV1", "EV2"]
    assert queries[1]["page_token"] == "TOK2"
    assert queries[1]["user"] == USER_URI and queries[1]["count"] == "100"


def test_repeated_page_token_stops_instead_of_looping(server, make_client):
    server.route("/scheduled_events/EV1/invitees", lambda r: json_response(page([{}], "SAME")))
    client = make_client(server.base)
    with pytest.raises(MalformedResponseError) as info:
        client.list_invitees("EV1")
    assert str(info.value).startswith(
        "Calendly sent a malformed response for GET /scheduled_events/EV1/invitees:"
    )
    assert "token came back twice" in str(info.value)
    assert client.request_count == 2


def test_missing_collection_is_malformed_after_one_retry(server, make_client):
    server.route("/scheduled_events", lambda r: json_response({"items": []}))
    client = make_client(server.base)
    with pytest.raises(MalformedResponseError) as info:
        list(client.iter_scheduled_events(user=USER_URI))
    assert "no 'collection' list" in str(info.value)
    assert client.request_count == 2


def test_redirects_are_not_followed(server, make_client):
    server.route("/users/me", lambda r: Response("", 302, {"Location": "https://evil.example/"}))
    client = make_client(server.base)
    with pytest.raises(ApiError) as info:
        client.get_current_user()
    assert info.value.status == 302
    assert client.request_count == 1


# -- error messages -------------------------------------------------------------------------------


def test_revoked_token_gives_401_with_instructions(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    calendly_sim.revoke_token()
    with pytest.raises(AuthenticationError) as info:
        client.get_current_user()
    message = str(info.value)
    assert message.startswith("Calendly API error (HTTP 401): ")
    assert "https://calendly.com/integrations/api_webhooks" in message and "Settings" in message
    assert info.value.status == 401
    assert client.request_count == 1  # 4xx never retries


def test_wrong_token_gives_401(calendly_sim, make_client):
    with pytest.raises(AuthenticationError):
        make_client(calendly_sim.base_url, token="not-the-token").get_current_user()


def test_unknown_event_is_not_found(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    with pytest.raises(NotFoundError) as info:
        client.get_scheduled_event("does-not-exist")
    assert str(info.value).startswith("Calendly API error (HTTP 404): ")
    assert client.request_count == 1


def test_404_on_a_user_uri_points_at_users_me(server, make_client):
    body = {"title": "Resource Not Found", "message": "The server could not find the resource."}
    server.route("/scheduled_events", lambda r: json_response(body, 404))
    with pytest.raises(NotFoundError) as info:
        list(make_client(server.base).iter_scheduled_events(user=USER_URI))
    assert str(info.value) == (
        "Calendly API error (HTTP 404): The server could not find the resource. "
        "Fetch the user URI from /users/me."
    )


def test_insufficient_scope_lists_missing_scopes(server, make_client):
    body = {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["scheduled_events:read"],
    }
    server.route("/scheduled_events", lambda r: json_response(body, 403))
    client = make_client(server.base)
    with pytest.raises(PermissionDeniedError) as info:
        list(client.iter_scheduled_events(user=USER_URI))
    assert info.value.required_scopes == ["scheduled_events:read"]
    assert str(info.value).endswith(
        "Missing scopes: scheduled_events:read. Create a token with these scopes."
    )
    assert client.request_count == 1


def test_plain_403_keeps_calendlys_message(server, make_client):
    body = {"title": "Permission Denied", "message": "This user is not in your organization"}
    server.route("/event_types", lambda r: json_response(body, 403))
    with pytest.raises(PermissionDeniedError) as info:
        list(make_client(server.base).iter_event_types(organization="https://x/organizations/O"))
    assert str(info.value) == (
        "Calendly API error (HTTP 403): This user is not in your organization."
    )
    assert info.value.required_scopes == []


def test_400_appends_details_and_does_not_retry(server, make_client):
    body = {
        "title": "Invalid Argument",
        "message": "The supplied parameters are invalid.",
        "details": [{"parameter": "min_start_time", "message": "is not a valid time"}],
    }
    server.route("/scheduled_events", lambda r: json_response(body, 400))
    client = make_client(server.base)
    with pytest.raises(ApiError) as info:
        list(client.iter_scheduled_events(user=USER_URI, min_start_time="yesterday"))
    assert str(info.value) == (
        "Calendly API error (HTTP 400): The supplied parameters are invalid. "
        "min_start_time: is not a valid time"
    )
    assert info.value.title == "Invalid Argument"
    assert info.value.details == body["details"]
    assert client.request_count == 1


# -- rate limits ----------------------------------------------------------------------------------


def test_429_waits_exactly_the_reset_header_then_succeeds(calendly_sim, make_client, waits):
    client = make_client(calendly_sim.base_url)
    calendly_sim.inject("429", times=1, reset=1.5)
    assert client.get_current_user()["uri"] == calendly_sim.user["uri"]
    assert waits == [1.5]
    assert sim_statuses(calendly_sim) == [429, 200]


def test_429_prefers_retry_after_and_falls_back_to_60_seconds(server, make_client, waits):
    answers = [
        Response("", 429, {"Retry-After": "2", "X-RateLimit-Reset": "7"}),
        Response("", 429),
        json_response({"resource": {"uri": USER_URI}}),
    ]
    server.route("/users/me", lambda r: answers.pop(0))
    assert make_client(server.base).get_current_user() == {"uri": USER_URI}
    assert waits == [2.0, 60.0]


def test_retry_after_date_is_measured_with_the_injected_wall_clock(server, make_client, waits):
    answers = [
        Response("", 429, {"Retry-After": "Tue, 01 Jan 2030 00:00:07 GMT"}),
        json_response({"resource": {"uri": USER_URI}}),
    ]
    server.route("/users/me", lambda r: answers.pop(0))
    client = make_client(server.base, now=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    assert client.get_current_user() == {"uri": USER_URI}
    assert waits == [7.0]


def test_retry_after_date_on_an_error_is_measured_with_the_injected_wall_clock(server, make_client):
    headers = {"Retry-After": "Tue, 01 Jan 2030 00:02:00 GMT"}
    server.route("/users/me", lambda r: json_response({"message": "Down"}, 503, headers))
    client = make_client(
        server.base, max_retries=0, now=lambda: datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    )
    with pytest.raises(ApiError) as info:
        client.get_current_user()
    assert info.value.retry_after == 60.0


def test_429_that_persists_raises_rate_limited(server, make_client, waits):
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.5"}
    server.route("/users/me", lambda r: Response("", 429, headers))
    client = make_client(server.base, max_retries=2)
    with pytest.raises(RateLimitedError) as info:
        client.get_current_user()
    assert info.value.status == 429 and info.value.reset == 0.5
    assert "after 3 attempts" in str(info.value)
    assert waits == [0.5, 0.5]
    assert client.request_count == 3


def test_429_asking_for_hours_fails_fast(server, make_client, waits):
    server.route("/users/me", lambda r: Response("", 429, {"X-RateLimit-Reset": "3600"}))
    client = make_client(server.base)
    with pytest.raises(RateLimitedError) as info:
        client.get_current_user()
    assert info.value.reset == 3600 and waits == []


def test_writes_retry_on_429_but_not_on_5xx(server, make_client, waits):
    answers = [Response("", 429, {"X-RateLimit-Reset": "0.25"}), Response("", 503)]
    server.route("/webhook_subscriptions", lambda r: answers.pop(0), method="POST")
    client = make_client(server.base)
    with pytest.raises(ApiError) as info:
        client.create_webhook_subscription(
            url="https://x/hook",
            events=["invitee.created"],
            organization="https://api.calendly.com/organizations/ORG",
            scope="organization",
            signing_key=None,
        )
    assert info.value.status == 503
    assert waits == [0.25]
    assert client.request_count == 2


def test_pacing_avoids_429_and_keeps_to_the_rate(calendly_sim, make_client):
    calendly_sim.set_rate_limit(10, 1.0)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    client = make_client(calendly_sim.base_url, sleep=sleep)
    uuids = list(calendly_sim.events)[:35]
    started = time.monotonic()
    for uuid in uuids:
        client.get_scheduled_event(uuid)
    elapsed = time.monotonic() - started

    assert client.request_count == 35
    assert 429 not in sim_statuses(calendly_sim) and calendly_sim.responses_429 == 0
    assert slept  # it really paced
    assert elapsed <= 1.2 * 35 / (10 / 1.0)


# -- retries --------------------------------------------------------------------------------------


def test_5xx_burst_is_retried_with_capped_jittered_backoff(calendly_sim, make_client, waits):
    client = make_client(calendly_sim.base_url, backoff_base=0.5, backoff_cap=1.0)
    calendly_sim.inject("503", times=3)
    assert client.get_current_user()["uri"] == calendly_sim.user["uri"]
    assert sim_statuses(calendly_sim) == [503, 503, 503, 200]
    assert len(waits) == 3
    assert all(0 <= w <= ceiling for w, ceiling in zip(waits, [0.5, 1.0, 1.0], strict=True))


def test_5xx_beyond_retries_raises_api_error(calendly_sim, make_client, waits):
    client = make_client(calendly_sim.base_url, max_retries=2)
    calendly_sim.inject("500", times=10)
    with pytest.raises(ApiError) as info:
        client.get_current_user()
    assert info.value.status == 500
    assert str(info.value).startswith("Calendly API error (HTTP 500): ")
    assert str(info.value).endswith("(after 3 attempts)")
    assert client.request_count == 3 and len(waits) == 2


def test_slow_response_times_out_retries_then_raises_network_error(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url, timeout=(2.0, 0.3), max_retries=1)
    calendly_sim.inject("slow", times=5, delay=1.0)
    with pytest.raises(NetworkError) as info:
        client.get_current_user()
    assert str(info.value) == "Calendly network error: no response within 0.3 s (after 2 attempts)"
    assert info.value.status is None


def test_one_slow_response_is_retried(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url, timeout=(2.0, 0.3))
    calendly_sim.inject("slow", times=1, delay=1.0)
    assert client.get_current_user()["uri"] == calendly_sim.user["uri"]
    assert client.request_count == 2


def test_dropped_connection_is_retried(calendly_sim, make_client, waits):
    client = make_client(calendly_sim.base_url)
    calendly_sim.inject("drop", times=1)
    assert client.get_current_user()["uri"] == calendly_sim.user["uri"]
    assert client.request_count == 2 and len(waits) == 1


def test_dropped_connections_beyond_retries_raise_network_error(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url, max_retries=1)
    calendly_sim.inject("drop", times=5)
    with pytest.raises(NetworkError) as info:
        client.get_current_user()
    assert str(info.value).startswith("Calendly network error: connection")
    assert str(info.value).endswith("(after 2 attempts)")


def test_refused_connection_raises_network_error(make_client, waits):
    client = make_client("http://127.0.0.1:9", max_retries=2)
    with pytest.raises(NetworkError) as info:
        client.get_current_user()
    assert str(info.value) == "Calendly network error: connection refused (after 3 attempts)"
    assert len(waits) == 2


def test_one_malformed_body_is_retried_once(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    calendly_sim.inject("malformed", times=1)
    assert client.get_current_user()["uri"] == calendly_sim.user["uri"]
    assert client.request_count == 2


def test_malformed_json_raises_malformed_response(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    calendly_sim.inject("malformed", times=5)
    with pytest.raises(MalformedResponseError) as info:
        client.get_current_user()
    assert str(info.value).startswith("Calendly sent a malformed response for GET /users/me: ")
    assert client.request_count == 2  # one retry for malformed bodies, no more


# -- rejected page tokens -------------------------------------------------------------------------


def test_invalid_page_token_mid_walk_restarts_without_duplicates(calendly_sim, make_client):
    client = make_client(calendly_sim.base_url)
    calendly_sim.inject("invalid_page_token", times=1, path="/scheduled_events", after=1)
    events = list(client.iter_scheduled_events(user=calendly_sim.user["uri"]))
    uris = [e["uri"] for e in events]
    assert len(uris) == len(set(uris)) == len(calendly_sim.events)
    assert 400 in sim_statuses(calendly_sim)
    restart = calendly_sim.request_log[sim_statuses(calendly_sim).index(400) + 1]
    assert "page_token" not in restart.query and "min_start_time" in restart.query


def test_invalid_page_token_restarts_are_bounded(server, make_client):
    rejected = {
        "title": "Invalid Argument",
        "message": "The supplied parameters are invalid.",
        "details": [{"parameter": "page_token", "message": "is invalid"}],
    }

    def handler(request):
        if "page_token" in request.args:
            return json_response(rejected, 400)
        return json_response(page([event(1)], "NEXT"))

    server.route("/scheduled_events", handler)
    client = make_client(server.base)
    seen = []
    with pytest.raises(ApiError) as info:
        seen.extend(client.iter_scheduled_events(user=USER_URI))
    assert str(info.value).endswith("page_token: is invalid")
    assert [e["uri"][-3:] for e in seen] == ["EV1"]  # never yielded twice
    assert client.request_count == 2 * 4  # the first walk plus three restarts


def test_restart_query_steps_just_past_the_last_start():
    base = {"user": USER_URI, "sort": "start_time:asc", "count": 100}
    asc = restart_query(base, "2030-01-01T10:00:00.000000Z")
    assert asc["min_start_time"] == "2030-01-01T09:59:59.999999Z"
    desc = restart_query({**base, "sort": "start_time:desc"}, "2030-01-01T10:00:00.000000Z")
    assert desc["max_start_time"] == "2030-01-01T10:00:00.000001Z"
    assert restart_query({**base, "sort": None}, "2030-01-01T10:00:00Z") is None


def test_restart_keeps_events_that_share_the_last_start_time(server, make_client):
    same = "2030-01-01T10:00:00.000000Z"
    calls = []

    def handler(request):
        calls.append(request.args.to_dict())
        if len(calls) == 1:
            return json_response(page([event(1), event(2, same)], "P2"))
        if "page_token" in request.args:
            details = [{"parameter": "page_token", "message": "is invalid"}]
            return json_response({"title": "Invalid Argument", "details": details}, 400)
        # Restart from just before 10:00 returns EV2 again plus EV3 that shares its start time.
        return json_response(page([event(2, same), event(3, same), event(4)]))

    server.route("/scheduled_events", handler)
    events = list(make_client(server.base).iter_scheduled_events(user=USER_URI))
    assert [e["uri"][-3:] for e in events] == ["EV1", "EV2", "EV3", "EV4"]
    assert calls[2]["min_start_time"] == "2030-01-01T09:59:59.999999Z"


# -- secrecy --------------------------------------------------------------------------------------


def test_token_never_appears_in_errors_or_logs(server, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    answers = {
        "/users/me": lambda r: json_response({"message": f"Bad token {SECRET}"}, 401),
        "/scheduled_events/EV1": lambda r: Response("", 503),
        "/scheduled_events/EV2": lambda r: Response("<html>oops", 200),
        "/scheduled_events/EV3": lambda r: Response("", 429, {"X-RateLimit-Reset": "0.1"}),
        "/scheduled_events/EV4": lambda r: json_response({"message": "?"}, 500),
    }
    for path, handler in answers.items():
        server.route(path, handler)
    client = make_client(server.base, token=SECRET, max_retries=1)
    errors = []
    for call in (
        client.get_current_user,
        lambda: client.get_scheduled_event("EV1"),
        lambda: client.get_scheduled_event("EV2"),
        lambda: client.get_scheduled_event("EV3"),
        lambda: client.get_scheduled_event("EV4"),
    ):
        with pytest.raises(CalendlyError) as info:
            call()
        errors.append(info.value)
    dead = make_client("http://127.0.0.1:9", token=SECRET, max_retries=1)
    with pytest.raises(NetworkError) as info:
        dead.get_current_user()
    errors.append(info.value)

    assert "[redacted]" in str(errors[0])
    for error in errors:
        assert SECRET not in str(error) and SECRET not in repr(error)
        assert SECRET not in " ".join(str(v) for v in vars(error).values())
    assert caplog.records, "expected debug and warning lines"
    assert any(r.name == "calendly.client" and r.levelno == logging.WARNING for r in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text


def test_debug_log_has_method_path_status_without_query(calendly_sim, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="calendly.client")
    client = make_client(calendly_sim.base_url)
    list(client.iter_scheduled_events(user=calendly_sim.user["uri"], count=100))
    lines = [r.getMessage() for r in caplog.records if r.name == "calendly.client"]
    assert lines and all(line.startswith("GET /scheduled_events -> 200 in ") for line in lines)
    assert not any(SIM_TOKEN in line or "user=" in line for line in lines)


def test_time_filters_keep_microseconds_in_utc():
    moment = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert _time_filter(moment, "t") == "2030-05-06T07:08:09.123456Z"
    assert _time_filter(" 2030-05-06T07:08:09Z ", "t") == "2030-05-06T07:08:09Z"


def test_on_retry_hears_every_retry_as_data_and_the_end_of_retrying(server, make_client, waits):
    answers = [
        Response("", 503),
        Response("", 429, {"Retry-After": "4"}),
        json_response({"resource": {"uri": USER_URI}}),
    ]
    server.route("/users/me", lambda r: answers.pop(0))
    client = make_client(server.base, max_retries=3)
    heard = []
    client.on_retry = heard.append

    assert client.get_current_user() == {"uri": USER_URI}

    assert [(r.reason, r.retry, r.max_retries) for r in heard[:2]] == [
        ("server", 1, 3),
        ("rate_limited", 2, 3),
    ]
    assert heard[1].wait == 4.0 and heard[0].wait == waits[0]
    assert heard[2:] == [None]  # retrying is over


def test_on_attempt_hears_every_attempt_with_its_status_and_the_retry_after_it(server, make_client):
    answers = [
        Response("", 503),
        Response("", 429, {"Retry-After": "4"}),
        json_response({"resource": {"uri": USER_URI}}),
        json_response({"title": "Unauthenticated"}, status=401),
    ]
    server.route("/users/me", lambda r: answers.pop(0))
    client = make_client(server.base, max_retries=3)
    heard = []
    client.on_attempt = heard.append

    client.get_current_user()
    with pytest.raises(AuthenticationError):
        client.get_current_user()

    assert [(a.status, a.retry and a.retry.reason) for a in heard] == [
        (503, "server"),
        (429, "rate_limited"),
        (200, None),
        (401, None),
    ]
    assert len(heard) == client.request_count


def test_on_attempt_hears_network_faults_as_no_status(make_client):
    client = make_client("http://127.0.0.1:9", max_retries=1)
    heard = []
    client.on_attempt = heard.append
    with pytest.raises(NetworkError):
        client.get_current_user()
    assert [(a.status, a.retry and a.retry.reason) for a in heard] == [
        (None, "network"),
        (None, None),
    ]
