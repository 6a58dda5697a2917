"""``GET /api/information-tracking/records``: every filter, alone and combined, and the items.

The reader is 周浩, a 系统管理员 (scope: everything, phones unmasked), so only the filters
decide what comes back; scopes have their own tests.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import add_user
from tests.history.conftest import (
    ALL_TAGS,
    COMPANY_A,
    RECORDS,
    Cast,
    Trail,
    fetch,
    walk,
)
from tests.tracking.conftest import RECORD, assert_error

Case = tuple[dict[str, Any], set[str]]


def check(client: TestClient, cast: Cast, trail: Trail, cases: list[Case]) -> None:
    """Each filter set returns exactly the expected rows, newest first."""
    headers = cast["zhouhao"].headers
    for params, expected in cases:
        items = walk(client, RECORDS, headers, **params)
        assert trail.tags(items) == expected, params
        assert len(items) == len(expected), params
        keys = [(item["operationTime"], item["id"]) for item in items]
        assert keys == sorted(keys, reverse=True), params


def test_no_filter_returns_the_whole_trail(client: TestClient, cast: Cast, trail: Trail) -> None:
    check(client, cast, trail, [({}, ALL_TAGS)])


PHONE_SPELLINGS = [
    "13800138000",
    "+86 138-0013-8000",
    "8613800138000",
    "0086 138 0013 8000",
    "138 0013 8000",
]


def test_phone_in_any_spelling_finds_the_customer_in_both_sources(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    # users holds 13800138000 as u-1, contacts holds it as 8613800138000 with id 8.
    expected = {"r1", "r2", "crm1", "r4", "crm2"}
    check(client, cast, trail, [({"phoneNumber": typed}, expected) for typed in PHONE_SPELLINGS])


def test_an_id_in_both_sources_stays_apart_by_source(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    check(
        client,
        cast,
        trail,
        [
            # contacts id 7: only the row recorded for the contact, not the CRM rows for users "7"
            ({"phoneNumber": "13600136000"}, {"r6"}),
            # users "7": our row and the CRM rows (users holds "7", so they are wechat)
            ({"phoneNumber": "137 0013 7000"}, {"r5", "crm3", "crm5"}),
            ({"userId": "7"}, {"r5", "r6", "crm3", "crm5"}),
            ({"userId": "7", "source": "primary"}, {"r6"}),
            ({"userId": "7", "source": "wechat"}, {"r5", "crm3", "crm5"}),
            ({"userId": "8"}, {"r4", "crm2"}),
            ({"userId": "no-such-customer"}, set()),
        ],
    )


def test_a_phone_nobody_has_matches_nothing_and_a_bad_one_is_400(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    check(client, cast, trail, [({"phoneNumber": "13500135000"}, set())])
    response = client.get(RECORDS, params={"phoneNumber": "12345"}, headers=cast["zhouhao"].headers)
    assert_error(response, 400, "invalid_phone_number")


def test_source_filter_infers_the_source_of_crm_rows(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    primary = {"r4", "r6", "crm2"}
    check(
        client,
        cast,
        trail,
        [({"source": "primary"}, primary), ({"source": "wechat"}, ALL_TAGS - primary)],
    )


def test_event_type_filter_infers_the_type_of_crm_rows(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    check(
        client,
        cast,
        trail,
        [
            ({"eventType": "view_detail"}, {"r1", "r5", "crm1"}),
            ({"eventType": "edit"}, {"r2", "crm2"}),
            ({"eventType": "follow_up"}, {"r3", "r6", "crm4"}),
            ({"eventType": "other"}, {"crm3", "crm5"}),
            ({"eventType": "call"}, {"r4"}),
            ({"eventType": "export"}, {"r7"}),
            ({"eventType": "delete"}, set()),
        ],
    )


def test_operator_department_and_text(client: TestClient, cast: Cast, trail: Trail) -> None:
    check(
        client,
        cast,
        trail,
        [
            ({"operator": "张伟"}, {"r1", "r2", "r5", "crm1"}),
            ({"operator": "王强"}, {"r6", "crm3", "crm5"}),
            ({"operator": "张"}, set()),  # a name, not a prefix
            ({"department": "销售二部"}, {"r3", "r4", "crm2", "crm4"}),
            ({"department": "营销中心"}, {"r7"}),
            ({"q": "跟进"}, {"r3", "r6", "crm4", "crm5"}),
            ({"q": "50%"}, {"r6"}),  # % is a character, not a wildcard
            ({"q": "13900139000"}, {"r3"}),
            ({"q": "_"}, set()),
        ],
    )


def test_time_range(client: TestClient, cast: Cast, trail: Trail) -> None:
    check(
        client,
        cast,
        trail,
        [
            # bare dates are whole local days; `to` includes its day
            ({"from": "2026-11-03", "to": "2026-11-03"}, {"r3", "r4"}),
            ({"to": "2026-11-03"}, {"r1", "r2", "r3", "r4"}),
            ({"from": "2026-11-07"}, {"crm5", "r7"}),
            # naive values are Asia/Shanghai; a datetime `to` includes that second
            ({"from": "2026-11-03T23:59:59", "to": "2026-11-04T00:00:00"}, {"r4", "r5"}),
            ({"from": "2026-11-03 10:00:00", "to": "2026-11-03 10:00:00"}, {"r3"}),
            # offsets are converted: 06:30Z is 14:30 in Shanghai
            ({"from": "2026-11-02T06:30:00Z", "to": "2026-11-02T14:30:00+08:00"}, {"r2"}),
            ({"to": "2026-11-02T01:15:00+00:00"}, {"r1"}),
            ({"from": "2026-11-07T18:00:00-05:00"}, {"r7"}),  # = 11-08 07:00 local
            ({"from": "2026-11-08T07:00:01+08:00"}, set()),
        ],
    )


def test_filters_combine(client: TestClient, cast: Cast, trail: Trail) -> None:
    check(
        client,
        cast,
        trail,
        [
            (
                {
                    "operator": "张伟",
                    "eventType": "view_detail",
                    "source": "wechat",
                    "from": "2026-11-04",
                },
                {"r5", "crm1"},
            ),
            ({"phoneNumber": "+86 138 0013 8000", "department": "销售二部"}, {"r4", "crm2"}),
            ({"phoneNumber": "13800138000", "eventType": "edit", "source": "primary"}, {"crm2"}),
            ({"userId": "7", "q": "跟进", "to": "2026-11-06"}, {"r6"}),
            ({"operator": "王强", "eventType": "other", "from": "2026-11-07"}, {"crm5"}),
            ({"department": "销售一部", "eventType": "edit"}, {"r2"}),
            ({"operator": "李四", "department": "销售一部"}, set()),
        ],
    )


def test_item_carries_the_seed_fields_and_ours(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    items = {item["id"]: item for item in walk(client, RECORDS, cast["zhouhao"].headers)}
    r2 = items[trail.ids["r2"]]
    zhangwei = cast["zhangwei"]
    assert {
        key: r2[key]
        for key in (
            "id",
            "tracompany",
            "tradepartment",
            "traorganization",
            "trarole",
            "trauserName",
            "traassistant",
            "userId",
            "operationEvent",
            "operationTime",
            "operatorId",
            "eventType",
            "source",
            "changes",
            "customerName",
        )
    } == {
        "id": trail.ids["r2"],
        "tracompany": COMPANY_A,
        "tradepartment": "销售一部",
        "traorganization": "华东大区",
        "trarole": "业务员",
        "trauserName": "张伟",
        "traassistant": "李娜",
        "userId": "u-1",
        "operationEvent": "修改客户信息",
        "operationTime": "2026-11-02T14:30:00+08:00",
        "operatorId": f"account:{zhangwei.account_id}",
        "eventType": "edit",
        "source": "wechat",
        # the 系统管理员 sees the numbers in full
        "changes": [{"field": "phone", "old": "13800138000", "new": "+86 139-0013-9000"}],
        "customerName": "王小明",
    }
    for key in ("createdAt", "updatedAt"):
        assert r2[key].endswith("+08:00"), r2[key]
    # internals of the write path stay inside
    for item in items.values():
        assert not {"request_id", "requestId", "client_addr", "clientAddr"} & set(item)

    crm1 = items[trail.ids["crm1"]]
    assert crm1["operatorId"] is None
    assert crm1["eventType"] == "view_detail"
    assert crm1["source"] == "wechat"
    assert crm1["changes"] is None
    assert crm1["customerName"] == "王小明"
    assert crm1["operationTime"] == "2026-11-04T12:00:00+08:00"
    assert crm1["createdAt"] == "2026-11-04T12:00:00+08:00"
    assert items[trail.ids["crm3"]]["createdAt"] is None

    names = {tag: items[trail.ids[tag]]["customerName"] for tag in trail.ids}
    assert names == {
        "r1": "王小明",
        "r2": "王小明",
        "r3": "李小红",
        "r4": "王小明(通讯录)",
        "r5": "微信客户七",
        "r6": "通讯录七",
        "r7": "李小红",
        "crm1": "王小明",
        "crm2": "王小明(通讯录)",  # "8" is not in users: a contacts customer
        "crm3": "微信客户七",
        "crm4": "李小红",
        "crm5": "微信客户七",
    }
    sources = {tag: items[trail.ids[tag]]["source"] for tag in ("r4", "r6", "crm2", "crm3")}
    assert sources == {"r4": "primary", "r6": "primary", "crm2": "primary", "crm3": "wechat"}


def test_records_written_through_the_api_read_back(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    add_user(sources, "u-9", "13800138000", "王小明")
    zhangwei = cast["zhangwei"]
    written = []
    for body in (
        {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"},
        {
            "phoneNumber": "+86 138 0013 8000",
            "operationEvent": "修改客户信息",
            "changes": [{"field": "level", "old": "B", "new": "A"}],
        },
        {"phoneNumber": "8613800138000", "operationEvent": "更新客户跟进"},
    ):
        response = client.post(RECORD, json=body, headers=zhangwei.headers)
        assert response.status_code == 200, response.text
        written.append(response.json()["data"]["id"])

    data = fetch(client, cast["zhouhao"].headers, phoneNumber="138-0013-8000")
    items = data["items"]
    assert [item["id"] for item in items] == sorted(written, reverse=True)
    assert [item["eventType"] for item in items] == ["follow_up", "edit", "view_detail"]
    assert items[1]["changes"] == [{"field": "level", "old": "B", "new": "A"}]
    assert {item["operatorId"] for item in items} == {f"account:{zhangwei.account_id}"}
    assert {item["customerName"] for item in items} == {"王小明"}
    assert all(item["operationTime"].endswith("+08:00") for item in items)
    assert data["nextCursor"] is None


def test_customer_timeline(client: TestClient, cast: Cast, trail: Trail) -> None:
    headers = cast["zhouhao"].headers

    def timeline(user_id: str, **params: Any) -> list[dict[str, Any]]:
        url = f"/api/information-tracking/customers/{user_id}/records"
        return walk(client, url, headers, limit=1, **params)

    assert trail.tags(timeline("7")) == {"r5", "r6", "crm3", "crm5"}
    assert trail.tags(timeline("7", source="primary")) == {"r6"}
    assert trail.tags(timeline("7", source="wechat")) == {"r5", "crm3", "crm5"}
    assert trail.tags(timeline("8")) == {"r4", "crm2"}
    assert trail.tags(timeline("8", source="wechat")) == set()
    assert timeline("nobody") == []
    items = timeline("u-1")
    assert [trail.tags([item]).pop() for item in items] == ["crm1", "r2", "r1"]
    assert items[0]["customerName"] == "王小明"
