"""The one clock: every "now" the app stores, compares or shows comes from here.

Tests move it for the whole process with time-machine, so nothing may ask the operating system
for the time around it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def timestamp() -> float:
    """The current time as Unix seconds (for protocols that count in them, e.g. signatures)."""
    return time.time()
