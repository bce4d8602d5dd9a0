"""The monthly needs list as a secretary opens it in Excel."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import openpyxl
import pytest

from server.needs.export import EXPORT_COLUMNS, build_needs_workbook
from server.needs.models import NeedStatus

GENERATED_AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HEADERS = [header for _key, header in EXPORT_COLUMNS]


def need_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": 1024,
        "created_at": datetime(2026, 11, 3, 1, 30, tzinfo=UTC),  # 09:30 in Shanghai
        "category": "日常生活",
        "title": "楼道灯坏了",
        "description": "3号楼2单元楼道灯不亮，老人晚上下楼不方便",
        "urgency": "一般",
        "grid": "第一网格",
        "address": "阳光小区3号楼2单元502",
        "reporter": "王小明",
        "entered_by": None,
        "status": "已办结",
        "volunteer": "李娜",
        "done_at": datetime(2026, 11, 4, 18, 5, tzinfo=timezone(timedelta(hours=8))),
        "rating": 5,
        "rating_comment": "修得很快",
        "overdue": False,
    }
    row.update(overrides)
    return row


def build(rows: Iterable[dict[str, object]], **kwargs: Any) -> bytes:
    options: dict[str, Any] = {
        "community_name": "幸福里社区",
        "month": "2026-11",
        "generated_at": GENERATED_AT,
    }
    options.update(kwargs)
    return build_needs_workbook(rows, **options)


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_title_generated_time_and_headers() -> None:
    workbook = load(build([need_row()]))
    sheet = workbook["需求清单"]

    assert workbook.sheetnames == ["需求清单", "统计"]
    assert sheet["A1"].value == "幸福里社区 2026年11月 群众需求清单"
    assert sheet["A2"].value == "生成时间：2026-12-01 09:00"
    assert [cell.value for cell in sheet[3]] == HEADERS
    assert all(cell.font.bold for cell in sheet[3])
    assert sheet.freeze_panes == "A4"  # the header stays visible while scrolling
    assert sheet.auto_filter.ref == "A3:P4"
    assert sheet.column_dimensions["E"].width >= 40  # 描述 has room for a sentence


def test_a_need_row_shows_local_times_and_plain_values() -> None:
    sheet = load(build([need_row()]))["需求清单"]
    values = dict(zip(HEADERS, (cell.value for cell in sheet[4]), strict=True))

    assert values == {
        "编号": 1024,
        "提交时间": datetime(2026, 11, 3, 9, 30),
        "类别": "日常生活",
        "标题": "楼道灯坏了",
        "描述": "3号楼2单元楼道灯不亮，老人晚上下楼不方便",
        "紧急程度": "一般",
        "网格": "第一网格",
        "楼栋/地址": "阳光小区3号楼2单元502",
        "提交人": "王小明",
        "代办人": None,
        "状态": "已办结",
        "承接志愿者": "李娜",
        "完成时间": datetime(2026, 11, 4, 18, 5),
        "评分": 5,
        "评价": "修得很快",
        "是否超时": "否",
    }
    assert sheet["B4"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["M4"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["E4"].alignment.wrap_text


def test_missing_values_are_empty_cells() -> None:
    row = need_row(done_at=None, rating=None, volunteer=None, overdue=True)
    del row["rating_comment"]
    sheet = load(build([row]))["需求清单"]
    values = dict(zip(HEADERS, (cell.value for cell in sheet[4]), strict=True))

    assert values["完成时间"] is None
    assert values["评分"] is None
    assert values["承接志愿者"] is None
    assert values["评价"] is None
    assert values["是否超时"] == "是"


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "#N/A"],
)
def test_user_text_never_becomes_a_formula(text: str) -> None:
    data = build([need_row(title=text, description=text, reporter=text)])
    sheet = load(data)["需求清单"]

    for coordinate in ("D4", "E4", "I4"):
        assert sheet[coordinate].value == text
        assert sheet[coordinate].data_type == "s"
        if text[0] in "=+-@":
            assert sheet[coordinate].quotePrefix  # stays text when the secretary edits it
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert 't="e"' not in xml


def test_control_characters_in_text_do_not_break_the_file() -> None:
    sheet = load(build([need_row(description="水管\x00漏水\x1b了")]))["需求清单"]

    assert sheet["E4"].value == "水管漏水了"


def test_statistics_sheet_counts_by_category_and_status() -> None:
    rows = [
        need_row(category="日常生活", status="已办结"),
        need_row(category="环境卫生", status="已办结"),
        need_row(category="日常生活", status="服务中"),
        need_row(category=None, status="已受理"),
    ]
    sheet = load(build(rows))["统计"]
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]

    assert cells[0][0] == "幸福里社区 2026年11月 群众需求清单 统计"
    by_category = cells[cells.index(["类别", "数量"]) + 1 :]
    assert by_category[:4] == [
        ["日常生活", 2],
        ["环境卫生", 1],
        ["（未填写）", 1],
        ["合计", 4],
    ]
    by_status = cells[cells.index(["状态", "数量"]) + 1 :]
    assert by_status == [["已办结", 2], ["已受理", 1], ["服务中", 1], ["合计", 4]]


def test_an_empty_month_still_has_headers_and_zero_totals() -> None:
    workbook = load(build([]))

    assert [cell.value for cell in workbook["需求清单"][3]] == HEADERS
    assert workbook["需求清单"].auto_filter.ref == "A3:P3"
    totals = [row for row in workbook["统计"].iter_rows(values_only=True) if row[0] == "合计"]
    assert totals == [("合计", 0), ("合计", 0)]


def test_thousands_of_rows_stream_from_a_generator() -> None:
    def rows() -> Iterator[dict[str, object]]:
        for number in range(1, 3001):
            yield need_row(id=number, title=f"需求{number}")

    sheet = load(build(rows()))["需求清单"]

    assert sheet.max_row == 3 + 3000
    assert sheet.cell(row=3003, column=1).value == 3000
    assert sheet.auto_filter.ref == "A3:P3003"


def test_naive_datetimes_and_enum_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build([need_row(created_at=datetime(2026, 11, 3, 9, 30))])
    with pytest.raises(TypeError, match="Chinese label"):
        build([need_row(status=NeedStatus.CLOSED)])
    with pytest.raises(ValueError, match="YYYY-MM"):
        build([], month="2026-13")
