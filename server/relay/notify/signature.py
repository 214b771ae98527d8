"""Verify Slack's request signature (`X-Slack-Signature`) on an interaction request.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 keyed by the app's signing secret
and sends `v0=<hex>` with the timestamp in `X-Slack-Request-Timestamp`. Verify the raw bytes
before any form parsing.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
# Slack's documented replay window: a request older (or newer) than 5 minutes is refused.
DEFAULT_TOLERANCE_SECONDS = 300


def compute_slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """The `v0=<hex>` signature Slack sends for `body` at `timestamp`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_slack_signature(
    signing_secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float | None = None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` signs `body` at `timestamp`, within the replay window."""
    if not signing_secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    expected = compute_slack_signature(signing_secret, timestamp, body)
    # Constant-time: a byte-by-byte compare would leak how much of a forged signature matched.
    return hmac.compare_digest(expected.encode(), signature.encode())
