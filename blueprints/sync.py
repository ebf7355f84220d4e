"""Sync now, the live sync status panel, and the history of sync runs.

The panel (templates/sync/_panel.html) is included by the dashboard with no context of its own:
it loads its data through `load_sync_panel()`, a template global registered here. While a run is
running the panel polls /sync?run=<id> every second and swaps itself; the response after the run
ends has no poll trigger and, when the run changed something, carries an HX-Trigger
`syncFinished` event for the rest of the page (the webinar list reloads on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import htmx, inputs
from blueprints.messages import (
    calendly_problem,
    changed_counts,
    run_outcome,
    run_summary,
    skipped_summary,
    with_html,
)
from calendly.errors import CalendlyError
from mirror.sync import SyncAlreadyRunning, running_run
from mirror.waits import retry_state, waiting_since
from services import connection, queries
from services.secrets import TokenVaultError
from services.syncing import start_background_sync
from store.database import db
from store.models import SyncRun
from store.outcomes import SyncStatus, SyncTrigger

bp = Blueprint("sync", __name__, url_prefix="/sync")


@dataclass
class SyncPanel:
    """What the status panel shows."""

    running: SyncRun | None
    last: SyncRun | None
    next_run: datetime | None
    connected: bool
    message: str | None = None
    message_kind: str = "info"
    # Since when the running sync waits for a busy database.
    waiting_since: datetime | None = None
    # What the running sync's client is retrying (mirror.waits.retry_state), as data.
    retry: dict | None = None
    # What the mirror holds, read when shown (with a last run): no read of the events otherwise.
    _totals: queries.MirrorTotals | None = None
    # The message tells how the last run ended, so the panel need not say it twice.
    message_is_outcome: bool = False

    @property
    def totals(self) -> queries.MirrorTotals:
        """What the mirror holds (webinars, attendees), read once."""
        if self._totals is None:
            self._totals = queries.mirror_totals()
        return self._totals


def load_sync_panel(message: str | None = None, message_kind: str = "info") -> SyncPanel:
    """The panel's data, read fresh from the database."""
    # Running first: a run ending in between then shows as running once more, never as missing.
    running = running_run()
    connected = connection.token_configured()
    return SyncPanel(
        running=running,
        last=queries.last_finished_run(),
        # Without a token the scheduler only skips: no time to announce.
        next_run=_next_scheduled_run() if connected else None,
        connected=connected,
        message=message,
        message_kind=message_kind,
        waiting_since=waiting_since(running) if running is not None else None,
        retry=retry_state(running) if running is not None else None,
    )


def _next_scheduled_run() -> datetime | None:
    # The scheduler (services/scheduler.py) publishes a callable here; without it, no line.
    next_run = current_app.extensions.get("scheduler_next_run")
    return next_run() if callable(next_run) else None


def finished_message(run: SyncRun, totals: queries.MirrorTotals) -> tuple[str, str]:
    """What to tell the admin about a run that has just ended, and how (notice kind)."""
    if run.status == SyncStatus.SUCCEEDED:
        message = _("Sync finished. %(summary)s", summary=run_summary(run, totals))
        skipped = skipped_summary(run)
        return (f"{message} {skipped}", "warning") if skipped else (message, "success")
    if run.status == SyncStatus.RUNNING:
        return _("The sync stopped without finishing."), "error"
    reason = run_outcome(run) or _("unknown error")
    return with_html(_("Sync failed: %(error)s"), error=reason), "error"


@bp.get("")
def status():
    """The sync status panel; `run` names the run the polling panel was watching."""
    panel = load_sync_panel()
    watched = inputs.int_arg("run")
    ended = None
    if watched and (panel.running is None or panel.running.id != watched):
        # The run may have ended between reading the runs and reading the lease (which uses a
        # connection of its own): read again in a fresh transaction, so that its end is seen
        # and not this request's older snapshot (or the session's cached row).
        db.session.rollback()
        panel = load_sync_panel()
        still_running = panel.running is not None and panel.running.id == watched
        ended = None if still_running else db.session.get(SyncRun, watched, populate_existing=True)
        if ended is not None:
            panel.message, panel.message_kind = finished_message(ended, panel.totals)
            panel.message_is_outcome = panel.last is not None and panel.last.id == ended.id
    partial = htmx.is_partial_request()
    template = "sync/_panel.html" if partial else "sync/status.html"
    response = make_response(render_template(template, sync_panel=panel))
    # The list reloads only for a run that changed something: a reload would close every
    # attendee list the admin has open, for nothing.
    if ended is not None and partial and any(changed_counts(ended)):
        htmx.trigger(response, {"syncFinished": {"run": ended.id, "status": ended.status}})
    return response


@bp.post("")
def start():
    """Start a sync in the background and return at once (the panel then polls its progress)."""
    if not connection.token_configured():
        message, kind = _("Connect Calendly in Settings first."), "warning"
    else:
        try:
            start_background_sync(
                current_app._get_current_object(), SyncTrigger.MANUAL, actor=current_user
            )
            message, kind = _("Sync started."), "info"
        except SyncAlreadyRunning:
            message, kind = _("A sync is already running."), "warning"
        except (TokenVaultError, CalendlyError) as exc:
            message, kind = calendly_problem(exc), "error"
    if not htmx.is_partial_request():
        flash(message, kind)
        return redirect(url_for("dashboard.index"), 303)
    return render_template("sync/_panel.html", sync_panel=load_sync_panel(message, kind))


@bp.get("/runs")
def runs():
    """Recent sync runs, newest first, a page at a time."""
    page = queries.sync_runs(inputs.int_arg("page", 1))
    template = "sync/_runs.html" if htmx.is_partial_request() else "sync/runs.html"
    return render_template(template, runs=page)


# -- template helpers ---------------------------------------------------------------------


@bp.app_context_processor
def sync_template_globals():
    """Let any template (the dashboard) render the panel without passing it anything."""
    return {"load_sync_panel": load_sync_panel}
