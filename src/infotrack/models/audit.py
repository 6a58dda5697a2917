"""Our audit tables: the chain registry, anchors, the erasure ledger and the archive ledger.

Rows of the ledgers carry a MAC under the audit key (which is never stored in the database),
so a ledger entry cannot be forged or edited without the key; ``infotrack verify`` checks them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infotrack.db import MYSQL_TABLE_OPTIONS
from infotrack.models.base import Base


class TrailChain(Base):
    """One writer's chain: started by a process (or a CLI run) the first time it appends."""

    __tablename__ = "infotrack_trail_chains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(16))  # which audit key links its rows
    writer: Mapped[str] = mapped_column(String(255))  # host:pid and what started it
    started_at: Mapped[datetime] = mapped_column(DateTime)


class AuditAnchor(Base):
    """A checkpoint of chain heads, also written outside the database (file, webhook).

    ``heads`` is a JSON list of ``[chain_id, seq, hash, row_id]`` for the chains that moved since
    the previous anchor; ``prev_mac`` links anchors to each other like rows in a chain.
    """

    __tablename__ = "infotrack_audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    anchored_at: Mapped[datetime] = mapped_column(DateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))  # periodic | on_demand | archive | erase
    operator: Mapped[str | None] = mapped_column(String(255))
    heads: Mapped[str] = mapped_column(Text)
    prev_mac: Mapped[str | None] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class Erasure(Base):
    """One erasure request carried out (PIPL art. 47): whose data, by whom, how many rows."""

    __tablename__ = "infotrack_erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime)
    operator: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(
        String(255)
    )  # how it was asked: phone:… masked, or source:id
    reason: Mapped[str | None] = mapped_column(String(500))
    row_count: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class ErasedRow(Base):
    """A trail row an erasure changed: the commitment of its personal columns before and after."""

    __tablename__ = "infotrack_erased_rows"
    __table_args__ = (
        Index("ix_infotrack_erased_rows_row_id", "row_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    erasure_id: Mapped[int] = mapped_column(Integer)
    row_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[str] = mapped_column(String(64))
    after: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class TrailArchive(Base):
    """Rows moved out of the live table into an archive file (the manifest, as written)."""

    __tablename__ = "infotrack_archives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    operator: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    before: Mapped[datetime] = mapped_column(DateTime)
    row_count: Mapped[int] = mapped_column(Integer)
    min_id: Mapped[int | None] = mapped_column(Integer)
    max_id: Mapped[int | None] = mapped_column(Integer)
    # JSON: {chain_id: [first_seq, first_prev, last_seq, last_hash]} of the archived rows.
    chains: Mapped[str] = mapped_column(Text)
    manifest: Mapped[str] = mapped_column(Text)  # the manifest JSON, MAC included
    mac: Mapped[str] = mapped_column(String(64))
