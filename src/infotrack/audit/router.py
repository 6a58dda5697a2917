"""``/api/information-tracking/audit/verify``: the trail check, for auditors.

Only ``INFOTRACK_VERIFY_AUDIT_ROLES`` (审计, 系统管理员) may run it; the check and its outcome
are written to the access log, and so is a refused attempt (``audit_refused``). A whole large
trail takes a while (see benchmarks/README.md): ``from``/``to`` narrow it to the rows of a time
range.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from infotrack.audit.refusals import log_refusal
from infotrack.audit.verify_service import run_verify, verify_range
from infotrack.auth.deps import RuntimeDep
from infotrack.config import Settings
from infotrack.errors import Forbidden, SeparationOfDuties
from infotrack.history.router import Access

router = APIRouter(prefix="/api/information-tracking/audit", tags=["审计"])


@router.get("/verify", summary="校验操作记录是否被篡改")
async def verify(
    request: Request,
    ctx: Access,
    runtime: RuntimeDep,
    start: Annotated[str | None, Query(alias="from", description="起始时间(ISO 8601)")] = None,
    end: Annotated[str | None, Query(alias="to", description="结束时间(ISO 8601)")] = None,
) -> dict[str, Any]:
    """Every altered, deleted or inserted row by id; rows the CRM wrote itself listed apart."""
    settings = runtime.settings
    refused = _verify_refusal(ctx.identity.role or "", settings)
    if refused is not None:
        await log_refusal(runtime, ctx, request, refused, "audit_refused")
        raise refused
    scope = verify_range(settings, start, end)
    report = await run_in_threadpool(run_verify, settings, runtime.sources, ctx, scope)
    return {
        "success": True,
        "message": "校验通过" if report.ok else "发现篡改",
        "data": report.data(),
    }


def _verify_refusal(role: str, settings: Settings) -> Forbidden | None:
    if role in settings.verify_audit_roles:
        return None
    if role in settings.account_admin_roles:
        return SeparationOfDuties("账号管理与审计职责分离:管理员不能校验操作记录")
    return Forbidden("只有审计人员或系统管理员可以校验操作记录", code="audit_forbidden")
