"""The application factory."""

import os

import click
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import is_running_from_reloader

from calendly.scope import MODES as SCOPE_MODES
from config import ENV_SETTINGS, DefaultConfig
from mirror.problems import log_failure
from services.backups import daily_time
from services.mailer import check_mail_settings
from services.secrets import TokenVault, erasure_key, secret_key, token_encryption_key
from store import database, log_context
from store.database import db, migrate


def _parse_env(kind, raw: str):
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return kind(raw)


def load_config(app: Flask, config: dict | None) -> None:
    """Defaults, then instance/config.py, then the environment, then the test config."""
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    for name, kind in ENV_SETTINGS.items():
        raw = os.environ.get(name)
        if raw is not None and raw != "":
            app.config[name] = _parse_env(kind, raw)
    if config:
        app.config.from_mapping(config)

    _check_scope(app.config)
    # Said once, at start, like a scope no sync could follow.
    app.config["LOG_FORMAT"] = log_context.checked_format(app.config.get("LOG_FORMAT"))
    check_mail_settings(app.config)
    _check_backup_time(app.config)

    if "SQLALCHEMY_DATABASE_URI" not in (config or {}):
        default_db = "sqlite:///" + os.path.join(app.instance_path, "webinar_sync.db")
        url = app.config.get("DATABASE_URL") or default_db
        app.config["SQLALCHEMY_DATABASE_URI"] = database.normalise_database_url(url)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(app.instance_path)
    if not app.config.get("TOKEN_ENCRYPTION_KEY"):
        app.config["TOKEN_ENCRYPTION_KEY"] = token_encryption_key(app.instance_path)
    if not app.config.get("ERASURE_KEY"):
        app.config["ERASURE_KEY"] = erasure_key(app.instance_path)


def _check_scope(config) -> None:
    """Refuse to start with a CALENDLY_SCOPE no sync could follow (said once, at start)."""
    scope = (config.get("CALENDLY_SCOPE") or "").strip().lower()
    if scope and scope not in SCOPE_MODES:
        raise ValueError(f"CALENDLY_SCOPE must be one of {', '.join(SCOPE_MODES)}, not {scope!r}")
    hosts = [part for part in (config.get("CALENDLY_SCOPE_HOSTS") or "").split(",") if part.strip()]
    if scope == "hosts" and not hosts:
        raise ValueError("CALENDLY_SCOPE=hosts needs CALENDLY_SCOPE_HOSTS (emails or user URIs)")


def configure_logging(app: Flask) -> None:
    """Human-readable lines (as ever), or one JSON object per line with LOG_FORMAT=json, also
    under gunicorn, whose own loggers do not reach the root logger (tests leave it to pytest)."""
    if app.testing:
        return
    # The debugger's server keeps Flask's and Werkzeug's own lines, unless JSON is asked for.
    if app.config["LOG_FORMAT"] == "json" or not app.debug:
        log_context.configure(app.config["LOG_FORMAT"])


def _check_backup_time(config) -> None:
    """Refuse to start with a BACKUP_AT the daily backup could not follow."""
    try:
        daily_time(config.get("BACKUP_AT") or "")
    except ValueError:
        raise ValueError(f"BACKUP_AT must be a time HH:MM, not {config['BACKUP_AT']!r}") from None


class WebinarSync(Flask):
    """Flask, with a crash logged by endpoint and kind: the path and the exception's text may
    hold attendee data (the person page's address is an email)."""

    def log_exception(self, exc_info) -> None:
        exc = exc_info[1]
        log_failure(self.logger, "crash in %s [%s]", request.endpoint, request.method, exc=exc)


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app; `config` overrides everything else (tests use it)."""
    app = WebinarSync(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, config)
    configure_logging(app)

    if app.config["TRUSTED_PROXIES"]:
        # Behind N reverse proxies: take the client address and scheme from their headers.
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    app.extensions["token_vault"] = TokenVault(app.config["TOKEN_ENCRYPTION_KEY"])

    import blueprints
    from cli import register_cli
    from store import models  # noqa: F401  (registers the tables with the metadata)

    blueprints.register(app)
    register_cli(app)

    # Tests start demo mode and the scheduler themselves when they want them.
    if not app.testing:
        if serves_requests(app):
            from devtools.demo import init_demo
            from services.app_processes import init_heartbeat
            from services.scheduler import init_scheduler

            init_demo(app)
            init_heartbeat(app)
            init_scheduler(app)
        else:
            app.config["DEMO_MODE"] = False  # True only while a serving process runs the demo
    return app


def serves_requests(app: Flask) -> bool:
    """False for `flask` commands other than `run` (db upgrade, users create, calendly sync ...)
    and for the Werkzeug reloader's watcher process, which only restarts the serving one."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # gunicorn, or create_app() called from Python
        return True
    if ctx.command.name != "run":
        return False
    reload = ctx.params.get("reload")
    if reload is None:
        reload = app.debug
    return not reload or is_running_from_reloader()
