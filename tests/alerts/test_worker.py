"""The worker against real databases: tail, lease, checkpoint, outbox, digests.

A :class:`ManualClock` stands in for the wall clock; rows carry explicit times, so every
window is exact. Webhooks go to a real local HTTP receiver.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from infotrack.alerts.channels import verify_webhook_signature
from infotrack.alerts.evaluator import Evaluator
from infotrack.alerts.feed import TrailFeed
from infotrack.alerts.lease import LeaseLost
from infotrack.alerts.rules import load_rules
from infotrack.alerts.worker import AlertWorker
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import Clock, ManualClock
from infotrack.models import AccessLogEntry, DeliveryAttempt
from infotrack.models.informationtra import informationtra
from tests.alerts.conftest import (
    BURST_RULES,
    add_rows,
    alerts,
    burst,
    count_alerts,
    deliveries,
    trail_row,
    write_rules,
)
from tests.alerts.receiver import Receiver

NOW = datetime(2026, 11, 27, 15, 0, 0)  # local (Asia/Shanghai), a Friday afternoon
SECRET = "hook-secret-0123456789"


def clock_at(local: datetime) -> ManualClock:
    """A clock showing ``local`` in Asia/Shanghai."""
    return ManualClock(local.replace(tzinfo=UTC).timestamp() - 8 * 3600)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on a local port."""
    with Receiver() as server:
        yield server


@pytest.fixture
def alert_settings(settings: Settings, receiver: Receiver, tmp_path: Path) -> Settings:
    """The test settings plus a rules file: more than 5 views in 10 minutes, to a webhook."""
    rules = write_rules(tmp_path / "rules.toml", BURST_RULES.format(url=receiver.url("/hook")))
    return settings.model_copy(update={"alert_rules_file": rules})


def worker(settings: Settings, sources: Sources, clock: ManualClock) -> AlertWorker:
    """A worker on the test database."""
    return AlertWorker(settings, sources.wechat, clock=clock)


def test_a_burst_raises_one_alert_and_one_signed_webhook(
    alert_settings: Settings, sources: Sources, receiver: Receiver
) -> None:
    add_rows(sources.wechat, burst(NOW - timedelta(minutes=5), 5))
    first = worker(alert_settings, sources, clock_at(NOW)).run_once()
    assert (first.rows, first.alerts) == (5, 0)  # five is the threshold, not over it

    ids = add_rows(sources.wechat, burst(NOW - timedelta(seconds=5), 1))
    second = worker(alert_settings, sources, clock_at(NOW)).run_once()
    assert (second.rows, second.alerts) == (1, 1)
    [alert] = alerts(sources.wechat)
    assert (alert.rule, alert.severity, alert.count, alert.threshold) == ("bulk-view", "high", 6, 5)
    assert alert.trigger_id == ids[0]
    assert (alert.operator_id, alert.operator_name, alert.department) == (
        "account:1",
        "张伟",
        "销售一部",
    )
    assert alert.status == "open"
    assert len(json.loads(alert.sample_ids)) == 6

    [request] = receiver.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert verify_webhook_signature(
        SECRET,
        headers["x-infotrack-timestamp"],
        request.body,
        headers["x-infotrack-signature"],
        now=float(headers["x-infotrack-timestamp"]),
    )
    body = json.loads(request.body)
    assert body["type"] == "alert"
    assert body["alertId"] == alert.id
    [delivery] = deliveries(sources.wechat)
    assert (delivery.status, delivery.attempts) == ("sent", 1)

    # Nothing new: nothing evaluated, nothing sent again.
    third = worker(alert_settings, sources, clock_at(NOW)).run_once()
    assert (third.rows, third.alerts) == (0, 0)
    assert len(receiver.requests) == 1


def test_a_first_run_starts_inside_the_longest_window(
    alert_settings: Settings, sources: Sources, receiver: Receiver
) -> None:
    add_rows(sources.wechat, burst(NOW - timedelta(days=2), 30))  # old history: no alert
    add_rows(sources.wechat, burst(NOW - timedelta(minutes=3), 3))
    result = worker(alert_settings, sources, clock_at(NOW)).run_once()
    assert (result.rows, result.alerts) == (3, 0)
    assert receiver.requests == []


def reference_triggers(settings: Settings, sources: Sources) -> list[int]:
    """The trigger ids one uninterrupted evaluation of every row gives."""
    evaluator = Evaluator(load_rules(settings.alert_rules_file))
    feed = TrailFeed()
    with sources.wechat.connect() as conn:
        rows = conn.execute(select(*feed.columns()).order_by(informationtra.c.id)).all()
    triggers = []
    for row in rows:
        event = feed.to_event(row)
        assert event is not None
        triggers.extend(firing.trigger.id for firing in evaluator.feed(event))
    return triggers


def test_a_restart_neither_misses_nor_repeats(
    alert_settings: Settings, sources: Sources, receiver: Receiver
) -> None:
    clock = clock_at(NOW)
    worker(alert_settings, sources, clock).run_once()  # the checkpoint starts on an empty trail
    start = NOW - timedelta(minutes=50)
    # Two operators, bursts that straddle the restarts and the 30-minute cooldown.
    chunks = [
        burst(start, 8, every=timedelta(seconds=30), operator="account:1")
        + burst(start, 3, every=timedelta(minutes=4), operator="account:2", name="李四"),
        burst(start + timedelta(minutes=4), 10, every=timedelta(seconds=20), operator="account:1"),
        burst(start + timedelta(minutes=33), 12, every=timedelta(seconds=15), operator="account:1")
        + burst(
            start + timedelta(minutes=34),
            9,
            every=timedelta(seconds=5),
            operator="account:2",
            name="李四",
        ),
    ]
    for chunk in chunks:
        add_rows(sources.wechat, chunk)
        dying = worker(alert_settings, sources, clock)
        assert dying.lease.acquire()
        dying.prepare()
        dying.step()
        dying.dispatcher.close()
        # The process dies here: no release, no delivery. The next one waits out the lease.
        clock.advance(alert_settings.alerts_lease_ttl + 1)
    worker(alert_settings, sources, clock).run_once()

    stored = sorted(alert.trigger_id for alert in alerts(sources.wechat))
    assert stored == sorted(reference_triggers(alert_settings, sources))
    assert len(stored) == 3
    assert len(receiver.requests) == 3  # each alert's webhook once


def test_one_worker_holds_the_lease_and_another_takes_over_when_it_dies(
    alert_settings: Settings, sources: Sources
) -> None:
    clock = clock_at(NOW)
    first = worker(alert_settings, sources, clock)
    second = worker(alert_settings, sources, clock)
    assert first.lease.acquire()
    assert not second.lease.acquire()
    clock.advance(alert_settings.alerts_lease_ttl - 1)
    first.lease.renew_if_due()
    clock.advance(alert_settings.alerts_lease_ttl - 1)
    assert not second.lease.acquire()  # renewed: still first's

    first.prepare()
    clock.advance(alert_settings.alerts_lease_ttl + 1)  # first hangs past its lease
    assert second.lease.acquire()
    second.prepare()
    add_rows(sources.wechat, burst(NOW, 6))
    with pytest.raises(LeaseLost):
        first.step()  # woke up: its write is refused, nothing of it is stored
    assert count_alerts(sources.wechat) == 0
    assert second.step().alerts == 1
    assert count_alerts(sources.wechat) == 1


@pytest.mark.mysql
def test_a_row_that_commits_late_is_not_skipped(
    alert_settings: Settings, sources: Sources, backend: str
) -> None:
    if backend != "mysql":
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    clock = clock_at(NOW)
    live = worker(alert_settings, sources, clock)
    assert live.lease.acquire()
    live.prepare()
    add_rows(sources.wechat, burst(NOW - timedelta(minutes=2), 4))
    assert live.step().rows == 4

    slow = sources.wechat.connect()
    slow_tx = slow.begin()
    late_id = slow.execute(
        insert(informationtra).values(**trail_row(NOW - timedelta(minutes=1), customer="late"))
    ).inserted_primary_key[0]
    fast_ids = add_rows(sources.wechat, [trail_row(NOW, customer="fast")])  # commits first
    assert fast_ids[0] > late_id
    assert live.step().rows == 1
    assert count_alerts(sources.wechat) == 0  # 5 views so far: not over 5
    slow_tx.commit()
    slow.close()
    result = live.step()
    assert result.rows == 1
    assert result.alerts == 1  # the late row made it 6
    [alert] = alerts(sources.wechat)
    assert late_id in json.loads(alert.sample_ids)
    assert live.step().rows == 0  # and it is evaluated once


def test_a_bad_rules_file_on_reload_keeps_the_rules_in_force(
    alert_settings: Settings, sources: Sources
) -> None:
    live = worker(alert_settings, sources, clock_at(NOW))
    before = live.ruleset
    path = alert_settings.alert_rules_file
    assert path is not None
    path.write_text(
        path.read_text(encoding="utf-8").replace("threshold = 5", "threshold = -5"),
        encoding="utf-8",
    )
    os.utime(path, (1, 1))
    assert not live.reload_rules_if_changed()
    assert live.ruleset is before
    path.write_text(
        path.read_text(encoding="utf-8").replace("threshold = -5", "threshold = 7"),
        encoding="utf-8",
    )
    os.utime(path, (2, 2))
    assert live.reload_rules_if_changed()
    assert live.ruleset.rules[0].threshold == 7


def test_a_failing_receiver_that_recovers_gets_the_message_once(
    alert_settings: Settings, sources: Sources, receiver: Receiver
) -> None:
    receiver.fail_next(2, status=500)
    now = Clock().local_now(alert_settings.zone)  # the real clock: real backoff
    add_rows(sources.wechat, burst(now - timedelta(minutes=1), 6))
    live = AlertWorker(alert_settings, sources.wechat)
    live.dispatcher.backoff_base = 0.2
    live.run_once()
    assert len(receiver.requests) == 3  # two refused, one accepted
    [delivery] = deliveries(sources.wechat)
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    with sources.wechat.connect() as conn:
        attempts = conn.execute(select(DeliveryAttempt.__table__.c.ok)).scalars().all()
    assert attempts == [False, False, True]


def test_exports_over_the_limit_raise_an_export_volume_alert(
    settings: Settings, sources: Sources, receiver: Receiver, tmp_path: Path
) -> None:
    rules = write_rules(
        tmp_path / "rules.toml",
        '[[rules]]\nname = "bulk-export"\nkind = "export_volume"\n'
        'threshold = 2000\nwindow = "1d"\n',
    )
    configured = settings.model_copy(update={"alert_rules_file": rules})
    table = AccessLogEntry.__table__
    with sources.wechat.begin() as conn:
        for hours, action, rows in ((3, "export", 1500), (2, "history", 5000), (1, "export", 501)):
            conn.execute(
                insert(table).values(
                    occurred_at=NOW - timedelta(hours=hours),
                    operator_id="account:9",
                    operator_name="王强",
                    company="华东贸易有限公司",
                    department="销售一部",
                    role="经理",
                    action=action,
                    filters="{}",
                    row_count=rows,
                )
            )
    worker(configured, sources, clock_at(NOW)).run_once()
    [alert] = alerts(sources.wechat)
    assert (alert.rule, alert.source, alert.count, alert.operator_name) == (
        "bulk-export",
        "access",
        2001,
        "王强",
    )


def test_digests_go_out_once_per_department_at_the_configured_time(
    alert_settings: Settings, sources: Sources, receiver: Receiver
) -> None:
    path = alert_settings.alert_rules_file
    assert path is not None
    path.write_text(
        path.read_text(encoding="utf-8") + '\n[digests]\ndaily = "09:00"\nchannels = ["hook"]\n',
        encoding="utf-8",
    )
    yesterday = NOW  # the day before the digest goes out
    add_rows(
        sources.wechat,
        burst(yesterday, 3)
        + burst(yesterday, 2, department="销售二部", operator="account:2", name="李四"),
    )
    before_nine = datetime(2026, 11, 28, 8, 59)
    worker(alert_settings, sources, clock_at(before_nine)).run_once()
    assert receiver.requests == []
    at_nine = datetime(2026, 11, 28, 9, 0)
    worker(alert_settings, sources, clock_at(at_nine)).run_once()
    bodies = sorted((json.loads(r.body) for r in receiver.requests), key=lambda b: b["department"])
    assert [(b["type"], b["department"], b["totalEvents"]) for b in bodies] == [
        ("digest", "销售一部", 3),
        ("digest", "销售二部", 2),
    ]
    worker(alert_settings, sources, clock_at(at_nine + timedelta(hours=1))).run_once()
    assert len(receiver.requests) == 2


def test_sqlite_keeps_ids_after_a_delete(sources: Sources) -> None:
    """The tail relies on ids never being reused (AUTOINCREMENT on SQLite)."""
    ids = add_rows(sources.wechat, burst(NOW, 2))
    with sources.wechat.begin() as conn:
        conn.execute(text(f"DELETE FROM informationtra WHERE id = {ids[1]}"))
    assert add_rows(sources.wechat, burst(NOW, 1))[0] > ids[1]
