"""``POST /api/auth/login``: token and cookies, one answer for wrong credentials, throttling."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.kit.clock import local_now
from infotrack.models.login_throttle import LoginThrottle
from tests.auth.conftest import ClientFactory
from tests.conftest import PASSWORD, create_account, make_settings, run_cli

LOGIN = "/api/auth/login"
INVALID = {"success": False, "message": "用户名或密码错误", "code": "invalid_credentials"}
MAX_FAILURES = 3


def login(
    client: TestClient, username: str = "zhangwei", password: str = PASSWORD
) -> httpx.Response:
    return client.post(LOGIN, json={"username": username, "password": password})


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """The response's Set-Cookie headers, parsed, by cookie name."""
    parsed: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            parsed[name] = cookie
    return parsed


def throttle_rows(sources: Sources) -> list[Any]:
    with sources.wechat.connect() as conn:
        return list(conn.execute(text("SELECT username, failures FROM infotrack_login_throttle")))


@pytest.fixture
def throttled_settings(db_urls: dict[str, str], tmp_path: Path, sources: Sources) -> Settings:
    """Settings with a low failure limit (the schema is already initialised by ``sources``)."""
    return make_settings(db_urls, tmp_path, login_max_failures=MAX_FAILURES)


@pytest.fixture
def throttled(throttled_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(throttled_settings)) as client:
        yield client


# -- success ----------------------------------------------------------------------------------


def test_login_answers_token_csrf_and_cookies(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    account_id = create_account(sources, settings)
    response = login(client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "登录成功"
    assert body["token"]
    assert body["csrfToken"]
    assert body["expiresIn"] == settings.token_ttl_minutes * 60

    cookies = set_cookies(response)
    session = cookies["infotrack_session"]["infotrack_session"]
    assert session.value == body["token"]
    assert session["httponly"] is True
    assert session["samesite"].lower() == "lax"
    assert session["path"] == "/"
    assert int(session["max-age"]) == settings.token_ttl_minutes * 60
    assert not session["secure"]  # cookie_secure defaults to False (plain HTTP intranets)

    csrf = cookies["infotrack_csrf"]["infotrack_csrf"]
    assert csrf.value == body["csrfToken"]
    assert not csrf["httponly"]  # the console's script must read it
    assert csrf["samesite"].lower() == "lax"

    client.cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["operatorId"] == f"account:{account_id}"


def test_secure_cookie_when_configured(
    sources: Sources, db_urls: dict[str, str], tmp_path: Path
) -> None:
    settings = make_settings(db_urls, tmp_path, cookie_secure=True)
    create_account(sources, settings)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        response = login(client)
    assert response.status_code == 200
    for name, cookie in set_cookies(response).items():
        assert cookie[name]["secure"] is True


def test_login_ignores_extra_fields(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    response = client.post(
        LOGIN, json={"username": "zhangwei", "password": PASSWORD, "role": "系统管理员"}
    )
    assert response.status_code == 200


# -- failures ---------------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_answer_alike(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    wrong = login(client, password="not-the-password")
    unknown = login(client, username="nobody", password=PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == INVALID
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    assert "set-cookie" not in wrong.headers
    assert "set-cookie" not in unknown.headers


def test_password_must_match_exactly(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    assert login(client, password=PASSWORD + " ").status_code == 401
    assert login(client, password=PASSWORD.upper()).status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"username": "zhangwei"}, "missing_field"),
        ({"password": PASSWORD}, "missing_field"),
        ({"username": "", "password": PASSWORD}, "invalid_field"),
        ({"username": "zhangwei", "password": ""}, "invalid_field"),
        ({"username": "x" * 65, "password": PASSWORD}, "invalid_field"),
        ({"username": 123, "password": PASSWORD}, "invalid_field"),
        ([], "invalid_body"),
        ("zhangwei", "invalid_body"),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, sources: Sources, settings: Settings, body: Any, code: str
) -> None:
    create_account(sources, settings)
    response = client.post(LOGIN, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert response.json()["code"] == code
    assert throttle_rows(sources) == []  # a malformed request is no failed attempt


def test_body_that_is_not_json_is_400(client: TestClient, sources: Sources) -> None:
    response = client.post(
        LOGIN, content=b"username=zhangwei", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_disabled_account_cannot_log_in(
    client: TestClient, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    assert login(client).status_code == 200
    done = run_cli(settings, "account", "disable", "zhangwei")
    assert done.returncode == 0, done.stderr
    response = login(client)
    assert response.status_code == 401
    assert response.json() == INVALID  # no hint that the account exists

    enabled = run_cli(settings, "account", "enable", "zhangwei")
    assert enabled.returncode == 0, enabled.stderr
    assert login(client).status_code == 200


# -- throttling -------------------------------------------------------------------------------


def test_failures_lock_the_username_even_for_the_right_password(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    create_account(sources, throttled_settings, username="lina", name="李娜")
    for _ in range(MAX_FAILURES):
        assert login(throttled, password="wrong-password").status_code == 401
    response = login(throttled)
    assert response.status_code == 429
    assert response.json() == {
        "success": False,
        "message": "登录失败次数过多,请稍后再试",
        "code": "login_throttled",
    }
    assert response.headers["retry-after"]
    assert "set-cookie" not in response.headers
    # Other usernames are not affected.
    assert login(throttled, username="lina").status_code == 200


def test_throttle_is_shared_through_the_database(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for _ in range(MAX_FAILURES):
        assert login(throttled, password="wrong-password").status_code == 401
    with TestClient(create_app(throttled_settings)) as other_process:
        response = login(other_process)
    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled"


def test_failures_in_two_processes_add_up(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    with TestClient(create_app(throttled_settings)) as other_process:
        assert login(throttled, password="wrong-1").status_code == 401
        assert login(other_process, password="wrong-2").status_code == 401
        assert login(throttled, password="wrong-3").status_code == 401
        assert login(other_process).status_code == 429


def test_success_before_the_limit_resets_the_counter(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for _ in range(2):
        for _ in range(MAX_FAILURES - 1):
            assert login(throttled, password="wrong-password").status_code == 401
        assert login(throttled).status_code == 200
    assert throttle_rows(sources) == []


def test_unknown_usernames_are_throttled_the_same_way(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for _ in range(MAX_FAILURES):
        assert login(throttled, username="ghost", password="x-password").json() == INVALID
    locked_unknown = login(throttled, username="ghost", password="x-password")
    for _ in range(MAX_FAILURES):
        login(throttled, password="wrong-password")
    locked_known = login(throttled, password="wrong-password")
    assert locked_unknown.status_code == locked_known.status_code == 429
    assert locked_unknown.json() == locked_known.json()


def test_throttle_key_ignores_case_and_spaces(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for spelling in ("ZhangWei", " zhangwei", "ZHANGWEI "):
        assert login(throttled, username=spelling, password="wrong-password").status_code == 401
    assert login(throttled).status_code == 429


def test_lock_ends_after_the_lockout(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for _ in range(MAX_FAILURES):
        login(throttled, password="wrong-password")
    assert login(throttled).status_code == 429
    # Let the lockout lie in the past, as if login_lockout_minutes had gone by.
    with sources.wechat.begin() as conn:
        conn.execute(
            text("UPDATE infotrack_login_throttle SET locked_until = :t, first_failure_at = :t"),
            {"t": "2000-01-01 00:00:00"},
        )
    assert login(throttled).status_code == 200
    assert throttle_rows(sources) == []


def test_old_failures_start_a_new_count(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    create_account(sources, throttled_settings)
    for _ in range(MAX_FAILURES - 1):
        login(throttled, password="wrong-password")
    with sources.wechat.begin() as conn:
        conn.execute(
            text("UPDATE infotrack_login_throttle SET first_failure_at = :t"),
            {"t": "2000-01-01 00:00:00"},
        )
    # Failures outside the window are forgotten: one more failure does not lock.
    assert login(throttled, password="wrong-password").status_code == 401
    assert throttle_rows(sources) == [("zhangwei", 1)]
    assert login(throttled).status_code == 200


def test_unknown_user_takes_as_long_as_a_wrong_password(
    client_with: ClientFactory, sources: Sources, settings: Settings
) -> None:
    create_account(sources, settings)
    client = client_with(login_max_failures=100)
    login(client, username="ghost", password="wrong-password")  # warm-up: one-off work

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert login(client, username=username, password="wrong-password").status_code == 401
        return time.perf_counter() - started

    known = statistics.median(timed("zhangwei") for _ in range(5))
    unknown = statistics.median(timed("ghost") for _ in range(5))
    # Without the dummy hash an unknown user would answer dozens of times faster.
    assert known / 3 < unknown < known * 3, (known, unknown)


def test_counters_whose_window_has_passed_are_cleaned_up_as_new_ones_start(
    throttled: TestClient, sources: Sources, throttled_settings: Settings
) -> None:
    now = local_now(throttled_settings.zone)
    long_ago = now - timedelta(minutes=throttled_settings.login_lockout_minutes + 1)
    unlocked = {"locked_until": None}  # every row names every column (one executemany)
    with sources.wechat.begin() as conn:
        conn.execute(
            insert(LoginThrottle),
            [
                # random names guessed an hour ago: forgotten
                {"username": "ghost-a", "failures": 1, "first_failure_at": long_ago, **unlocked},
                {"username": "ghost-b", "failures": 2, "first_failure_at": long_ago, **unlocked},
                # locked long ago, lock over: forgotten
                {
                    "username": "ghost-c",
                    "failures": MAX_FAILURES,
                    "first_failure_at": long_ago,
                    "locked_until": now - timedelta(seconds=1),
                },
                # still locked: kept, whatever its age
                {
                    "username": "ghost-d",
                    "failures": MAX_FAILURES,
                    "first_failure_at": long_ago,
                    "locked_until": now + timedelta(minutes=5),
                },
                # inside its window: kept
                {"username": "ghost-e", "failures": 1, "first_failure_at": now, **unlocked},
            ],
        )
    assert login(throttled, username="ghost-new", password="x-password").status_code == 401
    assert sorted(row.username for row in throttle_rows(sources)) == [
        "ghost-d",
        "ghost-e",
        "ghost-new",
    ]
