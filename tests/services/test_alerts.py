"""The admins hear about trouble (services/alerts.py): incidents noticed from what the app
records, one email when each starts and one when it is over, in each reader's language, sent
through a real SMTP server (aiosmtpd, `make_smtp` in tests/conftest.py)."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services import accounts, alerts, settings
from services import webhook_subscriptions as hooks
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import AdminUser, Incident, SyncRun
from store.outcomes import IncidentKind, SyncStatus, SyncTrigger

BASE = "https://webinare.example.org"
GERMAN, ENGLISH = "chefin@example.org", "boss@example.org"

pytestmark = pytest.mark.sim_account("small")


@pytest.fixture
def people(app):
    """Two admins: one who never chose a language (German), one who chose English."""

    def add(app):
        app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
        with app.app_context():
            accounts.create_admin(GERMAN, "correct horse battery")
            english = accounts.create_admin(ENGLISH, "correct horse battery")
            accounts.set_language(english.id, "en")

    return add


@pytest.fixture
def alerting(connected_app, calendly_sim, make_smtp, people):
    """`alerting(**config)`: (app, smtp) of an app connected to the simulator that emails its two
    admins through a local SMTP server, with links below BASE."""

    def build(smtp=None, **config):
        smtp = smtp or make_smtp()
        app = connected_app(calendly_sim, **{"PUBLIC_BASE_URL": BASE, **smtp.config(), **config})
        people(app)
        return app, smtp

    return build


def sync_and_check(app) -> str:
    """Sync, then check for trouble; the run's status."""
    with app.app_context():
        status = sync_from_settings(SyncTrigger.CLI).status
        alerts.check()
        return status


def text(message) -> str:
    """The body of a received email, with the wire's CRLF line ends as newlines."""
    return message.get_content().replace("\r\n", "\n")


def incidents(app) -> list[Incident]:
    with app.app_context():
        rows = db.session.scalars(select(Incident).order_by(Incident.id)).all()
        db.session.expunge_all()
        return rows


def test_a_refused_token_sends_one_email_when_it_starts_and_one_when_it_is_over(
    alerting, calendly_sim
):
    app, smtp = alerting()
    calendly_sim.revoke_token()
    assert sync_and_check(app) == SyncStatus.FAILED
    (incident,) = incidents(app)
    assert incident.kind == IncidentKind.TOKEN_REFUSED and incident.is_open
    assert incident.start_notified_at is not None

    assert sorted(message["To"] for message in smtp.messages) == [ENGLISH, GERMAN]
    (german,) = smtp.to(GERMAN)
    (english,) = smtp.to(ENGLISH)
    assert german["Subject"] == "[Webinar Sync] Handeln nötig: Calendly lehnt den Token ab."
    assert english["Subject"] == "[Webinar Sync] Action needed: Calendly refuses the token."
    assert german["Content-Language"] == "de" and english["Content-Language"] == "en"
    assert german["From"] == "webinar-sync@example.org"
    assert german["Auto-Submitted"] == "auto-generated"
    body = text(german)
    assert "401" in body and "Einstellungen" in body
    assert f"{BASE}/settings\n" in body
    assert f"{BASE}/settings\n" in text(english)
    assert "revoked or has expired" in text(english)

    # Every further check while the token stays refused: nothing more.
    assert sync_and_check(app) == SyncStatus.FAILED
    with app.app_context():
        alerts.check()
    assert len(smtp.messages) == 2

    calendly_sim.clear_faults()
    assert sync_and_check(app) == SyncStatus.SUCCEEDED
    (incident,) = incidents(app)
    assert not incident.is_open and incident.end_notified_at is not None
    ended = smtp.messages[2:]
    assert sorted(message["To"] for message in ended) == [ENGLISH, GERMAN]
    assert smtp.to(ENGLISH)[1]["Subject"] == (
        "[Webinar Sync] Resolved: Calendly refuses the token."
    )
    assert smtp.to(GERMAN)[1]["Subject"].startswith("[Webinar Sync] Erledigt: ")
    assert "Nothing more needs to be done" in text(smtp.to(ENGLISH)[1])
    with app.app_context():
        alerts.check()
    assert len(smtp.messages) == 4


def test_a_missing_scope_is_named_and_without_a_base_url_the_path_is(alerting, calendly_sim):
    app, smtp = alerting(PUBLIC_BASE_URL="")
    calendly_sim.set_scopes(missing=["scheduled_events:read"])
    sync_and_check(app)
    (incident,) = incidents(app)
    assert incident.kind == IncidentKind.MISSING_SCOPE
    assert incident.params == {"scopes": ["scheduled_events:read"]}
    english = text(smtp.to(ENGLISH)[0])
    assert "lacks the permission scheduled_events:read" in english
    assert "Open Settings to paste a token: /settings in Webinar Sync." in english
    assert "http" not in english


def test_a_network_failure_neither_starts_nor_ends_a_token_incident(alerting, calendly_sim):
    app, smtp = alerting()
    calendly_sim.revoke_token()
    sync_and_check(app)
    calendly_sim.clear_faults()
    calendly_sim.inject("503", times=None)
    app.config["CALENDLY_MAX_RETRIES"] = 0
    assert sync_and_check(app) == SyncStatus.FAILED
    assert [(row.kind, row.is_open) for row in incidents(app)] == [("token_refused", True)]
    assert len(smtp.messages) == 2


def test_a_stale_sync_links_to_the_sync_history(alerting):
    app, smtp = alerting()
    now = clock.now()
    with app.app_context():
        db.session.add(SyncRun(trigger="scheduler", status=SyncStatus.SUCCEEDED,
                               started_at=now - timedelta(hours=30, minutes=1),
                               finished_at=now - timedelta(hours=30)))  # fmt: skip
        db.session.commit()
        assert alerts.current_trouble(now - timedelta(hours=5)) == {}
        alerts.check(now)
    (incident,) = incidents(app)
    assert incident.kind == IncidentKind.SYNC_STALE
    assert incident.params["hours"] == 26 and incident.params["ever"] is True
    assert smtp.to(ENGLISH)[0]["Subject"] == (
        "[Webinar Sync] Action needed: No sync has succeeded for 26 hours."
    )
    assert f"{BASE}/sync/runs\n" in text(smtp.to(GERMAN)[0])


def test_a_fresh_install_is_not_stale_before_syncing_can_work(make_app, calendly_sim):
    later = clock.now() + timedelta(hours=100)
    app = make_app(event_types=None)  # no event types chosen, no token
    with app.app_context():
        assert alerts.current_trouble(later) == {}
        app.config["CALENDLY_TOKEN"] = calendly_sim.token
        assert alerts.current_trouble(later) == {}  # a token, but no event types yet
        settings.set_setting(settings.EVENT_TYPES_KEY, ["*"])
        assert alerts.current_trouble(clock.now() + timedelta(hours=25)) == {}
        trouble = alerts.current_trouble(clock.now() + timedelta(hours=27))
    assert trouble[IncidentKind.SYNC_STALE]["ever"] is False


def test_a_disabled_subscription_starts_an_incident_and_re_creating_it_ends_it(
    alerting, calendly_sim
):
    app, smtp = alerting()
    with app.app_context():
        created = hooks.create_subscription(BASE)
        calendly_sim.disable_subscription(created.uuid)
        hooks.list_subscriptions()
        alerts.check()
    (incident,) = incidents(app)
    assert incident.kind == IncidentKind.WEBHOOK_DISABLED
    english = text(smtp.to(ENGLISH)[0])
    assert f"{BASE}/api/infowebinar/webhook" in english
    assert f"{BASE}/settings/webhooks\n" in english
    with app.app_context():
        hooks.recreate_subscription(created.uuid)
        alerts.check()
    assert not incidents(app)[0].is_open
    assert [m["Subject"] for m in smtp.to(ENGLISH)][1].startswith("[Webinar Sync] Resolved: ")


def test_silent_deliveries_while_syncs_find_changes(alerting):
    app, smtp = alerting()
    now = clock.now()
    with app.app_context():
        settings.set_setting(hooks.HEALTH_KEY, {
            "checked_at": now.isoformat(), "ours_active": True, "disabled": [],
            "ours": {"uuid": "SUB1", "callback_url": f"{BASE}/api/infowebinar/webhook",
                     "created_at": (now - timedelta(hours=5)).isoformat()},
        })  # fmt: skip
        db.session.add(SyncRun(trigger="scheduler", status=SyncStatus.SUCCEEDED,
                               started_at=now - timedelta(minutes=30), finished_at=now,
                               attendees_created=2))  # fmt: skip
        db.session.commit()
        alerts.check()
    (incident,) = incidents(app)
    assert incident.kind == IncidentKind.DELIVERIES_SILENT
    assert "has sent nothing to" in text(smtp.to(ENGLISH)[0])


def test_alert_emails_go_to_the_configured_list_in_each_accounts_language(alerting, calendly_sim):
    app, smtp = alerting(ALERT_EMAILS=f"ops@example.org, {ENGLISH}")
    calendly_sim.revoke_token()
    sync_and_check(app)
    assert sorted(message["To"] for message in smtp.messages) == [ENGLISH, "ops@example.org"]
    assert smtp.to("ops@example.org")[0]["Content-Language"] == "de"
    assert smtp.to(ENGLISH)[0]["Content-Language"] == "en"


def test_disabled_admins_and_viewers_get_no_email(alerting, calendly_sim):
    app, smtp = alerting()
    with app.app_context():
        accounts.create_admin("viewer@example.org", "correct horse battery", role="viewer")
        db.session.execute(update(AdminUser).where(AdminUser.email == GERMAN)
                           .values(disabled_at=clock.now()))  # fmt: skip
        db.session.commit()
    calendly_sim.revoke_token()
    sync_and_check(app)
    assert [message["To"] for message in smtp.messages] == [ENGLISH]


def test_a_failed_send_is_logged_without_addresses_and_tried_again(
    alerting, calendly_sim, make_smtp, caplog
):
    with socket.socket() as sock:  # a port nobody listens on (yet)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app, _ = alerting(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none")
    calendly_sim.revoke_token()
    with caplog.at_level(logging.INFO):
        sync_and_check(app)  # nobody listens on the port
    (incident,) = incidents(app)
    assert incident.is_open and incident.start_notified_at is None
    assert incident.notice_claimed_by is None  # given back: the next check tries again
    assert "could not email incident" in caplog.text
    assert "@" not in "".join(r.getMessage() for r in caplog.records if r.name == alerts.__name__)

    smtp = make_smtp(port=port)
    with app.app_context():
        alerts.check()
    assert sorted(message["To"] for message in smtp.messages) == [ENGLISH, GERMAN]


def test_an_email_another_process_claimed_is_not_sent_again(alerting, calendly_sim):
    app, smtp = alerting()
    calendly_sim.revoke_token()
    with app.app_context():
        sync_from_settings(SyncTrigger.CLI)
        alerts.update_incidents()
        db.session.execute(update(Incident).values(
            notice_claimed_by="elsewhere:1:x",
            notice_claimed_until=clock.now() + timedelta(minutes=5)))  # fmt: skip
        db.session.commit()
        assert alerts.notify_due() == 0
        # A claim that ran out (its process died while sending) is taken over.
        db.session.execute(update(Incident).values(
            notice_claimed_until=clock.now() - timedelta(seconds=1)))  # fmt: skip
        db.session.commit()
        assert alerts.notify_due() == 2
    assert len(smtp.messages) == 2


def test_without_smtp_the_incident_is_stored_and_nothing_is_sent(alerting, calendly_sim):
    app, smtp = alerting(SMTP_HOST="")
    calendly_sim.revoke_token()
    sync_and_check(app)
    (incident,) = incidents(app)
    assert incident.is_open and incident.start_notified_at is None
    assert smtp.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_encrypted_smtp_with_a_login(alerting, calendly_sim, make_smtp, security):
    smtp = make_smtp(security, login=("alerts", "s3cret pass"))
    app, _ = alerting(smtp, SMTP_USER="alerts", SMTP_PASSWORD="s3cret pass")
    calendly_sim.revoke_token()
    sync_and_check(app)
    assert sorted(message["To"] for message in smtp.messages) == [ENGLISH, GERMAN]


def test_a_wrong_smtp_password_is_retried_later(alerting, calendly_sim, make_smtp):
    smtp = make_smtp("starttls", login=("alerts", "s3cret pass"))
    app, _ = alerting(smtp, SMTP_USER="alerts", SMTP_PASSWORD="wrong")
    calendly_sim.revoke_token()
    sync_and_check(app)
    assert smtp.messages == [] and incidents(app)[0].start_notified_at is None
    app.config["SMTP_PASSWORD"] = "s3cret pass"
    with app.app_context():
        alerts.check()
    assert len(smtp.messages) == 2


def test_an_unknown_smtp_security_refuses_to_start(make_app):
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        make_app(SMTP_SECURITY="ssl3")
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        make_app(PUBLIC_BASE_URL="webinare.example.org")
