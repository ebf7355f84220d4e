"""The simulator's no-show and webhook subscription endpoints and its signed deliveries, over
real HTTP with plain requests (the app's client is tested in test_client_writes.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re

import pytest
import requests

from devtools import sample_data as sd
from devtools.sample_data import uuid_of
from store import clock

TOKEN = "test-sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOOK_URL = "https://webinare.example.org/api/infowebinar/webhook"
EVENTS = ["invitee.created", "invitee.canceled", "invitee_no_show.created"]

# A small account, reseeded for every test, without subscriptions, switches or faults.
pytestmark = pytest.mark.sim_account("small", token=TOKEN)


class Receiver:
    """Where deliveries go: pytest-httpserver, answering every request with `answer(status)`."""

    def __init__(self, server):
        self.server = server
        self.url = server.url_for("/").rstrip("/")
        self.answer(200)

    def answer(self, status: int) -> None:
        self.server.clear_all_handlers()
        self.server.expect_request(re.compile(".*")).respond_with_data("ok", status=status)

    @property
    def deliveries(self) -> list[tuple[str, dict, bytes]]:
        """(path, headers, body) of every request received, oldest first."""
        return [(req.path, dict(req.headers), req.get_data()) for req, _ in self.server.log]


@pytest.fixture
def receiver(httpserver):
    return Receiver(httpserver)


def call(sim, method, path, **kw):
    return requests.request(method, sim.base_url + path, headers=AUTH, timeout=5, **kw)


def subscribe(sim, url=HOOK_URL, events=EVENTS, **extra):
    body = {"url": url, "events": events, "organization": sim.organization_uri}
    body.update({"scope": "organization", "signing_key": "whsec-1"}, **extra)
    return call(sim, "POST", "/webhook_subscriptions", json=body)


def expected_signature(header: str, body: bytes, key: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    digest = hmac.new(key.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return (
        hmac.compare_digest(digest.hexdigest(), parts["v1"])
        and abs(clock.timestamp() - int(parts["t"])) < 5
    )


# -- no-shows -------------------------------------------------------------------------------------


def test_no_show_create_get_delete_round_trip(pick_invitee, module_sim):
    invitee = pick_invitee(module_sim)
    before = invitee["updated_at"]

    created = call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert created.status_code == 201
    resource = created.json()["resource"]
    assert resource["invitee"] == invitee["uri"]
    assert resource["uri"].startswith("https://api.calendly.com/invitee_no_shows/")
    assert invitee["no_show"] == {"uri": resource["uri"], "created_at": resource["created_at"]}
    assert invitee["updated_at"] > before

    fetched = call(module_sim, "GET", f"/invitee_no_shows/{uuid_of(resource['uri'])}")
    assert fetched.status_code == 200 and fetched.json()["resource"] == resource

    deleted = call(module_sim, "DELETE", f"/invitee_no_shows/{uuid_of(resource['uri'])}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert invitee["no_show"] is None
    assert (
        call(module_sim, "GET", f"/invitee_no_shows/{uuid_of(resource['uri'])}").status_code == 404
    )
    assert (
        call(module_sim, "DELETE", f"/invitee_no_shows/{uuid_of(resource['uri'])}").status_code
        == 404
    )


def test_seeded_and_directly_set_no_shows_are_found_by_uuid(pick_invitee, module_sim):
    # Set in the data, as the seed does, so the simulator has not indexed it.
    invitee = pick_invitee(module_sim)
    no_show_uuid = sd.new_uuid(random.Random(1))
    invitee["no_show"] = {
        "uri": f"{sd.API_BASE}/invitee_no_shows/{no_show_uuid}",
        "created_at": invitee["updated_at"],
    }

    response = call(module_sim, "GET", f"/invitee_no_shows/{no_show_uuid}")

    assert response.status_code == 200
    assert response.json()["resource"]["invitee"] == invitee["uri"]


def test_no_show_refusals(pick_invitee, module_sim):
    invitee = pick_invitee(module_sim)
    unknown = invitee["uri"].rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"

    assert (
        call(module_sim, "POST", "/invitee_no_shows", json={"invitee": unknown}).status_code == 404
    )
    bad = call(module_sim, "POST", "/invitee_no_shows", json={"invitee": "nonsense"})
    assert bad.status_code == 400 and bad.json()["details"][0]["parameter"] == "invitee"
    assert call(module_sim, "POST", "/invitee_no_shows", data=b"[1]").status_code == 400
    assert call(module_sim, "DELETE", "/invitee_no_shows/unknown-uuid").status_code == 404

    call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})
    again = call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})
    assert again.status_code == 400


def test_missing_write_scope_refuses_no_show_writes(pick_invitee, module_sim):
    invitee = pick_invitee(module_sim)
    module_sim.set_scopes(missing=["scheduled_events:write"])

    response = call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert response.status_code == 403
    assert response.json() == {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["scheduled_events:write"],
    }
    assert invitee["no_show"] is None
    module_sim.set_scopes(missing=())
    assert call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]}).ok


def test_no_show_endpoints_need_the_token(module_sim):
    response = requests.post(module_sim.base_url + "/invitee_no_shows", json={}, timeout=5)
    assert response.status_code == 401


# -- webhook subscriptions ------------------------------------------------------------------------


def test_subscription_lifecycle(module_sim):
    created = subscribe(module_sim)

    assert created.status_code == 201
    resource = created.json()["resource"]
    assert set(resource) == {
        "uri", "callback_url", "created_at", "updated_at", "retry_started_at", "state",
        "events", "scope", "organization", "user", "group", "creator",
    }  # fmt: skip
    assert resource["callback_url"] == HOOK_URL and resource["state"] == "active"
    assert resource["events"] == EVENTS and resource["scope"] == "organization"
    assert resource["creator"] == module_sim.user["uri"] and resource["retry_started_at"] is None
    assert "whsec-1" not in created.text  # the signing key is never returned
    assert module_sim.signing_key_of(HOOK_URL) == "whsec-1"

    listed = call(
        module_sim,
        "GET",
        "/webhook_subscriptions",
        params={"organization": module_sim.organization_uri, "scope": "organization"},
    ).json()
    assert listed["collection"] == [resource]
    assert set(listed["pagination"]) >= {"next_page_token", "next_page"}
    uuid = uuid_of(resource["uri"])
    assert call(module_sim, "GET", f"/webhook_subscriptions/{uuid}").json()["resource"] == resource

    duplicate = subscribe(module_sim)
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "title": "Already Exists",
        "message": "Hook with this url already exists",
    }

    assert call(module_sim, "DELETE", f"/webhook_subscriptions/{uuid}").status_code == 204
    assert call(module_sim, "GET", f"/webhook_subscriptions/{uuid}").status_code == 404
    assert call(module_sim, "DELETE", f"/webhook_subscriptions/{uuid}").status_code == 404


def test_user_scope_subscriptions_are_listed_apart(module_sim):
    subscribe(module_sim, scope="user", user=module_sim.user["uri"])
    subscribe(module_sim, url="https://other.example.org/hook")

    def listing(**params):
        params = {"organization": module_sim.organization_uri, **params}
        return call(module_sim, "GET", "/webhook_subscriptions", params=params).json()["collection"]

    mine = listing(scope="user", user=module_sim.user["uri"])
    assert [sub["callback_url"] for sub in mine] == [HOOK_URL]
    assert mine[0]["user"] == module_sim.user["uri"]
    assert [sub["callback_url"] for sub in listing(scope="organization")] == [
        "https://other.example.org/hook"
    ]


def test_listing_requires_organization_and_scope(module_sim):
    response = call(module_sim, "GET", "/webhook_subscriptions")
    assert response.status_code == 400
    assert {d["parameter"] for d in response.json()["details"]} == {"organization", "scope"}

    params = {"organization": module_sim.organization_uri, "scope": "user"}
    response = call(module_sim, "GET", "/webhook_subscriptions", params=params)
    assert response.status_code == 400 and response.json()["details"][0]["parameter"] == "user"

    params = {"organization": "https://api.calendly.com/organizations/OTHER", "scope": "user"}
    params["user"] = module_sim.user["uri"]
    assert call(module_sim, "GET", "/webhook_subscriptions", params=params).status_code == 403


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
def test_creation_is_validated(module_sim, change, parameter):
    body = {"url": HOOK_URL, "events": EVENTS, "organization": module_sim.organization_uri}
    body.update({"scope": "organization", "signing_key": "k"}, **change)

    response = call(module_sim, "POST", "/webhook_subscriptions", json=body)

    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Argument"
    assert parameter in {detail["parameter"] for detail in response.json()["details"]}
    assert module_sim.webhook_subscriptions == {}


def test_plan_without_webhooks_answers_403(module_sim):
    module_sim.set_plan_allows_webhooks(False)
    params = {"organization": module_sim.organization_uri, "scope": "organization"}

    for response in (
        subscribe(module_sim),
        call(module_sim, "GET", "/webhook_subscriptions", params=params),
    ):
        assert response.status_code == 403
        assert response.json() == {
            "title": "Permission Denied",
            "message": "Please upgrade to a paid Calendly account.",
        }


def test_a_plain_member_may_only_use_user_scope(module_sim):
    module_sim.set_org_admin(False)

    assert subscribe(module_sim).status_code == 403
    assert subscribe(module_sim, scope="user", user=module_sim.user["uri"]).status_code == 201


def test_missing_webhook_scopes(module_sim):
    module_sim.set_scopes(missing=["webhooks:write"])
    params = {"organization": module_sim.organization_uri, "scope": "organization"}

    refused = subscribe(module_sim)
    assert refused.status_code == 403 and refused.json()["required_scopes"] == ["webhooks:write"]
    assert call(module_sim, "GET", "/webhook_subscriptions", params=params).status_code == 200


def test_disable_subscription(module_sim):
    resource = subscribe(module_sim).json()["resource"]

    module_sim.disable_subscription(uuid_of(resource["uri"]))

    fetched = call(module_sim, "GET", f"/webhook_subscriptions/{uuid_of(resource['uri'])}").json()
    assert fetched["resource"]["state"] == "disabled"
    assert fetched["resource"]["retry_started_at"] is not None


def test_paging_through_many_subscriptions(module_sim):
    for n in range(25):
        module_sim.add_webhook_subscription(f"https://hooks.example.org/{n}")
    params = {"organization": module_sim.organization_uri, "scope": "organization", "count": 10}

    seen, token = [], None
    while True:
        page = call(
            module_sim, "GET", "/webhook_subscriptions", params=dict(params, page_token=token or "")
        )
        body = page.json()
        seen += [sub["callback_url"] for sub in body["collection"]]
        token = body["pagination"]["next_page_token"]
        if not token:
            break

    assert len(seen) == 25 and len(set(seen)) == 25


# -- deliveries -----------------------------------------------------------------------------------


def test_deliver_webhook_signs_the_body(module_sim, receiver):
    module_sim.add_webhook_subscription(HOOK_URL, signing_key="whsec-deliver")
    module_sim.deliver_to = receiver.url
    payload = {"uri": "https://api.calendly.com/invitee_no_shows/x", "invitee": "i"}

    record = module_sim.deliver_webhook(HOOK_URL, "invitee_no_show.created", payload)

    assert record.ok and record.url == receiver.url + "/api/infowebinar/webhook"
    path, headers, body = receiver.deliveries[0]
    assert path == "/api/infowebinar/webhook"
    assert expected_signature(headers["Calendly-Webhook-Signature"], body, "whsec-deliver")
    envelope = json.loads(body)
    assert set(envelope) == {"event", "created_at", "created_by", "payload"}
    assert envelope["event"] == "invitee_no_show.created" and envelope["payload"] == payload
    assert envelope["created_by"] == module_sim.user["uri"]


def test_failed_delivery_is_recorded(module_sim, receiver):
    sub = module_sim.add_webhook_subscription(HOOK_URL, signing_key="k")
    module_sim.deliver_to = receiver.url
    receiver.answer(500)

    record = module_sim.deliver_webhook(sub["uri"], "invitee.created", {"uri": "x"})

    assert record.status == 500 and not record.ok
    assert module_sim.delivery_log[-1] is record
    assert sub["retry_started_at"] is not None and sub["state"] == "active"

    module_sim.deliver_to = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert module_sim.deliver_webhook(sub["uri"], "invitee.created", {"uri": "x"}).error is not None


def test_auto_delivery_of_bookings_cancellations_and_no_shows(module_sim, receiver):
    module_sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    module_sim.add_webhook_subscription(
        "https://other.example.org/hook", ["invitee_no_show.deleted"], signing_key="k2"
    )
    module_sim.deliver_to, module_sim.auto_deliver = receiver.url, True
    event_uuid = sd.uuid_of(module_sim.add_event()["uri"])

    invitee = module_sim.book(event_uuid, name="Jürgen Groß", email="j.gross@example.de")
    no_show = dict(module_sim.set_no_show(uuid_of(invitee["uri"]), True)["no_show"])
    module_sim.cancel_invitee(uuid_of(invitee["uri"]))

    events = [json.loads(body) for _, _, body in receiver.deliveries]
    assert [e["event"] for e in events] == [
        "invitee.created",
        "invitee_no_show.created",
        "invitee.canceled",
    ]
    created = events[0]["payload"]
    assert created["uri"] == invitee["uri"] and created["email"] == "j.gross@example.de"
    embedded = created["scheduled_event"]
    assert embedded["uri"] == module_sim.events[event_uuid]["uri"]
    assert "calendar_event" not in embedded
    assert set(embedded["event_memberships"][0]) == {"user", "user_email", "user_name"}
    assert events[1]["payload"] == {"invitee": invitee["uri"], **no_show}
    assert events[1]["created_at"] == no_show["created_at"]
    assert events[2]["payload"]["status"] == "canceled"

    # The other subscription only wants invitee_no_show.deleted; disabled ones get nothing.
    module_sim.disable_subscription(HOOK_URL)
    module_sim.set_no_show(uuid_of(invitee["uri"]), False)
    assert [json.loads(body)["event"] for _, _, body in receiver.deliveries[3:]] == [
        "invitee_no_show.deleted"
    ]


def test_no_auto_delivery_unless_switched_on(pick_invitee, module_sim, receiver):
    module_sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    module_sim.deliver_to = receiver.url

    module_sim.set_no_show(uuid_of(pick_invitee(module_sim)["uri"]), True)

    assert receiver.deliveries == [] and module_sim.delivery_log == []


def test_no_show_created_over_http_is_delivered_too(pick_invitee, module_sim, receiver):
    module_sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    module_sim.deliver_to, module_sim.auto_deliver = receiver.url, True
    invitee = pick_invitee(module_sim)

    response = call(module_sim, "POST", "/invitee_no_shows", json={"invitee": invitee["uri"]})

    assert response.status_code == 201
    envelope = json.loads(receiver.deliveries[0][2])
    assert envelope["event"] == "invitee_no_show.created"
    assert envelope["payload"] == response.json()["resource"]


def test_reschedule_delivers_cancel_then_create(pick_invitee, module_sim, receiver):
    module_sim.add_webhook_subscription(HOOK_URL, EVENTS, signing_key="k")
    module_sim.deliver_to, module_sim.auto_deliver = receiver.url, True
    target = module_sim.add_event()
    invitee = pick_invitee(module_sim)

    new = module_sim.reschedule(uuid_of(invitee["uri"]), uuid_of(target["uri"]))

    events = [json.loads(body) for _, _, body in receiver.deliveries]
    assert [(e["event"], e["payload"]["uri"]) for e in events] == [
        ("invitee.canceled", invitee["uri"]),
        ("invitee.created", new["uri"]),
    ]
    assert events[0]["payload"]["rescheduled"] is True
    assert events[1]["payload"]["old_invitee"] == invitee["uri"]
