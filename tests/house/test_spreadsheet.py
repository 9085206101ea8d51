"""The Excel writer every export uses (server/spreadsheet.py), read back with openpyxl."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from server.spreadsheet import workbook_bytes, xlsx_response


def _sheet(body: bytes):  # type: ignore[no-untyped-def]
    book = load_workbook(io.BytesIO(body))
    return book.active


def test_the_sheet_holds_titles_chinese_headers_rows_and_totals() -> None:
    body = workbook_bytes(
        sheet_title="报名名单",
        title_lines=["劳模进校园", "株洲市第一中学"],
        headers=["姓名", "课时"],
        rows=[["张三", 2], ["李四", 3.5]],
        totals=["合计", 5.5],
    )
    sheet = _sheet(body)
    assert sheet.title == "报名名单"
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "劳模进校园"
    assert values[1][0] == "株洲市第一中学"
    assert ["姓名", "课时"] in values
    assert values[-3:] == [["张三", 2], ["李四", 3.5], ["合计", 5.5]]
    assert sheet.cell(row=sheet.max_row, column=1).font.bold


def test_text_that_looks_like_a_formula_stays_text() -> None:
    typed = ['=HYPERLINK("http://evil.example","点我")', "+86 138", "-1+1", "@SUM(A1)"]
    sheet = _sheet(
        workbook_bytes(sheet_title="x", title_lines=[], headers=["名字"], rows=[[t] for t in typed])
    )
    cells = [sheet.cell(row=row, column=1) for row in range(2, 2 + len(typed))]
    assert all(cell.data_type == "s" for cell in cells)
    assert [cell.value for cell in cells] == ["'" + t for t in typed]


def test_aware_times_are_written_as_the_local_times_given() -> None:
    at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    sheet = _sheet(workbook_bytes(sheet_title="x", title_lines=[], headers=["时间"], rows=[[at]]))
    assert sheet.cell(row=2, column=1).value == datetime(2026, 5, 1, 9, 30)


def test_the_download_names_the_file_in_chinese_and_is_never_cached() -> None:
    response = xlsx_response(b"PK", "报名-2026.xlsx")
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E6%8A%A5%E5%90%8D-2026.xlsx" in disposition
    assert 'filename="__-2026.xlsx"' in disposition
    assert response.headers["Cache-Control"] == "no-store"
