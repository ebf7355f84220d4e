"""Outcomes as sentences: what the admin reads about a sync run, a skipped scheduled sync or a
failed Calendly call, in the admin's language. The codes and their parameters are stored (see
store/outcomes.py); only this module turns them into words. Never a stack trace.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext

from calendly.errors import CalendlyError
from mirror.problems import problem_of
from store.models import SyncRun
from store.outcomes import RecordSkip, RunProblem, SkipReason, SyncStatus


def calendly_problem(exc: BaseException | None, *, write: bool = False) -> str:
    """A sentence about a failed Calendly call; `write` adds that the outcome may be unknown."""
    if exc is None:
        return _("Talking to Calendly failed. Try again later.")
    code, params = problem_of(exc)
    return problem_text(code, params, write=write)


def calendly_words(exc: BaseException | None) -> str:
    """What Calendly itself said about a refused call (English), or "" when it said nothing."""
    if not isinstance(exc, CalendlyError) or exc.status is None:
        return ""
    return _calendly_words({"detail": exc.message})


def problem_text(code: str, params: dict | None = None, *, write: bool = False) -> str:
    """The sentence for a RunProblem `code` with its `params`."""
    params = params or {}
    status = params.get("status") or 0
    if code == RunProblem.MISSING_TOKEN:
        return _("No Calendly token is configured. Save one under Calendly connection first.")
    if code == RunProblem.TOKEN_UNREADABLE:
        return _(
            "The stored Calendly token cannot be decrypted (the encryption key has changed). "
            "Save the token again under Calendly connection."
        )
    if code == RunProblem.TOKEN_REFUSED:
        return _(
            "Calendly did not accept the token (invalid or revoked). Save a new Personal Access "
            "Token under Calendly connection."
        )
    if code == RunProblem.PERMISSION_DENIED:
        return _permission_problem(params)
    if code == RunProblem.RATE_LIMITED:
        return _("Calendly's rate limit is used up for the moment. Try again in a minute.")
    if code == RunProblem.NETWORK:
        return _with_write_note(_("Calendly could not be reached."), write)
    if code == RunProblem.NOT_FOUND:
        return _("Calendly does not know this (any more). Run a sync to bring the data up to date.")
    if code == RunProblem.MALFORMED_RESPONSE or (
        code == RunProblem.CALENDLY_ERROR and status >= 500
    ):
        return _with_write_note(_("Calendly had a problem answering. Try again later."), write)
    if code == RunProblem.CALENDLY_ERROR:
        return _("Calendly refused the request: %(message)s", message=_calendly_words(params))
    if code == RunProblem.MALFORMED_RECORD:
        return _(
            "Calendly sent a record the app cannot read (%(detail)s). The next sync tries again.",
            detail=params.get("detail") or "?",
        )
    if code == RunProblem.LEASE_LOST:
        return _("The sync stalled for too long, and another sync took over.")
    if code == RunProblem.DATABASE_BUSY:
        return _(
            "The database was busy for too long (%(seconds)d s), so the sync gave up. What it "
            "wrote is complete; the next sync carries on.",
            seconds=params.get("seconds") or 0,
        )
    if code == RunProblem.NO_EVENT_TYPES:
        return _(
            "No event types are chosen yet, so nothing was synced. Choose them under Settings."
        )
    if code == RunProblem.INTERRUPTED:
        return _("The sync was interrupted before it finished (its process ended).")
    if code == RunProblem.LEGACY:
        return params.get("text") or ""
    return _(
        "Something unexpected went wrong (%(error)s). The server log has the details.",
        error=params.get("error") or "?",
    )


def _with_write_note(text: str, write: bool) -> str:
    if not write:
        return text
    return (
        text + " " + _("Calendly may or may not have made the change; reload in a moment to see.")
    )


def _permission_problem(params: dict) -> str:
    scopes = params.get("scopes") or []
    if scopes or (params.get("title") or "").lower() == "insufficient scope":
        return _(
            "The Calendly token lacks the permission (scope) %(scopes)s. Create a Personal Access "
            "Token with this scope in Calendly and save it under Calendly connection.",
            scopes=", ".join(scopes) or "?",
        )
    if "upgrade" in (params.get("detail") or "").lower():
        return _(
            "Your Calendly plan does not allow this. Calendly says: %(message)s",
            message=_calendly_words(params),
        )
    return _(
        "Calendly does not allow this for the token's account (for the whole organization only "
        "owners and admins may). Calendly says: %(message)s",
        message=_calendly_words(params),
    )


def _calendly_words(params: dict) -> str:
    """Calendly's explanation without the client's "Calendly API error (HTTP n): " prefix."""
    text = params.get("detail") or ""
    prefix_end = text.find("): ")
    if text.startswith("Calendly API error") and prefix_end != -1:
        text = text[prefix_end + 3 :]
    return text


def skip_text(reason: str) -> str:
    """Why a process did not run a scheduled sync."""
    texts = {
        SkipReason.RAN_ELSEWHERE: lambda: _("Another process ran this scheduled sync."),
        SkipReason.SYNC_RUNNING: lambda: _("Another sync was running."),
        SkipReason.NOT_CONNECTED: lambda: _("Calendly is not connected."),
        SkipReason.NO_EVENT_TYPES: lambda: _("No event types are chosen yet."),
        SkipReason.STILL_RUNNING: lambda: _(
            "This process was still running the previous scheduled sync."
        ),
        SkipReason.MISSED: lambda: _("This process was too busy to start it in time."),
        SkipReason.COALESCED: lambda: _(
            "This process was too busy; it was merged into the next scheduled sync."
        ),
    }
    text = texts.get(reason)
    return text() if text else str(reason)


def run_outcome(run: SyncRun) -> str:
    """Why a run failed or was skipped; "" for a run that succeeded or still runs."""
    if not run.outcome:
        return ""
    params = run.outcome_params or {}
    if run.status == SyncStatus.SKIPPED:
        return params.get("text") or skip_text(run.outcome)
    return problem_text(run.outcome, params)


def run_summary(run: SyncRun) -> str:
    """What a run did, counted."""
    return _(
        "events: %(created)d new, %(updated)d updated, %(unchanged)d unchanged, %(missing)d "
        "missing upstream; attendees: %(a_created)d new, %(a_updated)d updated, "
        "%(a_unchanged)d unchanged; %(requests)d API requests",
        created=run.events_created or 0,
        updated=run.events_updated or 0,
        unchanged=run.events_unchanged or 0,
        missing=run.events_missing or 0,
        a_created=run.attendees_created or 0,
        a_updated=run.attendees_updated or 0,
        a_unchanged=run.attendees_unchanged or 0,
        requests=run.api_requests or 0,
    )


def skipped_summary(run: SyncRun) -> str:
    """How many malformed records a run skipped; "" when none."""
    count = run.records_skipped or 0
    if not count:
        return ""
    return ngettext(
        "%(num)d record from Calendly could not be read and was skipped.",
        "%(num)d records from Calendly could not be read and were skipped.",
        count,
    )


def skipped_texts(run: SyncRun) -> list[str]:
    """One sentence per skipped record the run names (its URI or place, and the fields)."""
    listed = run.skipped_records or []
    texts = [_skipped_text(entry) for entry in listed if isinstance(entry, dict)]
    more = (run.records_skipped or 0) - len(listed)
    if more > 0:
        texts.append(ngettext("And %(num)d more.", "And %(num)d more.", more))
    return texts


def _skipped_text(entry: dict) -> str:
    fields = ", ".join(str(name) for name in entry.get("fields") or ()) or "?"
    record, position = entry.get("record"), entry.get("position") or 0
    if entry.get("code") == RecordSkip.MALFORMED_INVITEE:
        if record:
            return _(
                "Skipped invitee %(record)s: %(fields)s could not be read.",
                record=record,
                fields=fields,
            )
        return _(
            "Skipped invitee no. %(position)d of event %(event)s (no readable URI): "
            "%(fields)s could not be read.",
            position=position,
            event=entry.get("event") or "?",
            fields=fields,
        )
    if record:
        return _(
            "Skipped event %(record)s: %(fields)s could not be read.", record=record, fields=fields
        )
    return _(
        "Skipped event no. %(position)d of Calendly's list (no readable URI): "
        "%(fields)s could not be read.",
        position=position,
        fields=fields,
    )
