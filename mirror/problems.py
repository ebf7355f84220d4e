"""What went wrong, as data: the RunProblem code and parameters that stand for an exception
from Calendly, the mirror, or a stored secret. The sync stores them with its run; the screens
render the same codes in the admin's language."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy.exc import DBAPIError

from calendly.errors import (
    AuthenticationError,
    CalendlyError,
    MalformedResponseError,
    MissingTokenError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from calendly.records import MalformedRecordError
from mirror.leases import LeaseLost
from mirror.waits import DatabaseBusy
from store.outcomes import RunProblem

# The most specific class first: the Calendly errors share a base class.
_CALENDLY_CODES = (
    (MissingTokenError, RunProblem.MISSING_TOKEN),
    (AuthenticationError, RunProblem.TOKEN_REFUSED),
    (PermissionDeniedError, RunProblem.PERMISSION_DENIED),
    (NotFoundError, RunProblem.NOT_FOUND),
    (RateLimitedError, RunProblem.RATE_LIMITED),
    (NetworkError, RunProblem.NETWORK),
    (MalformedResponseError, RunProblem.MALFORMED_RESPONSE),
)


def log_failure(logger: logging.Logger, message: str, *args, exc: BaseException) -> None:
    """Log `message` with the kind of `exc` and where it was raised, but never its text:
    exception messages quote what they were handed, and that may be attendee data.

    Where it was raised is the record's traceback (`exc_text`): the readable lines print it
    below the message, as for any exception, and the JSON lines put it in their `exception`.
    """
    if not logger.isEnabledFor(logging.ERROR):
        return
    kind = type(exc).__name__
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        kind = f"{kind} ({type(exc.orig).__name__})"
    path, line, function, _stack = logger.findCaller(stacklevel=2)
    record = logger.makeRecord(
        logger.name, logging.ERROR, path, line, message + ": %s", (*args, kind), None, function
    )
    record.exc_text = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    logger.handle(record)


def problem_of(exc: BaseException | None) -> tuple[RunProblem, dict]:
    """The code and parameters for `exc`.

    An exception of another layer names its own code with a `run_problem` attribute (the
    token vault does), so that this module need not know it.
    """
    if isinstance(exc, CalendlyError):
        return _calendly_problem(exc)
    if isinstance(exc, MalformedRecordError):
        return RunProblem.MALFORMED_RECORD, {"detail": str(exc)}
    if isinstance(exc, LeaseLost):
        return RunProblem.LEASE_LOST, {}
    if isinstance(exc, DatabaseBusy):
        return RunProblem.DATABASE_BUSY, {"seconds": round(exc.waited_seconds)}
    own = getattr(exc, "run_problem", None)
    if isinstance(own, RunProblem):
        return own, dict(getattr(exc, "run_params", None) or {})
    return RunProblem.UNEXPECTED, {"error": type(exc).__name__}


def _calendly_problem(exc: CalendlyError) -> tuple[RunProblem, dict]:
    code = next(
        (code for kind, code in _CALENDLY_CODES if isinstance(exc, kind)),
        RunProblem.CALENDLY_ERROR,
    )
    # `detail` is the client's English message (logs), `said` Calendly's own words (shown aside).
    params = {"status": exc.status, "title": exc.title, "detail": exc.message, "said": exc.said}
    if isinstance(exc, PermissionDeniedError) and exc.required_scopes:
        params["scopes"] = list(exc.required_scopes)
    if isinstance(exc, RateLimitedError) and exc.reset is not None:
        params["reset"] = exc.reset
    return code, {key: value for key, value in params.items() if value is not None}
