"""The web layer: one blueprint per screen area, and `register(app)`, which wires them and the
web extensions (login, CSRF, Babel), the login guard, security headers, error pages and
template filters into the app."""

from flask import Flask

from blueprints import (
    account,
    accounts,
    attendance,
    attendees,
    audit,
    auth,
    dashboard,
    errors,
    filters,
    guard,
    i18n,
    inputs,
    insights,
    operations,
    request_ids,
    settings,
    sync,
    waits,
    webhooks,
)
from blueprints.extensions import babel, csrf

BLUEPRINTS = (
    auth.bp,
    account.bp,
    accounts.bp,
    audit.bp,
    dashboard.bp,
    attendees.bp,
    attendance.bp,
    insights.bp,
    settings.bp,
    sync.bp,
    webhooks.bp,
    operations.bp,
)


def register(app: Flask) -> None:
    """Wire request ids, the input checks and database waits, CSRF, languages, the login guard,
    every blueprint, filters and error pages."""
    # First: every request's lines carry its id, also those of a request refused at once.
    request_ids.init_app(app)
    # The int converter must be in place before any rule is added, and hostile input and the
    # request's database limits come before anything that may query.
    inputs.init_app(app)
    waits.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    guard.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    filters.init_app(app)
    errors.init_app(app)
