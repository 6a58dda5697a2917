"""The PDF writer, read back with pypdf: a pure function of its rows and description."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PageObject, PdfReader

from infotrack.errors import ConfigError
from infotrack.exports.columns import COLUMNS, HEADERS, ExportRow
from infotrack.exports.pdf_writer import BUNDLED_FONT, EMPTY_TEXT, write_pdf
from infotrack.exports.schemas import ExportMeta

A4_LANDSCAPE = (841.89, 595.28)  # points
EXPORTED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
HEADER_LINE = " ".join(HEADERS)
CJK = "客户来电咨询售后政策已说明七天无理由退货与一年质保并约定下周回访确认"


def meta(rows: int, *, exported_by: str = "王强") -> ExportMeta:
    conditions = (
        ("数据范围", "本部门"),
        ("时间范围", "2026-11-01 00:00:00 至 2026-11-27 23:59:59"),
    )
    return ExportMeta("客户操作记录", exported_by, EXPORTED_AT, rows, conditions)


def row(seq: int, **values: Any) -> ExportRow:
    defaults: dict[str, Any] = {
        "seq": seq,
        "id": 1000 + seq,
        "company": "远航科技",
        "department": "销售一部",
        "organization": "华东区",
        "role": "业务员",
        "operator": "王强",
        "assistant": None,
        "customer_id": f"C{seq:05d}",
        "customer_name": "李娜",
        "source": "微信",
        "event_type": "电话沟通",
        "event": f"第{seq}条:打了个电话 138****8000",
        "operation_time": datetime(2026, 11, 1, 9, 0) + timedelta(minutes=seq),
    }
    return ExportRow(**{**defaults, **values})


def write(
    tmp_path: Path, rows: list[ExportRow], about: ExportMeta | None = None, **kwargs: Any
) -> tuple[int, PdfReader]:
    path = tmp_path / "export.pdf"
    with path.open("wb") as out:
        # A generator, as the service hands it over: read once, never measured with len().
        count = write_pdf(iter(rows), about or meta(len(rows)), out, **kwargs)
    return count, PdfReader(path)


def texts(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


Matrix = list[float]


def resources(page: PageObject, kind: str) -> list[Any]:
    """The values of one of the page's resource dictionaries (pypdf types them loosely)."""
    found: Any = page["/Resources"]
    return list(found[kind].values())


def drawn(page: Any) -> list[tuple[str, Matrix, Matrix]]:
    """Each piece of the page's text with the matrices it was drawn under (cm, tm)."""
    found: list[tuple[str, Matrix, Matrix]] = []
    page.extract_text(visitor_text=lambda text, cm, tm, font, size: found.append((text, cm, tm)))
    return found


def pieces(page: Any) -> list[tuple[float, float, str]]:
    """The page's upright text as (x, y, text), each at the origin pypdf reports for it.

    pypdf joins the text of one font on one baseline into one piece, at the first's origin.
    """
    return [
        (tm[4], tm[5], text.strip())
        for text, cm, tm in drawn(page)
        if cm[1] == 0 and text.strip()  # upright: not the rotated watermark
    ]


def body(reader: PdfReader, stamp: str) -> str:
    """The text of every page without the watermark, the header rows and the footers."""
    kept = [
        line
        for text in texts(reader)
        for line in text.splitlines()
        if stamp not in line and line != HEADER_LINE and not re.fullmatch(r"共 \d+ 条", line)
    ]
    return "".join("".join(kept).split())


def test_a4_landscape_with_the_heading_the_header_and_the_cells(tmp_path: Path) -> None:
    rows = [row(1), row(2, assistant="张伟", source="CRM"), row(3, customer_name="欧阳娜娜")]
    count, reader = write(tmp_path, rows)

    assert count == 3
    for page in reader.pages:
        size = (float(page.mediabox.width), float(page.mediabox.height))
        assert size == pytest.approx(A4_LANDSCAPE, abs=0.01)
    text = texts(reader)[0]
    assert "客户操作记录" in text
    assert "数据范围：本部门" in text
    assert "时间范围：2026-11-01 00:00:00 至 2026-11-27 23:59:59" in text
    assert "导出人：王强" in text
    assert "导出时间：2026-11-27 09:30:00" in text
    assert "共 3 条" in text
    assert HEADER_LINE in text
    for expected in ("远航科技", "欧阳娜娜", "张伟", "CRM", "C00002", "1002"):
        assert expected in text
    assert "第2条:打了个电话 138****8000" in text  # Chinese and Latin runs join seamlessly
    assert "2026-11-01 09:03:00" in text  # TIME_FORMAT


def test_none_cells_are_empty(tmp_path: Path) -> None:
    empty: dict[str, Any] = dict.fromkeys(ExportRow._fields[2:])
    _, reader = write(tmp_path, [row(1, **empty)])

    lines = texts(reader)[0].splitlines()
    assert lines[lines.index(HEADER_LINE) + 1].strip() == "1 1001"
    assert "None" not in "".join(lines)


def test_every_page_repeats_the_header_and_names_its_number_and_the_total(
    tmp_path: Path,
) -> None:
    rows = [row(seq) for seq in range(1, 1001)]
    count, reader = write(tmp_path, rows)

    pages = texts(reader)
    total = len(pages)
    assert count == 1000
    assert total > 10
    stamp = meta(1000).stamp
    for number, text in enumerate(pages, start=1):
        assert HEADER_LINE in text
        assert f"第 {number} 页 / 共 {total} 页" in text
        assert stamp in text
    # Every row once, in order, none lost or doubled at a page break.
    whole = "\n".join(pages)
    positions = [whole.find(f"第{seq}条:") for seq in range(1, 1001)]
    assert -1 not in positions
    assert positions == sorted(positions)
    assert all(whole.count(f"第{seq}条:") == 1 for seq in (1, 10, 100, 999, 1000))


def test_a_translucent_diagonal_watermark_names_the_exporter_on_every_page(
    tmp_path: Path,
) -> None:
    _, reader = write(tmp_path, [row(seq, event=CJK * 3) for seq in range(1, 60)])
    stamp = meta(0, exported_by="王强").stamp

    assert len(reader.pages) > 1
    for page in reader.pages:
        rotated = "".join(text for text, cm, _ in drawn(page) if cm[1] != 0 and cm[2] != 0)
        assert stamp in rotated.replace("\n", "")
        alphas = [float(state.get_object()["/ca"]) for state in resources(page, "/ExtGState")]
        assert alphas
        assert all(0 < alpha <= 0.3 for alpha in alphas)


def test_a_long_event_wraps_inside_its_cell(tmp_path: Path) -> None:
    event = (CJK * 10)[:300]
    _, reader = write(tmp_path, [row(1, event=event), row(2)])

    stamp = meta(0).stamp
    assert event in body(reader, stamp)  # all of it, in order
    text = texts(reader)[0]
    # The event column's left edge and width, as columns.py shares the table out.
    table_width = A4_LANDSCAPE[0] - 2 * 28
    column = HEADERS.index("操作事件")
    left = 28 + table_width * sum(c.pdf_share for c in COLUMNS[:column])
    width = table_width * COLUMNS[column].pdf_share
    # Each CJK glyph is 1 em (8 pt) wide: so many lines, none wider than the cell.
    continued = [line for line in text.splitlines() if line and set(line) <= set(CJK)]
    assert len(continued) + 1 >= 300 * 8 / width
    assert all(len(line) * 8 <= width for line in continued)
    placed = pieces(reader.pages[0])
    ys = [y for x, y, line in placed if line in continued]
    assert all(left < x < left + 8 for x, y, line in placed if line in continued)
    assert ys == sorted(ys, reverse=True)
    # The next row starts under the last line of this one, and all of it is on the page.
    next_row = next(y for x, y, line in placed if line.startswith("2 1002"))
    assert next_row < min(ys)
    assert all(28 <= x < A4_LANDSCAPE[0] - 28 and 15 <= y <= A4_LANDSCAPE[1] for x, y, _ in placed)


def test_a_row_taller_than_a_page_continues_on_the_next(tmp_path: Path) -> None:
    event = (CJK * 120)[:4000]  # about 180 lines in its column, more than three pages' worth
    count, reader = write(tmp_path, [row(1, event=event), row(2)])

    pages = texts(reader)
    assert count == 2
    assert len(pages) >= 4
    # The time cell, drawn after the event on the row's first page, sits inside it in the text.
    assert event in body(reader, meta(0).stamp).replace("2026-11-0109:01:00", "")
    assert all(HEADER_LINE in text for text in pages)
    assert "第2条:打了个电话" in pages[-1]


def test_the_font_is_embedded_as_a_subset(tmp_path: Path) -> None:
    _, reader = write(tmp_path, [row(seq) for seq in range(1, 30)])

    fonts = [ref.get_object() for page in reader.pages for ref in resources(page, "/Font")]
    descriptors = [f["/FontDescriptor"] for f in fonts if f["/Subtype"] == "/TrueType"]
    assert descriptors
    assert all("/FontFile2" in descriptor for descriptor in descriptors)
    embedded = {d.raw_get("/FontFile2").idnum: d["/FontFile2"] for d in descriptors}
    assert sum(len(stream.get_data()) for stream in embedded.values()) < 200_000
    assert (tmp_path / "export.pdf").stat().st_size < 300_000  # the 4 MB font is not in it


def test_an_override_font_is_used(tmp_path: Path) -> None:
    font = tmp_path / "fonts" / "自定义.ttf"
    font.parent.mkdir()
    shutil.copyfile(BUNDLED_FONT, font)

    count, reader = write(tmp_path, [row(1)], font_path=font)

    assert count == 1
    assert "第1条:打了个电话 138****8000" in texts(reader)[0]


def test_a_missing_override_font_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "没有这个字体.ttf"
    with pytest.raises(ConfigError) as caught:
        write(tmp_path, [row(1)], font_path=missing)
    assert str(missing) in caught.value.message
    assert "不存在" in caught.value.message


def test_a_file_that_is_no_truetype_font_is_a_config_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"%PDF-1.4 certainly not a font\n" * 100)
    with pytest.raises(ConfigError) as caught:
        write(tmp_path, [row(1)], font_path=fake)
    assert str(fake) in caught.value.message
    assert "TrueType" in caught.value.message


def test_an_empty_export_is_a_valid_pdf_that_says_so(tmp_path: Path) -> None:
    count, reader = write(tmp_path, [])

    assert count == 0
    [text] = texts(reader)
    assert "客户操作记录" in text
    assert EMPTY_TEXT in text
    assert "共 0 条" in text
    assert "第 1 页 / 共 1 页" in text
    assert HEADER_LINE not in text


def test_the_count_is_of_the_rows_written(tmp_path: Path) -> None:
    def rows() -> Iterator[ExportRow]:
        yield from (row(1), row(2))

    path = tmp_path / "export.pdf"
    with path.open("wb") as out:
        count = write_pdf(rows(), meta(5), out)  # counted 5, but 2 came

    assert count == 2
    assert "共 2 条" in PdfReader(path).pages[0].extract_text()
