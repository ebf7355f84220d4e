"""What admins change through Calendly lands in the audit log, against the simulator: the token
connected, replaced and removed, event types and scope, "Sync now", no-shows, webhook
subscriptions. Entries name the admin, never the token or an attendee."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from devtools.sample_data import uuid_of
from mirror.scope import ORGANIZATION, Scope
from services import settings
from services.syncing import sync_from_settings
from store.database import db
from store.models import AdminUser, CalendlyEventAttendee, SyncRun
from store.outcomes import AuditAction
from tests.services.audit_log import logged, whole_log

pytestmark = [pytest.mark.sim_account("small"), pytest.mark.language("en")]
BASE = "https://webinare.example.org"


@pytest.fixture
def app(make_app, module_sim):
    """An app on the simulator without a token (the Settings page may store one)."""
    return make_app(
        event_types=None, CALENDLY_API_BASE_URL=module_sim.base_url, SYNC_LOOKBACK_DAYS=14
    )


def connect(app, sim) -> None:
    """Store the simulator's token and account, as a verified connection does."""
    with app.app_context():
        settings.save_calendly_token(sim.token, sim.user)


@pytest.fixture
def csrf(login, csrf_token):
    return {"X-CSRFToken": csrf_token("/")}


def wait_for_runs(app) -> list[int]:
    """The ids of the sync runs, once none runs any more (background threads of the test)."""
    for _ in range(600):
        with app.app_context():
            runs = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
            if not any(run.is_running for run in runs):
                return [run.id for run in runs]
        time.sleep(0.05)
    pytest.fail("the sync did not finish")


def test_token_connected_replaced_and_removed(app, login, admin_user, csrf, module_sim):
    token = module_sim.token
    assert login.post("/settings/token", data={"token": token}, headers=csrf).status_code == 303
    login.post("/settings/token", data={"token": token}, headers=csrf)
    login.post("/settings/token", data={"token": "refused-token-xyz"}, headers=csrf)
    login.post("/settings/token/remove", headers=csrf)
    login.post("/settings/token/remove", headers=csrf)  # nothing stored any more
    tokens = [e for e in logged(app) if e[0].startswith("token_")]
    assert tokens == [
        ("token_connected", admin_user.email, {}),
        ("token_replaced", admin_user.email, {}),
        ("token_removed", admin_user.email, {}),
    ]
    assert token not in whole_log(app) and token[-4:] not in whole_log(app)


def test_event_types_and_scope_changes_record_old_and_new(app, login, admin_user, csrf, module_sim):
    first = module_sim.event_type_uri("TLr - Infowebinar")
    connect(app, module_sim)
    with app.app_context():
        settings.set_setting(settings.EVENT_TYPES_KEY, [first])
    response = login.post("/settings/event-types", data={"all_types": "y"}, headers=csrf)
    assert response.status_code == 303
    assert logged(app, AuditAction.SETTING_CHANGED) == [
        (
            "setting_changed",
            admin_user.email,
            {"setting": "sync_event_types", "old": [first], "new": ["*"]},
        )
    ]
    with app.app_context():
        admin = db.session.get(AdminUser, admin_user.id)
        settings.save_sync_scope(Scope(ORGANIZATION), admin)
        settings.save_sync_scope(Scope(ORGANIZATION), admin)  # unchanged: not recorded
    assert logged(app, AuditAction.SETTING_CHANGED)[1:] == [
        (
            "setting_changed",
            admin_user.email,
            {
                "setting": "sync_scope",
                "old": {"mode": "me", "hosts": []},
                "new": {"mode": "organization", "hosts": []},
            },
        )
    ]


def test_sync_now_is_recorded_and_the_scheduler_is_not(app, login, admin_user, csrf, module_sim):
    connect(app, module_sim)
    with app.app_context():
        settings.set_setting(settings.EVENT_TYPES_KEY, ["*"])
    assert login.post("/sync", headers=csrf).status_code == 303
    (run,) = wait_for_runs(app)
    with app.app_context():
        sync_from_settings("scheduler")
    assert logged(app, AuditAction.SYNC_STARTED) == [
        ("sync_started", admin_user.email, {"full": False, "run": run})
    ]


def test_the_sync_command_is_recorded_as_the_command_line(app, runner, module_sim):
    connect(app, module_sim)
    result = runner.invoke(args=["calendly", "sync", "--all-types"])
    assert result.exit_code == 0, result.output
    (run,) = wait_for_runs(app)
    assert logged(app, AuditAction.SYNC_STARTED) == [
        ("sync_started", None, {"full": False, "run": run, "source": "cli"})
    ]


def test_webhook_subscriptions_created_and_deleted(app, login, admin_user, csrf, module_sim):
    connect(app, module_sim)
    assert (
        login.post("/settings/webhooks", data={"base_url": BASE}, headers=csrf).status_code == 303
    )
    ((uuid, sub),) = module_sim.webhook_subscriptions.items()
    uri = sub["uri"]
    login.post(f"/settings/webhooks/{uuid}/delete", headers=csrf)
    assert [e for e in logged(app) if e[0].startswith("webhook_")] == [
        ("webhook_created", admin_user.email, {"subscription": uri}),
        ("webhook_deleted", admin_user.email, {"subscription": uuid}),
    ]


@pytest.mark.dated  # the no-show control belongs to webinars that have started
def test_no_shows_marked_and_undone_name_webinar_and_invitee_by_calendly_id(
    app, module_sim, pick_invitee, admin_user, login, csrf
):
    connect(app, module_sim)
    with app.app_context():
        assert sync_from_settings("cli", all_types=True).status == "succeeded"
    invitee = pick_invitee(module_sim, ahead=False)
    with app.app_context():
        attendee = db.session.scalars(
            select(CalendlyEventAttendee).where(
                CalendlyEventAttendee.calendly_id == uuid_of(invitee["uri"])
            )
        ).one()
        ids = {"webinar": attendee.event.calendly_id, "invitee": attendee.calendly_id}
        attendee_id, email = attendee.id, attendee.email
    assert login.post(f"/attendees/{attendee_id}/no-show", headers=csrf).status_code == 303
    assert login.post(f"/attendees/{attendee_id}/no-show/undo", headers=csrf).status_code == 303
    assert [e for e in logged(app) if e[0].startswith("no_show")] == [
        ("no_show_marked", admin_user.email, ids),
        ("no_show_undone", admin_user.email, ids),
    ]
    assert email and email not in whole_log(app)


def test_the_webhooks_command_is_recorded_as_the_command_line(app, runner, module_sim):
    connect(app, module_sim)
    created = runner.invoke(args=["calendly", "webhooks", "create", BASE])
    assert created.exit_code == 0, created.output
    ((uuid, sub),) = module_sim.webhook_subscriptions.items()
    assert runner.invoke(args=["calendly", "webhooks", "delete", uuid]).exit_code == 0
    assert [e for e in logged(app) if e[0].startswith("webhook_")] == [
        ("webhook_created", None, {"subscription": sub["uri"], "source": "cli"}),
        ("webhook_deleted", None, {"subscription": uuid, "source": "cli"}),
    ]
