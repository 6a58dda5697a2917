"""The alert worker: tails the trail and the access log, evaluates rules, stores alerts.

One worker is active across all processes and hosts (:mod:`infotrack.alerts.lease`). While it
holds the lease it repeats: read what is new since the checkpoint (late commits included,
:mod:`infotrack.alerts.tail`), feed it to the :class:`~infotrack.alerts.evaluator.Evaluator`,
then store the alerts, their notifications and the new checkpoint in ONE fenced transaction.
A restart therefore resumes exactly where the last commit left off: the windows are refilled
from rows already evaluated (nothing fires while they are), and cooldowns come back from the
stored alerts, so nothing is missed and nothing repeats. A change of the rules file is
written to the access log once, by the lease holder (:mod:`infotrack.alerts.rules_log`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.engine import Engine

from infotrack.alerts.digests import build_digests, due_periods
from infotrack.alerts.dispatcher import Dispatcher
from infotrack.alerts.evaluator import Evaluator
from infotrack.alerts.feed import AccessFeed, Feed, TrailFeed
from infotrack.alerts.lease import Lease, LeaseLost, utc_after
from infotrack.alerts.messages import notice_to_json
from infotrack.alerts.rules import RulesError, load_rules
from infotrack.alerts.rules_log import rules_change_entry, rules_digest
from infotrack.alerts.tail import TailState
from infotrack.alerts.types import AlertNotice, DigestNotice, Firing
from infotrack.config import Settings
from infotrack.kit.clock import Clock
from infotrack.models import AccessLogEntry, Alert, AlertDelivery

log = logging.getLogger(__name__)

LEASE_NAME = "alerts"
ALERTS = cast(Table, Alert.__table__)
DELIVERIES = cast(Table, AlertDelivery.__table__)
ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
DIGESTS_REMEMBERED = 30  # digest periods kept in the checkpoint as "sent"


@dataclass
class StepResult:
    """What one pass over the feeds did."""

    rows: int = 0  # rows read (new and late)
    alerts: int = 0  # alerts stored
    full: bool = False  # a feed returned a full batch: more is waiting


class AlertWorker:
    """Evaluates alert rules while it holds the lease; see the module docstring."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or Clock()
        self.zone = settings.zone
        self.rules_path: Path | None = settings.alert_rules_file
        self._rules_mtime = self._mtime()
        # A bad file is refused here, at start. The digest is taken first: a file replaced
        # in between is seen again at the next reload (its mtime moved).
        self._rules_digest = rules_digest(self.rules_path)
        self.ruleset = load_rules(self.rules_path)
        self._rules_recorded: str | None = None  # from the checkpoint, in prepare()
        self.lease = Lease(engine, LEASE_NAME, settings.alerts_lease_ttl, self.clock)
        self.feeds: dict[str, Feed] = {"trail": TrailFeed(), "access": AccessFeed()}
        self.tails: dict[str, TailState] = {}
        self.digests_sent: list[str] = []
        self.evaluator = Evaluator(self.ruleset)
        self.ready = False  # checkpoint loaded and windows warmed up under the current lease
        self.dispatcher = Dispatcher(
            engine,
            self.clock,
            lambda: self.ruleset.channels,
            max_attempts=settings.alerts_delivery_max_attempts,
        )
        self._stop = threading.Event()

    # --- running ------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Evaluate continuously until :meth:`stop` (``infotrack alerts run``, or in serve)."""
        interval = self.settings.alerts_poll_interval
        try:
            while not self._stop.is_set():
                try:
                    busy = self.tick()
                except Exception:
                    # The database went away, say: start again from the stored checkpoint.
                    log.exception("alert worker: evaluation failed; retrying from the checkpoint")
                    self.ready = False
                    busy = False
                if not busy:
                    self._stop.wait(
                        interval if self.lease.held else self.settings.alerts_lease_ttl / 3
                    )
        finally:
            self.shutdown()

    def tick(self) -> bool:
        """One round: hold the lease, evaluate what is new, queue digests, send; True if busy."""
        if not self.lease.held:
            self.ready = False
            if not self.lease.acquire():
                return False
            log.info(
                "alert worker %s: holds the lease (epoch %s)", self.lease.holder, self.lease.epoch
            )
        try:
            self.reload_rules_if_changed()
            if not self.ready:
                self.prepare()
            self.record_rules_change()
            result = self.step()
            self.queue_digests()
            if not result.rows:
                self.lease.renew_if_due()
        except LeaseLost:
            log.warning(
                "alert worker %s: lost the lease; waiting to take it again", self.lease.holder
            )
            self.ready = False
            return False
        self.dispatcher.kick()
        return result.full

    def run_once(self, *, delivery_rounds: int = 3) -> StepResult:
        """``--once``: evaluate everything new, queue digests, send, release; the totals."""
        if not self.lease.acquire():
            raise LeaseLost
        total = StepResult()
        try:
            self.prepare()
            self.record_rules_change()
            while True:
                result = self.step()
                total.rows += result.rows
                total.alerts += result.alerts
                if not result.full:
                    break
            self.queue_digests()
            self.deliver(rounds=delivery_rounds)
        finally:
            self.lease.release()
            self.dispatcher.close()
        return total

    def deliver(self, *, rounds: int) -> None:
        """Send what is due; retry failures in this run while their backoff is short."""
        for _ in range(rounds):
            self.dispatcher.kick()
            self.dispatcher.wait_idle()
            count, wait = self.dispatcher.pending()
            if not count or wait is None or wait > 30:
                return
            self._stop.wait(wait)

    def stop(self) -> None:
        """Ask :meth:`run_forever` to finish its round and return."""
        self._stop.set()

    def shutdown(self) -> None:
        """Give the lease back and close the channels' threads."""
        try:
            self.lease.release()
        except Exception:
            log.exception("alert worker: could not release the lease")
        self.dispatcher.close()

    # --- rules --------------------------------------------------------------------------
    def _mtime(self) -> float | None:
        try:
            return self.rules_path.stat().st_mtime if self.rules_path else None
        except OSError:
            return None

    def reload_rules_if_changed(self) -> bool:
        """Read the rules file again when it changed; a bad file keeps the rules in force."""
        mtime = self._mtime()
        if mtime == self._rules_mtime:
            return False
        self._rules_mtime = mtime
        try:
            digest = rules_digest(self.rules_path)
            ruleset = load_rules(self.rules_path)
        except RulesError as exc:
            log.error("alert rules not reloaded, the rules in force stay: %s", exc.message)
            return False
        self.ruleset = ruleset
        self._rules_digest = digest
        self.ready = False  # new windows: warm them up from what was evaluated already
        log.info("alert rules reloaded from %s: %d rules", ruleset.source, len(ruleset.rules))
        return True

    def record_rules_change(self) -> bool:
        """Write ``rules_changed`` to the access log when the rules in force are not the ones
        last recorded (:mod:`infotrack.alerts.rules_log`); True when it did."""
        previous, digest = self._rules_recorded, self._rules_digest
        if digest == previous:
            return False
        entry = rules_change_entry(
            self.rules_path, digest, previous, self.ruleset, self.clock.local_now(self.zone)
        )
        self._rules_recorded = digest  # the checkpoint below remembers it
        try:
            with self.lease.fenced() as conn:
                inserted = conn.execute(insert(ACCESS_LOG).values(**entry))
                entry_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
                access = self.tails.get("access")
                if access is not None and entry_id == access.high + 1:
                    # Its own entry, next in line: nothing to evaluate, so not read back.
                    # Further on, other entries come first and the feed reads it with them.
                    access.observe(entry_id, self.clock.time())
                self.lease.save_checkpoint(conn, self._checkpoint())
        except Exception:
            self._rules_recorded = previous  # not committed: try again next round
            self.ready = False  # the tails in memory may have moved: reload the checkpoint
            raise
        log.info("alert rules change recorded in the access log (sha256 %s)", digest)
        return True

    def _feed_window(self, name: str) -> timedelta:
        kinds = {"access": {"export_volume"}}.get(
            name, {"burst", "distinct_customers", "off_hours"}
        )
        return max(
            (rule.window for rule in self.ruleset.rules if rule.kind in kinds), default=timedelta(0)
        )

    # --- checkpoint and warm-up ---------------------------------------------------------
    def prepare(self) -> None:
        """Load the checkpoint (or start one), refill the windows, restore the cooldowns."""
        stored = self.lease.load_checkpoint()
        self.evaluator = Evaluator(self.ruleset)
        now_local = self.clock.local_now(self.zone)
        with self.engine.connect() as conn:
            if stored is None:
                # First run: start at the rows inside the longest window; older history is
                # not evaluated (it would raise alerts about long-gone behaviour).
                self.tails = {
                    name: TailState(high=feed.start_high(conn, now_local - self._feed_window(name)))
                    for name, feed in self.feeds.items()
                }
                self.digests_sent = []
                self._rules_recorded = None
            else:
                self.tails = {
                    name: TailState.from_json(stored["tails"][name]) for name in self.feeds
                }
                self.digests_sent = list(stored.get("digestsSent", []))
                self._rules_recorded = stored.get("rulesSha256")
            earliest = self._warm_up(conn)
            self._restore_cooldowns(conn, earliest)
        if stored is None:  # from now on, every row counts: remember where that starts
            with self.lease.fenced() as conn:
                self.lease.save_checkpoint(conn, self._checkpoint())
        self.ready = True

    def _warm_up(self, conn: Connection) -> datetime | None:
        earliest: datetime | None = None
        batch = self.settings.alerts_batch_size
        for name, feed in self.feeds.items():
            tail = self.tails[name]
            window = self._feed_window(name)
            if tail.last_event_at is None or not window:
                continue
            since = datetime.fromisoformat(tail.last_event_at) - window
            earliest = since if earliest is None else min(earliest, since)
            after = 0
            while True:
                rows = feed.read_window(conn, since, tail, batch, after)
                for row in rows:
                    event = feed.to_event(row)
                    if event is not None:
                        self.evaluator.feed(event, fire=False)
                if len(rows) < batch:
                    break
                after = rows[-1][0]
        return earliest

    def _restore_cooldowns(self, conn: Connection, earliest: datetime | None) -> None:
        rules = {rule.name: rule for rule in self.ruleset.rules}
        if not rules or earliest is None:
            return
        longest_cooldown = max(rule.cooldown for rule in rules.values())
        rows = conn.execute(
            select(ALERTS.c.rule, ALERTS.c.operator_key, func.max(ALERTS.c.window_end))
            .where(ALERTS.c.window_end >= earliest - longest_cooldown)
            .group_by(ALERTS.c.rule, ALERTS.c.operator_key)
        ).all()
        for rule_name, operator_key, last_end in rows:
            rule = rules.get(rule_name)
            if rule is not None and rule.cooldown:
                self.evaluator.restore_cooldown(rule_name, operator_key, last_end + rule.cooldown)

    def _checkpoint(self) -> dict[str, Any]:
        return {
            "version": 1,
            "tails": {name: tail.to_json() for name, tail in self.tails.items()},
            "digestsSent": self.digests_sent[-DIGESTS_REMEMBERED:],
            "rulesSha256": self._rules_recorded,  # the rules last written to the access log
        }

    # --- evaluation ---------------------------------------------------------------------
    def step(self) -> StepResult:
        """Read, evaluate, and store alerts with the checkpoint in one fenced transaction."""
        result = StepResult()
        firings: list[Firing] = []
        now = self.clock.time()
        changed = False
        latest: datetime | None = None  # the newest event time read in this step
        with self.engine.connect() as conn:
            for name, feed in self.feeds.items():
                tail = self.tails[name]
                rows: Sequence[Any] = []
                if tail.gaps:
                    rows = feed.read_gaps(conn, tail.gaps)
                new = feed.read_new(conn, tail, self.settings.alerts_batch_size)
                result.full = result.full or len(new) >= self.settings.alerts_batch_size
                newest: datetime | None = None
                for row in [*rows, *new]:
                    if not tail.observe(row[0], now):
                        continue
                    result.rows += 1
                    event = feed.to_event(row)
                    if event is None:
                        continue
                    if newest is None or event.at > newest:
                        newest = event.at
                    firings.extend(self.evaluator.feed(event))
                if newest is not None:
                    latest = newest if latest is None else max(latest, newest)
                    if tail.last_event_at is None or newest.isoformat() > tail.last_event_at:
                        tail.last_event_at = newest.isoformat()
                dropped = tail.expire(now, self.settings.alerts_late_commit_grace)
                for gap in dropped:
                    log.warning(
                        "alert worker: %s ids %s-%s never appeared; no longer waiting for them",
                        name,
                        gap.lo,
                        gap.hi,
                    )
                changed = changed or bool(dropped)
        if result.rows or changed:
            try:
                with self.lease.fenced() as conn:
                    result.alerts = self._store(conn, firings)
                    self.lease.save_checkpoint(conn, self._checkpoint())
            except Exception:  # LeaseLost included: the in-memory state ran ahead of the store
                self.ready = False
                raise
            if firings and latest is not None:
                # By event time: a backlog being caught up is older than the wall clock, and
                # its windows are still needed.
                self.evaluator.expire(latest)
        return result

    def _store(self, conn: Connection, firings: list[Firing]) -> int:
        stored = 0
        created = self.clock.local_now(self.zone)
        for firing in firings:
            rule, who = firing.rule, firing.operator
            exists = conn.execute(
                select(ALERTS.c.id).where(
                    ALERTS.c.rule == rule.name,
                    ALERTS.c.source == firing.trigger.source,
                    ALERTS.c.trigger_id == firing.trigger.id,
                )
            ).first()
            if exists:
                continue
            inserted = conn.execute(
                insert(ALERTS).values(
                    rule=rule.name,
                    kind=rule.kind,
                    severity=rule.severity,
                    source=firing.trigger.source,
                    trigger_id=firing.trigger.id,
                    operator_key=who.key,
                    operator_id=who.operator_id,
                    operator_name=who.name,
                    company=who.company,
                    department=who.department,
                    role=who.role,
                    window_start=firing.window_start,
                    window_end=firing.window_end,
                    count=firing.count,
                    threshold=rule.threshold,
                    sample_ids=json.dumps(list(firing.sample_ids)),
                    status="open",
                    created_at=created,
                )
            )
            alert_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            stored += 1
            log.warning(
                "alert %s: rule %s (%s) for %s, %s in %s",
                alert_id,
                rule.name,
                rule.severity,
                who.name or who.key,
                firing.count,
                firing.window_end - firing.window_start,
            )
            notice = AlertNotice(
                alert_id=alert_id,
                rule=rule.name,
                kind=rule.kind,
                severity=rule.severity,
                operator=who,
                window_start=firing.window_start,
                window_end=firing.window_end,
                count=firing.count,
                threshold=rule.threshold,
                sample_ids=firing.sample_ids,
                zone=self.zone.key,
                console_url=self._console_link(f"#/alerts?id={alert_id}"),
            )
            self._queue(conn, f"alert:{alert_id}", rule.channels, notice, who.department)
        return stored

    def _queue(
        self,
        conn: Connection,
        subject: str,
        channel_names: Sequence[str],
        notice: AlertNotice | DigestNotice,
        department: str | None,
    ) -> None:
        """Put one notification per accepting channel into the outbox (same transaction)."""
        now = utc_after(self.clock, 0)
        payload = notice_to_json(notice)
        for name in channel_names:
            channel = self.ruleset.channels.get(name)
            if channel is None or not channel.accepts(department):
                continue
            key = f"{subject}:{name}"
            conn.execute(
                insert(DELIVERIES).values(
                    dedupe_key=hashlib.sha256(key.encode()).hexdigest(),
                    subject=key[:255],
                    kind="alert" if isinstance(notice, AlertNotice) else "digest",
                    alert_id=notice.alert_id if isinstance(notice, AlertNotice) else None,
                    channel=name,
                    notice=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    def _console_link(self, fragment: str) -> str | None:
        base = self.settings.public_url
        return f"{base.rstrip('/')}/{fragment}" if base else None

    # --- digests ------------------------------------------------------------------------
    def queue_digests(self) -> int:
        """Queue the daily/weekly digests that are due; how many notifications were queued."""
        config = self.ruleset.digests
        if not config.channels:
            return 0
        due = due_periods(self.clock.local_now(self.zone), config, set(self.digests_sent))
        queued = 0
        for period in due:
            notices = build_digests(
                self.engine,
                period,
                zone=self.zone,
                top_operators=config.top_operators,
                console_url=self._console_link("#/stats"),
            )
            with self.lease.fenced() as conn:
                for notice in notices:
                    group = f"{notice.company or ''}|{notice.department or ''}"
                    self._queue(
                        conn,
                        f"digest:{period.key}:{group}",
                        config.channels,
                        notice,
                        notice.department,
                    )
                    queued += 1
                self.digests_sent.append(period.key)
                self.lease.save_checkpoint(conn, self._checkpoint())
            log.info("alert worker: %s digests queued for %s", len(notices), period.key)
        return queued
