"""The webinar dashboard: tabs, filter, pages, locations, capacity, the page/partial split, CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from services import settings
from services.queries import PAGE_SIZE, WebinarFilter
from store import clock

# Upcoming and past tabs, look-ahead order and dates in the admin's time zone.
pytestmark = pytest.mark.dated

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}


def _html(client, url="/", headers=None):
    response = client.get(url, headers={**EN, **(headers or {})})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _listed(html, name):
    return f'<span class="webinar-name">{name}</span>' in html


def _order(html, *names):
    positions = [html.index(f'<span class="webinar-name">{name}</span>') for name in names]
    return positions == sorted(positions)


def test_upcoming_webinars_first_in_time_order(login, add_webinar):
    now = clock.now()
    add_webinar(name="Later one", start_time=now + timedelta(days=9))
    add_webinar(name="Sooner one", start_time=now + timedelta(days=2))
    add_webinar(name="Long gone", start_time=now - timedelta(days=5))
    add_webinar(name="Called off", status="canceled", start_time=now + timedelta(days=3))
    html = _html(login)
    assert _order(html, "Sooner one", "Later one")
    assert not _listed(html, "Long gone")
    assert not _listed(html, "Called off")
    assert 'aria-current="page">Upcoming' in html


def test_a_running_webinar_still_counts_as_upcoming(login, add_webinar):
    now = clock.now()
    add_webinar(name="Happening now", start_time=now - timedelta(minutes=20))
    assert _listed(_html(login), "Happening now")
    assert not _listed(_html(login, "/?view=past"), "Happening now")


def test_past_and_canceled_tabs(login, add_webinar):
    now = clock.now()
    add_webinar(name="Last week", start_time=now - timedelta(days=7))
    add_webinar(name="Yesterday", start_time=now - timedelta(days=1))
    add_webinar(name="Called off", status="canceled", start_time=now + timedelta(days=3))
    past = _html(login, "/?view=past")
    assert _order(past, "Yesterday", "Last week")
    assert not _listed(past, "Called off")
    canceled = _html(login, "/?view=canceled")
    assert _listed(canceled, "Called off")
    assert "badge-canceled" in canceled
    assert not _listed(canceled, "Yesterday")


def test_event_type_filter_shows_names(login, add_webinar):
    add_webinar(name="Infoabend Seiteneinstieg", event_type_uri="https://api.calendly.com/et/A")
    add_webinar(name="Sprechstunde Referendariat", event_type_uri="https://api.calendly.com/et/B")
    html = _html(login, "/?type=https://api.calendly.com/et/B")
    assert '<option value="https://api.calendly.com/et/A">Infoabend Seiteneinstieg</option>' in html
    assert _listed(html, "Sprechstunde Referendariat")
    assert not _listed(html, "Infoabend Seiteneinstieg")


def test_pagination(login, add_webinar):
    now = clock.now()
    for n in range(PAGE_SIZE + 3):
        add_webinar(name=f"Webinar #{n:02d}", start_time=now + timedelta(days=1 + n))
    first = _html(login)
    assert _listed(first, "Webinar #00") and _listed(first, f"Webinar #{PAGE_SIZE - 1:02d}")
    assert not _listed(first, f"Webinar #{PAGE_SIZE:02d}")
    assert "Page 1 of 2" in first
    assert 'href="/?page=2"' in first
    second = _html(login, "/?page=2")
    assert _listed(second, f"Webinar #{PAGE_SIZE + 2:02d}")
    assert not _listed(second, "Webinar #00")
    assert "Page 2 of 2" in second


def test_bad_query_arguments_are_ignored(login, add_webinar):
    add_webinar(name="Still shown")
    assert _listed(_html(login, "/?view=bogus&page=-4"), "Still shown")
    assert _listed(_html(login, "/?page=abc"), "Still shown")


def test_date_weekday_and_time_in_the_admin_time_zone(app, login, add_webinar):
    # 2031-01-15 is a Wednesday; 13:00 UTC is 14:00 in Berlin (CET).
    add_webinar(name="Winter", start_time=datetime(2031, 1, 15, 13, 0, tzinfo=UTC))
    assert "Wed, Jan 15, 2031, 2:00\u202fPM" in _html(login)
    german = login.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Mi., 15.01.2031, 14:00" in german

    with app.app_context():
        settings.set_setting(settings.TIMEZONE_KEY, "America/New_York")
    assert "Wed, Jan 15, 2031, 8:00\u202fAM" in _html(login)


def test_locations(login, add_webinar):
    add_webinar(name="Zoom one", location_type="zoom", location="https://zoom.us/j/42")
    add_webinar(name="Meet pending", location_type="google_conference", location=None)
    add_webinar(name="On site", location_type="physical", location="Schulstraße 1, Berlin")
    add_webinar(name="By phone", location_type="outbound_call", location="+49 30 1234567")
    add_webinar(name="Sneaky", location_type="zoom", location="javascript:alert(1)")
    html = _html(login)
    assert '<a class="join-link" href="https://zoom.us/j/42"' in html
    assert "Google Meet: link pending" in html
    assert "Address: Schulstraße 1, Berlin" in html
    assert "Phone: +49 30 1234567" in html
    assert 'href="javascript:' not in html


def test_capacity_full_and_missing_upstream(login, add_webinar):
    add_webinar(name="Half", invitees_active=10, invitees_limit=20)
    add_webinar(name="Packed", invitees_active=20, invitees_limit=20)
    add_webinar(name="Gone upstream", missing_upstream=True)
    add_webinar(name="Open end", invitees_active=7, invitees_limit=None)
    html = _html(login)
    assert '<meter min="0" max="20" value="10"' in html
    assert "10 of 20 booked" in html
    assert "20 of 20 booked" in html
    assert html.count("badge-full") == 1
    assert "Not in Calendly" in html
    assert "7 booked" in html


def test_full_page_and_partial(login, add_webinar):
    add_webinar(name="Partial check")
    page = login.get("/", headers=EN)
    assert "HX-Request" in page.headers["Vary"]
    html = page.get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert 'id="webinar-list"' in html

    partial = _html(login, "/?view=upcoming", HX)
    assert "<html" not in partial
    assert partial.lstrip().startswith('<section id="webinar-list"')
    assert _listed(partial, "Partial check")
    assert 'hx-trigger="syncFinished from:body"' in partial


@pytest.mark.parametrize(
    "headers", [{"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}]
)
def test_boosted_and_history_restore_requests_get_the_whole_page(login, headers):
    assert "<html" in _html(login, "/", {**HX, **headers})


def test_list_refreshes_itself_after_a_sync_keeping_the_filter(login, add_webinar):
    add_webinar(name="x", event_type_uri="https://api.calendly.com/et/A")
    html = _html(login, "/?view=past&type=https://api.calendly.com/et/A")
    assert (
        '<section id="webinar-list" class="webinar-list" aria-labelledby="webinar-list-title"\n'
        '         hx-get="/?view=past&amp;type=https://api.calendly.com/et/A" '
        'hx-trigger="syncFinished from:body"'
    ) in html


def test_expand_link_works_with_and_without_htmx(login, add_webinar):
    event = add_webinar(name="Expandable")
    html = _html(login)
    link = f'<a href="/webinars/{event.id}" hx-get="/webinars/{event.id}"'
    assert link in html
    assert f'hx-target="#attendees-{event.id}"' in html
    assert f'<div id="attendees-{event.id}" class="attendees-slot"></div>' in html


def test_empty_state_without_token_points_to_settings(login, app):
    app.extensions["scheduler_next_run"] = lambda: datetime(2030, 1, 2, 5, 0, tzinfo=UTC)
    html = _html(login)
    assert "No webinars yet" in html
    assert "No token yet" in html
    assert 'href="/settings' in html
    # Nothing to export and no sync that could run.
    assert "webinars.csv" not in html
    assert "Next scheduled sync" not in html


def test_empty_state_with_token_offers_a_sync(app, login):
    app.extensions["scheduler_next_run"] = lambda: datetime(2030, 1, 2, 5, 0, tzinfo=UTC)
    with app.app_context():
        settings.save_calendly_token("tok-abcdefghijklmnop")
    html = _html(login)
    assert "No webinars yet" in html
    assert "No token yet" not in html
    assert "tok-abcdefghijklmnop" not in html
    assert "Next scheduled sync" in html
    assert "webinars.csv" in html
    empty = html.split('class="empty-state"', 1)[1]
    assert '<form method="post" action="/sync"' in empty
    assert 'hx-post="/sync" hx-target="#sync-panel"' in empty
    assert 'name="csrf_token"' in empty
    assert "Start the first sync" in empty
    assert "/sync/runs" not in empty


def test_empty_state_without_an_event_type_choice_asks_for_one(make_app, admin_client):
    app = make_app(event_types=None, CALENDLY_TOKEN="tok-abcdefghijklmnop")
    html = _html(admin_client(app))
    empty = html.split('class="empty-state"', 1)[1]
    assert 'href="/settings#event-type-choice"' in empty
    assert "Start the first sync" not in empty


def test_empty_tab_offers_another(login, add_webinar):
    add_webinar(name="Old", start_time=clock.now() - timedelta(days=3))
    html = _html(login)
    assert "No upcoming webinars." in html
    assert 'href="/?view=past"' in html


def test_demo_banner(make_app):
    app = make_app(DEMO_MODE=True)
    client = app.test_client()
    html = client.get("/setup", headers=EN).get_data(as_text=True)
    assert 'class="demo-banner"' in html


def test_no_demo_banner_normally(client, admin_user):
    assert "demo-banner" not in client.get("/login").get_data(as_text=True)


def test_filter_round_trips_through_url_arguments():
    f = WebinarFilter.from_args({"view": "past", "type": "https://x/et/A", "page": "3"})
    assert f == WebinarFilter("past", "https://x/et/A", 3)
    assert f.args() == {"view": "past", "type": "https://x/et/A", "page": 3}
    assert f.args(page=1, view="upcoming") == {"type": "https://x/et/A"}


# -- CSV of the filtered list -------------------------------------------------------------------


def test_csv_of_the_filtered_list(login, add_webinar, add_attendee):
    now = clock.now()
    a = add_webinar(name="Infoabend A", start_time=now + timedelta(days=1))
    b = add_webinar(name="Infoabend B", start_time=now + timedelta(days=2))
    old = add_webinar(name="Vergangen", start_time=now - timedelta(days=2))
    add_attendee(a, name="Jürgen Groß", questions_and_answers=[
        {"question": "Welches Fach?", "answer": "Mathe", "position": 0},
        {"question": "Bundesland?", "answer": "Sachsen", "position": 1},
    ])  # fmt: skip
    add_attendee(b, name="=HYPERLINK(\"http://evil\")", questions_and_answers=[
        {"question": "Bundesland?", "answer": "+49 30 123", "position": 1},
    ])  # fmt: skip
    add_attendee(old, name="Nicht dabei")

    response = login.get("/webinars.csv", headers={"Accept-Language": "de"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-2:] == ["Welches Fach?", "Bundesland?"]
    name = rows[0].index("Name")
    assert rows[1][name] == "Jürgen Groß"
    assert rows[1][-2:] == ["Mathe", "Sachsen"]
    assert rows[2][name] == '\'=HYPERLINK("http://evil")'
    assert rows[2][-2:] == ["", "'+49 30 123"]
    assert len(rows) == 3

    english = login.get("/webinars.csv?view=past", headers=EN).get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(english)))
    assert rows[0][:4] == ["Webinar", "Webinar start (Europe/Berlin)", "Host", "Name"]
    assert [row[3] for row in rows[1:]] == ["Nicht dabei"]


def test_rows_say_only_what_still_applies(login, add_webinar):
    now = clock.now()
    add_webinar(name="Coming up", location_type="zoom", location="https://zoom.us/j/1")
    add_webinar(
        name="Was on Zoom", start_time=now - timedelta(days=3), location="https://zoom.us/j/2"
    )
    add_webinar(
        name="Called off",
        status="canceled",
        location_type="google_conference",
        location=None,
        invitees_active=0,
        invitees_limit=29,
    )
    upcoming = _html(login)
    assert 'href="https://zoom.us/j/1"' in upcoming
    assert "badge-active" not in upcoming and ">Active<" not in upcoming

    past = _html(login, "/?view=past")
    assert _listed(past, "Was on Zoom")
    assert "join-link" not in past and "Join Zoom" not in past and "zoom.us/j/2" not in past
    assert ">Active<" not in past

    canceled = _html(login, "/?view=canceled")
    assert _listed(canceled, "Called off") and "badge-canceled" in canceled
    assert "link pending" not in canceled and "0 of 29 booked" not in canceled
