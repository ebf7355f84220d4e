"""Exports: CSV and XLSX of one webinar and of the dashboard's list, from one column definition;
question columns across event types; download names in the admin's language."""

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from services import settings
from services.export import EventTypeQuestions, question_columns
from store import clock
from store.database import db
from store.models import CalendlyEventType

DE = {"Accept-Language": "de"}
EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true"}
BERLIN = ZoneInfo("Europe/Berlin")
HOSTILE = '=HYPERLINK("http://evil","x")'
GERMAN_TYPE = "https://api.calendly.com/event_types/DE"
ENGLISH_TYPE = "https://api.calendly.com/event_types/EN"
ADVICE_TYPE = "https://api.calendly.com/event_types/BERATUNG"


def question(name, kind, position):
    return {"name": name, "type": kind, "position": position, "enabled": True}


TYPES = {
    GERMAN_TYPE: ("TLr - Infowebinar", [
        question("Welche Schulform interessiert Sie?", "single_select", 0),
        question("Haben Sie vorab Fragen an uns?", "text", 1),
        question("Telefonnummer für Rückfragen", "phone_number", 2),
    ]),
    ENGLISH_TYPE: ("TLr - Infowebinar (English)", [
        question("Which type of school are you interested in?", "single_select", 0),
        question("Anything you would like to ask in advance?", "text", 1),
    ]),
    ADVICE_TYPE: ("Einzelberatung", [
        question("Worum soll es in der Beratung gehen?", "text", 0),
    ]),
}  # fmt: skip


def answers(*pairs):
    return [{"question": q, "answer": a, "position": n} for n, (q, a) in enumerate(pairs)]


@pytest.fixture
def two_languages(app, add_webinar, add_attendee):
    """A German and an English info-webinar (same questions by position) and a consultation,
    with their types in the event type cache."""
    with app.app_context():
        for uri, (name, questions) in TYPES.items():
            db.session.add(CalendlyEventType(uri=uri, name=name, custom_questions=questions))
        db.session.commit()
    now = clock.now()
    german = add_webinar(name="TLr - Infowebinar", event_type_uri=GERMAN_TYPE,
                         start_time=now + timedelta(days=1))  # fmt: skip
    english = add_webinar(name="TLr - Infowebinar (English)", event_type_uri=ENGLISH_TYPE,
                          start_time=now + timedelta(days=2))  # fmt: skip
    advice = add_webinar(name="Einzelberatung", event_type_uri=ADVICE_TYPE,
                         start_time=now + timedelta(days=3))  # fmt: skip
    add_attendee(german, name="Jürgen Groß", questions_and_answers=answers(
        ("Welche Schulform interessiert Sie?", "Gymnasium"),
        ("Haben Sie vorab Fragen an uns?", "Ja"),
        ("Telefonnummer für Rückfragen", "+49 30 123456"),
    ))  # fmt: skip
    add_attendee(english, name="Amy Smith", questions_and_answers=answers(
        ("Which type of school are you interested in?", "Primary school"),
        ("Anything you would like to ask in advance?", "Costs?"),
    ))  # fmt: skip
    add_attendee(advice, name="Ola Nowak", questions_and_answers=answers(
        ("Worum soll es in der Beratung gehen?", "Anerkennung"),
    ))  # fmt: skip
    return german, english, advice


def csv_rows(response, delimiter=";"):
    return list(
        csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=delimiter)
    )


def workbook(response):
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return load_workbook(io.BytesIO(response.get_data())).active


# -- question columns across event types (issue 9 §5) ------------------------------------------


def test_the_same_form_in_two_languages_shares_its_columns(login, two_languages):
    german, english, _advice = two_languages
    rows = csv_rows(login.get(f"/webinars.csv?type={GERMAN_TYPE}", headers=DE))
    assert rows[0][-3:] == [  # one type: its own questions, as before
        "Welche Schulform interessiert Sie?",
        "Haben Sie vorab Fragen an uns?",
        "Telefonnummer für Rückfragen",
    ]

    rows = csv_rows(login.get("/webinars.csv", headers=DE))
    header = rows[0][-4:]
    assert header == [
        "Welche Schulform interessiert Sie? / Which type of school are you interested in? "
        "(TLr - Infowebinar, TLr - Infowebinar (English))",
        "Worum soll es in der Beratung gehen? (Einzelberatung)",
        "Haben Sie vorab Fragen an uns? / Anything you would like to ask in advance? "
        "(TLr - Infowebinar, TLr - Infowebinar (English))",
        "Telefonnummer für Rückfragen (TLr - Infowebinar)",
    ]
    name = rows[0].index("Name")
    by_name = {row[name]: row[-4:] for row in rows[1:]}
    assert by_name["Jürgen Groß"] == ["Gymnasium", "", "Ja", "'+49 30 123456"]
    assert by_name["Amy Smith"] == ["Primary school", "", "Costs?", ""]
    assert by_name["Ola Nowak"] == ["", "Anerkennung", "", ""]


def test_only_the_two_languages_need_no_type_names():
    sources = [
        (GERMAN_TYPE, answers(("Welche Schulform interessiert Sie?", "x"), ("Fragen?", "y"))),
        (ENGLISH_TYPE, answers(("Which school?", "x"), ("Questions?", "y"))),
    ]
    german = {"Welche Schulform interessiert Sie?": "single_select", "Fragen?": "text"}
    kinds = {
        GERMAN_TYPE: EventTypeQuestions("DE", german),
        ENGLISH_TYPE: EventTypeQuestions(
            "EN", {"Which school?": "single_select", "Questions?": "text"}
        ),
    }
    titles = [column.title for column in question_columns(sources, kinds)]
    assert titles == ["Welche Schulform interessiert Sie? / Which school?", "Fragen? / Questions?"]
    # Forms that differ by position keep their columns apart, each naming its event type.
    kinds[ENGLISH_TYPE] = EventTypeQuestions("EN", {"Which school?": "text", "Questions?": "text"})
    titles = [column.title for column in question_columns(sources, kinds)]
    assert titles == [
        "Welche Schulform interessiert Sie? (DE)",
        "Which school? (EN)",
        "Fragen? (DE)",
        "Questions? (EN)",
    ]


# -- XLSX beside every CSV (issue 9 §6) ----------------------------------------------------------


def test_every_csv_link_has_an_xlsx_link_beside_it(app, login, two_languages):
    with app.app_context():
        settings.save_calendly_token("tok-abcdefghijklmnop")  # without one, no export is offered
    german = two_languages[0]
    dashboard = login.get("/", headers=DE).get_data(as_text=True)
    assert "Teilnehmende als CSV" in dashboard and "Teilnehmende als XLSX" in dashboard
    assert 'href="/webinars.csv"' in dashboard and 'href="/webinars.xlsx"' in dashboard
    partial = login.get(f"/webinars/{german.id}", headers={**DE, **HX}).get_data(as_text=True)
    assert f'href="/webinars/{german.id}/attendees.csv"' in partial
    assert f'href="/webinars/{german.id}/attendees.xlsx"' in partial


def test_the_workbook_has_typed_cells_a_frozen_filtered_header_and_the_csvs_columns(
    login, add_webinar, add_attendee
):
    start = datetime(2031, 3, 4, 17, 0, tzinfo=UTC)
    event = add_webinar(name="Infowebinar", start_time=start)
    booked = datetime(2031, 1, 10, 8, 15, tzinfo=UTC)
    qa = answers(("Telefon?", "+49 30 123456"), ("Hinweis", "=1+2"), ("Fach", "Bio\x01logie"))
    add_attendee(
        event, name=HOSTILE, email="evil@example.org", calendly_created_at=booked,
        questions_and_answers=qa,
    )  # fmt: skip
    add_attendee(event, name="Jürgen Groß", email="juergen.gross@example.de")

    response = login.get(f"/webinars/{event.id}/attendees.xlsx", headers=DE)
    sheet = workbook(response)
    header = [cell.value for cell in sheet[1]]
    assert header == csv_rows(login.get(f"/webinars/{event.id}/attendees.csv", headers=DE))[0]
    assert header[-3:] == ["Telefon?", "Hinweis", "Fach"]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}3"

    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    evil = next(row for row in rows if row["Name"].value == HOSTILE)
    # Dates are dates, in the admin's time zone, shown as dates.
    assert evil["Webinar-Beginn (Europe/Berlin)"].value == datetime(2031, 3, 4, 18, 0)
    assert evil["Gebucht am (Europe/Berlin)"].value == datetime(2031, 1, 10, 9, 15)
    assert evil["Gebucht am (Europe/Berlin)"].is_date
    assert evil["Gebucht am (Europe/Berlin)"].number_format == "DD.MM.YYYY HH:MM"
    # Text is text: no apostrophe, no formula.
    for title, value in (("Name", HOSTILE), ("Telefon?", "+49 30 123456"), ("Hinweis", "=1+2")):
        assert evil[title].value == value
        assert evil[title].data_type == "s"
        assert not evil[title].quotePrefix
    assert evil["Fach"].value == "Biologie"  # a character XML cannot hold is left out
    assert evil["Abgesagt am (Europe/Berlin)"].value is None
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as parts:
        assert "<f>" not in parts.read("xl/worksheets/sheet1.xml").decode()

    widths = {
        title: sheet.column_dimensions[sheet.cell(1, index).column_letter].width
        for index, title in enumerate(header, 1)
    }
    assert all(8 <= width <= 50 for width in widths.values())
    assert widths["E-Mail"] >= len("juergen.gross@example.de")  # the email fits


def test_the_list_workbook_follows_the_filter_and_merges_the_languages(login, two_languages):
    sheet = workbook(login.get("/webinars.xlsx", headers=EN))
    header = [cell.value for cell in sheet[1]]
    assert header == csv_rows(login.get("/webinars.csv", headers=EN), ",")[0]
    name = header.index("Name")
    assert [row[name].value for row in sheet.iter_rows(min_row=2)] == [
        "Jürgen Groß",
        "Amy Smith",
        "Ola Nowak",
    ]
    start = sheet.cell(2, 2)
    assert start.is_date
    expected = two_languages[0].start_time.astimezone(BERLIN).replace(tzinfo=None)
    assert abs(start.value - expected) < timedelta(seconds=1)  # Excel keeps milliseconds
    assert start.number_format == "YYYY-MM-DD HH:MM"


# -- download names in the admin's language (issue 9 §5) -----------------------------------------


@pytest.mark.parametrize(
    ("headers", "stem", "tab"), [(DE, "teilnehmende", "vergangene"), (EN, "attendees", "past")]
)
def test_download_names_speak_the_admins_language(login, two_languages, headers, stem, tab):
    german = two_languages[0]
    day = f"{german.start_time:%Y-%m-%d}"
    for extension in ("csv", "xlsx"):
        one = login.get(f"/webinars/{german.id}/attendees.{extension}", headers=headers)
        assert one.headers["Content-Disposition"] == (
            f'attachment; filename="{stem}-{day}-{german.id}.{extension}"'
        )
        listed = login.get(f"/webinars.{extension}?view=past", headers=headers)
        assert listed.headers["Content-Disposition"] == (
            f'attachment; filename="{stem}-{tab}.{extension}"'
        )
