"""The declarative base sharing :data:`infotrack.db.metadata` and our MySQL table options."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import DeclarativeBase

from infotrack.db import MYSQL_TABLE_OPTIONS, metadata


class Base(DeclarativeBase):
    """Base of our own ``infotrack_*`` tables."""

    metadata = metadata
    __table_args__: Any = MYSQL_TABLE_OPTIONS
