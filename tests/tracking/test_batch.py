"""``POST /api/information-tracking/record/batch``: one answer per event, in order."""

from __future__ import annotations

from fastapi.testclient import TestClient

from infotrack.db import Sources
from tests.conftest import add_contact, add_user, count_records
from tests.tracking.conftest import (
    BATCH,
    MISSING_MESSAGE,
    NOT_FOUND_MESSAGE,
    assert_error,
    fetch_rows,
)

ITEM_ERROR_KEYS = {"success", "message", "code", "status"}


def test_each_event_gets_its_own_answer_in_order(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    contact_id = add_contact(sources, "13900139000")
    events = [
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        {"phoneNumber": "hello", "operationEvent": "查看客户详情"},
        {"phoneNumber": "+86 139 0013 9000", "operationEvent": "更新客户跟进"},
        {"phoneNumber": "13700137000", "operationEvent": "查看客户详情"},
        {"operationEvent": "查看客户详情"},
        {"phoneNumber": "13800138000", "operationEvent": "修改客户信息", "eventType": "nope"},
        {"phoneNumber": "13800138000", "operationEvent": "跟" * 21846},
        {"phoneNumber": "13800138000", "operationEvent": "修改客户信息", "requestId": "bad id"},
        {
            "phoneNumber": "8613800138000",
            "operationEvent": "修改客户信息",
            "changes": [{"field": "level", "old": "B", "new": "A"}],
            "trauserName": "冒名者",
        },
    ]

    response = client.post(BATCH, json={"events": events}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is False
    assert body["message"] == "成功 3 条,失败 6 条"
    results = body["results"]
    assert len(results) == len(events)
    assert [r["status"] for r in results] == [200, 400, 200, 404, 400, 400, 413, 400, 200]
    assert [r.get("code") for r in results] == [
        None,
        "invalid_phone_number",
        None,
        "customer_not_found",
        "missing_field",
        "unknown_event_type",
        "operation_event_too_long",
        "invalid_field",
        None,
    ]
    for result in results:
        if result["success"]:
            assert set(result) == {"success", "status", "message", "data"}
            assert result["message"] == "操作记录成功"
        else:
            assert set(result) == ITEM_ERROR_KEYS
            assert result["message"]
    assert results[3]["message"] == NOT_FOUND_MESSAGE
    assert results[4]["message"] == MISSING_MESSAGE
    assert results[0]["data"]["userId"] == "u1"
    assert results[2]["data"] == {
        "id": results[2]["data"]["id"],
        "userId": contact_id,
        "source": "primary",
    }
    assert results[8]["data"]["userId"] == "u1"

    rows = fetch_rows(sources)
    assert [row["id"] for row in rows] == [results[i]["data"]["id"] for i in (0, 2, 8)]
    assert [row["event_type"] for row in rows] == ["view_detail", "follow_up", "edit"]
    assert [row["customer_source"] for row in rows] == ["wechat", "primary", "wechat"]
    assert {row["trauserName"] for row in rows} == {"张伟"}
    assert rows[2]["changes"] is not None


def test_an_all_good_batch_answers_success(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    events = [
        {"phoneNumber": "13800138000", "operationEvent": f"第 {n} 次跟进", "eventType": "follow_up"}
        for n in range(10)
    ]

    response = client.post(BATCH, json={"events": events}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "成功 10 条,失败 0 条"
    ids = [r["data"]["id"] for r in body["results"]]
    assert len(set(ids)) == 10
    rows = fetch_rows(sources)
    assert [row["id"] for row in rows] == ids
    assert [row["operationEvent"] for row in rows] == [f"第 {n} 次跟进" for n in range(10)]


def test_an_all_bad_batch_writes_nothing(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    events = [
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        {"phoneNumber": "123", "operationEvent": "查看客户详情"},
    ]

    response = client.post(BATCH, json={"events": events}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is False
    assert [r["code"] for r in body["results"]] == ["customer_not_found", "invalid_phone_number"]
    assert count_records(sources) == 0


def test_the_batch_side_comes_from_is_supply_side(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    events = [{"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}]

    response = client.post(
        BATCH, params={"isSupplySide": "true"}, json={"events": events}, headers=headers
    )

    assert response.status_code == 200, response.text
    [row] = fetch_rows(sources)
    assert (row["side"], row["client_addr"]) == ("supply", "testclient")


def test_one_hundred_events_are_accepted(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    events = [
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": f"e-{n}"}
        for n in range(100)
    ]

    response = client.post(BATCH, json={"events": events}, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert count_records(sources) == 100
    assert [row["request_id"] for row in fetch_rows(sources)] == [f"e-{n}" for n in range(100)]


def test_a_malformed_batch_is_400_and_writes_nothing(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    good = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}
    bodies: dict[str, object] = {
        "101 events": {"events": [good] * 101},
        "empty list": {"events": []},
        "no events": {},
        "null events": {"events": None},
        "events an object": {"events": good},
        "events a string": {"events": "13800138000"},
        "an event not an object": {"events": [good, "oops"]},
        "a bare list": [good],
    }

    for case, body in bodies.items():
        assert_error(client.post(BATCH, json=body, headers=headers), 400, case=case)

    assert count_records(sources) == 0


def test_a_batch_with_invalid_json_is_400(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    response = client.post(
        BATCH,
        content=b'{"events": [{"phoneNumber": ',
        headers={**headers, "Content-Type": "application/json"},
    )

    assert_error(response, 400, "invalid_json")
    assert count_records(sources) == 0
