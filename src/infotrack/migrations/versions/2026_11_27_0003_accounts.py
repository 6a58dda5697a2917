"""infotrack_accounts and infotrack_login_throttle.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import table_options

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "infotrack_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("company", sa.String(255)),
        sa.Column("department", sa.String(255)),
        sa.Column("organization", sa.String(255)),
        sa.Column("role", sa.String(255)),
        sa.Column("name", sa.String(100)),
        sa.Column("assistant", sa.String(100)),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("token_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_infotrack_accounts"),
        sa.UniqueConstraint("username", name="uq_infotrack_accounts_username"),
        **table_options(),
    )
    op.create_table(
        "infotrack_login_throttle",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure_at", sa.DateTime, nullable=False),
        sa.Column("locked_until", sa.DateTime),
        sa.PrimaryKeyConstraint("username", name="pk_infotrack_login_throttle"),
        **table_options(),
    )


def downgrade() -> None:
    op.drop_table("infotrack_login_throttle")
    op.drop_table("infotrack_accounts")
