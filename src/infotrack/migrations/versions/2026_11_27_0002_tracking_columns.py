"""Nullable columns infotrack adds to informationtra, and the idempotency index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import column_names, index_names

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    sa.Column("event_type", sa.String(32), nullable=True, comment="事件类型代码"),
    sa.Column("customer_source", sa.String(16), nullable=True, comment="客户来源: wechat | primary"),
    sa.Column("side", sa.String(16), nullable=True, comment="supply | sales"),
    sa.Column("operator_id", sa.String(128), nullable=True, comment="操作人稳定ID"),
    sa.Column("request_id", sa.String(64), nullable=True, comment="幂等请求ID"),
    sa.Column("client_addr", sa.String(45), nullable=True, comment="客户端地址"),
    sa.Column("changes", sa.Text, nullable=True, comment="修改明细 JSON"),
)


def upgrade() -> None:
    existing = column_names("informationtra")
    missing = [col for col in NEW_COLUMNS if col.name not in existing]
    if missing:
        with op.batch_alter_table("informationtra") as batch:
            for col in missing:
                batch.add_column(col.copy())
    if "uq_informationtra_request" not in index_names("informationtra"):
        # Several NULLs are allowed: rows the CRM writes itself carry no request id.
        op.create_index(
            "uq_informationtra_request", "informationtra", ["request_id", "operator_id"], unique=True
        )


def downgrade() -> None:
    op.drop_index("uq_informationtra_request", table_name="informationtra")
    with op.batch_alter_table("informationtra") as batch:
        for col in reversed(NEW_COLUMNS):
            batch.drop_column(col.name)
