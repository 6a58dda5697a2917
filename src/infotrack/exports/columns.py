"""What an export holds, whatever its format: the columns, one row's values, and the cleaning
of cells a spreadsheet would otherwise run as a formula."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class ExportRow(NamedTuple):
    """One record as exported, masked for its reader; ``operation_time`` is naive local time."""

    seq: int
    id: int
    company: str | None
    department: str | None
    organization: str | None
    role: str | None
    operator: str | None
    assistant: str | None
    customer_id: str | None
    customer_name: str | None
    source: str | None  # Chinese label
    event_type: str | None  # Chinese label
    event: str | None
    operation_time: datetime | None


@dataclass(frozen=True, slots=True)
class Column:
    """A column's header, its width in Excel character units, and its share of a PDF row."""

    header: str
    width: float
    pdf_share: float


COLUMNS: tuple[Column, ...] = (
    # PDF shares: one line for the usual values at 8 pt (a CJK character is 8 pt wide).
    Column("序号", 8, 0.035),
    Column("ID", 10, 0.052),
    Column("公司", 18, 0.088),
    Column("部门", 14, 0.058),
    Column("组织", 14, 0.05),
    Column("角色", 10, 0.05),
    Column("操作人", 10, 0.045),
    Column("协助人", 10, 0.045),
    Column("客户ID", 14, 0.062),
    Column("客户名称", 14, 0.05),
    Column("客户来源", 10, 0.048),
    Column("事件类型", 14, 0.068),
    Column("操作事件", 48, 0.239),  # the long text takes what is left
    Column("操作时间", 20, 0.11),
)
HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

SOURCE_LABELS = {"wechat": "微信", "primary": "CRM"}

# A spreadsheet reads a cell starting with these as a formula (or DDE command).
FORMULA_STARTS = "=+-@\t\r"
_FORMULA_PREFIXES = tuple(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """The text with a leading apostrophe when it looks like a formula (OWASP's advice for CSV).

    Excel shows the apostrophe, so a person still reads the original text after it; no
    spreadsheet evaluates it.
    """
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text
