"""``POST /api/information-tracking/record`` (the seed's endpoint) and its batch form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from infotrack.auth.deps import CurrentIdentity, RuntimeDep, client_address, current_identity
from infotrack.errors import AppError, ServiceUnavailable, validation_error
from infotrack.runtime import Runtime
from infotrack.tracking.recorder import RecordDraft, RecordResult
from infotrack.tracking.schemas import BatchRequest, RecordRequest, RecordResponse
from infotrack.tracking.service import build_draft, check_side, side_of

router = APIRouter(prefix="/api/information-tracking", tags=["操作记录"])

SUCCESS_MESSAGE = "操作记录成功"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "参数错误(电话号码、事件类型、字段缺失)", "model": RecordResponse},
    401: {"description": "未登录或令牌无效", "model": RecordResponse},
    403: {
        "description": "账号所属端与 isSupplySide 不符,或 CSRF 校验失败",
        "model": RecordResponse,
    },
    404: {"description": "未找到对应的客户信息", "model": RecordResponse},
    409: {"description": "级联外键阻止写入 contacts 客户", "model": RecordResponse},
    413: {"description": "操作事件或变更明细过长", "model": RecordResponse},
    503: {"description": "数据库暂时不可用", "model": RecordResponse},
}


@router.post("/record", response_model=RecordResponse, responses=_ERRORS, summary="记录一次操作")
async def record(
    body: RecordRequest,
    request: Request,
    isSupplySide: bool = Query(default=True, description="true 供应端,false 销售端"),
) -> JSONResponse:
    """Record that the signed-in operator viewed, edited or followed up a customer.

    Answers ``success: true`` only after the row is committed. Identity comes from the
    session (token, cookie or trusted proxy headers), never from the body.
    """
    # The hot endpoint resolves its identity itself rather than through FastAPI dependencies:
    # the same checks, a tenth of the per-request overhead.
    runtime: Runtime = request.app.state.runtime
    identity = await current_identity(request, runtime)
    side = side_of(isSupplySide)
    check_side(identity, side)
    draft = await build_draft(
        body,
        identity,
        side,
        client_address(request, runtime.settings),
        runtime.resolver,
        runtime.settings.default_region,
    )
    result = await runtime.recorder.submit(draft)
    return JSONResponse({"success": True, "message": SUCCESS_MESSAGE, "data": result.data()})


@router.post("/record/batch", summary="批量记录操作(每条独立成败)")
async def record_batch(
    body: BatchRequest,
    request: Request,
    identity: CurrentIdentity,
    runtime: RuntimeDep,
    isSupplySide: bool = Query(default=True, description="true 供应端,false 销售端"),
) -> JSONResponse:
    """Record up to 100 events in one call; one answer per event, in order.

    Lets a page flush its offline queue at once. Each event carries its own ``requestId``,
    so the call can be retried whole: events already written answer with their first row.
    """
    side = side_of(isSupplySide)
    check_side(identity, side)
    addr = client_address(request, runtime.settings)
    outcomes: list[RecordDraft | AppError] = []
    for raw in body.events:
        try:
            event = RecordRequest.model_validate(raw)
            outcomes.append(
                await build_draft(
                    event, identity, side, addr, runtime.resolver, runtime.settings.default_region
                )
            )
        except ValidationError as exc:
            outcomes.append(validation_error(exc.errors()))
        except AppError as exc:
            outcomes.append(exc)
    drafts = [o for o in outcomes if isinstance(o, RecordDraft)]
    written = iter(await runtime.recorder.submit_many(drafts) if drafts else [])
    final = [o if isinstance(o, AppError) else next(written) for o in outcomes]
    if any(isinstance(o, ServiceUnavailable) for o in final) and not any(
        isinstance(o, RecordResult) for o in final
    ):
        # Nothing could be written because a database is down: one 503 tells the page to
        # retry the whole batch later (its requestIds make that safe).
        raise ServiceUnavailable()
    results = [_item(o) for o in final]
    failed = sum(1 for item in results if not item["success"])
    return JSONResponse(
        {
            "success": failed == 0,
            "message": f"成功 {len(results) - failed} 条,失败 {failed} 条",
            "results": results,
        }
    )


def _item(outcome: RecordResult | AppError) -> dict[str, Any]:
    if isinstance(outcome, RecordResult):
        return {"success": True, "status": 200, "message": SUCCESS_MESSAGE, "data": outcome.data()}
    return {**outcome.body(), "status": outcome.status}
