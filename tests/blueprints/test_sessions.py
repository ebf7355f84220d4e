"""Sessions that end: logout and "sign out everywhere" revoke sessions on the server, so does a
password change or a lock; sessions expire (absolute and idle); cookies are Secure on https; and
the account lock answers alike for known and unknown emails."""

import re
from datetime import timedelta

import pytest
import time_machine

from services import accounts
from store import clock

HX = {"HX-Request": "true"}
GHOST = "ghost@example.org"  # as long as admin@example.org, so the pages line up


def _token(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _sign_in(app, email, password, ip="10.0.0.1"):
    """A new client, signed in through the login form."""
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": _token(client)},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def _copy_of(app, client):
    """Another client holding a copy of `client`'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _signed_out(client) -> bool:
    page = client.get("/")
    partial = client.get("/", headers=HX)
    if page.status_code == 200 or partial.status_code == 200:
        return False
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert partial.status_code == 401
    return True


# -- logout and "sign out everywhere" revoke on the server -------------------------------------


def test_a_cookie_copied_before_logout_dies_with_it(app, login):
    stolen = _copy_of(app, login)
    assert not _signed_out(stolen)
    response = login.post("/logout", data={"csrf_token": _token(login, "/")})
    assert response.status_code == 303
    assert _signed_out(login)
    assert _signed_out(stolen)


def test_logout_ends_only_this_session(app, login, admin_user):
    phone = _sign_in(app, admin_user.email, admin_user.password)
    login.post("/logout", data={"csrf_token": _token(login, "/")})
    assert _signed_out(login)
    assert not _signed_out(phone)


def test_sign_out_everywhere_is_in_the_account_menu_and_ends_every_session(app, admin_user):
    laptop = _sign_in(app, admin_user.email, admin_user.password)
    phone = _sign_in(app, admin_user.email, admin_user.password, ip="10.0.0.2")
    stolen = _copy_of(app, phone)
    page = laptop.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    menu = page.split('class="account-menu"', 1)[1].split("</details>", 1)[0]
    assert 'action="/account/sign-out-everywhere"' in menu
    assert "Sign out everywhere" in menu

    response = laptop.post("/account/sign-out-everywhere", data={"csrf_token": _token(laptop, "/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    for client in (laptop, phone, stolen):
        assert _signed_out(client)
    assert "Überall abmelden" not in laptop.get("/login").get_data(as_text=True)
    assert not _signed_out(_sign_in(app, admin_user.email, admin_user.password))


def test_sign_out_everywhere_is_german_by_default(login):
    assert "Überall abmelden" in login.get("/").get_data(as_text=True)


def test_a_password_change_ends_every_session(app, login, admin_user):
    stolen = _copy_of(app, login)
    with app.app_context():
        accounts.set_password(admin_user.email, "a completely new password")
    assert _signed_out(login)
    assert _signed_out(stolen)
    assert not _signed_out(_sign_in(app, admin_user.email, "a completely new password"))


def test_a_lock_ends_every_session(app, login, admin_user):
    stolen = _copy_of(app, login)
    guesser = app.test_client()
    token = _token(guesser)
    for n in range(accounts.MAX_FAILURES_PER_EMAIL):
        guesser.post(
            "/login",
            data={"email": admin_user.email, "password": "wrong", "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.7.{n}.1"},
        )
    assert _signed_out(login)
    assert _signed_out(stolen)


# -- lifetime: 12 hours absolute, 2 hours idle, configurable -----------------------------------


def test_a_session_ends_after_two_idle_hours(login):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        traveller.shift(timedelta(hours=1, minutes=59))
        assert not _signed_out(login)
        traveller.shift(timedelta(hours=1, minutes=59))
        assert not _signed_out(login)  # every request starts the idle time anew
        traveller.shift(timedelta(hours=2, minutes=1))
        assert _signed_out(login)


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(login):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        for _ in range(11):
            traveller.shift(timedelta(hours=1))
            assert not _signed_out(login)
        traveller.shift(timedelta(minutes=59))
        assert not _signed_out(login)
        traveller.shift(timedelta(minutes=2))
        assert _signed_out(login)


def test_a_stolen_cookie_does_not_outlive_the_idle_limit_either(app, login):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        stolen = _copy_of(app, login)
        for _ in range(3):  # the owner keeps working; the copy was taken at the start
            traveller.shift(timedelta(hours=1))
            assert not _signed_out(login)
        assert _signed_out(stolen)
        assert not _signed_out(login)


def test_session_lifetimes_are_configurable(make_app, admin_client):
    app = make_app(SESSION_LIFETIME_MINUTES=30, SESSION_IDLE_MINUTES=10)
    busy, idle = admin_client(app), admin_client(app)
    with time_machine.travel(clock.now(), tick=False) as traveller:
        traveller.shift(timedelta(minutes=9))
        assert not _signed_out(busy)
        traveller.shift(timedelta(minutes=2))
        assert _signed_out(idle)
        assert not _signed_out(busy)
        for _ in range(2):
            traveller.shift(timedelta(minutes=9))
            assert not _signed_out(busy)
        traveller.shift(timedelta(minutes=2))  # 31 minutes after signing in
        assert _signed_out(busy)


def test_session_settings_come_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("SESSION_LIFETIME_MINUTES", "60")
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("REQUIRE_TWO_FACTOR", "yes")
    app = make_app()
    assert app.config["SESSION_LIFETIME_MINUTES"] == 60
    assert app.config["SESSION_IDLE_MINUTES"] == 15
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REQUIRE_TWO_FACTOR"] is True


def test_the_defaults_are_twelve_hours_and_two_idle_hours(app):
    assert app.config["SESSION_LIFETIME_MINUTES"] == 12 * 60
    assert app.config["SESSION_IDLE_MINUTES"] == 2 * 60


# -- Secure cookies and HSTS on https ----------------------------------------------------------


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[0]


def test_over_https_the_session_cookie_is_secure_and_hsts_is_sent(app, admin_user):
    secure = app.test_client().get("/login", base_url="https://localhost")
    assert "; Secure" in _session_cookie(secure)
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")

    plain = app.test_client().get("/login")
    assert "; Secure" not in _session_cookie(plain)
    assert "Strict-Transport-Security" not in plain.headers


def test_behind_a_trusted_proxy_the_forwarded_scheme_decides(make_app):
    forwarded = {"X-Forwarded-Proto": "https"}
    proxied = make_app(TRUSTED_PROXIES=1)
    response = proxied.test_client().get("/setup", headers=forwarded)
    assert "; Secure" in _session_cookie(response)
    assert "Strict-Transport-Security" in response.headers

    direct = make_app()  # no proxy trusted: anyone could send that header
    response = direct.test_client().get("/setup", headers=forwarded)
    assert "; Secure" not in _session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_secure_can_be_forced_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = make_app()
    assert "; Secure" in _session_cookie(app.test_client().get("/setup"))


# -- the account lock reveals nothing about which emails exist ---------------------------------


def _comparable(response, email: str):
    """Status, headers and body, with what differs by nature (the email typed, the CSRF
    token, the signed cookie value, the request's id) blanked out."""
    body = response.get_data(as_text=True).replace(email, "EMAIL")
    body = re.sub(r"[\w-]{20,}\.[\w-]+\.[\w-]{10,}", "TOKEN", body)  # CSRF tokens
    headers = sorted(
        (name, value.split(";", 1)[1] if name == "Set-Cookie" else value)
        for name, value in response.headers.items()
        if name != "X-Request-ID"
    )
    return response.status_code, headers, body


@pytest.mark.parametrize("last_password_right", [True, False])
def test_known_and_unknown_emails_get_identical_answers_through_the_lock(
    app, admin_user, last_password_right
):
    known, unknown = app.test_client(), app.test_client()
    tokens = {known: _token(known), unknown: _token(unknown)}

    def attempt(client, email, password, ip):
        data = {"email": email, "password": password, "csrf_token": tokens[client]}
        return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})

    with time_machine.travel(clock.now(), tick=False):
        for n in range(accounts.MAX_FAILURES_PER_EMAIL):
            # A different address each time, as a guesser spreading over a botnet would.
            real = attempt(known, admin_user.email, "wrong", f"10.1.{n}.1")
            ghost = attempt(unknown, GHOST, "wrong", f"10.2.{n}.1")
            assert real.status_code == 200
            assert _comparable(real, admin_user.email) == _comparable(ghost, GHOST), n

        password = admin_user.password if last_password_right else "wrong"
        real = attempt(known, admin_user.email, password, "10.3.0.1")
        ghost = attempt(unknown, GHOST, password, "10.4.0.1")
    assert real.status_code == 429
    assert int(real.headers["Retry-After"]) > 0
    assert _comparable(real, admin_user.email) == _comparable(ghost, GHOST)


def test_the_lock_lifts_after_fifteen_minutes_for_known_and_unknown_emails(app, admin_user):
    with app.test_request_context(), time_machine.travel(clock.now(), tick=False) as traveller:
        for email in (admin_user.email, GHOST):
            for n in range(accounts.MAX_FAILURES_PER_EMAIL):
                assert accounts.authenticate(email, "wrong", f"10.5.{n}.1") is None
            with pytest.raises(accounts.LoginThrottled) as locked:
                accounts.authenticate(email, "wrong", "10.6.0.1")
            assert 14 * 60 < locked.value.retry_after <= 15 * 60 + 1
        traveller.shift(timedelta(minutes=15, seconds=2))
        assert accounts.authenticate(admin_user.email, admin_user.password, "10.6.0.1")
        assert accounts.authenticate(GHOST, "wrong", "10.6.0.1") is None
