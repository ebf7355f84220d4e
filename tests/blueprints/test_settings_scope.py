"""The sync scope on the Settings page, against the simulator's team organization: only the
choices the token may read are offered, a member's token is refused in German, narrowing asks
to confirm how many webinars it removes, widening brings them back without duplicates."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from services import settings
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee

pytestmark = pytest.mark.sim_account("team")

TYPES = "TLr - Infowebinar,TLr - Infowebinar (English)"


@pytest.fixture
def scope_app(connected_app, calendly_sim):
    return connected_app(calendly_sim, CALENDLY_EVENT_TYPES=TYPES, WTF_CSRF_ENABLED=False)


def offered(page: str) -> list[str]:
    return re.findall(r'<input type="radio" name="mode" value="([a-z]+)"', page)


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(CalendlyEvent)),
            db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee)),
        )


def webinar_ids(sim, hosts=None):
    return {
        event["uri"].rsplit("/", 1)[1]
        for event in sim.events.values()
        if event["name"].startswith("TLr - Infowebinar")
        and (hosts is None or any(m["user"] in hosts for m in event["event_memberships"]))
    }


def stored_ids(app):
    with app.app_context():
        return set(db.session.scalars(select(CalendlyEvent.calendly_id)))


def sync(app):
    with app.app_context():
        assert sync_from_settings("manual").outcome is None


def test_an_admin_token_is_offered_every_scope_and_the_members(scope_app, admin_client):
    page = admin_client(scope_app).get("/settings").get_data(as_text=True)
    assert offered(page) == ["me", "organization", "hosts"]
    assert "Jonas Weber" in page and "Mira Schulz" in page


def test_a_member_token_is_offered_its_own_events_and_refused_the_organization(
    scope_app, calendly_sim, admin_client
):
    calendly_sim.set_org_admin(False)
    client = admin_client(scope_app)
    page = client.get("/settings").get_data(as_text=True)  # the probe reads the role
    assert offered(page) == ["me"]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    answer = client.post("/settings/scope", data={"mode": "organization"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 403
    assert "darf die Webinare der ganzen Organisation nicht lesen" in text
    assert "Nichts wurde geändert." in text
    with scope_app.app_context():
        assert settings.get_setting(settings.SCOPE_KEY) is None
        assert settings.sync_scope().mode == "me"


def test_narrowing_asks_how_many_then_removes_and_widening_brings_them_back(
    scope_app, calendly_sim, admin_client
):
    client = admin_client(scope_app)
    client.get("/settings")
    # Widening needs no confirmation.
    assert client.post("/settings/scope", data={"mode": "organization"}).status_code == 303
    sync(scope_app)
    everything = webinar_ids(calendly_sim)
    assert stored_ids(scope_app) == everything
    before = counts(scope_app)

    jonas = calendly_sim.member("Jonas Weber")["uri"]
    his = webinar_ids(calendly_sim, {jonas})
    leaving = len(everything - his)
    asked = client.post("/settings/scope", data={"mode": "hosts", "hosts": [jonas]})
    page = re.sub(r"\s+", " ", asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert f"leaves out {leaving} stored webinars" in page
    assert f"Remove {leaving} webinars and save" in page
    assert counts(scope_app) == before  # nothing yet
    with scope_app.app_context():
        assert settings.sync_scope().mode == "organization"

    done = client.post(
        "/settings/scope", data={"mode": "hosts", "hosts": [jonas], "confirm": str(leaving)}
    )
    assert done.status_code == 303
    assert stored_ids(scope_app) == his
    with scope_app.app_context():
        orphans = db.session.scalar(
            select(func.count())
            .select_from(CalendlyEventAttendee)
            .where(CalendlyEventAttendee.event_id.not_in(select(CalendlyEvent.id)))
        )
        assert orphans == 0 and settings.sync_scope().hosts == (jonas,)
    assert counts(scope_app)[1] < before[1]

    assert client.post("/settings/scope", data={"mode": "organization"}).status_code == 303
    sync(scope_app)
    assert stored_ids(scope_app) == everything
    assert counts(scope_app) == before  # back, and nothing twice


def test_the_picker_lists_the_organizations_types_and_whose_they_are(scope_app, admin_client):
    page = re.sub(r"\s+", " ", admin_client(scope_app).get("/settings").get_data(as_text=True))
    # The collective type is hosted by two colleagues, not by the token's user.
    assert "TLr - Infowebinar (English)" in page
    assert "collective of TLr Onboarding" in page
    assert "round robin of TLr Onboarding" in page
    assert '<span class="hint event-type-owner">of Katrin Böhm</span>' in page
