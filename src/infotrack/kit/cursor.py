"""Opaque, signed keyset-pagination cursors: a client can pass them back, not forge them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_SIG_BYTES = 12


class InvalidCursor(ValueError):
    """The cursor was not made by us (or was altered)."""


def encode_cursor(values: list[Any], key: str) -> str:
    """Sign and encode the sort-key values of the last row of a page."""
    payload = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    sig = hmac.new(key.encode(), payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(sig + payload).decode().rstrip("=")


def decode_cursor(cursor: str, key: str) -> list[Any]:
    """The values inside a cursor; raises :class:`InvalidCursor` for anything we did not sign."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    expected = hmac.new(key.encode(), payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if len(sig) != _SIG_BYTES or not hmac.compare_digest(sig, expected):
        raise InvalidCursor()
    try:
        values = json.loads(payload)
    except ValueError as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list):
        raise InvalidCursor()
    return values
