"""Domain errors and the one place that renders them.

Every failure a client can see is an :class:`AppError` with a stable ``code``, a clear
Simplified-Chinese ``message`` and an HTTP ``status``. Services raise them; the handler
installed by :func:`install_error_handlers` renders ``{"success": false, "message", "code"}``.
Nothing else reaches the client: unexpected exceptions become a generic 500 whose details
stay in the server log.

Hierarchy::

    AppError
    ├── BadRequest (400)            invalid input
    │   ├── InvalidPhoneNumber
    │   └── UnknownEventType
    ├── PayloadTooLarge (413)
    ├── Unauthorized (401)          no or bad credentials
    ├── Forbidden (403)
    │   └── SeparationOfDuties      an administrator auditing, or an auditor administering
    ├── NotFound (404)
    │   └── CustomerNotFound
    ├── Conflict (409)
    │   └── CascadeForeignKeyBlocks
    ├── TooManyRequests (429)
    ├── ServiceUnavailable (503)    a database does not answer
    └── ConfigError (500)           refused configuration (also raised by the CLI)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


class AppError(Exception):
    """An error with a stable code, a user-facing message and an HTTP status."""

    status: ClassVar[int] = 500
    code: str = "internal_error"
    message: str = "服务器内部错误,请稍后重试"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body every error answer carries."""
        return {"success": False, "message": self.message, "code": self.code}


class BadRequest(AppError):
    status = 400
    code = "invalid_request"
    message = "请求参数不正确"


class InvalidPhoneNumber(BadRequest):
    code = "invalid_phone_number"
    message = "电话号码格式不正确"


class UnknownEventType(BadRequest):
    code = "unknown_event_type"
    message = "未知的事件类型"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "请求内容过大"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "用户未登录或认证信息缺失"


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "没有权限执行此操作"


class SeparationOfDuties(Forbidden):
    """The act belongs to the other duty: administrators do not audit, auditors do not administer.

    Kept apart from a plain 403 so a client (and an auditor reading refusals) can tell "your
    role is too small" from "your role is on the other side of the separation".
    """

    code = "separation_of_duties"
    message = "账号管理与审计职责分离:此操作不属于你的职责"


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "资源不存在"


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    message = "未找到对应的客户信息"


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "请求与当前状态冲突"


class CascadeForeignKeyBlocks(Conflict):
    code = "cascade_fk_blocks_contact"
    message = (
        "该客户只存在于 contacts 表中,而 informationtra 表仍带有指向 users 表的级联外键,"
        "数据库拒绝写入此记录。请管理员运行 `infotrack doctor` 查看原因,"
        "确认后用 `infotrack init --drop-cascade-fk` 移除该外键。"
    )


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"
    message = "请求过于频繁,请稍后再试"


class ServiceUnavailable(AppError):
    status = 503
    code = "database_unavailable"
    message = "数据库暂时无法访问,请稍后重试"


class ConfigError(AppError):
    code = "config_error"
    message = "配置错误"


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, expected or not, as ``{"success": false, "message", "code"}``."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    def render(error: AppError, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": "60"}
        return render(exc, headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render(validation_error(exc.errors()))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        known: dict[int, AppError] = {
            400: BadRequest("请求体无法解析"),
            404: NotFound("接口不存在"),
            405: AppError("不支持的请求方法", code="method_not_allowed"),
            413: PayloadTooLarge(),
        }
        error = known.get(exc.status_code) or AppError(code="http_error")
        error_status = exc.status_code if exc.status_code in known else 500
        response = render(error)
        response.status_code = error_status
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError) and exc.connection_invalidated or _is_unreachable(exc):
            log.error("database unavailable: %s", exc)
            return render(ServiceUnavailable())
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(AppError())

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
    # Registered by class as well: a handler for ``Exception`` runs in Starlette's outermost
    # middleware, which answers and then re-raises (a traceback per request while a database
    # is down); handlers for specific classes answer and stop there.
    from sqlalchemy.exc import DBAPIError as SQLAlchemyDBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    app.add_exception_handler(SQLAlchemyDBAPIError, on_unexpected)
    app.add_exception_handler(PoolTimeout, on_unexpected)


def _is_unreachable(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError, TimeoutError

    return isinstance(exc, OperationalError | TimeoutError)


_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "list", "dict"})

_FIELD_LABELS = {
    "phoneNumber": "电话号码",
    "operationEvent": "操作事件",
    "eventType": "事件类型",
    "requestId": "请求ID",
    "changes": "变更明细",
    "events": "事件列表",
    "username": "用户名",
    "password": "密码",
    "isSupplySide": "isSupplySide",
}


def validation_error(errors: Any) -> BadRequest:
    """Turn pydantic's error list into one clear Chinese message."""
    first = errors[0] if errors else {}
    # Drop the envelope and pydantic's names for union members ("phoneNumber.str").
    loc = [
        str(part)
        for part in first.get("loc", ())
        if part not in ("body", "query") and part not in _UNION_MEMBERS
    ]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return BadRequest("请求体不是合法的 JSON", code="invalid_json")
    if not loc and kind in ("missing", "model_attributes_type", "dict_type"):
        return BadRequest("请求体必须是 JSON 对象", code="invalid_body")
    field = loc[-1] if loc else ""
    label = _FIELD_LABELS.get(field, field)
    where = ".".join(loc)
    if field in ("phoneNumber", "operationEvent") and kind in ("missing", "string_too_short"):
        return BadRequest("电话号码和操作事件不能为空", code="missing_field")
    # JSON null is the seed's "missing" too (its check is ``== null``); a union type puts the
    # branch name last in the location, so look at the first part.
    if loc and loc[0] in ("phoneNumber", "operationEvent") and first.get("input", "") is None:
        return BadRequest("电话号码和操作事件不能为空", code="missing_field")
    if kind == "missing":
        return BadRequest(f"缺少必填字段:{label}", code="missing_field")
    raw_ctx = first.get("ctx")
    ctx: dict[str, Any] = raw_ctx if isinstance(raw_ctx, dict) else {}
    if kind == "value_error" and "error" in ctx:
        error = ctx["error"]
        if isinstance(error, AppError):
            return error if isinstance(error, BadRequest) else BadRequest(error.message)
        return BadRequest(f"{label}:{error}", code="invalid_field")
    detail = _PYDANTIC_KINDS.get(kind, first.get("msg", ""))
    return BadRequest(f"字段 {where or label} 不正确:{detail}", code="invalid_field")


_PYDANTIC_KINDS = {
    "string_type": "应为字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "too_long": "条目过多",
    "too_short": "不能为空",
    "extra_forbidden": "不允许的字段",
}
