"""Keyset paging of history: limits, the exactly-once walk (also under inserts), cursors, 400s."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from infotrack.audit.chain import AuditKey
from infotrack.auth.tokens import TokenService
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.cursor import encode_cursor
from infotrack.models.informationtra import informationtra
from infotrack.tracking.recorder import RecordDraft, Recorder, new_request_id
from tests.conftest import add_user
from tests.history.conftest import (
    RECORDS,
    STATS,
    U1,
    Cast,
    add_customers,
    append,
    crm_row,
    fetch,
    local,
    walk,
)
from tests.tracking.conftest import RECORD, assert_error

TIMELINE = "/api/information-tracking/customers/u-1/records"


def bulk(sources: Sources, settings: Settings, cast: Cast, times: list[datetime]) -> None:
    """One record of 张伟 for u-1 at each time, in one transaction."""
    drafts = [
        RecordDraft(
            operator=cast["zhangwei"].operator,
            customer_id="u-1",
            customer_source="wechat",
            event_type="view_detail",
            operation_event="查看客户详情",
            side="supply",
            request_id=new_request_id(),
            occurred_at=when,
        )
        for when in times
    ]
    Recorder(sources.wechat, settings.zone, AuditKey(settings.resolved_audit_key())).append_bulk(
        drafts
    )


def newest_first(sources: Sources) -> list[int]:
    """Every id in the order history returns them: (operationTime, id) descending, NULLs last."""
    t = informationtra.c
    with sources.wechat.connect() as conn:
        rows = list(conn.execute(select(t.id, t.operationTime)))
    timed = sorted((r for r in rows if r.operationTime), key=lambda r: (r.operationTime, r.id))
    untimed = sorted((r.id for r in rows if r.operationTime is None), reverse=True)
    return [r.id for r in reversed(timed)] + untimed


@pytest.fixture
def sixty(sources: Sources, settings: Settings, cast: Cast) -> list[int]:
    """60 of 张伟's rows, four to a second (ties broken by id), 2 CRM rows, one without a time."""
    add_customers(sources)
    start = local("2026-11-02 08:00:00")
    times = [start + timedelta(seconds=i // 4) for i in range(56)]
    # appended in a shuffled order so that ids do not follow times
    bulk(sources, settings, cast, times[::2] + times[1::2])
    for when in (local("2026-11-02 08:00:05"), None):
        crm_row(
            sources,
            name="张伟",
            company="华东贸易有限公司",
            department="销售一部",
            user_id="u-1",
            text="查看客户详情",
            when=when,
        )
    bulk(sources, settings, cast, [start - timedelta(days=1)] * 2)
    return newest_first(sources)


def test_default_page_is_50_newest_first(client: TestClient, cast: Cast, sixty: list[int]) -> None:
    data = fetch(client, cast["zhouhao"].headers)
    assert [item["id"] for item in data["items"]] == sixty[:50]
    assert isinstance(data["nextCursor"], str)
    second = fetch(client, cast["zhouhao"].headers, cursor=data["nextCursor"])
    assert [item["id"] for item in second["items"]] == sixty[50:]
    assert second["nextCursor"] is None


def test_walking_every_cursor_returns_each_row_once_in_order(
    client: TestClient, cast: Cast, sixty: list[int]
) -> None:
    assert len(sixty) == 60
    headers = cast["zhouhao"].headers
    for limit in (1, 7, 50, 59, 60, 200):
        seen = [item["id"] for item in walk(client, RECORDS, headers, limit=limit)]
        assert seen == sixty, limit
        first = fetch(client, headers, limit=limit)
        assert len(first["items"]) == min(limit, 60)
        assert (first["nextCursor"] is None) == (limit >= 60), limit


def test_walk_with_filters_and_timeline_paging(
    client: TestClient, cast: Cast, sixty: list[int], sources: Sources
) -> None:
    headers = cast["zhouhao"].headers
    in_range = walk(
        client, RECORDS, headers, limit=3, **{"from": "2026-11-02T08:00:02", "to": "2026-11-02"}
    )
    times = [item["operationTime"] for item in in_range]
    assert len(times) == len({item["id"] for item in in_range}) == 4 * 12 + 1  # + a CRM row
    assert min(times) == "2026-11-02T08:00:02+08:00"
    timeline = [item["id"] for item in walk(client, TIMELINE, headers, limit=9)]
    assert timeline == sixty


def test_walk_sees_each_existing_row_once_while_rows_arrive(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    add_customers(sources)
    start = local("2026-11-02 08:00:00")
    bulk(sources, settings, cast, [start + timedelta(seconds=i // 3) for i in range(30)])
    before = newest_first(sources)
    headers = cast["zhouhao"].headers
    zhangwei = cast["zhangwei"]

    seen: list[dict[str, object]] = []
    cursor = None
    for page in range(100):
        params: dict[str, object] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        data = fetch(client, headers, **params)
        seen.extend(data["items"])
        cursor = data["nextCursor"]
        if cursor is None:
            break
        # Between two fetches: a live record (newest of all), a back-dated one older than
        # everything, and one in the same second as the last row served (a later id).
        response = client.post(
            RECORD,
            json={"phoneNumber": "13800138000", "operationEvent": f"查看客户详情 {page}"},
            headers=zhangwei.headers,
        )
        assert response.status_code == 200, response.text
        append(
            sources,
            settings,
            zhangwei.operator,
            U1,
            "other",
            "补录",
            start - timedelta(hours=page + 1),
        )
        last_time = datetime.fromisoformat(str(data["items"][-1]["operationTime"]))
        append(
            sources,
            settings,
            zhangwei.operator,
            U1,
            "other",
            "同秒",
            last_time.replace(tzinfo=None),
        )

    ids = [int(str(item["id"])) for item in seen]
    assert len(ids) == len(set(ids)), "a row was served twice"
    assert set(before) <= set(ids), "a row that existed all along was skipped"
    keys = [(str(item["operationTime"]), int(str(item["id"]))) for item in seen]
    assert keys == sorted(keys, reverse=True)
    assert [i for i in ids if i in set(before)] == before


def test_forged_or_altered_cursors_are_400(
    client: TestClient, settings: Settings, cast: Cast, sixty: list[int]
) -> None:
    headers = cast["zhouhao"].headers
    real = fetch(client, headers, limit=5)["nextCursor"]
    assert isinstance(real, str)
    key = TokenService(settings, settings.resolved_secret_key()).cursor_key
    flipped = real[:20] + ("A" if real[20] != "A" else "B") + real[21:]
    forged = [
        "garbage",
        "!!!!",
        flipped,
        real[:-3],
        real + "AA",
        encode_cursor(["2026-11-02T08:00:10", sixty[5]], "somebody-elses-key"),
        encode_cursor(["yesterday", 5], key),  # signed by us, but not a time
        encode_cursor(["2026-11-02T08:00:10", "five"], key),
        encode_cursor(["2026-11-02T08:00:10", 5, 6], key),
        encode_cursor([], key),
    ]
    for cursor in forged:
        for url in (RECORDS, TIMELINE):
            response = client.get(url, params={"cursor": cursor}, headers=headers)
            body = assert_error(response, 400, "invalid_cursor")
            assert "cursor" in body["message"]
    # a cursor we signed for a real position works
    resumed = encode_cursor(["2026-11-02T08:00:10", 10**9], key)
    items = fetch(client, headers, cursor=resumed, limit=200)["items"]
    assert items[0]["operationTime"] == "2026-11-02T08:00:10+08:00"


BAD_FILTERS: list[tuple[dict[str, object], str | None]] = [
    ({"limit": 0}, "invalid_limit"),
    ({"limit": 201}, "invalid_limit"),
    ({"limit": 10000}, "invalid_limit"),
    ({"limit": -1}, "invalid_limit"),
    ({"limit": "abc"}, None),
    ({"eventType": "viewing"}, "unknown_event_type"),
    ({"eventType": "VIEW_DETAIL"}, "unknown_event_type"),
    ({"from": "2026-11-05", "to": "2026-11-04"}, "invalid_range"),
    ({"from": "2026-11-05T10:00:00", "to": "2026-11-05T09:59:59"}, "invalid_range"),
    ({"from": "2026-11-05T10:00:00+08:00", "to": "2026-11-05T01:00:00Z"}, "invalid_range"),
    ({"source": "crm"}, "invalid_source"),
    ({"source": "WECHAT"}, "invalid_source"),
    ({"from": "yesterday"}, "invalid_time"),
    ({"to": "2026-13-01"}, "invalid_time"),
    ({"from": "2026-11-02T25:00:00"}, "invalid_time"),
    ({"to": "2026/11/02"}, "invalid_time"),
    ({"phoneNumber": "not a phone"}, "invalid_phone_number"),
    ({"operator": "张" * 101}, "invalid_filter"),
]


def test_bad_filters_are_400_with_a_clear_message(
    client: TestClient, sources: Sources, cast: Cast
) -> None:
    add_user(sources, "u-1", "13800138000")
    headers = cast["zhouhao"].headers
    for params, code in BAD_FILTERS:
        for url in (RECORDS, STATS, TIMELINE):
            if url == STATS and "limit" in params:
                continue
            if url == TIMELINE and set(params) - {"limit", "source"}:
                continue
            response = client.get(url, params=params, headers=headers)
            body = assert_error(response, 400, code)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body
    assert_error(
        client.get(STATS, params={"groupBy": "week"}, headers=headers), 400, "invalid_group_by"
    )
    # the edges of what is allowed
    for params in ({"limit": 1}, {"limit": 200}, {"from": "2026-11-05", "to": "2026-11-05"}):
        assert client.get(RECORDS, params=params, headers=headers).status_code == 200, params
    assert client.get(RECORDS).status_code == 401
