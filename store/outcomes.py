"""What happened, as data: the codes a sync run, a skipped scheduled sync and a webhook delivery
record, each with a small dict of parameters (counts, HTTP status, which record).

No sentence is stored: the screens render each code in the admin's language
(`blueprints/messages.py`), and logs and the CLI name the code. Every code lives here once.
"""

from __future__ import annotations

from enum import StrEnum


class RecordStatus(StrEnum):
    """A Calendly event's or invitee's `status`, as Calendly names it."""

    ACTIVE = "active"
    CANCELED = "canceled"


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class SyncTrigger(StrEnum):
    CLI = "cli"
    MANUAL = "manual"
    SCHEDULER = "scheduler"
    DEMO = "demo"
    CONNECTED = "connected"


class RunProblem(StrEnum):
    """Why a run failed. Parameters: `status`, `title` and `detail` (Calendly's own words) for
    Calendly's refusals; `reason` and `attempts` for network faults; `scopes` for a missing
    scope; `seconds` for a wait for the database; `error` (a type name) for the unexpected."""

    MISSING_TOKEN = "missing_token"
    TOKEN_UNREADABLE = "token_unreadable"  # the encryption key changed
    TOKEN_REFUSED = "token_refused"  # 401
    PERMISSION_DENIED = "permission_denied"  # 403
    NOT_FOUND = "not_found"  # 404
    RATE_LIMITED = "rate_limited"  # 429 through every retry
    NETWORK = "network"
    CALENDLY_ERROR = "calendly_error"  # any other HTTP error
    MALFORMED_RESPONSE = "malformed_response"
    MALFORMED_RECORD = "malformed_record"  # before a sync skipped such records
    LEASE_LOST = "lease_lost"
    DATABASE_BUSY = "database_busy"  # params: seconds (how long it waited)
    INTERRUPTED = "interrupted"  # its process ended before the run did
    UNEXPECTED = "unexpected"
    # No event types are chosen yet: nothing is copied until the admin picks them.
    NO_EVENT_TYPES = "no_event_types"
    # The token may not read the sync scope asked for (params: scope); nothing was changed.
    SCOPE_NOT_ALLOWED = "scope_not_allowed"
    # A host chosen for the scope is no member of the organization (params: host).
    SCOPE_HOST_UNKNOWN = "scope_host_unknown"
    # A row written before outcomes were codes: `text` holds what it said then.
    LEGACY = "legacy"


class RecordSkip(StrEnum):
    """Why a sync left a record out while writing every other one. Parameters (one entry of
    `SyncRun.skipped_records`): `record` (its URI, None when unreadable), `position` (its place
    in Calendly's list, from 1), `event` (an invitee's event URI), `fields` and `errors`."""

    MALFORMED_EVENT = "malformed_event"
    MALFORMED_INVITEE = "malformed_invitee"


class SkipReason(StrEnum):
    """Why a process did not run a scheduled sync."""

    RAN_ELSEWHERE = "ran_elsewhere"  # another process claimed the tick
    SYNC_RUNNING = "sync_running"  # another sync held the lease
    NOT_CONNECTED = "not_connected"  # no Calendly token
    STILL_RUNNING = "still_running"  # this process was still running the previous tick
    MISSED = "missed"  # this process was too busy to start it in time
    COALESCED = "coalesced"  # merged into the next tick while this process was busy
    NO_EVENT_TYPES = "no_event_types"  # no event types chosen yet
    LEGACY = "legacy"


class DeliveryOutcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    REJECTED = "rejected"
    ERROR = "error"


class DeliveryReason(StrEnum):
    """What a webhook delivery did or why it was refused. Parameters name the event, the
    outcome of the event and invitee rows, or the kind of failure, never personal data."""

    # applied
    INVITEE_WRITTEN = "invitee_written"  # params: event, invitee ("created" | "updated" | ...)
    NO_SHOW_MARKED = "no_show_marked"
    NO_SHOW_CLEARED = "no_show_cleared"
    # ignored
    EVENT_NOT_HANDLED = "event_not_handled"  # params: event
    TYPE_NOT_SYNCED = "type_not_synced"
    OUTSIDE_SCOPE = "outside_scope"  # a webinar none of the scope's hosts hosts
    EVENT_NOT_MIRRORED = "event_not_mirrored"
    INVITEE_NOT_MIRRORED = "invitee_not_mirrored"
    # Its webinar's attendee data was removed after the retention period: nobody is stored.
    PERSONAL_DATA_REMOVED = "personal_data_removed"
    STALE = "stale"  # older than the stored invitee
    PERSON_ERASED = "person_erased"  # an invitee of a person erased after it was booked
    # rejected
    BODY_TOO_LARGE = "body_too_large"
    NO_SIGNING_KEY = "no_signing_key"
    SIGNING_KEY_UNREADABLE = "signing_key_unreadable"
    BAD_SIGNATURE = "bad_signature"  # params: problem
    NOT_JSON = "not_json"
    MALFORMED = "malformed"  # params: problem (before records had a schema)
    # A signed delivery that fails the schema; answered 200 so that Calendly does not retry it.
    MALFORMED_RECORD = "malformed_record"  # params: record, fields, errors
    # error
    DATABASE_ERROR = "database_error"  # params: error (a type name)
    INTERNAL_ERROR = "internal_error"  # params: error
    LEGACY = "legacy"


class IncidentKind(StrEnum):
    """Trouble that needs a person (services/alerts.py). Parameters: `hours` and `since` for a
    stale sync; `scopes` for a missing scope; `callback_url` for a disabled or silent webhook
    subscription, with `since` (the last delivery) for a silent one."""

    SYNC_STALE = "sync_stale"  # no sync succeeded for ALERT_SYNC_STALE_HOURS
    TOKEN_REFUSED = "token_refused"  # Calendly answered 401
    MISSING_SCOPE = "missing_scope"  # Calendly answered 403
    WEBHOOK_DISABLED = "webhook_disabled"  # Calendly disabled this app's subscription
    DELIVERIES_SILENT = "deliveries_silent"  # syncs find changes no delivery brought


class AuditAction(StrEnum):
    """What an audit log entry records (services/audit.py). Its parameters never hold personal
    data beyond the acting admin: a person is named by a reference, never by their email."""

    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"
    ACCOUNT_CREATED = "account_created"  # params: account (id), role
    ACCOUNT_DISABLED = "account_disabled"  # params: account
    ACCOUNT_ENABLED = "account_enabled"  # params: account
    ACCOUNT_DELETED = "account_deleted"  # params: account
    ROLE_CHANGED = "role_changed"  # params: account, old, new
    TWO_FACTOR_CHANGED = "two_factor_changed"  # params: account, enabled (bool)
    TOKEN_CONNECTED = "token_connected"
    TOKEN_REPLACED = "token_replaced"
    TOKEN_REMOVED = "token_removed"
    SETTING_CHANGED = "setting_changed"  # params: setting, old, new (non-secret values only)
    SYNC_STARTED = "sync_started"  # a manual sync; params: full (bool)
    NO_SHOW_MARKED = "no_show_marked"  # params: webinar (calendly id), invitee (calendly id)
    NO_SHOW_UNDONE = "no_show_undone"  # params: webinar, invitee
    WEBHOOK_CREATED = "webhook_created"  # params: subscription (uri)
    WEBHOOK_DELETED = "webhook_deleted"  # params: subscription
    EXPORT_DOWNLOADED = "export_downloaded"  # params: list (which), format (csv, xlsx, json)
    PERSON_EXPORTED = "person_exported"  # params: person (a reference), format
    PERSON_ERASED = "person_erased"  # params: person (a reference), bookings, at_calendly
    RETENTION_RUN = "retention_run"  # params: attendees, webinars, cutoff (ISO date)
    # params: webinar, attended, no_shows, source ("manual" mark or participant list "import")
    ATTENDANCE_RECORDED = "attendance_recorded"
    ATTENDANCE_UNRECORDED = "attendance_unrecorded"  # the mark was removed; params: webinar
