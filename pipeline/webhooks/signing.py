"""How a webhook body is signed, and how a receiver checks it.

The header is ``X-Salesmgr-Signature: t=<unix seconds>,v1=<hex>`` where the hex
is HMAC-SHA256, keyed with the subscription's secret, of ``"<t>." + body``.
Binding the time stops a captured request from being replayed later.
"""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Salesmgr-Signature"
EVENT_HEADER = "X-Salesmgr-Event"
DELIVERY_HEADER = "X-Salesmgr-Delivery"
SECRET_PREFIX = "whsec_"
# How old a signature a receiver should accept, by default.
TOLERANCE_SECONDS = 300


def secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_of(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature_of(secret=secret, timestamp=timestamp, body=body)}"


def signature_valid(
    *, secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` of ``now``."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature_of(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", ""))
