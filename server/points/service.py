"""Points (积分): rules per community, awards for approved hours, boards, honour board, levels."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.accounts.models import Person, Role, RoleGrant
from server.accounts.permissions import Action, Principal, require
from server.core import errors
from server.core.clock import utcnow
from server.notify.service import enqueue
from server.org.models import Community, Grid, GridLevel
from server.org.service import community_place
from server.passbook.models import HoursClaim
from server.points import boards, periods
from server.points.models import HonourBoard, PointsAward, PointsRule
from server.points.periods import Period
from server.points.rules import (
    DEFAULT_RULE,
    HonourEntry,
    MonthTotal,
    Rule,
    honour_ranking,
    points_for,
)

RULE_FIELDS = tuple(Rule.__dataclass_fields__)


async def get_rule(*, community_id: int, connection: BaseDBAsyncClient | None = None) -> Rule:
    """The community's points rules (the defaults while it has none of its own)."""
    row = await PointsRule.get_or_none(community_id=community_id, using_db=connection)
    if row is None:
        return DEFAULT_RULE
    return Rule(**{name: getattr(row, name) for name in RULE_FIELDS})


async def community_rule(*, community_id: int) -> Rule:
    """The points rules of an existing community (404 otherwise)."""
    await community_place(community_id=community_id)
    return await get_rule(community_id=community_id)


async def update_rule(*, principal: Principal, community_id: int, changes: dict[str, Any]) -> Rule:
    """Change some of the community's points rules (secretary or street admin)."""
    _, place = await community_place(community_id=community_id)
    require(principal, Action.MANAGE_PASSBOOK, place)
    current = await get_rule(community_id=community_id)
    values = {name: changes.get(name, getattr(current, name)) for name in RULE_FIELDS}
    async with in_transaction() as connection:
        await PointsRule.bulk_create(
            [PointsRule(community_id=community_id, **values)],
            ignore_conflicts=True,
            using_db=connection,
        )
        await PointsRule.filter(community_id=community_id).using_db(connection).update(**values)
    return Rule(**values)


async def volunteer_grid(
    *, person_id: int, community_id: int, connection: BaseDBAsyncClient | None = None
) -> tuple[int | None, str]:
    """A volunteer's grid: their household's grid if they live in the community, else the
    community grid (level 1); (None, "") when the community has no grid."""
    grant = (
        await RoleGrant.filter(
            person_id=person_id,
            community_id=community_id,
            role=Role.RESIDENT,
            household_id__isnull=False,
        )
        .using_db(connection)
        .order_by("id")
        .first()
    )
    if grant is not None and grant.grid_id is not None and grant.grid_path:
        return grant.grid_id, grant.grid_path
    top = (
        await Grid.filter(community_id=community_id, level=GridLevel.COMMUNITY)
        .using_db(connection)
        .order_by("id")
        .first()
    )
    if top is None:
        return None, ""
    return top.id, top.path


async def award_for_claim(
    *, claim: HoursClaim, now: dt.datetime, connection: BaseDBAsyncClient
) -> PointsAward:
    """Points for a claim approved in ``connection``'s transaction (one award per claim)."""
    rule = await get_rule(community_id=claim.community_id, connection=connection)
    grid_id, grid_path = await volunteer_grid(
        person_id=claim.person_id, community_id=claim.community_id, connection=connection
    )
    return await PointsAward.create(
        community_id=claim.community_id,
        person_id=claim.person_id,
        claim_id=claim.id,
        source_kind=str(claim.source_kind),
        hours=claim.hours,
        rating=claim.rating,
        points=points_for(hours=Decimal(claim.hours), rating=claim.rating, rule=rule),
        grid_id=grid_id,
        grid_path=grid_path,
        awarded_at=now,
        using_db=connection,
    )


async def points_total(*, person_id: int, community_id: int) -> int:
    """Every point a person earned in a community."""
    rows = await PointsAward.filter(person_id=person_id, community_id=community_id).values_list(
        "points"
    )
    return sum(int(row[0]) for row in rows)


@dataclass(frozen=True)
class BoardView:
    community: Community
    period: Period
    period_key: str
    start: dt.datetime
    end: dt.datetime
    grid: Grid | None
    rows: list[boards.BoardRow]
    names: dict[int, str]
    me: boards.BoardRow | None


async def board(
    *,
    principal: Principal,
    redis: Redis,
    community_id: int,
    period: Period,
    grid_id: int | None,
    limit: int,
    now: dt.datetime | None = None,
) -> BoardView:
    """积分榜 of the current week, month or year, for the community or one of its grids."""
    community, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_COMMUNITY, place)
    grid = None
    if grid_id is not None:
        grid = await Grid.get_or_none(id=grid_id, community_id=community_id)
        if grid is None:
            raise errors.NotFound("该社区没有这个网格")
    # Awards whose after-commit update did not happen (yet) join before anyone reads.
    await boards.sync_unapplied(redis, community_id=community_id)
    at = now or utcnow()
    rows = await boards.read_board(
        redis, community_id=community_id, period=period, at=at, grid_id=grid_id, limit=limit
    )
    me = await boards.rank_of(
        redis,
        community_id=community_id,
        period=period,
        at=at,
        grid_id=grid_id,
        person_id=principal.person_id,
    )
    ids = {row.person_id for row in rows} | ({me.person_id} if me else set())
    names = dict(await Person.filter(id__in=ids).values_list("id", "name"))
    start, end = periods.bounds(period, at)
    return BoardView(
        community, period, periods.key_of(period, at), start, end, grid, rows, names, me
    )


async def month_totals(*, community_id: int, month: str) -> list[MonthTotal]:
    """Each volunteer's points, approved hours and tasks in a month (by approval time)."""
    start, end = periods.month_bounds(month)
    rows = await PointsAward.filter(
        community_id=community_id, awarded_at__gte=start, awarded_at__lt=end
    ).values_list("person_id", "points", "hours", "source_kind")
    points: dict[int, int] = defaultdict(int)
    hours: dict[int, Decimal] = defaultdict(Decimal)
    tasks: dict[int, int] = defaultdict(int)
    for person_id, award_points, award_hours, source_kind in rows:
        points[person_id] += int(award_points)
        hours[person_id] += Decimal(str(award_hours))
        if source_kind == "task":
            tasks[person_id] += 1
    return [MonthTotal(pid, points[pid], hours[pid], tasks[pid]) for pid in points]


async def _entries_json(entries: list[HonourEntry]) -> list[dict[str, Any]]:
    names = dict(
        await Person.filter(id__in=[e.person_id for e in entries]).values_list("id", "name")
    )
    return [
        {
            "rank": e.rank,
            "person_id": e.person_id,
            "name": names.get(e.person_id, ""),
            "points": e.points,
            "hours": str(e.hours),
            "tasks": e.tasks,
        }
        for e in entries
    ]


async def compute_honour_board(*, community_id: int, month: str) -> list[dict[str, Any]]:
    """光荣榜 of a month as it stands now (not published)."""
    rule = await get_rule(community_id=community_id)
    entries = honour_ranking(
        await month_totals(community_id=community_id, month=month),
        min_tasks=rule.honour_min_tasks,
        size=rule.honour_size,
    )
    return await _entries_json(entries)


async def publish_honour_board(
    *, community_id: int, month: str, now: dt.datetime | None = None
) -> tuple[HonourBoard, bool]:
    """Publish a month's honour board: a record and a notice to the community (once).

    Returns the board and whether this call published it (False when it already was).
    """
    existing = await HonourBoard.get_or_none(community_id=community_id, month=month)
    if existing is not None:
        return existing, False
    entries = await compute_honour_board(community_id=community_id, month=month)
    try:
        async with in_transaction() as connection:
            record = await HonourBoard.create(
                community_id=community_id,
                month=month,
                entries=entries,
                published_at=now or utcnow(),
                using_db=connection,
            )
            if entries:  # an empty board is kept on record, not announced
                await enqueue(
                    kind="honour_board",
                    payload={
                        "month": month,
                        "title": f"{month} 光荣榜",
                        "names": [e["name"] for e in entries],
                        "count": len(entries),
                    },
                    community_id=community_id,
                    dedupe_key=f"honour:{community_id}:{month}",
                    using_db=connection,
                )
    except IntegrityError:  # another bot process published it at the same moment
        return await HonourBoard.get(community_id=community_id, month=month), False
    return record, True


async def publish_due_honour_boards(*, now: dt.datetime | None = None) -> int:
    """On the 1st: publish last month's honour board of every community; returns how many."""
    at = now or utcnow()
    month = periods.previous_month(at)
    published = 0
    for (community_id,) in await Community.all().order_by("id").values_list("id"):
        _, created = await publish_honour_board(community_id=community_id, month=month, now=at)
        published += int(created)
    return published


@dataclass(frozen=True)
class HonourView:
    community: Community
    month: str
    published_at: dt.datetime | None
    entries: list[dict[str, Any]]
    rule: Rule


async def honour_board(
    *, principal: Principal, community_id: int, month: str | None, now: dt.datetime | None = None
) -> HonourView:
    """A month's honour board: as published, or (before the 1st) as it stands now."""
    community, place = await community_place(community_id=community_id)
    require(principal, Action.VIEW_COMMUNITY, place)
    at = now or utcnow()
    name = month or periods.previous_month(at)
    rule = await get_rule(community_id=community_id)
    record = await HonourBoard.get_or_none(community_id=community_id, month=name)
    if record is not None:
        return HonourView(community, name, record.published_at, record.entries, rule)
    entries = await compute_honour_board(community_id=community_id, month=name)
    return HonourView(community, name, None, entries, rule)
