"""The audit log records who did what: signing in and out, account changes (on the accounts
screen and by `flask users`), two-factor authentication, the Settings page's preferences; it is
pruned after AUDIT_KEEP_DAYS and `flask audit list` prints it. No entry names another person."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from services import accounts, audit, two_factor
from store import clock
from store.database import db
from store.models import AdminUser, AuditEntry
from store.outcomes import AuditAction
from tests.services.audit_log import logged, whole_log

OTHER = "colleague@example.org"
HASH = "pbkdf2:sha256:1000"


@pytest.fixture
def csrf(login, csrf_token):
    """The CSRF header of the signed-in client's pages."""
    return {"X-CSRFToken": csrf_token("/accounts")}


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(AdminUser.id).where(AdminUser.email == email))


def test_signing_in_and_out_is_recorded_with_the_admin(app, login, admin_user, csrf):
    assert logged(app, AuditAction.SIGNED_IN) == [("signed_in", admin_user.email, {})]
    login.post("/logout", headers=csrf)
    assert logged(app, AuditAction.SIGNED_OUT) == [("signed_out", admin_user.email, {})]


def test_signing_out_everywhere_is_recorded(app, login, admin_user, csrf):
    login.post("/account/sign-out-everywhere", headers=csrf)
    assert logged(app, AuditAction.SIGNED_OUT) == [
        ("signed_out", admin_user.email, {"everywhere": True})
    ]


def test_a_failed_sign_in_records_nothing(app, client, admin_user, csrf_token):
    client.post(
        "/login",
        data={"email": admin_user.email, "password": "wrong", "csrf_token": csrf_token()},
    )
    assert logged(app, AuditAction.SIGNED_IN) == []


def test_account_changes_on_the_accounts_screen_name_the_account_by_id(
    app, login, admin_user, csrf
):
    app.config["PASSWORD_HASH_METHOD"] = HASH
    data = {"email": OTHER, "password": "a long password", "role": "viewer"}
    assert login.post("/accounts", data=data, headers=csrf).status_code == 303
    other = user_id(app, OTHER)
    login.post(f"/accounts/{other}/role", data={"role": "admin"}, headers=csrf)
    login.post(f"/accounts/{other}/disable", headers=csrf)
    login.post(f"/accounts/{other}/enable", headers=csrf)
    login.post(f"/accounts/{other}/delete", headers=csrf)

    by_admin = [entry for entry in logged(app) if entry[0] != "signed_in"][1:]  # after the setup
    assert by_admin == [
        ("account_created", admin_user.email, {"account": other, "role": "viewer"}),
        ("role_changed", admin_user.email, {"account": other, "old": "viewer", "new": "admin"}),
        ("account_disabled", admin_user.email, {"account": other}),
        ("account_enabled", admin_user.email, {"account": other}),
        ("account_deleted", admin_user.email, {"account": other}),
    ]
    assert OTHER not in whole_log(app)


def test_a_refused_change_records_nothing(app, login, admin_user, csrf):
    login.post(f"/accounts/{admin_user.id}/disable", headers=csrf)  # one's own account
    assert logged(app, AuditAction.ACCOUNT_DISABLED) == []


def test_the_users_command_records_without_an_admin_as_the_command_line(app, runner):
    app.config["PASSWORD_HASH_METHOD"] = HASH
    created = runner.invoke(args=["users", "create", OTHER, "--password", "a long password"])
    assert created.exit_code == 0, created.output
    runner.invoke(args=["users", "create", "second@example.org", "--password", "a long pass 2"])
    assert runner.invoke(args=["users", "disable", OTHER]).exit_code == 0
    other = user_id(app, OTHER)
    assert logged(app, AuditAction.ACCOUNT_CREATED)[0] == (
        "account_created",
        None,
        {"account": other, "role": "admin", "source": "cli"},
    )
    assert logged(app, AuditAction.ACCOUNT_DISABLED) == [
        ("account_disabled", None, {"account": other, "source": "cli"})
    ]


def test_two_factor_on_off_and_reset_are_recorded(app, admin_user, runner):
    with app.app_context():
        two_factor.start_setup(admin_user.id)
        secret = two_factor.pending_secret(accounts.get_admin(admin_user.id))
        assert two_factor.confirm_setup(admin_user.id, pyotp.TOTP(secret).now())
        two_factor.turn_off(admin_user.id)
        two_factor.start_setup(admin_user.id)
        secret = two_factor.pending_secret(accounts.get_admin(admin_user.id))
        assert two_factor.confirm_setup(admin_user.id, pyotp.TOTP(secret).now())
    assert runner.invoke(args=["users", "reset-2fa", admin_user.email]).exit_code == 0
    account = admin_user.id
    assert logged(app, AuditAction.TWO_FACTOR_CHANGED) == [
        ("two_factor_changed", admin_user.email, {"account": account, "enabled": True}),
        ("two_factor_changed", admin_user.email, {"account": account, "enabled": False}),
        ("two_factor_changed", admin_user.email, {"account": account, "enabled": True}),
        (
            "two_factor_changed",
            None,
            {"account": account, "enabled": False, "reset": True, "source": "cli"},
        ),
    ]


def test_changed_preferences_are_recorded_with_old_and_new_value(app, login, admin_user, csrf):
    data = {
        "display_timezone": "America/New_York",
        "lookback_days": "30",
        "daily_time": "06:00",  # the default: unchanged, not recorded
        "interval_minutes": "15",
    }
    assert login.post("/settings/preferences", data=data, headers=csrf).status_code == 303
    assert logged(app, AuditAction.SETTING_CHANGED) == [
        (
            "setting_changed",
            admin_user.email,
            {"setting": "display_timezone", "old": "Europe/Berlin", "new": "America/New_York"},
        ),
        (
            "setting_changed",
            admin_user.email,
            {"setting": "sync_lookback_days", "old": app.config["SYNC_LOOKBACK_DAYS"], "new": 30},
        ),
        (
            "setting_changed",
            admin_user.email,
            {"setting": "sync_interval_minutes", "old": 0, "new": 15},
        ),
    ]
    login.post("/settings/preferences", data=data, headers=csrf)  # the same again
    assert len(logged(app, AuditAction.SETTING_CHANGED)) == 3


# -- retention ------------------------------------------------------------------------------------


def add_entry(app, at: datetime, action=AuditAction.SIGNED_IN) -> None:
    with app.app_context():
        db.session.add(AuditEntry(at=at, action=str(action), params=None))
        db.session.commit()


def test_entries_older_than_audit_keep_days_are_pruned(make_app):
    app = make_app(AUDIT_KEEP_DAYS=30)
    add_entry(app, clock.now() - timedelta(days=31))
    add_entry(app, clock.now() - timedelta(days=29), AuditAction.SIGNED_OUT)
    result = app.test_cli_runner().invoke(args=["maintenance", "prune"])
    assert result.exit_code == 0, result.output
    assert "and 1 audit log entries" in result.output
    assert [entry[0] for entry in logged(app)] == ["signed_out"]


def test_the_hourly_pruning_takes_the_audit_log_along(make_app):
    from services import maintenance

    app = make_app(AUDIT_KEEP_DAYS=1)
    add_entry(app, clock.now() - timedelta(days=2))
    with app.app_context():
        assert maintenance.prune_if_due() == 1
    assert logged(app) == []


def test_audit_keep_days_defaults_to_two_years(app):
    assert app.config["AUDIT_KEEP_DAYS"] == 730


# -- flask audit list -----------------------------------------------------------------------------


def test_audit_list_prints_the_entries_newest_first_with_filters(app, runner, admin_user):
    with app.app_context():
        user = db.session.get(AdminUser, admin_user.id)
        audit.record(AuditAction.SIGNED_IN, user)
        audit.record(AuditAction.SETTING_CHANGED, user, setting="sync_lookback_days", old=7, new=9)
        db.session.commit()
    result = runner.invoke(args=["audit", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    params = '{"new": 9, "old": 7, "setting": "sync_lookback_days"}'
    assert lines[0].endswith(f"{admin_user.email}  setting_changed  {params}")
    assert f"{admin_user.email}  signed_in" in lines[1]
    assert lines[2].split("  ")[1:3] == ["-", "account_created"]  # the fixture's, by the app
    datetime.fromisoformat(lines[0].split("  ")[0])  # the time comes first, in ISO form

    only = runner.invoke(
        args=["audit", "list", "--action", "signed_in", "--actor", "ADMIN@example.org"]
    )
    assert len(only.output.splitlines()) == 1 and "signed_in" in only.output
    assert len(runner.invoke(args=["audit", "list", "--limit", "1"]).output.splitlines()) == 1
    assert (
        "No audit log entries." in runner.invoke(args=["audit", "list", "--actor", "x@y.z"]).output
    )
    unknown = runner.invoke(args=["audit", "list", "--action", "nonsense"])
    assert unknown.exit_code == 2 and "signed_in" in unknown.output


def test_audit_list_marks_command_line_entries(app, runner):
    app.config["PASSWORD_HASH_METHOD"] = HASH
    runner.invoke(args=["users", "create", OTHER, "--password", "a long password"])
    result = runner.invoke(args=["audit", "list"])
    assert "  cli  account_created  {" in result.output
    assert '"source"' not in result.output


def test_entries_outlive_their_admins_account(app, login, admin_user, csrf, runner):
    app.config["PASSWORD_HASH_METHOD"] = HASH
    with app.app_context():
        accounts.create_admin(OTHER, "a long password")
    other = app.test_client()
    token = other.get("/login").text.split('name="csrf-token" content="')[1].split('"')[0]
    data = {"email": OTHER, "password": "a long password", "csrf_token": token}
    assert other.post("/login", data=data).status_code == 303
    assert runner.invoke(args=["users", "delete", OTHER, "--yes"]).exit_code == 0
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.actor_email == OTHER)).one()
        assert entry.action == "signed_in" and entry.actor_id is None
    page = login.get("/audit", query_string={"actor": OTHER})
    assert page.status_code == 200 and "Angemeldet." in page.text
