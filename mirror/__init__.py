"""Keeping the local copy in step with Calendly: the one sync, the writer that every change goes
through, webhook deliveries, and the leases that keep one sync at a time.

The mirror is handed what it needs (a client, the sync options, the event-type selection, the
signing key) and reads no settings of its own.
"""
