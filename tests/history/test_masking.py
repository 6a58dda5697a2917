"""Phone numbers inside the trail are masked unless the reader's role may see them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from infotrack.db import Sources
from tests.conftest import add_user
from tests.history.conftest import RECORDS, Cast, ClientFactory, fetch
from tests.tracking.conftest import RECORD

TEXT = "致电 +86 138-0013-8000 确认报价 ¥1999.00,2026-12-01 面谈"
MASKED_TEXT = "致电 138****8000 确认报价 ¥1999.00,2026-12-01 面谈"
CHANGES = [
    {"field": "phone", "old": 13800138000, "new": "139 0013 9000"},
    {"field": "backup", "old": None, "new": "座机 010-6554 3210"},
    {"field": "level", "old": "B", "new": "A"},
]
MASKED_CHANGES = [
    {"field": "phone", "old": "138****8000", "new": "139****9000"},
    {"field": "backup", "old": None, "new": "座机 010****3210"},
    {"field": "level", "old": "B", "new": "A"},
]


def record_call(client: TestClient, sources: Sources, cast: Cast) -> int:
    """张伟 records a follow-up whose text and changes hold phone numbers; its id."""
    add_user(sources, "u-1", "13800138000", "王小明")
    response = client.post(
        RECORD,
        json={
            "phoneNumber": "13800138000",
            "operationEvent": TEXT,
            "eventType": "follow_up",
            "changes": CHANGES,
        },
        headers=cast["zhangwei"].headers,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["id"])


def seen_by(client: TestClient, headers: dict[str, str], url: str = RECORDS) -> dict[str, Any]:
    [item] = fetch(client, headers, url)["items"]
    return item


def test_roles_that_may_not_see_numbers_read_them_masked(
    client: TestClient, sources: Sources, cast: Cast
) -> None:
    record_call(client, sources, cast)
    timeline = "/api/information-tracking/customers/u-1/records"
    for username in ("zhangwei", "wangqiang", "zhaomin"):  # 业务员, 经理, 总监
        for url in (RECORDS, timeline):
            item = seen_by(client, cast[username].headers, url)
            assert item["operationEvent"] == MASKED_TEXT, (username, url)
            assert item["changes"] == MASKED_CHANGES, (username, url)
            assert "13800138000" not in str(item)
            assert "0013" not in str(item)


def test_admin_auditor_and_system_admin_see_numbers_in_full(
    client: TestClient, sources: Sources, cast: Cast
) -> None:
    record_call(client, sources, cast)
    for username in ("qianjun", "sunli", "zhouhao"):  # 管理员, 审计, 系统管理员
        item = seen_by(client, cast[username].headers)
        assert item["operationEvent"] == TEXT, username
        assert item["changes"] == CHANGES, username


def test_unmasked_roles_are_configurable(
    client_with: ClientFactory, sources: Sources, cast: Cast
) -> None:
    app = client_with(unmasked_roles="经理,总监")  # as INFOTRACK_UNMASKED_ROLES is written
    record_call(app, sources, cast)
    for username in ("wangqiang", "zhaomin"):
        assert seen_by(app, cast[username].headers)["operationEvent"] == TEXT, username
    for username in ("qianjun", "zhangwei"):
        assert seen_by(app, cast[username].headers)["operationEvent"] == MASKED_TEXT, username
    me = app.get("/api/auth/me", headers=cast["wangqiang"].headers).json()["data"]
    assert me["scope"]["unmaskedPhones"] is True
