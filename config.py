"""Non-secret defaults. Secrets come from the environment or are generated into instance/."""

# Environment variables read by create_app(), with the type each one is parsed as.
ENV_SETTINGS = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "CALENDLY_API_BASE_URL": str,
    "CALENDLY_TOKEN": str,
    "CALENDLY_EVENT_TYPES": str,
    "CALENDLY_SCOPE": str,
    "CALENDLY_SCOPE_HOSTS": str,
    "SYNC_LOOKBACK_DAYS": int,
    "TOKEN_ENCRYPTION_KEY": str,
    "ERASURE_KEY": str,
    "SCHEDULER_ENABLED": bool,
    "CALENDLY_WEBHOOK_SIGNING_KEY": str,
    "DISPLAY_TIMEZONE": str,
    "DEMO_MODE": bool,
    "TRUSTED_PROXIES": int,
    "SESSION_LIFETIME_MINUTES": int,
    "SESSION_IDLE_MINUTES": int,
    "SESSION_COOKIE_SECURE": bool,
    "REQUIRE_TWO_FACTOR": bool,
    "PRUNE_AFTER_DAYS": int,
    "AUDIT_KEEP_DAYS": int,
    "WEB_DB_LOCK_TIMEOUT_SECONDS": float,
    "WEB_DB_STATEMENT_TIMEOUT_SECONDS": float,
    "DOWNLOAD_DB_STATEMENT_TIMEOUT_SECONDS": float,
    "SYNC_DB_WAIT_SECONDS": float,
    "SYNC_LEASE_SECONDS": float,
    "SYNC_LEASE_RENEW_SECONDS": float,
    "LOG_FORMAT": str,
    "METRICS_TOKEN": str,
    "PUBLIC_BASE_URL": str,
    "ALERT_EMAILS": str,
    "ALERT_SYNC_STALE_HOURS": float,
    "ALERT_CHECK_SECONDS": float,
    "SMTP_HOST": str,
    "SMTP_PORT": int,
    "SMTP_SECURITY": str,
    "SMTP_USER": str,
    "SMTP_PASSWORD": str,
    "SMTP_SENDER": str,
    "SMTP_TIMEOUT_SECONDS": float,
    "BACKUP_DIR": str,
    "BACKUP_KEEP": int,
    "BACKUP_AT": str,
    "BACKUP_ENCRYPTION_KEY": str,
    "PG_BIN_DIR": str,
}


class DefaultConfig:
    CALENDLY_API_BASE_URL = "https://api.calendly.com"
    CALENDLY_TOKEN = ""
    CALENDLY_EVENT_TYPES = ""
    # Whose webinars are synced: me | organization | hosts (then CALENDLY_SCOPE_HOSTS: emails
    # or user URIs, comma-separated). Empty: the Settings page's choice.
    CALENDLY_SCOPE = ""
    CALENDLY_SCOPE_HOSTS = ""
    # (connect, read) seconds for every Calendly call.
    CALENDLY_TIMEOUT = (5.0, 30.0)
    CALENDLY_MAX_RETRIES = 4
    # First retry delay in seconds; doubles per retry (with jitter) up to the cap.
    CALENDLY_BACKOFF_BASE = 0.5
    CALENDLY_BACKOFF_CAP = 20.0
    SYNC_LOOKBACK_DAYS = 14
    # A crashed sync stops blocking others after this long; a live one renews its lease every
    # SYNC_LEASE_RENEW_SECONDS from a heartbeat thread, whatever it is waiting for.
    SYNC_LEASE_SECONDS = 90
    SYNC_LEASE_RENEW_SECONDS = 20
    # How long a sync waits for a busy (locked) database before it gives up.
    SYNC_DB_WAIT_SECONDS = 60
    # How long a web request waits for a lock, and for each statement (PostgreSQL; SQLite has
    # only the first), before it answers 503: well within gunicorn's 30 s worker timeout.
    WEB_DB_LOCK_TIMEOUT_SECONDS = 5
    WEB_DB_STATEMENT_TIMEOUT_SECONDS = 15
    # CSV downloads of many webinars may run longer statements (raise gunicorn's --timeout too).
    DOWNLOAD_DB_STATEMENT_TIMEOUT_SECONDS = 120
    DISPLAY_TIMEZONE = "Europe/Berlin"
    SCHEDULER_ENABLED = False
    # How often each process re-reads the schedule from the settings (changes made elsewhere).
    SCHEDULER_WATCH_SECONDS = 30
    # Tests only: tick every N seconds instead of the settings' schedule.
    SCHEDULER_TEST_INTERVAL_SECONDS = None
    DEMO_MODE = False
    # The bearer token a Prometheus scrape of /metrics must send; empty: /metrics is off (404).
    METRICS_TOKEN = ""
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0 = none);
    # from 1 on, an X-Request-ID header they send becomes the request's id in the logs.
    TRUSTED_PROXIES = 0
    # "text": human-readable lines; "json": one JSON object per line (store/log_context.py).
    LOG_FORMAT = "text"
    # Skipped scheduler runs and webhook deliveries older than this are deleted.
    PRUNE_AFTER_DAYS = 30
    # Audit log entries older than this are deleted (with the pruning above).
    AUDIT_KEEP_DAYS = 730
    # Set by demo mode to the bundled simulator's token and address; the token is used only when
    # no real token exists, and only it is sent to that address.
    DEMO_CALENDLY_TOKEN = ""
    DEMO_API_BASE_URL = ""
    # Set by demo mode to the demo admin's {email, password}, which the login page then shows.
    DEMO_LOGIN = None
    # Statements' parameters are attendee data: never put them into an error (or a log line).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # The session cookie is Secure on every https request anyway (also behind TRUSTED_PROXIES);
    # True makes it Secure on plain http too (for a proxy that does not forward the scheme).
    SESSION_COOKIE_SECURE = False
    # A sign-in lasts at most this long, however busy, and ends after this long without a request.
    SESSION_LIFETIME_MINUTES = 12 * 60
    SESSION_IDLE_MINUTES = 2 * 60
    # Every account must set up a second factor (TOTP) right after its first password step.
    REQUIRE_TWO_FACTOR = False
    # The app's public address (https://webinare.example.org), for links in emails: a background
    # job has no request to take the host from. Empty: emails name the page's path only.
    PUBLIC_BASE_URL = ""
    # Who hears about trouble (services/alerts.py): these addresses (comma-separated), else every
    # enabled admin account. Without SMTP_HOST, alerts stay on the dashboard.
    ALERT_EMAILS = ""
    # No sync succeeded for this long: an alert (26 h = a missed daily sync, with some slack).
    ALERT_SYNC_STALE_HOURS = 26
    # How often each scheduler process looks for trouble (also after every sync).
    ALERT_CHECK_SECONDS = 300
    SMTP_HOST = ""
    SMTP_PORT = None  # 25, 587 or 465 by SMTP_SECURITY
    SMTP_SECURITY = "starttls"  # none | starttls | tls
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_SENDER = ""  # default: SMTP_USER if it is an address, else webinar-sync@<this host>
    SMTP_TIMEOUT_SECONDS = 20
    # Backups (`flask backup create`, and daily at BACKUP_AT "HH:MM" in DISPLAY_TIMEZONE when
    # set, by the scheduler): into BACKUP_DIR (empty: instance/backups), the newest BACKUP_KEEP
    # of the daily ones kept. BACKUP_ENCRYPTION_KEY (Fernet) encrypts them; PG_BIN_DIR holds
    # pg_dump and pg_restore when they are not on PATH.
    BACKUP_DIR = ""
    BACKUP_KEEP = 7
    BACKUP_AT = ""
    BACKUP_ENCRYPTION_KEY = ""
    PG_BIN_DIR = ""
    BABEL_DEFAULT_LOCALE = "de"
    LANGUAGES = ("de", "en")
