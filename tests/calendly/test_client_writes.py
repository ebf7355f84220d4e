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

TOKEN = "sim-token"
HOOK_URL = "https://webinare.example.org/api/infowebinar/webhook"
EVENTS = ("invitee.created", "invitee.canceled")


class Waits(list):
    def __call__(self, seconds):
        self.append(seconds)


pytestmark = pytest.mark.sim_account("small", token=TOKEN)


@pytest.fixture
def waits():
    return Waits()


@pytest.fixture
def calendly_client(module_sim, waits):
    """The connector under test, on the simulator; its waits are recorded, not slept."""
    with CalendlyClient(
        TOKEN, base_url=module_sim.base_url, sleep=waits, timeout=(2.0, 5.0)
    ) as client:
        yield client


def requests_to(sim, path):
    return [(r.method, r.status) for r in sim.request_log if r.path.startswith(path)]


# -- no-shows -------------------------------------------------------------------------------------


def test_create_and_delete_no_show(pick_invitee, module_sim, calendly_client):
    invitee = pick_invitee(module_sim)

    no_show = calendly_client.create_no_show(invitee["uri"])

    assert no_show["invitee"] == invitee["uri"] and no_show["uri"] == invitee["no_show"]["uri"]
    assert calendly_client.delete_no_show(no_show["uri"]) is None
    assert invitee["no_show"] is None
    assert requests_to(module_sim, "/invitee_no_shows") == [("POST", 201), ("DELETE", 204)]


def test_delete_no_show_accepts_a_bare_uuid_and_reports_404(
    pick_invitee, module_sim, calendly_client
):
    no_show = calendly_client.create_no_show(pick_invitee(module_sim)["uri"])
    calendly_client.delete_no_show(uuid_of(no_show["uri"]))

    with pytest.raises(NotFoundError):
        calendly_client.delete_no_show(uuid_of(no_show["uri"]))


@pytest.mark.parametrize(
    "uri",
    [
        "https://api.calendly.com/scheduled_events/EV1",
        "https://api.calendly.com/scheduled_events/EV1/invitees/../../users/me",
        "https://api.calendly.com/scheduled_events/EV1/invitees/IN1?x=1#y",
        "",
    ],
)
def test_create_no_show_refuses_what_is_not_an_invitee_uri(module_sim, calendly_client, uri):
    if "?x=1" in uri:  # query and fragment are dropped, the UUIDs kept
        assert invitee_uri_of(uri) == ("https://api.calendly.com/scheduled_events/EV1/invitees/IN1")
        return
    with pytest.raises(ValueError):
        calendly_client.create_no_show(uri)
    assert module_sim.request_log == []


def test_no_show_write_is_not_retried_on_5xx_or_a_dropped_connection(
    pick_invitee, module_sim, calendly_client, waits
):
    invitee = pick_invitee(module_sim)
    module_sim.inject("500", path="/invitee_no_shows", times=None)

    with pytest.raises(ApiError) as info:
        calendly_client.create_no_show(invitee["uri"])
    assert info.value.status == 500
    assert requests_to(module_sim, "/invitee_no_shows") == [("POST", 500)] and waits == []

    module_sim.clear_faults()
    module_sim.reset_log()
    module_sim.inject("drop", path="/invitee_no_shows")
    with pytest.raises(NetworkError):
        calendly_client.create_no_show(invitee["uri"])
    assert len(requests_to(module_sim, "/invitee_no_shows")) == 1


def test_no_show_write_is_retried_after_429(pick_invitee, module_sim, calendly_client, waits):
    module_sim.inject("429", path="/invitee_no_shows", reset=0.05)

    no_show = calendly_client.create_no_show(pick_invitee(module_sim)["uri"])

    assert no_show["uri"]
    assert requests_to(module_sim, "/invitee_no_shows") == [("POST", 429), ("POST", 201)]
    assert waits == [0.05]


def test_missing_write_scope_is_a_typed_403(pick_invitee, module_sim, calendly_client):
    module_sim.set_scopes(missing=["scheduled_events:write"])

    with pytest.raises(PermissionDeniedError) as info:
        calendly_client.create_no_show(pick_invitee(module_sim)["uri"])

    assert info.value.required_scopes == ["scheduled_events:write"]
    assert "scheduled_events:write" in str(info.value)


# -- webhook subscriptions ------------------------------------------------------------------------


def test_create_list_delete_subscription(module_sim, calendly_client):
    created = calendly_client.create_webhook_subscription(
        url=HOOK_URL,
        events=EVENTS,
        organization=module_sim.organization_uri,
        scope="organization",
        signing_key="whsec-abc",
    )

    assert created["callback_url"] == HOOK_URL and created["state"] == "active"
    assert module_sim.signing_key_of(HOOK_URL) == "whsec-abc"
    listed = list(
        calendly_client.iter_webhook_subscriptions(organization=module_sim.organization_uri)
    )
    assert listed == [created]

    calendly_client.delete_webhook_subscription(created["uri"])
    assert (
        list(calendly_client.iter_webhook_subscriptions(organization=module_sim.organization_uri))
        == []
    )
    with pytest.raises(NotFoundError):
        calendly_client.delete_webhook_subscription(uuid_of(created["uri"]))


def test_user_scope_sends_the_user(module_sim, calendly_client):
    created = calendly_client.create_webhook_subscription(
        url=HOOK_URL,
        events=EVENTS,
        organization=module_sim.organization_uri,
        scope="user",
        user=module_sim.user["uri"],
        signing_key=None,
    )

    assert created["scope"] == "user" and created["user"] == module_sim.user["uri"]
    assert module_sim.signing_key_of(HOOK_URL) is None
    mine = calendly_client.iter_webhook_subscriptions(
        organization=module_sim.organization_uri, scope="user", user=module_sim.user["uri"]
    )
    assert [sub["uri"] for sub in mine] == [created["uri"]]


def test_listing_follows_page_tokens(module_sim, calendly_client):
    for n in range(105):
        module_sim.add_webhook_subscription(f"https://hooks.example.org/{n}")

    listed = list(
        calendly_client.iter_webhook_subscriptions(organization=module_sim.organization_uri)
    )

    assert len({sub["uri"] for sub in listed}) == 105
    pages = [r for r in module_sim.request_log if r.path == "/webhook_subscriptions"]
    assert len(pages) == 2 and pages[0].query["count"] == "100"
    assert pages[0].query["scope"] == "organization"


def test_bad_arguments_fail_before_any_request(module_sim, calendly_client):
    with pytest.raises(ValueError):
        calendly_client.iter_webhook_subscriptions(
            organization=module_sim.organization_uri, scope="user"
        )
    with pytest.raises(ValueError):
        calendly_client.iter_webhook_subscriptions(organization="", scope="organization")
    with pytest.raises(ValueError):
        calendly_client.create_webhook_subscription(
            url=HOOK_URL,
            events=[],
            organization=module_sim.organization_uri,
            scope="organization",
            signing_key="k",
        )
    with pytest.raises(ValueError):
        calendly_client.delete_webhook_subscription("no such thing?")
    assert module_sim.request_log == []


def test_duplicate_url_is_a_409(module_sim, calendly_client):
    arguments = {
        "url": HOOK_URL,
        "events": EVENTS,
        "organization": module_sim.organization_uri,
        "scope": "organization",
        "signing_key": "k",
    }
    calendly_client.create_webhook_subscription(**arguments)

    with pytest.raises(ApiError) as info:
        calendly_client.create_webhook_subscription(**arguments)

    assert info.value.status == 409 and "already exists" in str(info.value)


def test_plan_without_webhooks_is_a_403_with_calendlys_words(module_sim, calendly_client):
    module_sim.set_plan_allows_webhooks(False)

    with pytest.raises(PermissionDeniedError) as info:
        list(calendly_client.iter_webhook_subscriptions(organization=module_sim.organization_uri))

    assert "Please upgrade to a paid Calendly account." in str(info.value)
    assert info.value.required_scopes == []


def test_subscription_create_is_not_retried_on_5xx(module_sim, calendly_client, waits):
    module_sim.inject("503", path="/webhook_subscriptions", times=None)

    with pytest.raises(ApiError):
        calendly_client.create_webhook_subscription(
            url=HOOK_URL,
            events=EVENTS,
            organization=module_sim.organization_uri,
            scope="organization",
            signing_key="k",
        )

    assert requests_to(module_sim, "/webhook_subscriptions") == [("POST", 503)] and waits == []
