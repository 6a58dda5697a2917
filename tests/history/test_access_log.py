"""Every read of the trail is logged; the log is readable by 审计/系统管理员 within scope.

管理员 (account administration) is refused it, and a reader who may manage accounts
(系统管理员) never sees the entries of their own reads and acts (tests/audit/test_duties.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from infotrack.config import DEFAULT_ROLE_SCOPES
from tests.history.conftest import (
    ACCESS_LOG,
    COMPANY_A,
    COMPANY_B,
    STATS,
    Cast,
    ClientFactory,
    Trail,
    fetch,
)
from tests.tracking.conftest import assert_error


def reads(client: TestClient, cast: Cast) -> dict[str, Any]:
    """One read of each kind by readers of both companies; what each returned."""
    zhangwei = fetch(client, cast["zhangwei"].headers, phoneNumber="138 0013 8000", limit=10)
    wangqiang = fetch(client, cast["wangqiang"].headers, STATS, groupBy="operator", to="2026-11-08")
    qianjun = fetch(
        client, cast["qianjun"].headers, "/api/information-tracking/customers/7/records"
    )
    fetch(client, cast["zhengyu"].headers)
    fetch(client, cast["zhouhao"].headers, eventType="edit", source="wechat")
    return {"zhangwei": zhangwei, "wangqiang": wangqiang, "qianjun": qianjun}


def log_of(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    data = fetch(client, headers, ACCESS_LOG, **params)
    return list(data["items"])


def test_each_read_is_logged_with_who_what_and_how_many(
    client_with: ClientFactory, cast: Cast, trail: Trail
) -> None:
    # A group-level auditor (审计 reading every company) sees every read, 周浩's included.
    client = client_with(role_scopes={**DEFAULT_ROLE_SCOPES, "审计": "all"})
    answers = reads(client, cast)
    entries = log_of(client, cast["sunli"].headers)
    assert [e["action"] for e in entries] == ["history", "history", "timeline", "stats", "history"]
    history, stats, timeline = entries[4], entries[3], entries[2]

    zhangwei = cast["zhangwei"]
    assert history["operatorId"] == f"account:{zhangwei.account_id}"
    assert history["operatorName"] == "张伟"
    assert history["company"] == COMPANY_A
    assert history["department"] == "销售一部"
    assert history["role"] == "业务员"
    assert history["clientAddr"] == "testclient"
    assert history["occurredAt"].endswith("+08:00")
    # the number as the reader typed it is not kept in clear
    assert history["filters"] == {"phone": "138****8000", "cursor": False, "limit": 10}
    assert history["rowCount"] == len(answers["zhangwei"]["items"]) == 3  # r1, r2, crm1

    assert stats["operatorName"] == "王强"
    assert stats["filters"]["groupBy"] == "operator"
    assert stats["filters"]["end"] == "2026-11-09T00:00:00"
    assert "start" in stats["filters"]
    assert stats["rowCount"] == answers["wangqiang"]["total"] == 7

    assert timeline["role"] == "管理员"
    assert timeline["filters"]["user_id"] == "7"
    assert timeline["rowCount"] == len(answers["qianjun"]["items"]) == 4

    assert entries[0]["filters"] == {
        "event_type": "edit",
        "source": "wechat",
        "cursor": False,
        "limit": 50,
    }
    assert entries[0]["rowCount"] == 1  # r2; crm2 is an edit of a contacts customer
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)


def test_readers_of_the_log_see_it_within_their_scope(
    client: TestClient, client_with: ClientFactory, cast: Cast, trail: Trail
) -> None:
    reads(client, cast)
    a_readers = {"张伟", "王强", "钱军"}
    entries = log_of(client, cast["sunli"].headers)  # 审计 of company A
    assert {e["company"] for e in entries} == {COMPANY_A}
    assert {e["operatorName"] for e in entries} == a_readers
    # reading the log is itself logged (after the listing, so the next read shows it)
    latest = log_of(client, cast["sunli"].headers, limit=1)[0]
    assert latest["operatorName"] == "孙丽"
    assert latest["action"] == "access_log"
    assert latest["filters"] == {"limit": 50, "beforeId": None}
    assert latest["rowCount"] == len(entries)

    # 管理员 reading the log only where explicitly configured; even then not their own entries
    dual = client_with(
        access_log_roles="管理员,审计,系统管理员", dual_duty_roles="管理员,系统管理员"
    )
    fetch(dual, cast["zhangwei_b"].headers)
    company_b = log_of(dual, cast["zhengyu"].headers)
    assert {e["operatorName"] for e in company_b} == {"张伟"}  # 郑宇's own read is not shown
    assert {e["company"] for e in company_b} == {COMPANY_B}

    everything = log_of(client, cast["zhouhao"].headers, limit=200)
    assert {e["company"] for e in everything} >= {COMPANY_A, COMPANY_B}
    # 系统管理员 also manages accounts: the entries of their own reads are not theirs to read
    assert "周浩" not in {e["operatorName"] for e in everything}
    # paging by id
    first = fetch(client, cast["zhouhao"].headers, ACCESS_LOG, limit=3)
    assert len(first["items"]) == 3
    after = fetch(
        client, cast["zhouhao"].headers, ACCESS_LOG, limit=3, beforeId=first["nextBeforeId"]
    )
    assert max(e["id"] for e in after["items"]) < min(e["id"] for e in first["items"])


def test_others_are_refused_the_log(
    client: TestClient, client_with: ClientFactory, cast: Cast, trail: Trail
) -> None:
    reads(client, cast)
    for username in ("zhangwei", "wangqiang", "zhaomin", "wuyue", "zhangwei_b"):
        response = client.get(ACCESS_LOG, headers=cast[username].headers)
        body = assert_error(response, 403, "forbidden_role")
        assert "访问日志" in body["message"]
    for username in ("qianjun", "zhengyu"):  # 管理员: account administration, not audit
        response = client.get(ACCESS_LOG, headers=cast[username].headers)
        body = assert_error(response, 403, "separation_of_duties")
        assert "访问日志" in body["message"]
    assert client.get(ACCESS_LOG).status_code == 401
    assert_error(client.get(ACCESS_LOG, params={"limit": 0}, headers=cast["zhouhao"].headers), 400)

    # the roles are configurable; a 经理 then reads their department's entries
    app = client_with(access_log_roles="经理")
    entries = log_of(app, cast["wangqiang"].headers)
    assert {e["department"] for e in entries} == {"销售一部"}
    assert {e["operatorName"] for e in entries} == {"张伟", "王强", "吴悦"}
    # The refused attempts above are on record, each once, with what was refused.
    refused = [e for e in entries if e["action"] == "audit_refused"]
    assert sorted(e["operatorName"] for e in refused) == ["吴悦", "张伟", "王强"]
    assert {e["filters"]["code"] for e in refused} == {"forbidden_role"}
    assert {e["filters"]["path"] for e in refused} == {ACCESS_LOG}
    assert_error(app.get(ACCESS_LOG, headers=cast["zhaomin"].headers), 403, "forbidden_role")
    assert_error(app.get(ACCESS_LOG, headers=cast["qianjun"].headers), 403, "separation_of_duties")
