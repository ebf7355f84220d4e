"""The insights page: page and partial, the period filter, German and English, each chart's
text alternative and its CSV and XLSX downloads, on the hand-counted mirror."""

import csv
import io

import pytest

from tests.services import insights_data as data

pytestmark = pytest.mark.dated

EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}
HX = {"HX-Request": "true"}


@pytest.fixture
def mirror(app, time_machine):
    time_machine.move_to(data.NOW, tick=False)
    return data.build(app)


def _html(client, url="/insights", headers=None):
    response = client.get(url, headers=headers or EN)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_page_in_the_navigation_with_every_chart(mirror, login):
    html = _html(login)
    assert 'href="/insights" aria-current="page">Insights</a>' in html
    for title in (
        "Bookings and cancellations per week",
        "Show-up rate over time",
        "Show-up rate per webinar",
        "Fill rate of the upcoming webinars",
        "Fullest upcoming slots",
        "Emptiest upcoming slots",
        "Fill rate by weekday",
        "Fill rate by hour of day",
        "Booking lead time",
        data.QUELLE_DE,
    ):
        assert f">{title}</h2>" in html, title
    assert "<svg" in html and "<script" not in html.split("</head>")[1]
    assert "attended means booked (not canceled) and not marked as a no-show" in html
    # The text alternatives say the hand-counted totals.
    assert "Bookings: 12, cancellations: 1, attended: 3, no-shows: 2 (6 weeks)." in html
    assert "Show-up rate in the period: 60.0% (3 of 5)." in html


def test_htmx_filter_change_gets_the_charts_only(mirror, login):
    response = login.get("/insights?period=year&type=" + data.TYPE_EN, headers={**EN, **HX})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<section id="insights-charts"')
    assert "<h1>" not in html
    assert "Bookings: 2, cancellations: 0," in html


def test_german_page_uses_german_numbers_and_dates(mirror, login):
    html = _html(login, headers=DE)
    assert ">Auswertung</h1>" in html
    assert "Auslastung nach Wochentag" in html
    assert "Erscheinungsquote im Zeitraum: 60,0\u00a0% (3 von 5)." in html
    assert "01.03.2026" in html  # the period's first day


def test_viewer_may_read_the_page(app, mirror):
    from tests.blueprints.test_crawl import viewer_client

    client = viewer_client(app)
    assert ">Auswertung</a>" in client.get("/insights").get_data(as_text=True)
    assert client.get("/insights/fill-hour.xlsx").status_code == 200


def test_csv_and_xlsx_of_a_chart(mirror, login):
    response = login.get("/insights/lead-time.csv", headers=EN)
    assert response.status_code == 200
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="insights-lead-time.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Days before the webinar", "Bookings"]
    assert [int(row[1]) for row in rows[1:]] == data.EXPECTED_LEAD

    german = login.get("/insights/show-up-webinars.csv", headers=DE).get_data(as_text=True)
    lines = german.lstrip("\ufeff").splitlines()
    assert lines[1].endswith(";1;1;50,0") and lines[2].endswith(";2;1;66,7")

    from openpyxl import load_workbook

    response = login.get("/insights/answers.xlsx?period=month", headers=EN)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == ["Question", "Answer", "Bookings"]
    assert [data.QUELLE_DE, "Other", 1] in values
    assert login.get("/insights/nothing.csv").status_code == 404
    assert login.get("/insights/lead-time.pdf").status_code == 404
