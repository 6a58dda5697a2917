"""tracker.js in a real Chromium through the demo CRM page, against a real server: records
reach the history, retries keep their requestId, the offline queue survives reloads and never
crosses users, refusals are final, and the SDK is small and loads from anywhere."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, Request, Route
from sqlalchemy import make_url, text

from tests.console.conftest import Site

RECORDS = "/api/information-tracking/records"
# The single and the batch endpoint (the SDK sends a batch when several calls are queued).
RECORD_URL = re.compile(r"/api/information-tracking/record(/batch)?\?")
SINGLE_URL = re.compile(r"/api/information-tracking/record\?")
TEXTS = {"view": "查看客户详情", "edit": "修改客户信息", "follow": "更新客户跟进"}
EVENT_TYPES = {"查看客户详情": "view_detail", "修改客户信息": "edit", "更新客户跟进": "follow_up"}
NAMES = {"sales1": "张伟", "sales2": "王芳"}
# A deliberate reading of the whole queue (the SDK's own probe key excluded).
QUEUE_JS = """() => Object.keys(localStorage)
  .filter(k => k.startsWith('infotrack.q.') && k !== 'infotrack.q.probe')
  .map(k => JSON.parse(localStorage.getItem(k)))"""
# Long enough for the SDK's backoff (0.5-1 s, then 1-2 s, then 2-4 s) with room to spare.
DELIVERY_MS = 12_000


# --- helpers --------------------------------------------------------------------------------


def open_crm(page: Page, username: str = "sales1") -> None:
    """Open the demo CRM, signing in as ``username`` when the tab holds no token."""
    page.goto("/demo/crm")
    page.wait_for_selector("form.login, tr[data-customer]")
    if page.locator("form.login").count():
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "demo1234")
        page.click("form.login button[type=submit]")
    page.wait_for_selector("tr[data-customer]")
    assert f"当前用户:{NAMES[username]}" in page.inner_text(".bar")


def click(page: Page, customer: str, action: str) -> None:
    """Press one of a customer's buttons (查看详情 / 编辑 / 跟进)."""
    page.click(f'tr[data-customer="{customer}"] button[data-action={action}]')


def phone_of(page: Page, customer: str) -> str:
    return page.inner_text(f'tr[data-customer="{customer}"] td.phone').strip()


def wait_for_lines(page: Page, state: str, count: int, timeout: float = DELIVERY_MS) -> None:
    """Wait until the log shows ``count`` lines of ``state`` (ok, failed, pending)."""
    page.wait_for_function(
        "([state, n]) => document.querySelectorAll('#log li.' + state).length === n",
        arg=[state, count],
        timeout=timeout,
    )


def ok_lines(page: Page) -> list[tuple[int, str]]:
    """(record id, text) of every ``li.ok`` line of the log, newest first."""
    lines = page.locator("#log li.ok").evaluate_all(
        "items => items.map(li => [li.dataset.recordId, li.textContent])"
    )
    return [(int(record_id), line) for record_id, line in lines]


def queue(page: Page) -> list[dict[str, Any]]:
    """The SDK's queued calls as stored in localStorage."""
    entries: list[dict[str, Any]] = page.evaluate(QUEUE_JS)
    return entries


def wait_for_empty_queue(page: Page) -> None:
    page.wait_for_function(
        f"() => ({QUEUE_JS})().length === 0 && document.querySelector('#pending')"
        ".textContent === '0'",
        timeout=DELIVERY_MS,
    )


def rows(site: Site, request_id: str) -> list[Any]:
    """The informationtra rows written for a requestId, read straight from the database."""
    with site.sources.wechat.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, operator_id, userId, customer_source, operationEvent "
                    "FROM informationtra WHERE request_id = :r"
                ),
                {"r": request_id},
            )
        )


def operator_id(site: Site, username: str) -> str:
    value: str = site.get(username, "/api/auth/me")["operatorId"]
    return value


def history(site: Site, username: str, **filters: Any) -> dict[int, dict[str, Any]]:
    """The history API's items as ``username`` sees them, by id."""
    items = site.get(username, RECORDS, limit=200, **filters)["items"]
    return {item["id"]: item for item in items}


def event_ids(request: Request) -> list[str]:
    """The requestIds a record or batch request carried."""
    body = request.post_data_json
    assert isinstance(body, dict)
    events = body["events"] if "events" in body else [body]
    return [event["requestId"] for event in events]


def watch_records(page: Page) -> list[Request]:
    """Every record/batch request the page makes from now on."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if RECORD_URL.search(r.url) else None)
    return seen


@pytest.fixture
def new_page(page: Page) -> Iterator[Callable[[], Page]]:
    """Opens more tabs in the test page's context (same localStorage), failing on their errors."""
    errors: list[str] = []

    def opener() -> Page:
        tab = page.context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        return tab

    yield opener
    assert not errors, errors


def close_unsent(page: Page) -> None:
    """Close a tab whose queue must stay unsent. Chromium may run the page's pagehide handler
    after ``close()`` has returned, once the test is back online; its keepalive send would
    then reach the server (rightly, but not what these tests are about): block it."""
    page.route(RECORD_URL, lambda route: route.abort())
    page.close()


def go_offline(context: BrowserContext, page: Page) -> None:
    context.set_offline(True)
    page.wait_for_selector("#network.offline")


# --- 1. the buttons record, and the history shows it -----------------------------------------


def test_buttons_record_and_the_history_shows_them(page: Page, site: Site) -> None:
    open_crm(page, "sales1")
    customers = {"wechat:wx_000001": ("wx_000001", "wechat"), "primary:1002": ("1002", "primary")}
    for customer in customers:
        for action in TEXTS:
            click(page, customer, action)
    wait_for_lines(page, "ok", 6)
    assert page.locator("#log li.failed, #log li.pending").count() == 0
    wait_for_empty_queue(page)

    shown = ok_lines(page)
    me = operator_id(site, "sales1")
    for customer, (user_id, source) in customers.items():
        phone = phone_of(page, customer)
        ids = {record_id for record_id, line in shown if line.endswith(f"{phone} → #{record_id}")}
        assert len(ids) == 3, (customer, shown)
        for reader in ("sales1", "admin"):  # the salesperson's own scope, and the company's
            found = history(site, reader, userId=user_id, source=source)
            assert ids <= found.keys(), (reader, customer)
            items = [found[i] for i in ids]
            assert sorted(i["operationEvent"] for i in items) == sorted(TEXTS.values())
            for item in items:
                assert (item["userId"], item["source"]) == (user_id, source)
                assert item["operatorId"] == me
                assert item["trauserName"] == "张伟"
                assert item["eventType"] == EVENT_TYPES[item["operationEvent"]]
        # Each log line names the text that was recorded under its id.
        for record_id, line in shown:
            if record_id in ids:
                assert f"操作记录成功:{found[record_id]['operationEvent']} {phone}" in line


# --- 2. retries keep the requestId ------------------------------------------------------------


def test_retries_keep_one_request_id_and_write_one_row(page: Page, site: Site) -> None:
    open_crm(page, "sales1")
    attempts: list[dict[str, Any]] = []

    def flaky(route: Route) -> None:
        body = route.request.post_data_json
        assert isinstance(body, dict)
        attempts.append(body)
        if len(attempts) == 1:
            route.fulfill(
                status=503,
                json={
                    "success": False,
                    "message": "数据库暂时不可用",
                    "code": "database_unavailable",
                },
            )
        elif len(attempts) == 2:
            route.abort()  # a network error
        else:
            route.continue_()

    page.route(RECORD_URL, flaky)
    click(page, "wechat:wx_000007", "edit")
    wait_for_lines(page, "ok", 1)

    assert len(attempts) == 3, attempts
    request_ids = {attempt["requestId"] for attempt in attempts}
    assert len(request_ids) == 1, attempts
    assert all(a == attempts[0] for a in attempts)  # the very same body each time
    assert attempts[0]["operationEvent"] == "修改客户信息"
    (request_id,) = request_ids
    written = rows(site, request_id)
    assert len(written) == 1
    assert written[0].id == ok_lines(page)[0][0]
    assert written[0].userId == "wx_000007"
    assert written[0].operator_id == operator_id(site, "sales1")
    wait_for_empty_queue(page)


# --- 3. offline: queued, then delivered once ----------------------------------------------------


def test_offline_calls_wait_in_local_storage_and_are_sent_once_online(
    page: Page, site: Site
) -> None:
    open_crm(page, "sales1")
    sent = watch_records(page)
    go_offline(page.context, page)
    clicks = [
        ("wechat:wx_000004", "view"),
        ("wechat:wx_000004", "edit"),
        ("primary:1003", "follow"),
    ]
    for customer, action in clicks:
        click(page, customer, action)
    page.wait_for_function("() => document.querySelector('#pending').textContent === '3'")
    assert page.locator("#log li.pending").count() == 3

    queued = queue(page)
    assert sorted((e["phoneNumber"], e["operationEvent"]) for e in queued) == sorted(
        (phone_of(page, customer), TEXTS[action]) for customer, action in clicks
    )
    request_ids = [e["requestId"] for e in queued]
    assert len(set(request_ids)) == 3
    assert page.evaluate("InfoTrack.pending()") == 3
    page.evaluate("InfoTrack.flush()")  # offline: a flush sends nothing either
    assert sent == []
    assert all(rows(site, rid) == [] for rid in request_ids)

    page.context.set_offline(False)
    wait_for_lines(page, "ok", 3)
    wait_for_empty_queue(page)
    assert sorted(rid for r in sent for rid in event_ids(r)) == sorted(request_ids)
    shown = {record_id for record_id, _ in ok_lines(page)}
    written = [rows(site, rid) for rid in request_ids]
    assert all(len(w) == 1 for w in written), written
    assert {w[0].id for w in written} == shown
    assert {(w[0].userId, w[0].customer_source) for w in written} == {
        ("wx_000004", "wechat"),
        ("1003", "primary"),
    }


# --- 4. calls outlive the page, and never cross users -------------------------------------------


def test_calls_queued_offline_are_sent_by_the_next_page(
    page: Page, site: Site, new_page: Callable[[], Page]
) -> None:
    open_crm(page, "sales1")
    go_offline(page.context, page)
    click(page, "wechat:wx_000008", "view")
    click(page, "wechat:wx_000008", "follow")
    page.wait_for_function("() => document.querySelector('#pending').textContent === '2'")
    request_ids = sorted(e["requestId"] for e in queue(page))
    assert len(request_ids) == 2
    close_unsent(page)

    page.context.set_offline(False)
    later = new_page()
    sent = watch_records(later)
    open_crm(later, "sales1")  # a new tab: its sessionStorage holds no token, so sign in again
    wait_for_empty_queue(later)
    assert sorted(rid for r in sent for rid in event_ids(r)) == request_ids
    me = operator_id(site, "sales1")
    for rid in request_ids:
        written = rows(site, rid)
        assert [(w.operator_id, w.userId) for w in written] == [(me, "wx_000008")]
    # The next load finds nothing left to send.
    later.reload()
    later.wait_for_selector("tr[data-customer]")
    later.evaluate("InfoTrack.flush()")
    assert sorted(rid for r in sent for rid in event_ids(r)) == request_ids


@contextmanager
def write_lock(site: Site) -> Iterator[None]:
    """Hold the wechat database's write lock: the server's writes wait (it reads on, WAL)."""
    conn = sqlite3.connect(make_url(site.settings.wechat_db_url).database or "", timeout=5)
    conn.isolation_level = None
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_call_in_flight_at_navigation_is_sent_by_the_next_page_once(
    page: Page, site: Site
) -> None:
    open_crm(page, "sales1")
    with write_lock(site):  # the server cannot answer yet: the request stays in flight
        with page.expect_request(SINGLE_URL):
            click(page, "wechat:wx_000009", "edit")
        (entry,) = queue(page)
        page.goto("/healthz")  # the user moves on before the server has answered
        # The next page of the CRM (same tab: still signed in) shows the call as queued and
        # sends it again at once, under the same requestId: no page will read the first
        # request's answer, and the server writes the row once however often it is sent.
        sent = watch_records(page)
        with page.expect_request(SINGLE_URL, timeout=8_000):
            open_crm(page, "sales1")
        assert page.inner_text("#pending") == "1"
    wait_for_empty_queue(page)
    assert [rid for r in sent for rid in event_ids(r)] == [entry["requestId"]]
    written = rows(site, entry["requestId"])
    assert [(w.operator_id, w.userId) for w in written] == [
        (operator_id(site, "sales1"), "wx_000009")
    ]


def test_one_users_queued_call_waits_for_that_user(
    page: Page, site: Site, new_page: Callable[[], Page]
) -> None:
    open_crm(page, "sales1")
    go_offline(page.context, page)
    click(page, "wechat:wx_000010", "view")
    page.wait_for_function("() => document.querySelector('#pending').textContent === '1'")
    (entry,) = queue(page)
    close_unsent(page)
    page.context.set_offline(False)

    # sales2 signs in on the same browser: sales1's call is not sent with sales2's token.
    tab = new_page()
    sent = watch_records(tab)
    open_crm(tab, "sales2")
    assert tab.inner_text("#pending") == "1"  # queued on this browser, though not sales2's
    tab.evaluate("InfoTrack.flush()")
    click(tab, "wechat:wx_000011", "view")  # sales2's own call goes, alone
    wait_for_lines(tab, "ok", 1)
    (own,) = [rid for r in sent for rid in event_ids(r)]
    assert own != entry["requestId"]
    assert [e["requestId"] for e in queue(tab)] == [entry["requestId"]]
    assert tab.inner_text("#pending") == "1"
    assert rows(site, entry["requestId"]) == []
    assert [w.operator_id for w in rows(site, own)] == [operator_id(site, "sales2")]

    # sales1 comes back: the call is sent, once, as sales1's.
    tab.click("button[data-action=logout]")
    tab.wait_for_selector("form.login")
    open_crm(tab, "sales1")
    wait_for_empty_queue(tab)
    assert [rid for r in sent[1:] for rid in event_ids(r)] == [entry["requestId"]]
    written = rows(site, entry["requestId"])
    assert [(w.operator_id, w.userId) for w in written] == [
        (operator_id(site, "sales1"), "wx_000010")
    ]


# --- 5. a refusal is final ------------------------------------------------------------------------


def test_an_unknown_number_is_refused_for_good(page: Page, site: Site) -> None:
    unknown = "14700000000"  # no demo customer has a 147 number

    def with_unknown_customer(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["data"]["items"].append(
            {"source": "wechat", "id": "wx_gone", "name": "已删除客户", "phone": unknown}
        )
        route.fulfill(response=answer, json=body)

    page.route("**/demo/crm/customers", with_unknown_customer)
    open_crm(page, "sales1")
    sent = watch_records(page)
    click(page, "wechat:wx_gone", "view")
    wait_for_lines(page, "failed", 1)
    assert page.inner_text("#log li.failed") == "操作记录失败:未找到对应的客户信息"
    assert page.locator("#log li.pending, #log li.ok").count() == 0
    assert queue(page) == []
    assert page.inner_text("#pending") == "0"
    page.evaluate("InfoTrack.flush()")
    assert len(sent) == 1  # not retried
    response = sent[0].response()
    assert response is not None
    assert response.status == 404
    with site.sources.wechat.connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM informationtra WHERE request_id = :r"),
                {"r": event_ids(sent[0])[0]},
            ).scalar_one()
            == 0
        )


# --- 6. the SDK file ------------------------------------------------------------------------------


def test_the_sdk_is_small_javascript_for_any_origin(site: Site) -> None:
    answer = httpx.get(f"{site.base}/sdk/tracker.js", headers={"Origin": "https://crm.example.com"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert len(answer.content) < 8 * 1024
    assert "\n  " not in answer.text  # minified


def test_the_sdk_loads_cross_origin_and_pages_call_no_other_host(page: Page, site: Site) -> None:
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(r.url))
    open_crm(page, "sales1")
    click(page, "wechat:wx_000012", "follow")
    wait_for_lines(page, "ok", 1)
    assert any(url.startswith(f"{site.base}/sdk/tracker.js") for url in hosts)
    assert [url for url in hosts if not url.startswith(site.base + "/")] == []

    # A page of another origin loads it with CORS checks on: it must get InfoTrack.
    page.goto(site.base.replace("127.0.0.1", "localhost") + "/healthz")
    loaded = page.evaluate(
        """src => new Promise(resolve => {
             const s = document.createElement('script');
             s.crossOrigin = 'anonymous';
             s.src = src;
             s.onload = () => resolve(typeof InfoTrack === 'object' && InfoTrack.version);
             s.onerror = () => resolve('blocked');
             document.head.append(s);
           })""",
        f"{site.base}/sdk/tracker.js",
    )
    assert loaded == "1.0.0"


# --- 7. no demo data, no demo page ---------------------------------------------------------------


def test_demo_crm_is_not_served_without_demo_data(client: TestClient) -> None:
    answer = client.get("/demo/crm")
    assert answer.status_code == 404
    assert answer.json()["code"] == "demo_not_loaded"
