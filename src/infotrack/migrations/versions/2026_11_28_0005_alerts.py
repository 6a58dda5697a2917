"""Alerts: infotrack_alerts, the notification outbox, delivery attempts and worker state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from infotrack.migrations.helpers import table_options

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "infotrack_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("trigger_id", sa.Integer, nullable=False),
        sa.Column("operator_key", sa.String(400), nullable=False),
        sa.Column("operator_id", sa.String(128)),
        sa.Column("operator_name", sa.String(100)),
        sa.Column("company", sa.String(255)),
        sa.Column("department", sa.String(255)),
        sa.Column("role", sa.String(255)),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("sample_ids", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_by_name", sa.String(100)),
        sa.Column("ack_comment", sa.Text),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("resolved_by_name", sa.String(100)),
        sa.Column("resolve_comment", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_infotrack_alerts"),
        sa.UniqueConstraint(
            "rule", "source", "trigger_id", name="uq_infotrack_alerts_rule_source_trigger_id"
        ),
        **table_options(),
    )
    op.create_index(
        "ix_infotrack_alerts_company_department_id",
        "infotrack_alerts",
        ["company", "department", "id"],
    )
    op.create_index("ix_infotrack_alerts_status_id", "infotrack_alerts", ["status", "id"])
    op.create_index(
        "ix_infotrack_alerts_rule_operator_key_window_end",
        "infotrack_alerts",
        ["rule", "operator_key", "window_end"],
    )
    op.create_table(
        "infotrack_alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("alert_id", sa.Integer),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("notice", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("last_error", sa.String(500)),
        sa.PrimaryKeyConstraint("id", name="pk_infotrack_alert_deliveries"),
        sa.UniqueConstraint("dedupe_key", name="uq_infotrack_alert_deliveries_dedupe_key"),
        **table_options(),
    )
    op.create_index(
        "ix_infotrack_alert_deliveries_status_next_attempt_at",
        "infotrack_alert_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "infotrack_delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.Column("attempted_at", sa.DateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(500)),
        sa.Column("elapsed_ms", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_infotrack_delivery_attempts"),
        **table_options(),
    )
    op.create_index(
        "ix_infotrack_delivery_attempts_delivery_id", "infotrack_delivery_attempts", ["delivery_id"]
    )
    op.create_table(
        "infotrack_worker_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128)),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("checkpoint", sa.Text),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_infotrack_worker_state"),
        **table_options(),
    )


def downgrade() -> None:
    op.drop_table("infotrack_worker_state")
    op.drop_table("infotrack_delivery_attempts")
    op.drop_table("infotrack_alert_deliveries")
    op.drop_table("infotrack_alerts")
