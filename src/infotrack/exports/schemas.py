"""Export formats, the description printed beside the data, and the download's file name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from infotrack.config import Settings
from infotrack.errors import BadRequest
from infotrack.history.schemas import TrailFilters
from infotrack.history.scope import SCOPE_LABELS, ReadScope
from infotrack.tracking.events import EVENT_LABELS

from .columns import SOURCE_LABELS, TIME_FORMAT

TITLE = "客户操作记录"
FILE_STEM = "操作记录"


class ExportFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"
    PDF = "pdf"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.PDF: "application/pdf",
}


def parse_format(raw: str | None) -> ExportFormat:
    """The requested format; 400 for anything else."""
    try:
        return ExportFormat((raw or "").strip().lower())
    except ValueError:
        raise BadRequest("format 只能是 xlsx、csv 或 pdf", code="invalid_export_format") from None


def row_limit(settings: Settings, fmt: ExportFormat) -> int:
    """The most rows one export of this format may hold."""
    return {
        ExportFormat.XLSX: settings.export_max_rows_xlsx,
        ExportFormat.CSV: settings.export_max_rows_csv,
        ExportFormat.PDF: settings.export_max_rows_pdf,
    }[fmt]


@dataclass(frozen=True)
class ExportMeta:
    """What the reader of an export should know about it: what it holds and who made it."""

    title: str
    exported_by: str
    exported_at: datetime  # aware, local zone
    row_count: int
    conditions: tuple[tuple[str, str], ...]  # (label, value), as a person reads them

    @property
    def stamp(self) -> str:
        """``导出人 张三 · 2026-11-27 09:30:00``: the watermark and footer line."""
        return f"导出人 {self.exported_by} · {self.exported_at.strftime(TIME_FORMAT)}"


def describe(
    filters: TrailFilters, scope: ReadScope, *, exported_by: str, exported_at: datetime, rows: int
) -> ExportMeta:
    """The filters and scope in Chinese, for the second sheet and the PDF heading."""
    pairs: list[tuple[str, str]] = [("数据范围", SCOPE_LABELS[scope.kind])]
    if filters.start or filters.end:
        start = filters.start.strftime(TIME_FORMAT) if filters.start else "不限"
        end = _inclusive_end(filters.end).strftime(TIME_FORMAT) if filters.end else "不限"
        pairs.append(("时间范围", f"{start} 至 {end}"))
    if filters.phone is not None:
        pairs.append(("客户电话", filters.phone.masked()))
    if filters.user_id:
        pairs.append(("客户ID", filters.user_id))
    if filters.operator:
        pairs.append(("操作人", filters.operator))
    if filters.department:
        pairs.append(("部门", filters.department))
    if filters.event_type is not None:
        pairs.append(("事件类型", EVENT_LABELS[filters.event_type]))
    if filters.source:
        pairs.append(("客户来源", SOURCE_LABELS.get(filters.source, filters.source)))
    if filters.q:
        pairs.append(("操作事件包含", filters.q))
    if len(pairs) == 1:
        pairs.append(("筛选条件", "无"))
    return ExportMeta(TITLE, exported_by, exported_at, rows, tuple(pairs))


def file_name(filters: TrailFilters, fmt: ExportFormat, today: date) -> str:
    """``操作记录_2026-11-01_2026-11-27.xlsx``: the range the file covers, by local day."""
    first = filters.start.date().isoformat() if filters.start else None
    last = _inclusive_end(filters.end).date().isoformat() if filters.end else None
    if first and last:
        span = f"{first}_{last}"
    elif first:
        span = f"{first}_{today.isoformat()}"
    elif last:
        span = f"截至{last}"
    else:
        span = today.isoformat()
    return f"{FILE_STEM}_{span}.{fmt.value}"


def content_disposition(name: str) -> str:
    """An attachment header every browser keeps the Chinese name of (RFC 6266 / RFC 5987).

    ``filename`` carries an ASCII stand-in for old clients; ``filename*`` the real name.
    """
    ascii_name = "records" + name.removeprefix(FILE_STEM)
    fallback = ascii_name.encode("ascii", "replace").decode("ascii")
    fallback = fallback.replace("?", "_").replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _inclusive_end(end: datetime) -> datetime:
    """Filters keep an exclusive end; people read the last moment included."""
    return end - timedelta(microseconds=1)
