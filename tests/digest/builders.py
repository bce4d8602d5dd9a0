"""A fixed week of needs for digest tests (2026-W10, 2 to 8 March, Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt

from server.accounts.models import Person
from server.needs.models import Category, Need, NeedEvent, NeedStatus
from server.org.models import Grid

UTC = dt.UTC
WEEK = "2026-W10"
# Monday 2 March 2026 00:00 in Shanghai
WEEK_START = dt.datetime(2026, 3, 1, 16, 0, tzinfo=UTC)


def at(days: float, hours: float = 0) -> dt.datetime:
    """A time inside (or around) the week: days and hours after its start."""
    return WEEK_START + dt.timedelta(days=days, hours=hours)


async def add_need(
    grid: Grid,
    reporter: Person,
    *,
    created: dt.datetime,
    status: NeedStatus,
    accepted_after: dt.timedelta | None = None,
    done_after: dt.timedelta | None = None,
    rating: int | None = None,
    rated_after: dt.timedelta | None = None,
    sla_due: dt.datetime | None = None,
) -> Need:
    """One need with the timestamps a digest reads (and its acceptance event)."""
    need = await Need.create(
        community_id=grid.community_id,
        grid=grid,
        reporter=reporter,
        category=Category.DAILY_LIFE,
        title="楼道灯坏了",
        description="三楼楼道灯不亮",
        grid_path=grid.path,
        status=status,
        status_changed_at=created,
        created_at=created,
        sla_due_at=sla_due,
        done_at=created + done_after if done_after else None,
        rating=rating,
        confirmed_at=created + rated_after if rated_after else None,
    )
    if accepted_after is not None:
        event = await NeedEvent.create(
            need=need, action="accept", from_status="submitted", to_status="accepted"
        )
        await NeedEvent.filter(id=event.id).update(created_at=created + accepted_after)
    return need


async def fixed_week(buildings: list[Grid], reporter: Person) -> None:
    """Needs in two compounds: some inside the week, some outside it (which must not count).

    Compound 1 (buildings[0]): 3 new, 2 finished (rated 5 and 3), 1 overdue.
    Compound 2 (buildings[1]): 1 new, finished and rated 4.
    Accepted after 1 h, 2 h and 4 h (median 2 h); finished after 1, 2 and 3 days (median 2 days).
    """
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    one, two = buildings
    await add_need(
        one,
        reporter,
        created=at(0, 9),
        status=NeedStatus.CONFIRMED,
        accepted_after=hour,
        done_after=day,
        rating=5,
        rated_after=2 * day,
    )
    await add_need(
        one,
        reporter,
        created=at(1, 9),
        status=NeedStatus.CONFIRMED,
        accepted_after=2 * hour,
        done_after=3 * day,
        rating=3,
        rated_after=4 * day,
    )
    await add_need(
        one, reporter, created=at(2), status=NeedStatus.SUBMITTED, sla_due=at(2, 12)
    )  # overdue
    await add_need(
        two,
        reporter,
        created=at(3),
        status=NeedStatus.CONFIRMED,
        accepted_after=4 * hour,
        done_after=2 * day,
        rating=4,
        rated_after=2.5 * day,
    )
    # outside the week: created the Sunday before, and the Monday after
    await add_need(one, reporter, created=at(-0.5), status=NeedStatus.ASSIGNED, accepted_after=hour)
    await add_need(two, reporter, created=at(7, 1), status=NeedStatus.DONE, done_after=day)
