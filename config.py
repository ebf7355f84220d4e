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
    "WEB_DB_LOCK_TIMEOUT_SECONDS": float,
    "WEB_DB_STATEMENT_TIMEOUT_SECONDS": float,
    "DOWNLOAD_DB_STATEMENT_TIMEOUT_SECONDS": float,
    "SYNC_DB_WAIT_SECONDS": float,
    "SYNC_LEASE_SECONDS": float,
    "SYNC_LEASE_RENEW_SECONDS": float,
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
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0 = none).
    TRUSTED_PROXIES = 0
    # Skipped scheduler runs and webhook deliveries older than this are deleted.
    PRUNE_AFTER_DAYS = 30
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
