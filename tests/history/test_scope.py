"""Who may read what: every role's scope, enforced in the query, on records, timelines and stats.

The trail below is read by every account of the cast; each must see exactly its share.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import bearer, create_account
from tests.history.conftest import (
    COMPANY_A,
    COMPANY_B,
    RECORDS,
    STATS,
    U1,
    U2,
    Cast,
    ClientFactory,
    Trail,
    add_customers,
    append,
    crm_row,
    fetch,
    local,
    other_operator,
    quick_account,
    walk,
)

WIDE = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def shares(sources: Sources, settings: Settings, cast: Cast) -> Trail:
    """Rows of operators across two companies and departments, ours and the CRM's.

    u-2 (139 0013 9000) is served only by 销售二部; u-1 by everyone else.
    """
    add_customers(sources)
    ids: dict[str, int] = {}
    when = iter(local("2026-11-10 09:00:00").replace(minute=m) for m in range(60))

    def ours(tag: str, username: str, customer: tuple[str, str]) -> None:
        ids[tag] = append(
            sources,
            settings,
            cast[username].operator,
            customer,
            "view_detail",
            "查看客户详情",
            next(when),
        )

    def crm(tag: str, name: str, company: str, department: str, user_id: str) -> None:
        ids[tag] = crm_row(
            sources,
            name=name,
            company=company,
            department=department,
            user_id=user_id,
            text="更新客户跟进",
            when=next(when),
        )

    ours("zw1", "zhangwei", U1)
    ours("zw2", "zhangwei", U1)
    crm("crm_zw_a", "张伟", COMPANY_A, "销售一部", "u-1")
    ours("ls1", "lisi", U2)
    crm("crm_ls", "李四", COMPANY_A, "销售二部", "u-2")
    ours("wq1", "wangqiang", U1)
    ours("zm1", "zhaomin", U1)
    ours("wy1", "wuyue", U1)
    ours("zwb1", "zhangwei_b", U1)
    crm("crm_zw_b", "张伟", COMPANY_B, "销售一部", "u-1")
    # another 张伟 of company A (a CRM JWT user): same name, another operator
    ids["zw_other"] = append(
        sources,
        settings,
        other_operator("jwt:zw-2", department="销售二部"),
        U2,
        "follow_up",
        "更新客户跟进",
        next(when),
    )
    return Trail(ids)


A_ALL = {"zw1", "zw2", "crm_zw_a", "ls1", "crm_ls", "wq1", "zm1", "wy1", "zw_other"}
B_ALL = {"zwb1", "crm_zw_b"}
EXPECTED = {
    "zhangwei": {"zw1", "zw2", "crm_zw_a"},  # 业务员: own rows, and the CRM's with name + company
    "lisi": {"ls1", "crm_ls"},
    "wangqiang": {"zw1", "zw2", "crm_zw_a", "wq1", "wy1"},  # 经理: company A, 销售一部
    "zhaomin": A_ALL,  # 总监
    "qianjun": A_ALL,  # 管理员
    "sunli": A_ALL,  # 审计
    "zhouhao": A_ALL | B_ALL,  # 系统管理员
    "wuyue": {"wy1"},  # an unknown role reads its own
    "zhangwei_b": B_ALL,  # the other 张伟 reads only company B's
    "zhengyu": B_ALL,  # 管理员 of company B
}
U1_TAGS = A_ALL - {"ls1", "crm_ls", "zw_other"} | B_ALL


def test_each_role_reads_exactly_its_share(client: TestClient, cast: Cast, shares: Trail) -> None:
    for username, expected in EXPECTED.items():
        headers = cast[username].headers
        items = walk(client, RECORDS, headers, limit=4)
        assert shares.tags(items) == expected, username
        timeline = walk(client, "/api/information-tracking/customers/u-1/records", headers)
        assert shares.tags(timeline) == expected & U1_TAGS, username
        data = fetch(client, headers, STATS, groupBy="source", **WIDE)
        assert data["total"] == len(expected), username


def test_a_manager_asking_for_another_department_gets_nothing(
    client: TestClient, cast: Cast, shares: Trail
) -> None:
    headers = cast["wangqiang"].headers
    for params in (
        {"phoneNumber": "139 0013 9000"},
        {"userId": "u-2"},
        {"department": "销售二部"},
        {"operator": "李四"},
        {"department": "销售一部", "operator": "张伟", "userId": "u-2"},
    ):
        assert fetch(client, headers, **params) == {"items": [], "nextCursor": None}, params
        assert fetch(client, headers, STATS, groupBy="day", **WIDE, **params)["total"] == 0
    empty = fetch(client, headers, "/api/information-tracking/customers/u-2/records")
    assert empty["items"] == []
    # a filter inside the scope narrows as usual
    narrowed = walk(client, RECORDS, headers, operator="张伟")
    assert shares.tags(narrowed) == {"zw1", "zw2", "crm_zw_a"}
    same = walk(client, RECORDS, headers, department="销售一部", phoneNumber="13800138000")
    assert shares.tags(same) == EXPECTED["wangqiang"]


def test_a_salesperson_asking_for_company_stats_gets_own_counts(
    client: TestClient, cast: Cast, shares: Trail
) -> None:
    headers = cast["zhangwei"].headers

    def buckets(group_by: str, **params: str) -> dict[str, int]:
        data = fetch(client, headers, STATS, groupBy=group_by, **WIDE, **params)
        return {b["key"]: b["count"] for b in data["buckets"] if b["count"]}

    assert buckets("operator") == {"张伟": 3}
    assert buckets("department") == {"销售一部": 3}
    assert buckets("eventType") == {"view_detail": 2, "follow_up": 1}
    assert buckets("operator", department="销售二部") == {}
    assert buckets("operator", operator="李四") == {}
    assert buckets("day") == {"2026-11-10": 3}
    assert buckets("source", phoneNumber="13900139000") == {}


def test_a_scope_needing_a_field_the_reader_lacks_matches_nothing(
    client: TestClient, sources: Sources, settings: Settings, shares: Trail
) -> None:
    manager = quick_account(
        sources, settings, "nodept", role="经理", company=COMPANY_A, department=None
    )
    director = quick_account(sources, settings, "nocomp", role="总监", company=None)
    for person in (manager, director):
        assert fetch(client, person.headers)["items"] == []


def test_role_scopes_are_configurable(
    client_with: ClientFactory, cast: Cast, shares: Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client_with(role_scopes={"业务员": "department", "实习生": "company", "经理": "own"})
    assert shares.tags(walk(app, RECORDS, cast["zhangwei"].headers)) == EXPECTED["wangqiang"]
    assert shares.tags(walk(app, RECORDS, cast["wuyue"].headers)) == A_ALL
    assert shares.tags(walk(app, RECORDS, cast["wangqiang"].headers)) == {"wq1"}
    # roles left out of the setting read their own
    assert shares.tags(walk(app, RECORDS, cast["zhouhao"].headers)) == set()
    me = app.get("/api/auth/me", headers=cast["zhangwei"].headers).json()["data"]
    assert me["scope"] == {"kind": "department", "label": "本部门", "unmaskedPhones": False}

    # the JSON form of INFOTRACK_ROLE_SCOPES
    monkeypatch.setenv("INFOTRACK_ROLE_SCOPES", json.dumps({"业务员": "all"}, ensure_ascii=False))
    from_env = client_with()
    assert shares.tags(walk(from_env, RECORDS, cast["zhangwei"].headers)) == A_ALL | B_ALL


def test_me_shows_the_scope(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    expected = {
        "zhangwei": ("own", "本人记录", False),
        "wangqiang": ("department", "本部门", False),
        "zhaomin": ("company", "本公司", False),
        "qianjun": ("company", "本公司", True),
        "sunli": ("company", "本公司", True),
        "zhouhao": ("all", "全部", True),
        "wuyue": ("own", "本人记录", False),
    }
    for username, (kind, label, unmasked) in expected.items():
        response = client.get("/api/auth/me", headers=cast[username].headers)
        assert response.status_code == 200, response.text
        scope = response.json()["data"]["scope"]
        assert scope == {"kind": kind, "label": label, "unmaskedPhones": unmasked}, username
    # and through a real sign-in
    create_account(sources, settings, "chenjing", role="主管", name="陈静")
    scope = client.get("/api/auth/me", headers=bearer(client, "chenjing")).json()["data"]["scope"]
    assert scope["kind"] == "department"
