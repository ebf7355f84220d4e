"""The simulator's no-show and webhook subscription endpoints and its signed deliveries, over
real HTTP with plain requests (the app's client is tested in test_client_writes.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devtools import sample_data as sd
from devtools.sample_data import uuid_of
from devtools.simulator import CalendlySimulator

TOKEN = "test-sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)
HOOK_URL = "https://webinare.example.org/api/infowebinar/webhook"
EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created"]


@pytest.fixture(scope="module")
def _shared_sim():
    with CalendlySimulator(token=TOKEN, seed=3, now=NOW) as simulator:
        yield simulator


@pytest.fixture
def sim(_shared_sim):
    """A small account, reseeded for every test, without subscriptions, switches or faults."""
    return _shared_sim.reset(n_events=12, max_invitees=4, past_days=10, future_days=20)


@pytest.fixture
def receiver():
    """A tiny HTTP server that records every delivery; `.status` sets its answer."""

    class Receiver:
        status = 200
        deliveries: list[tuple[str, dict, bytes]] = []

        def __call__(self, environ, start_response):
            request = Request(environ)
            self.deliveries.append((request.path, dict(request.headers), request.get_data()))
            return Response("ok", status=self.status)(environ, start_response)

    app = Receiver()
    app.deliveries = []
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join(timeout=5)


def call(sim, method, path, **kw):
    return requests.request(method, sim.base_url + path, headers=AUTH, timeout=5, **kw)


def an_invitee(sim, with_no_show=False):
    for invitees in sim.invitees.values():
        for invitee in invitees:
            if invitee["status"] == "active" and bool(invitee["no_show"]) == with_no_show:
                return invitee
    raise AssertionError("no such invitee in the seed")


def subscribe(sim, url=HOOK_URL, events=EVENTS, **extra):
    body = {"url": url, "events": events, "organization": sim.organization_uri}
    body.update({"scope": "organization", "signing_key": "whsec-1"}, **extra)
    return call(sim, "POST", "/webhook_subscriptions", json=body)


def expected_signature(header: str, body: bytes, key: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    digest = hmac.new(key.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return (
        hmac.compare_digest(digest.hexdigest(), parts["v1"])
        and abs(time.time() - int(parts["t"])) < 5
    )


# -- no-shows -------------------------------------------------------------------------------------


def test_no_show_create_get_delete_round_trip(sim):
    invitee = an_invitee(sim)
    before = invitee["updated_at"]

    created = call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert created.status_code == 201
    resource = created.json()["resource"]
    assert resource["invitee"] == invitee["uri"]
    assert resource["uri"].startswith("https://api.calendly.com/invitee_no_shows/")
    assert invitee["no_show"] == {"uri": resource["uri"], "created_at": resource["created_at"]}
    assert invitee["updated_at"] > before

    fetched = call(sim, "GET", f"/invitee_no_shows/{uuid_of(resource['uri'])}")
    assert fetched.status_code == 200 and fetched.json()["resource"] == resource

    deleted = call(sim, "DELETE", f"/invitee_no_shows/{uuid_of(resource['uri'])}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert invitee["no_show"] is None
    assert call(sim, "GET", f"/invitee_no_shows/{uuid_of(resource['uri'])}").status_code == 404
    assert call(sim, "DELETE", f"/invitee_no_shows/{uuid_of(resource['uri'])}").status_code == 404


def test_seeded_and_directly_set_no_shows_are_found_by_uuid(sim):
    # Set in the data, as the seed does, so the simulator has not indexed it.
    invitee = an_invitee(sim)
    no_show_uuid = sd.new_uuid(random.Random(1))
    invitee["no_show"] = {
        "uri": f"{sd.API_BASE}/invitee_no_shows/{no_show_uuid}",
        "created_at": invitee["updated_at"],
    }

    response = call(sim, "GET", f"/invitee_no_shows/{no_show_uuid}")

    assert response.status_code == 200
    assert response.json()["resource"]["invitee"] == invitee["uri"]


def test_no_show_refusals(sim):
    invitee = an_invitee(sim)
    unknown = invitee["uri"].rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"

    assert call(sim, "POST", "/invitee_no_shows", json={"invitee": unknown}).status_code == 404
    bad = call(sim, "POST", "/invitee_no_shows", json={"invitee": "nonsense"})
    assert bad.status_code == 400 and bad.json()["details"][0]["parameter"] == "invitee"
    assert call(sim, "POST", "/invitee_no_shows", data=b"[1]").status_code == 400
    assert call(sim, "DELETE", "/invitee_no_shows/unknown-uuid").status_code == 404

    call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})
    again = call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})
    assert again.status_code == 400


def test_missing_write_scope_refuses_no_show_writes(sim):
    invitee = an_invitee(sim)
    sim.set_scopes(missing=["scheduled_events:write"])

    response = call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert response.status_code == 403
    assert response.json() == {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["scheduled_events:write"],
    }
    assert invitee["no_show"] is None
    sim.set_scopes(missing=())
    assert call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]}).ok


def test_no_show_endpoints_need_the_token(sim):
    response = requests.post(sim.base_url + "/invitee_no_shows", json={}, timeout=5)
    assert response.status_code == 401


# -- webhook subscriptions ------------------------------------------------------------------------


def test_subscription_lifecycle(sim):
    created = subscribe(sim)

    assert created.status_code == 201
    resource = created.json()["resource"]
    assert set(resource) == {
        "uri", "callback_url", "created_at", "updated_at", "retry_started_at", "state",
        "events", "scope", "organization", "user", "group", "creator",
    }  # fmt: skip
    assert resource["callback_url"] == HOOK_URL and resource["state"] == "active"
    assert resource["events"] == EVENTS and resource["scope"] == "organization"
    assert resource["creator"] == sim.user["uri"] and resource["retry_started_at"] is None
    assert "whsec-1" not in created.text  # the signing key is never returned
    assert sim.signing_key_of(HOOK_URL) == "whsec-1"

    listed = call(
        sim,
        "GET",
        "/webhook_subscriptions",
        params={"organization": sim.organization_uri, "scope": "organization"},
    ).json()
    assert listed["collection"] == [resource]
    assert set(listed["pagination"]) >= {"next_page_token", "next_page"}
    uuid = uuid_of(resource["uri"])
    assert call(sim, "GET", f"/webhook_subscriptions/{uuid}").json()["resource"] == resource

    duplicate = subscribe(sim)
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "title": "Already Exists",
        "message": "Hook with this url already exists",
    }

    assert call(sim, "DELETE", f"/webhook_subscriptions/{uuid}").status_code == 204
    assert call(sim, "GET", f"/webhook_subscriptions/{uuid}").status_code == 404
    assert call(sim, "DELETE", f"/webhook_subscriptions/{uuid}").status_code == 404


def test_user_scope_subscriptions_are_listed_apart(sim):
    subscribe(sim, scope="user", user=sim.user["uri"])
    subscribe(sim, url="https://other.example.org/hook")

    def listing(**params):
        params = {"organization": sim.organization_uri, **params}
        return call(sim, "GET", "/webhook_subscriptions", params=params).json()["collection"]

    mine = listing(scope="user", user=sim.user["uri"])
    assert [sub["callback_url"] for sub in mine] == [HOOK_URL]
    assert mine[0]["user"] == sim.user["uri"]
    assert [sub["callback_url"] for sub in listing(scope="organization")] == [
        "https://other.example.org/hook"
    ]


def test_listing_requires_organization_and_scope(sim):
    response = call(sim, "GET", "/webhook_subscriptions")
    assert response.status_code == 400
    assert {d["parameter"] for d in response.json()["details"]} == {"organization", "scope"}

    params = {"organization": sim.organization_uri, "scope": "user"}
    response = call(sim, "GET", "/webhook_subscriptions", params=params)
    assert response.status_code == 400 and response.json()["details"][0]["parameter"] == "user"

    params = {"organization": "https://api.calendly.com/organizations/OTHER", "scope": "user"}
    params["user"] = sim.user["uri"]
    assert call(sim, "GET", "/webhook_subscriptions", params=params).status_code == 403


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"url": "http://webinare.example.org/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["invitee.booked"]}, "events"),
        ({"events": ["meeting_recap.created"]}, "events"),  # user scope only
        ({"scope": "everyone"}, "scope"),
        ({"scope": "user"}, "user"),
        ({"signing_key": 42}, "signing_key"),
    ],
)
def test_creation_is_validated(sim, change, parameter):
    body = {"url": HOOK_URL, "events": EVENTS, "organization": sim.organization_uri}
    body.update({"scope": "organization", "signing_key": "k"}, **change)

    response = call(sim, "POST", "/webhook_subscriptions", json=body)

    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Argument"
    assert parameter in {detail["parameter"] for detail in response.json()["details"]}
    assert sim.webhook_subscriptions == {}


def test_plan_without_webhooks_answers_403(sim):
    sim.set_plan_allows_webhooks(False)
    params = {"organization": sim.organization_uri, "scope": "organization"}

    for response in (subscribe(sim), call(sim, "GET", "/webhook_subscriptions", params=params)):
        assert response.status_code == 403
        assert response.json() == {
            "title": "Permission Denied",
            "message": "Please upgrade to a paid Calendly account.",
        }


def test_a_plain_member_may_only_use_user_scope(sim):
    sim.set_org_admin(False)

    assert subscribe(sim).status_code == 403
    assert subscribe(sim, scope="user", user=sim.user["uri"]).status_code == 201


def test_missing_webhook_scopes(sim):
    sim.set_scopes(missing=["webhooks:write"])
    params = {"organization": sim.organization_uri, "scope": "organization"}

    refused = subscribe(sim)
    assert refused.status_code == 403 and refused.json()["required_scopes"] == ["webhooks:write"]
    assert call(sim, "GET", "/webhook_subscriptions", params=params).status_code == 200


def test_disable_subscription(sim):
    resource = subscribe(sim).json()["resource"]

    sim.disable_subscription(uuid_of(resource["uri"]))

    fetched = call(sim, "GET", f"/webhook_subscriptions/{uuid_of(resource['uri'])}").json()
    assert fetched["resource"]["state"] == "disabled"
    assert fetched["resource"]["retry_started_at"] is not None


def test_paging_through_many_subscriptions(sim):
    for n in range(25):
        sim.add_webhook_subscription(f"https://hooks.example.org/{n}")
    params = {"organization": sim.organization_uri, "scope": "organization", "count": 10}

    seen, token = [], None
    while True:
        page = call(
            sim, "GET", "/webhook_subscriptions", params=dict(params, page_token=token or "")
        )
        body = page.json()
        seen += [sub["callback_url"] for sub in body["collection"]]
        token = body["pagination"]["next_page_token"]
        if not token:
            break

    assert len(seen) == 25 and len(set(seen)) == 25


# -- deliveries -----------------------------------------------------------------------------------


def test_deliver_webhook_signs_the_body(sim, receiver):
    sim.add_webhook_subscription(HOOK_URL, signing_key="whsec-deliver")
    sim.deliver_to = receiver.url
    payload = {"uri": "https://api.calendly.com/invitee_no_shows/x", "invitee": "i"}

    record = sim.deliver_webhook(HOOK_URL, "invitee_no_show.created", payload)

    assert record.ok and record.url == receiver.url + "/api/infowebinar/webhook"
    path, headers, body = receiver.deliveries[0]
    assert path == "/api/infowebinar/webhook"
    assert expected_signature(headers["Calendly-Webhook-Signature"], body, "whsec-deliver")
    envelope = json.loads(body)
    assert set(envelope) == {"event", "created_at", "created_by", "payload"}
    assert envelope["event"] == "invitee_no_show.created" and envelope["payload"] == payload
    assert envelope["created_by"] == sim.user["uri"]


def test_failed_delivery_is_recorded(sim, receiver):
    sub = sim.add_webhook_subscription(HOOK_URL, signing_key="k")
    sim.deliver_to = receiver.url
    receiver.status = 500

    record = sim.deliver_webhook(sub["uri"], "invitee.created", {"uri": "x"})

    assert record.status == 500 and not record.ok
    assert sim.delivery_log[-1] is record
    assert sub["retry_started_at"] is not None and sub["state"] == "active"

    sim.deliver_to = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert sim.deliver_webhook(sub["uri"], "invitee.created", {"uri": "x"}).error is not None


def test_auto_delivery_of_bookings_cancellations_and_no_shows(sim, receiver):
    sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    sim.add_webhook_subscription(
        "https://other.example.org/hook", ["invitee_no_show.deleted"], signing_key="k2"
    )
    sim.deliver_to, sim.auto_deliver = receiver.url, True
    event_uuid = sd.uuid_of(sim.add_event()["uri"])

    invitee = sim.book(event_uuid, name="Jürgen Groß", email="j.gross@example.de")
    no_show = dict(sim.set_no_show(uuid_of(invitee["uri"]), True)["no_show"])
    sim.cancel_invitee(uuid_of(invitee["uri"]))

    events = [json.loads(body) for _, _, body in receiver.deliveries]
    assert [e["event"] for e in events] == [
        "invitee.created",
        "invitee_no_show.created",
        "invitee.canceled",
    ]
    created = events[0]["payload"]
    assert created["uri"] == invitee["uri"] and created["email"] == "j.gross@example.de"
    embedded = created["scheduled_event"]
    assert embedded["uri"] == sim.events[event_uuid]["uri"]
    assert "calendar_event" not in embedded
    assert set(embedded["event_memberships"][0]) == {"user", "user_email", "user_name"}
    assert events[1]["payload"] == {"invitee": invitee["uri"], **no_show}
    assert events[1]["created_at"] == no_show["created_at"]
    assert events[2]["payload"]["status"] == "canceled"

    # The other subscription only wants invitee_no_show.deleted; disabled ones get nothing.
    sim.disable_subscription(HOOK_URL)
    sim.set_no_show(uuid_of(invitee["uri"]), False)
    assert [json.loads(body)["event"] for _, _, body in receiver.deliveries[3:]] == [
        "invitee_no_show.deleted"
    ]


def test_no_auto_delivery_unless_switched_on(sim, receiver):
    sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    sim.deliver_to = receiver.url

    sim.set_no_show(uuid_of(an_invitee(sim)["uri"]), True)

    assert receiver.deliveries == [] and sim.delivery_log == []


def test_no_show_created_over_http_is_delivered_too(sim, receiver):
    sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    sim.deliver_to, sim.auto_deliver = receiver.url, True
    invitee = an_invitee(sim)

    response = call(sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert response.status_code == 201
    envelope = json.loads(receiver.deliveries[0][2])
    assert envelope["event"] == "invitee_no_show.created"
    assert envelope["payload"] == response.json()["resource"]


def test_reschedule_delivers_cancel_then_create(sim, receiver):
    sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    sim.deliver_to, sim.auto_deliver = receiver.url, True
    target = sim.add_event()
    invitee = an_invitee(sim)

    new = sim.reschedule(uuid_of(invitee["uri"]), uuid_of(target["uri"]))

    events = [json.loads(body) for _, _, body in receiver.deliveries]
    assert [(e["event"], e["payload"]["uri"]) for e in events] == [
        ("invitee.canceled", invitee["uri"]),
        ("invitee.created", new["uri"]),
    ]
    assert events[0]["payload"]["rescheduled"] is True
    assert events[1]["payload"]["old_invitee"] == invitee["uri"]
