"""Reading and handling alerts: pages of alerts, one alert, acknowledge, resolve.

The worker writes alerts; people read and handle them here. The reader's scope (history's,
from their role) is part of the WHERE clause of every query and every update, so an alert
outside it is indistinguishable from a missing one. Roles that read only their own records
do not handle alerts. These functions only flush: the caller's session scope commits.
Blocking: the HTTP layer calls them from a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, select, true, update
from sqlalchemy.orm import Session

from infotrack.alerts.schemas import STATUS_LABELS, AlertData, AlertFilters, AlertOperator
from infotrack.alerts.types import KIND_LABELS, SEVERITY_LABELS
from infotrack.auth.identity import Identity
from infotrack.config import Settings
from infotrack.errors import BadRequest, Conflict, Forbidden, NotFound
from infotrack.history.scope import ReadScope, scope_for
from infotrack.kit.clock import to_aware
from infotrack.kit.cursor import InvalidCursor, decode_cursor, encode_cursor
from infotrack.models.alert import Alert


def alert_reader(identity: Identity, settings: Settings) -> ReadScope:
    """The caller's read scope, when it is wider than their own records; 403 otherwise."""
    scope = scope_for(identity, settings)
    if scope.kind == "own":
        raise Forbidden(
            "没有查看告警的权限:你的角色只能查看本人的操作记录",
            code="alerts_forbidden",
        )
    return scope


def alert_clause(scope: ReadScope) -> ColumnElement[bool]:
    """The alerts this scope may read and handle."""
    if scope.kind == "all":
        return true()
    if scope.kind == "company":
        return Alert.company == scope.company if scope.company else false()
    if scope.kind == "department":
        # As for the trail: a scope missing one of its fields matches nothing.
        if not (scope.company and scope.department):
            return false()
        return and_(Alert.company == scope.company, Alert.department == scope.department)
    return false()  # refused before any query by alert_reader; never widen by accident


def filter_clauses(filters: AlertFilters) -> list[ColumnElement[bool]]:
    """The filters as WHERE conditions."""
    conds: list[ColumnElement[bool]] = []
    if filters.statuses:
        conds.append(Alert.status.in_(filters.statuses))
    if filters.severities:
        conds.append(Alert.severity.in_(filters.severities))
    if filters.rule:
        conds.append(Alert.rule == filters.rule)
    if filters.operator:
        conds.append(Alert.operator_name == filters.operator)
    if filters.department:
        conds.append(Alert.department == filters.department)
    if filters.start is not None:
        conds.append(Alert.window_end >= filters.start)
    if filters.end is not None:
        conds.append(Alert.window_end < filters.end)
    return conds


def alert_page(
    session: Session,
    scope: ReadScope,
    filters: AlertFilters,
    *,
    limit: int,
    cursor: str | None,
    key: str,
    zone: ZoneInfo,
) -> tuple[list[AlertData], str | None]:
    """One page of matching alerts, newest first, and the cursor of the next page."""
    query = select(Alert).where(alert_clause(scope), *filter_clauses(filters))
    after = _after(cursor, key)
    if after is not None:
        query = query.where(Alert.id < after)
    # One row more than asked tells whether another page exists without a COUNT.
    rows = list(session.scalars(query.order_by(Alert.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].id], key) if more and rows else None
    return [alert_data(row, zone) for row in rows], next_cursor


def get_alert(session: Session, scope: ReadScope, alert_id: int) -> Alert:
    """One alert within the scope; 404 when missing or outside it (its existence is not told)."""
    query = select(Alert).where(Alert.id == alert_id, alert_clause(scope))
    alert = session.scalar(query.execution_options(populate_existing=True))
    if alert is None:
        raise NotFound(f"告警 {alert_id} 不存在", code="alert_not_found")
    return alert


def acknowledge(
    session: Session, scope: ReadScope, alert_id: int, who: Identity, comment: str, now: datetime
) -> Alert:
    """Mark an open alert acknowledged, with who and why; 409 unless it is open."""
    values = {
        "status": "acknowledged",
        "acknowledged_at": now,
        "acknowledged_by": who.operator_id,
        "acknowledged_by_name": who.name,
        "ack_comment": comment,
    }
    return _transition(session, scope, alert_id, ("open",), values, code="alert_not_open")


def resolve(
    session: Session, scope: ReadScope, alert_id: int, who: Identity, comment: str, now: datetime
) -> Alert:
    """Close an open or acknowledged alert, with who and why; 409 when already resolved."""
    values = {
        "status": "resolved",
        "resolved_at": now,
        "resolved_by": who.operator_id,
        "resolved_by_name": who.name,
        "resolve_comment": comment,
    }
    return _transition(
        session, scope, alert_id, ("open", "acknowledged"), values, code="alert_already_resolved"
    )


def _transition(
    session: Session,
    scope: ReadScope,
    alert_id: int,
    allowed: tuple[str, ...],
    values: Mapping[str, Any],
    *,
    code: str,
) -> Alert:
    # A conditional UPDATE, not read-then-write: of two people handling one alert at once,
    # the second waits for the first's row lock and then matches no row (MySQL re-reads the
    # committed row under READ COMMITTED; SQLite serialises writers), so only one wins.
    statement = (
        update(Alert)
        .where(Alert.id == alert_id, alert_clause(scope), Alert.status.in_(allowed))
        .values(**values)
    )
    changed = session.connection().execute(statement).rowcount
    alert = get_alert(session, scope, alert_id)  # 404 when missing or outside the scope
    if changed != 1:
        label = STATUS_LABELS.get(alert.status, alert.status)
        raise Conflict(f"告警 {alert_id} 当前状态为“{label}”,不能执行此操作", code=code)
    return alert


def alert_data(alert: Alert, zone: ZoneInfo) -> AlertData:
    """The alert as the API shows it."""
    return AlertData(
        id=alert.id,
        rule=alert.rule,
        kind=alert.kind,
        kindLabel=KIND_LABELS.get(alert.kind, alert.kind),
        severity=alert.severity,
        severityLabel=SEVERITY_LABELS.get(alert.severity, alert.severity),
        status=alert.status,
        statusLabel=STATUS_LABELS.get(alert.status, alert.status),
        operator=AlertOperator(
            operatorId=alert.operator_id,
            name=alert.operator_name,
            company=alert.company,
            department=alert.department,
            role=alert.role,
        ),
        windowStart=to_aware(alert.window_start, zone).isoformat(),
        windowEnd=to_aware(alert.window_end, zone).isoformat(),
        count=alert.count,
        threshold=alert.threshold,
        sampleIds=_sample_ids(alert.sample_ids),
        createdAt=to_aware(alert.created_at, zone).isoformat(),
        acknowledgedAt=_iso(alert.acknowledged_at, zone),
        acknowledgedBy=alert.acknowledged_by,
        acknowledgedByName=alert.acknowledged_by_name,
        acknowledgedComment=alert.ack_comment,
        resolvedAt=_iso(alert.resolved_at, zone),
        resolvedBy=alert.resolved_by,
        resolvedByName=alert.resolved_by_name,
        resolvedComment=alert.resolve_comment,
    )


def _after(cursor: str | None, key: str) -> int | None:
    if not cursor:
        return None
    try:
        (last_id,) = decode_cursor(cursor, key)
        return int(last_id)
    except (InvalidCursor, ValueError, TypeError):
        raise BadRequest(
            "cursor 无效:请使用上一页返回的 nextCursor", code="invalid_cursor"
        ) from None


def _sample_ids(raw: str | None) -> list[int]:
    # Written by our worker, but one unreadable row must not break a whole page.
    try:
        values = json.loads(raw) if raw else []
    except ValueError:
        return []
    if not isinstance(values, list):
        return []
    return [int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return to_aware(value, zone).isoformat() if value else None
