"""Request and response bodies of the record endpoints (the seed's contract, camelCase)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_CHANGES = 50
MAX_CHANGE_VALUE_CHARS = 2000
MAX_BATCH = 100


class Change(BaseModel):
    """One changed field of an edit."""

    model_config = ConfigDict(extra="ignore")

    field: str = Field(min_length=1, max_length=64)
    old: str | int | float | bool | None = None
    new: str | int | float | bool | None = None

    @field_validator("old", "new")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_CHANGE_VALUE_CHARS:
            raise ValueError(f"单个值最多 {MAX_CHANGE_VALUE_CHARS} 个字符")
        return value


class RecordRequest(BaseModel):
    """``{"phoneNumber", "operationEvent", "eventType"?, "requestId"?, "changes"?}``.

    Anything else in the body (an operator name, say) is ignored: identity comes from the
    session only.
    """

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
                {
                    "phoneNumber": "+86 138-0013-8000",
                    "operationEvent": "修改客户信息",
                    "eventType": "edit",
                    "requestId": "5f0c7e0e-3c1b-4f7e-9d7e-1a2b3c4d5e6f",
                    "changes": [{"field": "level", "old": "B", "new": "A"}],
                },
            ]
        },
    )

    phoneNumber: str | int = Field(description="客户电话,任意常见写法")
    operationEvent: str = Field(min_length=1, description="操作事件,如 查看客户详情")
    eventType: str | None = Field(default=None, description="事件类型代码;省略时按文本推断")
    requestId: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="幂等键:同一操作人重复提交同一 requestId 只写一条",
    )
    changes: list[Change] | None = Field(default=None, max_length=MAX_CHANGES)


class BatchRequest(BaseModel):
    """``{"events": [...]}``: each event is validated on its own."""

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class RecordData(BaseModel):
    """The committed record."""

    id: int
    userId: str
    source: str


class RecordResponse(BaseModel):
    """``{"success": true, "message": "操作记录成功", "data": {...}}``."""

    success: bool
    message: str
    data: RecordData | None = None
    code: str | None = None
