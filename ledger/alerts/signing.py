"""Webhook signatures: ``Veritag-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

The HMAC (keyed with the webhook's secret) covers ``f"{t}."`` followed by the raw request
body, so neither the body nor the time can be changed without the secret. Receivers check
it with :func:`verify`, which also refuses a timestamp more than ``tolerance_s`` away from
their clock: a captured request cannot be replayed later. Several ``v1`` values may appear
(one per secret while a secret is rotated); one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from ledger.errors import ProofRejected

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_S", "sign", "verify"]

SIGNATURE_HEADER = "Veritag-Signature"
TOLERANCE_S = 300
_WHAT = "webhook signature"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Veritag-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: datetime | int,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Check a ``Veritag-Signature`` header against the raw body; ProofRejected if it does
    not hold (malformed, another secret, a changed body, or too old or new)."""
    timestamp, signatures = _parse(header)
    current = int(now.timestamp()) if isinstance(now, datetime) else now
    if abs(current - timestamp) > tolerance_s:
        raise ProofRejected(
            _WHAT,
            f"it was made at {timestamp}, {current - timestamp} s from now ({current}); "
            f"more than the {tolerance_s} s allowed, so it may be a replay",
        )
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise ProofRejected(
            _WHAT, "no v1 signature matches the body with this secret (wrong secret or body)"
        )


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            if not (value.isascii() and value.isdigit()):
                raise ProofRejected(_WHAT, f"its timestamp {value!r} is not a unix time")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise ProofRejected(_WHAT, f"header {header!r} is not 't=<unix time>,v1=<hex hmac>'")
    return timestamp, signatures
