"""Who hosts each webinar (issue 10): named on the dashboard rows, the webinar page, the person
page and in both exports; a host filter beside the event-type filter that the list, its pages
and its exports follow."""

import csv
import html as markup
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from services import accounts, settings
from services.queries import PAGE_SIZE
from store import clock

DE = {"Accept-Language": "de"}
EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true"}
USERS = "https://api.calendly.com/users"
KATRIN = {"uri": f"{USERS}/KATRIN", "name": "Katrin Böhm", "email": "katrin@example.de"}
JONAS = {"uri": f"{USERS}/JONAS", "name": "Jonas Albrecht", "email": "jonas@example.de"}
UTE = {"uri": f"{USERS}/UTE", "name": "Ute <b>Brandt</b>", "email": "ute@example.de"}
INFO = "https://api.calendly.com/event_types/INFO"
ADVICE = "https://api.calendly.com/event_types/ADVICE"


@pytest.fixture
def hosted(add_webinar, add_attendee):
    """Four upcoming webinars: Katrin's, Katrin's and Jonas's, Ute's (another type), nobody's;
    Anna booked the first two, Ben the shared one, Cem Ute's."""
    now = clock.now()
    solo = add_webinar(name="Infowebinar Katrin", hosts=[KATRIN], event_type_uri=INFO,
                       start_time=now + timedelta(days=1))  # fmt: skip
    pair = add_webinar(name="Infowebinar zu zweit", hosts=[KATRIN, JONAS], event_type_uri=INFO,
                       start_time=now + timedelta(days=2))  # fmt: skip
    ute = add_webinar(name="Beratung bei Ute", hosts=[UTE], event_type_uri=ADVICE,
                      start_time=now + timedelta(days=3))  # fmt: skip
    nobody = add_webinar(name="Ohne Gastgeber", event_type_uri=INFO,
                         start_time=now + timedelta(days=4))  # fmt: skip
    add_attendee(solo, name="Anna Alt", email="anna@example.de")
    add_attendee(pair, name="Anna Alt", email="anna@example.de")
    add_attendee(pair, name="Ben Bauer", email="ben@example.de")
    add_attendee(ute, name="Cem Cakir", email="cem@example.de")
    return solo, pair, ute, nobody


def _html(client, url, headers=DE):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _listed(html) -> list[str]:
    return re.findall(r'<span class="webinar-name">([^<]*)</span>', html)


def _hosts_line(html) -> list[str]:
    """Each hosts line as shown: label and names, tags removed."""
    lines = re.findall(r'<div class="hosts">(.*?)</div>', html, re.S)
    return [markup.unescape(" ".join(re.sub(r"<[^>]+>", "", line).split())) for line in lines]


def _options(html, select_id) -> list[tuple[str, str]]:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)[1]
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def _csv(response, delimiter=";") -> list[dict]:
    rows = list(
        csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=delimiter)
    )
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


# -- where the hosts show ------------------------------------------------------------------------


def test_dashboard_rows_name_their_hosts_in_german_and_english(login, hosted):
    german = _html(login, "/")
    assert _hosts_line(german) == [
        "Gastgeber: Katrin Böhm",
        "Gastgeber: Katrin Böhm, Jonas Albrecht",
        "Gastgeber: Ute <b>Brandt</b>",  # escaped: the tag is text, not markup
    ]
    assert "Ute &lt;b&gt;Brandt&lt;/b&gt;" in german
    english = _html(login, "/", EN)
    assert _hosts_line(english) == [
        "Host: Katrin Böhm",
        "Hosts: Katrin Böhm, Jonas Albrecht",
        "Host: Ute <b>Brandt</b>",
    ]


def test_the_webinar_page_names_its_hosts(login, hosted):
    _solo, pair, _ute, nobody = hosted
    assert _hosts_line(_html(login, f"/webinars/{pair.id}")) == [
        "Gastgeber: Katrin Böhm, Jonas Albrecht"
    ]
    assert _hosts_line(_html(login, f"/webinars/{pair.id}", EN)) == [
        "Hosts: Katrin Böhm, Jonas Albrecht"
    ]
    assert _hosts_line(_html(login, f"/webinars/{nobody.id}")) == []


def test_the_person_page_names_the_host_of_each_booking(login, hosted):
    html = _html(login, "/people/anna@example.de", EN)
    # Newest webinar first: the shared one, then Katrin's own.
    assert _hosts_line(html) == ["Hosts: Katrin Böhm, Jonas Albrecht", "Host: Katrin Böhm"]
    assert _hosts_line(_html(login, "/people/cem@example.de")) == ["Gastgeber: Ute <b>Brandt</b>"]


def test_csv_and_xlsx_have_the_same_host_column(login, hosted):
    csv_rows = _csv(login.get("/webinars.csv", headers=DE))
    hosts = {row["Name"]: row["Gastgeber"] for row in csv_rows}
    assert hosts == {
        "Anna Alt": "Katrin Böhm, Jonas Albrecht",  # the last of her two rows: the shared one
        "Ben Bauer": "Katrin Böhm, Jonas Albrecht",
        "Cem Cakir": "Ute <b>Brandt</b>",
    }
    assert [row["Gastgeber"] for row in csv_rows][0] == "Katrin Böhm"

    response = login.get("/webinars.xlsx", headers=EN)
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    header = [cell.value for cell in sheet[1]]
    assert header == list(_csv(login.get("/webinars.csv", headers=EN), ",")[0])
    assert header.index("Host") == header.index("Webinar start (Europe/Berlin)") + 1
    column = header.index("Host")
    assert [row[column].value for row in sheet.iter_rows(min_row=2)] == [
        "Katrin Böhm",
        "Katrin Böhm, Jonas Albrecht",
        "Katrin Böhm, Jonas Albrecht",
        "Ute <b>Brandt</b>",
    ]


# -- the host filter -----------------------------------------------------------------------------


def test_the_host_filter_offers_every_host_and_narrows_the_list(login, hosted):
    html = _html(login, "/")
    assert _options(html, "host-filter") == [
        ("", "Alle Gastgeber"),
        (JONAS["uri"], "Jonas Albrecht"),
        (KATRIN["uri"], "Katrin Böhm"),
        (UTE["uri"], "Ute &lt;b&gt;Brandt&lt;/b&gt;"),
    ]
    assert '<label for="host-filter">Gastgeber</label>' in html
    assert "All hosts" in _html(login, "/", EN)

    jonas = _html(login, f"/?host={JONAS['uri']}")
    assert _listed(jonas) == ["Infowebinar zu zweit"]
    assert f'<option value="{JONAS["uri"]}" selected>' in jonas
    katrin = _html(login, f"/?host={KATRIN['uri']}")
    assert _listed(katrin) == ["Infowebinar Katrin", "Infowebinar zu zweit"]
    assert _listed(_html(login, f"/?host={USERS}/NOBODY")) == []


def test_host_and_type_filters_combine_in_the_partial_and_the_exports_follow(app, login, hosted):
    with app.app_context():
        settings.save_calendly_token("tok-abcdefghijklmnop")  # without one, no export is offered
    both = f"?type={INFO}&host={KATRIN['uri']}"
    partial = _html(login, f"/{both}", {**DE, **HX})
    assert "<html" not in partial
    assert _listed(partial) == ["Infowebinar Katrin", "Infowebinar zu zweit"]
    csv_link = re.search(r'href="(/webinars\.csv[^"]*)"', partial)[1].replace("&amp;", "&")
    xlsx_link = re.search(r'href="(/webinars\.xlsx[^"]*)"', partial)[1].replace("&amp;", "&")
    for link in (csv_link, xlsx_link):
        assert f"host={KATRIN['uri']}" in link
        assert "type=" in link
    assert sorted(row["Name"] for row in _csv(login.get(csv_link, headers=DE))) == [
        "Anna Alt",
        "Anna Alt",
        "Ben Bauer",
    ]
    sheet = load_workbook(io.BytesIO(login.get(xlsx_link, headers=DE).get_data())).active
    assert sheet.max_row == 4  # header and the same three bookings

    # Ute hosts no info-webinar: an empty list that offers to drop the host filter.
    none = _html(login, f"/?type={INFO}&host={UTE['uri']}", {**DE, **HX})
    assert _listed(none) == []
    assert "Alle Gastgeber zeigen" in none
    rows = _csv(login.get(f"/webinars.csv?type={INFO}&host={UTE['uri']}", headers=DE))
    assert rows == []


def test_pages_and_tabs_keep_the_host_filter(login, add_webinar):
    now = clock.now()
    for n in range(PAGE_SIZE + 2):
        add_webinar(
            name=f"Katrins #{n:02d}", hosts=[KATRIN], start_time=now + timedelta(days=1 + n)
        )
    add_webinar(name="Jonas allein", hosts=[JONAS], start_time=now + timedelta(hours=1))
    host = KATRIN["uri"]
    first = _html(login, f"/?host={KATRIN['uri']}")
    assert "Jonas allein" not in _listed(first)
    next_link = re.search(r'rel="next" href="([^"]+)"', first)[1].replace("&amp;", "&")
    assert f"host={host}" in next_link
    second = _html(login, next_link)
    assert _listed(second) == [f"Katrins #{n:02d}" for n in range(PAGE_SIZE, PAGE_SIZE + 2)]
    tabs = re.findall(r'<a href="(/\?view=[^"]+)"', first)
    assert tabs and all(f"host={host}" in tab for tab in tabs)


def test_viewers_filter_by_host_too(app, hosted):
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        accounts.create_admin("vortrag@example.org", "a presenter's password", "viewer")
    viewer = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', viewer.get("/login").text)[1]
    signed_in = viewer.post(
        "/login",
        data={
            "email": "vortrag@example.org",
            "password": "a presenter's password",
            "csrf_token": token,
        },
    )
    assert signed_in.status_code == 303
    assert _listed(_html(viewer, f"/?host={JONAS['uri']}", {**DE, **HX})) == [
        "Infowebinar zu zweit"
    ]
    rows = _csv(viewer.get(f"/webinars.csv?host={JONAS['uri']}", headers=DE))
    assert sorted(row["Name"] for row in rows) == ["Anna Alt", "Ben Bauer"]
