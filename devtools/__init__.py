"""Developer tools: a Calendly API v2 simulator and its seeded sample data."""
