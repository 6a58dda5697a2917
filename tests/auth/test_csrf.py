"""The console's cookie session: CSRF on state-changing calls, none for bearer calls, logout."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import PASSWORD, add_user, count_records, create_account

RECORD = "/api/information-tracking/record"
BATCH = "/api/information-tracking/record/batch"
ME = "/api/auth/me"
EVENT = {"phoneNumber": "13800138000", "operationEvent": "查看客户详情"}


def console_login(client: TestClient, username: str = "zhangwei") -> str:
    """Sign in like the console does (cookies kept); the CSRF token."""
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert client.cookies.get("infotrack_session")
    csrf = response.json()["csrfToken"]
    assert client.cookies.get("infotrack_csrf") == csrf
    return str(csrf)


@pytest.fixture
def customer(sources: Sources, settings: Settings) -> None:
    create_account(sources, settings)
    add_user(sources, "u1", "13800138000", "王小明")


@pytest.mark.usefixtures("customer")
def test_cookie_post_without_csrf_is_refused(client: TestClient, sources: Sources) -> None:
    console_login(client)
    response = client.post(RECORD, json=EVENT)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert response.json()["success"] is False
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_cookie_post_with_the_csrf_header_passes(client: TestClient, sources: Sources) -> None:
    csrf = console_login(client)
    response = client.post(RECORD, json=EVENT, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["userId"] == "u1"
    assert count_records(sources) == 1


@pytest.mark.usefixtures("customer")
@pytest.mark.parametrize("sent", ["wrong", "", "0" * 40])
def test_cookie_post_with_a_wrong_csrf_token_is_refused(
    client: TestClient, sources: Sources, sent: str
) -> None:
    console_login(client)
    response = client.post(RECORD, json=EVENT, headers={"X-CSRF-Token": sent})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_a_csrf_token_is_bound_to_its_session(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings, username="lina", name="李娜")
    other = console_login(client, "lina")
    client.cookies.clear()
    console_login(client)
    response = client.post(RECORD, json=EVENT, headers={"X-CSRF-Token": other})
    assert response.status_code == 403
    assert count_records(sources) == 0


@pytest.mark.usefixtures("customer")
def test_batch_needs_csrf_too(client: TestClient, sources: Sources) -> None:
    csrf = console_login(client)
    refused = client.post(BATCH, json={"events": [EVENT]})
    assert refused.status_code == 403
    accepted = client.post(BATCH, json={"events": [EVENT]}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["results"][0]["success"] is True
    assert count_records(sources) == 1


@pytest.mark.usefixtures("customer")
def test_safe_methods_need_no_csrf(client: TestClient) -> None:
    console_login(client)
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["data"]["username"] == "zhangwei"


@pytest.mark.usefixtures("customer")
def test_bearer_calls_never_need_csrf(client: TestClient, sources: Sources) -> None:
    token = client.post(
        "/api/auth/login", json={"username": "zhangwei", "password": PASSWORD}
    ).json()["token"]
    # Even with the session cookie present, an Authorization header means a script, not a form.
    response = client.post(RECORD, json=EVENT, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    response = client.post(RECORD, json=EVENT, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert count_records(sources) == 2


@pytest.mark.usefixtures("customer")
def test_a_forged_session_cookie_is_401(client: TestClient) -> None:
    client.cookies.set("infotrack_session", "not-a-token")
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def _deleted(response: httpx.Response) -> set[str]:
    gone: set[str] = set()
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            if morsel["max-age"] == "0" and not morsel.value.strip('"'):
                gone.add(name)
    return gone


@pytest.mark.usefixtures("customer")
def test_logout_clears_the_cookies(client: TestClient, sources: Sources) -> None:
    csrf = console_login(client)
    assert client.get(ME).status_code == 200
    response = client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "已退出登录"}
    assert _deleted(response) == {"infotrack_session", "infotrack_csrf"}
    assert client.cookies.get("infotrack_session") is None
    assert client.cookies.get("infotrack_csrf") is None
    assert client.get(ME).status_code == 401
    assert client.post(RECORD, json=EVENT, headers={"X-CSRF-Token": csrf}).status_code == 401
    with sources.wechat.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM informationtra")).scalar_one() == 0
