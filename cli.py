"""Command-line interface: `flask --app app calendly ...` and `flask --app app users ...`."""

import click
from flask import Flask
from flask.cli import AppGroup

calendly_cli = AppGroup("calendly", help="Talk to Calendly: verify the token, sync, simulate.")
users_cli = AppGroup("users", help="Manage admin accounts.")


@calendly_cli.command("verify")
def verify_command():
    """Check the configured token against GET /users/me and print the account."""
    import app_settings
    from calendly.errors import CalendlyError
    from calendly.sync import build_client

    try:
        with build_client() as client:
            user = client.get_current_user()
    except CalendlyError as exc:
        raise click.ClickException(str(exc)) from exc
    app_settings.save_account(user)
    click.echo(f"Account:      {user.get('name')} <{user.get('email')}>")
    click.echo(f"User URI:     {user.get('uri')}")
    click.echo(f"Organization: {user.get('current_organization')}")


@calendly_cli.command("sync")
@click.option("--full", is_flag=True, help="Read all history and refetch every attendee list.")
def sync_command(full):
    """Mirror Calendly's events and invitees into the database and print a summary."""
    from calendly.sync import SyncAlreadyRunning, sync_from_settings

    try:
        run = sync_from_settings(trigger="cli", full=full)
    except SyncAlreadyRunning as exc:
        raise click.ClickException(str(exc)) from exc
    if run.status != "succeeded":
        raise click.ClickException(run.error or "sync failed")
    click.echo(f"Sync #{run.id} succeeded: {run.summary()}")


@calendly_cli.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--token", default="sim-token", show_default=True, help="Token the simulator accepts."
)
@click.option("--events", "n_events", default=300, show_default=True, type=int)
@click.option("--seed", default=42, show_default=True, type=int)
def simulate_command(host, port, token, n_events, seed):
    """Serve a simulated Calendly API with seeded demo data (for development and demos)."""
    from devtools.simulator import serve

    serve(host=host, port=port, token=token, seed=seed, n_events=n_events)


def register_cli(app: Flask) -> None:
    """Attach the command groups to `app`."""
    app.cli.add_command(calendly_cli)
    app.cli.add_command(users_cli)
