"""``GET /api/information-tracking/stats``: each grouping, exact buckets, defaults, agreement."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import local_now
from tests.history.conftest import (
    RECORDS,
    STATS,
    U1,
    Cast,
    Trail,
    add_customers,
    append,
    fetch,
    walk,
)

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-08"}


def stats(
    client: TestClient, headers: dict[str, str], group_by: str, **params: Any
) -> dict[str, Any]:
    """``data`` of a stats answer, after checking that the total is the sum of the buckets."""
    data = fetch(client, headers, STATS, groupBy=group_by, **params)
    assert data["groupBy"] == group_by
    assert data["total"] == sum(bucket["count"] for bucket in data["buckets"])
    assert all(isinstance(b["key"], str) and isinstance(b["count"], int) for b in data["buckets"])
    return data


def counts(data: dict[str, Any]) -> dict[str, int]:
    return {bucket["key"]: bucket["count"] for bucket in data["buckets"]}


def test_day_buckets_are_local_days_zero_filled(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    headers = cast["zhouhao"].headers
    data = stats(client, headers, "day", **NOVEMBER)
    assert data["buckets"] == [
        {"key": "2026-11-01", "count": 0},
        {"key": "2026-11-02", "count": 2},
        {"key": "2026-11-03", "count": 2},  # 23:59:59 stays on the 3rd
        {"key": "2026-11-04", "count": 2},  # 00:00:00 is the 4th
        {"key": "2026-11-05", "count": 2},
        {"key": "2026-11-06", "count": 2},
        {"key": "2026-11-07", "count": 1},
        {"key": "2026-11-08", "count": 1},  # 07:00 in Shanghai, still the 7th in UTC
    ]
    assert data["total"] == 12
    assert data["from"] == "2026-11-01T00:00:00+08:00"
    assert data["to"] == "2026-11-09T00:00:00+08:00"

    partial = stats(
        client, headers, "day", **{"from": "2026-11-03T12:00:00", "to": "2026-11-05T06:00:00"}
    )
    assert counts(partial) == {"2026-11-03": 1, "2026-11-04": 2, "2026-11-05": 0}
    # a UTC range that is exactly the local 2nd
    utc = stats(
        client, headers, "day", **{"from": "2026-11-01T16:00:00Z", "to": "2026-11-02T15:59:59Z"}
    )
    assert counts(utc) == {"2026-11-02": 2}


def test_hour_buckets(client: TestClient, cast: Cast, trail: Trail) -> None:
    data = stats(client, cast["zhouhao"].headers, "hour", **NOVEMBER)
    assert [b["key"] for b in data["buckets"]] == [str(h) for h in range(24)]
    expected = {"9": 3, "14": 1, "10": 1, "23": 1, "0": 1, "8": 1, "7": 1, "12": 2, "18": 1}
    assert counts(data) == {str(h): expected.get(str(h), 0) for h in range(24)}


def test_weekday_hour_is_the_full_grid_with_monday_1(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    data = stats(client, cast["zhouhao"].headers, "weekday_hour", **NOVEMBER)
    keys = [b["key"] for b in data["buckets"]]
    assert len(keys) == 7 * 24
    assert keys[0] == "1-00"
    assert keys[9] == "1-09"
    assert keys[-1] == "7-23"
    nonzero = {k: n for k, n in counts(data).items() if n}
    assert nonzero == {
        "1-09": 1,  # r1, Monday 2 Nov 09:15
        "1-14": 1,  # r2
        "2-10": 1,  # r3, Tuesday
        "2-23": 1,  # r4, 23:59:59
        "3-00": 1,  # r5, Wednesday 00:00:00
        "3-12": 1,  # crm1
        "4-08": 1,  # r6, Thursday
        "4-12": 1,  # crm2
        "5-09": 1,  # crm3, Friday
        "5-18": 1,  # crm4
        "6-09": 1,  # crm5, Saturday
        "7-07": 1,  # r7, Sunday 07:00 (Saturday 23:00 in UTC)
    }


def test_operator_department_event_type_and_source(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    headers = cast["zhouhao"].headers
    expected = {
        "operator": {"张伟": 4, "李四": 4, "王强": 3, "赵敏": 1},
        "department": {"销售一部": 7, "销售二部": 4, "营销中心": 1},
        # CRM rows counted by their inferred type and source
        "eventType": {
            "view_detail": 3,
            "edit": 2,
            "follow_up": 3,
            "other": 2,
            "call": 1,
            "export": 1,
        },
        "source": {"wechat": 9, "primary": 3},
    }
    for group_by, buckets in expected.items():
        data = stats(client, headers, group_by, **NOVEMBER)
        assert counts(data) == buckets, group_by
        assert data["total"] == 12
        ordered = [b["count"] for b in data["buckets"]]
        assert ordered == sorted(ordered, reverse=True), group_by

    by_source = stats(client, headers, "source", phoneNumber="+86 138 0013 8000", **NOVEMBER)
    assert counts(by_source) == {"wechat": 3, "primary": 2}
    by_type = stats(client, headers, "eventType", userId="7", source="wechat", **NOVEMBER)
    assert counts(by_type) == {"view_detail": 1, "other": 2}


AGREEMENT_FILTERS: list[dict[str, str]] = [
    {},
    {"phoneNumber": "13800138000"},
    {"userId": "7"},
    {"department": "销售一部", "eventType": "other"},
    {"q": "跟进"},
    {"source": "primary"},
    {"operator": "张伟", "to": "2026-11-03"},
    {"from": "2026-11-03T23:59:59", "to": "2026-11-05"},
]


def test_stats_agree_with_records(client: TestClient, cast: Cast, trail: Trail) -> None:
    for filters in AGREEMENT_FILTERS:
        agree(client, cast, filters)


def agree(client: TestClient, cast: Cast, filters: dict[str, str]) -> None:
    """For one filter set, every grouping counts exactly the rows /records walks through."""
    params = NOVEMBER | filters
    for username in ("zhouhao", "wangqiang"):  # everything, and one department
        headers = cast[username].headers
        items = walk(client, RECORDS, headers, limit=5, **params)
        fields = {
            "operator": "trauserName",
            "department": "tradepartment",
            "eventType": "eventType",
            "source": "source",
        }
        for group_by, field in fields.items():
            data = stats(client, headers, group_by, **params)
            assert data["total"] == len(items), (filters, username, group_by)
            assert counts(data) == Counter(item[field] for item in items), (filters, group_by)
        days = {k: n for k, n in counts(stats(client, headers, "day", **params)).items() if n}
        assert days == Counter(item["operationTime"][:10] for item in items), username
        hours = {k: n for k, n in counts(stats(client, headers, "hour", **params)).items() if n}
        assert hours == Counter(str(int(item["operationTime"][11:13])) for item in items)


def test_default_range_is_the_last_30_days(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    add_customers(sources)
    now = local_now(settings.zone)
    zhangwei = cast["zhangwei"].operator
    for age in (timedelta(hours=1), timedelta(days=29), timedelta(days=31), -timedelta(hours=2)):
        append(sources, settings, zhangwei, U1, "view_detail", "查看客户详情", now - age)
    headers = cast["zhouhao"].headers

    data = stats(client, headers, "day")
    assert data["total"] == 2  # not 31 days ago, not in the future
    end = datetime.fromisoformat(data["to"])
    assert abs(end.replace(tzinfo=None) - now) < timedelta(minutes=1)
    assert datetime.fromisoformat(data["from"]) == end - timedelta(days=30)
    keys = [b["key"] for b in data["buckets"]]
    assert keys[0] == datetime.fromisoformat(data["from"]).date().isoformat()
    assert keys[-1] == (end - timedelta(microseconds=1)).date().isoformat()
    assert len(keys) == 31
    assert stats(client, headers, "eventType")["total"] == 2

    # only `to`: the 30 days before it
    upto = stats(client, headers, "day", to="2026-11-05")
    assert upto["from"] == "2026-10-07T00:00:00+08:00"
    assert [b["key"] for b in upto["buckets"]][::29] == ["2026-10-07", "2026-11-05"]
    assert len(upto["buckets"]) == 30
    # only `from`: up to now
    since = stats(
        client, headers, "source", **{"from": (now - timedelta(days=40)).date().isoformat()}
    )
    assert since["total"] == 3
    assert date.fromisoformat(since["to"][:10]) >= now.date()
