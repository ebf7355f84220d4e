"""`flask calendly webhooks list|create|delete` against the simulator."""

import pytest


@pytest.fixture
def cli(sim_app):
    runner = sim_app.test_cli_runner()
    assert runner.invoke(args=["calendly", "verify"]).exit_code == 0
    return runner


def test_create_list_and_delete(cli, calendly_sim):
    created = cli.invoke(args=["calendly", "webhooks", "create", "https://webinare.example.de"])
    assert created.exit_code == 0, created.output
    assert "https://webinare.example.de/api/infowebinar/webhook" in created.output
    uuid = created.output.split()[1]

    listed = cli.invoke(args=["calendly", "webhooks", "list"])
    assert listed.exit_code == 0
    assert uuid in listed.output and "active" in listed.output and "(this app)" in listed.output

    deleted = cli.invoke(args=["calendly", "webhooks", "delete", uuid])
    assert deleted.exit_code == 0
    assert "No webhook subscriptions." in cli.invoke(args=["calendly", "webhooks", "list"]).output


def test_http_url_is_refused(cli):
    result = cli.invoke(args=["calendly", "webhooks", "create", "http://webinare.example.de"])
    assert result.exit_code == 1
    assert "https" in result.output


def test_plan_without_webhooks_is_explained(cli, calendly_sim):
    calendly_sim.set_plan_allows_webhooks(False)
    result = cli.invoke(args=["calendly", "webhooks", "list"])
    assert result.exit_code == 1
    assert "plan does not allow webhooks" in result.output
    assert "scheduled sync keeps working" in result.output
