"""The app's JSON log lines, captured as the app writes them (LOG_FORMAT=json): shared by the
tests of the log format and of personal data in logs."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

from store import log_context


class JsonLines:
    """What was written so far: `text` as is, `lines()` each parsed (fails on a line that is
    not one JSON object)."""

    def __init__(self, stream: io.StringIO):
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self) -> list[dict]:
        parsed = [json.loads(line) for line in self.text.splitlines()]
        assert all(isinstance(entry, dict) for entry in parsed)
        return parsed

    def of(self, logger: str, containing: str = "") -> list[dict]:
        """The lines of `logger` whose message contains `containing`."""
        return [
            entry
            for entry in self.lines()
            if entry["logger"] == logger and containing in entry["message"]
        ]


@contextmanager
def json_log(level: int = logging.INFO):
    """Every logger writes JSON lines (the handler LOG_FORMAT=json installs) while inside."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.disabled = False  # Alembic's fileConfig disables loggers of other tests
    root = logging.getLogger()
    level_before = root.level
    stream = io.StringIO()
    handler = log_context.configure("json", stream=stream, level=level)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level_before)
