"""Sends the notifications waiting in the outbox, each channel on its own thread.

A notification is written to ``infotrack_alert_deliveries`` in the same transaction as its
alert, so none is lost when a process dies; this module sends them. Each send first claims
its row (a conditional update), so two processes never send one row at the same time. A slow
or failing channel holds up only its own thread: evaluation and other channels go on. Every
attempt is written to ``infotrack_delivery_attempts`` and logged; retries back off from 1 s
to 5 min until ``INFOTRACK_ALERTS_DELIVERY_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import httpx
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine

from infotrack.alerts.channels import SendResult, send
from infotrack.alerts.lease import utc_after
from infotrack.alerts.messages import notice_from_json, render_alert, render_digest
from infotrack.alerts.types import AlertNotice, Channel
from infotrack.kit.clock import Clock
from infotrack.models import AlertDelivery, DeliveryAttempt

log = logging.getLogger(__name__)

DELIVERIES = cast(Table, AlertDelivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
BACKOFF_MAX = 300.0
CLAIM_MARGIN = 60.0  # a claimed row is left alone this long past its channel's timeout
DUE_PER_ROUND = 200


@dataclass
class DispatchCounts:
    """What one round of sending did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Dispatcher:
    """Sends due deliveries; one single-thread executor per channel."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        channels: Callable[[], dict[str, Channel]],
        *,
        max_attempts: int,
        backoff_base: float = 1.0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.channels = channels
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.counts = DispatchCounts()
        self._http = httpx.Client(follow_redirects=False, trust_env=False)
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Start sending what is due, on each idle channel's thread; returns at once."""
        due = self._due_by_channel()
        with self._lock:
            for channel, ids in due.items():
                running = self._running.get(channel)
                if running is not None and not running.done():
                    continue  # that channel's thread will look again when it is free
                executor = self._executors.get(channel)
                if executor is None:
                    executor = ThreadPoolExecutor(1, thread_name_prefix=f"alerts-{channel}")
                    self._executors[channel] = executor
                self._running[channel] = executor.submit(self._send_all, channel, ids)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every channel's thread has finished its current round."""
        with self._lock:
            running = list(self._running.values())
        for future in running:
            future.result(timeout=timeout)

    def pending(self) -> tuple[int, float | None]:
        """How many deliveries wait, and in how many seconds the next one is due."""
        with self.engine.connect() as conn:
            count, first = conn.execute(
                select(func.count(), func.min(DELIVERIES.c.next_attempt_at)).where(
                    DELIVERIES.c.status == "pending"
                )
            ).one()
        if not count:
            return 0, None
        wait = (first - utc_after(self.clock, 0)).total_seconds()
        return int(count), max(wait, 0.0)

    def close(self) -> None:
        """Let running sends finish, then close the HTTP client."""
        for executor in self._executors.values():
            executor.shutdown(wait=True)
        self._http.close()

    # --- one channel's thread -----------------------------------------------------------
    def _due_by_channel(self) -> dict[str, list[int]]:
        now = utc_after(self.clock, 0)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DELIVERIES.c.id, DELIVERIES.c.channel)
                .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now)
                .order_by(DELIVERIES.c.id)
                .limit(DUE_PER_ROUND)
            ).all()
        due: dict[str, list[int]] = {}
        for delivery_id, channel in rows:
            due.setdefault(channel, []).append(delivery_id)
        return due

    def _send_all(self, channel_name: str, ids: list[int]) -> None:
        for delivery_id in ids:
            try:
                self._send_one(channel_name, delivery_id)
            except Exception:  # a database hiccup: the row stays pending and is tried again
                log.exception("alert delivery %s: could not be processed", delivery_id)

    def _send_one(self, channel_name: str, delivery_id: int) -> None:
        channel = self.channels().get(channel_name)
        timeout = channel.timeout if channel else 5.0
        now = utc_after(self.clock, 0)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.id == delivery_id,
                    DELIVERIES.c.status == "pending",
                    DELIVERIES.c.next_attempt_at <= now,
                )
                .values(
                    attempts=DELIVERIES.c.attempts + 1,
                    next_attempt_at=utc_after(self.clock, timeout + CLAIM_MARGIN),
                )
            )
            if claimed.rowcount != 1:
                return  # sent or claimed meanwhile by another process
            attempts, raw_notice = conn.execute(
                select(DELIVERIES.c.attempts, DELIVERIES.c.notice).where(
                    DELIVERIES.c.id == delivery_id
                )
            ).one()
        if channel is None:
            result = SendResult(False, None, f"渠道 {channel_name} 已不在规则文件中", False, 0)
        else:
            try:
                notice = notice_from_json(raw_notice)
            except ValueError:
                notice = None  # a stored notice that cannot be read never will be: no retry
            if notice is None:
                result = SendResult(False, None, "通知内容已损坏,无法发送", False, 0)
            else:
                message = (
                    render_alert(notice)
                    if isinstance(notice, AlertNotice)
                    else render_digest(notice)
                )
                result = send(
                    self._http, channel, message, now=self.clock.time(), delivery_id=delivery_id
                )
        self._record(delivery_id, channel_name, attempts, result)

    def _record(self, delivery_id: int, channel: str, attempts: int, result: SendResult) -> None:
        now = utc_after(self.clock, 0)
        error = result.error[:500] if result.error else None  # the columns hold 500
        if result.ok:
            values: dict[str, object] = {"status": "sent", "sent_at": now, "last_error": None}
            self.counts.sent += 1
            log.info("alert delivery %s to %s: sent (attempt %s)", delivery_id, channel, attempts)
        elif result.retryable and attempts < self.max_attempts:
            delay = min(self.backoff_base * 2 ** (attempts - 1), BACKOFF_MAX)
            delay *= random.uniform(0.9, 1.1)  # channels that failed together retry apart
            values = {"next_attempt_at": utc_after(self.clock, delay), "last_error": error}
            self.counts.retrying += 1
            log.warning(
                "alert delivery %s to %s: attempt %s failed (%s); retry in %.0f s",
                delivery_id,
                channel,
                attempts,
                result.error,
                delay,
            )
        else:
            values = {"status": "failed", "last_error": error}
            self.counts.failed += 1
            log.error(
                "alert delivery %s to %s: given up after attempt %s (%s)",
                delivery_id,
                channel,
                attempts,
                result.error,
            )
        with self.engine.begin() as conn:
            conn.execute(
                insert(ATTEMPTS).values(
                    delivery_id=delivery_id,
                    attempted_at=now,
                    ok=result.ok,
                    status_code=result.status_code,
                    error=error,
                    elapsed_ms=result.elapsed_ms,
                )
            )
            conn.execute(update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(values))
