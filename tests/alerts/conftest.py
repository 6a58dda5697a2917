"""Helpers for the alert tests: trail rows written as the CRM or the API would, rules files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from infotrack.models import Alert, AlertDelivery
from infotrack.models.informationtra import informationtra

COMPANY = "华东贸易有限公司"


def trail_row(
    at: datetime,
    *,
    operator: str = "account:1",
    name: str = "张伟",
    department: str = "销售一部",
    event_type: str | None = "view_detail",
    customer: str = "wx_1",
    text: str = "查看客户详情",
) -> dict[str, Any]:
    """One informationtra row as infotrack writes it (operator id and type filled in)."""
    return {
        "tracompany": COMPANY,
        "tradepartment": department,
        "traorganization": "华东大区",
        "trarole": "业务员",
        "trauserName": name,
        "traassistant": None,
        "userId": customer,
        "operationEvent": text,
        "operationTime": at,
        "created_at": at,
        "updated_at": at,
        "event_type": event_type,
        "customer_source": "wechat",
        "side": "supply",
        "operator_id": operator,
    }


def add_rows(engine: Engine, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert rows, each in its own statement (ids in order); their ids."""
    ids = []
    with engine.begin() as conn:
        for row in rows:
            ids.append(
                int(conn.execute(insert(informationtra).values(**row)).inserted_primary_key[0])
            )
    return ids


def burst(
    start: datetime, count: int, *, every: timedelta = timedelta(seconds=10), **kw: Any
) -> list[dict[str, Any]]:
    """``count`` view_detail rows of one operator, ``every`` apart."""
    return [trail_row(start + i * every, customer=f"wx_{i}", **kw) for i in range(count)]


def alerts(engine: Engine) -> list[Any]:
    """Every stored alert, in id order."""
    table = Alert.__table__
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)).all())


def deliveries(engine: Engine) -> list[Any]:
    """Every queued notification, in id order."""
    table = AlertDelivery.__table__
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)).all())


def count_alerts(engine: Engine) -> int:
    """How many alerts are stored."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one())


def write_rules(path: Path, text: str) -> Path:
    """A rules file with ``text``."""
    path.write_text(text, encoding="utf-8")
    return path


BURST_RULES = """
[[rules]]
name = "bulk-view"
kind = "burst"
event_types = ["view_detail"]
threshold = 5
window = "10m"
severity = "high"
cooldown = "30m"
channels = ["hook"]

[channels.hook]
kind = "webhook"
url = "{url}"
secret = "hook-secret-0123456789"
"""
