"""A webinar's attendees (page and partial), the search, the person page and the CSV."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.export import csv_cell, question_columns
from services.queries import booking_answers
from store import clock

# Webinars around now, booking times, dates in pages and exports.
pytestmark = pytest.mark.dated

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}

QA = [
    {"question": "Bundesland?", "answer": "Bayern", "position": 1},
    {
        "question": "Welches Fach möchten Sie unterrichten?",
        "answer": "Mathe, Physik",
        "position": 0,
    },
]


@pytest.fixture
def webinar(add_webinar, add_attendee):
    event = add_webinar(name="Infowebinar Seiteneinstieg", invitees_active=2, invitees_limit=30)
    booked = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)  # 10:30 in Berlin
    add_attendee(
        event,
        name="Jürgen Groß",
        email="juergen.gross@example.de",
        timezone="Europe/Vienna",
        questions_and_answers=QA,
        calendly_created_at=booked,
    )
    add_attendee(
        event,
        name="Aylin Demir",
        email="aylin@example.de",
        status="canceled",
        cancel_reason="Terminüberschneidung",
        rescheduled=True,
        calendly_created_at=booked + timedelta(hours=1),
    )
    add_attendee(
        event, name="Max No-Show", email="max@example.de", no_show=True, calendly_created_at=booked
    )
    return event


def _get(client, url, headers=None):
    response = client.get(url, headers={**EN, **(headers or {})})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# -- one webinar --------------------------------------------------------------------------------


def test_attendee_partial_for_htmx(login, webinar):
    html = _get(login, f"/webinars/{webinar.id}", HX)
    assert "<html" not in html
    assert html.lstrip().startswith(f'<div class="attendees" id="attendee-list-{webinar.id}">')
    assert "Jürgen Groß" in html


def test_webinar_page_without_htmx(login, webinar):
    html = _get(login, f"/webinars/{webinar.id}")
    assert html.startswith("<!doctype html>")
    assert "<h1>Infowebinar Seiteneinstieg</h1>" in html
    assert f'id="attendee-list-{webinar.id}"' in html
    assert "2 of 30 booked" in html


def test_attendee_details(login, webinar):
    html = _get(login, f"/webinars/{webinar.id}", HX)
    assert 'href="mailto:juergen.gross@example.de"' in html
    assert '"one-line" href="mailto:juergen.gross@example.de">juergen.gross@example.de<' in html
    assert "Mar 4, 2031, 10:30\u202fAM" in html  # booked at, in the admin's time zone
    assert "Europe/Vienna" in html
    # Answers in the booking form's order, whatever order they are stored in.
    assert html.index("Welches Fach möchten Sie unterrichten?") < html.index("Bundesland?")
    assert "<dd>Mathe, Physik</dd>" in html
    assert "Terminüberschneidung" in html
    assert "rescheduled" in html
    assert "no-show" in html
    assert "2 attendees" in html and "1 canceled" in html
    assert f'href="/webinars/{webinar.id}/attendees.csv"' in html
    assert 'href="/people/juergen.gross@example.de"' in html


def test_one_line_per_attendee_with_answers_one_click_away(login, webinar):
    html = _get(login, f"/webinars/{webinar.id}", HX)
    people = re.findall(r'<tbody class="attendee[^"]*">(.*?)</tbody>', html, re.S)
    assert len(people) == 3
    jurgen = next(part for part in people if "Jürgen Groß" in part)
    line, details = jurgen.split('<tr class="attendee-details"')
    # The line: name, email, status, booked at, and a button that opens the answers below.
    assert "Mathe, Physik" not in line and "Europe/Vienna" not in line
    toggle = re.search(r'<button type="button"[^>]*aria-controls="([^"]+)"[^>]*>', line)
    assert toggle and 'aria-expanded="false"' in toggle[0]
    assert details.startswith(f' id="{toggle[1]}" hidden>')
    assert "<dd>Mathe, Physik</dd>" in details and "Europe/Vienna" in details
    assert 'aria-label="Answers: Jürgen Groß"' in line and "(2)" in line
    assert "<th" not in jurgen and "Notes" not in html
    css = login.get("/static/app.css").get_data(as_text=True)
    assert "break-all" not in css


def test_webinar_without_attendees(login, add_webinar):
    event = add_webinar()
    assert "No one has booked this webinar yet." in _get(login, f"/webinars/{event.id}", HX)


def test_unknown_webinar_is_404(login):
    assert login.get("/webinars/999").status_code == 404
    assert login.get("/webinars/999", headers=HX).status_code == 404


def test_mailto_is_url_quoted(login, add_webinar, add_attendee):
    event = add_webinar()
    add_attendee(event, email="a?cc=boss@example.org&body=hi")
    html = _get(login, f"/webinars/{event.id}", HX)
    assert 'href="mailto:a%3Fcc%3Dboss@example.org%26body%3Dhi"' in html


def test_webinar_csv(login, webinar):
    response = login.get(f"/webinars/{webinar.id}/attendees.csv", headers={"Accept-Language": "de"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[-2:] == ["Welches Fach möchten Sie unterrichten?", "Bundesland?"]
    assert [first[title] for title in ("Name", "E-Mail", "Status")] == [
        "Jürgen Groß",
        "juergen.gross@example.de",
        "gebucht",
    ]
    assert first["Gebucht am (Europe/Berlin)"] == "2031-03-04 10:30"
    assert list(first.values())[-2:] == ["Mathe, Physik", "Bayern"]
    aylin = dict(zip(header, rows[3], strict=True))
    assert (aylin["Status"], aylin["Umgebucht"]) == ("storniert", "ja")  # canceled, rescheduled
    assert len(rows) == 4


def test_webinar_csv_in_english_uses_commas(login, webinar):
    text = login.get(f"/webinars/{webinar.id}/attendees.csv", headers=EN).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][3:6] == ["Name", "Email", "Status"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+49 30 123", "'+49 30 123"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("Jürgen", "Jürgen"),
        ("a=b", "a=b"),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cells_are_defused(value, cell):
    assert csv_cell(value) == cell


def test_question_columns_keep_form_order_and_skip_junk():
    lists = [
        [{"question": "B", "answer": "1", "position": 1}, {"question": "A", "position": 0}],
        [{"question": "C", "answer": "x", "position": 2}],
        "not a list",
        None,
        [{"answer": "no question"}, 7],
    ]
    titles = [column.title for column in question_columns((None, raw) for raw in lists)]
    assert titles == ["A", "B", "C"]
    assert booking_answers(lists[0]) == [("A", ""), ("B", "1")]
    assert booking_answers({"question": "x"}) == []


# -- search -------------------------------------------------------------------------------------


def test_search_page_and_partial(login, webinar):
    page = _get(login, "/search?q=gro")
    assert page.startswith("<!doctype html>")
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-push-url="true"' in page
    assert "Jürgen Groß" in page

    partial = _get(login, "/search?q=gro", HX)
    assert "<html" not in partial
    assert partial.lstrip().startswith('<section id="search-results"')
    assert 'href="/people/juergen.gross@example.de"' in partial


def test_search_by_name_email_and_case(login, webinar):
    assert "Aylin Demir" in _get(login, "/search?q=AYLIN", HX)
    assert "Aylin Demir" in _get(login, "/search?q=aylin@exa", HX)
    assert "Jürgen Groß" in _get(login, "/search?q=Jürg", HX)
    assert "Jürgen Groß" in _get(login, "/search?q=Groß", HX)
    # Case is ignored beyond ASCII, and ß matches ss, on SQLite as on PostgreSQL.
    assert "Jürgen Groß" in _get(login, "/search?q=JÜRGEN", HX)
    assert "Jürgen Groß" in _get(login, "/search?q=GROSS", HX)
    assert "Nobody found" in _get(login, "/search?q=zzzz", HX)


def test_search_finds_umlauts_typed_without_them(login, webinar, add_attendee):
    add_attendee(webinar, name="Samuel Öztürk", email="s.oeztuerk@example.de")
    for query in ("juergen", "jurgen", "JUERGEN", "Jürgen", "gross"):
        assert "Jürgen Groß" in _get(login, f"/search?q={query}", HX), query
    assert "Samuel Öztürk" in _get(login, "/search?q=ozturk", HX)
    # Only the stored side is folded this far: a plain "e" query still matches by substring.
    html = _get(login, "/search?q=uel", HX)
    assert "Samuel Öztürk" in html and "Jürgen Groß" not in html
    assert "Nobody found" in _get(login, "/search?q=jurgn", HX)


def test_search_says_more_than_it_shows(login, add_webinar, add_attendee):
    event = add_webinar()
    for n in range(25):
        add_attendee(event, name=f"Teilnehmerin {n}", email=f"t{n}@example.de")
    html = _get(login, "/search?q=teilnehmerin", HX)
    assert ">25 people found" in html and "More than" not in html

    add_attendee(event, name="Teilnehmerin 25", email="t25@example.de")
    html = _get(login, "/search?q=teilnehmerin", HX)
    assert html.count('class="person-link"') == 25
    assert "More than 25 people found" in html and ">25 people found" not in html
    german = login.get("/search?q=teilnehmerin", headers=HX).get_data(as_text=True)
    assert "Mehr als 25 Personen gefunden" in german


def test_search_wildcards_are_literal(login, webinar):
    assert "Nobody found" in _get(login, "/search?q=%25%25", HX)  # "%%"
    assert "Nobody found" in _get(login, "/search?q=__", HX)


def test_search_needs_two_characters(login, webinar):
    html = _get(login, "/search?q=j", HX)
    assert "Type at least 2 characters" in html
    assert "Jürgen" not in html
    assert "Type at least 2 characters" in _get(login, "/search")


def test_search_groups_bookings_by_email(login, add_webinar, add_attendee):
    for day in (1, 2, 3):
        event = add_webinar(start_time=clock.now() + timedelta(days=day))
        add_attendee(event, name="Wiederkehrende Person", email="wieder@example.de")
    html = _get(login, "/search?q=wieder", HX)
    assert html.count('href="/people/wieder@example.de"') == 1
    assert "3 bookings" in html


# -- person page --------------------------------------------------------------------------------


def test_person_page_lists_every_booking(login, add_webinar, add_attendee):
    now = clock.now()
    first = add_webinar(name="Januar-Termin", start_time=now - timedelta(days=30))
    second = add_webinar(name="Februar-Termin", start_time=now + timedelta(days=3))
    third = add_webinar(name="März-Termin", start_time=now + timedelta(days=30), status="canceled")
    email = "lena.schmidt@example.de"
    add_attendee(first, name="Lena Schmidt", email=email, no_show=True)
    add_attendee(
        second, name="Lena Schmidt", email=email, status="canceled", rescheduled=True,
        cancel_reason="Krank",
    )  # fmt: skip
    add_attendee(third, name="Lena Schmidt", email=email)
    add_attendee(first, name="Someone Else", email="else@example.de")

    html = _get(login, f"/people/{email}")
    assert "<h1>Lena Schmidt</h1>" in html
    assert html.index("März-Termin") < html.index("Februar-Termin") < html.index("Januar-Termin")
    assert "3 bookings" in html
    assert "no-show" in html and "rescheduled" in html and "Krank" in html
    assert "webinar canceled" in html
    assert "Someone Else" not in html
    assert f'href="/webinars/{first.id}"' in html


def test_unknown_person_is_404(login):
    response = login.get("/people/nobody@example.de", headers=EN)
    assert response.status_code == 404
    assert "No bookings with this email address." in response.get_data(as_text=True)
