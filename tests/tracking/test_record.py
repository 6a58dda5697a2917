"""``POST /api/information-tracking/record``: the answer, the row it writes, events, changes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import add_contact, add_user, bearer, count_records, create_account
from tests.tracking.conftest import RECORD, assert_error, fetch_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("side", "is_supply_side"), [("supply", "true"), ("sales", "false")], ids=["supply", "sales"]
)
def test_record_answers_and_stamps_the_session_identity(
    client: TestClient, sources: Sources, settings: Settings, side: str, is_supply_side: str
) -> None:
    account_id = create_account(
        sources,
        settings,
        username="wangfang",
        company="华南实业集团",
        department="销售二部",
        organization="华南大区",
        role="经理",
        name="王芳",
        assistant="赵强",
        side=side,
    )
    add_user(sources, "u-100", "13800138000", "王小明")
    headers = bearer(client, "wangfang")

    response = client.post(
        f"{RECORD}?isSupplySide={is_supply_side}",
        json={
            "phoneNumber": "13800138000",
            "operationEvent": "查看客户详情",
            "requestId": "req-0001",
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "success": True,
        "message": "操作记录成功",
        "data": {"id": body["data"]["id"], "userId": "u-100", "source": "wechat"},
    }
    [row] = fetch_rows(sources)
    assert row["id"] == body["data"]["id"]
    assert row["tracompany"] == "华南实业集团"
    assert row["tradepartment"] == "销售二部"
    assert row["traorganization"] == "华南大区"
    assert row["trarole"] == "经理"
    assert row["trauserName"] == "王芳"
    assert row["traassistant"] == "赵强"
    assert row["userId"] == "u-100"
    assert row["operationEvent"] == "查看客户详情"
    assert row["operator_id"] == f"account:{account_id}"
    assert row["event_type"] == "view_detail"
    assert row["customer_source"] == "wechat"
    assert row["side"] == side
    assert row["client_addr"] == "testclient"  # TestClient's peer address
    assert row["request_id"] == "req-0001"
    assert row["changes"] is None


def test_operation_time_is_local_time_in_shanghai(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "更新客户跟进"},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    [row] = fetch_rows(sources)
    now_in_shanghai = datetime.now(SHANGHAI).replace(tzinfo=None)
    # Naive wall-clock time, as the seed's LocalDateTime.now(); UTC would be 8 hours off.
    assert row["operationTime"].tzinfo is None
    assert abs(row["operationTime"] - now_in_shanghai) < timedelta(minutes=1)
    assert abs(row["created_at"] - now_in_shanghai) < timedelta(minutes=1)


def test_without_request_id_the_server_makes_one(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    payload = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}

    first = client.post(RECORD, json=payload, headers=headers)
    second = client.post(RECORD, json=payload, headers=headers)

    assert first.status_code == second.status_code == 200
    # No requestId: two calls are two operations.
    assert first.json()["data"]["id"] != second.json()["data"]["id"]
    rows = fetch_rows(sources)
    assert len(rows) == 2
    assert all(row["request_id"] for row in rows)
    assert rows[0]["request_id"] != rows[1]["request_id"]


def test_is_supply_side_defaults_to_supply(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert fetch_rows(sources)[0]["side"] == "supply"


def test_identity_fields_in_the_body_are_ignored(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    operator_id = client.get("/api/auth/me", headers=headers).json()["data"]["operatorId"]
    assert operator_id.startswith("account:")

    response = client.post(
        RECORD,
        json={
            "phoneNumber": "13800138000",
            "operationEvent": "修改客户信息",
            "trauserName": "冒名者",
            "tracompany": "假公司",
            "tradepartment": "假部门",
            "traorganization": "假组织",
            "trarole": "系统管理员",
            "traassistant": "假助理",
            "operatorId": "account:999",
            "operator_id": "account:999",
            "userId": "someone-else",
            "customer_source": "primary",
            "side": "sales",
            "client_addr": "10.0.0.1",
            "operationTime": "2000-01-01 00:00:00",
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["userId"] == "u1"
    [row] = fetch_rows(sources)
    assert row["trauserName"] == "张伟"
    assert row["tracompany"] == "华东贸易有限公司"
    assert row["tradepartment"] == "销售一部"
    assert row["traorganization"] == "华东大区"
    assert row["trarole"] == "业务员"
    assert row["traassistant"] == "李娜"
    assert row["operator_id"] == operator_id
    assert row["userId"] == "u1"
    assert row["customer_source"] == "wechat"
    assert row["side"] == "supply"
    assert row["client_addr"] == "testclient"
    assert row["operationTime"].year != 2000


def test_two_operators_with_the_same_name_keep_distinct_operator_ids(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    add_user(sources, "u1", "13800138000")
    first_id = create_account(sources, settings, username="zhangwei1", name="张伟")
    second_id = create_account(sources, settings, username="zhangwei2", name="张伟")
    payload = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}

    for username in ("zhangwei1", "zhangwei2"):
        response = client.post(RECORD, json=payload, headers=bearer(client, username))
        assert response.status_code == 200, response.text

    rows = fetch_rows(sources)
    assert [row["trauserName"] for row in rows] == ["张伟", "张伟"]
    assert [row["operator_id"] for row in rows] == [f"account:{first_id}", f"account:{second_id}"]


# --- event types ---------------------------------------------------------------------------


def test_the_seeds_three_texts_infer_their_event_type(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    seed = [
        ("查看客户详情", "view_detail"),
        ("修改客户信息", "edit"),
        ("更新客户跟进", "follow_up"),
    ]

    for text, _ in seed:
        response = client.post(
            RECORD, json={"phoneNumber": "13800138000", "operationEvent": text}, headers=headers
        )
        assert response.status_code == 200, response.text

    assert [(row["operationEvent"], row["event_type"]) for row in fetch_rows(sources)] == seed


def test_other_text_is_kept_as_written_with_type_other(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    text = "  给客户发送了报价单 (V2) ✓ 😀 "

    response = client.post(
        RECORD, json={"phoneNumber": "13800138000", "operationEvent": text}, headers=headers
    )

    assert response.status_code == 200, response.text
    [row] = fetch_rows(sources)
    assert row["operationEvent"] == text
    assert row["event_type"] == "other"


def test_an_explicit_event_type_is_honoured(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    # The type wins over the text, seed texts included.
    cases = [("导出客户数据", "export"), ("查看客户详情", "follow_up"), ("随便写的", "edit")]

    for text, event_type in cases:
        response = client.post(
            RECORD,
            json={"phoneNumber": "13800138000", "operationEvent": text, "eventType": event_type},
            headers=headers,
        )
        assert response.status_code == 200, response.text

    assert [(row["operationEvent"], row["event_type"]) for row in fetch_rows(sources)] == cases


def test_an_unknown_event_type_is_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    for event_type in ["hack", "VIEW_DETAIL", "view-detail", "查看"]:
        response = client.post(
            RECORD,
            json={
                "phoneNumber": "13800138000",
                "operationEvent": "查看客户详情",
                "eventType": event_type,
            },
            headers=headers,
        )
        assert_error(response, 400, "unknown_event_type", event_type)

    assert count_records(sources) == 0


def test_operation_event_of_exactly_65535_utf8_bytes_is_accepted(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    text = "跟" * 21845  # 3 bytes each: 65 535 bytes, the most a MySQL TEXT holds
    assert len(text.encode("utf-8")) == 65535

    response = client.post(
        RECORD, json={"phoneNumber": "13800138000", "operationEvent": text}, headers=headers
    )

    assert response.status_code == 200, response.text
    [row] = fetch_rows(sources)
    assert row["operationEvent"] == text


def test_operation_event_over_65535_utf8_bytes_is_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    # 65 538 bytes of Chinese, 65 536 of ASCII, 65 536 of emoji (4 bytes each).
    for text in ["跟" * 21846, "a" * 65536, "😀" * 16384]:
        assert len(text.encode("utf-8")) > 65535
        response = client.post(
            RECORD, json={"phoneNumber": "13800138000", "operationEvent": text}, headers=headers
        )
        assert_error(response, 413, "operation_event_too_long", text[:3])

    assert count_records(sources) == 0


def test_whitespace_only_operation_event_is_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    for text in ["   ", "\t\n", "\u3000"]:
        response = client.post(
            RECORD, json={"phoneNumber": "13800138000", "operationEvent": text}, headers=headers
        )
        body = assert_error(response, 400, "missing_field", text)
        assert body["message"] == "电话号码和操作事件不能为空"

    assert count_records(sources) == 0


# --- changes -------------------------------------------------------------------------------


def test_changes_are_stored_as_json(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    changes = [
        {"field": "level", "old": "B", "new": "A"},
        {"field": "备注", "old": None, "new": "重点跟进客户"},
        {"field": "budget", "old": 10000, "new": 12500.5},
        {"field": "vip", "old": False, "new": True},
    ]

    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "修改客户信息", "changes": changes},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    [row] = fetch_rows(sources)
    assert row["event_type"] == "edit"
    assert json.loads(row["changes"]) == changes


def test_fifty_changes_are_accepted(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    changes = [{"field": f"f{i}", "old": i, "new": i + 1} for i in range(50)]

    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "修改客户信息", "changes": changes},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert json.loads(fetch_rows(sources)[0]["changes"]) == changes


def test_bad_changes_are_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    cases: dict[str, object] = {
        "51 changes": [{"field": f"f{i}", "old": i, "new": i + 1} for i in range(51)],
        "oversize value": [{"field": "note", "old": "", "new": "x" * 2001}],
        "empty field": [{"field": "", "old": "a", "new": "b"}],
        "long field": [{"field": "f" * 65, "old": "a", "new": "b"}],
        "no field": [{"old": "a", "new": "b"}],
        "list value": [{"field": "tags", "old": ["a"], "new": ["b"]}],
        "not a list": {"field": "level", "old": "B", "new": "A"},
        "a string": "level: B -> A",
    }

    for case, changes in cases.items():
        response = client.post(
            RECORD,
            json={
                "phoneNumber": "13800138000",
                "operationEvent": "修改客户信息",
                "changes": changes,
            },
            headers=headers,
        )
        assert_error(response, 400, case=case)

    assert count_records(sources) == 0


def test_changes_too_large_in_total_are_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    # Each value is within its bound, but together they exceed what the TEXT column holds.
    changes = [{"field": f"f{i}", "old": "o" * 2000, "new": "n" * 2000} for i in range(50)]

    response = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "修改客户信息", "changes": changes},
        headers=headers,
    )

    assert_error(response, 413, "changes_too_long")
    assert count_records(sources) == 0


def test_contact_customer_is_recorded_with_its_source(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    contact_id = add_contact(sources, "+8613900139000", "李雷")

    response = client.post(
        RECORD,
        json={"phoneNumber": "139 0013 9000", "operationEvent": "更新客户跟进"},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "id": response.json()["data"]["id"],
        "userId": contact_id,
        "source": "primary",
    }
    [row] = fetch_rows(sources)
    assert (row["userId"], row["customer_source"]) == (contact_id, "primary")
