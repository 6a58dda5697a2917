"""One active worker across processes and hosts: a lease row with an epoch (a fencing token).

The holder renews the lease while it works; another process takes over once it has expired,
bumping the epoch. Every write of the worker's results checks the epoch in the same
transaction (:meth:`Lease.fenced`), so a worker that paused past its lease and woke up again
cannot write anything once another has taken over. Times are UTC from the injected clock;
hosts sharing a database must keep their clocks in sync (NTP), well within the lease's length.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from infotrack.kit.clock import Clock
from infotrack.models import WorkerState

STATE = cast(Table, WorkerState.__table__)


class LeaseLost(Exception):
    """Another worker holds the lease now: stop writing, go back to waiting."""


def holder_name() -> str:
    """Who this process is, as the lease row shows it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _utc(clock: Clock, ahead: float = 0.0) -> datetime:
    return datetime.fromtimestamp(clock.time() + ahead, UTC).replace(tzinfo=None)


@dataclass
class Lease:
    """This process's claim on the worker named ``name``."""

    engine: Engine
    name: str
    ttl: float
    clock: Clock
    holder: str = field(default_factory=holder_name)
    epoch: int | None = None  # set while held
    renewed_at: float = 0.0

    @property
    def held(self) -> bool:
        """True while this process believes it holds the lease."""
        return self.epoch is not None

    def acquire(self) -> bool:
        """Take the lease when nobody holds it (or it has expired); True when held."""
        now = _utc(self.clock)
        self._ensure_row(now)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(STATE)
                .where(
                    STATE.c.name == self.name,
                    or_(STATE.c.lease_until.is_(None), STATE.c.lease_until < now),
                )
                .values(
                    holder=self.holder,
                    epoch=STATE.c.epoch + 1,
                    lease_until=_utc(self.clock, self.ttl),
                    updated_at=now,
                )
            )
            if taken.rowcount != 1:
                return False
            self.epoch = conn.execute(
                select(STATE.c.epoch).where(STATE.c.name == self.name)
            ).scalar_one()
        self.renewed_at = self.clock.time()
        return True

    def renew_if_due(self) -> None:
        """Extend the lease once a third of it has passed; raises LeaseLost if taken."""
        if self.clock.time() - self.renewed_at >= self.ttl / 3:
            with self.fenced():
                pass

    @contextmanager
    def fenced(self) -> Iterator[Connection]:
        """A transaction that commits only while this process still holds the lease.

        The lease row is updated first, so it stays locked until the commit: a takeover
        waits for this transaction and then finds the lease extended.
        """
        if self.epoch is None:
            raise LeaseLost
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(STATE)
                .where(
                    STATE.c.name == self.name,
                    STATE.c.holder == self.holder,
                    STATE.c.epoch == self.epoch,
                )
                .values(lease_until=_utc(self.clock, self.ttl), updated_at=_utc(self.clock))
            )
            if renewed.rowcount != 1:
                self.epoch = None
                raise LeaseLost
            yield conn
        self.renewed_at = self.clock.time()

    def release(self) -> None:
        """Give the lease up at once, so another worker need not wait for it to expire."""
        if self.epoch is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(STATE)
                .where(
                    STATE.c.name == self.name,
                    STATE.c.holder == self.holder,
                    STATE.c.epoch == self.epoch,
                )
                .values(lease_until=None, updated_at=_utc(self.clock))
            )
        self.epoch = None

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The stored checkpoint, or None before the first run."""
        with self.engine.connect() as conn:
            raw = conn.execute(
                select(STATE.c.checkpoint).where(STATE.c.name == self.name)
            ).scalar_one_or_none()
        return json.loads(raw) if raw else None

    def save_checkpoint(self, conn: Connection, checkpoint: dict[str, Any]) -> None:
        """Store the checkpoint inside a :meth:`fenced` transaction."""
        conn.execute(
            update(STATE)
            .where(STATE.c.name == self.name)
            .values(checkpoint=json.dumps(checkpoint, separators=(",", ":")))
        )

    def _ensure_row(self, now: datetime) -> None:
        with self.engine.connect() as conn:
            if conn.execute(select(STATE.c.name).where(STATE.c.name == self.name)).first():
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(STATE).values(name=self.name, epoch=0, updated_at=now))
        except IntegrityError:
            pass  # another process made it at the same moment


def lease_expiry(engine: Engine, name: str) -> tuple[str | None, datetime | None]:
    """Who holds the lease and until when (UTC), for status output."""
    with engine.connect() as conn:
        row = conn.execute(
            select(STATE.c.holder, STATE.c.lease_until).where(STATE.c.name == name)
        ).first()
    return (row.holder, row.lease_until) if row else (None, None)


def utc_after(clock: Clock, seconds: float) -> datetime:
    """A UTC naive time ``seconds`` from the clock's now (delivery scheduling)."""
    return _utc(clock, seconds)
