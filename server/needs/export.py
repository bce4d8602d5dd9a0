"""The monthly needs list (群众需求清单) as an Excel workbook: rows in, ``.xlsx`` bytes out.

The workbook is built in openpyxl's write-only mode so a community with thousands of needs a
month is streamed row by row instead of held as cell objects. Write-only sheets are written top
to bottom, so everything that sits before the rows in the file (frozen panes, column widths) is
set before the first row is appended; the auto filter sits after the rows, so its range is set
once the rows are counted.

Text from residents is always stored as a string cell marked "quote prefix", never as a formula:
a description starting with ``=``, ``+``, ``-`` or ``@`` shows as typed and stays text even when a
secretary edits the cell (formula injection).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

SHANGHAI = ZoneInfo("Asia/Shanghai")

# (row key, header): the order of the columns. Values are display values: Chinese labels for
# category/urgency/status (not enum codes), names, aware datetimes, numbers, a bool for 是否超时.
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "编号"),
    ("created_at", "提交时间"),
    ("category", "类别"),
    ("title", "标题"),
    ("description", "描述"),
    ("urgency", "紧急程度"),
    ("grid", "网格"),
    ("address", "楼栋/地址"),
    ("reporter", "提交人"),
    ("entered_by", "代办人"),
    ("status", "状态"),
    ("volunteer", "承接志愿者"),
    ("done_at", "完成时间"),
    ("rating", "评分"),
    ("rating_comment", "评价"),
    ("overdue", "是否超时"),
)

# Widths in Excel character units; a Chinese character takes about two. Fixed per column because
# a streamed sheet cannot be measured before its columns are written.
COLUMN_WIDTHS: dict[str, float] = {
    "id": 10,
    "created_at": 17,
    "category": 10,
    "title": 28,
    "description": 50,
    "urgency": 10,
    "grid": 14,
    "address": 28,
    "reporter": 10,
    "entered_by": 10,
    "status": 12,
    "volunteer": 12,
    "done_at": 17,
    "rating": 6,
    "rating_comment": 36,
    "overdue": 10,
}
WRAPPED_COLUMNS = frozenset({"title", "description", "address", "rating_comment"})

SHEET_TITLE = "需求清单"
STATS_SHEET_TITLE = "统计"
HEADER_ROW = 3  # title, generated time, then the header
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
# Excel and WPS read a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
UNFILLED = "（未填写）"

_MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_TITLE_FONT = Font(bold=True, size=14)
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOP = Alignment(vertical="top")
_WRAPPED = Alignment(vertical="top", wrap_text=True)
_CENTER = Alignment(horizontal="center", vertical="center")


def build_needs_workbook(
    rows: Iterable[Mapping[str, object]],
    *,
    community_name: str,
    month: str,
    generated_at: datetime,
    timezone: tzinfo = SHANGHAI,
) -> bytes:
    """The needs of one community and month as ``.xlsx`` bytes, with a 统计 (counts) sheet.

    ``month`` is "YYYY-MM". Datetimes must be timezone-aware and are shown in ``timezone``;
    a missing key or None is an empty cell. Enum values are refused: pass their Chinese labels.
    Blocking (CPU and temporary files): fetch the rows first, then run this in a thread.
    """
    match = _MONTH_RE.fullmatch(month)
    if match is None:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    year, month_number = match.group(1), int(match.group(2))

    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = workbook.create_sheet(SHEET_TITLE)
    # Before the first append: these are written at the top of the sheet's XML.
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    for index, (key, _header) in enumerate(EXPORT_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = COLUMN_WIDTHS[key]

    title = f"{community_name} {year}年{month_number}月 群众需求清单"
    sheet.append([_text_cell(sheet, title, font=_TITLE_FONT)])
    generated = _local(generated_at, timezone).strftime("%Y-%m-%d %H:%M")
    sheet.append([_text_cell(sheet, f"生成时间：{generated}")])
    sheet.append(
        [
            _text_cell(sheet, header, font=_BOLD, fill=_HEADER_FILL, alignment=_CENTER)
            for _key, header in EXPORT_COLUMNS
        ]
    )

    by_category: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    count = 0
    try:
        for row in rows:
            sheet.append(
                [_value_cell(sheet, key, row.get(key), timezone) for key, _header in EXPORT_COLUMNS]
            )
            by_category[_label(row.get("category"))] += 1
            by_status[_label(row.get("status"))] += 1
            count += 1
        last_column = get_column_letter(len(EXPORT_COLUMNS))
        # Written after the rows, so the range can include them all.
        sheet.auto_filter.ref = f"A{HEADER_ROW}:{last_column}{HEADER_ROW + count}"
        _write_stats(workbook, title=title, by_category=by_category, by_status=by_status)
    except BaseException:
        _discard(workbook)
        raise

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _discard(workbook: Workbook) -> None:
    """Finish a half-written workbook: write-only sheets stream to temporary files on disk, and
    saving is what closes and removes them."""
    with contextlib.suppress(Exception):
        workbook.save(io.BytesIO())


def _write_stats(
    workbook: Workbook, *, title: str, by_category: Counter[str], by_status: Counter[str]
) -> None:
    sheet: WriteOnlyWorksheet = workbook.create_sheet(STATS_SHEET_TITLE)
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 10
    sheet.append([_text_cell(sheet, f"{title} 统计", font=_TITLE_FONT)])
    for heading, label, counts in (
        ("按类别", "类别", by_category),
        ("按状态", "状态", by_status),
    ):
        sheet.append([])
        sheet.append([_text_cell(sheet, heading, font=_BOLD)])
        sheet.append(
            [
                _text_cell(sheet, label, font=_BOLD, fill=_HEADER_FILL),
                _text_cell(sheet, "数量", font=_BOLD, fill=_HEADER_FILL),
            ]
        )
        for name, number in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            sheet.append([_text_cell(sheet, name), number])
        sheet.append([_text_cell(sheet, "合计", font=_BOLD), sum(counts.values())])


def _label(value: object) -> str:
    if value is None or value == "":
        return UNFILLED
    if isinstance(value, Enum):
        raise TypeError(f"pass the Chinese label of {value!r}, not the enum")
    return str(value)


def _local(moment: datetime, timezone: tzinfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone)


def _value_cell(
    sheet: WriteOnlyWorksheet, key: str, value: object, timezone: tzinfo
) -> WriteOnlyCell | None:
    """One data cell: blank for None, 是/否 for bools, local datetimes, numbers, or text."""
    alignment = _WRAPPED if key in WRAPPED_COLUMNS else _TOP
    if value is None:
        return None
    if isinstance(value, Enum):
        raise TypeError(f"column {key!r}: pass the Chinese label of {value!r}, not the enum")
    if isinstance(value, bool):
        return _text_cell(sheet, "是" if value else "否", alignment=alignment)
    if isinstance(value, datetime):
        # Excel has no time zones: store the local wall-clock time, shown as YYYY-MM-DD HH:MM.
        local = _local(value, timezone).replace(tzinfo=None)
        cell = WriteOnlyCell(sheet, value=local)
        cell.number_format = DATETIME_FORMAT
        cell.alignment = alignment
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        cell.alignment = alignment
        return cell
    if isinstance(value, int | float | Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.alignment = alignment
        return cell
    return _text_cell(sheet, str(value), alignment=alignment)


def _text_cell(
    sheet: WriteOnlyWorksheet,
    text: str,
    *,
    font: Font | None = None,
    fill: PatternFill | None = None,
    alignment: Alignment | None = None,
) -> WriteOnlyCell:
    """A cell that is always a string, never a formula or an error code, whatever the text."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)  # control characters make Excel refuse the file
    cell = WriteOnlyCell(sheet, value=text)  # openpyxl cuts text at Excel's 32,767 characters
    cell.data_type = "s"  # openpyxl would store "=..." as a formula and "#N/A" as an error
    if text.startswith(FORMULA_PREFIXES):
        cell.quotePrefix = True  # Excel keeps it text even after the cell is edited
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if alignment is not None:
        cell.alignment = alignment
    return cell
