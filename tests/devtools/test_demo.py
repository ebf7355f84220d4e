"""Demo mode: the bundled simulator, a first sync and a demo admin, until a real token arrives."""

import re

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
        event_types=None,  # the demo chooses its own
        DEMO_MODE=True,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "demo-credentials.txt"),
        WTF_CSRF_ENABLED=False,
    )
    yield app
    with app.app_context():
        demo.leave_demo(app)  # stops the simulator


CREDS = "demo-credentials.txt"
NEW_LOGIN = {"email": "Lead@School.example", "password": "our own long password"}


def _demo_password(path) -> str:
    return path.read_text().split("password: ", 1)[1].strip()


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


def test_the_demo_chooses_its_info_webinars_and_lets_the_admin_change_it(demo_app, tmp_path):
    assert demo.init_demo(demo_app)
    simulator = demo_app.extensions["demo"].simulator
    infowebinars = {t["uri"] for t in simulator.event_types if "Infowebinar" in t["name"]}
    other = next(t["uri"] for t in simulator.event_types if t["uri"] not in infowebinars)
    with demo_app.app_context():
        # An explicit choice, stored as the Settings page stores one; only those types synced.
        assert set(settings.get_setting(settings.EVENT_TYPES_KEY)) == infowebinars
        synced = set(db.session.scalars(select(CalendlyEvent.event_type_uri).distinct()))
        assert synced == infowebinars
    client = demo_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    password = _demo_password(tmp_path / CREDS)
    client.post("/login", data={"email": demo.DEMO_ADMIN_EMAIL, "password": password})

    page = client.get("/settings").text
    assert "CALENDLY_EVENT_TYPES" not in page  # not locked by a variable nobody set
    assert re.search(r"<fieldset>\s*<legend>Event types to sync", page)
    chosen = sorted(infowebinars) + [other]
    saved = client.post("/settings/event-types", data={"event_types": chosen})
    assert saved.status_code == 303
    with demo_app.app_context():
        assert settings.get_setting(settings.EVENT_TYPES_KEY) == chosen


def test_demo_mode_keeps_an_existing_admin(demo_app):
    with demo_app.app_context():
        accounts.create_admin("boss@example.com", "correct horse battery")
    assert demo.init_demo(demo_app)
    with demo_app.app_context():
        assert db.session.scalars(select(AdminUser.email)).all() == ["boss@example.com"]
    assert "Melden Sie sich an mit:" not in demo_app.test_client().get("/login").text


def test_the_login_page_shows_the_demo_login_only_in_demo_mode(demo_app, make_app, tmp_path):
    assert demo.init_demo(demo_app)
    password = _demo_password(tmp_path / CREDS)
    page = demo_app.test_client().get("/login").text
    assert "Melden Sie sich an mit:" in page
    assert demo.DEMO_ADMIN_EMAIL in page and password in page

    # Another worker (or a restart) finds the account made: it shows the login written down.
    worker = make_app(DEMO_MODE=True, DEMO_CREDENTIALS_PATH=str(tmp_path / CREDS))
    assert demo.init_demo(worker)
    assert password in worker.test_client().get("/login").text
    with worker.app_context():
        demo.leave_demo(worker)

    with demo_app.app_context():
        demo.leave_demo(demo_app)
    page = demo_app.test_client().get("/login").text
    assert password not in page and "Melden Sie sich an mit:" not in page


def test_no_demo_login_on_the_login_page_outside_demo_mode(make_app):
    app = make_app(DEMO_LOGIN={"email": "demo@example.com", "password": "geheim-und-lang"})
    with app.app_context():
        accounts.create_admin("boss@example.com", "correct horse battery")
    page = app.test_client().get("/login").text
    assert "Anmelden" in page
    assert "geheim-und-lang" not in page and "demo@example.com" not in page


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
        event_types=None,
        DEMO_MODE=True,
        CALENDLY_API_BASE_URL=real_url,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "creds.txt"),
        WTF_CSRF_ENABLED=False,
    )
    assert demo.init_demo(app)
    simulator = app.extensions["demo"].simulator
    with app.app_context():
        assert count(CalendlyEvent) > 0
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    password = _demo_password(tmp_path / "creds.txt")
    client.post("/login", data={"email": demo.DEMO_ADMIN_EMAIL, "password": password})

    page = client.get("/settings").text
    assert "Demo mode" in page
    assert "demo-banner" in page

    response = client.post("/settings/token", data={"token": "sim-token"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/claim"
    claimed = client.post("/account/claim", data={**NEW_LOGIN, "confirm": NEW_LOGIN["password"]})
    assert claimed.status_code == 303
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
    # The demo's choice named the simulator's types: the real account's admin chooses anew.
    assert "Nothing is synced until you save a choice" in page
    with app.app_context():
        assert not settings.event_types_chosen()

        def latest_run():
            return db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()

        def finished_run():
            deadline = 200
            while latest_run() is None or latest_run().is_running:
                deadline -= 1
                assert deadline, "sync did not finish"
                db.session.remove()
                __import__("time").sleep(0.05)
            return latest_run()

    client.post("/sync")
    with app.app_context():
        refused = finished_run()
        assert (refused.status, refused.outcome) == ("failed", "no_event_types")
        assert count(CalendlyEvent) == 0

    wanted = calendly_sim.event_type_uri("TLr - Infowebinar")
    response = client.post("/settings/event-types", data={"event_types": [wanted]})
    assert response.status_code == 303
    assert "The first sync has started" in client.get("/settings").text
    with app.app_context():
        first = finished_run()
        assert (first.status, first.trigger) == ("succeeded", "connected")
        assert count(CalendlyEvent) > 0
        synced = set(db.session.scalars(select(CalendlyEvent.event_type_uri).distinct()))
        assert synced == {wanted}


# -- leaving demo mode ends the demo login -----------------------------------------------------


def _csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _sign_in(app, email, password, ip="10.0.0.1"):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": _csrf(client)},
        environ_base={"REMOTE_ADDR": ip},
    )
    return client, response


def _copy_of(app, client):
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


@pytest.fixture
def real_demo(make_app, calendly_sim, tmp_path):
    """Demo mode as `scripts/run` starts it (CSRF on); calendly_sim plays the real Calendly."""
    app = make_app(
        DEMO_MODE=True,
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "demo-credentials.txt"),
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
    )
    assert demo.init_demo(app)
    yield app
    with app.app_context():
        demo.leave_demo(app)


def test_leaving_demo_mode_ends_the_demo_login(real_demo, tmp_path):
    app = real_demo
    credentials = tmp_path / "demo-credentials.txt"
    password = _demo_password(credentials)
    # A new user signs in with the printed login; a colleague uses it too, a third copied it.
    admin, response = _sign_in(app, demo.DEMO_ADMIN_EMAIL, password)
    assert response.status_code == 303
    colleague, _ = _sign_in(app, demo.DEMO_ADMIN_EMAIL, password, ip="10.0.0.2")
    copied = _copy_of(app, colleague)
    assert colleague.get("/").status_code == 200

    response = admin.post(
        "/settings/token", data={"token": "sim-token", "csrf_token": _csrf(admin, "/settings")}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/claim"
    assert app.config["DEMO_MODE"] is False
    assert not credentials.exists()

    # The demo login and every demo session are dead.
    for client in (colleague, copied):
        assert client.get("/").headers["Location"].startswith("/login")
    _, again = _sign_in(app, demo.DEMO_ADMIN_EMAIL, password, ip="10.0.0.3")
    assert again.status_code == 200
    assert "Wrong email or password." in again.text

    # The admin who connected the token sets their own login before seeing the real data.
    for path in ("/", "/search", "/settings"):
        assert admin.get(path).headers["Location"] == "/account/claim", path
    assert admin.get("/", headers={"HX-Request": "true"}).headers["HX-Redirect"] == (
        "/account/claim"
    )
    form = admin.get("/account/claim")
    assert form.status_code == 200
    assert 'name="confirm"' in form.text
    token = _csrf(admin, "/account/claim")
    short = admin.post("/account/claim", data={**NEW_LOGIN, "confirm": "x", "csrf_token": token})
    assert short.status_code == 422
    claimed = admin.post(
        "/account/claim",
        data={**NEW_LOGIN, "confirm": NEW_LOGIN["password"], "csrf_token": token},
    )
    assert claimed.status_code == 303
    assert admin.get("/").status_code == 200

    _, demo_again = _sign_in(app, demo.DEMO_ADMIN_EMAIL, password, ip="10.0.0.4")
    assert demo_again.status_code == 200
    _, own = _sign_in(app, NEW_LOGIN["email"], NEW_LOGIN["password"], ip="10.0.0.5")
    assert own.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(AdminUser.email)).all() == ["lead@school.example"]


def test_an_htmx_token_save_in_demo_mode_goes_to_the_claim_page(real_demo, tmp_path):
    admin, _ = _sign_in(real_demo, demo.DEMO_ADMIN_EMAIL, _demo_password(tmp_path / CREDS))
    response = admin.post(
        "/settings/token",
        data={"token": "sim-token", "csrf_token": _csrf(admin, "/settings")},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == "/account/claim"


def test_another_admin_connecting_the_token_removes_the_demo_account(real_demo, tmp_path):
    app = real_demo
    password = _demo_password(tmp_path / CREDS)
    demo_client, _ = _sign_in(app, demo.DEMO_ADMIN_EMAIL, password)
    with app.app_context():
        accounts.create_admin("lead@school.example", "our own long password")
    lead, _ = _sign_in(app, "lead@school.example", "our own long password", ip="10.0.0.2")
    response = lead.post(
        "/settings/token", data={"token": "sim-token", "csrf_token": _csrf(lead, "/settings")}
    )
    assert response.headers["Location"] == "/settings"
    assert lead.get("/settings").status_code == 200
    assert demo_client.get("/").status_code == 302
    assert not (tmp_path / CREDS).exists()
    with app.app_context():
        assert db.session.scalars(select(AdminUser.email)).all() == ["lead@school.example"]


@pytest.mark.parametrize("demo_mode", [True, False])
def test_a_token_in_the_environment_ends_a_leftover_demo_login(
    make_app, tmp_path, demo_mode, calendly_sim
):
    credentials = tmp_path / CREDS
    first = make_app(DEMO_MODE=True, DEMO_CREDENTIALS_PATH=str(credentials))
    assert demo.init_demo(first)
    first.extensions.pop("demo").simulator.stop()  # the process ends; the demo login stays
    password = _demo_password(credentials)

    # Restarted with a real token in the environment.
    later = make_app(
        DEMO_MODE=demo_mode,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        DEMO_CREDENTIALS_PATH=str(credentials),
    )
    assert demo.init_demo(later) is False
    assert not credentials.exists()
    with later.test_request_context():
        assert accounts.authenticate(demo.DEMO_ADMIN_EMAIL, password, "127.0.0.1") is None
