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


def crm_row(sources: Sources, user_id: str = "u-crm", **columns: Any) -> int:
    """A row as the CRM's own code writes it (the seed's columns, no chain); its id.

    ``columns`` override or add to the defaults (an infotrack column makes a forged row)."""
    values = {
        "tracompany": "华东贸易有限公司",
        "trauserName": "王芳",
        "userId": user_id,
        "operationEvent": "查看客户详情",
        "operationTime": "2026-11-27 10:00:00",
    } | columns
    quote = '"' if sources.wechat.dialect.name == "sqlite" else "`"
    names = ", ".join(f"{quote}{k}{quote}" for k in values)
    marks = ", ".join(f":{k}" for k in values)
    with sources.wechat.begin() as conn:
        conn.execute(text(f"INSERT INTO informationtra ({names}) VALUES ({marks})"), values)
        return int(conn.execute(text("SELECT MAX(id) FROM informationtra")).scalar_one())


def execute(sources: Sources, sql: str, **params: Any) -> None:
    """Run a statement on the wechat database directly, as someone with database access."""
    with sources.wechat.begin() as conn:
        conn.execute(text(sql), params)
