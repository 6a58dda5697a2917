"""The web console in a real Chromium against a real server: sign-in, history, timeline,
dashboard, exports, accounts, scope, XSS, languages and phone-width screens."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.console.conftest import PDF_LIMIT, Site, screenshot, sign_in

RECORDS = "/api/information-tracking/records"
STATS = "/api/information-tracking/stats"
XSS = "<img src=x onerror=alert(1)>"


def shown_ids(page: Page) -> list[int]:
    """The record ids of the history table, top to bottom."""
    page.wait_for_selector("table.records tbody tr, .results .notice")
    return [
        int(i)
        for i in page.locator("table.records tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.id)"
        )
    ]


def api_ids(site: Site, username: str, **filters: Any) -> tuple[list[int], str | None]:
    """The ids the API answers for these filters, and its next cursor."""
    data = site.get(username, RECORDS, **filters)
    return [item["id"] for item in data["items"]], data["nextCursor"]


def wait_for_results(page: Page) -> None:
    """Wait until the history view has finished loading."""
    expect(page.locator(".results")).not_to_contain_text("加载中")


def test_console_is_chinese_and_sign_in_shows_who_then_signs_out(page: Page) -> None:
    page.goto("/")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"  # English browser
    expect(page.locator(".login-card h1")).to_have_text("登录")

    page.fill(".login-form input[name=username]", "manager1")
    page.fill(".login-form input[name=password]", "wrong-password")
    page.click(".login-form button[type=submit]")
    expect(page.locator(".login-message .notice-error")).to_contain_text("用户名或密码错误")

    page.fill(".login-form input[name=password]", "demo1234")
    page.click(".login-form button[type=submit]")
    expect(page.locator(".who-name")).to_have_text("陈静 · 经理 · 销售一部")
    expect(page.locator(".nav a")).to_have_text(["操作记录", "统计", "导出", "告警"])
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["infotrack_session"]["httpOnly"] is True
    assert cookies["infotrack_session"]["sameSite"] == "Lax"

    page.click("[data-action=logout]")
    expect(page.locator(".login-card")).to_be_visible()
    assert "infotrack_session" not in {c["name"] for c in page.context.cookies()}
    page.reload()
    expect(page.locator(".login-card")).to_be_visible()


def test_history_filters_and_pages_as_the_api_does(page: Page, site: Site) -> None:
    sign_in(page, "manager1")
    wait_for_results(page)
    assert shown_ids(page) == api_ids(site, "manager1", limit=50)[0]

    page.select_option("select[name=eventType]", "view_detail")
    page.fill("input[name=operator]", "王芳")
    page.click(".filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"eventType=view_detail"))
    wait_for_results(page)
    first, cursor = api_ids(site, "manager1", eventType="view_detail", operator="王芳", limit=50)
    assert len(first) == 50
    assert cursor
    assert shown_ids(page) == first
    texts = page.locator("table.records tbody td.event .badge").all_inner_texts()
    assert set(texts) == {"查看客户详情"}

    page.click("[data-action=next]")
    expect(page.locator(".page-number")).to_have_text("第 2 页")
    second, _ = api_ids(
        site, "manager1", eventType="view_detail", operator="王芳", limit=50, cursor=cursor
    )
    assert shown_ids(page) == second
    page.click("[data-action=prev]")
    expect(page.locator(".page-number")).to_have_text("第 1 页")
    assert shown_ids(page) == first

    # The filters live in the address: a reload keeps them.
    page.reload()
    wait_for_results(page)
    assert page.input_value("input[name=operator]") == "王芳"
    assert shown_ids(page) == first


def test_clicking_a_customer_opens_their_timeline(page: Page, site: Site) -> None:
    sign_in(page, "manager1")
    wait_for_results(page)
    link = page.locator("table.records tbody a.customer").first
    href = link.get_attribute("href") or ""
    source, user_id = re.match(r"#/customer/([^/]+)/(.+)$", href).groups()  # type: ignore[union-attr]
    link.click()
    page.wait_for_selector("ol.timeline > li")
    expected = site.get(
        "manager1", f"/api/information-tracking/customers/{user_id}/records", source=source
    )
    shown = page.locator("ol.timeline > li").evaluate_all("items => items.map(i => +i.dataset.id)")
    assert shown == [item["id"] for item in expected["items"]]
    expect(page.locator(".customer-id")).to_contain_text(user_id)


def test_phone_numbers_are_masked_as_the_api_masks_them(page: Page, site: Site) -> None:
    site.record("sales1", "13800138000", "致电 13800138000 确认报价单")
    sign_in(page, "manager1")  # 经理: masked
    page.goto("/#/records?q=确认报价单")
    wait_for_results(page)
    cell = page.locator("table.records tbody .event-text").first
    expect(cell).to_have_text("致电 138****8000 确认报价单")
    api_text = site.get("manager1", RECORDS, q="确认报价单")["items"][0]["operationEvent"]
    assert api_text == "致电 138****8000 确认报价单"


def test_event_text_is_shown_as_text_never_as_html(page: Page, site: Site) -> None:
    written = site.record("sales1", "13800138000", XSS, changes=[{"field": XSS, "old": XSS}])
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "manager1")
    page.goto("/#/records?q=onerror")
    wait_for_results(page)
    row = page.locator(f"table.records tbody tr[data-id='{written['id']}']")
    expect(row.locator(".event-text")).to_have_text(XSS)
    expect(row.locator(".changes li")).to_have_text(f"{XSS}: {XSS} → ")
    assert page.locator("#app img").count() == 0
    page.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert dialogs == []


def test_dashboard_draws_the_numbers_of_the_stats_api(
    page: Page, site: Site, tmp_path: Path
) -> None:
    sign_in(page, "manager1")
    page.click(".nav a[data-path='/stats']")
    for chart in ("day", "eventType", "operator", "department", "weekday_hour"):
        page.wait_for_selector(f"[data-chart={chart}] .chart[data-rendered]")
    painted = page.evaluate(
        """() => [...document.querySelectorAll('.chart')].map(chart => {
             let inked = 0;
             for (const c of chart.querySelectorAll('canvas')) {
               const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
               for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
             }
             return inked;
           })"""
    )
    assert len(painted) == 5
    assert all(n > 1000 for n in painted), painted

    for group_by, top in (
        ("day", None),
        ("eventType", None),
        ("operator", 10),
        ("department", None),
        ("weekday_hour", None),
    ):
        expected = site.get("manager1", STATS, groupBy=group_by)["buckets"][:top]
        rows = page.locator(f"[data-chart={group_by}] .chart-data tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.key, +r.dataset.count])"
        )
        assert rows == [[b["key"], b["count"]] for b in expected], group_by
    total = site.get("manager1", STATS, groupBy="day")["total"]
    expect(page.locator("[data-card=total] .card-value")).to_have_text(f"{total:,}")
    screenshot(page, "console-dashboard.png", tmp_path, full_page=True)


def test_dashboard_follows_the_filters(page: Page, site: Site) -> None:
    sign_in(page, "manager1")
    page.goto("/#/stats?eventType=edit")
    page.wait_for_selector("[data-chart=operator] .chart[data-rendered]")
    expected = site.get("manager1", STATS, groupBy="operator", eventType="edit")
    rows = page.locator("[data-chart=operator] .chart-data tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.key, +r.dataset.count])"
    )
    assert rows == [[b["key"], b["count"]] for b in expected["buckets"][:10]]
    day_total = site.get("manager1", STATS, groupBy="day", eventType="edit")["total"]
    expect(page.locator("[data-card=total] .card-value")).to_have_text(f"{day_total:,}")


def _download(page: Page, fmt: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(f".export-buttons button[data-format={fmt}]")
    download = info.value
    path = download.path()
    return download.suggested_filename, Path(path).read_bytes()


def test_export_buttons_download_files_that_open(page: Page, site: Site) -> None:
    filters = {"operator": "王芳", "eventType": "edit"}
    expected = site.get("manager1", RECORDS, limit=200, **filters)["items"]
    assert 0 < len(expected) < 200
    sign_in(page, "manager1")
    page.goto("/#/export?operator=王芳&eventType=edit")
    page.wait_for_selector(".export-buttons button")

    name, body = _download(page, "xlsx")
    assert name.endswith(".xlsx")
    assert name.startswith("操作记录")
    sheet = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    ids = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [item["id"] for item in expected]

    name, body = _download(page, "csv")
    assert name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert [int(r[1]) for r in rows[1:]] == [item["id"] for item in expected]

    name, body = _download(page, "pdf")
    assert name.endswith(".pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "王芳" in text
    expect(page.locator(".export-status .notice-success")).to_contain_text(name)


def test_an_export_refused_for_size_is_explained_on_the_page(page: Page, site: Site) -> None:
    assert site.get("manager1", STATS, groupBy="day", **{"from": "2000-01-01"})["total"] > (
        PDF_LIMIT
    )
    sign_in(page, "manager1")
    page.goto("/#/export?from=2000-01-01")
    page.click(".export-buttons button[data-format=pdf]")
    expect(page.locator(".export-status .notice-error")).to_contain_text("缩小")


def test_an_operator_cannot_reach_another_departments_data(page: Page, site: Site) -> None:
    # 销售二部's records exist, but not for 经理 陈静 of 销售一部.
    assert site.get("manager2", RECORDS, department="销售二部")["items"]
    sign_in(page, "manager1")
    page.goto("/#/records?department=销售二部")
    wait_for_results(page)
    expect(page.locator(".results .notice")).to_have_text("没有符合条件的记录")
    page.goto("/#/records")
    wait_for_results(page)
    departments = set(page.locator("table.records tbody td:nth-child(3)").all_inner_texts())
    assert departments == {"销售一部"}

    # Asked directly from the page, with its cookie, the server still answers within scope.
    answer = page.evaluate(
        """async () => (await (await fetch('api/information-tracking/records?department='
                 + encodeURIComponent('销售二部'))).json()).data.items.length"""
    )
    assert answer == 0
    page.goto("/#/stats?department=销售二部")
    page.wait_for_selector("[data-card=total]")
    expect(page.locator("[data-card=total] .card-value")).to_have_text("0")

    # No 账号 page for a 经理: the link is absent and the address answers with the refusal.
    expect(page.locator(".nav a[data-path='/accounts']")).to_have_count(0)
    page.goto("/#/accounts")
    expect(page.locator(".results .notice-error")).to_contain_text("管理员")


def test_a_salesperson_sees_only_their_own_records(page: Page, site: Site) -> None:
    sign_in(page, "sales1")
    wait_for_results(page)
    names = set(page.locator("table.records tbody td:nth-child(2)").all_inner_texts())
    assert names
    assert all(name.startswith("张伟") for name in names)


def test_admin_adds_and_disables_an_account(page: Page, site: Site) -> None:
    sign_in(page, "admin")
    page.click(".nav a[data-path='/accounts']")
    page.wait_for_selector("table.accounts tr[data-username=sales1]")
    form = page.locator("form.account-form")
    form.locator("input[name=username]").fill("newrep")
    form.locator("input[name=password]").fill("welcome-2026")
    form.locator("input[name=name]").fill("周新")
    form.locator("input[name=department]").fill("销售一部")
    form.locator("select[name=role]").select_option("业务员")
    form.locator("button[type=submit]").click()
    row = page.locator("table.accounts tr[data-username=newrep]")
    expect(row).to_contain_text("周新")
    expect(row).to_contain_text("华东贸易有限公司")  # an admin adds to their own company

    page.on("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-action=disable]").click()
    expect(row).to_contain_text("已停用")

    # The disabled account cannot sign in.
    page.click("[data-action=logout]")
    page.fill(".login-form input[name=username]", "newrep")
    page.fill(".login-form input[name=password]", "welcome-2026")
    page.click(".login-form button[type=submit]")
    expect(page.locator(".login-message .notice-error")).to_be_visible()


def test_language_switch_is_remembered(page: Page) -> None:
    sign_in(page, "manager1")
    page.click(".topbar .lang-switch")
    expect(page.locator(".nav a").first).to_have_text("Records")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()
    expect(page.locator(".nav a").first).to_have_text("Records")
    page.click(".topbar .lang-switch")
    expect(page.locator(".nav a").first).to_have_text("操作记录")


@pytest.mark.parametrize("width", [1280, 375])
def test_history_fits_the_screen(page: Page, width: int, tmp_path: Path) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "manager1")
    wait_for_results(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for link in page.locator(".nav a").all():
        expect(link).to_be_visible()
    expect(page.locator("table.records tbody tr").first).to_be_visible()
    if width == 1280:
        screenshot(page, "console-history.png", tmp_path)
    else:
        screenshot(page, "console-history-phone.png", tmp_path)
