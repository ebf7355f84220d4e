"""The inputs that used to answer 500: integers too large for the database and NUL bytes.

An integer out of the database's range in a path is no such page (404), in a query a bad request
(400); a NUL byte anywhere in the path, the query or a form is a bad request (400), before any
view, login or database sees it. (test_crawl.py throws far more at every route; these are the
cases found first, spelled out.)
"""

import pytest

HUGE = "99999999999999999999"  # beyond 64 bits: SQLite refuses it, PostgreSQL's integer too


@pytest.fixture
def app(make_app):
    # Crashes become 500 answers (as in production) instead of exceptions in the test.
    return make_app(PROPAGATE_EXCEPTIONS=False)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/webinars/{HUGE}", 404),
        (f"/webinars/{HUGE}/attendees.csv", 404),
        ("/webinars/2147483648", 404),  # one past PostgreSQL's integer, the type of every id
        (f"/sync?run={HUGE}", 400),
        ("/sync?run=2147483648", 400),
        (f"/sync?run=-{HUGE}", 400),
        (f"/sync/runs?page={HUGE}", 400),
        (f"/?page={HUGE}", 400),
        (f"/webinars.csv?page=-{HUGE}", 400),
    ],
)
def test_integers_too_large_for_the_database_are_404_or_400(login, path, expected):
    response = login.get(path)
    response.close()  # a streamed CSV would otherwise keep its request context
    assert response.status_code == expected


@pytest.mark.parametrize("attendee_id", [HUGE, "2147483648", "9" * 5000])
@pytest.mark.parametrize("action", ["no-show", "no-show/undo"])
def test_no_show_of_an_attendee_id_too_large_is_404(login, csrf_token, attendee_id, action):
    token = csrf_token("/")
    response = login.post(f"/attendees/{attendee_id}/{action}", data={"csrf_token": token})
    assert response.status_code == 404


def test_in_range_query_numbers_still_work_as_before(login):
    # Malformed or merely large page numbers are still read as the nearest page.
    assert login.get("/?page=abc").status_code == 200
    assert login.get("/?page=-4").status_code == 200
    assert login.get("/?page=2147483647").status_code == 200
    assert login.get("/sync?run=abc").status_code == 200
    assert login.get("/sync/runs?page=0").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/search?q=%00%00",
        "/people/%00",
        "/people/someone%00@example.org",
        "/?type=%00",
        "/webinars.csv?type=%00",
        "/?view=upcoming&%00=1",  # in a name, too
        "/sync/runs?page=1%00",
    ],
)
def test_a_nul_byte_in_path_or_query_is_400(login, path):
    response = login.get(path, headers={"Accept-Language": "en"})
    text = response.get_data(as_text=True)  # read to the end: a streamed CSV holds its context
    assert response.status_code == 400
    assert "The request could not be understood." in text


def test_a_nul_byte_in_the_login_form_is_400_before_any_login(client, admin_user, csrf_token):
    token = csrf_token("/login")
    for data in (
        {"email": "admin\x00@example.org", "password": "whatever"},
        {"email": admin_user.email, "password": "correct\x00horse"},
        {"email": admin_user.email, "password": admin_user.password, "next": "/\x00"},
    ):
        response = client.post("/login", data={**data, "csrf_token": token})
        assert response.status_code == 400, data
    # Nothing got through: still signed out.
    assert client.get("/").status_code == 302


def test_a_nul_byte_in_a_signed_in_form_is_400(login, csrf_token):
    token = csrf_token("/settings")
    response = login.post(
        "/settings/preferences",
        data={
            "csrf_token": token,
            "display_timezone": "Europe/Berlin\x00",
            "lookback_days": "14",
            "daily_time": "06:00",
            "interval_minutes": "0",
        },
    )
    assert response.status_code == 400
