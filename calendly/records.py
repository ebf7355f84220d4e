"""Calendly's records as one typed schema: scheduled events, invitees, event types and the webhook
envelope, validated once where they enter (a sync page or a webhook delivery).

Pydantic models, strict enough that a wrong shape never reaches the database: a text field
refuses objects and lists, a count refuses text ("fifty") and numbers beyond a database integer,
a time must carry its zone, and a nested object (cancellation, no-show, counter, answers) must
be an object (or null) of its own shape. Unknown fields are kept (``extra="allow"``), because
Calendly adds fields.

The connector cannot know column sizes: fitting values to the mirror's columns is the mirror's
work (``mirror.columns``). A record that fails either check raises ``MalformedRecordError``,
which names the record, the fields at fault and what was wrong with each, never their values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from calendly.client import uuid_from_uri

# The largest value an INTEGER column holds on PostgreSQL (and that SQLite keeps as a number).
DB_INT_MAX = 2**31 - 1
# How many faults one error names at most (a record that is wrong everywhere says enough).
MAX_FAULTS = 10


class MalformedRecordError(ValueError):
    """A Calendly record that does not fit the schema, or (said by the mirror) its columns.

    Attributes:
        record: which record: ``scheduled_event``, ``invitee``, ``event_type``, ``no_show`` or
            ``envelope`` (a webhook delivery's outer object).
        fields: the dotted paths of the fields at fault (``invitees_counter.limit``).
        errors: one code per field (``int_type``, ``too_long``, ``missing`` ...).
        uri: the record's own URI when that much could be read, else None.
    """

    def __init__(self, record: str, fields: list[str], errors: list[str], uri: str | None = None):
        self.record = record
        self.fields = list(fields[:MAX_FAULTS])
        self.errors = list(errors[:MAX_FAULTS])
        self.uri = uri
        pairs = zip(self.fields, self.errors, strict=True)
        faults = ", ".join(f"{name} ({error})" for name, error in pairs)
        super().__init__(f"malformed {record}: {faults}")

    @property
    def params(self) -> dict:
        """What is stored about it: record, fields and errors (no values, no personal data)."""
        return {"record": self.record, "fields": self.fields, "errors": self.errors}

    def within(self, record: str, prefix: str) -> MalformedRecordError:
        """The same faults as part of an enclosing `record`, whose field `prefix` held this one."""
        fields = [f"{prefix}.{name}" for name in self.fields]
        return MalformedRecordError(record, fields, self.errors)


# -- field types ----------------------------------------------------------------------------------


def _calendly_time(value):
    # Calendly writes ISO-8601 text; a number or a date alone is not one of its times.
    if value is None or isinstance(value, datetime):
        return value
    if value == "":
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("time_type", "a time must be ISO-8601 text")
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("time_parsing", "not an ISO-8601 time") from None


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _readable_uri(value: str) -> str:
    # The last segment goes into request paths and is the mirror's key: it must be safe.
    try:
        uuid_from_uri(value)
    except ValueError:
        raise PydanticCustomError("uri_parsing", "not a Calendly URI") from None
    if "\x00" in value:
        raise PydanticCustomError("uri_parsing", "a URI holds no NUL character")
    return value


def _none_as(default):
    return BeforeValidator(lambda value: default() if value is None else value)


Time = Annotated[AwareDatetime, BeforeValidator(_calendly_time), AfterValidator(_in_utc)]
Text = StrictStr
Uri = Annotated[StrictStr, AfterValidator(_readable_uri)]
Count = Annotated[StrictInt, Field(ge=0, le=DB_INT_MAX)]
Position = Annotated[StrictInt, Field(ge=-DB_INT_MAX, le=DB_INT_MAX)]


class Record(BaseModel):
    """A Calendly object: typed fields, unknown ones kept as they came."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def read(cls, data: Any, record: str) -> Self:
        """Validate `data` as this record.

        Raises:
            MalformedRecordError: naming `record` and the fields at fault.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise malformed(record, exc, data) from None


def malformed(record: str, exc: ValidationError, data: Any = None) -> MalformedRecordError:
    """The MalformedRecordError for a failed validation of `data` as `record`."""
    fields, errors = [], []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        fields.append(".".join(str(part) for part in error["loc"]) or "(record)")
        errors.append(error["type"])
    return MalformedRecordError(record, fields, errors, readable_uri(data))


def readable_uri(data: Any) -> str | None:
    """The `uri` of a raw record when it is a Calendly URI of sane length, else None."""
    uri = data.get("uri") if isinstance(data, dict) else None
    if not isinstance(uri, str) or len(uri) > 255 or "\x00" in uri:
        return None
    try:
        uuid_from_uri(uri)
    except ValueError:
        return None
    return uri


# -- scheduled events and invitees ----------------------------------------------------------------


class Cancellation(Record):
    canceled_by: Text | None = None
    reason: Text | None = None
    canceler_type: Text | None = None
    created_at: Time | None = None


class InviteesCounter(Record):
    total: Count = 0
    active: Count = 0
    limit: Count | None = None


class Location(Record):
    """Where an event takes place; the known text fields are typed, the rest is kept."""

    type: Text | None = None
    status: Text | None = None
    location: Text | None = None
    join_url: Text | None = None
    additional_info: Text | None = None


def _location(value):
    # Older payloads give the location as plain text.
    return {"type": "custom", "location": value} if isinstance(value, str) else value


class EventMembership(Record):
    """A host of a scheduled event: the Calendly user, with name and email when given."""

    user: Text
    user_email: Text | None = None
    user_name: Text | None = None


class ScheduledEvent(Record):
    """A scheduled event (``GET /scheduled_events``, or embedded in a webhook's invitee)."""

    uri: Uri
    name: Text | None = None
    status: Text
    start_time: Time
    end_time: Time
    event_type: Text | None = None
    location: Annotated[Location | None, BeforeValidator(_location)] = None
    invitees_counter: Annotated[InviteesCounter, _none_as(InviteesCounter)] = Field(
        default_factory=InviteesCounter
    )
    created_at: Time | None = None
    updated_at: Time | None = None
    cancellation: Cancellation | None = None
    event_memberships: Annotated[list[EventMembership], _none_as(list)] = Field(
        default_factory=list
    )


class QuestionAndAnswer(Record):
    question: Text
    answer: Text | None = None
    position: Position


class NoShow(Record):
    uri: Text | None = None
    created_at: Time | None = None


class Invitee(Record):
    """An invitee (``GET /scheduled_events/{uuid}/invitees``, or a webhook's payload)."""

    uri: Uri
    name: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    email: Text | None = None
    status: Text
    timezone: Text | None = None
    questions_and_answers: Annotated[list[QuestionAndAnswer], _none_as(list)] = Field(
        default_factory=list
    )
    rescheduled: Annotated[StrictBool, _none_as(bool)] = False
    old_invitee: Text | None = None
    new_invitee: Text | None = None
    no_show: NoShow | None = None
    cancellation: Cancellation | None = None
    created_at: Time | None = None
    updated_at: Time | None = None
    # The event's URI; webhook payloads embed the whole event as well.
    event: Text | None = None
    scheduled_event: ScheduledEvent | None = None


# -- event types ----------------------------------------------------------------------------------


class CustomQuestion(Record):
    """A question on an event type's booking page."""

    name: Text
    type: Text
    position: Position
    enabled: StrictBool = True
    required: StrictBool = False
    answer_choices: Annotated[list[Text], _none_as(list)] = Field(default_factory=list)
    include_other: StrictBool = False


class Profile(Record):
    type: Text | None = None
    name: Text | None = None
    owner: Text | None = None


class EventType(Record):
    """An event type (``GET /event_types``) with its custom questions."""

    uri: Uri
    name: Text | None = None
    active: StrictBool | None = None
    kind: Text | None = None
    pooling_type: Text | None = None
    profile: Profile | None = None
    custom_questions: Annotated[list[CustomQuestion], _none_as(list)] = Field(default_factory=list)


# -- webhook deliveries -----------------------------------------------------------------------


class WebhookEnvelope(Record):
    """A webhook delivery's outer object: which event, when, and its payload object."""

    event: Annotated[StrictStr, Field(min_length=1)]
    created_at: Time | None = None
    created_by: Text | None = None
    payload: dict[str, Any]


class InviteeNoShowPayload(Record):
    """The payload of ``invitee_no_show.created`` / ``.deleted``."""

    uri: Text | None = None
    invitee: Uri
    created_at: Time | None = None
