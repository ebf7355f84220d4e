"""Running the one sync (mirror/sync.py) with the app's configuration: the token, the chosen
event types, the look-back and the Calendly account come from the settings. Used by the CLI,
"Sync now", the scheduler and demo mode."""

from __future__ import annotations

import threading
from datetime import datetime

from flask import Flask, current_app

from mirror.event_types import ALL_TYPES
from mirror.sync import SyncOptions, begin_run, execute_run, run_sync
from services import alerts, audit, metrics, settings
from services.connection import build_client
from store import log_context
from store.database import db
from store.models import AdminUser, SyncRun
from store.outcomes import AuditAction, SyncTrigger


def options_from_settings(
    trigger: SyncTrigger | str,
    full: bool = False,
    *,
    tick: datetime | None = None,
    all_types: bool = False,
) -> SyncOptions:
    """Sync options from the configuration and the settings page (needs an app context);
    `all_types` syncs every event type whatever is chosen."""
    account = settings.account() or {}
    members = {
        (member.get("email") or "").casefold(): member["uri"]
        for member in settings.org_members()
        if member.get("email")
    }
    return SyncOptions(
        trigger=SyncTrigger(trigger),
        full=full,
        event_types=[ALL_TYPES] if all_types else settings.sync_event_types(),
        lookback_days=settings.lookback_days(),
        lease_seconds=current_app.config["SYNC_LEASE_SECONDS"],
        lease_renew_seconds=current_app.config["SYNC_LEASE_RENEW_SECONDS"],
        db_wait_seconds=current_app.config["SYNC_DB_WAIT_SECONDS"],
        user_uri=account.get("user_uri"),
        on_user=settings.save_account,
        tick=tick,
        scope=settings.sync_scope(),
        organization_uri=account.get("organization_uri"),
        role=settings.token_role(),
        members=members,
        on_members=settings.save_org_members,
        on_end=metrics.count_sync,
        erasure_key=current_app.config["ERASURE_KEY"],
        zone=settings.display_timezone(),
    )


def sync_from_settings(
    trigger: SyncTrigger | str, full: bool = False, *, all_types: bool = False
) -> SyncRun:
    """Run a sync with the app's configuration to the end (needs an app context, not a request).

    Raises:
        SyncAlreadyRunning: another sync holds the lease.
    """
    return run_sync(build_client, options_from_settings(trigger, full, all_types=all_types))


def start_background_sync(
    app: Flask,
    trigger: SyncTrigger | str = SyncTrigger.MANUAL,
    full: bool = False,
    actor: AdminUser | None = None,
) -> SyncRun:
    """Begin a run now and do its work in a thread; returns the running SyncRun at once. The
    audit log notes a run an admin (`actor`) started.

    Raises:
        SyncAlreadyRunning: another sync holds the lease.
        TokenVaultError: the stored token cannot be decrypted (the key changed); no run began.
        MissingTokenError: there is no token; no run began.
    """
    # A run that could only fail at once is not begun: the admin is told why instead.
    build_client().close()
    options = options_from_settings(trigger, full)
    run = begin_run(options)
    run_id = run.id
    if actor is not None:
        audit.record_now(AuditAction.SYNC_STARTED, actor, full=full, run=run_id)

    def work():
        with app.app_context():
            execute_run(db.session.get(SyncRun, run_id), build_client, options)
            alerts.after_sync()
            db.session.remove()

    # The request's id goes along: the run's lines say which click started it.
    thread = threading.Thread(target=log_context.carried(work), name=f"sync-{run_id}", daemon=True)
    thread.start()
    return run
