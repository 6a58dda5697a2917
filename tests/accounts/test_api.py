"""``/api/accounts``: who may manage which accounts, and what each act does and leaves behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.db import Sources, session_scope
from infotrack.models import AccessLogEntry, Account
from tests.conftest import PASSWORD, bearer, create_account, make_settings
from tests.tracking.conftest import assert_error

ACCOUNTS = "/api/accounts"
ME = "/api/auth/me"
LOGIN = "/api/auth/login"
ACCESS_LOG = "/api/information-tracking/access-log"
COMPANY_A = "华东贸易有限公司"
COMPANY_B = "华南实业有限公司"
HEAD_OFFICE = "集团总部"
NEW_PASSWORD = "another-long-pw"
ACCOUNT_KEYS = {
    "id",
    "username",
    "name",
    "company",
    "department",
    "organization",
    "role",
    "assistant",
    "side",
    "disabled",
    "createdAt",
    "updatedAt",
}

# username -> (role, company, name), in the order they are created.
CAST: dict[str, tuple[str, str, str]] = {
    "root": ("系统管理员", HEAD_OFFICE, "赵总"),
    "qianjun": ("管理员", COMPANY_A, "钱军"),
    "zhangwei": ("业务员", COMPANY_A, "张伟"),
    "wangqiang": ("经理", COMPANY_A, "王强"),
    "zhouhao": ("审计", COMPANY_A, "周浩"),
    "lisi": ("业务员", COMPANY_B, "李四"),
    "sunli": ("管理员", COMPANY_B, "孙丽"),
}
COMPANY_A_USERS = ["qianjun", "zhangwei", "wangqiang", "zhouhao"]


@pytest.fixture
def cast(sources: Sources, settings: Settings) -> dict[str, int]:
    """Every account of CAST; their ids by username."""
    return {
        username: create_account(sources, settings, username, role=role, company=company, name=name)
        for username, (role, company, name) in CAST.items()
    }


def new_account(username: str = "xiaoming", **fields: Any) -> dict[str, Any]:
    """A valid body for POST /api/accounts."""
    body: dict[str, Any] = {
        "username": username,
        "password": NEW_PASSWORD,
        "name": "小明",
        "department": "销售二部",
        "organization": "华东大区",
        "role": "业务员",
        "assistant": "李娜",
        "side": "sales",
    }
    body.update(fields)
    return body


def listed(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The accounts GET /api/accounts answers to this caller."""
    response = client.get(ACCOUNTS, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return list(body["data"]["items"])


def can_sign_in(client: TestClient, username: str, password: str = PASSWORD) -> bool:
    """True when the credentials are accepted (cookies cleared afterwards)."""
    response = client.post(LOGIN, json={"username": username, "password": password})
    client.cookies.clear()
    return response.status_code == 200


def account_row(sources: Sources, username: str) -> Account | None:
    """The stored account, read straight from the database."""
    with session_scope(sources.wechat) as session:
        return session.scalar(select(Account).where(Account.username == username))


def is_disabled(sources: Sources, username: str) -> bool:
    """The stored account's disabled flag."""
    row = account_row(sources, username)
    assert row is not None, username
    return row.disabled


def logged(sources: Sources) -> list[AccessLogEntry]:
    """Access-log entries about accounts, oldest first."""
    with session_scope(sources.wechat) as session:
        query = select(AccessLogEntry).where(AccessLogEntry.action.like("account%"))
        return list(session.scalars(query.order_by(AccessLogEntry.id)))


def disable(client: TestClient, headers: dict[str, str], username: str) -> httpx.Response:
    return client.post(f"{ACCOUNTS}/{username}/disable", headers=headers)


def enable(client: TestClient, headers: dict[str, str], username: str) -> httpx.Response:
    return client.post(f"{ACCOUNTS}/{username}/enable", headers=headers)


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("cast")
def test_an_admin_lists_only_their_companys_accounts(client: TestClient) -> None:
    items = listed(client, bearer(client, "qianjun"))
    assert [item["username"] for item in items] == COMPANY_A_USERS
    assert {item["company"] for item in items} == {COMPANY_A}
    for item in items:
        assert set(item) == ACCOUNT_KEYS, item  # no password hash, no token version
    zhangwei = items[1]
    assert zhangwei["name"] == "张伟"
    assert zhangwei["department"] == "销售一部"
    assert zhangwei["organization"] == "华东大区"
    assert zhangwei["role"] == "业务员"
    assert zhangwei["assistant"] == "李娜"
    assert zhangwei["side"] == "supply"
    assert zhangwei["disabled"] is False
    assert zhangwei["createdAt"].endswith("+08:00")
    assert datetime.fromisoformat(zhangwei["updatedAt"]).utcoffset() is not None


def test_a_system_admin_sees_every_account(client: TestClient, cast: dict[str, int]) -> None:
    items = listed(client, bearer(client, "root"))
    assert [item["username"] for item in items] == list(CAST)
    assert [item["id"] for item in items] == sorted(cast.values())


@pytest.mark.usefixtures("cast")
@pytest.mark.parametrize("username", ["zhangwei", "wangqiang", "zhouhao", "lisi"])
def test_other_roles_are_refused(client: TestClient, sources: Sources, username: str) -> None:
    headers = bearer(client, username)
    target = "wangqiang" if username == "zhangwei" else "zhangwei"
    answers = [
        client.get(ACCOUNTS, headers=headers),
        client.post(ACCOUNTS, json=new_account(), headers=headers),
        disable(client, headers, target),
        enable(client, headers, target),
    ]
    # 周浩 is the company's 审计: refused as the other side of the separation of duties
    code = "separation_of_duties" if username == "zhouhao" else "forbidden_role"
    for response in answers:
        body = assert_error(response, 403, code, case=response.url.path)
        assert "管理员" in body["message"]
    assert account_row(sources, "xiaoming") is None
    assert not is_disabled(sources, target)
    # Nothing done; every attempt on record.
    assert [e.action for e in logged(sources)] == ["account_refused"] * 4
    assert {json.loads(e.filters)["code"] for e in logged(sources)} == {code}


@pytest.mark.usefixtures("cast")
def test_without_credentials_it_is_401(client: TestClient) -> None:
    assert_error(client.get(ACCOUNTS), 401, "unauthorized")
    assert_error(client.post(ACCOUNTS, json=new_account()), 401, "unauthorized")
    assert_error(disable(client, {}, "zhangwei"), 401, "unauthorized")


# --- adding ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("cast")
def test_an_added_account_can_sign_in_with_its_fields(client: TestClient) -> None:
    response = client.post(ACCOUNTS, json=new_account(), headers=bearer(client, "qianjun"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "账号已创建"
    data = body["data"]
    assert set(data) == ACCOUNT_KEYS
    assert data["username"] == "xiaoming"
    assert data["company"] == COMPANY_A  # the admin's company, though the body named none
    assert data["side"] == "sales"
    assert data["disabled"] is False
    assert data["createdAt"].endswith("+08:00")

    me = client.get(ME, headers=bearer(client, "xiaoming", NEW_PASSWORD)).json()["data"]
    assert me["operatorId"] == f"account:{data['id']}"
    assert me["company"] == COMPANY_A
    assert me["department"] == "销售二部"
    assert me["role"] == "业务员"
    assert me["name"] == "小明"
    assert me["side"] == "sales"
    assert "xiaoming" in [item["username"] for item in listed(client, bearer(client, "qianjun"))]


@pytest.mark.usefixtures("cast")
def test_side_defaults_to_supply_and_blank_optional_fields_are_empty(
    client: TestClient,
) -> None:
    body = new_account(department="  ", assistant="")
    del body["side"]
    response = client.post(ACCOUNTS, json=body, headers=bearer(client, "qianjun"))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["side"] == "supply"
    assert data["department"] is None
    assert data["assistant"] is None


@pytest.mark.usefixtures("cast")
def test_an_admin_adds_accounts_to_their_own_company_only(
    client: TestClient, sources: Sources
) -> None:
    headers = bearer(client, "qianjun")
    refused = client.post(ACCOUNTS, json=new_account(company=COMPANY_B), headers=headers)
    assert_error(refused, 403, "forbidden_company")
    assert account_row(sources, "xiaoming") is None
    named = client.post(ACCOUNTS, json=new_account(company=COMPANY_A), headers=headers)
    assert named.status_code == 201, named.text
    assert named.json()["data"]["company"] == COMPANY_A


@pytest.mark.usefixtures("cast")
def test_a_system_admin_adds_to_any_company_with_any_role(client: TestClient) -> None:
    body = new_account(company=COMPANY_B, role="系统管理员")
    response = client.post(ACCOUNTS, json=body, headers=bearer(client, "root"))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["company"] == COMPANY_B
    assert response.json()["data"]["role"] == "系统管理员"
    assert can_sign_in(client, "xiaoming", NEW_PASSWORD)


@pytest.mark.usefixtures("cast")
def test_an_admin_cannot_grant_a_role_that_sees_everything(
    client: TestClient, sources: Sources
) -> None:
    headers = bearer(client, "qianjun")
    response = client.post(ACCOUNTS, json=new_account(role="系统管理员"), headers=headers)
    assert_error(response, 403, "forbidden_role_grant")
    assert account_row(sources, "xiaoming") is None
    admin = client.post(ACCOUNTS, json=new_account(role="管理员"), headers=headers)
    assert admin.status_code == 201, admin.text


@pytest.fixture
def client_with(db_urls: dict[str, str], tmp_path: Path, sources: Sources) -> Iterator[Any]:
    """Build the real app from the test settings plus overrides (schema already made)."""
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        test_client = TestClient(create_app(make_settings(db_urls, tmp_path, **overrides)))
        clients.append(test_client.__enter__())
        return test_client

    yield build
    for test_client in clients:
        test_client.__exit__(None, None, None)


def test_seeing_everything_follows_the_roles_scope_not_its_name(
    client_with: Any, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings, "hq", role="总部管理员", company=HEAD_OFFICE)
    create_account(sources, settings, "sysadmin", role="系统管理员", company=COMPANY_A)
    create_account(sources, settings, "lisi", role="业务员", company=COMPANY_B)
    client = client_with(
        role_scopes={"总部管理员": "all", "系统管理员": "company", "业务员": "own"},
        account_admin_roles="总部管理员, 系统管理员",  # as the environment variable spells it
    )
    everyone = listed(client, bearer(client, "hq"))
    assert [item["username"] for item in everyone] == ["hq", "sysadmin", "lisi"]
    mine = listed(client, bearer(client, "sysadmin"))
    assert [item["username"] for item in mine] == ["sysadmin"]
    grant = new_account(role="总部管理员")
    refused = client.post(ACCOUNTS, json=grant, headers=bearer(client, "sysadmin"))
    assert_error(refused, 403, "forbidden_role_grant")
    assert_error(disable(client, bearer(client, "sysadmin"), "lisi"), 404, "account_not_found")


def test_the_admin_roles_come_from_the_setting(
    client_with: Any, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings, "wangqiang", role="经理")
    create_account(sources, settings, "qianjun", role="管理员")
    client = client_with(account_admin_roles=["经理"])
    assert [item["username"] for item in listed(client, bearer(client, "wangqiang"))] == [
        "wangqiang",
        "qianjun",
    ]
    assert_error(client.get(ACCOUNTS, headers=bearer(client, "qianjun")), 403, "forbidden_role")


@pytest.mark.usefixtures("cast")
def test_a_taken_username_is_409(client: TestClient, sources: Sources) -> None:
    response = client.post(ACCOUNTS, json=new_account("zhangwei"), headers=bearer(client, "root"))
    body = assert_error(response, 409, "username_taken")
    assert "zhangwei" in body["message"]
    assert can_sign_in(client, "zhangwei")  # the old password still works
    assert not can_sign_in(client, "zhangwei", NEW_PASSWORD)


@pytest.mark.usefixtures("cast")
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"password": "short"}, "weak_password"),
        ({"password": ""}, "weak_password"),
        ({"username": "有空格 的名字"}, "invalid_username"),
        ({"username": "x"}, "invalid_username"),
        ({"username": "a" * 65}, "invalid_username"),
        ({"side": "both"}, "invalid_side"),
    ],
)
def test_refusals_of_the_account_service_keep_their_codes(
    client: TestClient, sources: Sources, fields: dict[str, Any], code: str
) -> None:
    response = client.post(ACCOUNTS, json=new_account(**fields), headers=bearer(client, "root"))
    assert_error(response, 400, code)
    assert len(listed(client, bearer(client, "root"))) == len(CAST)


@pytest.mark.usefixtures("cast")
@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ({k: v for k, v in new_account().items() if k != "name"}, "missing_field", "name"),
        ({k: v for k, v in new_account().items() if k != "role"}, "missing_field", "role"),
        ({k: v for k, v in new_account().items() if k != "password"}, "missing_field", "密码"),
        (new_account(role=""), "invalid_field", "role"),
        (new_account(role=7), "invalid_field", "role"),
        (new_account(name="名" * 101), "invalid_field", "name"),
        (new_account(password="p" * 257), "invalid_field", "password"),
        ("{not json", "invalid_json", "JSON"),
        ([new_account()], "invalid_body", "JSON 对象"),
    ],
)
def test_invalid_bodies_answer_in_the_error_shape(
    client: TestClient, sources: Sources, content: Any, code: str, message: str
) -> None:
    headers = bearer(client, "root")
    if isinstance(content, str):
        response = client.post(
            ACCOUNTS, content=content, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = client.post(ACCOUNTS, json=content, headers=headers)
    body = assert_error(response, 400, code)
    assert message in body["message"]
    assert account_row(sources, "xiaoming") is None


# --- disabling and enabling ------------------------------------------------------------------


@pytest.mark.usefixtures("cast")
def test_disabling_revokes_the_accounts_sessions_at_once(
    client: TestClient, sources: Sources
) -> None:
    victim = bearer(client, "zhangwei")
    assert client.get(ME, headers=victim).status_code == 200  # now in the account cache
    response = disable(client, bearer(client, "qianjun"), "zhangwei")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "账号已停用"
    assert body["data"]["username"] == "zhangwei"
    assert body["data"]["disabled"] is True
    # Within the cache's TTL, yet refused: disabling drops the account from this process's cache.
    assert_error(client.get(ME, headers=victim), 401, "session_revoked")
    assert not can_sign_in(client, "zhangwei")
    assert is_disabled(sources, "zhangwei")
    assert [item["disabled"] for item in listed(client, bearer(client, "qianjun"))] == [
        False,
        True,
        False,
        False,
    ]


@pytest.mark.usefixtures("cast")
def test_enabling_restores_sign_in_at_once(client: TestClient) -> None:
    old = bearer(client, "zhangwei")
    admin = bearer(client, "qianjun")
    assert disable(client, admin, "zhangwei").status_code == 200
    assert_error(client.get(ME, headers=old), 401, "session_revoked")  # caches the disabled row
    response = enable(client, admin, "zhangwei")
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "账号已启用"
    assert response.json()["data"]["disabled"] is False
    fresh = bearer(client, "zhangwei")
    assert client.get(ME, headers=fresh).status_code == 200  # not the cached disabled row
    assert_error(client.get(ME, headers=old), 401, "session_revoked")  # old tokens stay dead


@pytest.mark.usefixtures("cast")
def test_enabling_an_enabled_account_keeps_its_sessions(client: TestClient) -> None:
    session = bearer(client, "zhangwei")
    response = enable(client, bearer(client, "qianjun"), "zhangwei")
    assert response.status_code == 200, response.text
    assert client.get(ME, headers=session).status_code == 200


@pytest.mark.usefixtures("cast")
@pytest.mark.parametrize("username", ["qianjun", "root"])
def test_nobody_disables_their_own_account(
    client: TestClient, sources: Sources, username: str
) -> None:
    headers = bearer(client, username)
    body = assert_error(disable(client, headers, username), 400, "cannot_disable_self")
    assert "自己" in body["message"]
    assert client.get(ME, headers=headers).status_code == 200
    assert not is_disabled(sources, username)


@pytest.mark.usefixtures("cast")
def test_ones_own_account_is_recognised_however_the_name_is_cased(
    client: TestClient, sources: Sources, backend: str
) -> None:
    response = disable(client, bearer(client, "qianjun"), "QianJun")
    # MariaDB matches usernames case-insensitively (its collation), SQLite does not.
    if backend == "mysql":
        assert_error(response, 400, "cannot_disable_self")
    else:
        assert_error(response, 404, "account_not_found")
    assert can_sign_in(client, "qianjun")


@pytest.mark.usefixtures("cast")
@pytest.mark.parametrize("act", [disable, enable])
def test_another_companys_account_answers_as_missing(
    client: TestClient, sources: Sources, act: Any
) -> None:
    headers = bearer(client, "qianjun")
    other = assert_error(act(client, headers, "lisi"), 404, "account_not_found")
    missing = assert_error(act(client, headers, "nobody"), 404, "account_not_found")
    assert other["message"].replace("lisi", "?") == missing["message"].replace("nobody", "?")
    assert can_sign_in(client, "lisi")
    assert logged(sources) == []


@pytest.mark.usefixtures("cast")
def test_a_system_admin_manages_every_company(client: TestClient) -> None:
    root = bearer(client, "root")
    assert disable(client, root, "lisi").status_code == 200
    assert not can_sign_in(client, "lisi")
    assert enable(client, root, "lisi").status_code == 200
    assert can_sign_in(client, "lisi")


@pytest.mark.usefixtures("cast")
def test_an_admin_cannot_disable_a_system_admin_of_their_company(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings, "boss", role="系统管理员", company=COMPANY_A)
    assert_error(disable(client, bearer(client, "qianjun"), "boss"), 403, "forbidden_role_grant")
    assert can_sign_in(client, "boss")
    assert disable(client, bearer(client, "root"), "boss").status_code == 200


# --- the console's cookie session ------------------------------------------------------------


@pytest.mark.usefixtures("cast")
def test_cookie_calls_need_the_csrf_token(client: TestClient, sources: Sources) -> None:
    login = client.post(LOGIN, json={"username": "qianjun", "password": PASSWORD})
    token = {"X-CSRF-Token": login.json()["csrfToken"]}
    assert client.cookies.get("infotrack_session")
    assert client.get(ACCOUNTS).status_code == 200  # reads need none
    assert_error(client.post(ACCOUNTS, json=new_account()), 403, "csrf_failed")
    assert_error(client.post(f"{ACCOUNTS}/zhangwei/disable"), 403, "csrf_failed")
    assert account_row(sources, "xiaoming") is None
    assert not is_disabled(sources, "zhangwei")

    added = client.post(ACCOUNTS, json=new_account(), headers=token)
    assert added.status_code == 201, added.text
    disabled = client.post(f"{ACCOUNTS}/zhangwei/disable", headers=token)
    assert disabled.status_code == 200, disabled.text
    assert is_disabled(sources, "zhangwei")


# --- the access log --------------------------------------------------------------------------


@pytest.mark.usefixtures("cast")
def test_each_act_is_in_the_access_log(client: TestClient, sources: Sources) -> None:
    admin = bearer(client, "qianjun")
    listed(client, admin)
    assert client.post(ACCOUNTS, json=new_account(), headers=admin).status_code == 201
    assert disable(client, admin, "xiaoming").status_code == 200
    assert enable(client, admin, "xiaoming").status_code == 200

    entries = logged(sources)
    assert [e.action for e in entries] == [
        "account_list",
        "account_add",
        "account_disable",
        "account_enable",
    ]
    assert [json.loads(e.filters) for e in entries] == [
        {"company": COMPANY_A},
        {"username": "xiaoming", "role": "业务员", "company": COMPANY_A},
        {"username": "xiaoming"},
        {"username": "xiaoming"},
    ]
    assert [e.row_count for e in entries] == [len(COMPANY_A_USERS), 1, 1, 1]
    for entry in entries:
        assert entry.operator_name == "钱军"
        assert entry.role == "管理员"
        assert entry.company == COMPANY_A
        assert entry.client_addr == "testclient"

    # An auditor of the company reads the same entries through the API, newest first.
    response = client.get(ACCESS_LOG, headers=bearer(client, "zhouhao"))
    assert response.status_code == 200, response.text
    actions = [e["action"] for e in response.json()["data"]["items"]]
    assert actions == ["account_enable", "account_disable", "account_add", "account_list"]


@pytest.mark.usefixtures("cast")
def test_a_system_admins_list_is_logged_unfiltered(client: TestClient, sources: Sources) -> None:
    listed(client, bearer(client, "root"))
    (entry,) = logged(sources)
    assert entry.action == "account_list"
    assert json.loads(entry.filters) == {}
    assert entry.row_count == len(CAST)
