"""``infotrack history``: the trail as a table in a terminal, same filters, scope and masking."""

from __future__ import annotations

from fastapi.testclient import TestClient

from infotrack.config import Settings
from tests.conftest import run_cli
from tests.history.conftest import ACCESS_LOG, Cast, Trail, fetch


def test_history_prints_a_table_with_masked_phones(
    client: TestClient, settings: Settings, cast: Cast, trail: Trail
) -> None:
    result = run_cli(
        settings,
        "history",
        "--phone",
        "+86 137 0013 7000",
        "--operator",
        "王强",
        "--event-type",
        "other",
        "--from",
        "2026-11-06",
        "--to",
        "2026-11-06T23:59:59+08:00",
        "--limit",
        "5",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "打了个电话 138****8000" in out
    assert "13800138000" not in out
    assert "2026-11-06 09:00:00" in out
    assert "王强" in out
    assert "微信客户七 (7)" in out
    assert "跟进 500 元" not in out  # crm5: the 7th, outside the range
    assert "1 条" in out
    for heading in ("操作时间", "操作人", "部门", "事件类型", "操作事件", "客户", "来源"):
        assert heading in out

    more = run_cli(settings, "history", "--limit", "2")
    assert more.returncode == 0, more.stderr
    assert "2 条,还有更多" in more.stdout
    assert "导出客户数据" in more.stdout  # r7, the newest
    # the terminal read is in the access log like any other
    [entry] = [
        e
        for e in fetch(client, cast["zhouhao"].headers, ACCESS_LOG)["items"]
        if e["clientAddr"] == "cli"
    ][-1:]
    assert entry["action"] == "history"
    assert entry["filters"]["phone"] == "137****7000"
    assert entry["rowCount"] == 1


def test_as_applies_the_accounts_scope_and_masking(
    settings: Settings, cast: Cast, trail: Trail
) -> None:
    mine = run_cli(settings, "history", "--as", "zhangwei")
    assert mine.returncode == 0, mine.stderr
    assert "4 条" in mine.stdout  # r1, r2, r5 and the CRM's row with 张伟 of his company
    assert "李四" not in mine.stdout
    assert "王强" not in mine.stdout

    admin = run_cli(settings, "history", "--as", "zhouhao", "--q", "电话")
    assert admin.returncode == 0, admin.stderr
    assert "打了个电话 13800138000" in admin.stdout  # a 系统管理员 sees numbers in full


def test_bad_arguments_exit_non_zero_with_a_chinese_message(settings: Settings, cast: Cast) -> None:
    for args, message in (
        (("--from", "昨天"), "from 不是合法的 ISO 8601 时间"),
        (("--limit", "0"), "limit 必须在 1 到 200 之间"),
        (("--as", "nobody"), "账号 nobody 不存在"),
    ):
        result = run_cli(settings, "history", *args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
