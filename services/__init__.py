"""What screens and commands ask for: settings and secrets, admin accounts, the Calendly
connection, no-shows, webhook subscriptions, queries, exports and the scheduler."""
