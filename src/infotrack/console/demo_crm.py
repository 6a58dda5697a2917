"""The demo CRM page's data: is the demo data set loaded, and which customers it lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.maintenance.demo import ACCOUNTS, DEMO_COMPANY
from infotrack.models import Account
from infotrack.models.customers import customer_sources

LISTED_PER_SOURCE = 25


def demo_enabled(sources: Sources, settings: Settings) -> bool:
    """Whether ``/demo/crm`` is served: ``on``, ``off``, or (``auto``) while demo data is loaded."""
    if settings.demo_pages != "auto":
        return settings.demo_pages == "on"
    first = ACCOUNTS[0].username
    with sources.wechat.connect() as conn:
        company = conn.execute(select(Account.company).where(Account.username == first)).scalar()
    return company == DEMO_COMPANY


def demo_customers(sources: Sources, settings: Settings) -> list[dict[str, Any]]:
    """The first customers of both sources, as a CRM's list page shows them (phones in full)."""
    items: list[dict[str, Any]] = []
    engines = (sources.wechat, sources.primary)
    for src, engine in zip(customer_sources(settings), engines, strict=True):
        tbl = src.named_table()
        id_col = tbl.c[src.id_column]
        query = (
            select(id_col, tbl.c[src.phone_column], tbl.c[src.name_column])
            .order_by(id_col)
            .limit(LISTED_PER_SOURCE)
        )
        with engine.connect() as conn:
            for customer_id, phone, name in conn.execute(query):
                items.append(
                    {"source": src.code, "id": str(customer_id), "name": name, "phone": phone}
                )
    return items
