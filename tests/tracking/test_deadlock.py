"""A writer chosen as a deadlock's victim tries again instead of answering 503.

Two server processes whose group commits share request ids lock them in different orders, and
InnoDB rolls one of them back. This builds that deadlock on purpose, with a second transaction
standing in for the other process.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.tracking.recorder import RecordDraft, Recorder, RecordResult
from tests.audit.conftest import OPERATOR, audit_key, draft
from tests.tracking.conftest import fetch_rows

pytestmark = pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])


def _insert(conn: Connection, request_id: str, operator_id: str) -> None:
    conn.execute(
        text(
            "INSERT INTO informationtra (`userId`, `operationEvent`, `operationTime`, "
            "operator_id, request_id) VALUES ('u1', '查看客户详情', NOW(), :op, :rid)"
        ),
        {"op": operator_id, "rid": request_id},
    )


def _wait_for_lock_wait(sources: Sources) -> None:
    deadline = time.monotonic() + 20
    with sources.wechat.connect() as probe:
        while time.monotonic() < deadline:
            # InnoDB refreshes this view only after 0.1 s without a read: poll slower than that.
            time.sleep(0.2)
            waiting = probe.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                    "WHERE trx_state = 'LOCK WAIT'"
                )
            ).scalar_one()
            probe.rollback()
            if waiting:
                return
    raise AssertionError("the recorder never waited for the other transaction's row")


def test_deadlock_victim_retries_and_answers_the_winners_rows(
    sources: Sources, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(sources.wechat, settings.zone, audit_key(settings))
    drafts: list[RecordDraft] = [
        replace(draft("u1"), request_id=f"k-{n}", idempotent=True) for n in (1, 2)
    ]
    operator_id = OPERATOR.operator_id
    caplog.set_level(logging.INFO, logger="infotrack.tracking.recorder")
    with sources.wechat.connect() as other, ThreadPoolExecutor(max_workers=1) as pool:
        # The other writer: heavier (InnoDB rolls back the lighter transaction) and holding k-2.
        for n in range(20):
            _insert(other, f"filler-{n}", "account:other")
        _insert(other, "k-2", operator_id)
        # The recorder inserts k-1, then waits for k-2 ...
        appending = pool.submit(recorder.append_many, drafts)
        _wait_for_lock_wait(sources)
        # ... and the other writer now wants k-1: a deadlock, and the recorder is its victim.
        _insert(other, "k-1", operator_id)
        other.commit()
        outcomes = appending.result(timeout=60)

    assert "deadlock victim (try 1)" in caplog.text
    answered = [outcome for outcome in outcomes if isinstance(outcome, RecordResult)]
    assert answered == outcomes, outcomes
    stored = {
        row["request_id"]: row["id"]
        for row in fetch_rows(sources)
        if row["operator_id"] == operator_id
    }
    assert stored.keys() == {"k-1", "k-2"}
    assert [result.id for result in answered] == [stored["k-1"], stored["k-2"]]
