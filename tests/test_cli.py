"""`flask calendly verify|sync` against the simulator."""

from sqlalchemy import func, select

import app_settings
from extensions import db
from models import CalendlyEvent


def test_verify_prints_the_account_and_stores_it(sim_app, calendly_sim):
    result = sim_app.test_cli_runner().invoke(args=["calendly", "verify"])
    assert result.exit_code == 0, result.output
    assert calendly_sim.user["name"] in result.output
    assert calendly_sim.user["uri"] in result.output
    assert calendly_sim.organization_uri in result.output
    with sim_app.app_context():
        assert app_settings.account()["user_uri"] == calendly_sim.user["uri"]


def test_verify_with_a_bad_token_prints_the_clear_error(make_app, calendly_sim):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="wrong-token")
    result = app.test_cli_runner().invoke(args=["calendly", "verify"])
    assert result.exit_code != 0
    assert "Calendly API error (HTTP 401): The access token is invalid" in result.output
    assert "wrong-token" not in result.output
    assert "Traceback" not in result.output


def test_sync_prints_a_summary(sim_app):
    result = sim_app.test_cli_runner().invoke(args=["calendly", "sync"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sync #1 succeeded: events: ")
    with sim_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) > 0


def test_full_sync_exits_non_zero_with_the_error(sim_app, calendly_sim):
    calendly_sim.revoke_token()
    result = sim_app.test_cli_runner().invoke(args=["calendly", "sync", "--full"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "Traceback" not in result.output
