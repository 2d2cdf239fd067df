"""Slack's request signature (v0), checked before anything else looks at a request. Never raises.

Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with the app's signing secret (HMAC-SHA256) and sends
`v0=<hex>` in X-Slack-Signature. A request more than five minutes from our clock, either way, is refused, which
bounds how long a captured request could be replayed (the replay guard covers the rest of that window).
"""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_SECONDS = 300
_MAX_TIMESTAMP_DIGITS = 12  # about 31,000 years of seconds: anything longer is not a timestamp
_SIGNATURE_PREFIX = "v0="
_SIGNATURE_LENGTH = len(_SIGNATURE_PREFIX) + 64  # hex SHA-256


def problem(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
    """Why this request is not from Slack, or None when it is.

    Args:
        secret: the signing secret, as bytes.
        timestamp, signature: the two headers as received (None when absent).
        body: the raw body exactly as received.
        now: the current Unix time.
    Returns:
        A short reason for the log ("no signature", "stale timestamp", …), never anything from the request.
    """
    if not timestamp or not signature:
        return "no signature"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return "malformed timestamp"
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return "stale timestamp"
    if len(signature) != _SIGNATURE_LENGTH or not signature.startswith(_SIGNATURE_PREFIX) or not signature.isascii():
        return "malformed signature"
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    expected = _SIGNATURE_PREFIX + digest
    if not hmac.compare_digest(expected, signature):
        return "wrong signature"
    return None
