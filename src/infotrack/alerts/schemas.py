"""Alert filters as the API takes them, validated into :class:`AlertFilters`, and the bodies of
the alert endpoints (camelCase, like the rest of the API)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from infotrack.errors import BadRequest
from infotrack.history.schemas import parse_time
from infotrack.models.alert import ALERT_STATUSES

SEVERITIES = ("low", "medium", "high")
STATUS_LABELS: dict[str, str] = {"open": "待处理", "acknowledged": "已确认", "resolved": "已关闭"}
MAX_COMMENT = 500


@dataclass(frozen=True)
class AlertFilters:
    """Validated filters; times are naive local wall-clock, as ``window_end`` is stored."""

    statuses: tuple[str, ...] = ()  # empty: every status
    severities: tuple[str, ...] = ()
    rule: str | None = None
    operator: str | None = None
    department: str | None = None
    start: datetime | None = None  # inclusive, on window_end
    end: datetime | None = None  # exclusive, on window_end

    def described(self) -> dict[str, Any]:
        """The filters as logged in the access log."""
        out: dict[str, Any] = {}
        if self.statuses:
            out["status"] = list(self.statuses)
        if self.severities:
            out["severity"] = list(self.severities)
        for key in ("rule", "operator", "department"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.start is not None:
            out["start"] = self.start.isoformat()
        if self.end is not None:
            out["end"] = self.end.isoformat()
        return out


def parse_alert_filters(
    zone: ZoneInfo,
    *,
    status: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    rule: str | None = None,
    operator: str | None = None,
    department: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> AlertFilters:
    """Check and normalise raw filter values; raises :class:`BadRequest` with a clear message."""
    statuses = _choices(status, ALERT_STATUSES, "status", "invalid_status")
    severities = _choices(severity, SEVERITIES, "severity", "invalid_severity")
    start_at = parse_time(start, zone, "from", end_of_day=False) if start else None
    end_at = parse_time(end, zone, "to", end_of_day=True) if end else None
    if start_at and end_at and start_at >= end_at:
        raise BadRequest("时间范围不正确:from 必须早于 to", code="invalid_range")
    return AlertFilters(
        statuses=statuses,
        severities=severities,
        rule=_text(rule, "rule", 64),
        operator=_text(operator, "operator", 100),
        department=_text(department, "department", 255),
        start=start_at,
        end=end_at,
    )


def clean_comment(raw: str) -> str:
    """The comment of an ack or resolve: 1 to 500 characters once trimmed."""
    comment = raw.strip()
    if not comment:
        raise BadRequest("请填写处理说明", code="invalid_comment")
    if len(comment) > MAX_COMMENT:
        raise BadRequest(f"处理说明最多 {MAX_COMMENT} 个字符", code="invalid_comment")
    return comment


def _choices(
    raw: Iterable[str] | None, allowed: tuple[str, ...], name: str, code: str
) -> tuple[str, ...]:
    # Both `?status=open&status=acknowledged` and `?status=open,acknowledged` are accepted.
    chosen: list[str] = []
    for value in raw or ():
        for part in value.split(","):
            item = part.strip()
            if not item:
                continue
            if item not in allowed:
                raise BadRequest(
                    f"{name} 的取值 {item!r} 不正确,可选:{', '.join(allowed)}", code=code
                )
            if item not in chosen:
                chosen.append(item)
    return tuple(chosen)


def _text(value: str | None, name: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise BadRequest(f"{name} 过长", code="invalid_filter")
    return value.strip()


class AlertComment(BaseModel):
    """``{"comment": "..."}``: why the alert is acknowledged or resolved; other keys ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"comment": "已与业务员核实,为月底集中回访"}]},
    )

    # Checked (after trimming) by clean_comment, so every refusal carries one code.
    comment: str = Field(description="处理说明,1–500 个字符")


class AlertOperator(BaseModel):
    """Who the alert is about."""

    operatorId: str | None
    name: str | None
    company: str | None
    department: str | None
    role: str | None


class AlertData(BaseModel):
    """An alert as the API shows it; times are ISO 8601 with offset."""

    id: int
    rule: str
    kind: str
    kindLabel: str
    severity: str
    severityLabel: str
    status: str
    statusLabel: str
    operator: AlertOperator
    windowStart: str
    windowEnd: str
    count: int
    threshold: int
    sampleIds: list[int] = Field(description="窗口内的操作记录 ID(informationtra.id)")
    createdAt: str
    acknowledgedAt: str | None
    acknowledgedBy: str | None = Field(description="确认人的操作人ID")
    acknowledgedByName: str | None
    acknowledgedComment: str | None
    resolvedAt: str | None
    resolvedBy: str | None = Field(description="关闭人的操作人ID")
    resolvedByName: str | None
    resolvedComment: str | None


class AlertPage(BaseModel):
    """``{"items": [...], "nextCursor"}``, newest first."""

    items: list[AlertData]
    nextCursor: str | None = Field(description="下一页的游标;null 表示没有更多")


class AlertListResponse(BaseModel):
    """``{"success": true, "data": {"items", "nextCursor"}}``."""

    success: bool = True
    data: AlertPage


class AlertResponse(BaseModel):
    """``{"success": true, "data": <alert>}``."""

    success: bool = True
    data: AlertData


class AlertActionResponse(BaseModel):
    """``{"success": true, "message", "data": <alert as it is now>}``."""

    success: bool = True
    message: str
    data: AlertData
