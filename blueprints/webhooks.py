"""The endpoint Calendly posts webhook deliveries to (signed; no login, no CSRF token).

All the work is in calendly/webhooks.py; web.py lets this path through the login guard.
"""

from flask import Blueprint, jsonify, request

from calendly import webhooks
from extensions import csrf

bp = Blueprint("webhooks", __name__)
# Calendly cannot send a CSRF token; the HMAC signature is what authenticates a delivery.
csrf.exempt(bp)


@bp.post("/api/infowebinar/webhook")
def receive():
    """Verify, apply and acknowledge one Calendly webhook delivery (JSON answer)."""
    # Read at most one byte over the limit: enough to refuse an oversized body.
    body = request.stream.read(webhooks.MAX_BODY_BYTES + 1)
    result = webhooks.receive_delivery(body, request.headers.get(webhooks.SIGNATURE_HEADER))
    return jsonify(outcome=result.outcome, detail=result.detail), result.status
