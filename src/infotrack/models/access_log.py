"""``infotrack_access_log``: who read which part of the trail, when, and how much."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infotrack.db import MYSQL_TABLE_OPTIONS
from infotrack.models.base import Base


class AccessLogEntry(Base):
    """One read of the trail (history, timeline, stats, export) or of this log itself."""

    __tablename__ = "infotrack_access_log"
    __table_args__ = (
        Index("ix_infotrack_access_log_occurred_at", "occurred_at"),
        Index("ix_infotrack_access_log_company_occurred_at", "company", "occurred_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    operator_id: Mapped[str] = mapped_column(String(128))
    operator_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # history | timeline | stats | export | …
    filters: Mapped[str | None] = mapped_column(Text)  # JSON of the filters as asked
    row_count: Mapped[int] = mapped_column(Integer)
    client_addr: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(128))
