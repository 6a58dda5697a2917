"""``infotrack account …``: the real command, as a subprocess, against the test databases."""

from __future__ import annotations

import subprocess

from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.db import Sources
from tests.conftest import run_cli

FIELDS = [
    "--company",
    "华东贸易有限公司",
    "--department",
    "销售一部",
    "--organization",
    "华东大区",
    "--role",
    "业务员",
    "--name",
    "张伟",
    "--assistant",
    "李娜",
]
PASSWORD = "long-enough-pw"


def add(
    settings: Settings, username: str, *extra: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        settings, "account", "add", username, "--password-stdin", *extra, input=password + "\n"
    )


def test_add_list_and_sign_in(settings: Settings, sources: Sources, client: TestClient) -> None:
    done = run_cli(
        settings,
        "account",
        "add",
        "zhangwei",
        "--password-stdin",
        *FIELDS,
        "--side",
        "sales",
        input=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "zhangwei" in done.stdout
    assert "account:1" in done.stdout

    listed = run_cli(settings, "account", "list")
    assert listed.returncode == 0, listed.stderr
    assert "zhangwei" in listed.stdout
    assert "华东贸易有限公司" in listed.stdout
    assert "sales" in listed.stdout
    assert "启用" in listed.stdout

    login = client.post("/api/auth/login", json={"username": "zhangwei", "password": PASSWORD})
    assert login.status_code == 200, login.text
    client.cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    data = me.json()["data"]
    assert (data["operatorId"], data["company"], data["role"], data["name"], data["side"]) == (
        "account:1",
        "华东贸易有限公司",
        "业务员",
        "张伟",
        "sales",
    )


def test_password_is_read_exactly_from_stdin(
    settings: Settings, sources: Sources, client: TestClient
) -> None:
    # Spaces inside and around the password are part of it; only the line end is not.
    password = "  空格 and spaces  "
    done = run_cli(settings, "account", "add", "lina", "--password-stdin", input=password + "\r\n")
    assert done.returncode == 0, done.stderr
    ok = client.post("/api/auth/login", json={"username": "lina", "password": password})
    assert ok.status_code == 200
    trimmed = client.post(
        "/api/auth/login", json={"username": "lina", "password": password.strip()}
    )
    assert trimmed.status_code == 401


def test_duplicate_username_is_refused(settings: Settings, sources: Sources) -> None:
    assert add(settings, "zhangwei").returncode == 0
    again = add(settings, "zhangwei", "--name", "另一个张伟")
    assert again.returncode != 0
    assert "用户名 zhangwei 已存在" in again.stderr
    listed = run_cli(settings, "account", "list").stdout
    assert "另一个张伟" not in listed


def test_password_stdin_is_required(settings: Settings, sources: Sources) -> None:
    done = run_cli(settings, "account", "add", "zhangwei", *FIELDS, input=PASSWORD + "\n")
    assert done.returncode == 2
    assert "--password-stdin" in done.stderr
    assert "密码" in done.stderr
    assert "zhangwei" not in run_cli(settings, "account", "list").stdout


def test_password_on_the_command_line_is_not_an_option(
    settings: Settings, sources: Sources
) -> None:
    done = run_cli(settings, "account", "add", "zhangwei", "--password", PASSWORD)
    assert done.returncode == 2


def test_short_password_is_refused(settings: Settings, sources: Sources) -> None:
    done = add(settings, "zhangwei", password="short")
    assert done.returncode == 1
    assert "密码至少需要 8 个字符" in done.stderr
    assert "zhangwei" not in run_cli(settings, "account", "list").stdout


def test_empty_stdin_is_a_short_password(settings: Settings, sources: Sources) -> None:
    done = run_cli(settings, "account", "add", "zhangwei", "--password-stdin", input="")
    assert done.returncode == 1
    assert "密码至少需要" in done.stderr


def test_unknown_side_is_refused(settings: Settings, sources: Sources) -> None:
    done = add(settings, "zhangwei", "--side", "both")
    assert done.returncode == 1
    assert "side 只能是" in done.stderr


def test_invalid_username_is_refused(settings: Settings, sources: Sources) -> None:
    done = add(settings, "张 伟")
    assert done.returncode == 1
    assert "用户名只能包含" in done.stderr


def test_disable_and_enable(settings: Settings, sources: Sources) -> None:
    assert add(settings, "zhangwei").returncode == 0
    disabled = run_cli(settings, "account", "disable", "zhangwei")
    assert disabled.returncode == 0, disabled.stderr
    assert "停用" in run_cli(settings, "account", "list").stdout
    enabled = run_cli(settings, "account", "enable", "zhangwei")
    assert enabled.returncode == 0, enabled.stderr
    assert "启用" in run_cli(settings, "account", "list").stdout


def test_disable_unknown_account(settings: Settings, sources: Sources) -> None:
    done = run_cli(settings, "account", "disable", "nobody")
    assert done.returncode == 1
    assert "账号 nobody 不存在" in done.stderr
