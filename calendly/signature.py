"""Calendly webhook signatures: ``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is the HMAC-SHA256 of ``"<t>.<raw body>"`` under the subscription's signing key. The
receiver checks it before reading anything in the body; ``sign`` produces the same header for
the simulator and the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
# Calendly's own example refuses signatures older than three minutes.
TOLERANCE_SECONDS = 180
# Real headers are about 80 characters; parsing a huge one is work an attacker chose for us.
MAX_HEADER_CHARS = 1024


class WebhookSignatureError(Exception):
    """The signature header is missing or unreadable, does not match, or is out of tolerance.

    Attributes:
        reason: what was wrong, for the delivery log (never sent back to the caller).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def verify_signature(
    header: str | None,
    body: bytes,
    key: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a `Calendly-Webhook-Signature` header (`t=<unix seconds>,v1=<hex>`) against the body.

    Args:
        header: the header value, or None when it was absent.
        body: the raw request body, exactly as received.
        key: the webhook signing key.
        now: the current Unix time; defaults to the system clock (the app passes its own).
        tolerance: how many seconds `t` may lie in the past or the future.

    Returns:
        The signed timestamp `t`.

    Raises:
        WebhookSignatureError: missing or unreadable header, wrong signature, or `t` outside the
            tolerance (an old delivery replayed, or a clock far off).
    """
    if not header:
        raise WebhookSignatureError("missing signature header")
    if len(header) > MAX_HEADER_CHARS:
        raise WebhookSignatureError("signature header too long")
    timestamps, signatures = [], []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError("unreadable signature header")
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            signatures.append(value.strip().lower())
    if len(timestamps) != 1 or not signatures:
        raise WebhookSignatureError("signature header lacks t or v1")
    stamp = timestamps[0]
    if not (stamp.isascii() and stamp.isdigit()):
        raise WebhookSignatureError("unreadable signature timestamp")
    # Compare bytes: compare_digest refuses non-ASCII str, and the header is the sender's.
    expected = _digest(body, key, stamp).encode("ascii")
    if not any(hmac.compare_digest(expected, sig.encode("utf-8", "replace")) for sig in signatures):
        raise WebhookSignatureError("signature does not match")
    signed_at = int(stamp)
    age = (time.time() if now is None else now) - signed_at
    if age > tolerance:
        raise WebhookSignatureError(f"signature timestamp too old ({int(age)} s)")
    if age < -tolerance:
        raise WebhookSignatureError(f"signature timestamp in the future ({int(-age)} s)")
    return signed_at


def sign(body: bytes, key: str, timestamp: int | None = None) -> str:
    """The signature header Calendly would send for `body`.

    Args:
        body: the raw request body.
        key: the webhook signing key.
        timestamp: the Unix time to sign at; defaults to the system clock, as Calendly's own.

    Returns:
        The header value, `t=<timestamp>,v1=<hex HMAC-SHA256>`.
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return f"t={stamp},v1={_digest(body, key, stamp)}"


def _digest(body: bytes, key: str, stamp: str) -> str:
    return hmac.new(
        key.encode("utf-8"), stamp.encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
