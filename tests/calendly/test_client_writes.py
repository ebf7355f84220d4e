"""The client's write and webhook-subscription methods, against the simulator over real HTTP:
request shapes, paths built from UUIDs, typed errors, and writes retried only on 429."""

from __future__ import annotations

import pytest

from calendly.client import CalendlyClient, invitee_uri_of
from calendly.errors import (
    ApiError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
)
from devtools.sample_data import uuid_of
from devtools.simulator import CalendlySimulator

TOKEN = "sim-token"
HOOK_URL = "https://webinare.example.org/api/infowebinar/webhook"
EVENTS = ("invitee.created", "invitee.canceled")


class Waits(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture(scope="module")
def _shared_sim():
    with CalendlySimulator(token=TOKEN, seed=9) as simulator:
        yield simulator


@pytest.fixture
def sim(_shared_sim):
    return _shared_sim.reset(n_events=10, max_invitees=3, past_days=10, future_days=20)


@pytest.fixture
def waits():
    return Waits()


@pytest.fixture
def client(sim, waits):
    with CalendlyClient(TOKEN, base_url=sim.base_url, sleep=waits, timeout=(2.0, 5.0)) as c:
        yield c


def an_invitee(sim):
    return next(inv for invs in sim.invitees.values() for inv in invs if not inv["no_show"])


def requests_to(sim, path):
    return [(r.method, r.status) for r in sim.request_log if r.path.startswith(path)]


# -- no-shows -------------------------------------------------------------------------------------


def test_create_and_delete_no_show(sim, client):
    invitee = an_invitee(sim)

    no_show = client.create_no_show(invitee["uri"])

    assert no_show["invitee"] == invitee["uri"] and no_show["uri"] == invitee["no_show"]["uri"]
    assert client.delete_no_show(no_show["uri"]) is None
    assert invitee["no_show"] is None
    assert requests_to(sim, "/invitee_no_shows") == [("POST", 201), ("DELETE", 204)]


def test_delete_no_show_accepts_a_bare_uuid_and_reports_404(sim, client):
    no_show = client.create_no_show(an_invitee(sim)["uri"])
    client.delete_no_show(uuid_of(no_show["uri"]))

    with pytest.raises(NotFoundError):
        client.delete_no_show(uuid_of(no_show["uri"]))


@pytest.mark.parametrize(
    "uri",
    [
        "https://api.calendly.com/scheduled_events/EV1",
        "https://api.calendly.com/scheduled_events/EV1/invitees/../../users/me",
        "https://api.calendly.com/scheduled_events/EV1/invitees/IN1?x=1#y",
        "",
    ],
)
def test_create_no_show_refuses_what_is_not_an_invitee_uri(sim, client, uri):
    if "?x=1" in uri:  # query and fragment are dropped, the UUIDs kept
        assert invitee_uri_of(uri) == ("https://api.calendly.com/scheduled_events/EV1/invitees/IN1")
        return
    with pytest.raises(ValueError):
        client.create_no_show(uri)
    assert sim.request_log == []


def test_no_show_write_is_not_retried_on_5xx_or_a_dropped_connection(sim, client, waits):
    invitee = an_invitee(sim)
    sim.inject("500", path="/invitee_no_shows", times=None)

    with pytest.raises(ApiError) as info:
        client.create_no_show(invitee["uri"])
    assert info.value.status == 500
    assert requests_to(sim, "/invitee_no_shows") == [("POST", 500)] and waits == []

    sim.clear_faults()
    sim.reset_log()
    sim.inject("drop", path="/invitee_no_shows")
    with pytest.raises(NetworkError):
        client.create_no_show(invitee["uri"])
    assert len(requests_to(sim, "/invitee_no_shows")) == 1


def test_no_show_write_is_retried_after_429(sim, client, waits):
    sim.inject("429", path="/invitee_no_shows", reset=0.05)

    no_show = client.create_no_show(an_invitee(sim)["uri"])

    assert no_show["uri"]
    assert requests_to(sim, "/invitee_no_shows") == [("POST", 429), ("POST", 201)]
    assert waits == [0.05]


def test_missing_write_scope_is_a_typed_403(sim, client):
    sim.set_scopes(missing=["scheduled_events:write"])

    with pytest.raises(PermissionDeniedError) as info:
        client.create_no_show(an_invitee(sim)["uri"])

    assert info.value.required_scopes == ["scheduled_events:write"]
    assert "scheduled_events:write" in str(info.value)


# -- webhook subscriptions ------------------------------------------------------------------------


def test_create_list_delete_subscription(sim, client):
    created = client.create_webhook_subscription(
        url=HOOK_URL,
        events=EVENTS,
        organization=sim.organization_uri,
        scope="organization",
        signing_key="whsec-abc",
    )

    assert created["callback_url"] == HOOK_URL and created["state"] == "active"
    assert sim.signing_key_of(HOOK_URL) == "whsec-abc"
    listed = list(client.iter_webhook_subscriptions(organization=sim.organization_uri))
    assert listed == [created]

    client.delete_webhook_subscription(created["uri"])
    assert list(client.iter_webhook_subscriptions(organization=sim.organization_uri)) == []
    with pytest.raises(NotFoundError):
        client.delete_webhook_subscription(uuid_of(created["uri"]))


def test_user_scope_sends_the_user(sim, client):
    created = client.create_webhook_subscription(
        url=HOOK_URL,
        events=EVENTS,
        organization=sim.organization_uri,
        scope="user",
        user=sim.user["uri"],
        signing_key=None,
    )

    assert created["scope"] == "user" and created["user"] == sim.user["uri"]
    assert sim.signing_key_of(HOOK_URL) is None
    mine = client.iter_webhook_subscriptions(
        organization=sim.organization_uri, scope="user", user=sim.user["uri"]
    )
    assert [sub["uri"] for sub in mine] == [created["uri"]]


def test_listing_follows_page_tokens(sim, client):
    for n in range(105):
        sim.add_webhook_subscription(f"https://hooks.example.org/{n}")

    listed = list(client.iter_webhook_subscriptions(organization=sim.organization_uri))

    assert len({sub["uri"] for sub in listed}) == 105
    pages = [r for r in sim.request_log if r.path == "/webhook_subscriptions"]
    assert len(pages) == 2 and pages[0].query["count"] == "100"
    assert pages[0].query["scope"] == "organization"


def test_bad_arguments_fail_before_any_request(sim, client):
    with pytest.raises(ValueError):
        client.iter_webhook_subscriptions(organization=sim.organization_uri, scope="user")
    with pytest.raises(ValueError):
        client.iter_webhook_subscriptions(organization="", scope="organization")
    with pytest.raises(ValueError):
        client.create_webhook_subscription(
            url=HOOK_URL,
            events=[],
            organization=sim.organization_uri,
            scope="organization",
            signing_key="k",
        )
    with pytest.raises(ValueError):
        client.delete_webhook_subscription("no such thing?")
    assert sim.request_log == []


def test_duplicate_url_is_a_409(sim, client):
    arguments = {
        "url": HOOK_URL,
        "events": EVENTS,
        "organization": sim.organization_uri,
        "scope": "organization",
        "signing_key": "k",
    }
    client.create_webhook_subscription(**arguments)

    with pytest.raises(ApiError) as info:
        client.create_webhook_subscription(**arguments)

    assert info.value.status == 409 and "already exists" in str(info.value)


def test_plan_without_webhooks_is_a_403_with_calendlys_words(sim, client):
    sim.set_plan_allows_webhooks(False)

    with pytest.raises(PermissionDeniedError) as info:
        list(client.iter_webhook_subscriptions(organization=sim.organization_uri))

    assert "Please upgrade to a paid Calendly account." in str(info.value)
    assert info.value.required_scopes == []


def test_subscription_create_is_not_retried_on_5xx(sim, client, waits):
    sim.inject("503", path="/webhook_subscriptions", times=None)

    with pytest.raises(ApiError):
        client.create_webhook_subscription(
            url=HOOK_URL,
            events=EVENTS,
            organization=sim.organization_uri,
            scope="organization",
            signing_key="k",
        )

    assert requests_to(sim, "/webhook_subscriptions") == [("POST", 503)] and waits == []
