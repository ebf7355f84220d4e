"""The database layer: the `db` object and engine settings, the tables, the one clock, and the
ids every log line carries (log_context)."""
