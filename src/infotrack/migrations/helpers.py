"""Idempotence helpers for migrations that meet tables the CRM may already have."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from infotrack.db import MYSQL_TABLE_OPTIONS


def inspector() -> sa.Inspector:
    """An inspector on the migration's connection."""
    return sa.inspect(op.get_bind())


def has_table(name: str) -> bool:
    """True when the table exists already."""
    return inspector().has_table(name)


def column_names(table: str) -> set[str]:
    """Names of the table's columns, as the database reports them."""
    return {col["name"] for col in inspector().get_columns(table)}


def index_names(table: str) -> set[str]:
    """Names of the table's indexes (unique ones included)."""
    names = {ix["name"] for ix in inspector().get_indexes(table) if ix["name"]}
    names |= {uq["name"] for uq in inspector().get_unique_constraints(table) if uq["name"]}
    return names


def is_mysql() -> bool:
    """True on MySQL and MariaDB."""
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def table_options() -> dict[str, Any]:
    """utf8mb4 / utf8mb4_unicode_ci / InnoDB on MySQL, nothing elsewhere."""
    return dict(MYSQL_TABLE_OPTIONS) if is_mysql() else {}
