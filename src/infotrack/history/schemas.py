"""History filters as the API and the CLI take them, validated into :class:`TrailFilters`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from infotrack.errors import BadRequest, UnknownEventType
from infotrack.kit.phone import Phone, parse_phone
from infotrack.tracking.events import EventType

SOURCES = ("wechat", "primary")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
GROUP_BYS = ("day", "hour", "weekday_hour", "operator", "department", "eventType", "source")


@dataclass(frozen=True)
class TrailFilters:
    """Validated filters; times are naive local wall-clock, as ``operationTime`` is stored."""

    phone: Phone | None = None
    user_id: str | None = None
    operator: str | None = None
    department: str | None = None
    event_type: EventType | None = None
    source: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    q: str | None = None

    def described(self) -> dict[str, Any]:
        """The filters as logged in the access log (the phone as the reader typed it, masked)."""
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "phone"}
        if self.phone is not None:
            out["phone"] = self.phone.masked()
        if self.event_type is not None:
            out["event_type"] = self.event_type.value
        for key in ("start", "end"):
            if key in out:
                out[key] = out[key].isoformat()
        return out


def parse_filters(
    zone: ZoneInfo,
    region: str,
    *,
    phone: str | None = None,
    user_id: str | None = None,
    operator: str | None = None,
    department: str | None = None,
    event_type: str | None = None,
    source: str | None = None,
    start: str | None = None,
    end: str | None = None,
    q: str | None = None,
) -> TrailFilters:
    """Check and normalise raw filter values; raises :class:`BadRequest` with a clear message."""
    parsed_type = None
    if event_type:
        try:
            parsed_type = EventType(event_type.strip())
        except ValueError:
            allowed = ", ".join(e.value for e in EventType)
            raise UnknownEventType(f"未知的事件类型 {event_type!r},可选:{allowed}") from None
    if source and source not in SOURCES:
        raise BadRequest("source 只能是 wechat 或 primary", code="invalid_source")
    start_at = parse_time(start, zone, "from", end_of_day=False) if start else None
    end_at = parse_time(end, zone, "to", end_of_day=True) if end else None
    if start_at and end_at and start_at >= end_at:
        raise BadRequest("时间范围不正确:from 必须早于 to", code="invalid_range")
    return TrailFilters(
        phone=parse_phone(phone, region) if phone else None,
        user_id=_text(user_id, "userId", 100),
        operator=_text(operator, "operator", 100),
        department=_text(department, "department", 255),
        event_type=parsed_type,
        source=source or None,
        start=start_at,
        end=end_at,
        q=_text(q, "q", 200),
    )


def parse_time(raw: str, zone: ZoneInfo, name: str, *, end_of_day: bool) -> datetime:
    """ISO 8601 to naive local time; a bare date means the whole day (``to`` is exclusive)."""
    value = raw.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{name} 不是合法的 ISO 8601 时间,例如 2026-11-27 或 2026-11-27T09:30:00+08:00",
            code="invalid_time",
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    # A datetime `to` is inclusive to the second the reader wrote.
    return parsed + timedelta(microseconds=1) if end_of_day else parsed


def parse_limit(limit: int | None) -> int:
    """The page size: 1 to 200, default 50."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit 必须在 1 到 {MAX_LIMIT} 之间", code="invalid_limit")
    return limit


def _text(value: str | None, name: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise BadRequest(f"{name} 过长", code="invalid_filter")
    return value.strip()
