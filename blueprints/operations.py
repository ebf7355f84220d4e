"""Endpoints for monitoring, reachable without a login: liveness (`/healthz`), readiness
(`/readyz`, with details for a signed-in admin) and Prometheus metrics (`/metrics`, only with
METRICS_TOKEN, sent as a bearer token).

The plain answers say "ok" or "unavailable" and nothing about webinars, people or the token.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask_login import current_user

from blueprints.guard import first_step
from services import metrics, operations

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: 200 whenever this process serves requests (no database, no login)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when the database answers within a second, else 503; a signed-in admin
    asking `?verbose=1` also learns the state of the sync, the token and the webhooks."""
    ready = operations.database_answers()
    if ready and request.args.get("verbose") == "1" and _signed_in_admin():
        return jsonify(operations.operations_status(database=True).as_dict())
    return jsonify(status="ok" if ready else "unavailable"), 200 if ready else 503


@bp.get("/metrics")
def prometheus_metrics():
    """The Prometheus metrics: 404 unless METRICS_TOKEN is set, 401 without that bearer token."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sent.strip().encode(), expected.encode()
    ):
        return Response("unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(metrics.exposition(), mimetype=None, content_type=metrics.CONTENT_TYPE)


def _signed_in_admin() -> bool:
    # Only now is the session's account loaded: the plain probe runs no query of its own.
    user = current_user
    return user.is_authenticated and user.is_admin and first_step(user) is None
