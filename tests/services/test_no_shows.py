"""No-shows both ways: the admin marks and unmarks attendees of started webinars (Calendly first,
then the mirror), and changes made in Calendly arrive by signed webhook or the next sync."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from devtools.sample_data import uuid_of
from services import webhook_subscriptions
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEventAttendee, WebhookDelivery

# A small account, every event inside the sync's look-back; English pages (German is the
# default; one test checks it).
# The no-show control belongs to webinars that have started: the split depends on the hour.
pytestmark = [pytest.mark.dated, pytest.mark.sim_account("small"), pytest.mark.language("en")]


@pytest.fixture
def app(connected_app, module_sim):
    """The app on the simulator, with its account verified and the data synced once."""
    app = connected_app(module_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    module_sim.reset_log()
    return app


@pytest.fixture
def attendee_of(app, module_sim, pick_invitee):
    """`attendee_of(past=True)`: the mirrored row of a booked attendee (not a no-show) of an
    active webinar that has started (past) or lies ahead."""

    def find(*, past: bool) -> CalendlyEventAttendee:
        invitee = pick_invitee(module_sim, ahead=not past)
        with app.app_context():
            row = db.session.scalars(
                select(CalendlyEventAttendee).where(
                    CalendlyEventAttendee.calendly_id == uuid_of(invitee["uri"])
                )
            ).one()
            db.session.expunge(row)
        return row

    return find


def stored(app, attendee_id) -> CalendlyEventAttendee:
    with app.app_context():
        row = db.session.get(CalendlyEventAttendee, attendee_id)
        db.session.expunge(row)
    return row


def upstream(sim, attendee) -> dict:
    return sim.find_invitee(attendee.calendly_id)[1]


def no_show_requests(sim):
    return [(r.method, r.status) for r in sim.request_log if r.path.startswith("/invitee_no")]


# -- marking from the attendee list ---------------------------------------------------------------


def test_mark_and_undo_change_calendly_then_the_mirror(app, attendee_of, module_sim, login, htmx):
    attendee = attendee_of(past=True)

    marked = login.post(f"/attendees/{attendee.id}/no-show", headers=htmx)

    assert marked.status_code == 200
    html = marked.get_data(as_text=True)
    assert f'id="attendee-list-{attendee.event_id}"' in html and "<html" not in html
    assert "is marked as a no-show in Calendly" in html
    assert "Undo no-show" in html
    row, invitee = stored(app, attendee.id), upstream(module_sim, attendee)
    assert row.no_show is True
    assert invitee["no_show"] is not None and row.no_show_uri == invitee["no_show"]["uri"]
    assert row.calendly_updated_at == datetime.fromisoformat(invitee["no_show"]["created_at"])

    undone = login.post(f"/attendees/{attendee.id}/no-show/undo", headers=htmx)

    assert undone.status_code == 200
    assert "is no longer marked as a no-show" in undone.get_data(as_text=True)
    row = stored(app, attendee.id)
    assert row.no_show is False and row.no_show_uri is None
    assert upstream(module_sim, attendee)["no_show"] is None
    assert no_show_requests(module_sim) == [("POST", 201), ("DELETE", 204)]


def test_a_plain_form_post_redirects_to_the_webinar_page(
    app, attendee_of, module_sim, login, csrf_token
):
    attendee = attendee_of(past=True)

    response = login.post(f"/attendees/{attendee.id}/no-show", data={"csrf_token": csrf_token("/")})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/webinars/{attendee.event_id}")
    page = login.get(response.headers["Location"]).get_data(as_text=True)
    assert "is marked as a no-show in Calendly" in page
    assert stored(app, attendee.id).no_show is True


def test_missing_write_scope_changes_nothing_and_says_why(
    app, attendee_of, module_sim, login, htmx
):
    attendee = attendee_of(past=True)
    module_sim.set_scopes(missing=["scheduled_events:write"])

    response = login.post(f"/attendees/{attendee.id}/no-show", headers=htmx)

    assert response.status_code == 200  # htmx swaps the list with the message in it
    html = response.get_data(as_text=True)
    assert "Nothing was changed here." in html
    assert "scheduled_events:write" in html and "Traceback" not in html
    assert 'class="flash flash-error' in html
    assert stored(app, attendee.id).no_show is False
    assert upstream(module_sim, attendee)["no_show"] is None


def test_unreachable_calendly_changes_nothing_and_is_not_retried(
    app, attendee_of, module_sim, login, htmx
):
    attendee = attendee_of(past=True)
    module_sim.inject("drop", path="/invitee_no_shows", times=None)

    response = login.post(f"/attendees/{attendee.id}/no-show", headers=htmx)

    html = response.get_data(as_text=True)
    assert "Calendly could not be reached." in html
    assert stored(app, attendee.id).no_show is False
    assert (
        len(no_show_requests(module_sim)) == 1
    )  # a write is never repeated after a dropped answer


def test_undo_of_a_mark_already_gone_in_calendly_clears_it_here(
    app, attendee_of, module_sim, login, htmx
):
    attendee = attendee_of(past=True)
    login.post(f"/attendees/{attendee.id}/no-show", headers=htmx)
    module_sim.set_no_show(attendee.calendly_id, False)  # removed in Calendly, no webhook

    response = login.post(f"/attendees/{attendee.id}/no-show/undo", headers=htmx)

    assert "is no longer marked as a no-show" in response.get_data(as_text=True)
    assert stored(app, attendee.id).no_show is False


def test_only_started_webinars_offer_the_control(app, attendee_of, module_sim, login, htmx):
    past, future = attendee_of(past=True), attendee_of(past=False)

    past_list = login.get(f"/webinars/{past.event_id}", headers={"HX-Request": "true"})
    future_list = login.get(f"/webinars/{future.event_id}", headers={"HX-Request": "true"})
    future_page = login.get(f"/webinars/{future.event_id}")

    assert f'action="/attendees/{past.id}/no-show"' in past_list.get_data(as_text=True)
    assert "/no-show" not in future_list.get_data(as_text=True)
    assert "/no-show" not in future_page.get_data(as_text=True)

    refused = login.post(f"/attendees/{future.id}/no-show", headers=htmx)
    assert "Only attendees of a webinar that has started" in refused.get_data(as_text=True)
    assert stored(app, future.id).no_show is False and no_show_requests(module_sim) == []


def test_the_webinar_page_offers_the_control_too(app, attendee_of, login):
    attendee = attendee_of(past=True)

    page = login.get(f"/webinars/{attendee.event_id}").get_data(as_text=True)

    assert "<!doctype html>" in page.lower()
    assert f'action="/attendees/{attendee.id}/no-show"' in page
    assert 'name="csrf_token"' in page


def test_csrf_token_is_required(app, attendee_of, module_sim, login):
    attendee = attendee_of(past=True)

    response = login.post(f"/attendees/{attendee.id}/no-show", headers={"HX-Request": "true"})

    assert response.status_code == 400
    assert stored(app, attendee.id).no_show is False and no_show_requests(module_sim) == []


def test_login_is_required(app, attendee_of, module_sim, client, admin_user, csrf_token):
    attendee = attendee_of(past=True)
    token = csrf_token("/login")  # a valid token of a visitor who has not signed in

    plain = client.post(f"/attendees/{attendee.id}/no-show", data={"csrf_token": token})
    htmx_request = client.post(
        f"/attendees/{attendee.id}/no-show", headers={"HX-Request": "true", "X-CSRFToken": token}
    )

    assert plain.status_code in (302, 303) and "/login" in plain.headers["Location"]
    assert htmx_request.status_code == 401 and "/login" in htmx_request.headers["HX-Redirect"]
    assert stored(app, attendee.id).no_show is False and no_show_requests(module_sim) == []


def test_unknown_attendee_is_404(app, login, htmx):
    assert login.post("/attendees/999999/no-show", headers=htmx).status_code == 404


# -- changes made in Calendly ---------------------------------------------------------------------


def test_calendly_side_no_show_arrives_by_signed_webhook(app, attendee_of, module_sim, live_server):
    attendee = attendee_of(past=True)
    with app.app_context():
        webhook_subscriptions.create_subscription("https://webinare.example.org")
    module_sim.deliver_to, module_sim.auto_deliver = live_server.url, True

    module_sim.set_no_show(attendee.calendly_id, True)

    assert module_sim.delivery_log[-1].status == 200
    row = stored(app, attendee.id)
    assert (
        row.no_show is True and row.no_show_uri == upstream(module_sim, attendee)["no_show"]["uri"]
    )

    module_sim.set_no_show(attendee.calendly_id, False)

    assert module_sim.delivery_log[-1].status == 200
    assert stored(app, attendee.id).no_show is False
    with app.app_context():
        outcomes = db.session.scalars(select(WebhookDelivery.outcome)).all()
    assert outcomes == ["applied", "applied"]


def test_an_explicit_delivery_is_verified_and_applied(app, attendee_of, module_sim, live_server):
    attendee = attendee_of(past=True)
    with app.app_context():
        created = webhook_subscriptions.create_subscription("https://webinare.example.org")
    module_sim.deliver_to = live_server.url
    invitee = module_sim.set_no_show(attendee.calendly_id, True)  # auto_deliver is off
    payload = {"uri": invitee["no_show"]["uri"], "invitee": invitee["uri"]}
    payload["created_at"] = invitee["no_show"]["created_at"]

    record = module_sim.deliver_webhook(created.uuid, "invitee_no_show.created", payload)

    assert record.status == 200
    assert stored(app, attendee.id).no_show is True


def test_the_apps_own_mark_is_not_undone_by_its_webhook(
    app, attendee_of, module_sim, live_server, login, htmx
):
    attendee = attendee_of(past=True)
    with app.app_context():
        webhook_subscriptions.create_subscription("https://webinare.example.org")
    module_sim.deliver_to, module_sim.auto_deliver = live_server.url, True

    login.post(f"/attendees/{attendee.id}/no-show", headers=htmx)
    assert stored(app, attendee.id).no_show is True
    login.post(f"/attendees/{attendee.id}/no-show/undo", headers=htmx)

    assert [record.status for record in module_sim.delivery_log] == [200, 200]
    assert stored(app, attendee.id).no_show is False


def test_calendly_side_no_show_arrives_with_the_next_sync(app, attendee_of, module_sim):
    attendee = attendee_of(past=True)
    module_sim.set_no_show(attendee.calendly_id, True)

    with app.app_context():
        assert sync_from_settings("cli", full=True).status == "succeeded"

    row = stored(app, attendee.id)
    assert row.no_show is True
    assert row.no_show_uri == upstream(module_sim, attendee)["no_show"]["uri"]
    assert uuid_of(row.no_show_uri)


def test_the_control_and_messages_are_german_by_default(app, attendee_of, module_sim, login, htmx):
    attendee = attendee_of(past=True)
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"

    html = login.post(f"/attendees/{attendee.id}/no-show", headers=htmx).get_data(as_text=True)

    assert "ist in Calendly als nicht erschienen markiert." in html
    assert "Nicht erschienen aufheben" in html
