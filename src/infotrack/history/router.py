"""``/api/information-tracking/records``, a customer's timeline, ``/stats`` and the access log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from infotrack.audit.access_log import AccessContext, list_access, record_access
from infotrack.audit.refusals import log_refusal
from infotrack.auth.deps import CurrentIdentity, RuntimeDep, client_address
from infotrack.config import Settings
from infotrack.errors import BadRequest, Forbidden, SeparationOfDuties
from infotrack.history.schemas import GROUP_BYS, TrailFilters, parse_filters, parse_limit
from infotrack.history.scope import scope_for
from infotrack.history.service import HistoryService
from infotrack.logs import request_id_var

router = APIRouter(prefix="/api/information-tracking", tags=["查询与统计"])


async def trail_filters(
    runtime: RuntimeDep,
    phoneNumber: Annotated[str | None, Query(description="客户电话(任意常见写法)")] = None,
    userId: Annotated[str | None, Query(description="客户ID")] = None,
    operator: Annotated[str | None, Query(description="操作人姓名(trauserName)")] = None,
    department: Annotated[str | None, Query(description="部门")] = None,
    eventType: Annotated[str | None, Query(description="事件类型代码")] = None,
    source: Annotated[str | None, Query(description="wechat | primary")] = None,
    start: Annotated[str | None, Query(alias="from", description="起始时间 ISO 8601")] = None,
    end: Annotated[str | None, Query(alias="to", description="结束时间 ISO 8601")] = None,
    q: Annotated[str | None, Query(description="操作事件包含的文字")] = None,
) -> TrailFilters:
    """The history filters of a request, validated."""
    return parse_filters(
        runtime.settings.zone,
        runtime.settings.default_region,
        phone=phoneNumber,
        user_id=userId,
        operator=operator,
        department=department,
        event_type=eventType,
        source=source,
        start=start,
        end=end,
        q=q,
    )


Filters = Annotated[TrailFilters, Depends(trail_filters)]


async def history_service(request: Request, runtime: RuntimeDep) -> HistoryService:
    """One service per process, made on first use."""
    service: HistoryService | None = getattr(request.app.state, "history", None)
    if service is None:
        service = HistoryService(runtime)
        request.app.state.history = service
    return service


History = Annotated[HistoryService, Depends(history_service)]


async def access_context(
    request: Request, identity: CurrentIdentity, runtime: RuntimeDep
) -> AccessContext:
    """Who is reading, for the access log."""
    return AccessContext(identity, client_address(request, runtime.settings), request_id_var.get())


Access = Annotated[AccessContext, Depends(access_context)]


@router.get("/records", summary="操作记录查询")
async def records(
    filters: Filters,
    history: History,
    ctx: Access,
    runtime: RuntimeDep,
    limit: Annotated[int | None, Query(description="每页条数 1–200,默认 50")] = None,
    cursor: Annotated[str | None, Query(description="上一页返回的 nextCursor")] = None,
) -> dict[str, Any]:
    """Records the reader may see, newest first, with keyset paging."""
    scope = scope_for(ctx.identity, runtime.settings)
    page = await run_in_threadpool(
        history.search, filters, scope, ctx, limit=parse_limit(limit), cursor=cursor
    )
    return {"success": True, "data": {"items": page.items, "nextCursor": page.next_cursor}}


@router.get("/customers/{userId}/records", summary="客户操作时间线")
async def customer_timeline(
    history: History,
    ctx: Access,
    runtime: RuntimeDep,
    userId: Annotated[str, Path(max_length=100, description="客户ID")],
    source: Annotated[str | None, Query(description="wechat | primary")] = None,
    limit: Annotated[int | None, Query(description="每页条数 1–200,默认 50")] = None,
    cursor: Annotated[str | None, Query(description="上一页返回的 nextCursor")] = None,
) -> dict[str, Any]:
    """One customer's records (the seed mapper's ``selectByUserId``), newest first."""
    filters = parse_filters(
        runtime.settings.zone, runtime.settings.default_region, user_id=userId, source=source
    )
    scope = scope_for(ctx.identity, runtime.settings)
    page = await run_in_threadpool(
        history.search,
        filters,
        scope,
        ctx,
        limit=parse_limit(limit),
        cursor=cursor,
        action="timeline",
    )
    return {"success": True, "data": {"items": page.items, "nextCursor": page.next_cursor}}


@router.get("/stats", summary="统计分析")
async def stats(
    filters: Filters,
    history: History,
    ctx: Access,
    runtime: RuntimeDep,
    groupBy: Annotated[str, Query(description=" | ".join(GROUP_BYS))] = "day",
) -> dict[str, Any]:
    """Counts per day, hour, weekday×hour, operator, department, event type or source."""
    if groupBy not in GROUP_BYS:
        raise BadRequest(f"groupBy 只能是 {', '.join(GROUP_BYS)}", code="invalid_group_by")
    scope = scope_for(ctx.identity, runtime.settings)
    data = await run_in_threadpool(history.stats, filters, scope, ctx, groupBy)
    return {"success": True, "data": data}


@router.get("/access-log", summary="访问日志(谁查看了什么、谁做了哪些管理操作)", tags=["审计"])
async def access_log(
    request: Request,
    ctx: Access,
    runtime: RuntimeDep,
    limit: Annotated[int | None, Query(description="每页条数 1–200,默认 50")] = None,
    beforeId: Annotated[int | None, Query(description="上一页最后一条的 id")] = None,
) -> dict[str, Any]:
    """Reads of the trail and administrative acts, newest first; 审计/系统管理员 only, within
    their scope. A reader who may manage accounts never sees the entries of their own acts.
    A refused attempt is itself logged (``audit_refused``)."""
    settings = runtime.settings
    role = ctx.identity.role or ""
    refused = _access_log_refusal(role, settings)
    if refused is not None:
        await log_refusal(runtime, ctx, request, refused, "audit_refused")
        raise refused
    hide = ctx.identity.operator_id if role in settings.account_admin_roles else None
    scope = scope_for(ctx.identity, settings)
    size = parse_limit(limit)
    engine = runtime.sources.wechat
    entries = await run_in_threadpool(
        list_access,
        engine,
        settings.zone,
        scope,
        before_id=beforeId,
        limit=size,
        hide_operator=hide,
    )
    next_before = entries[-1]["id"] if len(entries) == size else None
    # Reading the access log is itself a read worth recording.
    await run_in_threadpool(
        record_access,
        engine,
        settings.zone,
        ctx,
        "access_log",
        {"limit": size, "beforeId": beforeId},
        len(entries),
    )
    return {"success": True, "data": {"items": entries, "nextBeforeId": next_before}}


def _access_log_refusal(role: str, settings: Settings) -> Forbidden | None:
    if role in settings.access_log_roles:
        return None
    readers = "、".join(settings.access_log_roles) or "(未配置)"
    if role in settings.account_admin_roles:
        return SeparationOfDuties(
            f"{role}负责账号管理,不能查看访问日志:账号管理与审计职责分离,访问日志由{readers}查看"
        )
    return Forbidden(f"只有{readers}可以查看访问日志", code="forbidden_role")
