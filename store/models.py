"""Tables of the local mirror and small domain methods."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from store import clock, search_index, totals
from store.database import db
from store.outcomes import RecordStatus, SyncStatus


def _naive_utc(value):
    """Naive UTC for storing; refuses a naive datetime (its zone would be a guess)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given; use aware UTC datetimes")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _naive_utc(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    @staticmethod
    def encoder(dialect_name: str):
        """What the bind processing makes of a value, as one function for bulk writes: naive
        UTC, and on SQLite the text SQLAlchemy's DATETIME stores (its comparisons are textual)."""
        if dialect_name != "sqlite":
            return _naive_utc

        def sqlite_text(value):
            value = _naive_utc(value)
            return None if value is None else value.isoformat(" ", "microseconds")

        return sqlite_text


class CalendlyRecord:
    """Columns every mirrored Calendly record has: its cancellation and Calendly's own times."""

    cancel_reason: Mapped[str | None] = mapped_column(Text)
    canceled_by: Mapped[str | None] = mapped_column(String(255))
    canceler_type: Mapped[str | None] = mapped_column(String(16))
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    calendly_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    calendly_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendlyEvent(CalendlyRecord, db.Model):
    """A scheduled Calendly event (one webinar date), upserted by its Calendly UUID."""

    __tablename__ = "calendly_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    calendly_id: Mapped[str] = mapped_column(String(64), unique=True)
    uri: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_type_uri: Mapped[str | None] = mapped_column(String(255))
    location_type: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(Text)
    location_status: Mapped[str | None] = mapped_column(String(32))
    location_info: Mapped[str | None] = mapped_column(Text)
    invitees_active: Mapped[int] = mapped_column(Integer, default=0)
    invitees_total: Mapped[int] = mapped_column(Integer, default=0)
    invitees_limit: Mapped[int | None] = mapped_column(Integer)
    # True when a sync covering this event's start time no longer found it upstream.
    missing_upstream: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Who hosts it, as Calendly's event_memberships name them: [{uri, name, email}, ...] in
    # Calendly's order, NULL when it names nobody. The filter by host reads EventHost instead.
    hosts: Mapped[list | None] = mapped_column(JSON)
    # When the admin (or an attendance import) recorded who attended; NULL while not recorded.
    # Only recorded webinars count in show-up rates: there, attended means active and not
    # marked as a no-show.
    attendance_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The start in the admin's time zone, stamped by the writer (and again when the zone
    # setting changes), because SQLite has no time zones: the insights page buckets by these.
    # Date and Monday of the week as ISO text ("2026-11-23"), weekday 0 = Monday, hour 0-23.
    local_date: Mapped[str | None] = mapped_column(String(10))
    local_week: Mapped[str | None] = mapped_column(String(10))
    local_weekday: Mapped[int | None] = mapped_column(Integer)
    local_hour: Mapped[int | None] = mapped_column(Integer)
    # Set when the attendees were last written in full; NULL means they still need fetching.
    attendees_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the retention purge anonymised its attendees (services/retention.py); from then on
    # neither the sync nor a webhook stores a person of it again. NULL: not purged.
    personal_data_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    attendees: Mapped[list[CalendlyEventAttendee]] = relationship(
        back_populates="event", order_by="CalendlyEventAttendee.calendly_created_at"
    )

    # The dashboard reads indexes only until it has the 25 webinars of a page, and counts a
    # tab from an index alone: the tabs walk (start, end, status), the event-type filter the
    # same with the type in front, and the list of types seeks (type, name).
    __table_args__ = (
        Index("ix_events_event_type_name", "event_type_uri", "name"),
        Index("ix_events_start_end_status", "start_time", "end_time", "status"),
        Index(
            "ix_events_type_start_end_status", "event_type_uri", "start_time", "end_time", "status"
        ),
        # The insights page reads a period of local dates (optionally of one type).
        Index("ix_events_local_date", "local_date"),
        Index("ix_events_type_local_date", "event_type_uri", "local_date"),
    )

    @property
    def is_canceled(self) -> bool:
        return self.status == RecordStatus.CANCELED

    @property
    def is_full(self) -> bool:
        return self.invitees_limit is not None and self.invitees_active >= self.invitees_limit

    @property
    def is_over(self) -> bool:
        """The webinar has ended: nobody joins it any more."""
        return self.end_time is not None and self.end_time <= clock.now()

    def __repr__(self) -> str:
        return f"<CalendlyEvent {self.calendly_id} {self.name!r} {self.start_time:%Y-%m-%d %H:%M}>"


def local_time_fields(start: datetime | None, zone: str | ZoneInfo) -> dict:
    """The local_* columns of a webinar starting at `start` (aware UTC) in `zone`."""
    if start is None:
        return {"local_date": None, "local_week": None, "local_weekday": None, "local_hour": None}
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    local = start.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    day = local.date()
    return {
        "local_date": day.isoformat(),
        "local_week": (day - timedelta(days=day.weekday())).isoformat(),
        "local_weekday": day.weekday(),
        "local_hour": local.hour,
    }


LOCAL_TIME_FIELDS = ("local_date", "local_week", "local_weekday", "local_hour")


class EventHost(db.Model):
    """One host of one webinar (a copy of an entry of `CalendlyEvent.hosts`), so that the
    dashboard filters by host with an index instead of reading every event's JSON."""

    __tablename__ = "calendly_event_hosts"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("calendly_events.id", ondelete="CASCADE"), primary_key=True
    )
    user_uri: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))

    # The host filter walks (user, event); the list of hosts seeks each user's name and email.
    __table_args__ = (
        Index("ix_event_hosts_user_uri", "user_uri", "event_id"),
        Index("ix_event_hosts_user_name", "user_uri", "name"),
        Index("ix_event_hosts_user_email", "user_uri", "email"),
    )


class ChoiceAnswer(db.Model):
    """One chosen answer of one attendee to a choice question (single_select or multi_select in
    its event type's custom_questions): a line of a multi-select answer is a row of its own.

    Kept by the writer in its transaction, so that the insights page counts answers in SQL.
    `question_key` names the question by position, type and answer choices, so that the same
    question of two event types (the German and the English webinar) counts together."""

    __tablename__ = "choice_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("calendly_events.id", ondelete="CASCADE"))
    attendee_id: Mapped[int] = mapped_column(
        ForeignKey("calendly_event_attendees.id", ondelete="CASCADE"), index=True
    )
    question_key: Mapped[str] = mapped_column(String(32))
    answer: Mapped[str] = mapped_column(Text)

    # The answer counts of a period read this index alone, webinar by webinar.
    __table_args__ = (
        Index("ix_choice_answers_event_key_answer", "event_id", "question_key", "answer"),
    )


# German spellings without umlauts: "Jürgen" is typed as "juergen" or "jurgen".
_UMLAUTS_SPELLED_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
# Between the variants: no query typed into a search field contains it, so none spans two.
SEARCH_VARIANT_SEPARATOR = "\n"


class _CombiningDropped(dict):
    """A str.translate table that drops combining marks, learning each character once."""

    def __missing__(self, code: int):
        self[code] = None if unicodedata.combining(chr(code)) else code
        return self[code]


_COMBINING_DROPPED = _CombiningDropped()


def attendee_search_text(name: str | None, email: str | None) -> str:
    """What attendee search matches against: name and email case-folded, followed by the
    variants a person types without umlauts and accents ("juergen", "jurgen" for "Jürgen").

    Only this side is folded this far; the query is just case-folded, so that a short query
    like "e" still finds "Samuel" by substring.
    """
    text = f"{name or ''} {email or ''}"
    if text.isascii():  # most people: no umlaut or accent to spell out, and casefold is lower
        return text.lower()
    # NFC first: a name sent with a decomposed "ü" must match the "ü" a keyboard types.
    text = unicodedata.normalize("NFC", text).casefold()
    spelled_out = text.translate(_UMLAUTS_SPELLED_OUT)
    # NFKD splits "ü" into "u" and a combining mark, which is dropped: ü→u, é→e, ç→c.
    bare = unicodedata.normalize("NFKD", text).translate(_COMBINING_DROPPED)
    variants = dict.fromkeys((text, spelled_out, bare))  # distinct, in this order
    return SEARCH_VARIANT_SEPARATOR.join(variants)


class CalendlyEventAttendee(CalendlyRecord, db.Model):
    """An invitee of a scheduled event, canceled ones included."""

    __tablename__ = "calendly_event_attendees"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("calendly_events.id", ondelete="CASCADE"), index=True
    )
    calendly_id: Mapped[str] = mapped_column(String(64), unique=True)
    uri: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    # Name and email case-folded with their umlaut-free variants (attendee_search_text), for
    # search that ignores case beyond ASCII ("JÜRGEN") and finds "juergen" and "jurgen" too.
    search_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    questions_and_answers: Mapped[list | None] = mapped_column(JSON)
    rescheduled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    old_invitee_uri: Mapped[str | None] = mapped_column(String(255))
    new_invitee_uri: Mapped[str | None] = mapped_column(String(255))
    no_show: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    no_show_uri: Mapped[str | None] = mapped_column(String(255))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    event: Mapped[CalendlyEvent] = relationship(back_populates="attendees")

    __table_args__ = (
        Index("ix_attendees_event_status", "event_id", "status"),
        # The insights page counts a period's bookings from this index alone (no table rows).
        Index(
            "ix_attendees_event_insights",
            "event_id",
            "status",
            "no_show",
            "rescheduled",
            "calendly_created_at",
        ),  # fmt: skip
        # Attendee search walks this index from the newest booking without touching the table
        # (on PostgreSQL too, as an index-only scan: hence the email).
        Index("ix_attendees_booked_search_email", "calendly_created_at", "search_text", "email"),
    )

    def __repr__(self) -> str:
        return f"<CalendlyEventAttendee {self.calendly_id} {self.email}>"


@event.listens_for(CalendlyEventAttendee, "before_insert")
@event.listens_for(CalendlyEventAttendee, "before_update")
def _fill_search_text(_mapper, _connection, attendee) -> None:
    # ORM writes (tests, one-off fixes); the mirror's bulk upserts set the column themselves.
    attendee.search_text = attendee_search_text(attendee.name, attendee.email)


def _search_index_ddl(when: str, statements_of) -> None:
    for dialect in ("sqlite", "postgresql"):
        for statement in statements_of(dialect):
            ddl = DDL(statement).execute_if(dialect=dialect)
            event.listen(CalendlyEventAttendee.__table__, when, ddl)


# The substring index of search (store/search_index.py) comes and goes with the table.
_search_index_ddl("after_create", search_index.create_statements)
_search_index_ddl("before_drop", search_index.drop_statements)


class MirrorTotal(db.Model):
    """One row: how many webinars the mirror holds, the sum of their attendee counters and the
    longest duration of a webinar, kept by triggers on the events table (store/totals.py)."""

    __tablename__ = "mirror_totals"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinars: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attendees: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    longest_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


for _dialect in ("sqlite", "postgresql"):
    # After the events table (sorted by name, neither depends on the other), whose triggers
    # write here; removed with this table.
    for _statement in totals.create_statements(_dialect):
        event.listen(
            MirrorTotal.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect)
        )
    for _statement in totals.drop_statements(_dialect):
        event.listen(
            MirrorTotal.__table__, "before_drop", DDL(_statement).execute_if(dialect=_dialect)
        )


class SyncRun(db.Model):
    """One run of the sync, whoever triggered it, with its counts and outcome.

    A scheduled sync that a process did not run is a row too: status `skipped`, its `tick`
    (the scheduled time) and a SkipReason as `outcome`. A failed run has a RunProblem as
    `outcome`; `outcome_params` holds what the screens need to explain it.
    """

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # a SyncTrigger
    full: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    status: Mapped[str] = mapped_column(String(16), index=True)  # a SyncStatus
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_seen: Mapped[int] = mapped_column(Integer, default=0)
    events_created: Mapped[int] = mapped_column(Integer, default=0)
    events_updated: Mapped[int] = mapped_column(Integer, default=0)
    events_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    events_missing: Mapped[int] = mapped_column(Integer, default=0)
    attendees_created: Mapped[int] = mapped_column(Integer, default=0)
    attendees_updated: Mapped[int] = mapped_column(Integer, default=0)
    attendees_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    api_requests: Mapped[int] = mapped_column(Integer, default=0)
    # Records Calendly sent that the sync could not read and left out (every other was written),
    # and which they were: a list of {code (a RecordSkip), record (URI or None), position,
    # fields, errors}, the first SKIPPED_LISTED of them.
    records_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_records: Mapped[list | None] = mapped_column(JSON)
    # A RunProblem (failed) or a SkipReason (skipped); NULL for a run that succeeded.
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_params: Mapped[dict | None] = mapped_column(JSON)
    # The process that ran (or skipped) it: "<host>:<pid>:<id>".
    owner: Mapped[str | None] = mapped_column(String(128))
    # The scheduled time a scheduler run or skip belongs to (NULL for other triggers).
    tick: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Set while the running sync waits for a busy database: since when (NULL otherwise).
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_running(self) -> bool:
        return self.status == SyncStatus.RUNNING

    def __repr__(self) -> str:
        return f"<SyncRun {self.id} {self.trigger} {self.status} {self.outcome or ''}>"


class CalendlyEventType(db.Model):
    """An event type as `GET /event_types` last listed it, with its booking questions.

    The sync refreshes these when it meets an event of a type not stored here; names chosen in
    CALENDLY_EVENT_TYPES or on the Settings page resolve to URIs through them.
    """

    __tablename__ = "calendly_event_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    uri: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool | None] = mapped_column(Boolean)
    kind: Mapped[str | None] = mapped_column(String(32))  # solo, group
    pooling_type: Mapped[str | None] = mapped_column(String(32))  # round_robin, collective
    owner: Mapped[str | None] = mapped_column(String(255))  # the profile's owner URI
    # [{name, type, position, enabled, required, answer_choices, include_other}, ...]
    custom_questions: Mapped[list | None] = mapped_column(JSON)
    # False for a type its events name but the last listing did not contain (no name known).
    listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    cached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    def __repr__(self) -> str:
        return f"<CalendlyEventType {self.uri} {self.name!r}>"


class Lease(db.Model):
    """A named lock row with an expiry, shared by every thread and process of the app."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppProcess(db.Model):
    """A running app process, seen by its heartbeat: one row per process that serves requests,
    refreshed every minute. A row not refreshed for a few minutes is a process that died."""

    __tablename__ = "app_processes"

    # "<host>:<pid>:<random id>", as mirror.leases.process_owner names it.
    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Setting(db.Model):
    """A key/value setting changed at run time (token, account URIs, chosen event types)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)


class Role(StrEnum):
    """What an account may do: an admin everything; a viewer (Ansicht, e.g. a webinar's
    presenter) may read the webinars, attendee lists, search, person pages and their exports,
    and change nothing."""

    ADMIN = "admin"
    VIEWER = "viewer"


class AdminUser(db.Model):
    """A person who may sign in to the admin app (a Flask-Login user), in one Role."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.ADMIN, server_default=Role.ADMIN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by `flask users disable`: the account cannot sign in until it is enabled again.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The account must choose its own email and password before it sees anything else (the demo
    # admin, once a real Calendly token has ended demo mode).
    must_set_login: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The TOTP secret, encrypted with the token vault. Without totp_enabled_at it is a set-up
    # that has not been confirmed with a code yet, and signing in does not ask for one.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The time step of the last code accepted, so that an overheard code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # The language the account chose with the header's switch ("de", "en"); NULL until it chose
    # one: its pages then follow the browser, its alert emails are German (the default).
    language: Mapped[str | None] = mapped_column(String(8))

    # What Flask-Login asks of a user object (UserMixin, spelled out).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<AdminUser {self.email}>"


class AdminSession(db.Model):
    """One signed-in browser. The session cookie carries a random token whose SHA-256 is the key;
    deleting the row ends the session, wherever copies of the cookie are."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class RecoveryCode(db.Model):
    """A one-time code that replaces the TOTP code once (lost phone); only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("admin_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFailure(db.Model):
    """One failed login attempt (wrong password or code), kept briefly to throttle guessing per
    email and IP address and to lock an email; recorded alike whether the email has an account."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    ip: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (Index("ix_login_failures_email_ip_failed_at", "email", "ip", "failed_at"),)


class WebhookDelivery(db.Model):
    """One Calendly webhook delivery as received: what it was, whether it was authentic, and
    what it did. Refused deliveries are recorded too; no body is ever stored."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    # The delivery's `event` name (e.g. invitee.created); NULL when it was not read (refused).
    event: Mapped[str | None] = mapped_column(String(64))
    invitee_uri: Mapped[str | None] = mapped_column(String(255), index=True)
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16), index=True)  # a DeliveryOutcome
    # A DeliveryReason, and what explains it (no personal data).
    reason: Mapped[str | None] = mapped_column(String(32))
    reason_params: Mapped[dict | None] = mapped_column(JSON)
    # The delivery's own `created_at` (when Calendly recorded the change).
    payload_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.event} {self.outcome}>"


class Incident(db.Model):
    """Trouble that needs a person (an IncidentKind), from when it was noticed until it was
    over, and whether the admins were told of its start and of its end.

    At most one incident per kind is open: `open_kind` holds the kind while it is open and is
    NULL once it is over, and it is unique, so that processes noticing the same trouble at once
    open it only once. Telling the admins is claimed per incident (`notice_claimed_by` until
    `notice_claimed_until`) with a conditional UPDATE, so that one process sends each email.
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # an IncidentKind
    open_kind: Mapped[str | None] = mapped_column(String(32), unique=True)
    # What the emails and the banner need to explain it (no personal data).
    params: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the email saying it started (and that it is over) went out; NULL while not sent.
    start_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process sending one of those emails now ("<host>:<pid>:<id>"), and until when its
    # claim holds (a process that died while sending is replaced after that).
    notice_claimed_by: Mapped[str | None] = mapped_column(String(128))
    notice_claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def __repr__(self) -> str:
        return f"<Incident {self.id} {self.kind} {'open' if self.is_open else 'over'}>"


class AuditEntry(db.Model):
    """Who did what and when (an AuditAction with its parameters). The acting account is kept
    by id and, so that the entry still says who once the account is gone, by its email; the
    parameters name no other person (a person erased or exported by a reference)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_users.id", ondelete="SET NULL"), index=True
    )
    # NULL for what the app did by itself (the scheduler's retention run, the CLI).
    actor_email: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32), index=True)  # an AuditAction
    params: Mapped[dict | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.actor_email or '-'}>"


class PersonTombstone(db.Model):
    """A person erased here (Art. 17): the HMAC of their case-folded email (store/erasures.py)
    and when. Syncs and webhook deliveries do not store the invitees of that email created
    before `erased_at` again; a later booking is a new record."""

    __tablename__ = "person_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    def __repr__(self) -> str:
        return f"<PersonTombstone {self.person_hmac[:12]} {self.erased_at:%Y-%m-%d}>"
