"""``/api/information-tracking/alerts``: who sees which alerts, filters and paging, acknowledging
and resolving (who, why, only once), CSRF for cookie sessions, and the access log."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from infotrack.alerts.service import acknowledge
from infotrack.auth.service import identity_of
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.errors import Conflict
from infotrack.history.scope import scope_for
from infotrack.kit.clock import local_now
from infotrack.models import AccessLogEntry, Account, Alert
from tests.conftest import PASSWORD
from tests.history.conftest import COMPANY_A, COMPANY_B, GROUP, Person, quick_account
from tests.tracking.conftest import assert_error

ALERTS = "/api/information-tracking/alerts"
ME = "/api/auth/me"

# username -> identity fields; every scope kind, two companies, two departments of one.
CAST: dict[str, dict[str, str]] = {
    "zhangwei": {"role": "业务员", "company": COMPANY_A, "department": "销售一部", "name": "张伟"},
    "wuyue": {"role": "实习生", "company": COMPANY_A, "department": "销售一部", "name": "吴悦"},
    "wangqiang": {"role": "经理", "company": COMPANY_A, "department": "销售一部", "name": "王强"},
    "liuyang": {"role": "主管", "company": COMPANY_A, "department": "销售二部", "name": "刘洋"},
    "zhaomin": {"role": "总监", "company": COMPANY_A, "department": "营销中心", "name": "赵敏"},
    "qianjun": {"role": "管理员", "company": COMPANY_A, "department": "信息部", "name": "钱军"},
    "sunli": {"role": "审计", "company": COMPANY_A, "department": "审计部", "name": "孙丽"},
    "zhengyu": {"role": "管理员", "company": COMPANY_B, "department": "信息部", "name": "郑宇"},
    "zhouhao": {"role": "系统管理员", "company": GROUP, "department": "信息中心", "name": "周浩"},
}
ITEM_KEYS = {
    "id",
    "rule",
    "kind",
    "kindLabel",
    "severity",
    "severityLabel",
    "status",
    "statusLabel",
    "operator",
    "windowStart",
    "windowEnd",
    "count",
    "threshold",
    "sampleIds",
    "createdAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "acknowledgedByName",
    "acknowledgedComment",
    "resolvedAt",
    "resolvedBy",
    "resolvedByName",
    "resolvedComment",
}

_triggers = count(1)


def add_alert(sources: Sources, **fields: Any) -> int:
    """Insert an alert as the worker would (default: 张伟 of 华东 销售一部, open, high); its id."""
    window_end: datetime = fields.pop("window_end", datetime(2026, 11, 2, 10, 0, 0))
    values: dict[str, Any] = {
        "rule": "burst_views",
        "kind": "burst",
        "severity": "high",
        "source": "trail",
        "trigger_id": next(_triggers),
        "operator_key": "account:1",
        "operator_id": "account:1",
        "operator_name": "张伟",
        "company": COMPANY_A,
        "department": "销售一部",
        "role": "业务员",
        "window_start": window_end - timedelta(minutes=10),
        "window_end": window_end,
        "count": 31,
        "threshold": 30,
        "sample_ids": json.dumps([101, 102, 103]),
        "status": "open",
        "created_at": window_end + timedelta(seconds=2),
    } | fields
    with session_scope(sources.wechat) as session:
        alert = Alert(**values)
        session.add(alert)
        session.flush()
        return alert.id


def stored(sources: Sources, alert_id: int) -> Alert:
    """The alert as the database holds it."""
    with session_scope(sources.wechat) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


def logged(sources: Sources) -> list[AccessLogEntry]:
    """Access-log entries about alerts, oldest first."""
    with session_scope(sources.wechat) as session:
        query = select(AccessLogEntry).where(AccessLogEntry.action.like("alert%"))
        return list(session.scalars(query.order_by(AccessLogEntry.id)))


def ids(client: TestClient, person: Person, **params: Any) -> list[int]:
    """The alert ids one GET of the list answers."""
    response = client.get(ALERTS, params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return [item["id"] for item in body["data"]["items"]]


def post(
    client: TestClient, person: Person, alert_id: int | str, action: str, comment: Any = "已核实"
) -> Any:
    """POST ack or resolve as ``person``; the response."""
    return client.post(
        f"{ALERTS}/{alert_id}/{action}", json={"comment": comment}, headers=person.headers
    )


@pytest.fixture
def cast(sources: Sources, settings: Settings) -> dict[str, Person]:
    """Every account of :data:`CAST`, signed in."""
    return {name: quick_account(sources, settings, name, **f) for name, f in CAST.items()}


@pytest.fixture
def alerts(sources: Sources) -> dict[str, int]:
    """Alerts over two companies and departments, in every status; tag -> id (oldest first)."""
    return {
        "a_dept1": add_alert(sources),
        "a_dept2": add_alert(
            sources,
            operator_name="李四",
            operator_id="account:2",
            department="销售二部",
            severity="medium",
            kind="off_hours",
            rule="night_work",
            window_end=datetime(2026, 11, 3, 23, 30),
        ),
        "a_acked": add_alert(
            sources,
            operator_name="王芳",
            severity="low",
            kind="distinct_customers",
            rule="many_customers",
            status="acknowledged",
            window_end=datetime(2026, 11, 4, 9, 0),
        ),
        "a_resolved": add_alert(sources, status="resolved", window_end=datetime(2026, 11, 5, 9, 0)),
        "b_dept1": add_alert(
            sources,
            company=COMPANY_B,
            operator_id="account:9",
            operator_name="张伟",
            window_end=datetime(2026, 11, 6, 9, 0),
        ),
    }


def test_each_role_sees_its_share(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int]
) -> None:
    a = alerts
    company_a = [a["a_resolved"], a["a_acked"], a["a_dept2"], a["a_dept1"]]
    assert ids(client, cast["wangqiang"]) == [a["a_resolved"], a["a_acked"], a["a_dept1"]]
    assert ids(client, cast["liuyang"]) == [a["a_dept2"]]
    for reader in ("zhaomin", "qianjun", "sunli"):
        assert ids(client, cast[reader]) == company_a, reader
    assert ids(client, cast["zhengyu"]) == [a["b_dept1"]]
    assert ids(client, cast["zhouhao"]) == [a["b_dept1"], *company_a]
    # A filter cannot widen the scope: asking for another department answers nothing.
    assert ids(client, cast["wangqiang"], department="销售二部") == []


def test_salespeople_and_unknown_roles_are_refused(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    alert_id = alerts["a_dept1"]
    for reader in ("zhangwei", "wuyue"):
        person = cast[reader]
        assert_error(client.get(ALERTS, headers=person.headers), 403, "alerts_forbidden")
        # Bad filters too: the refusal comes first.
        refused = client.get(ALERTS, params={"status": "nope"}, headers=person.headers)
        assert_error(refused, 403, "alerts_forbidden")
        read = client.get(f"{ALERTS}/{alert_id}", headers=person.headers)
        assert_error(read, 403, "alerts_forbidden")
        assert_error(post(client, person, alert_id, "ack"), 403, "alerts_forbidden")
        assert_error(post(client, person, alert_id, "resolve"), 403, "alerts_forbidden")
    assert stored(sources, alert_id).status == "open"

    def may_read(person: Person) -> bool:
        response = client.get(ME, headers=person.headers)
        assert response.status_code == 200, response.text
        return bool(response.json()["data"]["permissions"]["readAlerts"])

    assert [may_read(cast[n]) for n in CAST] == [
        False,
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
    ]


def test_an_alert_outside_the_scope_answers_as_missing(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    manager, other_admin = cast["wangqiang"], cast["zhengyu"]
    missing = max(alerts.values()) + 100
    cases = [
        (manager, alerts["a_dept2"]),  # another department
        (other_admin, alerts["a_dept1"]),  # another company
        (manager, missing),
        (manager, "abc"),
        (manager, "9" * 40),
    ]
    messages = set()
    for person, alert_id in cases:
        read = client.get(f"{ALERTS}/{alert_id}", headers=person.headers)
        messages.add(assert_error(read, 404, "alert_not_found", alert_id)["message"].split()[0])
        assert_error(post(client, person, alert_id, "ack"), 404, "alert_not_found", alert_id)
        assert_error(post(client, person, alert_id, "resolve"), 404, "alert_not_found", alert_id)
    assert messages == {"告警"}
    assert stored(sources, alerts["a_dept2"]).status == "open"
    assert stored(sources, alerts["a_dept1"]).status == "open"
    # Within the scope the same calls work.
    assert client.get(f"{ALERTS}/{alerts['a_dept1']}", headers=manager.headers).status_code == 200


def test_an_alert_reads_in_full(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int]
) -> None:
    response = client.get(f"{ALERTS}/{alerts['a_dept2']}", headers=cast["zhaomin"].headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "data"}
    item = body["data"]
    assert set(item) == ITEM_KEYS
    assert item == item | {
        "id": alerts["a_dept2"],
        "rule": "night_work",
        "kind": "off_hours",
        "kindLabel": "非工作时间操作",
        "severity": "medium",
        "severityLabel": "中",
        "status": "open",
        "statusLabel": "待处理",
        "operator": {
            "operatorId": "account:2",
            "name": "李四",
            "company": COMPANY_A,
            "department": "销售二部",
            "role": "业务员",
        },
        "windowStart": "2026-11-03T23:20:00+08:00",
        "windowEnd": "2026-11-03T23:30:00+08:00",
        "count": 31,
        "threshold": 30,
        "sampleIds": [101, 102, 103],
        "createdAt": "2026-11-03T23:30:02+08:00",
        "acknowledgedAt": None,
        "acknowledgedBy": None,
        "resolvedAt": None,
        "resolvedComment": None,
    }
    listed = client.get(ALERTS, params={"rule": "night_work"}, headers=cast["zhaomin"].headers)
    assert listed.json()["data"] == {"items": [item], "nextCursor": None}


def test_filters(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    a, director = alerts, cast["zhaomin"]
    assert ids(client, director, status="open") == [a["a_dept2"], a["a_dept1"]]
    both = [a["a_acked"], a["a_dept2"], a["a_dept1"]]
    assert ids(client, director, status="open,acknowledged") == both
    assert ids(client, director, status=["open", "acknowledged"]) == both
    assert ids(client, director, status=" resolved , ") == [a["a_resolved"]]
    assert ids(client, director, severity="high") == [a["a_resolved"], a["a_dept1"]]
    assert ids(client, director, severity=["low", "medium"]) == [a["a_acked"], a["a_dept2"]]
    assert ids(client, director, rule="many_customers") == [a["a_acked"]]
    assert ids(client, director, operator="李四") == [a["a_dept2"]]
    assert ids(client, director, department="销售二部") == [a["a_dept2"]]
    assert ids(client, director, status="open", severity="high") == [a["a_dept1"]]
    # from/to are on the window's end: from inclusive, a date `to` takes in the whole day,
    # a time `to` is inclusive to the second.
    assert ids(client, director, **{"from": "2026-11-03", "to": "2026-11-04"}) == [
        a["a_acked"],
        a["a_dept2"],
    ]
    assert ids(client, director, **{"from": "2026-11-03T23:30:00+08:00"}) == [
        a["a_resolved"],
        a["a_acked"],
        a["a_dept2"],
    ]
    assert ids(client, director, to="2026-11-03T23:30:00+08:00") == [a["a_dept2"], a["a_dept1"]]
    # Another offset is converted to the configured zone: 15:30 UTC is 23:30 in Shanghai.
    assert ids(client, director, to="2026-11-03T15:29:59Z") == [a["a_dept1"]]
    assert ids(client, director, status="open", rule="no_such_rule") == []

    bad = {
        "status": ("open,closed", "invalid_status"),
        "severity": ("critical", "invalid_severity"),
        "from": ("yesterday", "invalid_time"),
        "to": ("2026-13-01", "invalid_time"),
        "limit": ("0", "invalid_limit"),
        "cursor": ("not-a-cursor", "invalid_cursor"),
        "rule": ("r" * 65, "invalid_filter"),
    }
    for name, (value, code) in bad.items():
        response = client.get(ALERTS, params={name: value}, headers=director.headers)
        body = assert_error(response, 400, code, name)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), body
    reversed_range = {"from": "2026-11-05", "to": "2026-11-04"}
    assert_error(client.get(ALERTS, params=reversed_range, headers=director.headers), 400)
    assert_error(client.get(ALERTS, params={"limit": "201"}, headers=director.headers), 400)
    # Bad filters read nothing, so nothing is logged for them.
    assert [e.action for e in logged(sources)].count("alert_list") == 15


def test_keyset_paging_walks_every_alert_once(
    client: TestClient, cast: dict[str, Person], sources: Sources
) -> None:
    created = [add_alert(sources, window_end=datetime(2026, 11, 10, 9, m)) for m in range(7)]
    director = cast["zhaomin"]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = client.get(ALERTS, params=params, headers=director.headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        seen += [item["id"] for item in data["items"]]
        cursor = data["nextCursor"]
        pages += 1
        if pages == 1:
            # An alert raised mid-walk is newer than every cursor: it never shows up twice.
            add_alert(sources, window_end=datetime(2026, 11, 10, 10, 0))
        if cursor is None:
            break
    assert seen == sorted(created, reverse=True)
    assert pages == 3
    # Exactly one page: no cursor.
    response = client.get(ALERTS, params={"limit": 8}, headers=director.headers)
    assert response.json()["data"]["nextCursor"] is None
    # A cursor is signed: the last id cannot be forged.
    response = client.get(ALERTS, params={"cursor": "WzFd"}, headers=director.headers)
    assert_error(response, 400, "invalid_cursor")


def test_ack_then_resolve_records_who_and_why(
    client: TestClient,
    cast: dict[str, Person],
    alerts: dict[str, int],
    sources: Sources,
    settings: Settings,
) -> None:
    manager, director = cast["wangqiang"], cast["zhaomin"]
    alert_id = alerts["a_dept1"]
    before = local_now(settings.zone)
    response = post(client, manager, alert_id, "ack", "  已与张伟核实:月底集中回访  ")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "告警已确认"
    data = body["data"]
    assert data["status"] == "acknowledged"
    assert data["acknowledgedBy"] == f"account:{manager.account_id}"
    assert data["acknowledgedByName"] == "王强"
    assert data["acknowledgedComment"] == "已与张伟核实:月底集中回访"
    assert data["acknowledgedAt"].endswith("+08:00")
    assert data["resolvedAt"] is None

    row = stored(sources, alert_id)
    assert row.status == "acknowledged"
    assert row.acknowledged_by == f"account:{manager.account_id}"
    assert row.acknowledged_by_name == "王强"
    assert row.ack_comment == "已与张伟核实:月底集中回访"
    assert row.acknowledged_at is not None
    assert before - timedelta(seconds=1) <= row.acknowledged_at <= local_now(settings.zone)

    # A second acknowledgement, by anyone, is refused and changes nothing.
    again = post(client, director, alert_id, "ack", "我也看看")
    assert_error(again, 409, "alert_not_open")
    assert stored(sources, alert_id).ack_comment == "已与张伟核实:月底集中回访"

    resolved = post(client, director, alert_id, "resolve", "误报:批量回访已报备")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["message"] == "告警已关闭"
    data = resolved.json()["data"]
    assert data["status"] == "resolved"
    assert data["resolvedBy"] == f"account:{director.account_id}"
    assert data["resolvedByName"] == "赵敏"
    assert data["resolvedComment"] == "误报:批量回访已报备"
    assert data["acknowledgedByName"] == "王强"  # the acknowledgement stays on record

    assert_error(post(client, director, alert_id, "resolve"), 409, "alert_already_resolved")
    assert_error(post(client, manager, alert_id, "ack"), 409, "alert_not_open")

    # An open alert may be resolved straight away.
    direct = post(client, manager, alerts["a_acked"], "resolve", "已处理")
    assert direct.json()["data"]["status"] == "resolved"
    assert (
        client.get(ALERTS, params={"status": "open"}, headers=manager.headers).json()["data"][
            "items"
        ]
        == []
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"comment": ""}, "invalid_comment"),
        ({"comment": " \n\t "}, "invalid_comment"),
        ({"comment": "长" * 501}, "invalid_comment"),
        ({"comment": 42}, "invalid_field"),
        ({"comment": None}, "invalid_field"),
    ],
)
def test_a_comment_is_required(
    client: TestClient,
    cast: dict[str, Person],
    alerts: dict[str, int],
    sources: Sources,
    body: dict[str, Any],
    code: str,
) -> None:
    manager = cast["wangqiang"]
    for action in ("ack", "resolve"):
        url = f"{ALERTS}/{alerts['a_dept1']}/{action}"
        assert_error(client.post(url, json=body, headers=manager.headers), 400, code, action)
    assert stored(sources, alerts["a_dept1"]).status == "open"


def test_a_comment_of_500_characters_is_kept_whole(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    comment = "核" * 500
    response = post(client, cast["wangqiang"], alerts["a_dept1"], "ack", f"  {comment}  ")
    assert response.status_code == 200, response.text
    assert stored(sources, alerts["a_dept1"]).ack_comment == comment


def test_two_concurrent_acks_cannot_both_win(
    cast: dict[str, Person], alerts: dict[str, int], sources: Sources, settings: Settings
) -> None:
    alert_id = alerts["a_dept1"]
    with session_scope(sources.wechat) as session:
        people = [
            identity_of(account)
            for account in session.scalars(
                select(Account).where(Account.username.in_(["wangqiang", "zhaomin"]))
            )
        ]
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []

    def ack(identity: Any) -> None:
        scope = scope_for(identity, settings)
        barrier.wait()
        try:
            with session_scope(sources.wechat) as session:
                acknowledge(
                    session, scope, alert_id, identity, identity.name, local_now(settings.zone)
                )
            outcomes.append("won")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=ack, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["alert_not_open", "won"]
    row = stored(sources, alert_id)
    # The stored who and why are one person's, never a mix of both.
    assert (row.acknowledged_by_name, row.ack_comment) in {("王强", "王强"), ("赵敏", "赵敏")}


def test_cookie_sessions_need_the_csrf_token_bearer_tokens_do_not(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    login = client.post("/api/auth/login", json={"username": "wangqiang", "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrfToken"]
    url = f"{ALERTS}/{alerts['a_dept1']}/ack"
    # Reading with the cookie needs no token.
    assert client.get(ALERTS).status_code == 200
    assert_error(client.post(url, json={"comment": "无令牌"}), 403, "csrf_failed")
    wrong = client.post(url, json={"comment": "错令牌"}, headers={"X-CSRF-Token": "x" * 20})
    assert_error(wrong, 403, "csrf_failed")
    assert stored(sources, alerts["a_dept1"]).status == "open"
    ok = client.post(url, json={"comment": "有令牌"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["acknowledgedByName"] == "王强"
    client.cookies.clear()

    # A bearer token alone (no cookie, no CSRF header) is enough.
    bearer_ack = post(client, cast["zhaomin"], alerts["a_dept2"], "ack", "bearer")
    assert bearer_ack.status_code == 200, bearer_ack.text


def test_every_call_is_written_to_the_access_log(
    client: TestClient, cast: dict[str, Person], alerts: dict[str, int], sources: Sources
) -> None:
    manager = cast["wangqiang"]
    ids(client, manager, status="open,acknowledged", severity="high", limit=10)
    client.get(f"{ALERTS}/{alerts['a_dept1']}", headers=manager.headers)
    client.get(f"{ALERTS}/{alerts['b_dept1']}", headers=manager.headers)  # another company's
    post(client, manager, alerts["a_dept1"], "ack", "核实中")
    post(client, manager, alerts["a_dept1"], "ack", "再次确认")  # 409
    post(client, manager, alerts["a_dept1"], "resolve", "已处理")

    entries = logged(sources)
    assert [e.action for e in entries] == [
        "alert_list",
        "alert_read",
        "alert_read",
        "alert_ack",
        "alert_ack",
        "alert_resolve",
    ]
    for entry in entries:
        assert entry.operator_id == f"account:{manager.account_id}"
        assert entry.operator_name == "王强"
        assert entry.department == "销售一部"
        assert entry.client_addr == "testclient"
    filters = [json.loads(e.filters) for e in entries]
    assert filters[0] == {
        "status": ["open", "acknowledged"],
        "severity": ["high"],
        "cursor": False,
        "limit": 10,
    }
    assert entries[0].row_count == 1  # a_dept1 (a_resolved is resolved)
    assert filters[1] == {"id": alerts["a_dept1"], "status": "open"}
    assert entries[1].row_count == 1
    assert filters[2] == {"id": alerts["b_dept1"], "refused": "alert_not_found"}
    assert entries[2].row_count == 0
    assert filters[3] == {"id": alerts["a_dept1"], "status": "acknowledged"}
    assert filters[4] == {"id": alerts["a_dept1"], "refused": "alert_not_open"}
    assert (filters[5], entries[5].row_count) == (
        {"id": alerts["a_dept1"], "status": "resolved"},
        1,
    )

    # The entries are readable in the access log like every other read (by the auditor).
    answer = client.get("/api/information-tracking/access-log", headers=cast["sunli"].headers)
    log = answer.json()["data"]["items"]
    assert [e["action"] for e in log][:6] == [
        "alert_resolve",
        "alert_ack",
        "alert_ack",
        "alert_read",
        "alert_read",
        "alert_list",
    ]
