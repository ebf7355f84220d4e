"""The database layer: the `db` object and engine settings, the tables, and the one clock."""
