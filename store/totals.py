"""What the mirror holds in total (webinars, and attendees by the events' own counters), and
how long its longest webinar lasts, kept in one row by triggers on the events table: every
writer (sync, webhooks, deletes) updates it in its own transaction. The status panel reads one
row instead of summing every event, and the dashboard's upcoming tab starts its walk of the
start times at now minus the longest webinar instead of at the first webinar ever held.

The longest duration only grows (a deleted webinar leaves it as it was): a bound, not a fact.
"""

from __future__ import annotations

# The row that holds the totals, and how it is (re)computed from the events.
ROW_ID = 1
SQLITE_SECONDS = (
    "CAST(round((julianday({0}.end_time) - julianday({0}.start_time)) * 86400) AS INTEGER)"
)
POSTGRESQL_SECONDS = "CAST(ceil(extract(epoch FROM {0}.end_time - {0}.start_time)) AS INTEGER)"


def _fill(seconds: str) -> str:
    longest = seconds.format("calendly_events")
    return (
        "INSERT INTO mirror_totals (id, webinars, attendees, longest_seconds)"
        " SELECT 1, count(*), coalesce(sum(invitees_total), 0),"
        f" coalesce(max({longest}), 0) FROM calendly_events"
    )


SQLITE_CREATE = (
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_insert AFTER INSERT ON calendly_events BEGIN"
    " UPDATE mirror_totals SET webinars = webinars + 1,"
    " attendees = attendees + coalesce(new.invitees_total, 0),"
    f" longest_seconds = max(longest_seconds, coalesce({SQLITE_SECONDS.format('new')}, 0)); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_delete AFTER DELETE ON calendly_events BEGIN"
    " UPDATE mirror_totals SET webinars = webinars - 1,"
    " attendees = attendees - coalesce(old.invitees_total, 0); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_update AFTER UPDATE OF invitees_total"
    " ON calendly_events WHEN old.invitees_total IS NOT new.invitees_total BEGIN"
    " UPDATE mirror_totals SET attendees = attendees"
    " + coalesce(new.invitees_total, 0) - coalesce(old.invitees_total, 0); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_times AFTER UPDATE OF start_time, end_time"
    " ON calendly_events BEGIN UPDATE mirror_totals SET longest_seconds ="
    f" {SQLITE_SECONDS.format('new')}"
    f" WHERE longest_seconds < {SQLITE_SECONDS.format('new')}; END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS mirror_totals_insert",
    "DROP TRIGGER IF EXISTS mirror_totals_delete",
    "DROP TRIGGER IF EXISTS mirror_totals_update",
    "DROP TRIGGER IF EXISTS mirror_totals_times",
)
# Unchanged counters do not touch the row: a sync rewrites every event it sees, and webhooks
# should not wait for its lock without need.
POSTGRESQL_CREATE = (
    f"""CREATE OR REPLACE FUNCTION mirror_totals_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE mirror_totals SET webinars = webinars + 1,
                attendees = attendees + coalesce(NEW.invitees_total, 0),
                longest_seconds = greatest(longest_seconds, {POSTGRESQL_SECONDS.format("NEW")});
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE mirror_totals SET webinars = webinars - 1,
                attendees = attendees - coalesce(OLD.invitees_total, 0);
        ELSE
            IF NEW.invitees_total IS DISTINCT FROM OLD.invitees_total THEN
                UPDATE mirror_totals SET attendees = attendees
                    + coalesce(NEW.invitees_total, 0) - coalesce(OLD.invitees_total, 0);
            END IF;
            UPDATE mirror_totals SET longest_seconds = {POSTGRESQL_SECONDS.format("NEW")}
                WHERE longest_seconds < {POSTGRESQL_SECONDS.format("NEW")};
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER mirror_totals_count AFTER INSERT OR DELETE"
    " OR UPDATE OF invitees_total, start_time, end_time"
    " ON calendly_events FOR EACH ROW EXECUTE FUNCTION mirror_totals_count()",
)
POSTGRESQL_DROP = ("DROP FUNCTION IF EXISTS mirror_totals_count() CASCADE",)


def refill_statements(dialect: str) -> tuple[str, ...]:
    """The statements that compute the totals row again from the events."""
    seconds = POSTGRESQL_SECONDS if dialect == "postgresql" else SQLITE_SECONDS
    return ("DELETE FROM mirror_totals", _fill(seconds))


def create_statements(dialect: str) -> tuple[str, ...]:
    """The statements that fill the totals row from the events and keep it in step."""
    triggers = {"sqlite": SQLITE_CREATE, "postgresql": POSTGRESQL_CREATE}.get(dialect, ())
    return (*refill_statements(dialect), *triggers)


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The statements that remove the triggers."""
    return {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}.get(dialect, ())
