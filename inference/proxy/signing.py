"""HMAC-SHA256 signatures of the usage webhook (shipper signs, Django verifies).

The signature covers ``"{timestamp}.{body}"``, so a captured request cannot be replayed
after the freshness window, nor its body swapped. Each retry is signed afresh.
"""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-LLMaaS-Timestamp"
SIGNATURE_HEADER = "X-LLMaaS-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> str:
    """'' if valid, else why not (for logs; callers answer a plain 401 either way)."""
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        ts = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_SECONDS:
        return "stale timestamp"
    if not hmac.compare_digest(sign(secret, ts, body).encode(), signature.strip().encode()):
        return "bad signature"
    return ""
