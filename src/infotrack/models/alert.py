"""Our alert tables: alerts, their notifications (an outbox), delivery attempts, worker state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from infotrack.db import MYSQL_TABLE_OPTIONS
from infotrack.models.base import Base

ALERT_STATUSES = ("open", "acknowledged", "resolved")


class Alert(Base):
    """One rule crossing its threshold for one operator; a person acknowledges, then resolves it."""

    __tablename__ = "infotrack_alerts"
    __table_args__ = (
        # The event that fired the rule: one alert per rule and trigger, whatever happens.
        UniqueConstraint("rule", "source", "trigger_id"),
        Index("ix_infotrack_alerts_company_department_id", "company", "department", "id"),
        Index("ix_infotrack_alerts_status_id", "status", "id"),
        Index(
            "ix_infotrack_alerts_rule_operator_key_window_end", "rule", "operator_key", "window_end"
        ),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # trail | access
    trigger_id: Mapped[int] = mapped_column(Integer)
    operator_key: Mapped[str] = mapped_column(String(400))
    operator_id: Mapped[str | None] = mapped_column(String(128))
    operator_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(255))
    window_start: Mapped[datetime] = mapped_column(DateTime)
    window_end: Mapped[datetime] = mapped_column(DateTime)
    count: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    sample_ids: Mapped[str] = mapped_column(Text)  # JSON list of record ids
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(100))
    ack_comment: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_by_name: Mapped[str | None] = mapped_column(String(100))
    resolve_comment: Mapped[str | None] = mapped_column(Text)


class AlertDelivery(Base):
    """One notification for one channel: written with its alert, sent (and retried) later."""

    __tablename__ = "infotrack_alert_deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_infotrack_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # sha256 of what is sent where ("alert:<id>:<channel>", "digest:daily:<day>:<dept>:<channel>")
    dedupe_key: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))  # that key, readable (may be cut)
    kind: Mapped[str] = mapped_column(String(16))  # alert | digest
    alert_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(64))
    notice: Mapped[str] = mapped_column(Text)  # JSON of the AlertNotice / DigestNotice
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)  # UTC
    created_at: Mapped[datetime] = mapped_column(DateTime)  # UTC
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)  # UTC
    last_error: Mapped[str | None] = mapped_column(String(500))


class DeliveryAttempt(Base):
    """Each try to send a notification, successful or not."""

    __tablename__ = "infotrack_delivery_attempts"
    __table_args__ = (
        Index("ix_infotrack_delivery_attempts_delivery_id", "delivery_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime)  # UTC
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    elapsed_ms: Mapped[int] = mapped_column(Integer)


class WorkerState(Base):
    """A background worker's lease and checkpoint, shared by every process and host."""

    __tablename__ = "infotrack_worker_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    # Bumped at every takeover: a writer whose epoch is stale has lost the lease.
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)  # UTC
    checkpoint: Mapped[str | None] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime)  # UTC
