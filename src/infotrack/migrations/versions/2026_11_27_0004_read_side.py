"""Read side: indexes for history and statistics, and the access log.

Every history query filters on one of operator, operator name, department or customer and
sorts by operationTime; each index below leads with the filter and ends with the sort key
(InnoDB and SQLite append the primary key, which is our tie-breaker).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import index_names, table_options

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_informationtra_operator_time": ["operator_id", "operationTime"],
    "ix_informationtra_name_time": ["trauserName", "operationTime"],
    "ix_informationtra_dept_time": ["tracompany", "tradepartment", "operationTime"],
    "ix_informationtra_user_time": ["userId", "operationTime"],
    # History filtered by event type; and the rows the CRM wrote itself (no event type), which
    # statistics count apart (otherwise MySQL looks up every row of the range to find them).
    "ix_informationtra_type_time": ["event_type", "operationTime"],
    # Statistics over a time range (by day, hour, event type, source, operator, department)
    # read this index alone, never the rows.
    "ix_informationtra_time_stats": [
        "operationTime",
        "event_type",
        "customer_source",
        "trauserName",
        "tradepartment",
    ],
}


def upgrade() -> None:
    existing = index_names("informationtra")
    for name, columns in INDEXES.items():
        if name not in existing:
            op.create_index(name, "informationtra", columns)
    op.create_table(
        "infotrack_access_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("operator_id", sa.String(128), nullable=False),
        sa.Column("operator_name", sa.String(100)),
        sa.Column("company", sa.String(255)),
        sa.Column("department", sa.String(255)),
        sa.Column("role", sa.String(255)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("filters", sa.Text),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("client_addr", sa.String(45)),
        sa.Column("request_id", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_infotrack_access_log"),
        **table_options(),
    )
    op.create_index("ix_infotrack_access_log_occurred_at", "infotrack_access_log", ["occurred_at"])
    op.create_index(
        "ix_infotrack_access_log_company_occurred_at",
        "infotrack_access_log",
        ["company", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_table("infotrack_access_log")
    for name in INDEXES:
        op.drop_index(name, table_name="informationtra")
