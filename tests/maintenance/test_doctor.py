"""``infotrack doctor`` through the real CLI, on healthy and less healthy databases."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from infotrack.config import Settings
from infotrack.db import Sources
from infotrack.maintenance.doctor import run_checks
from tests.conftest import AUDIT_KEY, SECRET, add_contact, add_user, make_settings, run_cli


def sqlite_urls(tmp_path: Path) -> dict[str, str]:
    """Two SQLite files under ``tmp_path``."""
    return {
        "wechat": f"sqlite:///{tmp_path / 'wechat.db'}",
        "primary": f"sqlite:///{tmp_path / 'primary.db'}",
    }


def test_healthy_database_passes(settings: Settings, sources: Sources, backend: str) -> None:
    result = run_cli(settings, "doctor")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗ 失败" not in result.stdout
    if backend == "sqlite":
        assert "全部" in result.stdout
        assert "警告" not in result.stdout
        assert "SQLite 没有数据库账号" in result.stdout  # append-only: what governs it instead
    else:  # the tests connect as root, who can rewrite the trail: the one thing to fix
        warnings = [line for line in result.stdout.splitlines() if "! 警告" in line]
        assert len(warnings) == 1, result.stdout
        assert "只追加" in warnings[0]
        assert "应用账号 root 可以 UPDATE informationtra" in warnings[0]
        assert "运行 `infotrack grants`" in result.stdout


def test_uninitialised_database_fails_and_says_to_run_init(settings: Settings) -> None:
    result = run_cli(settings, "doctor")

    assert result.returncode == 1
    assert "尚未初始化" in result.stdout
    assert "infotrack init" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_phone_index_is_reported_with_the_statement_to_run(settings: Settings) -> None:
    crm = Sources.from_settings(settings)
    try:
        with crm.wechat.begin() as conn:  # a CRM's users table without an index on the phone
            conn.execute(
                text(
                    "CREATE TABLE users (userId VARCHAR(100) NOT NULL PRIMARY KEY,"
                    " phoneNumber VARCHAR(32), nickName VARCHAR(100))"
                )
            )
        assert run_cli(settings, "init").returncode == 0

        result = run_cli(settings, "doctor")

        assert result.returncode == 0, result.stdout
        lines = [line for line in result.stdout.splitlines() if "CREATE INDEX" in line]
        assert len(lines) == 1, result.stdout  # users only: contacts got its index from init
        assert "扫描整张表" in result.stdout
        statement = re.search(r"CREATE INDEX .*;", lines[0])
        assert statement is not None
        with crm.wechat.begin() as conn:  # the printed statement is the fix, as is
            conn.execute(text(statement.group(0)))
        after = run_cli(settings, "doctor")
        assert "CREATE INDEX" not in after.stdout
        assert "users.phoneNumber 有索引" in after.stdout
    finally:
        crm.dispose()


def test_phone_spellings_that_cannot_match_are_counted_and_masked(
    settings: Settings, sources: Sources
) -> None:
    add_user(sources, "u1", "13800138000")
    add_user(sources, "u2", "+8613800138001")
    add_user(sources, "u3", "138-0013-8002")
    add_user(sources, "u4", "138 0013 8003")
    add_user(sources, "u5", "(010)62345678")
    add_user(sources, "u6", "12345")
    add_contact(sources, "8613900139000")
    add_contact(sources, "139-0013-9001")

    result = run_cli(settings, "doctor")

    assert result.returncode == 0
    out = result.stdout
    assert "users.phoneNumber 中有 3 个号码的写法无法匹配" in out
    assert "1 个值不是有效号码" in out
    assert "contacts.phoneNumber 中有 1 个号码的写法无法匹配" in out
    assert "'138-****-8002'" in out
    assert "'(010)****5678'" in out
    for raw in ("138-0013-8002", "138 0013 8003", "(010)62345678", "139-0013-9001"):
        assert raw not in out  # examples are masked


def test_unreachable_mysql_fails_clearly(tmp_path: Path) -> None:
    urls = sqlite_urls(tmp_path)
    urls["wechat"] = "mysql+pymysql://crm:secret-pw@127.0.0.1:1/wechat"
    settings = make_settings(urls, tmp_path)

    result = run_cli(settings, "doctor")

    assert result.returncode == 1
    assert "无法连接 wechat 数据库" in result.stdout
    assert "Can't connect" in result.stdout  # the driver's reason, in one line
    assert "secret-pw" not in result.stdout  # the password is hidden
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_secret_key_with_mysql_fails(tmp_path: Path) -> None:
    urls = sqlite_urls(tmp_path)
    urls["primary"] = "mysql+pymysql://root@127.0.0.1:1/crm"
    settings = make_settings(urls, tmp_path, secret_key=None)
    sources = Sources.from_settings(settings)
    try:
        checks = {check.name: check for check in run_checks(sources, settings)}
    finally:
        sources.dispose()

    assert checks["签名密钥"].status == "fail"
    assert "INFOTRACK_SECRET_KEY" in checks["签名密钥"].message
    assert checks["连接 primary"].status == "fail"
    assert checks["连接 wechat"].status == "ok"


def test_audit_key_and_anchor_file_are_checked(tmp_path: Path) -> None:
    settings = make_settings(sqlite_urls(tmp_path), tmp_path)
    sources = Sources.from_settings(settings)
    try:
        checks = {check.name: check for check in run_checks(sources, settings)}
    finally:
        sources.dispose()

    assert checks["防篡改密钥"].status == "ok"
    assert "INFOTRACK_AUDIT_KEY 可用" in checks["防篡改密钥"].message
    assert AUDIT_KEY not in checks["防篡改密钥"].message  # only the key's id is shown
    assert checks["锚点文件"].status == "ok"
    assert str(tmp_path / "audit-anchors.jsonl") in checks["锚点文件"].message


def test_embedded_audit_key_is_not_generated_by_doctor(tmp_path: Path) -> None:
    settings = make_settings(sqlite_urls(tmp_path), tmp_path, audit_key=None)

    result = run_cli(settings, "doctor", extra_env={"INFOTRACK_AUDIT_KEY": ""})

    assert "首次记录时在" in result.stdout
    assert not (tmp_path / "audit_key").exists()  # checking changes nothing


def test_bad_audit_keys_fail(tmp_path: Path) -> None:
    urls = sqlite_urls(tmp_path)
    cases = {
        "mysql without a key": (
            make_settings(
                {**urls, "wechat": "mysql+pymysql://root@127.0.0.1:1/crm"}, tmp_path, audit_key=None
            ),
            "必须设置 INFOTRACK_AUDIT_KEY",
        ),
        "same as the secret": (
            make_settings(urls, tmp_path, audit_key=SECRET),
            "不能与 INFOTRACK_SECRET_KEY 相同",
        ),
        "missing file": (
            make_settings(urls, tmp_path, audit_key=None, audit_key_file=tmp_path / "nope"),
            "无法读取 INFOTRACK_AUDIT_KEY_FILE",
        ),
    }
    for case, (settings, message) in cases.items():
        sources = Sources.from_settings(settings)
        try:
            [check] = [c for c in run_checks(sources, settings) if c.name == "防篡改密钥"]
        finally:
            sources.dispose()
        assert check.status == "fail", case
        assert message in check.message, (case, check.message)


def test_unwritable_anchor_file_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    anchors = blocker / "anchors.jsonl"
    settings = make_settings(sqlite_urls(tmp_path), tmp_path, audit_anchor_file=anchors)
    assert run_cli(settings, "init").returncode == 0

    result = run_cli(settings, "doctor", extra_env={"INFOTRACK_AUDIT_ANCHOR_FILE": str(anchors)})

    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "锚点文件" in line)
    assert "失败" in line
    assert "不是目录" in line
    assert "INFOTRACK_AUDIT_ANCHOR_FILE" in result.stdout
