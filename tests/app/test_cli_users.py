"""`flask users disable|enable|delete|sign-out|set-password`: access can be taken away, and every
session of the account ends with it; the last enabled admin always stays."""

import re

import pytest

from services import accounts

OTHER = "second@example.org"
OTHER_PASSWORD = "another long password"


def _token(client) -> str:
    html = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _try_login(app, email, password):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": _token(client)}
    )
    return client, response


def _signed_out(client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 302


@pytest.fixture
def second_admin(app, admin_user):
    with app.app_context():
        accounts.create_admin(OTHER, OTHER_PASSWORD)
    return OTHER


def _args(command, email):
    """The command line for `command` on `email`; delete is confirmed with --yes."""
    return ["users", command, email, *(["--yes"] if command == "delete" else [])]


def _copy_of(app, client):
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


# -- disable / enable --------------------------------------------------------------------------


def test_disable_ends_the_sessions_and_refuses_sign_in(
    app, runner, login, admin_user, second_admin
):
    stolen = _copy_of(app, login)
    result = runner.invoke(args=["users", "disable", admin_user.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"Disabled {admin_user.email}" in result.output
    assert _signed_out(login)
    assert _signed_out(stolen)

    _, response = _try_login(app, admin_user.email, admin_user.password)
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    listed = runner.invoke(args=["users", "list"]).output
    assert re.search(rf"{re.escape(admin_user.email)}.*disabled", listed)

    assert runner.invoke(args=["users", "enable", admin_user.email]).exit_code == 0
    client, response = _try_login(app, admin_user.email, admin_user.password)
    assert response.status_code == 303
    assert not _signed_out(client)


def test_the_last_enabled_admin_cannot_be_disabled(app, runner, login, admin_user):
    result = runner.invoke(args=["users", "disable", admin_user.email])
    assert result.exit_code != 0
    assert "last enabled admin" in result.output
    assert "Traceback" not in result.output
    assert not _signed_out(login)


def test_a_disabled_admin_does_not_count_as_enabled(app, runner, admin_user, second_admin):
    assert runner.invoke(args=["users", "disable", OTHER]).exit_code == 0
    for command in ("disable", "delete"):
        result = runner.invoke(args=_args(command, admin_user.email))
        assert result.exit_code != 0, command
        assert "last enabled admin" in result.output
    _, response = _try_login(app, admin_user.email, admin_user.password)
    assert response.status_code == 303


# -- delete ------------------------------------------------------------------------------------


def test_delete_removes_the_account_and_ends_its_sessions(
    app, runner, login, admin_user, second_admin
):
    result = runner.invoke(args=["users", "delete", admin_user.email, "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Deleted {admin_user.email}" in result.output
    assert _signed_out(login)
    assert admin_user.email not in runner.invoke(args=["users", "list"]).output
    _, response = _try_login(app, admin_user.email, admin_user.password)
    assert response.status_code == 200


def test_delete_asks_first(app, runner, admin_user, second_admin):
    result = runner.invoke(args=["users", "delete", OTHER], input="n\n")
    assert result.exit_code != 0
    assert OTHER in runner.invoke(args=["users", "list"]).output


def test_the_last_enabled_admin_cannot_be_deleted(runner, admin_user):
    result = runner.invoke(args=["users", "delete", admin_user.email, "--yes"])
    assert result.exit_code != 0
    assert "last enabled admin" in result.output
    assert admin_user.email in runner.invoke(args=["users", "list"]).output


@pytest.mark.parametrize("command", ["disable", "enable", "delete", "sign-out", "reset-2fa"])
def test_unknown_emails_get_a_clear_error(runner, admin_user, command):
    result = runner.invoke(args=_args(command, "nobody@example.org"))
    assert result.exit_code != 0
    assert "No account with this email address." in result.output


# -- sessions end with a new password, or on request -------------------------------------------


def test_set_password_ends_every_session(app, runner, login, admin_user):
    stolen = _copy_of(app, login)
    result = runner.invoke(
        args=["users", "set-password", admin_user.email, "--password", "a brand new password"]
    )
    assert result.exit_code == 0, result.output
    assert _signed_out(login)
    assert _signed_out(stolen)


def test_sign_out_ends_every_session_of_the_account(app, runner, login, admin_user, second_admin):
    other, _ = _try_login(app, OTHER, OTHER_PASSWORD)
    result = runner.invoke(args=["users", "sign-out", admin_user.email])
    assert result.exit_code == 0, result.output
    assert _signed_out(login)
    assert not _signed_out(other)


# -- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("disable", "cannot sign in"),
        ("enable", "sign in again"),
        ("delete", "Delete an admin account"),
        ("sign-out", "End every session"),
        ("reset-2fa", "two-factor"),
    ],
)
def test_every_users_command_explains_itself(runner, command, words):
    result = runner.invoke(args=["users", command, "--help"])
    assert result.exit_code == 0
    assert words in result.output


def test_create_takes_a_role(app, runner, admin_user):
    args = ["users", "create", "vortrag@example.org", "--role", "viewer"]
    result = runner.invoke(args=[*args, "--password", OTHER_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created viewer account vortrag@example.org." in result.output
    with app.app_context():
        assert accounts.find_admin("vortrag@example.org").role == "viewer"
    listed = runner.invoke(args=["users", "list"]).output
    assert re.search(r"vortrag@example.org .*\(viewer\)", listed)
    assert runner.invoke(args=["users", "create", "x@example.org", "--role", "owner"]).exit_code
    default = runner.invoke(args=["users", "create", "y@example.org", "--password", OTHER_PASSWORD])
    assert "Created admin account y@example.org." in default.output


def test_the_last_enabled_admin_stays_even_with_a_viewer_left(app, runner, admin_user):
    with app.app_context():
        accounts.create_admin("vortrag@example.org", OTHER_PASSWORD, "viewer")
    result = runner.invoke(args=["users", "disable", admin_user.email])
    assert result.exit_code == 1
    assert "last enabled admin account" in result.output
