"""Excel exports (openpyxl): the one way the rooms write a spreadsheet for staff.

A sheet is a few title lines (what, whose, which dates), a bold header row in Chinese,
the rows and, optionally, a bold totals row. Text that a spreadsheet would run as a
formula (a name typed as ``=HYPERLINK(...)``) is written as text: openpyxl stores any
string starting with ``=`` as a formula, and Excel also acts on ``+ - @`` and control
characters (CSV/formula injection, OWASP).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import quote

from aiohttp import web
from openpyxl import Workbook
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

CellValue = str | int | float | date | datetime | None

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _safe(value: CellValue) -> CellValue:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # shown as typed, never evaluated
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: pass local times
    return value


def workbook_bytes(
    *,
    sheet_title: str,
    title_lines: Sequence[str],
    headers: Sequence[str],
    rows: Iterable[Sequence[CellValue]],
    totals: Sequence[CellValue] | None = None,
) -> bytes:
    """The .xlsx file. Times must already be in the reader's zone (Asia/Shanghai)."""
    book = Workbook()
    book.remove(book.worksheets[0])
    sheet = book.create_sheet(sheet_title[:31])  # Excel's limit on a sheet's name
    bold = Font(bold=True)
    for line in title_lines:
        sheet.append([_safe(line)])
    if title_lines:
        sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
        sheet.append([])
    sheet.append([_safe(header) for header in headers])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = bold
    widths = [len(header) * 2 + 2 for header in headers]
    for row in rows:
        sheet.append([_safe(value) for value in row])
        for index, value in enumerate(row[: len(widths)]):
            widths[index] = max(widths[index], min(len(str(value)) + 2, 60))
    if totals is not None:
        sheet.append([_safe(value) for value in totals])
        for cell in sheet[sheet.max_row]:
            cell.font = bold
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row_cells in sheet.iter_rows(min_row=header_row + 1):
        for cell in row_cells:
            if isinstance(cell, SheetCell) and isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_response(body: bytes, filename: str) -> web.Response:
    """A download: ``filename`` may be Chinese (RFC 6266 ``filename*``, with an ASCII
    fallback), never cached by a proxy (it holds personal data)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return web.Response(
        body=body,
        content_type=XLSX_CONTENT_TYPE,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
            ),
            "Cache-Control": "no-store",
        },
    )
