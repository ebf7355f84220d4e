"""Calendly webhook signatures (calendly.signature): the header format, refusals, tolerance."""

import time

import pytest

from calendly.signature import WebhookSignatureError, sign, verify_signature

KEY = "whsec-test-0f1e2d3c4b5a"


def test_verify_signature_accepts_calendlys_format():
    body = b'{"event":"invitee.created"}'
    header = sign(body, KEY, timestamp=1_700_000_000)
    assert verify_signature(header, body, KEY, now=1_700_000_100) == 1_700_000_000
    # Several v1 values (a key rotation on Calendly's side): one matching is enough.
    assert verify_signature(f"{header},v1=00ff", body, KEY, now=1_700_000_000)
    assert verify_signature(" t=1700000000 , " + header.split(",")[1], body, KEY, now=1_700_000_000)


@pytest.mark.parametrize(
    "header, now, reason",
    [
        (None, 0, "missing"),
        ("", 0, "missing"),
        ("v1=abc", 0, "lacks t or v1"),
        ("t=1700000000", 0, "lacks t or v1"),
        ("t=17e8,v1=00", 0, "unreadable signature timestamp"),
        ("garbage", 0, "unreadable"),
        ("t=1700000000,v1=" + "0" * 64, 1_700_000_000, "does not match"),
        ("t=1700000000,v1=ü" + "0" * 63, 1_700_000_000, "does not match"),
        ("t=1700000000,v1=x," + "a" * 2000, 1_700_000_000, "too long"),
    ],
)
def test_verify_signature_refuses(header, now, reason):
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_signature(header, b"{}", KEY, now=now)


def test_verify_signature_tolerance_is_three_minutes_both_ways():
    body = b"{}"
    header = sign(body, KEY, timestamp=1_700_000_000)
    assert verify_signature(header, body, KEY, now=1_700_000_180)
    assert verify_signature(header, body, KEY, now=1_699_999_820)
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_signature(header, body, KEY, now=1_700_000_181)
    with pytest.raises(WebhookSignatureError, match="future"):
        verify_signature(header, body, KEY, now=1_699_999_819)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_signature(header, body, "another-key", now=1_700_000_000)


def test_sign_and_verify_default_to_the_system_clock():
    body = b'{"event":"invitee.canceled"}'
    header = sign(body, KEY)
    assert header.startswith("t=") and ",v1=" in header
    assert abs(verify_signature(header, body, KEY) - time.time()) < 5
