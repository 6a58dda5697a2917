"""Audit: chain columns on informationtra; chain registry, anchors, erasure and archive ledgers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import column_names, index_names, table_options

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# All nullable: rows the CRM writes itself carry no chain, and stay as they are.
CHAIN_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[int] | sa.types.TypeEngine[str], str], ...] = (
    ("chain_id", sa.Integer(), "防篡改链ID"),
    ("chain_seq", sa.BigInteger(), "链内序号"),
    ("chain_prev", sa.String(64), "上一行的链哈希"),
    ("chain_hash", sa.String(64), "本行的链哈希"),
)


def upgrade() -> None:
    existing = column_names("informationtra")
    missing = [spec for spec in CHAIN_COLUMNS if spec[0] not in existing]
    if missing:
        with op.batch_alter_table("informationtra") as batch:
            for name, type_, comment in missing:
                batch.add_column(sa.Column(name, type_, nullable=True, comment=comment))
    if "uq_informationtra_chain" not in index_names("informationtra"):
        op.create_index(
            "uq_informationtra_chain", "informationtra", ["chain_id", "chain_seq"], unique=True
        )

    op.create_table(
        "infotrack_trail_chains",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("writer", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        **table_options(),
    )
    op.create_table(
        "infotrack_audit_anchors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("anchored_at", sa.DateTime, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("operator", sa.String(255)),
        sa.Column("heads", sa.Text, nullable=False),
        sa.Column("prev_mac", sa.String(64)),
        sa.Column("mac", sa.String(64), nullable=False),
        **table_options(),
    )
    op.create_table(
        "infotrack_erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("erased_at", sa.DateTime, nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        **table_options(),
    )
    op.create_table(
        "infotrack_erased_rows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("erasure_id", sa.Integer, nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("before", sa.String(64), nullable=False),
        sa.Column("after", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        **table_options(),
    )
    op.create_index("ix_infotrack_erased_rows_row_id", "infotrack_erased_rows", ["row_id"])
    op.create_table(
        "infotrack_archives",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("before", sa.DateTime, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("min_id", sa.Integer),
        sa.Column("max_id", sa.Integer),
        sa.Column("chains", sa.Text, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        **table_options(),
    )


def downgrade() -> None:
    for name in (
        "infotrack_archives",
        "infotrack_erased_rows",
        "infotrack_erasures",
        "infotrack_audit_anchors",
        "infotrack_trail_chains",
    ):
        op.drop_table(name)
    op.drop_index("uq_informationtra_chain", table_name="informationtra")
    with op.batch_alter_table("informationtra") as batch:
        for name, _type, _comment in reversed(CHAIN_COLUMNS):
            batch.drop_column(name)
