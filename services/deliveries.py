"""Receiving a Calendly webhook delivery with the app's configuration: the signing key and the
event-type selection (names resolved through the cached event types) come from the settings and
are handed to the mirror, which verifies, applies and records the delivery (mirror/webhooks.py)."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from mirror import webhooks
from mirror.event_types import selection_from_cache
from mirror.problems import log_failure
from mirror.scope import ME
from services import metrics, settings
from services.secrets import TokenVaultError
from store import clock, log_context
from store.database import db
from store.outcomes import DeliveryReason

log = logging.getLogger(__name__)


def receive_delivery(body: bytes, signature_header: str | None) -> webhooks.DeliveryResult:
    """Verify, apply, record and count one delivery; never raises. Needs an app context. Every
    line logged meanwhile carries a new delivery id (Calendly sends none).

    Returns:
        DeliveryResult: as `mirror.webhooks.receive_delivery`, and 403 when no usable signing
        key is configured.
    """
    with log_context.bound(delivery_id=log_context.new_id()):
        result = _receive(body, signature_header)
    metrics.count_delivery(result.outcome)
    return result


def _receive(body: bytes, signature_header: str | None) -> webhooks.DeliveryResult:
    received_at = clock.now()
    if len(body) > webhooks.MAX_BODY_BYTES:
        return webhooks.refuse(413, DeliveryReason.BODY_TOO_LARGE, received_at)
    try:
        key = settings.webhook_signing_key()
        selection = selection_from_cache(settings.sync_event_types())
        scope = settings.sync_scope()
        user_uri = (settings.account() or {}).get("user_uri")
        zone = settings.display_timezone()

        def within(event):
            return scope.includes(event, user_uri)

    except TokenVaultError:
        log.error("webhook refused: the stored signing key cannot be decrypted")
        return webhooks.refuse(403, DeliveryReason.SIGNING_KEY_UNREADABLE, received_at)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_failure(log, "webhook: could not read the signing key", exc=exc)
        return webhooks.RETRY_LATER
    if not key:
        log.warning("webhook refused: no signing key is configured")
        return webhooks.refuse(403, DeliveryReason.NO_SIGNING_KEY, received_at)
    return webhooks.receive_delivery(
        body,
        signature_header,
        signing_key=key,
        selection=selection,
        received_at=received_at,
        within=None if user_uri is None and scope.mode == ME else within,
        erasure_key=current_app.config["ERASURE_KEY"],
        zone=zone,
    )
