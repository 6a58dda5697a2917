"""``requestId``: a retry writes nothing new and answers with the first call's data."""

from __future__ import annotations

from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import add_contact, add_user, bearer, count_records, create_account
from tests.tracking.conftest import BATCH, RECORD, assert_error, fetch_rows


def test_the_same_request_id_twice_writes_one_row(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    payload = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": "r-42"}

    first = client.post(RECORD, json=payload, headers=headers)
    second = client.post(RECORD, json=payload, headers=headers)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["data"]["userId"] == "u1"
    rows = fetch_rows(sources)
    assert len(rows) == 1
    assert rows[0]["id"] == first.json()["data"]["id"]
    assert rows[0]["request_id"] == "r-42"


def test_a_repeat_answers_with_the_first_calls_data_whatever_it_carries(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    contact_id = add_contact(sources, "13900139000")
    assert contact_id != "u1"

    first = client.post(
        RECORD,
        json={"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": "r-1"},
        headers=headers,
    )
    repeat = client.post(
        RECORD,
        json={"phoneNumber": "13900139000", "operationEvent": "修改客户信息", "requestId": "r-1"},
        headers=headers,
    )

    assert first.status_code == repeat.status_code == 200
    assert (
        repeat.json()["data"]
        == first.json()["data"]
        == {
            "id": first.json()["data"]["id"],
            "userId": "u1",
            "source": "wechat",
        }
    )
    [row] = fetch_rows(sources)
    assert (row["operationEvent"], row["event_type"]) == ("查看客户详情", "view_detail")


def test_repeats_after_other_records_still_answer_the_first_row(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    payload = {"phoneNumber": "13800138000", "operationEvent": "更新客户跟进"}

    first = client.post(RECORD, json={**payload, "requestId": "keep"}, headers=headers)
    for n in range(3):
        client.post(RECORD, json={**payload, "requestId": f"other-{n}"}, headers=headers)
    repeats = [
        client.post(RECORD, json={**payload, "requestId": "keep"}, headers=headers)
        for _ in range(3)
    ]

    assert all(r.status_code == 200 for r in repeats)
    assert {r.json()["data"]["id"] for r in repeats} == {first.json()["data"]["id"]}
    assert count_records(sources) == 4


def test_the_same_request_id_from_two_accounts_writes_two_rows(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    add_user(sources, "u1", "13800138000")
    first_account = create_account(sources, settings, username="zhangwei")
    second_account = create_account(sources, settings, username="lina", name="李娜")
    payload = {
        "phoneNumber": "13800138000",
        "operationEvent": "查看客户详情",
        "requestId": "shared",
    }

    first = client.post(RECORD, json=payload, headers=bearer(client, "zhangwei"))
    second = client.post(RECORD, json=payload, headers=bearer(client, "lina"))

    assert first.status_code == second.status_code == 200
    assert first.json()["data"]["id"] != second.json()["data"]["id"]
    rows = fetch_rows(sources)
    assert [(row["operator_id"], row["request_id"], row["trauserName"]) for row in rows] == [
        (f"account:{first_account}", "shared", "张伟"),
        (f"account:{second_account}", "shared", "李娜"),
    ]


def test_the_same_request_id_twice_in_one_batch_writes_one_row(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    event = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": "dup"}
    other = {"phoneNumber": "13800138000", "operationEvent": "更新客户跟进", "requestId": "solo"}

    response = client.post(BATCH, json={"events": [event, other, event]}, headers=headers)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["success"] for r in results] == [True, True, True]
    assert results[0]["data"] == results[2]["data"]
    assert results[0]["data"]["id"] != results[1]["data"]["id"]
    assert count_records(sources) == 2


def test_a_batch_retried_whole_writes_nothing_new(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    events = [
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": f"q-{n}"}
        for n in range(5)
    ]

    first = client.post(BATCH, json={"events": events}, headers=headers)
    retry = client.post(BATCH, json={"events": events}, headers=headers)

    assert first.status_code == retry.status_code == 200
    assert first.json()["results"] == retry.json()["results"]
    assert count_records(sources) == 5


def test_a_single_record_and_a_batch_share_request_ids(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    event = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": "x-1"}

    single = client.post(RECORD, json=event, headers=headers)
    batch = client.post(BATCH, json={"events": [event]}, headers=headers)

    assert batch.json()["results"][0]["data"] == single.json()["data"]
    assert count_records(sources) == 1


def test_a_refused_call_does_not_reserve_its_request_id(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    payload = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情", "requestId": "later"}

    assert_error(client.post(RECORD, json=payload, headers=headers), 404, "customer_not_found")
    add_user(sources, "u1", "13900139000")
    retry = client.post(RECORD, json={**payload, "phoneNumber": "13900139000"}, headers=headers)

    assert retry.status_code == 200, retry.text
    assert count_records(sources) == 1


def test_a_malformed_request_id_is_400(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    for request_id in ["has space", "中文", "a;b", "a/b", "x" * 65, "", "a\nb", "quote'"]:
        response = client.post(
            RECORD,
            json={
                "phoneNumber": "13800138000",
                "operationEvent": "查看客户详情",
                "requestId": request_id,
            },
            headers=headers,
        )
        assert_error(response, 400, case=request_id)

    assert count_records(sources) == 0


def test_well_formed_request_ids_are_accepted_and_stored(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    request_ids = ["x" * 64, "5f0c7e0e-3c1b-4f7e-9d7e-1a2b3c4d5e6f", "page:detail.42_A-b", "7"]

    for request_id in request_ids:
        response = client.post(
            RECORD,
            json={
                "phoneNumber": "13800138000",
                "operationEvent": "查看客户详情",
                "requestId": request_id,
            },
            headers=headers,
        )
        assert response.status_code == 200, f"{request_id!r}: {response.text}"

    assert [row["request_id"] for row in fetch_rows(sources)] == request_ids


def test_request_ids_that_differ_only_in_case_are_different_requests(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")
    payload = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}

    lower = client.post(RECORD, json={**payload, "requestId": "nano-aBc"}, headers=headers)
    upper = client.post(RECORD, json={**payload, "requestId": "nano-AbC"}, headers=headers)

    assert lower.status_code == upper.status_code == 200
    # Client ids are often random mixed-case text (nanoid, base64): case matters.
    assert lower.json()["data"]["id"] != upper.json()["data"]["id"]
    assert sorted(row["request_id"] for row in fetch_rows(sources)) == ["nano-AbC", "nano-aBc"]
