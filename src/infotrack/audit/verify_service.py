"""Running a trail check for a person: parse the range, check, log who checked."""

from __future__ import annotations

from infotrack.audit.access_log import AccessContext, record_access
from infotrack.audit.verify import VerifyRange, VerifyReport, verify_trail
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.errors import BadRequest
from infotrack.history.schemas import parse_time


def verify_range(settings: Settings, start: str | None, end: str | None) -> VerifyRange:
    """``--from``/``--to`` (ISO 8601; a bare date is the whole day) as a range to check."""
    zone = settings.zone
    start_at = parse_time(start, zone, "from", end_of_day=False) if start else None
    end_at = parse_time(end, zone, "to", end_of_day=True) if end else None
    if start_at and end_at and start_at >= end_at:
        raise BadRequest("from 必须早于 to", code="invalid_range")
    return VerifyRange(start_at, end_at)


def run_verify(
    settings: Settings,
    sources: Sources,
    ctx: AccessContext,
    scope: VerifyRange,
    *,
    workers: int | None = None,
) -> VerifyReport:
    """Check the trail and record the check (with its outcome) in the access log."""
    report = verify_trail(settings, sources.wechat, scope=scope, workers=workers)
    record_access(
        sources.wechat,
        settings.zone,
        ctx,
        "audit_verify",
        {
            "from": scope.start,
            "to": scope.end,
            "ok": report.ok,
            "problems": dict(report.counts),
        },
        report.checked_rows,
    )
    return report
