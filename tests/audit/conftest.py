"""Shared helpers for the audit tests: chained rows appended through the real recorder."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from infotrack.audit.chain import AuditKey
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.tracking.recorder import Operator, RecordDraft, Recorder, new_request_id

OPERATOR = Operator(
    operator_id="account:7",
    company="华东贸易有限公司",
    department="销售一部",
    organization="华东大区",
    role="业务员",
    name="张伟",
    assistant="李娜",
    side="supply",
)


def audit_key(settings: Settings) -> AuditKey:
    """The chain key the test settings use."""
    return AuditKey(settings.resolved_audit_key())


def draft(
    customer_id: str = "u1",
    *,
    source: str = "wechat",
    event_type: str = "view_detail",
    text: str = "查看客户详情",
    changes: list[dict[str, Any]] | None = None,
    when: datetime | None = None,
    operator: Operator = OPERATOR,
) -> RecordDraft:
    """One record as the API would hand it to the recorder."""
    return RecordDraft(
        operator=operator,
        customer_id=customer_id,
        customer_source=source,
        event_type=event_type,
        operation_event=text,
        side="supply",
        request_id=new_request_id(),
        changes_json=json.dumps(changes, ensure_ascii=False) if changes else None,
        occurred_at=when,
    )


def append_chained(sources: Sources, settings: Settings, drafts: list[RecordDraft]) -> list[int]:
    """Append through a real recorder (one chain per call); the new rows' ids, in order."""
    recorder = Recorder(sources.wechat, settings.zone, audit_key(settings))
    results = recorder.append_many(drafts)
    ids = []
    for result in results:
        assert not isinstance(result, Exception), result
        ids.append(result.id)
    return ids


def execute(sources: Sources, sql: str, **params: Any) -> None:
    """Run a statement on the wechat database directly, as someone with database access."""
    with sources.wechat.begin() as conn:
        conn.execute(text(sql), params)
