"""The signature of a webhook request, and its check as a receiver does it (docs/webhooks.md).

`Fleet-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is HMAC-SHA256 with the webhook's secret over the bytes
`<t>.<body>`: the timestamp is signed too, so a captured request cannot be replayed later than the receiver's
tolerance. A header may carry several `v1` values; one matching is enough.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Fleet-Signature"
EVENT_ID_HEADER = "Fleet-Event-Id"
EVENT_KIND_HEADER = "Fleet-Event-Kind"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` with `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def headers(secret: str, feed_id: int, kind: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of a request carrying `body`, the feed message `feed_id` of `kind`, signed at `timestamp`."""
    return {
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, body)}",
        EVENT_ID_HEADER: str(feed_id),
        EVENT_KIND_HEADER: kind,
    }


def verify(
    secret: str, header: str, body: bytes, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """Whether `header` (a Fleet-Signature value) signs the raw `body` with `secret` within `tolerance` seconds."""
    timestamp: int | None = None
    candidates = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    current = time.time() if now is None else now
    if timestamp is None or abs(current - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
