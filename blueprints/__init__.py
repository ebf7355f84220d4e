"""One blueprint per screen area."""
