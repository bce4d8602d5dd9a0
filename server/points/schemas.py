"""Request and response shapes of points, boards and the honour board."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field

from server.core.schemas import Input, Output
from server.points.periods import Period


class CommunityPath(Input):
    community_id: int = Field(ge=1)


class BoardQuery(Input):
    # a Literal, not the enum: query parameters are documented inline (no $ref)
    period: Literal["week", "month", "year"] = "week"
    grid_id: int | None = Field(default=None, ge=1, description="不填为全社区榜")
    limit: int = Field(default=50, ge=1, le=200)


class BoardRowOut(Output):
    rank: int
    person_id: int
    name: str
    points: int


class BoardOut(Output):
    community_id: int
    period: Period
    period_label: str
    period_key: str = Field(description="2026-W47、2026-11 或 2026（北京时间）")
    start: dt.datetime
    end: dt.datetime
    grid_id: int | None
    grid_name: str | None
    rows: list[BoardRowOut]
    me: BoardRowOut | None = Field(description="我在本榜的名次（没有积分时为空）")


class HonourQuery(Input):
    month: str | None = Field(
        default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="默认为上个月"
    )


class HonourEntryOut(Output):
    rank: int
    person_id: int
    name: str
    points: int
    hours: Decimal
    tasks: int


class HonourOut(Output):
    community_id: int
    month: str
    published: bool
    published_at: dt.datetime | None
    min_tasks: int = Field(description="上榜至少完成的任务数")
    entries: list[HonourEntryOut]


class RuleIn(Input):
    points_per_hour: int | None = Field(default=None, ge=0, le=1000)
    bonus_five_star: int | None = Field(default=None, ge=0, le=1000)
    bonus_four_star: int | None = Field(default=None, ge=0, le=1000)
    honour_min_tasks: int | None = Field(default=None, ge=0, le=100)
    honour_size: int | None = Field(default=None, ge=1, le=100)


class RuleOut(Output):
    points_per_hour: int = Field(description="每小时积分")
    bonus_five_star: int = Field(description="五星好评加分")
    bonus_four_star: int = Field(description="四星好评加分")
    honour_min_tasks: int = Field(description="光荣榜：当月至少完成的任务数")
    honour_size: int = Field(description="光荣榜人数")


class LevelOut(Output):
    stars: int
    title: str
    min_hours: Decimal


class LevelsOut(Output):
    levels: list[LevelOut]
