"""群众需求清单 over HTTP: a community's needs of one month (Beijing time) as an .xlsx file that
Excel opens, with Chinese headers and a Chinese file name; a bad month is a clear 400."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import quote
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from server.core.clock import utcnow
from server.needs.export import EXPORT_COLUMNS, HEADER_ROW
from server.needs.models import Need, NeedEvent
from server.needs.reports import XLSX
from tests.needs.conftest import BUILDING, PHONE, Roles, accept, assign, finish, post, submit

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
HEADERS = [header for _key, header in EXPORT_COLUMNS]


async def created_at(need_id: int, moment: dt.datetime) -> None:
    await Need.filter(id=need_id).update(created_at=moment)


async def export(
    client: TestClient, roles: Roles, month: str | None = None, who: str = "secretary"
):
    params = {"month": month} if month is not None else {}
    return await client.get(
        f"/api/v1/communities/{roles.town.community.id}/needs.xlsx",
        params=params,
        headers=roles.h(who),
    )


def rows_of(content: bytes) -> tuple[openpyxl.Workbook, list[list[object]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook["需求清单"]
    return workbook, [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_a_month_of_needs_as_a_spreadsheet(client: TestClient, roles: Roles) -> None:
    # 00:30 on 1 November in Beijing is still 31 October in UTC: it belongs to November
    first = await submit(client, roles, description=f"水管漏水，电话 {PHONE}")
    await created_at(first, dt.datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    second = await submit(client, roles, "far-resident", title="楼道灯坏了", category="safety")
    await created_at(second, dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    task_id = await assign(client, roles, second, "volunteer")
    await finish(client, roles, task_id, "volunteer")
    await post(
        client,
        roles,
        "far-resident",
        f"/api/v1/needs/{second}/confirm",
        {"rating": 4, "comment": '=HYPERLINK("x")'},
    )
    await NeedEvent.create(
        need_id=first, action="escalate", from_status="submitted", to_status="submitted"
    )
    october = await submit(client, roles, title="十月的需求")  # 23:30 on 31 October in Beijing
    await created_at(october, dt.datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    december = await submit(client, roles, title="十二月的需求")
    await created_at(december, dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    elsewhere = await post(
        client,
        roles,
        "other-resident",
        "/api/v1/needs",
        {"category": "other", "title": "别的社区", "description": "别的社区的需求"},
    )
    await created_at(elsewhere["need"]["id"], dt.datetime(2026, 11, 10, tzinfo=UTC))

    response = await export(client, roles, "2026-11")
    assert response.status == 200, await response.text()
    assert response.content_type == XLSX
    disposition = response.headers["Content-Disposition"]
    name = quote("测试社区-2026年11月-群众需求清单.xlsx", safe="")
    community = roles.town.community.id
    assert disposition == (
        f"attachment; filename=\"needs-{community}-2026-11.xlsx\"; filename*=UTF-8''{name}"
    )

    workbook, rows = rows_of(await response.read())
    assert rows[0][0] == "测试社区 2026年11月 群众需求清单"
    assert rows[HEADER_ROW - 1] == HEADERS
    data = [dict(zip(HEADERS, row, strict=True)) for row in rows[HEADER_ROW:]]
    assert [row["编号"] for row in data] == [first, second]
    one, two = data
    assert one["提交时间"] == dt.datetime(2026, 11, 1, 0, 30)  # Beijing wall-clock time
    assert (one["类别"], one["紧急程度"], one["状态"], one["网格"]) == (
        "日常生活",
        "紧急",
        "已提交",
        "1号楼",
    )
    assert (one["楼栋/地址"], one["提交人"], one["代办人"], one["承接志愿者"]) == (
        BUILDING,
        "王**",
        None,
        None,
    )
    assert PHONE not in one["描述"] and "138****5678" in one["描述"]
    assert one["是否超时"] == "是"  # it was escalated
    assert (two["类别"], two["状态"], two["承接志愿者"], two["评分"]) == (
        "安全管理",
        "已评价",
        "volunteer",
        4,
    )
    assert two["评价"] == '=HYPERLINK("x")'  # stored as text, never as a formula
    assert isinstance(two["完成时间"], dt.datetime) and two["是否超时"] == "否"
    stats = [list(row) for row in workbook["统计"].iter_rows(values_only=True)]
    assert ["合计", 2] in stats


async def test_without_a_month_it_is_this_month(client: TestClient, roles: Roles) -> None:
    need_id = await submit(client, roles)
    response = await export(client, roles)
    assert response.status == 200
    month = utcnow().astimezone(SHANGHAI).strftime("%Y-%m")
    assert (
        f"needs-{roles.town.community.id}-{month}.xlsx" in response.headers["Content-Disposition"]
    )
    _, rows = rows_of(await response.read())
    assert [row[0] for row in rows[HEADER_ROW:]] == [need_id]


async def test_an_empty_month_has_the_headers_and_no_rows(client: TestClient, roles: Roles) -> None:
    await accept(client, roles, await submit(client, roles))
    response = await export(client, roles, "2030-02")
    _, rows = rows_of(await response.read())
    assert rows[HEADER_ROW - 1] == HEADERS and rows[HEADER_ROW:] == []


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "202611", "2026-1", "十一月", "1999-12", "2026-11-01"]
)
async def test_a_bad_month_is_a_clear_400(client: TestClient, roles: Roles, month: str) -> None:
    response = await export(client, roles, month)
    body = await response.json()
    assert (response.status, body["error"]["code"]) == (400, "invalid_month")
    assert "YYYY-MM" in body["error"]["message"]
