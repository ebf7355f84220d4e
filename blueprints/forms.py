"""Every Flask-WTF form of the app: sign-in and setup, the account page, the Settings page,
webhook subscriptions."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from services import accounts, settings
from services import webhook_subscriptions as hooks
from store.models import Role

LOOKBACK_RANGE = (1, 365)
# An interval of 0 turns the extra interval sync off; shorter than 5 minutes would only burn quota.
INTERVAL_RANGE = (5, 1440)


@cache
def timezone_names() -> list[str]:
    """Every IANA time zone name the system knows, sorted (for the field's suggestions)."""
    return sorted(available_timezones())


def _valid_timezone(_form, field) -> None:
    field.data = (field.data or "").strip()
    if not settings.is_valid_timezone(field.data):
        raise ValidationError(_l("Unknown time zone. Use an IANA name such as Europe/Berlin."))


def _valid_interval(_form, field) -> None:
    low, high = INTERVAL_RANGE
    if field.data is not None and field.data != 0 and not low <= field.data <= high:
        raise ValidationError(
            _l("Enter 0 (off) or a number of minutes from %(low)d to %(high)d.", low=low, high=high)
        )


def _retention_fields(id_prefix: str):
    """The period, the "without limit" choice and its confirmation, with ids of their own per
    form (the Settings page shows the token form and the retention form at once)."""
    low, high = settings.RETENTION_RANGE
    return (
        IntegerField(
            _l("Delete attendee data this many months after the webinar"),
            id=f"{id_prefix}retention_months",
            default=settings.DEFAULT_RETENTION_MONTHS,
            render_kw={"min": low, "max": high, "type": "number"},
        ),
        BooleanField(
            _l("Keep attendee data without a time limit"), id=f"{id_prefix}keep_unlimited"
        ),
        BooleanField(
            _l(
                "I confirm: attendee data is to be kept without a time limit, although data "
                "protection expects a fixed period."
            ),
            id=f"{id_prefix}confirm_unlimited",
        ),
    )


class RetentionFields:
    """How long attendee data is kept: months after the webinar (12 suggested), or, only as a
    deliberate choice confirmed with a second tick, without limit. A blank field is no choice.
    Shared by the retention form and the token form (connecting Calendly asks for it)."""

    retention_months, keep_unlimited, confirm_unlimited = _retention_fields("")

    # False: a post without the fields (not a blank one) leaves the stored choice as it is.
    retention_required = True

    def retention_given(self) -> bool:
        """Whether the post carries a retention choice at all."""
        return bool(self.retention_months.raw_data) or bool(self.keep_unlimited.data)

    def validate_retention_months(self, field) -> None:
        """A number of months, unless keeping without limit was chosen and confirmed."""
        if self.keep_unlimited.data or not (self.retention_required or self.retention_given()):
            field.errors.clear()  # the months do not count then, blank or not
            return
        low, high = settings.RETENTION_RANGE
        if field.data is None or not low <= field.data <= high:
            field.errors.clear()  # "Not a valid integer value" says less than this
            raise ValidationError(
                _l("Enter a number of months from %(low)d to %(high)d.", low=low, high=high)
            )

    def validate_confirm_unlimited(self, field) -> None:
        """Keeping without limit counts only when confirmed."""
        if self.keep_unlimited.data and not field.data:
            raise ValidationError(
                _l("Tick the confirmation to keep attendee data without a time limit.")
            )

    def chosen_months(self) -> int | None:
        """The validated choice: months, or None for keeping without limit."""
        return None if self.keep_unlimited.data else int(self.retention_months.data)

    def show_stored(self) -> None:
        """Fill the fields with the stored choice (the suggested period before any)."""
        months = settings.retention_months()
        self.keep_unlimited.data = months is None and settings.retention_chosen()
        self.retention_months.data = months or settings.DEFAULT_RETENTION_MONTHS


class RetentionForm(RetentionFields, FlaskForm):
    """The retention period on the Settings page."""


class TokenForm(RetentionFields, FlaskForm):
    """Paste a Calendly Personal Access Token, and choose how long attendee data is kept."""

    retention_months, keep_unlimited, confirm_unlimited = _retention_fields("token-")
    retention_required = False

    token = PasswordField(
        _l("Personal Access Token"),
        validators=[DataRequired(_l("Paste the token.")), Length(max=4096)],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EventTypesForm(FlaskForm):
    """Which of the account's event types the sync mirrors (choices are set by the view)."""

    event_types = MultiCheckboxField(_l("Event types to sync"), choices=[])
    all_types = BooleanField(_l("All event types, also ones created later"))

    def validate_event_types(self, field) -> None:
        """Nothing ticked is no choice: the sync would copy nothing."""
        if not field.data and not self.all_types.data:
            raise ValidationError(_l("Tick at least one event type, or all event types."))


class ScopeForm(FlaskForm):
    """Whose webinars the sync mirrors (the view offers only what the token may read)."""

    mode = SelectField(_l("Webinars to sync"), choices=[], validate_choice=False)
    hosts = MultiCheckboxField(_l("Hosts"), choices=[], validate_choice=False)
    # The number of webinars the admin agreed to remove when narrowing; empty until asked.
    confirm = HiddenField()

    def validate_hosts(self, field) -> None:
        """ "These hosts" without a host would mirror nothing."""
        if self.mode.data == "hosts" and not field.data:
            raise ValidationError(_l("Tick at least one host."))


class PreferencesForm(FlaskForm):
    """Display time zone, sync look-back and the automatic sync schedule."""

    display_timezone = StringField(
        _l("Display time zone"),
        validators=[DataRequired(_l("Enter a time zone.")), _valid_timezone],
        render_kw={"list": "timezone-names", "autocomplete": "off"},
    )
    lookback_days = IntegerField(
        _l("Sync look-back (days)"),
        validators=[
            InputRequired(_l("Enter a number of days.")),
            NumberRange(*LOOKBACK_RANGE, message=_l("Enter a number of days from 1 to 365.")),
        ],
        render_kw={"min": LOOKBACK_RANGE[0], "max": LOOKBACK_RANGE[1], "type": "number"},
    )
    daily_time = TimeField(
        _l("Daily sync at"),
        format="%H:%M",
        validators=[InputRequired(_l("Enter a time such as 06:00."))],
    )
    interval_minutes = IntegerField(
        _l("Also sync every (minutes, 0 = off)"),
        default=0,
        validators=[InputRequired(_l("Enter 0 or a number of minutes.")), _valid_interval],
        render_kw={"min": 0, "max": INTERVAL_RANGE[1], "type": "number"},
    )


class LoginForm(FlaskForm):
    """Sign in with email and password; `next` is where to go afterwards."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SetupForm(FlaskForm):
    """The first admin account."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=1024,
                message=_l(
                    "The password needs at least %(n)d characters.", n=accounts.MIN_PASSWORD_LENGTH
                ),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class NewAccountForm(FlaskForm):
    """An account an admin adds on the accounts screen, with its role."""

    email = SetupForm.email
    password = SetupForm.password
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(role.value, label) for role, label in accounts.ROLE_LABELS.items()],
        default=Role.VIEWER.value,
    )


class NewPasswordForm(FlaskForm):
    """A new password an admin sets for another account."""

    password = NewAccountForm.password


class RoleForm(FlaskForm):
    """Another role for an account."""

    role = NewAccountForm.role


class OwnLoginForm(SetupForm):
    """The email and password an admin chooses for the account they took over from demo mode."""


class CodeForm(FlaskForm):
    """A six-digit code from the authenticator app, or (at sign-in) a recovery code."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the code.")), Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )


class PasswordCheckForm(FlaskForm):
    """The account's password again, before a change to its second factor."""

    password = PasswordField(
        _l("Your password"), validators=[DataRequired(_l("Enter your password.")), Length(max=1024)]
    )


def _https_address(_form, field) -> None:
    try:
        field.data = hooks.callback_url_for(field.data)[: -len(hooks.WEBHOOK_PATH)]
    except ValueError:
        raise ValidationError(
            _l(
                "Enter the app's public address starting with https://, e.g. https://webinare.example.org"
            )
        ) from None


class SubscriptionForm(FlaskForm):
    """The public address of this app, below which Calendly posts its deliveries."""

    base_url = StringField(
        _l("Public address of this app"),
        validators=[DataRequired(), Length(max=300), _https_address],
    )
