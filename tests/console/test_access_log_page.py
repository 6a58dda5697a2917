"""The console's 访问日志 page in a real Chromium against a real server: offered to 审计 and
系统管理员 only, showing the administrator's acts with who and when, never the reader's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.console.conftest import Site, screenshot, sign_in

ACCESS_LOG = "/api/information-tracking/access-log"
RECORDS = "/api/information-tracking/records"
LINK = ".nav a[data-path='/access-log']"


def add_account(site: Site, username: str) -> None:
    """The demo's 管理员 (孙丽) adds a 业务员 through the API."""
    body: dict[str, Any] = {
        "username": username,
        "password": "welcome-2026",
        "name": "周新",
        "department": "销售一部",
        "role": "业务员",
    }
    with site.api("admin") as client:
        answer = client.post("/api/accounts", json=body)
    assert answer.status_code == 201, answer.text


def test_the_auditor_reads_the_admins_acts_on_the_page(
    page: Page, site: Site, tmp_path: Path
) -> None:
    add_account(site, "dutyrep")
    sign_in(page, "auditor")
    expect(page.locator(LINK)).to_have_text("访问日志")
    expect(page.locator(".nav a[data-path='/accounts']")).to_have_count(0)
    page.click(LINK)
    row = page.locator("table.access-log tr[data-action=account_add]").first
    expect(row).to_contain_text("孙丽")
    expect(row).to_contain_text("管理员")
    expect(row).to_contain_text("添加账号")
    expect(row).to_contain_text("username: dutyrep")

    # The page shows what the API answers the auditor: the same entry, at the same time.
    [entry] = [
        e
        for e in site.get("auditor", ACCESS_LOG, limit=200)["items"]
        if e["action"] == "account_add" and e["filters"]["username"] == "dutyrep"
    ]
    row = page.locator(f"table.access-log tr[data-id='{entry['id']}']")
    expect(row).to_contain_text(entry["occurredAt"][:19].replace("T", " "))
    screenshot(page, "console-access-log.png", tmp_path)


def test_the_admin_is_not_offered_the_access_log(page: Page, site: Site) -> None:
    sign_in(page, "admin")
    expect(page.locator(".nav a[data-path='/accounts']")).to_have_count(1)
    expect(page.locator(LINK)).to_have_count(0)
    # Typed into the address bar, the page shows the server's refusal.
    page.goto("/#/access-log")
    expect(page.locator(".results .notice-error")).to_contain_text("职责分离")


def test_the_system_admin_never_sees_their_own_entries(page: Page, site: Site) -> None:
    site.get("sysadmin", RECORDS, limit=5)  # an entry of their own, to be left out
    add_account(site, "dutyrep2")  # and one of someone else's, to be shown
    sign_in(page, "sysadmin")
    expect(page.locator(".nav a[data-path='/accounts']")).to_have_count(1)
    page.click(LINK)
    expect(page.locator("table.access-log tr[data-action=account_add]").first).to_be_visible()
    operators = page.locator("table.access-log td.operator").all_inner_texts()
    assert operators
    assert not [name for name in operators if "郑浩" in name]  # the demo's 系统管理员
