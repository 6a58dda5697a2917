"""Time: one place that knows the configured zone, so tests can pin "now"."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo


class Clock:
    """Wall-clock time, as background work reads it; tests hand in a :class:`ManualClock`."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def local_now(self, zone: ZoneInfo) -> datetime:
        """Naive local wall-clock time in ``zone``, to the second."""
        return datetime.fromtimestamp(self.time(), zone).replace(tzinfo=None, microsecond=0)


class ManualClock(Clock):
    """A clock that moves only when told to (tests, benchmarks)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        """The time set last."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def local_now(zone: ZoneInfo) -> datetime:
    """Naive local wall-clock time, as the seed's ``LocalDateTime.now()`` stores it."""
    return datetime.now(zone).replace(tzinfo=None, microsecond=0)


def to_aware(value: datetime, zone: ZoneInfo) -> datetime:
    """Attach the configured zone to a naive local time read from the database."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
