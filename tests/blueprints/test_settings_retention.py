"""The retention period on the Settings page: connecting Calendly asks for it (12 months
suggested), it is off only by a deliberate, confirmed choice, and the page says what the next
daily run removes, in the same numbers as `flask privacy purge --dry-run`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services import settings
from store.database import db
from store.models import AuditEntry
from tests.blueprints.test_settings import GOOD_TOKEN

HX = {"HX-Request": "true"}
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)

pytestmark = [pytest.mark.sim_account(token=GOOD_TOKEN), pytest.mark.language("en")]


@pytest.fixture
def app(make_app, calendly_sim):
    """No token yet; Calendly is the simulator (CSRF checked in test_settings)."""
    return make_app(
        event_types=None, CALENDLY_API_BASE_URL=calendly_sim.base_url, WTF_CSRF_ENABLED=False
    )


def months(app):
    with app.app_context():
        return settings.retention_months(), settings.retention_chosen()


def setting_changes(app) -> list[dict]:
    with app.app_context():
        return [
            entry.params
            for entry in db.session.scalars(
                select(AuditEntry).where(AuditEntry.action == "setting_changed")
            )
        ]


def value_of(html: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def test_connecting_calendly_asks_for_the_period_with_12_months_suggested(login, app):
    page = login.get("/settings").text
    token_form = page[page.index('class="token-form"') :]
    token_form = token_form[: token_form.index("</form>")]
    assert 'name="retention_months"' in token_form
    assert value_of(token_form, "retention_months") == "12"
    assert 'name="keep_unlimited"' in token_form and 'name="confirm_unlimited"' in token_form
    assert months(app) == (12, False)

    response = login.post("/settings/token", data={"token": GOOD_TOKEN, "retention_months": "18"})

    assert response.status_code == 303, response.text
    assert months(app) == (18, True)
    assert setting_changes(app) == [{"setting": "retention_months", "old": "unset", "new": 18}]


def test_a_blank_period_never_turns_retention_off(login, app):
    blank = login.post("/settings/token", data={"token": GOOD_TOKEN, "retention_months": ""})
    assert blank.status_code == 422
    assert "Enter a number of months from 1 to 120." in blank.text
    assert months(app) == (12, False)

    on_page = login.post("/settings/retention", data={"retention_months": ""})
    assert on_page.status_code == 422
    assert "Enter a number of months from 1 to 120." in on_page.text
    assert months(app) == (12, False)
    assert setting_changes(app) == []


def test_keeping_data_without_limit_needs_the_confirmation(login, app):
    unconfirmed = login.post("/settings/retention", data={"keep_unlimited": "y"}, headers=HX)
    assert unconfirmed.status_code == 200  # htmx swaps the section with its error
    assert "Tick the confirmation" in unconfirmed.text
    assert months(app) == (12, False)

    confirmed = login.post(
        "/settings/retention",
        data={"keep_unlimited": "y", "confirm_unlimited": "y", "retention_months": ""},
        headers=HX,
    )

    assert confirmed.status_code == 200
    assert 'id="retention"' in confirmed.text
    assert "Retention period saved." in confirmed.text
    assert "kept without a time limit" in confirmed.text
    assert months(app) == (None, True)
    assert setting_changes(app) == [
        {"setting": "retention_months", "old": "unset", "new": "unlimited"}
    ]
    back = login.post("/settings/retention", data={"retention_months": "6"})
    assert back.status_code == 303
    assert months(app) == (6, True)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.mark.dated
def test_the_page_shows_what_the_next_run_removes_as_the_dry_run_says(
    frozen, login, app, add_webinar, add_attendee
):
    for days, people in ((400, 3), (500, 1), (30, 2)):
        webinar = add_webinar(start_time=NOW - timedelta(days=days))
        for _ in range(people):
            add_attendee(webinar)

    html = login.get("/settings").text

    sentence = "The next run removes the personal data of 4 people from 2 webinars before"
    assert f"{sentence} Jun 15, 2025." in html
    dry = app.test_cli_runner().invoke(args=["privacy", "purge", "--dry-run"])
    assert "4 Personen aus 2 Webinaren vor dem 15.06.2025" in dry.output

    german = login.get("/settings", headers={"Accept-Language": "de"}).text
    assert "4 Personen aus 2 Webinaren vor dem 15.06.2025" in german

    fewer = login.post("/settings/retention", data={"retention_months": "15"}, headers=HX)
    assert "of 1 person from 1 webinar before Mar 15, 2025." in fewer.text


@pytest.mark.dated
def test_a_purged_webinar_page_says_so_and_shows_no_person(
    frozen, login, app, add_webinar, add_attendee
):
    from services import retention

    webinar = add_webinar(start_time=NOW - timedelta(days=400))
    add_attendee(webinar, name="Jürgen Alt", email="juergen@example.org", no_show=True)
    with app.app_context():
        retention.purge()

    for headers in ({}, HX):
        html = login.get(f"/webinars/{webinar.id}", headers=headers).text
        assert "personal data was removed after the retention period" in html
        assert "(removed)" in html
        assert "Jürgen" not in html and "juergen@example.org" not in html


def test_a_viewer_cannot_change_the_period(app, client):
    from services import accounts
    from tests.conftest import ADMIN_PASSWORD, TEST_PASSWORD_HASH

    app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
    with app.app_context():
        accounts.create_admin("admin@example.org", ADMIN_PASSWORD)
        accounts.create_admin("viewer@example.org", ADMIN_PASSWORD, "viewer")
    signed_in = client.post(
        "/login", data={"email": "viewer@example.org", "password": ADMIN_PASSWORD}
    )
    assert signed_in.status_code == 303

    response = client.post(
        "/settings/retention", data={"keep_unlimited": "y", "confirm_unlimited": "y"}
    )

    assert response.status_code == 403
    assert months(app) == (12, False)


def test_connecting_with_htmx_refreshes_the_retention_section_too(login, app):
    response = login.post(
        "/settings/token", data={"token": GOOD_TOKEN, "retention_months": "6"}, headers=HX
    )

    assert response.status_code == 200
    assert 'id="calendly-settings"' in response.text
    retention_part = response.text[response.text.index('<section id="retention"') :]
    assert 'hx-swap-oob="true"' in retention_part[:200]
    assert value_of(retention_part, "retention_months") == "6"
    assert months(app) == (6, True)
    again = login.post(
        "/settings/token", data={"token": GOOD_TOKEN, "retention_months": "6"}, headers=HX
    )
    assert 'id="retention"' not in again.text  # unchanged: only the Calendly section
