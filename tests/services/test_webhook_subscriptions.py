"""Webhook subscriptions on the Settings page and the dashboard warning, against the simulator:
list, create (with a stored signing key), delete, re-create a disabled one, plan and permission
refusals, and a booking travelling from Calendly to the database by signed webhook."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from devtools.sample_data import uuid_of
from mirror.webhooks import HANDLED_EVENTS
from services import settings
from services import webhook_subscriptions as hooks
from store import clock
from store.database import db
from store.models import CalendlyEventAttendee, SyncRun, WebhookDelivery

BASE = "https://webinare.example.org"
HOOK_URL = BASE + "/api/infowebinar/webhook"
PATH = "/settings/webhooks"


# English pages (German is the default; one test checks it).
pytestmark = [pytest.mark.sim_account("small"), pytest.mark.language("en")]


@pytest.fixture
def app(connected_app, module_sim):
    return connected_app(module_sim)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def create(client, headers, base_url=BASE):
    return client.post(PATH, data={"base_url": base_url}, headers=headers)


def webhook_requests(sim):
    return [(r.method, r.status) for r in sim.request_log if r.path.startswith("/webhook_sub")]


def stored_key(app):
    with app.app_context():
        return settings.webhook_signing_key()


def health(app):
    with app.app_context():
        return hooks.health()


# -- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://webinare.example.org", HOOK_URL),
        ("  https://Webinare.Example.org/ ", HOOK_URL),
        ("https://example.org:8443/sync", "https://example.org:8443/sync/api/infowebinar/webhook"),
        (HOOK_URL, HOOK_URL),
    ],
)
def test_callback_url_for(given, expected):
    assert hooks.callback_url_for(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "http://webinare.example.org", "webinare.example.org", "https://", "https://u:p@x.org",
     "https://x.org/?a=1", "https://x.org/#top", "https://x.org:99999", "javascript:alert(1)"],
)  # fmt: skip
def test_callback_url_for_refuses(given):
    with pytest.raises(ValueError):
        hooks.callback_url_for(given)


# -- listing --------------------------------------------------------------------------------------


def test_settings_page_loads_the_section_by_htmx_with_a_fallback_link(app, login):
    page = login.get("/settings").get_data(as_text=True)

    assert 'id="webhooks"' in page
    assert f'hx-get="{PATH}"' in page and 'hx-trigger="load"' in page
    assert f'<a href="{PATH}">' in page


def test_section_lists_subscriptions_as_partial_and_page(app, module_sim, login):
    module_sim.add_webhook_subscription(HOOK_URL, HANDLED_EVENTS, signing_key="k")
    foreign = module_sim.add_webhook_subscription(
        "https://hooks.zapier.example/abc", ["invitee.created"]
    )
    disabled = module_sim.add_webhook_subscription(
        "https://old.example.org/api/infowebinar/webhook"
    )
    module_sim.disable_subscription(disabled["uri"])

    partial = login.get(PATH, headers={"HX-Request": "true"})
    page = login.get(PATH)

    html = text(partial)
    assert partial.status_code == 200 and "<html" not in html
    assert html.startswith('<div id="webhook-admin"')
    for url in (HOOK_URL, foreign["callback_url"], disabled["callback_url"]):
        assert url in html
    assert "invitee_no_show.deleted" in html
    assert html.count('class="badge badge-active"') == 2
    assert html.count('class="badge badge-canceled"') == 1  # disabled, highlighted
    assert 'class="webhook is-disabled"' in html
    assert html.count(">this app<") == 2
    # Only this app's disabled subscription can be re-created; every one can be deleted.
    assert html.count("/recreate") == 2  # action and hx-post of one form
    assert f"{PATH}/{uuid_of(disabled['uri'])}/recreate" in html
    assert html.count('class="confirm-delete"') == 3
    assert page.status_code == 200 and "<!doctype html>" in page.get_data(as_text=True).lower()
    assert "Real-time updates (Calendly webhooks)" in page.get_data(as_text=True)
    assert partial.headers["Vary"] and "HX-Request" in partial.headers["Vary"]


def test_listing_records_the_webhook_health(app, module_sim, login):
    sub = module_sim.add_webhook_subscription(HOOK_URL, HANDLED_EVENTS)
    module_sim.disable_subscription(sub["uri"])
    with app.app_context():
        db.session.add(
            WebhookDelivery(event="invitee.created", signature_valid=True, outcome="applied")
        )
        db.session.commit()

    html = text(login.get(PATH, headers={"HX-Request": "true"}))

    stored = health(app)
    assert stored["any_disabled"] is True and stored["scope"] == "organization"
    assert stored["disabled"] == [{"uuid": uuid_of(sub["uri"]), "callback_url": HOOK_URL}]
    assert stored["last_delivery_at"] and stored["checked_at"]
    assert "none yet" not in html.split("Last delivery received")[1][:80]


def test_empty_account_shows_the_form_with_the_events(app, module_sim, login):
    html = text(login.get(PATH, headers={"HX-Request": "true"}))

    assert "no webhook subscriptions yet" in html
    assert 'name="base_url"' in html and "/api/infowebinar/webhook" in html
    for name in HANDLED_EVENTS:
        assert name in html


def test_without_a_verified_account_it_says_connect_first(app, login):
    with app.app_context():
        settings.delete_setting(settings.ACCOUNT_KEY)

    html = text(login.get(PATH, headers={"HX-Request": "true"}))

    assert "Connect a Calendly token first" in html and 'name="base_url"' not in html


def test_a_member_sees_and_creates_user_scope_subscriptions(app, module_sim, login, htmx):
    module_sim.set_org_admin(False)
    module_sim.add_webhook_subscription("https://mine.example.org/hook", scope="user")

    html = text(login.get(PATH, headers={"HX-Request": "true"}))
    assert "https://mine.example.org/hook" in html and "your own subscriptions" in html

    created = create(login, htmx)

    assert "Webhook subscription created" in text(created)
    _, sub = module_sim.find_subscription(HOOK_URL)
    assert sub["scope"] == "user" and sub["user"] == module_sim.user["uri"]


# -- creating and deleting ------------------------------------------------------------------------


def test_create_subscribes_this_app_with_a_stored_signing_key(app, module_sim, login, htmx):
    response = create(login, htmx, base_url=BASE + "/")

    html = text(response)
    assert response.status_code == 200 and "Webhook subscription created" in html
    _, sub = module_sim.find_subscription(HOOK_URL)
    assert sub["events"] == list(HANDLED_EVENTS) and sub["scope"] == "organization"
    key = stored_key(app)
    assert key and len(key) >= 40 and module_sim.signing_key_of(HOOK_URL) == key
    assert key not in html and "stored encrypted" in html
    assert health(app)["base_url"] == BASE


def test_a_plain_post_redirects_with_a_flash_message(app, module_sim, login, csrf_token):
    response = login.post(PATH, data={"base_url": BASE, "csrf_token": csrf_token("/")})

    assert response.status_code == 303 and response.headers["Location"].endswith(PATH)
    page = login.get(PATH).get_data(as_text=True)
    assert "Webhook subscription created" in page and HOOK_URL in page
    # The form suggests the address used last time.
    assert f'value="{BASE}"' in page


@pytest.mark.parametrize("address", ["http://webinare.example.org", "not an address", ""])
def test_create_refuses_an_address_that_is_not_https(app, module_sim, login, csrf_token, address):
    token = csrf_token("/")
    plain = login.post(PATH, data={"base_url": address, "csrf_token": token})
    partial = create(login, {"HX-Request": "true", "X-CSRFToken": token}, base_url=address)

    assert plain.status_code == 422
    assert partial.status_code == 200
    assert 'class="field has-error"' in text(partial)
    assert module_sim.webhook_subscriptions == {} and stored_key(app) is None
    assert ("POST", 201) not in webhook_requests(module_sim)


def test_an_existing_subscription_for_the_address_is_explained(app, module_sim, login, htmx):
    module_sim.add_webhook_subscription(HOOK_URL, signing_key="their-key")

    html = text(create(login, htmx))

    assert "already has a webhook subscription for this address" in html
    assert stored_key(app) is None  # the key of a refused subscription is not kept
    assert module_sim.signing_key_of(HOOK_URL) == "their-key"


def test_delete_removes_the_subscription(app, module_sim, login, htmx):
    sub = module_sim.add_webhook_subscription(HOOK_URL)

    response = login.post(f"{PATH}/{uuid_of(sub['uri'])}/delete", headers=htmx)

    assert "Webhook subscription deleted." in text(response)
    assert module_sim.webhook_subscriptions == {}
    assert ("DELETE", 204) in webhook_requests(module_sim)
    # Deleting what Calendly no longer has is not an error either.
    again = login.post(f"{PATH}/{uuid_of(sub['uri'])}/delete", headers=htmx)
    assert "Webhook subscription deleted." in text(again)


def test_configured_signing_key_is_used_and_not_stored(make_app, module_sim, login, htmx, app):
    app.config["CALENDLY_WEBHOOK_SIGNING_KEY"] = "configured-key-0123456789"

    html = text(create(login, htmx))

    assert module_sim.signing_key_of(HOOK_URL) == "configured-key-0123456789"
    with app.app_context():
        assert settings.get_setting(settings.WEBHOOK_SIGNING_KEY_SETTING) is None
    assert "CALENDLY_WEBHOOK_SIGNING_KEY" in html and "configured-key" not in html


# -- refusals -------------------------------------------------------------------------------------


def test_a_plan_without_webhooks_is_explained(app, module_sim, login, htmx):
    module_sim.set_plan_allows_webhooks(False)

    listing = text(login.get(PATH, headers={"HX-Request": "true"}))
    created = text(create(login, htmx))

    for html in (listing, created):
        assert "Your Calendly plan does not include webhooks" in html
        assert "scheduled sync keeps fetching every change" in html
        assert 'name="base_url"' not in html and "Traceback" not in html
    assert "Please upgrade to a paid Calendly account." in listing
    assert health(app)["plan_blocked"] is True
    assert stored_key(app) is None


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda sim: sim.revoke_token(), "did not accept the token"),
        (lambda sim: sim.inject("500", times=None), "Calendly had a problem answering"),
        (lambda sim: sim.inject("drop", times=None), "Calendly could not be reached"),
        (lambda sim: sim.set_scopes(missing=["webhooks:read"]), "webhooks:read"),
    ],
)
def test_calendly_failures_read_as_friendly_messages(app, module_sim, login, breakage, expected):
    breakage(module_sim)

    response = login.get(PATH, headers={"HX-Request": "true"})

    html = text(response)
    assert response.status_code == 200 and expected in html
    assert "Traceback" not in html and 'class="flash flash-error notice"' in html


def test_missing_write_scope_on_create(app, module_sim, login, htmx):
    module_sim.set_scopes(missing=["webhooks:write"])

    html = text(create(login, htmx))

    assert "lacks the permission (scope) webhooks:write" in html
    assert module_sim.webhook_subscriptions == {}


def test_login_and_csrf_are_required(app, module_sim, client, admin_user, csrf_token):
    token = csrf_token("/login")

    assert "/login" in client.get(PATH).headers["Location"]
    refused = client.post(PATH, data={"base_url": BASE, "csrf_token": token})
    assert refused.status_code in (302, 303) and "/login" in refused.headers["Location"]

    client.post(
        "/login",
        data={"email": admin_user.email, "password": admin_user.password, "csrf_token": token},
    )
    assert client.post(PATH, data={"base_url": BASE}).status_code == 400
    assert module_sim.webhook_subscriptions == {}


# -- disabled subscriptions and the dashboard -----------------------------------------------------


def test_disabled_subscription_warns_on_the_dashboard_and_is_recreated(
    app, module_sim, login, htmx
):
    create(login, htmx)
    old_key = stored_key(app)
    old_uuid, _ = module_sim.find_subscription(HOOK_URL)
    module_sim.disable_subscription(old_uuid)
    login.get(PATH, headers={"HX-Request": "true"})  # the app notices the state when listing

    dashboard = text(login.get("/"))

    assert 'id="webhook-warning"' in dashboard
    assert "Real-time updates from Calendly are switched off." in dashboard
    assert f"{PATH}/{old_uuid}/recreate" in dashboard and 'value="dashboard"' in dashboard
    assert (
        "hx-get" not in dashboard.split('id="webhook-warning"')[1].split(">")[0]
    )  # health is fresh

    response = login.post(f"{PATH}/{old_uuid}/recreate", data={"origin": "dashboard"}, headers=htmx)

    html = text(response)
    assert "re-created" in html and "switched off" not in html
    new_uuid, new = module_sim.find_subscription(HOOK_URL)
    assert new_uuid != old_uuid and new["state"] == "active"
    assert len(module_sim.webhook_subscriptions) == 1
    assert stored_key(app) != old_key and module_sim.signing_key_of(HOOK_URL) == stored_key(app)
    assert "switched off" not in text(login.get("/"))


def test_recreate_from_the_settings_section(app, module_sim, login, htmx):
    sub = module_sim.add_webhook_subscription(HOOK_URL, HANDLED_EVENTS, signing_key="old")
    module_sim.disable_subscription(sub["uri"])

    html = text(login.post(f"{PATH}/{uuid_of(sub['uri'])}/recreate", headers=htmx))

    assert "re-created" in html and 'class="badge badge-active"' in html
    assert module_sim.signing_key_of(HOOK_URL) == stored_key(app) != "old"


def test_another_integrations_subscription_is_not_recreated(app, module_sim, login, htmx):
    sub = module_sim.add_webhook_subscription(
        "https://hooks.zapier.example/abc", signing_key="theirs"
    )
    module_sim.disable_subscription(sub["uri"])

    html = text(login.post(f"{PATH}/{uuid_of(sub['uri'])}/recreate", headers=htmx))

    assert "belongs to another integration" in html
    assert module_sim.signing_key_of(sub["uri"]) == "theirs" and sub["state"] == "disabled"


def test_recreate_plain_post_from_the_dashboard_redirects_there(app, module_sim, login, csrf_token):
    sub = module_sim.add_webhook_subscription(HOOK_URL, HANDLED_EVENTS)
    module_sim.disable_subscription(sub["uri"])

    response = login.post(
        f"{PATH}/{uuid_of(sub['uri'])}/recreate",
        data={"origin": "dashboard", "csrf_token": csrf_token("/")},
    )

    assert response.status_code == 303 and response.headers["Location"].endswith("/")


def test_dashboard_asks_calendly_only_when_the_health_is_old(app, module_sim, login):
    assert 'id="webhook-warning"' not in text(login.get("/"))  # never listed: nothing to say
    assert webhook_requests(module_sim) == []

    login.get(PATH, headers={"HX-Request": "true"})
    module_sim.reset_log()
    assert "hx-get" not in text(login.get("/")).split('id="webhook-warning"')[1].split(">")[0]
    with app.app_context():
        stale = dict(hooks.health())
        stale["checked_at"] = (clock.now() - timedelta(hours=2)).isoformat()
        settings.set_setting(hooks.HEALTH_KEY, stale)

    dashboard = text(login.get("/"))
    assert f'hx-get="{PATH}/warning"' in dashboard and webhook_requests(module_sim) == []

    refreshed = login.get(f"{PATH}/warning", headers={"HX-Request": "true"})

    assert refreshed.status_code == 200 and webhook_requests(module_sim) == [("GET", 200)]
    assert "hx-get" not in text(refreshed)


# -- secrets --------------------------------------------------------------------------------------


def test_signing_key_is_never_rendered_or_logged(app, module_sim, login, htmx, caplog):
    caplog.set_level(logging.DEBUG)
    pages = [create(login, htmx)]
    module_sim.disable_subscription(HOOK_URL)
    pages.append(login.get(PATH, headers={"HX-Request": "true"}))
    pages.append(
        login.post(f"{PATH}/{module_sim.find_subscription(HOOK_URL)[0]}/recreate", headers=htmx)
    )
    pages += [login.get(PATH), login.get("/"), login.get("/settings")]

    key = stored_key(app)
    assert key
    assert all(key not in page.get_data(as_text=True) for page in pages)
    assert key not in caplog.text


# -- end to end: Calendly -> signed webhook -> database -------------------------------------------


def test_booking_reaches_the_database_through_the_created_subscription(
    app, module_sim, login, htmx, live_server
):
    create(login, htmx)
    module_sim.deliver_to, module_sim.auto_deliver = live_server.url, True
    event = module_sim.add_event()

    invitee = module_sim.book(uuid_of(event["uri"]), name="Aylin Demir", email="aylin@example.de")

    assert [(r.event, r.status) for r in module_sim.delivery_log] == [("invitee.created", 200)]
    with app.app_context():
        row = db.session.scalars(
            select(CalendlyEventAttendee).where(
                CalendlyEventAttendee.calendly_id == uuid_of(invitee["uri"])
            )
        ).one()
        assert row.email == "aylin@example.de" and row.event.name == event["name"]
    html = text(login.get(PATH, headers={"HX-Request": "true"}))
    assert "none yet" not in html.split("Last delivery received")[1][:80]


def test_messages_are_german_by_default(app, module_sim, login, htmx):
    module_sim.set_plan_allows_webhooks(False)
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"

    html = text(login.get(PATH, headers={"HX-Request": "true"}))

    assert "Ihr Calendly-Tarif enthält keine Webhooks." in html
    assert "Die geplante Synchronisierung holt weiterhin jede Änderung" in html


def _sync_run(app, started_at, changed: int):
    with app.app_context():
        db.session.add(
            SyncRun(
                trigger="scheduler",
                status="succeeded",
                started_at=started_at,
                finished_at=started_at + timedelta(seconds=5),
                attendees_created=changed,
            )
        )
        db.session.commit()


def test_silent_deliveries_while_syncs_find_changes_are_flagged(app, module_sim, login, htmx):
    create(login, htmx)
    uuid, _ = module_sim.find_subscription(HOOK_URL)
    now = clock.now()
    with app.app_context():
        db.session.add(
            WebhookDelivery(
                received_at=now - timedelta(hours=5),
                event="invitee.created",
                signature_valid=True,
                outcome="applied",
            )
        )
        db.session.commit()
    # A sync that found nothing new says nothing about the webhooks.
    _sync_run(app, now - timedelta(hours=2), changed=0)
    assert "No webhook deliveries lately." not in text(login.get("/"))
    # One that found bookings hours after the last delivery does.
    _sync_run(app, now - timedelta(hours=1), changed=3)

    dashboard = text(login.get("/"))

    assert "No webhook deliveries lately." in dashboard
    assert f"{PATH}/{uuid}/recreate" in dashboard
    # A delivery after that sync ends the warning.
    with app.app_context():
        db.session.add(
            WebhookDelivery(
                received_at=clock.now(),
                event="invitee.created",
                signature_valid=True,
                outcome="applied",
            )
        )
        db.session.commit()
    assert "No webhook deliveries lately." not in text(login.get("/"))


def test_a_wider_sync_scope_subscribes_the_organization_without_falling_back(make_app, module_sim):
    """Colleagues' webinars reach only an organization subscription: with the organization
    or chosen hosts as the sync scope, a member's token gets a refusal, not a user-scope
    subscription that would miss them."""
    module_sim.set_org_admin(False)
    app = make_app(
        CALENDLY_API_BASE_URL=module_sim.base_url,
        CALENDLY_TOKEN=module_sim.token,
        CALENDLY_SCOPE="organization",
    )
    with app.app_context():
        settings.save_account(module_sim.user)
        with pytest.raises(hooks.WebhookAdminError):
            hooks.create_subscription(BASE)
    assert module_sim.webhook_subscriptions == {}
    module_sim.set_org_admin(True)
    with app.app_context():
        created = hooks.create_subscription(BASE)
    assert created.scope == "organization"
