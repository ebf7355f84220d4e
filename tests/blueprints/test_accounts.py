"""The accounts screen and the two roles: admins manage accounts, viewers (Ansicht) read the
webinars and attendee lists and change nothing."""

import re
from datetime import timedelta

import pytest

from services import accounts, throttle
from store import clock
from store.database import db
from store.models import AdminUser

VIEWER = "vortrag@example.org"
VIEWER_PASSWORD = "a presenter's password"
HASH = "pbkdf2:sha256:1000"


def _csrf(client, path="/login") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)[1]


def _sign_in(app, email, password):
    client = app.test_client()
    data = {"email": email, "password": password, "csrf_token": _csrf(client)}
    return client, client.post("/login", data=data)


def _post(client, path, **data):
    return client.post(path, data={**data, "csrf_token": _csrf(client, "/accounts")})


def _user_id(app, email) -> int:
    with app.app_context():
        return db.session.scalar(db.select(AdminUser.id).where(AdminUser.email == email))


@pytest.fixture
def viewer(app, admin_user):
    app.config["PASSWORD_HASH_METHOD"] = HASH
    with app.app_context():
        accounts.create_admin(VIEWER, VIEWER_PASSWORD, "viewer")
    client, response = _sign_in(app, VIEWER, VIEWER_PASSWORD)
    assert response.status_code == 303
    return client


def _signed_out(client) -> bool:
    return client.get("/").status_code == 302


# -- the screen -----------------------------------------------------------------------------


def test_an_admin_adds_a_viewer_account_on_the_accounts_screen(app, login):
    page = login.get("/accounts").text
    assert "<h1>Konten</h1>" in page
    assert "admin@example.org" in page and ">Sie</span>" in page
    assert '<option selected value="viewer">Ansicht</option>' in page  # a new account's default
    assert 'href="/accounts"' in page  # in the navigation

    response = _post(login, "/accounts", email=VIEWER, password=VIEWER_PASSWORD, role="viewer")
    assert response.status_code == 303
    page = login.get("/accounts").text
    assert f"Konto {VIEWER} angelegt." in page
    with app.app_context():
        assert accounts.find_admin(VIEWER).role == "viewer"


def test_adding_an_account_refuses_bad_input_in_german(login, admin_user):
    response = _post(
        login, "/accounts", email=admin_user.email, password="long enough pw", role="admin"
    )
    assert response.status_code == 422
    assert "Es gibt schon ein Konto mit dieser E-Mail-Adresse." in response.text
    response = _post(login, "/accounts", email=VIEWER, password="kurz", role="viewer")
    assert response.status_code == 422 and "mindestens 10 Zeichen" in response.text
    response = _post(login, "/accounts", email=VIEWER, password="long enough pw", role="owner")
    assert response.status_code == 422


def test_an_admin_cannot_disable_delete_or_demote_themselves(app, login, admin_user):
    own = admin_user.id
    for action, data in [("disable", {}), ("delete", {}), ("role", {"role": "viewer"})]:
        response = _post(login, f"/accounts/{own}/{action}", **data)
        assert response.status_code == 303
        page = login.get("/accounts").text
        assert "Ihr eigenes Konto können Sie nicht" in page, action
    with app.app_context():
        user = accounts.get_admin(own)
        assert user.is_active and user.is_admin
    # And the screen offers none of these for the own row.
    page = login.get("/accounts").text
    assert f'action="/accounts/{own}/disable"' not in page
    assert f'action="/accounts/{own}/delete"' not in page


def test_the_last_enabled_admin_stays(app, admin_user, viewer):
    # The CLI acts without an own account: only the last-admin rule holds it back.
    with app.app_context(), pytest.raises(accounts.AccountError):
        accounts.disable_admin(admin_user.email)
    with app.app_context(), pytest.raises(accounts.AccountError):
        accounts.set_role(admin_user.email, "viewer")
    with app.app_context(), pytest.raises(accounts.AccountError):
        accounts.delete_admin(admin_user.email)
    with app.app_context():
        accounts.create_admin("zweite@example.org", "another long password")
        accounts.set_role(admin_user.email, "viewer")  # another admin is left now
        assert not accounts.find_admin(admin_user.email).is_admin


def test_disabling_and_deleting_end_the_sessions(app, login, viewer):
    viewer_id = _user_id(app, VIEWER)
    assert not _signed_out(viewer)
    assert _post(login, f"/accounts/{viewer_id}/disable").status_code == 303
    assert f"{VIEWER} ist deaktiviert und überall abgemeldet." in login.get("/accounts").text
    assert _signed_out(viewer)
    assert _sign_in(app, VIEWER, VIEWER_PASSWORD)[1].status_code == 200  # refused

    _post(login, f"/accounts/{viewer_id}/enable")
    again, response = _sign_in(app, VIEWER, VIEWER_PASSWORD)
    assert response.status_code == 303
    _post(login, f"/accounts/{viewer_id}/delete")
    assert f"Konto {VIEWER} gelöscht." in login.get("/accounts").text
    assert _signed_out(again)
    with app.app_context():
        assert accounts.get_admin(viewer_id) is None


def test_reset_password_and_unlock(app, login, viewer):
    viewer_id = _user_id(app, VIEWER)
    with app.app_context():
        now = clock.now()
        for n in range(throttle.MAX_FAILURES_PER_EMAIL):
            throttle.record_failure(VIEWER, f"10.0.0.{n}", now - timedelta(seconds=n))
        db.session.commit()
    page = login.get("/accounts").text
    assert "gesperrt nach Fehlversuchen" in page
    assert _post(login, f"/accounts/{viewer_id}/unlock").status_code == 303
    page = login.get("/accounts").text
    assert f"{VIEWER} ist entsperrt." in page and "gesperrt nach Fehlversuchen" not in page

    response = _post(login, f"/accounts/{viewer_id}/password", password="kurz")
    assert "mindestens 10 Zeichen" in login.get("/accounts").text
    response = _post(login, f"/accounts/{viewer_id}/password", password="a brand new password")
    assert response.status_code == 303
    assert "hat ein neues Passwort und ist überall abgemeldet" in login.get("/accounts").text
    assert _signed_out(viewer)
    assert _sign_in(app, VIEWER, VIEWER_PASSWORD)[1].status_code == 200
    assert _sign_in(app, VIEWER, "a brand new password")[1].status_code == 303


def test_a_role_change_applies_at_the_next_request(app, login, viewer):
    assert viewer.get("/settings").status_code == 403
    _post(login, f"/accounts/{_user_id(app, VIEWER)}/role", role="admin")
    assert f"{VIEWER} hat jetzt die Rolle Admin." in login.get("/accounts").text
    assert viewer.get("/settings").status_code == 200


# -- what a viewer sees ---------------------------------------------------------------------


def test_a_viewer_sees_the_lists_but_no_admin_controls(
    app, login, viewer, add_webinar, add_attendee
):
    app.config["CALENDLY_TOKEN"] = "configured"  # so that admins get "Sync now"
    started = add_webinar(name="Infowebinar Rollen", start_time=clock.now() - timedelta(hours=2))
    add_attendee(started, name="Jürgen Groß", email="juergen@example.de")

    admin_page = login.get("/?view=past").text
    assert "Jetzt synchronisieren" in admin_page and 'href="/settings"' in admin_page
    assert "Als nicht erschienen markieren" in login.get(f"/webinars/{started.id}").text

    page = viewer.get("/?view=past")
    assert page.status_code == 200 and "Infowebinar Rollen" in page.text
    for admin_only in ("Jetzt synchronisieren", 'href="/settings"', 'href="/sync/runs"',
                       'href="/accounts"', 'id="sync-panel"'):  # fmt: skip
        assert admin_only not in page.text, admin_only
    webinar = viewer.get(f"/webinars/{started.id}").text
    assert "Jürgen Groß" in webinar and "Als nicht erschienen markieren" not in webinar
    assert "Jürgen Groß" in viewer.get("/search?q=jurgen").text
    assert viewer.get("/people/juergen@example.de").status_code == 200
    assert viewer.get(f"/webinars/{started.id}/attendees.csv").status_code == 200
    assert viewer.get("/webinars.csv?view=past").status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/settings"),
        ("GET", "/accounts"),
        ("GET", "/sync/runs"),
        ("POST", "/sync"),
        ("POST", "/settings/token/remove"),
        ("POST", "/attendees/1/no-show"),
        ("POST", "/accounts/1/delete"),
    ],
)
def test_a_viewer_gets_a_german_403_for_everything_else(viewer, method, path):
    data = {"csrf_token": _csrf(viewer, "/")} if method == "POST" else None
    response = viewer.open(path, method=method, data=data)
    assert response.status_code == 403
    assert "Ihr Konto hat die Rolle Ansicht" in response.text
    assert response.text.startswith("<!doctype html>")


@pytest.mark.language("en")
def test_the_403_page_in_english(viewer):
    viewer.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert "Your account has the role Viewer" in viewer.get("/settings").text


def test_the_setup_page_links_to_the_accounts_screen(client):
    page = client.get("/setup").text
    assert 'href="/accounts"' in page and "flask users create" not in page
