"""The needs list shown beyond the people working on it: the public list (需求公示) of a community
and the monthly export (群众需求清单) for its secretaries. Both show the masked view only."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from server.accounts.models import Person
from server.accounts.permissions import Principal
from server.core import errors
from server.needs.export import build_needs_workbook
from server.needs.lifecycle import OPEN_STATUSES
from server.needs.masking import address_to_building, mask_name, mask_text
from server.needs.models import (
    CATEGORY_LABELS,
    STATUS_LABELS,
    URGENCY_LABELS,
    Category,
    Need,
    NeedEvent,
    NeedStatus,
    NeedUrgency,
)
from server.needs.service import NeedFilter, page_of
from server.needs.visibility import (
    PUBLIC_STATUSES,
    NeedView,
    may_export,
    public_view,
    sees_public_list,
)
from server.org.models import Community, Grid

EXPORT_BATCH = 500  # needs per query: each batch is converted on the event loop, keep it short
MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# openpyxl and Excel handle years 1900-9999; a needs list before 2000 cannot exist
MONTH_YEARS = range(2000, 2100)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class InvalidMonth(errors.DomainError):
    status = 400
    code = "invalid_month"
    default_message = "月份格式应为 YYYY-MM，如 2026-11"


async def _community(community_id: int) -> Community:
    community = await Community.get_or_none(id=community_id)
    if community is None:
        raise errors.NotFound("找不到该社区")
    return community


# --- 需求公示 the public list -------------------------------------------------------------------


def outcome_of(need: Need) -> str:
    """How the need stands or ended, in one line a neighbour understands (pure)."""
    match need.status:
        case NeedStatus.ACCEPTED | NeedStatus.MATCHING:
            return "已受理，正在安排志愿者"
        case NeedStatus.ASSIGNED:
            return "志愿者已接单，等待上门服务"
        case NeedStatus.IN_PROGRESS:
            return "志愿者正在服务"
        case NeedStatus.DONE:
            return "服务已完成，等待居民评价"
        case NeedStatus.CONFIRMED:
            if need.rating is None:
                return "已完成（居民逾期未评价，系统自动确认）"
            return f"已完成，居民评价 {need.rating} 星"
        case NeedStatus.CLOSED:
            return "已办结"
        case NeedStatus.REOPENED:
            return "居民对结果不满意，已重新打开处理"
    return STATUS_LABELS[need.status]


def as_utc(moment: dt.datetime, field: str) -> dt.datetime:
    """A time from a query in UTC, as the database stores it (SQLite compares the text)."""
    if moment.tzinfo is None:
        raise errors.ValidationFailed(
            f"{field}：时间必须带时区，如 2026-11-01T00:00:00+08:00",
            details=[{"field": field, "location": "query"}],
        )
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class PublicNeed:
    view: NeedView
    grid_name: str
    outcome: str


@dataclass(frozen=True)
class PublicPage:
    items: list[PublicNeed]
    next_cursor: str | None


async def public_needs(
    *,
    principal: Principal,
    community_id: int,
    filters: NeedFilter,
    cursor: str | None,
    limit: int,
) -> PublicPage:
    """需求公示: the community's accepted needs and how each ended, newest first, masked.

    For anyone of the community (residents, volunteers, staff) and its street's admins.
    """
    community = await _community(community_id)
    if not sees_public_list(principal, community):
        raise errors.PermissionDenied("只有本社区的居民、志愿者和工作人员可以查看需求公示")
    statuses = [s for s in filters.statuses if s in PUBLIC_STATUSES] or list(PUBLIC_STATUSES)
    query = Need.filter(community_id=community.id, status__in=statuses)
    if filters.categories:
        query = query.filter(category__in=list(filters.categories))
    if filters.grid_id is not None:
        grid = await Grid.get_or_none(id=filters.grid_id, community_id=community.id)
        query = query.filter(grid_path__startswith=grid.path if grid else "/none/")
    if filters.created_from is not None:
        query = query.filter(created_at__gte=as_utc(filters.created_from, "created_from"))
    if filters.created_to is not None:
        query = query.filter(created_at__lt=as_utc(filters.created_to, "created_to"))
    page = await page_of(query, cursor=cursor, limit=limit)
    reporters = await Person.in_bulk({n.reporter_id for n in page.items}, "id")
    grids = dict(
        await Grid.filter(id__in=list({n.grid_id for n in page.items})).values_list("id", "name")
    )
    return PublicPage(
        items=[
            PublicNeed(
                view=public_view(need, reporters.get(need.reporter_id)),
                grid_name=str(grids.get(need.grid_id, "")),
                outcome=outcome_of(need),
            )
            for need in page.items
        ],
        next_cursor=page.next_cursor,
    )


# --- 群众需求清单 the monthly export -------------------------------------------------------------


def month_range(month: str, timezone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of the month and of the next one in the community's time zone, as UTC
    (SQLite compares stored times as text: both sides must be in the zone they are stored in)."""
    match = MONTH_RE.fullmatch(month)
    if match is None or int(match.group(1)) not in MONTH_YEARS:
        raise InvalidMonth(details={"month": month[:32], "example": "2026-11"})
    year, number = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, number, 1, tzinfo=timezone)
    following = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone)
    return start.astimezone(dt.UTC), following.astimezone(dt.UTC)


def current_month(now: dt.datetime, timezone: dt.tzinfo) -> str:
    return now.astimezone(timezone).strftime("%Y-%m")


def export_filename(community_name: str, month: str) -> str:
    """幸福里社区-2026年11月-群众需求清单.xlsx"""
    year, number = month.split("-")
    return f"{community_name}-{year}年{int(number)}月-群众需求清单.xlsx"


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the UTF-8 ``filename*``
    (RFC 6266 with the RFC 5987 encoding) that browsers and WeChat prefer."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class Export:
    filename: str
    fallback_filename: str
    content: bytes
    rows: int


EXPORT_FIELDS = (
    "id",
    "created_at",
    "category",
    "title",
    "description",
    "urgency",
    "grid_id",
    "address",
    "reporter_id",
    "entered_by_id",
    "status",
    "assignee_id",
    "done_at",
    "rating",
    "rating_comment",
    "sla_due_at",
)


async def _month_needs(
    community_id: int, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The month's needs as plain rows (no model objects), oldest first, read in batches."""
    rows: list[dict[str, Any]] = []
    last_id = 0
    while True:
        batch = (
            await Need.filter(
                community_id=community_id,
                created_at__gte=start,
                created_at__lt=end,
                id__gt=last_id,
            )
            .order_by("id")
            .limit(EXPORT_BATCH)
            .values(*EXPORT_FIELDS)
        )
        rows.extend(batch)
        if len(batch) < EXPORT_BATCH:
            return sorted(rows, key=lambda row: (row["created_at"], row["id"]))
        last_id = int(batch[-1]["id"])


async def _names(person_ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted({i for i in person_ids if i is not None})
    names: dict[int, str] = {}
    for offset in range(0, len(ids), EXPORT_BATCH):
        chunk = ids[offset : offset + EXPORT_BATCH]
        rows: list[tuple[int, str]] = await Person.filter(id__in=chunk).values_list("id", "name")
        names.update(rows)
    return names


async def _escalated(need_ids: list[int]) -> set[int]:
    escalated: set[int] = set()
    for offset in range(0, len(need_ids), EXPORT_BATCH):
        chunk = need_ids[offset : offset + EXPORT_BATCH]
        ids: list[int] = await (  # type: ignore[assignment]
            NeedEvent.filter(need_id__in=chunk, action="escalate")
            .distinct()
            .values_list("need_id", flat=True)
        )
        escalated.update(ids)
    return escalated


def export_row(
    need: dict[str, Any],
    *,
    names: dict[int, str],
    grids: dict[int, str],
    escalated: bool,
    now: dt.datetime,
) -> dict[str, object]:
    """One need as a row of the spreadsheet (pure): Chinese labels, the reporter's surname, the
    building, numbers in the text masked. 是否超时: escalated at some point, or open and late."""
    status = NeedStatus(need["status"])
    sla_due_at: dt.datetime | None = need["sla_due_at"]
    late_now = status in OPEN_STATUSES and sla_due_at is not None and sla_due_at < now

    def name(key: str) -> str | None:
        person_id: int | None = need[key]
        return names.get(person_id) if person_id is not None else None

    return {
        "id": need["id"],
        "created_at": need["created_at"],
        "category": CATEGORY_LABELS[Category(need["category"])],
        "title": mask_text(need["title"]),
        "description": mask_text(need["description"]),
        "urgency": URGENCY_LABELS[NeedUrgency(need["urgency"])],
        "grid": grids.get(need["grid_id"], ""),
        "address": address_to_building(need["address"] or ""),
        "reporter": mask_name(name("reporter_id") or ""),
        "entered_by": name("entered_by_id"),
        "status": STATUS_LABELS[status],
        "volunteer": name("assignee_id"),
        "done_at": need["done_at"],
        "rating": need["rating"],
        "rating_comment": mask_text(need["rating_comment"] or "") or None,
        "overdue": escalated or late_now,
    }


async def export_month(
    *, principal: Principal, community_id: int, month: str | None, timezone: str, now: dt.datetime
) -> Export:
    """群众需求清单: the community's needs submitted in a month (its time zone) as ``.xlsx``, for
    its secretaries and the street's admins. The workbook is built in a worker thread."""
    tz = ZoneInfo(timezone)
    month = month or current_month(now, tz)
    start, end = month_range(month, tz)
    community = await _community(community_id)
    if not may_export(principal, community):
        raise errors.PermissionDenied("只有社区书记和街道管理员可以导出需求清单")
    needs = await _month_needs(community.id, start, end)
    names = await _names(
        person_id
        for need in needs
        for person_id in (need["reporter_id"], need["entered_by_id"], need["assignee_id"])
    )
    grid_rows: list[tuple[int, str]] = await Grid.filter(community_id=community.id).values_list(
        "id", "name"
    )
    grids = dict(grid_rows)
    escalated = await _escalated([need["id"] for need in needs])

    def workbook() -> bytes:
        # in the worker thread: masking the rows is CPU work too (0.4 s for 10,000 needs)
        rows = (
            export_row(need, names=names, grids=grids, escalated=need["id"] in escalated, now=now)
            for need in needs
        )
        return build_needs_workbook(
            rows, community_name=community.name, month=month, generated_at=now, timezone=tz
        )

    return Export(
        filename=export_filename(community.name, month),
        fallback_filename=f"needs-{community.id}-{month}.xlsx",
        content=await asyncio.to_thread(workbook),
        rows=len(needs),
    )
