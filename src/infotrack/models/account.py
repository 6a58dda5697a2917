"""``infotrack_accounts``: built-in operator accounts and their identity fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from infotrack.models.base import Base


class Account(Base):
    """An operator who signs in to infotrack itself."""

    __tablename__ = "infotrack_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    organization: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(100))
    assistant: Mapped[str | None] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(16), default="supply")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on disable or password change: every token issued before stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    @property
    def operator_id(self) -> str:
        """The stable id written with every record (names are not unique)."""
        return f"account:{self.id}"
