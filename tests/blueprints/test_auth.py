"""Signing in and out, first-run setup, throttling, the language switch and the users CLI."""

import re

import pytest

from blueprints.auth import safe_next
from services import accounts
from store.database import db
from store.models import AdminUser

SETUP = {"email": "Lead@Example.org", "password": "0123456789ab", "confirm": "0123456789ab"}


def _login(client, csrf_token, email, password, ip="10.0.0.1", next_=None):
    data = {"email": email, "password": password, "csrf_token": csrf_token("/login")}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": ip})


# -- first-run setup ----------------------------------------------------------------------------


def test_without_accounts_everything_leads_to_setup(client):
    assert client.get("/").headers["Location"] == "/login"
    assert client.get("/login").headers["Location"] == "/setup"
    page = client.get("/setup")
    assert page.status_code == 200
    assert 'name="confirm"' in page.get_data(as_text=True)


def test_setup_creates_the_first_account_signs_in_and_disappears(app, client, csrf_token):
    response = client.post("/setup", data={**SETUP, "csrf_token": csrf_token("/setup")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # signed in right away

    with app.app_context():
        users = db.session.scalars(db.select(AdminUser)).all()
        assert [u.email for u in users] == ["lead@example.org"]
        assert users[0].password_hash.startswith("scrypt:")
        assert SETUP["password"] not in users[0].password_hash

    assert client.get("/setup").status_code == 404
    again = client.post("/setup", data={**SETUP, "email": "evil@example.org"})
    assert again.status_code in (400, 404)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(AdminUser)) == 1


def test_setup_is_gone_for_anonymous_visitors_once_an_account_exists(client, admin_user):
    assert client.get("/setup").status_code == 404
    assert client.get("/login").status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"confirm": "something-else"}, "The passwords differ."),
        ({"password": "short", "confirm": "short"}, "at least 10 characters"),
        ({"email": "not-an-address"}, "valid email address"),
    ],
)
def test_setup_explains_what_is_wrong(app, client, csrf_token, changes, message):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = {**SETUP, **changes, "csrf_token": csrf_token("/setup")}
    response = client.post("/setup", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert not accounts.has_admin()


# -- login and logout ---------------------------------------------------------------------------


def test_login_goes_to_the_page_that_asked_for_it(client, admin_user, csrf_token):
    first = client.get("/search?q=ab")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=/search?q%3Dab"
    response = _login(
        client, csrf_token, admin_user.email, admin_user.password, next_="/search?q=ab"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/search?q=ab"


def test_login_email_is_case_insensitive_and_records_the_time(app, client, admin_user, csrf_token):
    response = _login(client, csrf_token, "  ADMIN@example.ORG ", admin_user.password)
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(AdminUser, admin_user.id).last_login_at is not None


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client, admin_user, csrf_token
):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    wrong_password = _login(client, csrf_token, admin_user.email, "nope")
    unknown_user = _login(client, csrf_token, "ghost@example.org", admin_user.password)
    for response in (wrong_password, unknown_user):
        assert response.status_code == 200
        assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "evil.example",
        "",
        " /search",
    ],
)
def test_next_never_leaves_the_site(client, admin_user, csrf_token, target):
    assert safe_next(target) is None
    response = _login(client, csrf_token, admin_user.email, admin_user.password, next_=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_safe_next_keeps_local_paths():
    assert safe_next("/webinars/3?x=1#top") == "/webinars/3?x=1#top"
    assert safe_next("/people/j%C3%BCrgen@example.org") == "/people/j%C3%BCrgen@example.org"


def test_signed_in_visitor_of_login_is_sent_on(login):
    assert login.get("/login?next=/search").headers["Location"] == "/search"
    assert login.get("/login?next=//evil.example").headers["Location"] == "/"


def test_logout_is_a_post_and_ends_the_session(login, csrf_token):
    assert login.get("/logout").status_code == 405
    token = csrf_token("/")
    response = login.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert login.get("/").status_code == 302


def test_logout_without_csrf_token_is_refused(login):
    assert login.post("/logout").status_code == 400
    assert login.get("/").status_code == 200


def test_login_form_without_csrf_token_is_refused(client, admin_user):
    response = client.post("/login", data={"email": admin_user.email, "password": "x"})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


# -- throttling ---------------------------------------------------------------------------------


def test_five_failures_from_one_address_block_that_address(app, client, admin_user, csrf_token):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL_AND_IP):
        assert _login(client, csrf_token, admin_user.email, "wrong").status_code == 200

    blocked = _login(client, csrf_token, admin_user.email, admin_user.password)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    assert client.get("/").status_code == 302

    elsewhere = _login(client, csrf_token, admin_user.email, admin_user.password, ip="10.9.9.9")
    assert elsewhere.status_code == 303


def test_unknown_emails_are_throttled_alike(client, admin_user, csrf_token):
    for _ in range(accounts.MAX_FAILURES_PER_EMAIL_AND_IP):
        _login(client, csrf_token, "ghost@example.org", "wrong")
    assert _login(client, csrf_token, "ghost@example.org", "wrong").status_code == 429


def test_success_resets_the_count(app, admin_user):
    with app.test_request_context():
        for _round in range(2):
            for _ in range(accounts.MAX_FAILURES_PER_EMAIL_AND_IP - 1):
                assert accounts.authenticate(admin_user.email, "wrong", "10.0.0.1") is None
            # Not throttled: the success before forgot the failures from this address.
            assert accounts.authenticate(admin_user.email, admin_user.password, "10.0.0.1")


def test_many_failures_from_many_addresses_lock_the_account(app, admin_user):
    with app.test_request_context():
        for n in range(accounts.MAX_FAILURES_PER_EMAIL):
            assert accounts.authenticate(admin_user.email, "wrong", f"10.1.0.{n}") is None
        with pytest.raises(accounts.LoginThrottled):
            accounts.authenticate(admin_user.email, admin_user.password, "10.2.0.1")
        accounts.set_password(admin_user.email, "a brand new password")
        assert accounts.authenticate(admin_user.email, "a brand new password", "10.2.0.1")


# -- htmx and the login guard -------------------------------------------------------------------


def test_htmx_request_when_signed_out_gets_401_and_hx_redirect(client, admin_user):
    response = client.get(
        "/webinars/1",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/?view=past"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/?view%3Dpast"
    assert response.get_data() == b""


def test_htmx_redirect_ignores_a_foreign_current_url(client, admin_user):
    response = client.get(
        "/", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"}
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


# -- language -----------------------------------------------------------------------------------


def test_default_language_is_german(client, admin_user):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "Anmelden" in html


def test_browser_language_is_used(client, admin_user):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(True)
    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_language_switch_is_remembered_and_returns_safely(client, admin_user, csrf_token):
    token = csrf_token("/login")
    response = client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)

    offsite = client.post(
        "/language", data={"lang": "de", "next": "//evil.example", "csrf_token": token}
    )
    assert offsite.headers["Location"] == "/"
    assert '<html lang="de">' in client.get("/login").get_data(as_text=True)


def test_language_switch_ignores_unknown_languages(client, admin_user, csrf_token):
    token = csrf_token("/login")
    client.post("/language", data={"lang": "xx", "next": "/login", "csrf_token": token})
    assert '<html lang="de">' in client.get("/login").get_data(as_text=True)


def test_language_survives_login_and_logout(client, admin_user, csrf_token):
    token = csrf_token("/login")
    client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": token})
    _login(client, csrf_token, admin_user.email, admin_user.password)
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    client.post("/logout", data={"csrf_token": re.search(r'csrf-token" content="([^"]+)', html)[1]})
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_users_create_and_list(app, runner):
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    result = runner.invoke(
        args=["users", "create", "Team@Example.org", "--password", "long enough pw"]
    )
    assert result.exit_code == 0, result.output
    assert "team@example.org" in result.output

    listed = runner.invoke(args=["users", "list"])
    assert listed.exit_code == 0
    assert "team@example.org" in listed.output
    assert "never" in listed.output

    duplicate = runner.invoke(args=["users", "create", "team@example.org", "--password", "x" * 12])
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output


def test_cli_users_create_prompts_with_confirmation(app, runner):
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    result = runner.invoke(
        args=["users", "create", "prompted@example.org"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert "prompted password" not in result.output
    with app.test_request_context():
        assert accounts.authenticate("prompted@example.org", "prompted password", "127.0.0.1")


def test_cli_users_create_refuses_a_short_password(runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--password", "short"])
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output


def test_cli_users_list_without_accounts(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert "No admin accounts yet" in result.output


def test_cli_set_password(app, runner, admin_user):
    result = runner.invoke(
        args=["users", "set-password", admin_user.email, "--password", "another long one"]
    )
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        assert accounts.authenticate(admin_user.email, "another long one", "127.0.0.1")
