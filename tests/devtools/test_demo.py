"""Demo mode: the bundled simulator, a first sync and a demo admin, until a real token arrives."""

import pytest
import requests
from sqlalchemy import func, select

from devtools import demo
from services import accounts, settings
from store.database import db
from store.models import (
    AdminUser,
    CalendlyEvent,
    CalendlyEventAttendee,
    CalendlyEventType,
    SyncRun,
)


@pytest.fixture
def demo_app(make_app, tmp_path):
    app = make_app(
        DEMO_MODE=True,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "demo-credentials.txt"),
        WTF_CSRF_ENABLED=False,
    )
    yield app
    with app.app_context():
        demo.leave_demo(app)  # stops the simulator


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_mode_boots_populated_with_a_demo_admin(demo_app, tmp_path, capsys):
    configured_url = demo_app.config["CALENDLY_API_BASE_URL"]
    assert demo.init_demo(demo_app) is True

    assert demo_app.config["DEMO_MODE"] is True
    # The demo token goes to the bundled simulator; the configured address stays for real ones.
    assert demo_app.config["CALENDLY_API_BASE_URL"] == configured_url
    assert demo_app.config["DEMO_API_BASE_URL"].startswith("http://127.0.0.1:")
    with demo_app.app_context():
        run = db.session.scalars(select(SyncRun)).one()
        assert (run.status, run.trigger) == ("succeeded", "demo")
        assert count(CalendlyEvent) > 0
        assert count(CalendlyEventAttendee) > 0
        assert settings.token_hint() is None  # nothing stored: the demo token is config only

    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert "DEMO MODE" in output
    assert demo.DEMO_ADMIN_EMAIL in output
    credentials = (tmp_path / "demo-credentials.txt").read_text()
    password = credentials.split("password: ", 1)[1].strip()
    assert password in output
    assert (tmp_path / "demo-credentials.txt").stat().st_mode & 0o077 == 0
    with demo_app.app_context():
        assert accounts.authenticate(demo.DEMO_ADMIN_EMAIL, password, "127.0.0.1") is not None

    # The dashboard shows the webinars and the banner, after signing in with the printed login.
    client = demo_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.post("/login", data={"email": demo.DEMO_ADMIN_EMAIL, "password": password})
    page = client.get("/")
    assert page.status_code == 200
    assert "demo-banner" in page.text
    assert "TLr - Infowebinar" in page.text
    assert "Succeeded" in page.text


def test_demo_mode_keeps_an_existing_admin(demo_app):
    with demo_app.app_context():
        accounts.create_admin("boss@example.com", "correct horse battery")
    assert demo.init_demo(demo_app)
    with demo_app.app_context():
        assert db.session.scalars(select(AdminUser.email)).all() == ["boss@example.com"]


def test_the_factory_starts_no_demo_under_testing(demo_app):
    assert "demo" not in demo_app.extensions
    assert not demo_app.config["DEMO_API_BASE_URL"]


def test_no_demo_with_a_configured_token(make_app):
    app = make_app(DEMO_MODE=True, CALENDLY_TOKEN="real-token")
    assert demo.init_demo(app) is False
    assert app.config["DEMO_MODE"] is False


def test_no_demo_on_top_of_real_synced_data(make_app, calendly_sim):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")
    with app.app_context():
        from services.syncing import sync_from_settings

        sync_from_settings("cli")
    later = make_app(DEMO_MODE=True)  # the token has gone, the data has not
    assert demo.init_demo(later) is False
    assert later.config["DEMO_MODE"] is False


def test_a_real_token_ends_demo_mode_without_restart(make_app, calendly_sim, tmp_path):
    # calendly_sim plays the real Calendly at the configured URL; the demo runs its own.
    real_url = calendly_sim.base_url
    app = make_app(
        DEMO_MODE=True,
        CALENDLY_API_BASE_URL=real_url,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "creds.txt"),
        WTF_CSRF_ENABLED=False,
    )
    assert demo.init_demo(app)
    simulator = app.extensions["demo"].simulator
    with app.app_context():
        user_id = str(db.session.scalars(select(AdminUser.id)).one())
        assert count(CalendlyEvent) > 0
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    with client.session_transaction() as session:
        session["_user_id"] = user_id

    page = client.get("/settings").text
    assert "Demo mode" in page
    assert "demo-banner" in page

    response = client.post("/settings/token", data={"token": "sim-token"})
    assert response.status_code == 303
    assert app.config["DEMO_MODE"] is False
    assert app.config["CALENDLY_API_BASE_URL"] == real_url
    assert not app.config.get("DEMO_CALENDLY_TOKEN")
    with pytest.raises(requests.ConnectionError):  # the simulator stopped serving
        requests.get(f"{simulator.base_url}/users/me", timeout=2)
    with app.app_context():
        assert count(CalendlyEvent) == 0  # the made-up webinars are gone
        assert count(SyncRun) == 0
        assert count(CalendlyEventType) == 0  # and the simulator's event types
        assert settings.calendly_token() == "sim-token"
        assert settings.get_setting(demo.DEMO_DATA_KEY) is None

    page = client.get("/settings").text
    assert "demo-banner" not in page
    assert "Demo mode" not in page
    assert "The token works" in page
    client.post("/sync")
    with app.app_context():

        def latest_run():
            return db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()

        deadline = 200
        while latest_run() is None or latest_run().is_running:
            deadline -= 1
            assert deadline, "sync did not finish"
            db.session.remove()
            __import__("time").sleep(0.05)
        assert latest_run().status == "succeeded"
