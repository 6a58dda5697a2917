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


def exact(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte on MySQL too.

    Request ids and operator ids are keys, not words: clients make random mixed-case ids
    (nanoid, base64) and CRMs case-sensitive user ids, and utf8mb4_unicode_ci would take
    "aBc" and "AbC" for one request, or ``jwt:ABC`` and ``jwt:abc`` for one operator.
    """
    return sa.String(length).with_variant(
        sa.String(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


# (name, type, comment): all nullable, so the CRM's own INSERTs keep working.
NEW_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[str], str], ...] = (
    ("event_type", sa.String(32), "事件类型代码"),
    ("customer_source", sa.String(16), "客户来源: wechat | primary"),
    ("side", sa.String(16), "supply | sales"),
    ("operator_id", exact(128), "操作人稳定ID"),
    ("request_id", exact(64), "幂等请求ID"),
    ("client_addr", sa.String(45), "客户端地址"),
    ("changes", sa.Text(), "修改明细 JSON"),
)


def upgrade() -> None:
    existing = column_names("informationtra")
    missing = [spec for spec in NEW_COLUMNS if spec[0] not in existing]
    if missing:
        with op.batch_alter_table("informationtra") as batch:
            for name, type_, comment in missing:
                batch.add_column(sa.Column(name, type_, nullable=True, comment=comment))
    if "uq_informationtra_request" not in index_names("informationtra"):
        # Several NULLs are allowed: rows the CRM writes itself carry no request id.
        op.create_index(
            "uq_informationtra_request",
            "informationtra",
            ["request_id", "operator_id"],
            unique=True,
        )


def downgrade() -> None:
    op.drop_index("uq_informationtra_request", table_name="informationtra")
    with op.batch_alter_table("informationtra") as batch:
        for name, _type, _comment in reversed(NEW_COLUMNS):
            batch.drop_column(name)
