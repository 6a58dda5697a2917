"""``GET /api/information-tracking/export``: the history as a file, read back with real readers.

An export must hold exactly what the same reader's history shows (scope, filters, masking),
in the order history shows it.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from infotrack.config import DEFAULT_ROLE_SCOPES, Settings
from infotrack.db import Sources
from infotrack.exports import service as export_service
from infotrack.exports.columns import HEADERS
from tests.exports.conftest import EXPORT, attachment_name, download, read_csv
from tests.history.conftest import (
    ACCESS_LOG,
    CAST,
    RECORDS,
    U1,
    Cast,
    ClientFactory,
    Trail,
    append,
    fetch,
    local,
    walk,
)
from tests.tracking.conftest import assert_error

WEEK = {"from": "2026-11-02", "to": "2026-11-08"}
ID, NAME, SOURCE, LABEL, EVENT, TIME = (
    HEADERS.index(h) for h in ("ID", "客户名称", "客户来源", "事件类型", "操作事件", "操作时间")
)
SOURCES = {"wechat": "微信", "primary": "CRM"}


def expected_row(item: dict[str, Any], seq: int) -> list[str]:
    """A CSV row as the history item says it should read."""
    return [
        str(seq),
        str(item["id"]),
        item["tracompany"] or "",
        item["tradepartment"] or "",
        item["traorganization"] or "",
        item["trarole"] or "",
        item["trauserName"] or "",
        item["traassistant"] or "",
        item["userId"] or "",
        item["customerName"] or "",
        SOURCES[item["source"]],
        item["eventLabel"],
        item["operationEvent"] or "",
        item["operationTime"][:19].replace("T", " "),
    ]


@pytest.mark.parametrize("username", list(CAST))
def test_csv_holds_exactly_what_history_shows_the_same_reader(
    client: TestClient, cast: Cast, trail: Trail, username: str
) -> None:
    headers = cast[username].headers
    items = walk(client, RECORDS, headers)
    rows = read_csv(download(client, headers, "csv").content)
    assert rows[0] == list(HEADERS)
    assert rows[1:] == [expected_row(item, seq) for seq, item in enumerate(items, start=1)]


def test_csv_answer_is_a_named_uncached_attachment(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    response = download(client, cast["zhouhao"].headers, "csv", **WEEK)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert attachment_name(response) == "操作记录_2026-11-02_2026-11-08.csv"
    ascii_part = response.headers["content-disposition"].split(";")[1].strip()
    assert ascii_part == 'filename="records_2026-11-02_2026-11-08.csv"'
    rows = read_csv(response.content)
    assert len(rows) == 1 + 12
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(1, 13)]


def test_filters_narrow_the_export_as_they_narrow_history(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    headers = cast["zhouhao"].headers
    for params in (
        {"phoneNumber": "+86 138 0013 8000"},
        {"operator": "李四", "from": "2026-11-03", "to": "2026-11-05"},
        {"eventType": "view_detail"},
        {"source": "primary"},
        {"department": "销售一部", "q": "跟进"},
    ):
        items = walk(client, RECORDS, headers, **params)
        rows = read_csv(download(client, headers, "csv", **params).content)
        assert [int(row[ID]) for row in rows[1:]] == [item["id"] for item in items], params
        assert items, f"{params} should match something"


def test_phone_numbers_are_masked_unless_the_role_may_see_them(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    crm3 = str(trail.ids["crm3"])
    masked = read_csv(download(client, cast["wangqiang"].headers, "csv").content)
    plain = read_csv(download(client, cast["qianjun"].headers, "csv").content)
    assert [r[EVENT] for r in masked if r[ID] == crm3] == ["打了个电话 138****8000"]
    assert [r[EVENT] for r in plain if r[ID] == crm3] == ["打了个电话 13800138000"]
    assert "13800138000" not in "".join("".join(r) for r in masked)


FORMULAS = [
    '=HYPERLINK("http://example.invalid","点我")',
    "+SUM(1,2)",
    "-2+3 折扣",
    "@cmd",
    "\tTAB 开头",
]


def formula_rows(sources: Sources, settings: Settings, cast: Cast) -> dict[int, str]:
    """Records whose event text a spreadsheet would run as a formula; id -> text."""
    operator = cast["zhangwei"].operator
    return {
        append(sources, settings, operator, U1, "other", text, local("2026-11-09 10:00:00")): text
        for text in FORMULAS
    }


def test_formula_like_cells_are_neutralised_in_csv(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    texts = formula_rows(sources, settings, cast)
    rows = read_csv(download(client, cast["zhouhao"].headers, "csv").content)
    events = {int(row[ID]): row[EVENT] for row in rows[1:]}
    assert events == {row_id: "'" + text for row_id, text in texts.items()}


def test_formula_like_cells_are_text_in_xlsx_and_read_the_same(
    client: TestClient, sources: Sources, settings: Settings, cast: Cast
) -> None:
    texts = formula_rows(sources, settings, cast)
    content = download(client, cast["zhouhao"].headers, "xlsx").content
    sheet = openpyxl.load_workbook(io.BytesIO(content))["操作记录"]
    seen = {}
    for row in sheet.iter_rows(min_row=2):
        cell = row[EVENT]
        assert cell.data_type == "s"
        assert cell.quotePrefix, "Excel must keep it text even when edited"
        seen[row[ID].value] = cell.value
    assert seen == texts


def test_xlsx_is_a_real_workbook_with_dates_frozen_header_filter_and_about_sheet(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    headers = cast["zhouhao"].headers
    items = walk(client, RECORDS, headers, **WEEK)
    response = download(client, headers, "xlsx", **WEEK)
    assert attachment_name(response) == "操作记录_2026-11-02_2026-11-08.xlsx"
    assert response.headers["content-length"] == str(len(response.content))
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["操作记录", "导出说明"]
    sheet = book["操作记录"]
    assert [c.value for c in sheet[1]] == list(HEADERS)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:N{len(items) + 1}"
    assert sheet.column_dimensions["M"].width > 40  # 操作事件 is wide
    data = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[ID] for row in data] == [item["id"] for item in items]
    assert [row[0] for row in data] == list(range(1, len(items) + 1))
    first = data[0]
    assert isinstance(first[TIME], datetime)
    assert first[TIME] == datetime.fromisoformat(items[0]["operationTime"]).replace(tzinfo=None)
    assert "yy" in sheet.cell(row=2, column=TIME + 1).number_format
    assert first[NAME] == items[0]["customerName"]

    about = {row[0]: row[1] for row in book["导出说明"].iter_rows(min_row=2, values_only=True)}
    assert about["导出人"] == "周浩"
    assert about["记录数"] == str(len(items))
    assert about["时间范围"] == "2026-11-02 00:00:00 至 2026-11-08 23:59:59"
    assert about["数据范围"] == "全部"
    assert about["导出时间"].startswith(datetime.now().strftime("%Y-"))


def test_pdf_reads_back_chinese_masked_and_names_its_exporter(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    response = download(client, cast["wangqiang"].headers, "pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert attachment_name(response).endswith(".pdf")
    reader = PdfReader(io.BytesIO(response.content))
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)  # landscape
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "客户操作记录" in text
    assert "操作事件" in text
    assert "王强" in text  # exported by, in the heading and the watermark
    assert "打了个电话 138****8000" in text
    assert "13800138000" not in text
    assert f"第 1 页 / 共 {len(reader.pages)} 页" in text


def test_over_the_row_limit_is_refused_and_logged_as_an_attempt(
    client_with: ClientFactory, cast: Cast, trail: Trail
) -> None:
    # A group-level auditor: reads every company's rows, and (not administering accounts)
    # the access-log entries of their own exports.
    client = client_with(export_max_rows_pdf=5, role_scopes={**DEFAULT_ROLE_SCOPES, "审计": "all"})
    headers = cast["sunli"].headers
    response = client.get(EXPORT, params={"format": "pdf"}, headers=headers)
    assert_error(response, 400, "export_too_large")
    message = response.json()["message"]
    assert "有 12 条" in message
    assert "上限 5 条" in message
    assert "缩小" in message
    download(client, headers, "csv")  # CSV keeps its own (higher) limit
    entries = fetch(client, headers, ACCESS_LOG, limit=200)["items"]
    logged = [
        (e["action"], e["rowCount"], e["filters"]["format"])
        for e in entries
        if e["action"].startswith("export")
    ]
    # Newest first: the CSV that was exported, the PDF that was refused (nothing exported).
    assert logged == [("export", 12, "csv"), ("export_refused", 12, "pdf")]


def test_every_export_is_in_the_access_log_with_its_row_count(
    client: TestClient, cast: Cast, trail: Trail
) -> None:
    download(client, cast["wangqiang"].headers, "xlsx", department="销售一部")
    entries = fetch(client, cast["sunli"].headers, ACCESS_LOG)["items"]
    export = next(e for e in entries if e["action"] == "export")
    assert export["operatorName"] == "王强"
    assert export["filters"] == {"department": "销售一部", "format": "xlsx"}
    assert export["rowCount"] == len(walk(client, RECORDS, cast["wangqiang"].headers))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_export_format"),
        ({"format": "docx"}, "invalid_export_format"),
        ({"format": "csv", "from": "2026-11-09", "to": "2026-11-01"}, "invalid_range"),
        ({"format": "csv", "eventType": "bogus"}, "unknown_event_type"),
        ({"format": "xlsx", "from": "yesterday"}, "invalid_time"),
    ],
)
def test_bad_requests_are_refused_clearly_and_leave_no_trace(
    client: TestClient, cast: Cast, trail: Trail, params: dict[str, str], code: str
) -> None:
    # 审计: reads the access log, their own entries included (系统管理员 would not see theirs)
    headers = cast["sunli"].headers
    assert_error(client.get(EXPORT, params=params, headers=headers), 400, code)
    entries = fetch(client, headers, ACCESS_LOG)["items"]
    assert [e["action"] for e in entries] == []  # not even an attempt


def test_export_needs_a_signed_in_reader(client: TestClient, trail: Trail) -> None:
    assert client.get(EXPORT, params={"format": "csv"}).status_code == 401


def test_chunks_of_the_stream_meet_exactly_even_across_equal_times(
    client: TestClient,
    sources: Sources,
    settings: Settings,
    cast: Cast,
    trail: Trail,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = cast["lisi"].operator
    when = local("2026-11-05 12:00:00")  # crm2's time too
    for n in range(7):
        append(sources, settings, operator, U1, "call", f"同一秒 {n}", when)
    # Tiny chunks and a tiny name book: every boundary and every eviction is crossed.
    monkeypatch.setattr(export_service, "CHUNK_ROWS", 3)
    monkeypatch.setattr(export_service._NameBook, "LIMIT", 2)
    headers = cast["zhouhao"].headers
    items = walk(client, RECORDS, headers)
    rows = read_csv(download(client, headers, "csv").content)
    assert rows[1:] == [expected_row(item, seq) for seq, item in enumerate(items, start=1)]
    assert len(items) == 12 + 7
