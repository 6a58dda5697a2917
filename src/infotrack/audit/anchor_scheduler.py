"""Periodic anchors in ``infotrack serve``: one process anywhere anchors every interval.

Every server process runs a :class:`PeriodicAnchorer` thread; a database lease
(:class:`infotrack.alerts.lease.Lease`, named ``audit-anchors``) lets one of them anchor, the
others wait to take over should it stop. The holder wakes often enough to keep its lease and
anchors once ``INFOTRACK_AUDIT_ANCHOR_INTERVAL`` seconds have passed since its last anchor.
A round whose file or webhook write fails logs a warning; the next round writes what is missing
(see :mod:`infotrack.audit.anchors`).
"""

from __future__ import annotations

import logging
import socket
import threading

from sqlalchemy.engine import Engine

from infotrack.alerts.lease import Lease, LeaseLost
from infotrack.audit.anchors import AnchorBook, AnchorResult, create_anchor
from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.kit.clock import Clock

log = logging.getLogger(__name__)

LEASE_NAME = "audit-anchors"
LEASE_TTL = 60.0  # seconds a silent holder keeps the lease


class PeriodicAnchorer:
    """Anchors every interval while it holds the lease; :meth:`tick` is one round."""

    def __init__(
        self, settings: Settings, engine: Engine, key: AuditKey, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.key = key
        self.clock = clock or Clock()
        self.interval = settings.audit_anchor_interval
        self.lease = Lease(engine, LEASE_NAME, LEASE_TTL, self.clock)
        self.book = AnchorBook()  # heads anchored so far, folded once and kept up to date
        self.operator = f"infotrack serve@{socket.gethostname()}"
        self.next_due = 0.0  # the first round after taking the lease anchors at once
        self._stop = threading.Event()

    def tick(self) -> AnchorResult | None:
        """Hold the lease and, when due, anchor; the anchor's result, or None if not due."""
        if not self.lease.held:
            if not self.lease.acquire():
                return None
            log.info("anchors: %s holds the lease (epoch %s)", self.lease.holder, self.lease.epoch)
            self.next_due = 0.0
        try:
            self.lease.renew_if_due()
        except LeaseLost:
            log.warning("anchors: %s lost the lease; waiting to take it again", self.lease.holder)
            return None
        now = self.clock.time()
        if now < self.next_due:
            return None
        # Due again one interval on, whatever this round's outcome: a database that is down
        # is not asked again every few seconds.
        self.next_due = now + self.interval
        result = create_anchor(
            self.engine,
            self.settings,
            self.key,
            reason="periodic",
            operator=self.operator,
            clock=self.clock,
            book=self.book,
        )
        failure = result.failure()
        if failure:
            log.warning("anchors: %s", failure)
        for problem in result.problems:
            log.warning("anchors: %s; run `infotrack verify`", problem)
        return result

    def run_forever(self) -> None:
        """Rounds until :meth:`stop`; waking at least three times per lease period."""
        wake = min(self.interval, LEASE_TTL / 3)
        try:
            while not self._stop.wait(wake):
                try:
                    self.tick()
                except Exception:
                    log.exception("anchors: the periodic anchor failed; retrying next interval")
        finally:
            try:
                self.lease.release()
            except Exception:
                log.exception("anchors: could not release the lease")

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after its round."""
        self._stop.set()
