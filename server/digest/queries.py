"""Aggregate queries behind the weekly digest: counts, GROUP BY grid, medians; never ORM rows.

Each query is one indexed range scan of one community's needs (see migration 0006's indexes).
Medians: PostgreSQL computes them (``percentile_cont``); SQLite has no percentile, so the
durations come back as sorted scalars and the median is picked in Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from server.core import errors
from server.digest.content import (
    SATISFIED_MIN_RATING,
    DigestInput,
    GridFigures,
    ProjectProgress,
    VolunteerHours,
    median,
    roll_up_grids,
)
from server.digest.weeks import parse_week, week_bounds
from server.needs.lifecycle import OPEN_STATUSES
from server.projects import service as projects

OPEN = tuple(sorted(status.value for status in OPEN_STATUSES))


class _Sql:
    """One connection and its dialect: placeholders, datetime parameters, durations."""

    def __init__(self, connection: BaseDBAsyncClient) -> None:
        self.connection = connection
        self.postgres = connection.capabilities.dialect == "postgres"

    def sql(self, text: str) -> str:
        """Turn ``?`` placeholders into ``$1, $2, …`` on PostgreSQL."""
        if not self.postgres:
            return text
        parts = text.split("?")
        return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))

    def when(self, value: dt.datetime) -> Any:
        # SQLite keeps Tortoise datetimes as ISO text in UTC; text order is time order
        return value if self.postgres else value.astimezone(dt.UTC).isoformat(" ")

    def seconds(self, later: str, earlier: str) -> str:
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        return f"(julianday({later}) - julianday({earlier})) * 86400.0"

    async def rows(self, text: str, *params: Any) -> list[dict[str, Any]]:
        return list(await self.connection.execute_query_dict(self.sql(text), list(params)))

    async def median_seconds(self, expression: str, where: str, *params: Any) -> float | None:
        if self.postgres:
            text = f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression}) AS m {where}"
            rows = await self.rows(text, *params)
            value = rows[0]["m"] if rows else None
            return None if value is None else float(value)
        _, found = await self.connection.execute_query(
            self.sql(f"SELECT {expression} AS s {where} ORDER BY s"), list(params)
        )
        return median([float(row[0]) for row in found])


async def volunteer_hours_for_week(
    community_id: int, start: dt.datetime, end: dt.datetime
) -> list[VolunteerHours]:
    """Approved hours each volunteer served in ``[start, end)``, from the time passbook (时间存折),
    most hours first (a service counts in the week it was credited, however late approved)."""
    from server.accounts.models import Person
    from server.passbook.service import approved_hours_by_person

    totals = await approved_hours_by_person(community_id, start, end)
    if not totals:
        return []
    names = dict(await Person.filter(id__in=list(totals)).values_list("id", "name"))
    return sorted(
        (
            VolunteerHours(
                person_id=pid, name=str(names.get(pid) or f"志愿者{pid}"), hours=float(h)
            )
            for pid, h in totals.items()
        ),
        key=lambda row: (-row.hours, row.person_id),
    )


async def projects_for_community(community_id: int) -> list[ProjectProgress]:
    """The community's active practical-matter projects (为民实事) and how far each is."""
    rows = await projects.active_progress(community_id=community_id)
    return [ProjectProgress(name=name, percent=percent, note=note) for name, percent, note in rows]


async def digest_input(
    *, community_id: int, week: str, timezone: str, now: dt.datetime
) -> DigestInput:
    """Run the aggregate queries of one community's week."""
    try:
        monday = parse_week(week)
    except ValueError as exc:
        raise errors.ValidationFailed(str(exc), details=[{"field": "week"}]) from exc
    start, end = week_bounds(week, timezone)
    db = _Sql(Tortoise.get_connection("default"))
    community = await db.rows("SELECT name FROM community WHERE id = ?", community_id)
    if not community:
        raise errors.NotFound("找不到该社区")
    s, e = db.when(start), db.when(end)
    as_of = db.when(min(now, end))

    figures: dict[int, dict[str, int]] = {}

    def add(rows: list[dict[str, Any]], name: str) -> None:
        for row in rows:
            figures.setdefault(int(row["grid_id"]), {})[name] = int(row["n"])

    add(
        await db.rows(
            "SELECT grid_id, COUNT(*) AS n FROM need WHERE community_id = ? "
            "AND created_at >= ? AND created_at < ? GROUP BY grid_id",
            community_id,
            s,
            e,
        ),
        "new",
    )
    add(
        await db.rows(
            "SELECT grid_id, COUNT(*) AS n FROM need WHERE community_id = ? "
            "AND done_at >= ? AND done_at < ? GROUP BY grid_id",
            community_id,
            s,
            e,
        ),
        "finished",
    )
    placeholders = ", ".join("?" for _ in OPEN)
    add(
        await db.rows(
            "SELECT grid_id, COUNT(*) AS n FROM need WHERE community_id = ? "
            f"AND sla_due_at <= ? AND status IN ({placeholders}) AND created_at < ? "
            "GROUP BY grid_id",
            community_id,
            as_of,
            *OPEN,
            e,
        ),
        "overdue",
    )
    rating_rows = await db.rows(
        "SELECT grid_id, rating, COUNT(*) AS n FROM need WHERE community_id = ? "
        "AND confirmed_at >= ? AND confirmed_at < ? AND rating IS NOT NULL "
        "GROUP BY grid_id, rating",
        community_id,
        s,
        e,
    )
    rating_counts: dict[int, int] = {}
    for row in rating_rows:
        stars, count = int(row["rating"]), int(row["n"])
        rating_counts[stars] = rating_counts.get(stars, 0) + count
        grid = figures.setdefault(int(row["grid_id"]), {})
        grid["ratings"] = grid.get("ratings", 0) + count
        if stars >= SATISFIED_MIN_RATING:
            grid["satisfied"] = grid.get("satisfied", 0) + count

    median_accept = await db.median_seconds(
        db.seconds("e.created_at", "n.created_at"),
        "FROM need_event e JOIN need n ON n.id = e.need_id WHERE e.to_status = 'accepted' "
        "AND e.created_at >= ? AND e.created_at < ? AND n.community_id = ?",
        s,
        e,
        community_id,
    )
    median_finish = await db.median_seconds(
        db.seconds("done_at", "created_at"),
        "FROM need WHERE community_id = ? AND done_at >= ? AND done_at < ?",
        community_id,
        s,
        e,
    )
    grid_rows = await db.rows(
        "SELECT id, name, path FROM grid WHERE community_id = ?", community_id
    )
    paths = {int(row["id"]): str(row["path"]) for row in grid_rows}
    names = {int(row["id"]): str(row["name"]) for row in grid_rows}
    counts = {
        grid_id: GridFigures(grid_id, names.get(grid_id, ""), **values)
        for grid_id, values in figures.items()
    }
    grids = roll_up_grids(counts, paths, names)
    return DigestInput(
        community_id=community_id,
        community_name=str(community[0]["name"]),
        week=week,
        start=monday,
        new=sum(g.new for g in grids),
        finished=sum(g.finished for g in grids),
        overdue=sum(g.overdue for g in grids),
        median_accept_seconds=median_accept,
        median_finish_seconds=median_finish,
        rating_counts=rating_counts,
        grids=grids,
        volunteer_hours=await volunteer_hours_for_week(community_id, start, end),
        projects=await projects_for_community(community_id),
    )
