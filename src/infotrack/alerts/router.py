"""``/api/information-tracking/alerts``: list alerts, read one, acknowledge and resolve them.

Readers see alerts within their history scope (经理/主管 their department, 总监/管理员/审计
their company, 系统管理员 all); 业务员 are refused. Every call is written to the access log,
refusals of a named alert included (probing for other companies' alerts leaves a trace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from infotrack.alerts.schemas import (
    AlertActionResponse,
    AlertComment,
    AlertData,
    AlertFilters,
    AlertListResponse,
    AlertPage,
    AlertResponse,
    clean_comment,
    parse_alert_filters,
)
from infotrack.alerts.service import (
    acknowledge,
    alert_data,
    alert_page,
    alert_reader,
    get_alert,
    resolve,
)
from infotrack.audit.access_log import AccessContext, record_access
from infotrack.auth.deps import RuntimeDep
from infotrack.db import session_scope
from infotrack.errors import AppError, NotFound
from infotrack.history.router import Access
from infotrack.history.schemas import parse_limit
from infotrack.history.scope import ReadScope
from infotrack.kit.clock import local_now
from infotrack.models.alert import Alert
from infotrack.runtime import Runtime

router = APIRouter(prefix="/api/information-tracking/alerts", tags=["告警"])

T = TypeVar("T")
AlertId = Annotated[str, Path(description="告警 ID")]


async def alert_scope(ctx: Access, runtime: RuntimeDep) -> ReadScope:
    """The caller's scope, when their role handles alerts; 403 otherwise."""
    return alert_reader(ctx.identity, runtime.settings)


# Declared before the filters in each route: a 业务员 hears "forbidden", not "bad filter".
Scope = Annotated[ReadScope, Depends(alert_scope)]


async def alert_filters(
    runtime: RuntimeDep,
    status: Annotated[
        list[str] | None, Query(description="open | acknowledged | resolved;可重复或逗号分隔")
    ] = None,
    severity: Annotated[
        list[str] | None, Query(description="low | medium | high;可重复或逗号分隔")
    ] = None,
    rule: Annotated[str | None, Query(description="规则名")] = None,
    operator: Annotated[str | None, Query(description="操作人姓名")] = None,
    department: Annotated[str | None, Query(description="部门")] = None,
    start: Annotated[
        str | None, Query(alias="from", description="窗口结束时间不早于(ISO 8601)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="窗口结束时间不晚于(ISO 8601)")
    ] = None,
) -> AlertFilters:
    """The alert filters of a request, validated."""
    return parse_alert_filters(
        runtime.settings.zone,
        status=status,
        severity=severity,
        rule=rule,
        operator=operator,
        department=department,
        start=start,
        end=end,
    )


Filters = Annotated[AlertFilters, Depends(alert_filters)]


def _unit_of_work(engine: Engine, work: Callable[[Session], T]) -> T:
    # The edge: services only flush, this commits (or rolls back on any error).
    with session_scope(engine) as session:
        return work(session)


async def _log(
    runtime: Runtime, ctx: AccessContext, action: str, filters: dict[str, Any], rows: int
) -> None:
    settings = runtime.settings
    await run_in_threadpool(
        record_access, runtime.sources.wechat, settings.zone, ctx, action, filters, rows
    )


def _alert_id(raw: str) -> int:
    # Taken as text: "abc" or an id beyond any column is simply an alert that does not exist.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"告警 {raw[:40]} 不存在", code="alert_not_found")
    return int(raw)


async def _one(
    runtime: Runtime,
    ctx: AccessContext,
    action: str,
    raw_id: str,
    work: Callable[[Session, int], Alert],
) -> AlertData:
    """Run ``work`` on one alert in a unit of work, logging the outcome either way."""
    described: dict[str, Any] = {"id": raw_id[:40]}
    zone = runtime.settings.zone
    try:
        alert_id = _alert_id(raw_id)
        described["id"] = alert_id
        data = await run_in_threadpool(
            _unit_of_work, runtime.sources.wechat, lambda s: alert_data(work(s, alert_id), zone)
        )
    except AppError as exc:
        await _log(runtime, ctx, action, described | {"refused": exc.code}, 0)
        raise
    await _log(runtime, ctx, action, described | {"status": data.status}, 1)
    return data


@router.get("", response_model=AlertListResponse, summary="告警列表")
async def list_alerts(
    scope: Scope,
    filters: Filters,
    ctx: Access,
    runtime: RuntimeDep,
    limit: Annotated[int | None, Query(description="每页条数 1–200,默认 50")] = None,
    cursor: Annotated[str | None, Query(description="上一页返回的 nextCursor")] = None,
) -> AlertListResponse:
    """Alerts the reader may see, newest first, with keyset paging."""
    size = parse_limit(limit)
    settings = runtime.settings
    key = runtime.tokens.cursor_key
    items, next_cursor = await run_in_threadpool(
        _unit_of_work,
        runtime.sources.wechat,
        lambda s: alert_page(
            s, scope, filters, limit=size, cursor=cursor, key=key, zone=settings.zone
        ),
    )
    described = filters.described() | {"cursor": bool(cursor), "limit": size}
    await _log(runtime, ctx, "alert_list", described, len(items))
    return AlertListResponse(data=AlertPage(items=items, nextCursor=next_cursor))


@router.get("/{alertId}", response_model=AlertResponse, summary="告警详情")
async def read_alert(
    alertId: AlertId, scope: Scope, ctx: Access, runtime: RuntimeDep
) -> AlertResponse:
    """One alert; 404 when it does not exist or lies outside the reader's scope."""
    data = await _one(runtime, ctx, "alert_read", alertId, lambda s, i: get_alert(s, scope, i))
    return AlertResponse(data=data)


@router.post("/{alertId}/ack", response_model=AlertActionResponse, summary="确认告警")
async def ack_alert(
    alertId: AlertId, body: AlertComment, scope: Scope, ctx: Access, runtime: RuntimeDep
) -> AlertActionResponse:
    """Acknowledge an open alert: who (from the session) and why (the comment)."""
    comment = clean_comment(body.comment)
    zone = runtime.settings.zone
    data = await _one(
        runtime,
        ctx,
        "alert_ack",
        alertId,
        lambda s, i: acknowledge(s, scope, i, ctx.identity, comment, local_now(zone)),
    )
    return AlertActionResponse(message="告警已确认", data=data)


@router.post("/{alertId}/resolve", response_model=AlertActionResponse, summary="关闭告警")
async def resolve_alert(
    alertId: AlertId, body: AlertComment, scope: Scope, ctx: Access, runtime: RuntimeDep
) -> AlertActionResponse:
    """Resolve an open or acknowledged alert, with who and why."""
    comment = clean_comment(body.comment)
    zone = runtime.settings.zone
    data = await _one(
        runtime,
        ctx,
        "alert_resolve",
        alertId,
        lambda s, i: resolve(s, scope, i, ctx.identity, comment, local_now(zone)),
    )
    return AlertActionResponse(message="告警已关闭", data=data)
