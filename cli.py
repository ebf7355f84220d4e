"""Command-line interface: `flask --app app calendly ...`, `users ...`, `backup ...` and more."""

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

calendly_cli = AppGroup("calendly", help="Talk to Calendly: verify the token, sync, simulate.")
users_cli = AppGroup("users", help="Manage admin accounts.")


@calendly_cli.command("verify")
def verify_command():
    """Check the configured token against GET /users/me and print the account."""
    from calendly.errors import CalendlyError
    from services import settings
    from services.connection import build_client

    try:
        with build_client() as client:
            user = client.get_current_user()
    except CalendlyError as exc:
        raise click.ClickException(str(exc)) from exc
    settings.save_account(user)
    click.echo(f"Account:      {user.get('name')} <{user.get('email')}>")
    click.echo(f"User URI:     {user.get('uri')}")
    click.echo(f"Organization: {user.get('current_organization')}")


@calendly_cli.command("sync")
@click.option("--full", is_flag=True, help="Read all history and refetch every attendee list.")
@click.option(
    "--all-types",
    is_flag=True,
    help="Sync events of every event type, whatever Settings or CALENDLY_EVENT_TYPES choose.",
)
def sync_command(full, all_types):
    """Mirror Calendly's events and invitees into the database and print a summary.

    Only the chosen event types are synced; with none chosen it refuses (exit status 1).
    """
    from mirror.sync import SyncAlreadyRunning, counts_line
    from services import settings
    from services.syncing import sync_from_settings
    from store.outcomes import SyncStatus, SyncTrigger

    if not all_types and not settings.event_types_chosen():
        raise click.ClickException(
            "No event types are chosen, so nothing would be synced. Choose them in Settings "
            "(Event types to sync), set CALENDLY_EVENT_TYPES, or pass --all-types."
        )
    from services import alerts

    try:
        run = sync_from_settings(SyncTrigger.CLI, full=full, all_types=all_types)
    except SyncAlreadyRunning as exc:
        raise click.ClickException(str(exc)) from exc
    from services import audit
    from store.outcomes import AuditAction

    audit.record_now(AuditAction.SYNC_STARTED, full=full, run=run.id)
    alerts.after_sync()
    if run.status != SyncStatus.SUCCEEDED:
        detail = (run.outcome_params or {}).get("detail") or ""
        raise click.ClickException(f"Sync #{run.id} failed: {run.outcome} {detail}".strip())
    click.echo(f"Sync #{run.id} succeeded: {counts_line(run)}")


@calendly_cli.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--token", default="sim-token", show_default=True, help="Token the simulator accepts."
)
@click.option("--events", "n_events", default=300, show_default=True, type=int)
@click.option("--seed", default=42, show_default=True, type=int)
@click.option(
    "--latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Answer every request this many milliseconds late.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests (0 to 1) answered with a fault instead.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    # devtools.simulator.CHAOS_FAULTS (not imported here: every flask command would load it)
    type=click.Choice(["500", "502", "503", "429", "slow", "drop", "malformed"]),
    help="A fault to pick from for --fail-rate (repeat for several; default 503). slow: 5 s "
    "late; drop: connection closed; malformed: a cut-off body.",
)
@click.option(
    "--rate-limit", type=click.IntRange(min=1), help="Allow this many requests per minute."
)
def simulate_command(host, port, token, n_events, seed, latency_ms, fail_rate, faults, rate_limit):
    """Serve a simulated Calendly API with seeded demo data (for development and demos), slow
    or failing on request, to see how the app copes."""
    from devtools.simulator import serve

    serve(
        host=host,
        port=port,
        token=token,
        seed=seed,
        n_events=n_events,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        faults=faults or ("503",),
        rate_limit=rate_limit,
    )


webhooks_cli = AppGroup("webhooks", help="Manage Calendly webhook subscriptions for this app.")
calendly_cli.add_command(webhooks_cli)


PLAN_WITHOUT_WEBHOOKS = (
    "Your Calendly plan does not allow webhooks; the scheduled sync keeps working."
)
NOT_CONNECTED = "No verified Calendly account: run `flask --app app calendly verify` first."


def _webhook_failure(exc) -> click.ClickException:
    if exc.reason == "plan":
        return click.ClickException(PLAN_WITHOUT_WEBHOOKS)
    if exc.reason == "not_connected":
        return click.ClickException(NOT_CONNECTED)
    return click.ClickException(str(exc.cause or exc))


@webhooks_cli.command("list")
def webhooks_list_command():
    """List the account's webhook subscriptions with their state."""
    from services import webhook_subscriptions

    listing = webhook_subscriptions.list_subscriptions()
    if listing.plan_blocked:
        raise click.ClickException(PLAN_WITHOUT_WEBHOOKS)
    if listing.not_connected:
        raise click.ClickException(NOT_CONNECTED)
    if listing.error is not None:
        raise click.ClickException(str(listing.error))
    if not listing.subscriptions:
        click.echo("No webhook subscriptions.")
    for sub in listing.subscriptions:
        mine = " (this app)" if sub.ours else ""
        click.echo(f"{sub.uuid}  {sub.state:8}  {sub.callback_url}{mine}  {','.join(sub.events)}")


@webhooks_cli.command("create")
@click.argument("base_url")
def webhooks_create_command(base_url):
    """Subscribe https://BASE_URL/api/infowebinar/webhook with a new signing key."""
    from services import webhook_subscriptions

    try:
        sub = webhook_subscriptions.create_subscription(base_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except webhook_subscriptions.WebhookAdminError as exc:
        raise _webhook_failure(exc) from exc
    click.echo(f"Created {sub.uuid} for {sub.callback_url}")


@webhooks_cli.command("delete")
@click.argument("subscription")
def webhooks_delete_command(subscription):
    """Delete a webhook subscription (UUID or URI)."""
    from services import webhook_subscriptions

    try:
        webhook_subscriptions.delete_subscription(subscription)
    except webhook_subscriptions.WebhookAdminError as exc:
        raise _webhook_failure(exc) from exc
    click.echo(f"Deleted {subscription}")


# -- users: admin accounts (owned by the auth screen) -----------------------------------------


password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new password (prompted, with confirmation, when left out).",
)


def _account_command(action, *args, done: str) -> None:
    """Run an accounts.* change and report it; AccountError becomes a clean CLI error."""
    from flask_babel import force_locale

    from services import accounts

    try:
        result = action(*args)
    except accounts.AccountError as exc:
        with force_locale("en"):
            raise click.ClickException(str(exc.message)) from exc
    click.echo(done.format(email=result if isinstance(result, str) else result.email))


@users_cli.command("create")
@click.argument("email")
@password_option
@click.option(
    "--role",
    type=click.Choice(["admin", "viewer"]),
    default="admin",
    show_default=True,
    help="admin: everything; viewer: reads webinars, attendee lists and exports, changes nothing.",
)
def users_create_command(email, password, role):
    """Create an account that can sign in to the web app (an admin unless --role says viewer)."""
    from services import accounts

    _account_command(
        accounts.create_admin, email, password, role, done=f"Created {role} account {{email}}."
    )


@users_cli.command("list")
def users_list_command():
    """List the admin accounts with their last sign-in, two-factor authentication and state."""
    from services import accounts

    admins = accounts.list_admins()
    if not admins:
        click.echo("No admin accounts yet. Create one with `flask users create EMAIL`.")
        return
    for admin in admins:
        last = f"{admin.last_login_at:%Y-%m-%d %H:%M} UTC" if admin.last_login_at else "never"
        notes = [
            "viewer" if admin.role == "viewer" else "",
            "two-factor" if admin.two_factor else "",
            "disabled" if admin.disabled else "",
            "locked after failed logins" if admin.locked else "",
        ]
        flags = ", ".join(note for note in notes if note)
        created = f"{admin.created_at:%Y-%m-%d}"
        click.echo(
            f"{admin.email:40}  created {created}  last login {last}"
            + (f"  ({flags})" if flags else "")
        )


@users_cli.command("set-password")
@click.argument("email")
@password_option
def users_set_password_command(email, password):
    """Set a new password for an admin account, lift a login lock and end its sessions."""
    from services import accounts

    _account_command(accounts.set_password, email, password, done="Password changed for {email}.")


@users_cli.command("disable")
@click.argument("email")
def users_disable_command(email):
    """Disable an admin account: it cannot sign in, and its sessions end at once.

    The last enabled admin account cannot be disabled.
    """
    from services import accounts

    _account_command(accounts.disable_admin, email, done="Disabled {email}; its sessions ended.")


@users_cli.command("enable")
@click.argument("email")
def users_enable_command(email):
    """Let a disabled admin account sign in again."""
    from services import accounts

    _account_command(accounts.enable_admin, email, done="Enabled {email}.")


@users_cli.command("delete")
@click.argument("email")
@click.confirmation_option(prompt="Delete this admin account for good?")
def users_delete_command(email):
    """Delete an admin account and end its sessions (asks first unless --yes is given).

    The last enabled admin account cannot be deleted.
    """
    from services import accounts

    _account_command(accounts.delete_admin, email, done="Deleted {email}.")


@users_cli.command("sign-out")
@click.argument("email")
def users_sign_out_command(email):
    """End every session of an admin account (sign it out everywhere)."""
    from services import accounts

    _account_command(accounts.end_sessions, email, done="Signed out {email} everywhere.")


@users_cli.command("reset-2fa")
@click.argument("email")
def users_reset_two_factor_command(email):
    """Turn off two-factor authentication of an admin account whose phone and recovery codes
    are lost; its sessions end. It can sign in with the password and set it up again."""
    from services import two_factor

    _account_command(two_factor.reset, email, done="Two-factor authentication off for {email}.")


maintenance_cli = AppGroup("maintenance", help="Housekeeping of the app's own records.")


@maintenance_cli.command("prune")
def prune_command():
    """Delete skipped scheduler runs and webhook deliveries older than PRUNE_AFTER_DAYS, and
    audit log entries older than AUDIT_KEEP_DAYS."""
    from services import maintenance

    pruned = maintenance.prune()
    click.echo(
        f"Removed {pruned.skipped_runs} skipped sync runs and {pruned.deliveries} "
        f"webhook deliveries, and {pruned.audit_entries} audit log entries."
    )


alerts_cli = AppGroup("alerts", help="Trouble that needs a person, and the emails about it.")


@alerts_cli.command("check")
def alerts_check_command():
    """Look for trouble now, send the emails due (SMTP_HOST) and list the open incidents."""
    from services import alerts

    alerts.check()
    incidents = alerts.open_incidents()
    for incident in incidents:
        told = "emailed" if incident.start_notified_at else "not emailed"
        click.echo(f"{incident.kind} since {incident.started_at:%Y-%m-%d %H:%M} UTC ({told})")
    if not incidents:
        click.echo("No open incidents.")


audit_cli = AppGroup("audit", help="The audit log: who did what and when.")


@audit_cli.command("list")
@click.option("--actor", metavar="EMAIL", help="Only the entries of this admin.")
@click.option("--action", metavar="CODE", help="Only this action (e.g. setting_changed).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def audit_list_command(actor, action, limit):
    """Print the audit log, newest first, as the Audit log page shows it: time (UTC), admin
    (- for the app itself, cli for a command), action code and parameters."""
    import json

    from services import audit
    from store.outcomes import AuditAction

    if action and action not in set(AuditAction):
        codes = ", ".join(sorted(AuditAction))
        raise click.BadParameter(f"unknown action; one of {codes}", param_hint="--action")
    wanted = audit.AuditFilter.from_args({"actor": actor, "action": action})
    page = audit.entries(wanted, 1, limit)
    if not page.items:
        click.echo("No audit log entries.")
    for entry in page.items:
        params = dict(entry.params or {})
        who = entry.actor_email or params.pop("source", None) or "-"
        shown = json.dumps(params, sort_keys=True, ensure_ascii=False) if params else ""
        click.echo(f"{entry.at.isoformat(timespec='seconds')}  {who}  {entry.action}  {shown}")


backup_cli = AppGroup("backup", help="Back up the database, and restore a backup.")


def _backup_config():
    from flask import current_app

    from services.backups import BackupConfig

    return BackupConfig.from_config(current_app.config, current_app.instance_path)


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@backup_cli.command("create")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def backup_create_command(path):
    """Write a consistent backup of the database while the app runs (mode 0600).

    SQLite: a copy through SQLite's online backup API; PostgreSQL: `pg_dump --format=custom`.
    PATH defaults to BACKUP_DIR (instance/backups) / <UTC time>.sqlite3 or .dump. Encrypted
    (and named .enc) when BACKUP_ENCRYPTION_KEY is set. Keep SECRET_KEY, TOKEN_ENCRYPTION_KEY
    and BACKUP_ENCRYPTION_KEY apart from the backups: without them a backup is of no use.
    """
    from services.backups import BackupError, create_backup

    try:
        made = create_backup(_backup_config(), path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    encrypted = "encrypted " if made.encrypted else ""
    click.echo(f"Wrote {encrypted}{made.kind} backup {made.path} ({made.size} bytes).")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into_url",
    metavar="URL",
    help="A new database to restore into: sqlite:///new-file.db (must not exist or be empty) "
    "or postgresql://user@host/db (exists, has no tables).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the configured database; refused while an app process or a sync runs, or "
    "(PostgreSQL) any other connection to it is open.",
)
def backup_restore_command(path, into_url, force):
    """Restore a backup made by `flask backup create`, into a new database (--into URL) or,
    with --force and every app process stopped, into the configured one.

    An encrypted backup needs BACKUP_ENCRYPTION_KEY. People erased since the backup was made
    (the tombstones of the configured database, with ERASURE_KEY) are erased from the restored
    data; then the restored database is migrated to this version of the app, and attendee data
    past the retention period is removed from it, before the app serves it.
    """
    from services import backups
    from store.database import normalise_database_url

    config = _backup_config()
    target = normalise_database_url(into_url) if into_url else config.database_url
    replace = _same_database(target, config.database_url)
    if replace and not force:
        raise click.ClickException(
            "This would replace the configured database. Restore into a new one with "
            "--into URL, or stop every app process and pass --force."
        )
    months_before = None
    if replace:
        reasons = backups.replace_refusals()
        if reasons:
            raise click.ClickException(
                "Refusing to replace the configured database while it is in use:\n  - "
                + "\n  - ".join(reasons)
                + "\nStop every app process (gunicorn, flask run, flask calendly sync) and try "
                "again; a process that died stops counting 3 minutes after its last heartbeat."
            )
        months_before = _retention_of_replaced()
    try:
        kind = backups.restore_backup(
            path,
            target,
            key=config.key,
            pg_bin_dir=config.pg_bin_dir,
            replace=replace,
            erasure_key=config.erasure_key,
            tombstones_from=config.database_url,
        )
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored the {kind} backup {path} into {_shown(target)}.")
    try:
        _purge_restored(target, replace, months_before)
    except Exception as exc:
        raise click.ClickException(
            f"The backup was restored, but migrating it or removing the attendee data past the "
            f"retention period failed ({type(exc).__name__}: {exc}). Do not serve it yet: run "
            "`flask db upgrade` and `flask privacy purge` against it first."
        ) from exc


def _retention_of_replaced() -> int | None:
    """The retention period of the database a restore replaces (None: none readable)."""
    from services import settings
    from store.database import db

    try:
        return settings.retention_months()
    except Exception:  # no settings table yet (an empty database): the backup's own applies
        db.session.rollback()
        return None
    finally:
        db.session.remove()
        db.engine.dispose()  # no connection of this process stays open during the restore


def _purge_restored(target: str, replace: bool, months_before: int | None) -> None:
    """Remove the attendee data past the retention period from the restored database before
    the app serves it: migrated to head first, then purged with the stricter of its own period
    and the one of the database it replaced."""
    from flask import current_app

    from app import create_app
    from services import retention
    from store.database import db

    if replace:
        _upgrade_restored()
        done = retention.purge_restored(months_before)
    else:
        restored = create_app({**current_app.config, "SQLALCHEMY_DATABASE_URI": target})
        with restored.app_context():
            try:
                _upgrade_restored()
                done = retention.purge_restored(None)
            finally:
                db.session.remove()
                db.engine.dispose()
    click.echo(_retention_sentence(done, dry_run=False))


def _upgrade_restored() -> None:
    """Migrate the restored database (this app context's) to the app's schema, when it is
    under Alembic's control (a database made by `flask db upgrade`)."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect

    from store.database import db

    with db.engine.connect() as conn:
        managed = inspect(conn).has_table("alembic_version")
    if managed:
        upgrade()


def _same_database(one: str, other: str) -> bool:
    import os

    from sqlalchemy import make_url

    a, b = make_url(one), make_url(other)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return os.path.realpath(a.database or "") == os.path.realpath(b.database or "")
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


privacy_cli = AppGroup("privacy", help="Data protection: the retention of attendee data.")


def _retention_sentence(plan, *, dry_run: bool) -> str:
    from blueprints.messages import retention_done, retention_preview

    return retention_preview(plan) if dry_run else retention_done(plan)


@privacy_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def privacy_purge_command(dry_run):
    """Remove the personal data of attendees of webinars that ended before the retention
    period (Settings), keeping what the insights count; the daily job does the same."""
    from services import retention

    plan = retention.plan() if dry_run else retention.purge()
    click.echo(_retention_sentence(plan, dry_run=dry_run))


people_cli = AppGroup("people", help="A person's data: export (Art. 15) and erasure (Art. 17).")


@people_cli.command("export")
@click.argument("email")
@click.option("--format", "kind", type=click.Choice(["json", "csv"]), default="json")
def people_export_command(email, kind):
    """Print every stored field of the bookings made with EMAIL (any case), as JSON or CSV.
    Recorded in the audit log without the email."""
    from services import person_data

    click.echo(person_data.export_person(email, kind, None), nl=False)


@people_cli.command("erase")
@click.argument("email")
@click.option("--at-calendly", is_flag=True, help="Also ask Calendly to erase the person "
              "(data compliance API, Enterprise plans only).")  # fmt: skip
@click.confirmation_option(prompt="Erase this person's bookings here for good?")
def people_erase_command(email, at_calendly):
    """Erase the person with EMAIL: every booking here, with a tombstone so that syncs and
    webhooks do not store them again (asks first unless --yes is given)."""
    from services import person_data

    done = person_data.erase_person(email, None, at_calendly=at_calendly)
    click.echo(f"Erased here: {done.bookings} booking(s).")
    if at_calendly:
        said = f" ({done.problem})" if done.problem is not None else ""
        click.echo(f"At Calendly: {done.at_calendly}{said}")


def register_cli(app: Flask) -> None:
    """Attach the command groups to `app`."""
    app.cli.add_command(calendly_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(maintenance_cli)
    app.cli.add_command(alerts_cli)
    app.cli.add_command(audit_cli)

    app.cli.add_command(backup_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(people_cli)
