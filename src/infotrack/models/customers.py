"""The CRM's customer tables, ``users`` (wechat) and ``contacts`` (primary).

They belong to the CRM, and their names differ between installations, so they are built
from the settings and kept out of our migration metadata. ``lookup_table`` names only the
columns we read; ``creatable_*`` describe the tables ``infotrack init`` creates on a fresh
install where the CRM has none yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table
from sqlalchemy.sql import TableClause, column, table

from infotrack.config import Settings
from infotrack.db import MYSQL_TABLE_OPTIONS, NAMING_CONVENTION


@dataclass(frozen=True)
class CustomerSource:
    """Where one kind of customer lives and which columns hold what."""

    code: str  # "wechat" | "primary"
    table: str
    id_column: str
    phone_column: str
    name_column: str

    def lookup_table(self) -> TableClause:
        """A lightweight table clause: id and phone, no reflection needed."""
        return table(self.table, column(self.id_column), column(self.phone_column))

    def named_table(self) -> TableClause:
        """Like :meth:`lookup_table`, plus the display-name column."""
        return table(
            self.table,
            column(self.id_column),
            column(self.phone_column),
            column(self.name_column),
        )


def customer_sources(settings: Settings) -> tuple[CustomerSource, CustomerSource]:
    """``users`` in wechat first, then ``contacts`` in primary: the seed's lookup order."""
    return (
        CustomerSource(
            "wechat",
            settings.users_table,
            settings.users_id_column,
            settings.users_phone_column,
            settings.users_name_column,
        ),
        CustomerSource(
            "primary",
            settings.contacts_table,
            settings.contacts_id_column,
            settings.contacts_phone_column,
            settings.contacts_name_column,
        ),
    )


def creatable_users(settings: Settings) -> Table:
    """``users(userId PK, phoneNumber, …)`` for a fresh install; all else nullable."""
    md = MetaData(naming_convention=NAMING_CONVENTION)
    return Table(
        settings.users_table,
        md,
        Column(settings.users_id_column, String(100), primary_key=True),
        Column(settings.users_phone_column, String(32), nullable=False),
        Column(settings.users_name_column, String(100)),
        Column("company", String(255)),
        Column("created_at", DateTime),
        Index(f"idx_{settings.users_table}_phone", settings.users_phone_column),
        **MYSQL_TABLE_OPTIONS,
    )


def creatable_contacts(settings: Settings) -> Table:
    """``contacts(id PK, phoneNumber, …)`` for a fresh install; all else nullable."""
    md = MetaData(naming_convention=NAMING_CONVENTION)
    return Table(
        settings.contacts_table,
        md,
        # SQLite only auto-increments an INTEGER key.
        Column(
            settings.contacts_id_column,
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column(settings.contacts_phone_column, String(32), nullable=False),
        Column(settings.contacts_name_column, String(100)),
        Column("company", String(255)),
        Column("created_at", DateTime),
        Index(f"idx_{settings.contacts_table}_phone", settings.contacts_phone_column),
        **MYSQL_TABLE_OPTIONS,
    )
