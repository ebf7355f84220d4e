"""The optional second factor: TOTP set up on the account page (QR code, recovery codes), asked
for in a second login step, throttled like passwords, and mandatory when REQUIRE_TWO_FACTOR is on.
"""

import logging
import re
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import text

from store import clock
from store.database import db

HX = {"HX-Request": "true"}


def _token(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _post(client, path, page="/account", **data):
    return client.post(path, data={**data, "csrf_token": _token(client, page)})


def _start_setup(client) -> str:
    """Start setting up two-factor authentication; the secret the page shows."""
    response = _post(client, "/account/two-factor")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    html = client.get("/account").get_data(as_text=True)
    return re.search(r'class="totp-secret">([A-Z2-7 ]+)<', html)[1].replace(" ", "")


def _recovery_codes(html: str) -> list[str]:
    return re.findall(r'<code class="recovery-code">([a-z0-9-]+)</code>', html)


def _enable(client) -> tuple[str, list[str]]:
    """Set up two-factor authentication; the secret and the recovery codes."""
    secret = _start_setup(client)
    response = _post(client, "/account/two-factor/confirm", code=pyotp.TOTP(secret).now())
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = _recovery_codes(response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _password_step(app, user, next_=None, ip="10.0.0.1"):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = {"email": user.email, "password": user.password, "csrf_token": _token(client)}
    if next_:
        data["next"] = next_
    response = client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})
    return client, response


def _code_step(client, code, ip="10.0.0.1"):
    return client.post(
        "/login/code",
        data={"code": code, "csrf_token": _token(client)},
        environ_base={"REMOTE_ADDR": ip},
    )


# -- setting it up -----------------------------------------------------------------------------


def test_two_factor_is_set_up_on_the_account_page_with_a_qr_code(app, login, caplog):
    caplog.set_level(logging.DEBUG)
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    menu = login.get("/").get_data(as_text=True).split('class="account-menu"', 1)[1]
    assert 'href="/account"' in menu.split("</details>", 1)[0]
    before = login.get("/account").get_data(as_text=True)
    assert "Two-factor authentication" in before
    assert 'action="/account/two-factor"' in before

    secret = _start_setup(login)
    page = login.get("/account").get_data(as_text=True)
    qr = re.search(r'<img[^>]*class="qr"[^>]*>', page)[0]
    assert 'src="data:image/svg+xml' in qr
    assert "alt=" in qr
    assert "<script" not in page.split("</head>", 1)[1]

    with app.app_context():
        stored = db.session.execute(text("SELECT totp_secret FROM admin_users")).scalar_one()
        assert secret not in stored  # encrypted at rest with the token vault
        assert app.extensions["token_vault"].decrypt(stored) == secret

    response = _post(login, "/account/two-factor/confirm", code=pyotp.TOTP(secret).now())
    html = response.get_data(as_text=True)
    codes = _recovery_codes(html)
    assert len(codes) == len(set(codes)) == 10
    with app.app_context():
        hashes = db.session.execute(text("SELECT code_hash FROM recovery_codes")).scalars().all()
    assert len(hashes) == 10
    assert not any(code in stored_hash for code in codes for stored_hash in hashes)
    assert "is on" in login.get("/account").get_data(as_text=True)
    assert secret not in caplog.text


def test_a_wrong_code_does_not_turn_it_on(app, login, admin_user):
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    _start_setup(login)
    response = _post(login, "/account/two-factor/confirm", code="000000")
    assert response.status_code == 422
    assert "code is not right" in response.get_data(as_text=True)
    _, password_step = _password_step(app, admin_user)
    assert password_step.headers["Location"] == "/"  # no second step


def test_the_account_page_is_german_by_default(login):
    html = login.get("/account").get_data(as_text=True)
    assert "Zwei-Faktor-Authentifizierung" in html


# -- signing in with it ------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_in_a_second_step(app, login, admin_user):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        secret, _ = _enable(login)
        traveller.shift(timedelta(seconds=30))
        client, response = _password_step(app, admin_user, next_="/search")
        assert response.status_code == 303
        assert response.headers["Location"] == "/login/code"
        assert client.get("/").status_code == 302  # not signed in yet
        assert client.get("/search", headers=HX).status_code == 401
        form = client.get("/login/code").get_data(as_text=True)
        assert 'name="code"' in form and 'name="csrf_token"' in form

        wrong = _code_step(client, "123456")
        assert wrong.status_code == 200
        assert "code is not right" in wrong.get_data(as_text=True)
        assert client.get("/").status_code == 302

        right = _code_step(client, pyotp.TOTP(secret).now())
        assert right.status_code == 303
        assert right.headers["Location"] == "/search"
        assert client.get("/").status_code == 200


def test_the_second_step_without_the_first_leads_to_the_login(client, admin_user):
    assert client.get("/login/code").headers["Location"] == "/login"
    response = client.post("/login/code", data={"code": "123456", "csrf_token": _token(client)})
    assert response.headers["Location"] == "/login"


def test_a_code_counts_only_once(app, login, admin_user):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        secret, _ = _enable(login)
        used = pyotp.TOTP(secret).now()
        client, _ = _password_step(app, admin_user)
        assert _code_step(client, used).status_code == 200  # just used to turn it on
        traveller.shift(timedelta(seconds=30))
        fresh = pyotp.TOTP(secret).now()
        assert _code_step(client, fresh).status_code == 303
        again, _ = _password_step(app, admin_user)
        assert _code_step(again, fresh).status_code == 200


def test_a_recovery_code_works_once(app, login, admin_user):
    _, codes = _enable(login)
    client, _ = _password_step(app, admin_user)
    assert _code_step(client, codes[0].upper().replace("-", " ")).status_code == 303
    assert client.get("/").status_code == 200
    client, _ = _password_step(app, admin_user)
    assert _code_step(client, codes[0]).status_code == 200
    assert _code_step(client, codes[1]).status_code == 303
    assert "8 recovery codes left" in client.get("/account").get_data(as_text=True)


def test_guessing_codes_is_throttled_like_passwords(app, login, admin_user):
    secret, _ = _enable(login)
    client, _ = _password_step(app, admin_user)
    for _ in range(5):
        assert _code_step(client, "000000").status_code == 200
    blocked = _code_step(client, pyotp.TOTP(secret).now())
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/").status_code == 302


def test_the_second_step_expires(app, login, admin_user):
    with time_machine.travel(clock.now(), tick=False) as traveller:
        secret, _ = _enable(login)
        client, _ = _password_step(app, admin_user)
        traveller.shift(timedelta(minutes=6))
        response = _code_step(client, pyotp.TOTP(secret).now())
        assert response.status_code == 303
        assert response.headers["Location"] == "/login"
        assert client.get("/").status_code == 302


# -- turning it off, new recovery codes --------------------------------------------------------


def test_turning_it_off_needs_the_password(app, login, admin_user):
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    _enable(login)
    refused = _post(login, "/account/two-factor/disable", password="not my password")
    assert refused.status_code == 422
    assert "is on" in login.get("/account").get_data(as_text=True)
    done = _post(login, "/account/two-factor/disable", password=admin_user.password)
    assert done.status_code == 303
    _, response = _password_step(app, admin_user)
    assert response.headers["Location"] == "/"


def test_new_recovery_codes_replace_the_old_ones(app, login, admin_user):
    _, old = _enable(login)
    response = _post(login, "/account/two-factor/recovery-codes", password=admin_user.password)
    assert response.status_code == 200
    new = _recovery_codes(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    client, _ = _password_step(app, admin_user)
    assert _code_step(client, old[2]).status_code == 200
    assert _code_step(client, new[2]).status_code == 303


def test_cli_reset_two_factor_for_a_lost_phone(app, login, admin_user):
    _enable(login)
    result = app.test_cli_runner().invoke(args=["users", "reset-2fa", admin_user.email])
    assert result.exit_code == 0, result.output
    assert login.get("/").status_code == 302  # its sessions ended too
    _, response = _password_step(app, admin_user)
    assert response.headers["Location"] == "/"


# -- mandatory ---------------------------------------------------------------------------------


@pytest.fixture
def strict_app(make_app):
    return make_app(REQUIRE_TWO_FACTOR=True)


def test_required_two_factor_sends_an_account_without_it_to_set_it_up(strict_app, admin_client):
    client = admin_client(strict_app)
    for path in ("/", "/search", "/settings", "/sync/runs"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account", path
    partial = client.get("/", headers=HX)
    assert partial.status_code == 401
    assert partial.headers["HX-Redirect"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert "required" in page

    secret = _start_setup(client)
    _post(client, "/account/two-factor/confirm", code=pyotp.TOTP(secret).now())
    assert client.get("/").status_code == 200
    refused = _post(client, "/account/two-factor/disable", password="correct horse battery")
    assert refused.status_code == 409
    assert client.get("/").status_code == 200
