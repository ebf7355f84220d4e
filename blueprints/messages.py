"""Outcomes as sentences: what the admin reads about a sync run, a skipped scheduled sync or a
failed Calendly call, in the admin's language. The codes and their parameters are stored (see
store/outcomes.py); only this module turns them into words. Never a stack trace.
"""

from __future__ import annotations

import math
from datetime import datetime

from flask import url_for
from flask_babel import format_date, format_number, ngettext, npgettext
from flask_babel import gettext as _
from markupsafe import Markup

from calendly.errors import TOKEN_PAGE_URL, CalendlyError
from mirror.problems import problem_of
from services.queries import MirrorTotals
from store import clock
from store.models import SyncRun
from store.outcomes import RecordSkip, RunProblem, SkipReason, SyncStatus


def calendly_problem(
    exc: BaseException | None, *, write: bool = False, on_settings: bool = False
) -> Markup:
    """A sentence about a failed Calendly call; `write` adds that the outcome may be unknown,
    `on_settings` says what to do on the Settings page itself (paste a token here)."""
    if exc is None:
        return Markup.escape(_("Talking to Calendly failed. Try again later."))
    code, params = problem_of(exc)
    return problem_text(code, params, write=write, on_settings=on_settings)


def calendly_words(exc: BaseException | None) -> str:
    """What Calendly itself said about a refused call (English), or "" when it said nothing."""
    if not isinstance(exc, CalendlyError) or exc.status is None:
        return ""
    return exc.said or ""


def problem_text(
    code: str, params: dict | None = None, *, write: bool = False, on_settings: bool = False
) -> Markup:
    """The sentence for a RunProblem `code` with its `params`, as HTML: links are links, and
    Calendly's own (English) words follow as a detail marked `lang="en"`."""
    params = params or {}
    text = _problem_sentence(code, params, write, on_settings)
    words = _calendly_words(code, params)
    return Markup("{} {}").format(text, calendly_said(words)) if words else text


def calendly_said(words: str) -> Markup:
    """Calendly's own English words as a detail: "Calendly says: „…“", marked lang="en"."""
    return Markup('<span class="calendly-words">{} „<span lang="en">{}</span>“</span>').format(
        _("Calendly says:"), words
    )


def with_html(translated: str, **parts) -> Markup:
    """A translated sentence with HTML `parts` (links, problems) put in; the sentence itself
    and any plain string part are escaped."""
    return Markup.escape(translated) % parts


def _settings_link() -> Markup:
    return Markup('<a href="{}">{}</a>').format(
        url_for("settings.index") + "#calendly-settings", _("Calendly connection")
    )


def _token_page_link() -> Markup:
    return Markup('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>').format(
        TOKEN_PAGE_URL, _("Calendly's API page")
    )


def _token_advice(code: str, params: dict, on_settings: bool) -> Markup:
    """What to do about the token: on Settings "paste it here", elsewhere a link to Settings."""
    if on_settings:
        texts = {
            RunProblem.MISSING_TOKEN: lambda: _("Paste a Personal Access Token here."),
            RunProblem.TOKEN_UNREADABLE: lambda: _("Paste the token here again."),
            RunProblem.TOKEN_REFUSED: lambda: with_html(
                _("Create a new Personal Access Token on %(link)s and paste it here."),
                link=_token_page_link(),
            ),
        }
        scope_text = with_html(
            _("Create a Personal Access Token with this scope on %(link)s and paste it here."),
            link=_token_page_link(),
        )
    else:
        texts = {
            RunProblem.MISSING_TOKEN: lambda: with_html(
                _("Save one under %(link)s first."), link=_settings_link()
            ),
            RunProblem.TOKEN_UNREADABLE: lambda: with_html(
                _("Save the token again under %(link)s."), link=_settings_link()
            ),
            RunProblem.TOKEN_REFUSED: lambda: with_html(
                _("Save a new Personal Access Token under %(link)s."), link=_settings_link()
            ),
        }
        scope_text = with_html(
            _(
                "Create a Personal Access Token with this scope in Calendly and save it under "
                "%(link)s."
            ),
            link=_settings_link(),
        )
    text = texts.get(code)
    return Markup.escape(text()) if text else scope_text


def _problem_sentence(code: str, params: dict, write: bool, on_settings: bool) -> Markup:
    status = params.get("status") or 0
    if code in (RunProblem.MISSING_TOKEN, RunProblem.TOKEN_UNREADABLE, RunProblem.TOKEN_REFUSED):
        first = {
            RunProblem.MISSING_TOKEN: lambda: _("No Calendly token is configured."),
            RunProblem.TOKEN_UNREADABLE: lambda: _(
                "The stored Calendly token cannot be decrypted (the encryption key has changed)."
            ),
            RunProblem.TOKEN_REFUSED: lambda: _(
                "Calendly did not accept the token (invalid or revoked)."
            ),
        }[code]()
        return Markup("{} {}").format(first, _token_advice(code, params, on_settings))
    if code == RunProblem.PERMISSION_DENIED:
        return _permission_problem(params, on_settings)
    if code == RunProblem.RATE_LIMITED:
        return _plain(_("Calendly's rate limit is used up for the moment. Try again in a minute."))
    if code == RunProblem.NETWORK:
        return _plain(_with_write_note(_("Calendly could not be reached."), write))
    if code == RunProblem.NOT_FOUND:
        return _plain(
            _("Calendly does not know this (any more). Run a sync to bring the data up to date.")
        )
    if code == RunProblem.MALFORMED_RESPONSE or (
        code == RunProblem.CALENDLY_ERROR and status >= 500
    ):
        return _plain(
            _with_write_note(_("Calendly had a problem answering. Try again later."), write)
        )
    if code == RunProblem.CALENDLY_ERROR:
        return _plain(_("Calendly refused the request (HTTP status %(status)d).", status=status))
    if code == RunProblem.MALFORMED_RECORD:
        return _plain(
            _(
                "Calendly sent a record the app cannot read (%(detail)s). The next sync tries "
                "again.",
                detail=params.get("detail") or "?",
            )
        )
    if code == RunProblem.LEASE_LOST:
        return _plain(_("The sync stalled for too long, and another sync took over."))
    if code == RunProblem.DATABASE_BUSY:
        return _plain(
            _(
                "The database was busy for too long (%(seconds)d s), so the sync gave up. What "
                "it wrote is complete; the next sync carries on.",
                seconds=params.get("seconds") or 0,
            )
        )
    if code == RunProblem.NO_EVENT_TYPES:
        return _(
            "No event types are chosen yet, so nothing was synced. Choose them under Settings."
        )
    if code == RunProblem.INTERRUPTED:
        return _plain(_("The sync was interrupted before it finished (its process ended)."))
    if code == RunProblem.SCOPE_NOT_ALLOWED:
        return _plain(_scope_refusal(params.get("scope")))
    if code == RunProblem.SCOPE_HOST_UNKNOWN:
        return _plain(
            _(
                "%(host)s is not a member of the Calendly organization, so the sync did not "
                "run. Nothing was changed. Check the chosen hosts under Settings.",
                host=params.get("host") or "?",
            )
        )
    if code == RunProblem.LEGACY:
        # Stored in English before outcomes were codes: quoted as it was, marked as English.
        return Markup('{} <span lang="en">{}</span>').format(
            _("Recorded before messages were translated:"), params.get("text") or "?"
        )
    # Never the exception's type name: it means nothing to an admin (the log names it).
    return _plain(_("Something unexpected went wrong. The server log has the details."))


def _scope_refusal(scope: str | None) -> str:
    """Why a member's token may not read the scope asked for, and that nothing changed."""
    if scope == "hosts":
        return _(
            "Calendly lets this token read only its own webinars, not those of other hosts: that "
            "needs the token of an owner or admin of the Calendly organization. Nothing was "
            "changed. Choose “My events” under Settings, or connect an admin's token."
        )
    return _(
        "Calendly lets this token read only its own webinars, not those of the whole "
        "organization: that needs the token of an owner or admin of the Calendly organization. "
        "Nothing was changed. Choose “My events” under Settings, or connect an admin's token."
    )


def _plain(text: str) -> Markup:
    return Markup.escape(text)


def _with_write_note(text: str, write: bool) -> str:
    if not write:
        return text
    return (
        text + " " + _("Calendly may or may not have made the change; reload in a moment to see.")
    )


def _permission_problem(params: dict, on_settings: bool) -> Markup:
    scopes = params.get("scopes") or []
    if scopes or (params.get("title") or "").lower() == "insufficient scope":
        first = _(
            "The Calendly token lacks the permission (scope) %(scopes)s.",
            scopes=", ".join(scopes) or "?",
        )
        return Markup("{} {}").format(
            first, _token_advice(RunProblem.PERMISSION_DENIED, params, on_settings)
        )
    if "upgrade" in (params.get("said") or params.get("detail") or "").lower():
        return _plain(_("Your Calendly plan does not allow this."))
    return _plain(
        _(
            "Calendly does not allow this for the token's account (for the whole organization "
            "only owners and admins may)."
        )
    )


def _calendly_words(code: str, params: dict) -> str:
    """What Calendly said when it refused a request (4xx but 429): `said`, or for a run stored
    before that, its explanation without the client's "Calendly API error (HTTP n): " prefix."""
    status = params.get("status") or 0
    if not 400 <= status < 500 or status == 429 or params.get("scopes"):
        return ""  # for a missing scope, Calendly's words point at JSON the admin never sees
    if "said" in params:
        return params["said"] or ""
    if code not in (RunProblem.CALENDLY_ERROR, RunProblem.PERMISSION_DENIED):
        return ""
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


def run_outcome(run: SyncRun) -> str | Markup:
    """Why a run failed or was skipped; "" for a run that succeeded or still runs."""
    if not run.outcome:
        return ""
    params = run.outcome_params or {}
    if run.status == SyncStatus.SKIPPED:
        if params.get("text"):
            return problem_text(RunProblem.LEGACY, params)
        return skip_text(run.outcome)
    return problem_text(run.outcome, params)


def run_summary(run: SyncRun, totals: MirrorTotals) -> str:
    """What the mirror holds now and what the run changed, in two short sentences."""
    held = _(
        "Stored: %(webinars)s, %(attendees)s.",
        webinars=_webinars(totals.webinars),
        attendees=_attendees(totals.attendees),
    )
    return f"{held} {run_changes(run)}"


def run_changes(run: SyncRun) -> str:
    """What a run changed: new, updated or vanished webinars and new or updated attendees."""
    webinars, attendees = changed_counts(run)
    if not webinars and not attendees:
        return _("Nothing changed.")
    return _(
        "Changed: %(webinars)s, %(attendees)s.",
        webinars=_webinars(webinars),
        attendees=_attendees(attendees),
    )


def changed_counts(run: SyncRun) -> tuple[int, int]:
    """(webinars, attendees) the run created, updated or found gone from Calendly."""
    webinars = (run.events_created or 0) + (run.events_updated or 0) + (run.events_missing or 0)
    return webinars, (run.attendees_created or 0) + (run.attendees_updated or 0)


def _webinars(count: int) -> str:
    return ngettext("%(num)d webinar", "%(num)d webinars", count)


def _attendees(count: int) -> str:
    return ngettext("%(num)d attendee", "%(num)d attendees", count)


def retry_text(state: dict | None) -> str:
    """What the running sync's client is retrying, e.g. "Calendly is not answering – next try
    in 4 s (attempt 2 of 5)"; "" when it is not retrying."""
    if not state:
        return ""
    try:
        until = datetime.fromisoformat(state["until"])
    except (KeyError, TypeError, ValueError):
        return ""
    seconds = max(0, math.ceil((until - clock.now()).total_seconds()))
    reason = state.get("reason")
    if reason == "rate_limited":
        why = _("Calendly asks to slow down (rate limit)")
    elif reason == "network":
        why = _("Calendly is not answering")
    else:
        why = _("Calendly had a problem answering")
    return _(
        "%(why)s – next try in %(seconds)d s (attempt %(attempt)d of %(attempts)d).",
        why=why,
        seconds=seconds,
        attempt=state.get("attempt") or 0,
        attempts=state.get("attempts") or 0,
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


# -- retention (services/retention.py) -----------------------------------------------------------


def retention_scope(plan) -> str:
    """ "412 people from 37 webinars before 01.05.2026" for a retention Plan, in the admin's
    language and number and date formats."""
    people = npgettext(
        "retention", "%(count)s person", "%(count)s people", plan.attendees,
        count=format_number(plan.attendees),
    )  # fmt: skip
    webinars = npgettext(
        "retention", "from %(count)s webinar", "from %(count)s webinars", plan.webinars,
        count=format_number(plan.webinars),
    )  # fmt: skip
    return _(
        "%(people)s %(webinars)s before %(date)s",
        people=people,
        webinars=webinars,
        date=format_date(plan.cutoff, format="medium"),
    )


def retention_preview(plan) -> str:
    """What the next retention run removes (None: data is kept without limit)."""
    if plan is None:
        return _("Attendee data is kept without a time limit: the daily run removes nothing.")
    return _("The next run removes the personal data of %(scope)s.", scope=retention_scope(plan))


def retention_done(plan) -> str:
    """What a retention run removed."""
    if plan is None:
        return _("Attendee data is kept without a time limit: nothing was removed.")
    return _("Removed the personal data of %(scope)s.", scope=retention_scope(plan))
