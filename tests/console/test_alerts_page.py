"""The console's 告警 page in a real Chromium against a real server: scope, acknowledging with a
comment, refusals shown on the page, no 告警 for 业务员, stored text shown as text, phone width."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from infotrack.db import session_scope
from infotrack.maintenance.demo import DEMO_COMPANY
from infotrack.models import Alert
from tests.console.conftest import Site, screenshot, sign_in

ALERTS = "/api/information-tracking/alerts"
XSS = "<img src=x onerror=alert(1)>"

_triggers = count(1_000_000)  # clear of any id a worker would use for this demo's trail


def add_alert(site: Site, **fields: Any) -> int:
    """An alert in the site's database, as the worker writes it (default: 王芳 of 销售一部)."""
    window_end: datetime = fields.pop("window_end", datetime(2026, 11, 20, 10, 30))
    values: dict[str, Any] = {
        "rule": "burst_views",
        "kind": "burst",
        "severity": "high",
        "source": "trail",
        "trigger_id": next(_triggers),
        "operator_key": "account:2",
        "operator_id": "account:2",
        "operator_name": "王芳",
        "company": DEMO_COMPANY,
        "department": "销售一部",
        "role": "业务员",
        "window_start": window_end - timedelta(minutes=10),
        "window_end": window_end,
        "count": 42,
        "threshold": 30,
        "sample_ids": json.dumps([1, 2, 3]),
        "status": "open",
        "created_at": window_end + timedelta(seconds=1),
    } | fields
    with session_scope(site.sources.wechat) as session:
        alert = Alert(**values)
        session.add(alert)
        session.flush()
        return alert.id


def api_alert(site: Site, username: str, alert_id: int) -> dict[str, Any]:
    """The alert as the API answers it to ``username``."""
    data: dict[str, Any] = site.get(username, f"{ALERTS}/{alert_id}")
    return data


def row(page: Page, alert_id: int) -> Any:
    """The table row of one alert."""
    return page.locator(f"table.alerts tbody tr[data-id='{alert_id}']")


def open_alerts_page(page: Page, query: str = "") -> None:
    """Go to 告警 through the navigation (or straight to a filtered address); wait for it."""
    if query:
        page.goto(f"/#/alerts?{query}")
    else:
        page.click(".nav a[data-path='/alerts']")
    expect(page.locator(".results")).not_to_contain_text("加载中")


def test_a_manager_sees_their_department_and_acknowledges_with_a_comment(
    page: Page, site: Site
) -> None:
    mine = add_alert(site, rule="views_manager_test")
    theirs = add_alert(
        site,
        rule="views_manager_test",
        department="销售二部",
        operator_name="刘洋",
        operator_id="account:3",
    )
    sign_in(page, "manager1")
    open_alerts_page(page)
    expect(page.locator(".nav a[data-path='/alerts']")).to_have_attribute("aria-current", "page")
    expect(page.locator("select[name=status]")).to_have_value("open")
    mine_row = row(page, mine)
    expect(mine_row).to_contain_text("王芳")
    expect(mine_row).to_contain_text("views_manager_test")
    expect(mine_row).to_contain_text("短时大量操作")
    expect(mine_row).to_contain_text("42 / 30")
    expect(mine_row).to_contain_text("2026-11-20 10:20:00 – 10:30:00")
    expect(mine_row.locator(".severity-high")).to_have_text("高")
    expect(mine_row.locator(".status-open")).to_have_text("待处理")
    expect(row(page, theirs)).to_have_count(0)
    departments = set(page.locator("table.alerts tbody td:nth-child(5)").all_inner_texts())
    assert departments == {"销售一部"}

    # 查看记录 opens the history of that operator over the alert's window.
    href = mine_row.locator("a.records-link").get_attribute("href")
    assert href is not None
    assert href.startswith("#/records?")
    query = parse_qs(urlsplit(href.replace("#", "", 1)).query)
    assert query == {
        "operator": ["王芳"],
        "from": ["2026-11-20T10:20:00+08:00"],
        "to": ["2026-11-20T10:30:00+08:00"],
    }

    # An empty comment is refused on the page, before anything is sent.
    mine_row.locator("button[data-action=ack]").click()
    form = page.locator(f"tr.alert-form-row[data-for='{mine}'] form")
    form.locator("button[type=submit]").click()
    expect(form.locator(".notice-error")).to_have_text("请填写处理说明")

    form.locator("textarea[name=comment]").fill("已与王芳核实:月底集中回访客户")
    form.locator("button[type=submit]").click()
    expect(page.locator(".alert-status .notice-success")).to_contain_text(f"告警 {mine} 已确认")
    expect(page.locator("tr.alert-form-row")).to_have_count(0)
    expect(mine_row.locator(".status-acknowledged")).to_have_text("已确认")
    expect(mine_row).to_contain_text("陈静")
    expect(mine_row).to_contain_text("已与王芳核实:月底集中回访客户")
    expect(mine_row.locator("button[data-action=ack]")).to_have_count(0)
    expect(mine_row.locator("button[data-action=resolve]")).to_have_count(1)

    stored = api_alert(site, "manager1", mine)
    assert stored["status"] == "acknowledged"
    assert stored["acknowledgedByName"] == "陈静"
    assert stored["acknowledgedComment"] == "已与王芳核实:月底集中回访客户"
    assert api_alert(site, "manager2", theirs)["status"] == "open"  # untouched, and in scope

    # Resolving it from the page too.
    mine_row.locator("button[data-action=resolve]").click()
    form = page.locator(f"tr.alert-form-row[data-for='{mine}'] form")
    form.locator("textarea[name=comment]").fill("确认为正常业务")
    form.locator("button[type=submit]").click()
    expect(mine_row.locator(".status-resolved")).to_have_text("已关闭")
    expect(mine_row.locator("button")).to_have_count(0)
    assert api_alert(site, "manager1", mine)["resolvedComment"] == "确认为正常业务"

    # The open list no longer holds it; every status does.
    open_alerts_page(page, "status=resolved&rule=views_manager_test")
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)
    expect(row(page, mine)).to_be_visible()

    # The link lands on 操作记录 with the operator filled in, and the server takes the times.
    row(page, mine).locator("a.records-link").click()
    expect(page.locator(".filters input[name=operator]")).to_have_value("王芳")
    expect(page.locator(".results")).not_to_contain_text("加载中")
    expect(page.locator(".results .notice-error")).to_have_count(0)


def test_a_refusal_from_the_server_is_shown_in_the_form(page: Page, site: Site) -> None:
    alert_id = add_alert(site, rule="views_conflict_test")
    sign_in(page, "manager1")
    open_alerts_page(page, "rule=views_conflict_test")
    row(page, alert_id).locator("button[data-action=ack]").click()
    # Somebody else acknowledges it while the form is open.
    with site.api("manager1") as client:
        answer = client.post(f"{ALERTS}/{alert_id}/ack", json={"comment": "抢先一步"})
    assert answer.status_code == 200, answer.text
    form = page.locator(f"tr.alert-form-row[data-for='{alert_id}'] form")
    form.locator("textarea[name=comment]").fill("我也来确认")
    form.locator("button[type=submit]").click()
    expect(form.locator(".notice-error")).to_contain_text("已确认")
    expect(form.locator("button[type=submit]")).to_be_enabled()
    assert api_alert(site, "manager1", alert_id)["acknowledgedComment"] == "抢先一步"


def test_a_salesperson_has_no_alerts_page(page: Page, site: Site) -> None:
    add_alert(site, rule="views_sales_test", operator_name="张伟")
    sign_in(page, "sales1")
    expect(page.locator(".nav a[data-path='/records']")).to_be_visible()
    expect(page.locator(".nav a[data-path='/alerts']")).to_have_count(0)
    with site.api("sales1") as client:
        answer = client.get(ALERTS)
    assert answer.status_code == 403
    assert answer.json()["code"] == "alerts_forbidden"
    # Typing the address shows the server's refusal, not an empty list.
    page.goto("/#/alerts")
    expect(page.locator(".results .notice-error")).to_contain_text("告警")
    expect(page.locator("table.alerts")).to_have_count(0)


def test_stored_text_is_shown_as_text(page: Page, site: Site) -> None:
    alert_id = add_alert(
        site,
        rule="views_xss_test",
        operator_name=XSS,
        role=XSS,
        status="acknowledged",
        acknowledged_at=datetime(2026, 11, 20, 11, 0),
        acknowledged_by="account:9",
        acknowledged_by_name=XSS,
        ack_comment=XSS,
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "manager1")
    open_alerts_page(page, "status=all&rule=views_xss_test")
    shown = row(page, alert_id)
    expect(shown.locator("td.operator")).to_contain_text(XSS)
    expect(shown.locator(".handled .comment")).to_have_text(XSS)
    expect(page.locator("table.alerts img")).to_have_count(0)
    assert page.locator("img").count() == 0
    assert dialogs == []


@pytest.mark.parametrize("width", [1280, 375])
def test_alerts_fit_the_screen(page: Page, site: Site, width: int, tmp_path: Path) -> None:
    alert_id = add_alert(
        site,
        rule="views_width_test",
        kind="distinct_customers",
        severity="medium",
        window_start=datetime(2026, 11, 20, 23, 50),
        window_end=datetime(2026, 11, 21, 0, 20),
    )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "manager1")
    open_alerts_page(page, "rule=views_width_test")
    expect(row(page, alert_id)).to_contain_text("2026-11-20 23:50:00 – 2026-11-21 00:20:00")
    row(page, alert_id).locator("button[data-action=ack]").click()
    expect(page.locator("tr.alert-form-row textarea")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for link in page.locator(".nav a").all():
        expect(link).to_be_visible()
    expect(row(page, alert_id).locator("button[data-action=resolve]")).to_be_visible()
    name = "console-alerts.png" if width == 1280 else "console-alerts-phone.png"
    screenshot(page, name, tmp_path)
