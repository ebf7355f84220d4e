"""Every route, signed out and signed in, with hostile values in every path and query parameter
and every form field: nothing answers 500 (or any 5xx), on SQLite and on PostgreSQL.

The routes come from `app.url_map`: a rule without a case below fails the test, so a new route
is crawled from its first day. The form fields come from the form classes in blueprints/forms.py,
mapped to their endpoints below; a form class that no endpoint maps fails too. Views that read
`request.form` themselves list their fields by hand.

Each hostile value goes into every parameter at once, and (where it gets past the login) into
one parameter at a time with harmless values in the others, so that it reaches the code behind
the other parameters' validation. POSTs go with the page's CSRF token and without one, and the
all-hostile requests once more as htmx requests.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

import pytest
from flask_wtf import FlaskForm

from blueprints import forms
from calendly.signature import SIGNATURE_HEADER, sign
from mirror.sync import running_run
from services import settings
from services.syncing import sync_from_settings
from store.outcomes import SyncStatus, SyncTrigger

# As they appear in a URL or a form body: percent-encoded where that is the point.
HOSTILE = {
    "huge": "99999999999999999999",
    "int4+1": "2147483648",  # one past PostgreSQL's integer, the type of every id
    "5000 digits": "9" * 5000,
    "negative": "-1",
    "huge negative": "-99999999999999999999",
    "NUL": "%00a%00",
    "5000 chars": "x" * 5000,
    "percent": "%25",
    "percent escapes broken": "%zz%",
    "quotes": "%27%22%60",
    "non-UTF-8": "%FF%FE%C3",
    "empty": "",
}
# A query parameter no view reads, so that routes without parameters get hostile input too.
STRAY = "crawl"
HX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Case:
    """How to call one endpoint: its parameters, each with a harmless value."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: type[FlaskForm] | None = None
    # Fields of views that read request.form themselves (no form class).
    fields: dict[str, str] = field(default_factory=dict)
    # The view reads the raw request body (the webhook).
    body: bool = False


WEBINAR_FILTER = {"view": "past", "type": "https://api.calendly.com/event_types/X", "page": "1"}
INSIGHTS_FILTER = {"period": "custom", "from": "2026-01-01", "to": "2026-03-31",
                   "type": "https://api.calendly.com/event_types/X"}  # fmt: skip
SUBSCRIPTION = "0a0b0c0d-0000-4000-8000-000000000000"
CASES = {
    "static": Case(path={"filename": "app.css"}),
    "auth.login": Case(query={"next": "/"}, form=forms.LoginForm),
    "auth.setup": Case(form=forms.SetupForm),
    "auth.logout": Case(),
    "auth.second_step": Case(form=forms.CodeForm),
    "auth.set_language": Case(fields={"lang": "en", "next": "/"}),
    "dashboard.index": Case(query=WEBINAR_FILTER),
    "dashboard.export_csv": Case(query=WEBINAR_FILTER),
    "dashboard.export_xlsx": Case(query=WEBINAR_FILTER),
    "insights.index": Case(query=INSIGHTS_FILTER),
    "insights.download": Case(
        path={"chart_id": "lead-time", "extension": "csv"}, query=INSIGHTS_FILTER
    ),
    "attendees.webinar": Case(path={"event_id": "1"}),
    "attendees.webinar_csv": Case(path={"event_id": "1"}),
    "attendees.webinar_xlsx": Case(path={"event_id": "1"}),
    "attendees.search": Case(query={"q": "person"}),
    "attendees.person": Case(path={"email": "someone@example.org"}),
    "attendees.mark_no_show": Case(path={"attendee_id": "1"}),
    "attendees.undo_no_show": Case(path={"attendee_id": "1"}),
    "attendance.mark": Case(path={"event_id": "1"}, fields={"recorded": "1"}),
    "attendance.import_form": Case(path={"event_id": "1"}),
    # A urlencoded body carries no file: the view says to choose one.
    "attendance.preview": Case(path={"event_id": "1"}),
    "attendance.confirm": Case(path={"event_id": "1"}, fields={"token": "not-a-token"}),
    "attendees.export_person_confirm": Case(query={"email": "someone@example.org"}),
    "attendees.export_person": Case(
        fields={"email": "someone@example.org", "format": "json", "confirm": "yes"}
    ),
    "attendees.erase_person_confirm": Case(query={"email": "someone@example.org"}),
    "attendees.erase_person": Case(
        fields={"email": "someone@example.org", "confirm_email": "someone@example.org"}
    ),
    "settings.index": Case(),
    "settings.save_token": Case(form=forms.TokenForm),
    "settings.remove_token": Case(),
    "settings.save_event_types": Case(form=forms.EventTypesForm),
    "settings.save_scope": Case(form=forms.ScopeForm),
    "settings.save_preferences": Case(form=forms.PreferencesForm),
    "settings.save_retention": Case(form=forms.RetentionForm),
    "sync.status": Case(query={"run": "1"}),
    "sync.start": Case(),
    "sync.runs": Case(query={"page": "1"}),
    "webhooks.receive": Case(body=True),
    "webhooks.index": Case(),
    "webhooks.create": Case(form=forms.SubscriptionForm),
    "webhooks.delete": Case(path={"uuid": SUBSCRIPTION}),
    "webhooks.recreate": Case(path={"uuid": SUBSCRIPTION}, fields={"origin": "dashboard"}),
    "webhooks.warning": Case(),
    "account.index": Case(),
    "account.sign_out_everywhere": Case(),
    "account.start_two_factor": Case(),
    "account.confirm_two_factor": Case(form=forms.CodeForm),
    "account.disable_two_factor": Case(form=forms.PasswordCheckForm),
    "account.new_recovery_codes": Case(form=forms.PasswordCheckForm),
    "account.claim": Case(form=forms.OwnLoginForm),
    # Account 1 is TARGET (crawl_app makes it first), never the crawler's own.
    "accounts.index": Case(),
    "accounts.create": Case(form=forms.NewAccountForm),
    "accounts.change_role": Case(path={"user_id": "1"}, form=forms.RoleForm),
    "accounts.disable": Case(path={"user_id": "1"}),
    "accounts.enable": Case(path={"user_id": "1"}),
    "accounts.unlock": Case(path={"user_id": "1"}),
    "accounts.reset_password": Case(path={"user_id": "1"}, form=forms.NewPasswordForm),
    "accounts.delete": Case(path={"user_id": "1"}),
    "audit.index": Case(query={"actor": "admin@example.org", "action": "signed_in", "page": "1"}),
    "operations.healthz": Case(),
    "operations.readyz": Case(query={"verbose": "1"}),
    "operations.prometheus_metrics": Case(),
}
# Harmless values of the form classes' fields, by field name (never a working login or token).
FORM_VALUES = {
    "email": "crawler@example.org",
    "password": "not the password",
    "confirm": "not the password",
    "next": "/",
    "token": "not-a-token",
    "event_types": "https://api.calendly.com/event_types/X",
    "all_types": "",
    "display_timezone": "Europe/Berlin",
    "lookback_days": "14",
    "daily_time": "06:00",
    "interval_minutes": "0",
    "base_url": "https://webinare.example.org",
    "code": "123456",
    "role": "viewer",
    "mode": "me",
    "hosts": "https://api.calendly.com/users/X",
    "retention_months": "12",
    "keep_unlimited": "",
    "confirm_unlimited": "",
}
SIGNING_KEY = "crawl-signing-key"
BLUEPRINTS = (
    "static",
    "auth",
    "dashboard",
    "attendees",
    "attendance",
    "insights",
    "settings",
    "sync",
    "webhooks",
    "account",
    "accounts",
    "audit",
    "operations",
)
PUBLIC = {
    "static",
    "auth.login",
    "auth.second_step",
    "auth.setup",
    "auth.set_language",
    "webhooks.receive",
    "operations.healthz",
    "operations.readyz",
    "operations.prometheus_metrics",
}


@dataclass
class Call:
    method: str
    path: str
    query: str
    body: bytes | None = None
    content_type: str | None = None
    headers: dict = field(default_factory=dict)
    label: str = ""
    # Every parameter hostile at once (these also go without a CSRF token).
    everything: bool = False


def form_fields(app, form_class) -> dict[str, str]:
    """The form's fields (CSRF aside) with their harmless values."""
    with app.test_request_context():
        names = [name for name in form_class(meta={"csrf": False})._fields if name != "csrf_token"]
    missing = [name for name in names if name not in FORM_VALUES]
    assert not missing, f"{form_class.__name__}: give {missing} a harmless value in FORM_VALUES"
    return {name: FORM_VALUES[name] for name in names}


def encode(params: dict[str, str]) -> str:
    # Values are already in their URL form; names are plain.
    return "&".join(f"{quote(name)}={value}" for name, value in params.items())


def build_path(rule, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values[m[1]], rule.rule)


def calls(app, rule, hostile: str, label: str, *, one_at_a_time: bool) -> list[Call]:
    """The requests that put `hostile` into the parameters of `rule`'s endpoint."""
    case = CASES[rule.endpoint]
    fields = {**(form_fields(app, case.form) if case.form else {}), **case.fields}
    params = [("path", name) for name in case.path]
    params += [("query", name) for name in case.query]
    params += [("form", name) for name in fields]
    benign = {"path": dict(case.path), "query": dict(case.query), "form": fields}

    variants = [({kind: dict.fromkeys(names, hostile) for kind, names in benign.items()}, "all")]
    if one_at_a_time:
        for kind, name in params:
            values = {k: dict(v) for k, v in benign.items()}
            values[kind][name] = hostile
            variants.append((values, f"{kind} {name}"))
    out = []
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        for values, which in variants:
            query = {**values["query"]}
            if which == "all":
                query[STRAY] = hostile
            call = Call(method, build_path(rule, values["path"]), encode(query))
            call.label = f"{method} {rule.endpoint} [{which} = {label}]"
            call.everything = which == "all"
            if method == "POST" and case.body:
                # Signed, so that it gets past the signature check to the parsing.
                call.body, call.content_type = unquote_to_bytes(hostile), "application/json"
                call.headers = {SIGNATURE_HEADER: sign(call.body, SIGNING_KEY)}
            elif method == "POST":
                call.body = encode(values["form"]).encode("latin-1")
                call.content_type = "application/x-www-form-urlencoded"
            out.append(call)
            if which == "all":
                htmx = {**call.headers, **HX}
                out.append(
                    Call(**{**call.__dict__, "headers": htmx, "label": call.label + " htmx"})
                )
    return out


class Crawler:
    """Sends the calls with a test client and remembers every answer of 5xx."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.failures: list[str] = []
        self.sent = 0

    def verdict(self) -> None:
        failed = "\n".join(self.failures)
        assert not self.failures, f"{len(self.failures)} of {self.sent} requests failed:\n{failed}"

    def send(self, call: Call, csrf: str | None):
        body = call.body
        if body is not None and csrf is not None and call.content_type.endswith("urlencoded"):
            body = f"csrf_token={quote(csrf)}&".encode() + body
        self.sent += 1
        response = self.client.open(
            call.path,
            method=call.method,
            query_string=call.query,
            data=body,
            content_type=call.content_type,
            headers=call.headers,
        )
        # A workbook is binary: only a text answer can show a stack trace.
        text = response.get_data().decode("utf-8", errors="replace")
        if response.status_code >= 500 or "Traceback" in text:
            self.failures.append(f"{response.status_code} {call.label}")
        return response


def csrf_of(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


@pytest.fixture
def crawl_app(make_app, module_sim):
    """Connected to the simulator through a token saved on the Settings page (so that the token
    forms do their work), with a few synced webinars; crashes answer 500 as in production."""
    module_sim.reset(n_events=12, max_invitees=3)
    app = make_app(
        PROPAGATE_EXCEPTIONS=False,
        CALENDLY_API_BASE_URL=module_sim.base_url,
        CALENDLY_MAX_RETRIES=0,
        CALENDLY_BACKOFF_BASE=0.01,
        CALENDLY_BACKOFF_CAP=0.02,
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        CALENDLY_WEBHOOK_SIGNING_KEY=SIGNING_KEY,
    )
    with app.app_context():
        add_target()
        connect(module_sim)
        assert sync_from_settings(SyncTrigger.CLI).status == SyncStatus.SUCCEEDED
    yield app
    with app.app_context():  # never drop the tables under a sync that "Sync now" started
        deadline = time.monotonic() + 60
        while running_run() is not None and time.monotonic() < deadline:
            time.sleep(0.05)


def forget_failed_logins(app) -> None:
    from store.database import db
    from store.models import LoginFailure

    with app.app_context():
        db.session.execute(db.delete(LoginFailure))
        db.session.commit()


TARGET = "target@example.org"


def add_target() -> None:
    """The account the accounts screen's routes are crawled on: account 1."""
    from services import accounts

    assert accounts.create_admin(TARGET, "target's long password", "viewer").id == 1


def connect(sim) -> None:
    settings.save_calendly_token(sim.token)
    settings.save_account(sim.user)


def rules(app):
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.endpoint, rule.rule))


def test_every_rule_and_every_form_has_a_case(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {endpoint.split(".")[0] for endpoint in endpoints} <= set(BLUEPRINTS)
    assert endpoints - set(CASES) == set(), "routes without a crawl case"
    assert set(CASES) - endpoints == set(), "crawl cases of routes that are gone"
    for rule in app.url_map.iter_rules():
        assert set(CASES[rule.endpoint].path) == set(rule.arguments), rule.rule
    form_classes = {
        value
        for value in vars(forms).values()
        if isinstance(value, type) and issubclass(value, FlaskForm) and value is not FlaskForm
    }
    mapped = {case.form for case in CASES.values() if case.form is not None}
    assert form_classes - mapped == set(), "form classes that no crawl case posts"


def test_before_the_first_account_the_public_routes_never_fail(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False, PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    crawler = Crawler(app, app.test_client())
    token = csrf_of(crawler.client, "/setup")
    for rule in rules(app):
        if rule.endpoint not in PUBLIC:
            continue
        for label, hostile in HOSTILE.items():
            for call in calls(app, rule, hostile, label, one_at_a_time=True):
                crawler.send(call, token)
                if call.method == "POST" and call.everything:
                    crawler.send(call, None)
    with app.app_context():
        from services import accounts

        assert not accounts.has_admin(), "a hostile value created an account"
    crawler.verdict()


def test_signed_out_no_route_fails(crawl_app, admin_user):
    app = crawl_app
    crawler = Crawler(app, app.test_client())
    token = csrf_of(crawler.client, "/login")
    for rule in rules(app):
        for label, hostile in HOSTILE.items():
            # Behind the login only the all-hostile request gets anywhere (the login page).
            public = rule.endpoint in PUBLIC
            for call in calls(app, rule, hostile, label, one_at_a_time=public):
                crawler.send(call, token)
                if call.method == "POST" and call.everything:
                    crawler.send(call, None)
    crawler.verdict()


# Calls that end the crawler's session: it signs in again after them.
SIGN_OUTS = {"auth.logout", "account.sign_out_everywhere"}


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_signed_in_no_route_fails(crawl_app, admin_client, module_sim, blueprint):
    app = crawl_app
    crawler = Crawler(app, admin_client(app))
    token = csrf_of(crawler.client, "/settings")
    for rule in rules(app):
        if rule.endpoint.split(".")[0] != blueprint:
            continue
        for label, hostile in HOSTILE.items():
            for call in calls(app, rule, hostile, label, one_at_a_time=True):
                tokens = [token, None] if call.method == "POST" and call.everything else [token]
                for csrf in tokens:
                    response = crawler.send(call, csrf)
                    # Undo what a harmless part of the call changed: stay signed in and connected.
                    if rule.endpoint in SIGN_OUTS and response.status_code < 400:
                        forget_failed_logins(app)  # the hostile passwords counted as guesses
                        crawler.client = admin_client(app)
                        token = csrf_of(crawler.client, "/settings")
                    if rule.endpoint == "settings.remove_token" and response.status_code < 400:
                        with app.app_context():
                            connect(module_sim)
                    if rule.endpoint == "accounts.delete" and response.status_code < 400:
                        with app.app_context():
                            _restore_target()
    crawler.verdict()


def _restore_target() -> None:
    # Under id 1 again, so that the next calls find it.
    from store.database import db
    from store.models import AdminUser

    db.session.add(AdminUser(id=1, email=TARGET, password_hash="x", role="viewer"))
    db.session.commit()


# -- a viewer (Ansicht) reaches exactly its routes ----------------------------------------------

# What a viewer may reach besides the public routes: reading webinars, attendee lists, search
# and person pages, their downloads, and its own login. Any other route, also one added later,
# answers a viewer 403.
VIEWER_ENDPOINTS = {
    "dashboard.index",
    "insights.index",
    "insights.download",
    "dashboard.export_csv",
    "attendees.webinar",
    "attendees.webinar_csv",
    "attendees.search",
    "attendees.person",
    "auth.logout",
    "account.index",
    "account.sign_out_everywhere",
    "account.start_two_factor",
    "account.confirm_two_factor",
    "account.disable_two_factor",
    "account.new_recovery_codes",
    "account.claim",
}
VIEWER = "viewer@example.org"
VIEWER_PASSWORD = "the viewer's long password"


def viewer_may_reach(rule) -> bool:
    """The rule of the issue: the endpoints above, every download of a list (CSV, XLSX)."""
    download = rule.rule.endswith((".csv", ".xlsx")) and "GET" in rule.methods
    return rule.endpoint in PUBLIC | VIEWER_ENDPOINTS or download


def viewer_client(app):
    from services import accounts
    from store.database import db
    from store.models import AdminUser

    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        if db.session.scalar(db.select(AdminUser.id).where(AdminUser.email == VIEWER)) is None:
            accounts.create_admin(VIEWER, VIEWER_PASSWORD, "viewer")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    token = csrf_of(client, "/login")
    data = {"email": VIEWER, "password": VIEWER_PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 303
    return client


def harmless_calls(app, rule) -> list[Call]:
    """`rule`'s requests with every parameter harmless, as the pages send them."""
    case = CASES[rule.endpoint]
    fields = {**(form_fields(app, case.form) if case.form else {}), **case.fields}
    out = []
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        call = Call(method, build_path(rule, case.path), encode(case.query), label=method)
        call.label = f"{method} {rule.endpoint} [harmless]"
        if method == "POST" and not case.body:
            call.body = encode(fields).encode("latin-1")
            call.content_type = "application/x-www-form-urlencoded"
        out.append(call)
    return out


def test_a_viewer_gets_403_exactly_where_the_rule_says(crawl_app):
    app = crawl_app
    crawler = Crawler(app, viewer_client(app))
    token = csrf_of(crawler.client, "/")
    wrong = []
    for rule in rules(app):
        if rule.endpoint in PUBLIC:
            continue
        allowed = viewer_may_reach(rule)
        hostile = [
            call
            for label, value in HOSTILE.items()
            for call in calls(app, rule, value, label, one_at_a_time=False)
        ]
        for call in [*harmless_calls(app, rule), *hostile]:
            response = crawler.send(call, token)
            status = response.status_code
            if "[harmless]" in call.label:
                if allowed == (status == 403):
                    wrong.append(f"{status} {call.label}")
                if status == 403:
                    assert "Rolle Ansicht" in response.get_data(as_text=True)
            elif not allowed and status < 400:
                wrong.append(f"{status} {call.label}")
            if rule.endpoint in SIGN_OUTS and status < 400:
                forget_failed_logins(app)
                crawler.client = viewer_client(app)
                token = csrf_of(crawler.client, "/")
    crawler.verdict()
    assert not wrong, "viewer answers against the rule:\n" + "\n".join(wrong)
