"""The console on MariaDB: sign in, filter the history, read the dashboard (the same pages as
on SQLite, against the other backend's SQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import MySQLDatabases
from tests.console.conftest import Site, serve_demo, sign_in

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def site(mysql_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo site on two fresh MariaDB databases."""
    dbs = MySQLDatabases(mysql_server, [])
    try:
        urls = {"wechat": dbs.create("w"), "primary": dbs.create("p")}
        yield from serve_demo(tmp_path_factory.mktemp("mysql-site"), urls)
    finally:
        dbs.drop_all()


def test_history_and_dashboard_on_mariadb(page: Page, site: Site) -> None:
    sign_in(page, "manager1")
    page.goto("/#/records?eventType=edit")
    page.wait_for_selector("table.records tbody tr")
    expected = site.get("manager1", "/api/information-tracking/records", eventType="edit")
    shown = page.locator("table.records tbody tr").evaluate_all(
        "rows => rows.map(r => +r.dataset.id)"
    )
    assert shown == [item["id"] for item in expected["items"]]

    page.goto("/#/stats")
    page.wait_for_selector("[data-chart=weekday_hour] .chart[data-rendered]")
    stats = site.get("manager1", "/api/information-tracking/stats", groupBy="department")
    rows = page.locator("[data-chart=department] .chart-data tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.key, +r.dataset.count])"
    )
    assert rows == [[b["key"], b["count"]] for b in stats["buckets"]]
    total = site.get("manager1", "/api/information-tracking/stats", groupBy="day")["total"]
    expect(page.locator("[data-card=total] .card-value")).to_have_text(f"{total:,}")
