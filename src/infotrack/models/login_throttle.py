"""``infotrack_login_throttle``: failed sign-ins per username, shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from infotrack.models.base import Base


class LoginThrottle(Base):
    """Counts recent failures for one username and locks it for a while past the limit."""

    __tablename__ = "infotrack_login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
