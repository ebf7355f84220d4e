"""Shared fixtures: a real app on a real database, and a real Calendly simulator.

`TEST_DATABASE_URL` switches every database test from a fresh SQLite file to that server
(PostgreSQL in CI); the schema is dropped and rebuilt around each test.
"""

import os

import pytest
from cryptography.fernet import Fernet

from app import create_app
from extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_report_header(config):
    return f"database: {TEST_DATABASE_URL or 'SQLite file per test'}"


@pytest.fixture
def database_url(tmp_path):
    """The database URL for one test."""
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def make_app(tmp_path, database_url):
    """Build apps on the test database; the schema is created once and dropped afterwards."""
    apps = []

    def factory(**overrides):
        config = {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SCHEDULER_ENABLED": False,
            "CALENDLY_TOKEN": "",
            "CALENDLY_EVENT_TYPES": "",
        }
        config.update(overrides)
        app = create_app(config)
        if not apps:
            with app.app_context():
                db.drop_all()
                db.create_all()
        apps.append(app)
        return app

    yield factory
    if apps:
        with apps[0].app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
        for other in apps[1:]:
            with other.app_context():
                db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def calendly_sim():
    """A seeded Calendly simulator on a free port (300 events, up to 40 invitees)."""
    from devtools.simulator import CalendlySimulator

    with CalendlySimulator(token="sim-token", seed=7) as sim:
        if not sim.events:
            sim.seed_data(n_events=300, max_invitees=40)
        yield sim


@pytest.fixture
def sim_app(make_app, calendly_sim):
    """An app whose Calendly backend is the simulator."""
    return make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")
