"""Time: one place that knows the configured zone, so tests can pin "now"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_now(zone: ZoneInfo) -> datetime:
    """Naive local wall-clock time, as the seed's ``LocalDateTime.now()`` stores it."""
    return datetime.now(zone).replace(tzinfo=None, microsecond=0)


def to_aware(value: datetime, zone: ZoneInfo) -> datetime:
    """Attach the configured zone to a naive local time read from the database."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
