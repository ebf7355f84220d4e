"""The app factory: which processes start demo mode and the scheduler."""

import click
import pytest

from app import serves_requests

RUN = click.Command("run", params=[click.Option(["--reload/--no-reload"], default=None)])


def test_flask_commands_other_than_run_serve_no_requests(make_app):
    app = make_app()
    with click.Context(click.Command("upgrade")):
        assert serves_requests(app) is False  # flask db upgrade, flask users create ...
    with click.Context(RUN) as ctx:
        ctx.params["reload"] = False
        assert serves_requests(app) is True
    assert serves_requests(app) is True  # gunicorn, or create_app() from Python


def test_only_the_reloader_child_serves(make_app, monkeypatch):
    app = make_app()
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with click.Context(RUN) as ctx:
        ctx.params["reload"] = True
        assert serves_requests(app) is False  # the reloader's watcher
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    with click.Context(RUN) as ctx:
        ctx.params["reload"] = True
        assert serves_requests(app) is True
    debug = make_app(DEBUG=True)
    with click.Context(RUN):  # --reload not given: on in debug mode
        assert serves_requests(debug) is True
    monkeypatch.delenv("WERKZEUG_RUN_MAIN")
    with click.Context(RUN):
        assert serves_requests(debug) is False


@pytest.mark.parametrize(("command", "started"), [("upgrade", False), ("run", True)])
def test_the_factory_starts_the_scheduler_only_where_requests_are_served(
    make_app, command, started
):
    context = click.Context(RUN if command == "run" else click.Command(command))
    with context:
        if command == "run":
            context.params["reload"] = False
        app = make_app(TESTING=False, SCHEDULER_ENABLED=True, DEMO_MODE=True)
    scheduler = app.extensions.pop("scheduler", None)
    try:
        assert (scheduler is not None) is started
        assert app.config["DEMO_MODE"] is False  # no demo here: a token-less test database
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
