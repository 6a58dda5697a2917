"""``infotrack export``: the real command writes a file that real readers open."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
from fastapi.testclient import TestClient

from infotrack.config import Settings
from infotrack.exports.columns import HEADERS
from tests.conftest import cli_env, run_cli
from tests.exports.conftest import read_csv
from tests.history.conftest import ACCESS_LOG, Cast, Trail, fetch

ID, EVENT = HEADERS.index("ID"), HEADERS.index("操作事件")


def test_xlsx_to_a_file_with_an_accounts_scope(
    client: TestClient, settings: Settings, cast: Cast, trail: Trail, tmp_path: Path
) -> None:
    target = tmp_path / "周报.xlsx"
    result = run_cli(
        settings,
        "export",
        "--format",
        "xlsx",
        "--out",
        str(target),
        "--as",
        "wangqiang",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-08",
    )
    assert result.returncode == 0, result.stderr
    # 王强 (经理, 销售一部) sees his department's rows, phones masked.
    expected = {trail.ids[t] for t in ("r1", "r2", "r5", "r6", "crm1", "crm3", "crm5")}
    sheet = openpyxl.load_workbook(target)["操作记录"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert {row[ID] for row in rows} == expected
    assert "打了个电话 138****8000" in [row[EVENT] for row in rows]
    assert f"已导出 {len(expected)} 条记录" in result.stderr
    assert "导出中" not in result.stderr, "no progress bar when stderr is not a terminal"
    assert list(tmp_path.glob("*.part")) == []
    entry = fetch(client, cast["sunli"].headers, ACCESS_LOG)["items"][0]
    assert (entry["action"], entry["rowCount"], entry["operatorName"]) == (
        "export",
        len(expected),
        "王强",
    )


def test_csv_to_standard_output_reads_everything_masked_without_an_account(
    settings: Settings, trail: Trail
) -> None:
    result = subprocess.run(  # bytes: the CRLF line ends must arrive untouched
        [sys.executable, "-m", "infotrack", "export", "--format", "csv", "--out", "-"],
        capture_output=True,
        env=cli_env(settings),
        cwd=settings.data_dir,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    rows = read_csv(result.stdout)
    assert rows[0] == list(HEADERS)
    assert {int(row[ID]) for row in rows[1:]} == set(trail.ids.values())
    text = result.stdout.decode("utf-8")
    assert "13800138000" not in text
    assert "138****8000" in text
    assert result.stderr == b""  # nothing but the file on stdout, and no chatter when piped


def test_over_the_limit_writes_nothing_and_says_why(
    settings: Settings, trail: Trail, tmp_path: Path
) -> None:
    target = tmp_path / "all.csv"
    result = run_cli(
        settings,
        "export",
        "--format",
        "csv",
        "--out",
        str(target),
        extra_env={"INFOTRACK_EXPORT_MAX_ROWS_CSV": "5"},
    )
    assert result.returncode == 1
    assert "超过 CSV 导出上限 5 条" in result.stderr
    assert list(tmp_path.glob("all.csv*")) == []


def test_bad_format_and_unknown_account_are_clear_errors(
    settings: Settings, trail: Trail, tmp_path: Path
) -> None:
    bad = run_cli(settings, "export", "--format", "docx", "--out", str(tmp_path / "x.docx"))
    assert bad.returncode == 1
    assert "format 只能是 xlsx、csv 或 pdf" in bad.stderr
    nobody = run_cli(
        settings, "export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--as", "nobody"
    )
    assert nobody.returncode == 1
    assert "账号 nobody 不存在" in nobody.stderr
    assert list(tmp_path.glob("x.*")) == []


def test_a_terminal_sees_a_progress_bar(settings: Settings, trail: Trail, tmp_path: Path) -> None:
    target = tmp_path / "all.csv"
    result = run_cli(
        settings,
        "export",
        "--format",
        "csv",
        "--out",
        str(target),
        extra_env={"FORCE_COLOR": "1"},  # rich's switch for "this is a terminal"
    )
    assert result.returncode == 0, result.stderr
    assert "导出中" in result.stderr
    assert "12/12" in result.stderr
    assert target.exists()
