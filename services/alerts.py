"""The admins hear about trouble: incidents, noticed from what the app already records, stored,
shown on the dashboard and emailed once when they start and once when they are over.

What counts as trouble (IncidentKind), once a token is connected:
- SYNC_STALE: no sync succeeded for ALERT_SYNC_STALE_HOURS. A fresh install counts from when
  syncing became possible (event types chosen, or the first attempt), never before.
- TOKEN_REFUSED / MISSING_SCOPE: the last sync that heard Calendly's verdict on the token was
  refused with 401 / 403 (runs that failed for other reasons, e.g. the network, say nothing).
- WEBHOOK_DISABLED: Calendly disabled this app's subscription (the stored webhook health).
- DELIVERIES_SILENT: this app's subscription is active, but syncs keep finding booking changes
  that no delivery brought (services/webhook_subscriptions.py decides that).

`check()` runs in every scheduler process every ALERT_CHECK_SECONDS and after every sync. Any
number of processes may run it at once: at most one incident per kind is open (a unique
column), changes to them are made under a lease, and each email is claimed with a conditional
UPDATE first, so that one process sends it. A failed send is logged and tried again at the next
check. Emails go to ALERT_EMAILS, else to the enabled admins, each in its reader's language.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app, get_template_attribute
from flask_babel import force_locale
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mirror import leases
from mirror.problems import log_failure
from services import connection, mailer, settings, webhook_subscriptions
from store import clock
from store.database import db, write_connection
from store.models import AdminUser, Incident, Role, Setting, SyncRun
from store.outcomes import IncidentKind, RunProblem, SyncStatus

log = logging.getLogger(__name__)

# Changes to the incidents are made by one process at a time, after reading afresh: a process
# that read before a sync ended must not reopen what another just closed.
CHANGE_LEASE = "alerts_change"
CHANGE_LEASE_SECONDS = 60
# Asking Calendly for the webhook health is left to one process per this many seconds.
WEBHOOK_LOOK_LEASE = "alerts_webhook_look"
WEBHOOK_LOOK_SECONDS = 300
# A claim to send an email holds this long: a process that died while sending is replaced.
CLAIM_SECONDS = 600
# After a sync, wait this long at most for another process's check to end.
AFTER_SYNC_WAIT_SECONDS = 10.0
_LAST_CHECK = "alerts_last_check"

# The page that fixes each kind (an endpoint), linked from the email and the banner.
FIX_PAGES = {
    IncidentKind.SYNC_STALE: "sync.runs",
    IncidentKind.TOKEN_REFUSED: "settings.index",
    IncidentKind.MISSING_SCOPE: "settings.index",
    IncidentKind.WEBHOOK_DISABLED: "webhooks.index",
    IncidentKind.DELIVERIES_SILENT: "webhooks.index",
}
# Outcomes of runs that heard what Calendly thinks of the token (a success does, too).
_TOKEN_VERDICTS = (RunProblem.TOKEN_REFUSED, RunProblem.PERMISSION_DENIED)


# -- noticing -----------------------------------------------------------------------------------


def current_trouble(now: datetime | None = None) -> dict[IncidentKind, dict]:
    """What needs a person now, each kind with the parameters that explain it (app context)."""
    now = now or clock.now()
    if not connection.token_configured():
        return {}  # a fresh install: nothing can work yet, and nothing is wrong
    found: dict[IncidentKind, dict] = {}
    stale = _stale_sync(now)
    if stale is not None:
        found[IncidentKind.SYNC_STALE] = stale
    verdict = db.session.scalars(
        select(SyncRun)
        .where(
            or_(
                SyncRun.status == SyncStatus.SUCCEEDED,
                and_(SyncRun.status == SyncStatus.FAILED, SyncRun.outcome.in_(_TOKEN_VERDICTS)),
            )
        )
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if verdict is not None and verdict.outcome == RunProblem.TOKEN_REFUSED:
        found[IncidentKind.TOKEN_REFUSED] = {}
    elif verdict is not None and verdict.outcome == RunProblem.PERMISSION_DENIED:
        scopes = (verdict.outcome_params or {}).get("scopes") or []
        found[IncidentKind.MISSING_SCOPE] = {"scopes": [str(scope) for scope in scopes]}
    warning = webhook_subscriptions.dashboard_warning(now)
    if warning is not None and warning.disabled:
        found[IncidentKind.WEBHOOK_DISABLED] = {
            "callback_url": warning.disabled[0].get("callback_url") or ""
        }
    elif warning is not None and warning.silent:
        found[IncidentKind.DELIVERIES_SILENT] = {
            "callback_url": warning.silent.get("callback_url") or "",
            "since": warning.silent["since"].isoformat(),
        }
    return found


def _stale_sync(now: datetime) -> dict | None:
    if not settings.event_types_chosen():
        return None  # nothing is synced before event types are chosen
    hours = float(current_app.config["ALERT_SYNC_STALE_HOURS"])
    last_success = db.session.scalar(
        select(func.max(SyncRun.finished_at)).where(SyncRun.status == SyncStatus.SUCCEEDED)
    )
    since = last_success or _syncing_possible_since()
    if since is None or now - since < timedelta(hours=hours):
        return None
    return {"hours": int(hours) if hours.is_integer() else hours, "since": since.isoformat(),
            "ever": last_success is not None}  # fmt: skip


def _syncing_possible_since() -> datetime | None:
    """Since when a sync could have succeeded, on an install where none has yet: the first
    attempt, or the choice of event types, whichever came first."""
    first_attempt = db.session.scalar(
        select(func.min(SyncRun.started_at)).where(SyncRun.status != SyncStatus.SKIPPED)
    )
    chosen = db.session.scalar(
        select(Setting.updated_at).where(Setting.key == settings.EVENT_TYPES_KEY)
    )
    return min((moment for moment in (first_attempt, chosen) if moment), default=None)


def open_incidents() -> list[Incident]:
    """The incidents not over yet, oldest first (the dashboard's banner)."""
    return list(
        db.session.scalars(
            select(Incident).where(Incident.ended_at.is_(None)).order_by(Incident.started_at)
        )
    )


def fix_endpoint(kind: str) -> str:
    """The endpoint of the page that fixes incidents of `kind`."""
    return FIX_PAGES.get(kind, "dashboard.index")


# -- opening and closing ------------------------------------------------------------------------


def update_incidents(now: datetime | None = None, wait_seconds: float = 0.0) -> bool:
    """Open an incident for new trouble and end those that are over (app context).

    Writes nothing while the stored incidents match the trouble. Returns False when another
    process was changing them and did not finish within `wait_seconds`.
    """
    db.session.commit()  # read afresh
    if _matches(current_trouble(now)):
        return True
    owner = leases.process_owner()
    deadline = time.monotonic() + wait_seconds
    while not leases.try_acquire(CHANGE_LEASE, owner, CHANGE_LEASE_SECONDS):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    try:
        db.session.commit()  # what the previous holder wrote
        now = now or clock.now()
        trouble = current_trouble(now)
        opened = {row.kind: row.id for row in open_incidents()}
        db.session.commit()
        for kind, params in trouble.items():
            if kind not in opened:
                _open(kind, params, now)
        for kind, incident_id in opened.items():
            if kind not in trouble:
                _close(incident_id, kind, now)
    finally:
        leases.release(CHANGE_LEASE, owner)
    return True


def _matches(trouble: dict[IncidentKind, dict]) -> bool:
    stored = db.session.scalars(select(Incident.kind).where(Incident.ended_at.is_(None))).all()
    db.session.commit()
    return set(stored) == set(trouble)


def _open(kind: IncidentKind, params: dict, now: datetime) -> None:
    try:
        with write_connection(db.engine) as conn, conn.begin():
            conn.execute(
                insert(Incident).values(kind=kind, open_kind=kind, params=params, started_at=now)
            )
    except IntegrityError:
        return  # open already (opened outside the lease, e.g. by hand)
    log.warning("incident started: %s", kind)


def _close(incident_id: int, kind: str, now: datetime) -> None:
    with write_connection(db.engine) as conn, conn.begin():
        closed = conn.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.ended_at.is_(None))
            .values(ended_at=now, open_kind=None)
        ).rowcount
    if closed:
        log.warning("incident over: %s", kind)


# -- telling the admins -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str
    language: str


def recipients() -> list[Recipient]:
    """Who the alert emails go to: ALERT_EMAILS, else every enabled admin, each with the
    language of their account (German, the default, for others and those who never chose)."""
    config = current_app.config
    default = config["BABEL_DEFAULT_LOCALE"]
    listed = [part.strip() for part in (config.get("ALERT_EMAILS") or "").split(",")]
    listed = [email for email in listed if email]
    query = select(AdminUser.email, AdminUser.language)
    if listed:
        rows = db.session.execute(query).all()
        chosen = {email.casefold(): language for email, language in rows if language}
        return [Recipient(email, chosen.get(email.casefold()) or default) for email in listed]
    rows = db.session.execute(
        query.where(
            AdminUser.role == Role.ADMIN,
            AdminUser.disabled_at.is_(None),
            # The demo admin's address is made up until its owner chooses their own.
            AdminUser.must_set_login.is_(False),
        ).order_by(AdminUser.id)
    ).all()
    return [Recipient(email, language or default) for email, language in rows]


def _pending(phase: str):
    if phase == "start":
        return and_(Incident.ended_at.is_(None), Incident.start_notified_at.is_(None))
    # An end is told only to those who were told of the start.
    return and_(
        Incident.ended_at.is_not(None),
        Incident.start_notified_at.is_not(None),
        Incident.end_notified_at.is_(None),
    )


def notify_due(now: datetime | None = None) -> int:
    """Send the emails due: each open incident's start and each ended incident's end, once.

    Needs an app context; does nothing without SMTP_HOST. Returns the number of emails sent.
    """
    smtp = mailer.smtp_settings()
    if smtp is None:
        return 0
    db.session.commit()
    due = db.session.scalars(
        select(Incident)
        .where(or_(_pending("start"), _pending("end")))
        .order_by(Incident.started_at, Incident.id)
    ).all()
    db.session.commit()
    sent = 0
    for incident in due:
        phase = "start" if incident.start_notified_at is None else "end"
        sent += _notify(smtp, incident, phase, now or clock.now())
    return sent


def _notify(smtp: mailer.SmtpSettings, incident: Incident, phase: str, now: datetime) -> int:
    owner = leases.process_owner()
    claimable = or_(
        Incident.notice_claimed_until.is_(None), Incident.notice_claimed_until < clock.now()
    )
    with write_connection(db.engine) as conn, conn.begin():
        claimed = conn.execute(
            update(Incident)
            .where(Incident.id == incident.id, _pending(phase), claimable)
            .values(
                notice_claimed_by=owner,
                notice_claimed_until=clock.now() + timedelta(seconds=CLAIM_SECONDS),
            )
        ).rowcount
    if not claimed:
        return 0  # told already, or another process is telling now
    done = False
    try:
        people = recipients()
        db.session.commit()
        messages = [_message(smtp, incident, phase, person, now) for person in people]
        if not messages:
            log.warning("no one to email about incident %d (%s)", incident.id, incident.kind)
            return 0
        sent = mailer.send_messages(smtp, messages)
        done = True
    except (smtplib.SMTPException, OSError) as exc:
        log.warning(
            "could not email incident %d (%s, %s): %s; trying again at the next check",
            incident.id,
            incident.kind,
            phase,
            type(exc).__name__,
        )
        return 0
    finally:
        _finish_claim(incident.id, owner, phase if done else None)
    log.info("incident %d (%s, %s) emailed to %d recipient(s)", incident.id, incident.kind,
             phase, sent)  # fmt: skip
    return sent


def _finish_claim(incident_id: int, owner: str, told: str | None) -> None:
    """Give the claim back, noting the phase `told` (None: nothing was sent)."""
    values: dict = {"notice_claimed_by": None, "notice_claimed_until": None}
    if told is not None:
        values[f"{told}_notified_at"] = clock.now()
    with write_connection(db.engine) as conn, conn.begin():
        conn.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.notice_claimed_by == owner)
            .values(**values)
        )


@dataclass(frozen=True)
class IncidentWords:
    """What an incident means, in the current language, as plain text (a page escapes it)."""

    title: str
    explanation: str
    fix_label: str


def words_for(incident: Incident) -> IncidentWords:
    """The sentences of templates/alerts/_incident.txt for `incident`.

    Called from Python, its macros return plain text: called from an autoescaping template,
    Jinja would mark their unescaped output safe.
    """

    def say(name: str, *args) -> str:
        return str(get_template_attribute("alerts/_incident.txt", name)(*args))

    return IncidentWords(
        title=say("title", incident),
        explanation=say("explanation", incident),
        fix_label=say("fix_label", incident.kind),
    )


def fix_link(kind: str) -> str:
    """The address of the page that fixes `kind`: PUBLIC_BASE_URL and its path, or the path."""
    path = current_app.url_map.bind("localhost").build(fix_endpoint(kind))
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").strip().rstrip("/")
    return base + path


def _message(
    smtp: mailer.SmtpSettings, incident: Incident, phase: str, person: Recipient, now: datetime
) -> EmailMessage:
    """The email about `incident` for `person`, in their language."""
    context = {
        "incident": incident,
        "phase": phase,
        "link": fix_link(incident.kind),
        "has_base_url": bool(current_app.config.get("PUBLIC_BASE_URL")),
    }
    with force_locale(person.language):
        subject = get_template_attribute("alerts/_incident.txt", "subject")(incident, phase)
        body = current_app.jinja_env.get_template("alerts/email.txt").render(**context)
    message = EmailMessage()
    message.set_content(body)  # first: it replaces every Content-* header
    message["Subject"] = " ".join(str(subject).split())
    message["From"] = smtp.sender
    message["To"] = person.email
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies, please
    message["Content-Language"] = person.language
    return message


# -- when to check ------------------------------------------------------------------------------


def check(now: datetime | None = None, wait_seconds: float = 0.0) -> None:
    """Notice trouble, open and end incidents, and send the emails due (app context)."""
    _look_at_webhooks()
    update_incidents(now, wait_seconds)
    notify_due(now)


def check_if_due() -> None:
    """`check()` unless this process did so within ALERT_CHECK_SECONDS (the scheduler's watcher
    calls it); a failure is logged, never raised."""
    now = clock.now()
    last = current_app.extensions.get(_LAST_CHECK)
    every = timedelta(seconds=float(current_app.config["ALERT_CHECK_SECONDS"]))
    if last is not None and now - last < every:
        return
    current_app.extensions[_LAST_CHECK] = now
    _safely(check)


def refresh_incidents() -> None:
    """`update_incidents()` for a page that shows them: no waiting, no email; never raises."""
    _safely(update_incidents)


def after_sync() -> None:
    """Right after a sync ended, open or end incidents by its outcome and send the emails due,
    so that they show at once (without asking Calendly anything more); never raises."""

    def work():
        update_incidents(wait_seconds=AFTER_SYNC_WAIT_SECONDS)
        notify_due()

    _safely(work)


def _safely(work) -> None:
    try:
        work()
    except Exception as exc:  # trouble with the alerts must not stop a sync or the scheduler
        log_failure(log, "could not check for trouble; trying again later", exc=exc)
        db.session.rollback()


def _look_at_webhooks() -> None:
    """Ask Calendly for the webhook health when it is old, in one process at a time."""
    if webhook_subscriptions.health() is None:
        return  # never listed: this app has no subscription to watch
    db.session.commit()
    if leases.try_acquire(WEBHOOK_LOOK_LEASE, leases.process_owner(), WEBHOOK_LOOK_SECONDS):
        webhook_subscriptions.refresh_health_if_stale()
