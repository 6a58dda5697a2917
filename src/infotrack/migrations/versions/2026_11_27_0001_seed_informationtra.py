"""The seed's informationtra table, where the CRM does not have it yet.

An existing table is left exactly as it is. The seed's cascading FK to users is not
created (a contacts customer could never satisfy it, and it would erase the trail).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import has_table, is_mysql, table_options

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if has_table("informationtra"):
        return
    now = sa.text("CURRENT_TIMESTAMP")
    on_update = sa.text("CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP") if is_mysql() else now
    sqlite_autoincrement = not is_mysql()
    op.create_table(
        "informationtra",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True, comment="主键ID"),
        sa.Column("tracompany", sa.String(255), comment="修改者公司"),
        sa.Column("tradepartment", sa.String(255), comment="修改者部门"),
        sa.Column("traorganization", sa.String(255), comment="修改者组织"),
        sa.Column("trarole", sa.String(255), comment="修改者角色"),
        sa.Column("trauserName", sa.String(100), comment="修改者名字"),
        sa.Column("traassistant", sa.String(100), comment="修改协助人"),
        sa.Column("userId", sa.String(100), nullable=False, comment="客户ID"),
        sa.Column("operationEvent", sa.Text, comment="操作事件"),
        sa.Column("operationTime", sa.DateTime, server_default=now, comment="操作时间"),
        sa.Column("created_at", sa.DateTime, server_default=now, comment="创建时间"),
        sa.Column("updated_at", sa.DateTime, server_default=on_update, comment="更新时间"),
        sa.PrimaryKeyConstraint("id", name="PRIMARY" if is_mysql() else "pk_informationtra"),
        comment="信息跟踪表",
        sqlite_autoincrement=sqlite_autoincrement,
        **table_options(),
    )
    op.create_index("idx_userId", "informationtra", ["userId"])
    op.create_index("idx_operationTime", "informationtra", ["operationTime"])
    op.create_index("idx_trauserName", "informationtra", ["trauserName"])


def downgrade() -> None:
    # The trail is never dropped by a migration.
    pass
