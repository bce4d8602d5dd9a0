"""Pure points logic: points per claim, honour ranking, levels, board periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.points import periods
from server.points.levels import standing
from server.points.periods import Period
from server.points.rules import DEFAULT_RULE, MonthTotal, Rule, honour_ranking, points_for

D = Decimal
UTC = dt.UTC


@pytest.mark.parametrize(
    ("hours", "rating", "rule", "points"),
    [
        (D("1.00"), None, DEFAULT_RULE, 10),
        (D("2.50"), 5, DEFAULT_RULE, 30),  # 25 + 5 for five stars
        (D("2.50"), 4, DEFAULT_RULE, 25),  # no four-star bonus by default
        (D("1.25"), 3, DEFAULT_RULE, 13),  # 12.5 rounds half up
        (D("1.24"), 1, DEFAULT_RULE, 12),
        (D("3.00"), 4, Rule(points_per_hour=20, bonus_four_star=2), 62),
        (D("0.01"), None, Rule(points_per_hour=0), 0),
    ],
)
def test_points_for_approved_hours(
    hours: Decimal, rating: int | None, rule: Rule, points: int
) -> None:
    assert points_for(hours=hours, rating=rating, rule=rule) == points


def test_honour_ranking_needs_enough_tasks_and_orders_by_points() -> None:
    totals = [
        MonthTotal(1, points=90, hours=D("9"), tasks=1),  # too few tasks
        MonthTotal(2, points=80, hours=D("8"), tasks=2),
        MonthTotal(3, points=80, hours=D("8"), tasks=5),  # same points and hours: shared rank
        MonthTotal(4, points=80, hours=D("9"), tasks=2),  # same points, more hours: ahead
        MonthTotal(5, points=10, hours=D("1"), tasks=3),
        MonthTotal(6, points=0, hours=D("0"), tasks=4),  # no points: not honoured
    ]
    ranking = honour_ranking(totals, min_tasks=2, size=10)
    assert [(e.rank, e.person_id) for e in ranking] == [(1, 4), (2, 3), (2, 2), (4, 5)]
    top_two = honour_ranking(totals, min_tasks=2, size=2)
    assert [e.person_id for e in top_two] == [4, 3]
    assert honour_ranking(totals, min_tasks=6, size=10) == []


@pytest.mark.parametrize(
    ("hours", "stars", "title", "to_next"),
    [
        (D("0"), 0, None, D("10")),
        (D("9.99"), 0, None, D("0.01")),
        (D("10"), 1, "一星志愿者", D("40")),
        (D("50"), 2, "二星志愿者", D("50")),
        (D("120.5"), 3, "三星志愿者", D("179.5")),
        (D("300"), 4, "四星志愿者", D("200")),
        (D("500"), 5, "五星志愿者", None),
        (D("9000"), 5, "五星志愿者", None),
    ],
)
def test_levels_by_cumulative_hours(
    hours: Decimal, stars: int, title: str | None, to_next: Decimal | None
) -> None:
    result = standing(hours)
    assert (result.level.stars if result.level else 0) == stars
    assert (result.level.title if result.level else None) == title
    assert result.hours_to_next == to_next


@pytest.mark.parametrize(
    ("at", "week", "month", "year"),
    [
        # Sunday 23:30 in Beijing is still week 47; 00:30 on Monday is week 48
        (dt.datetime(2026, 11, 22, 15, 30, tzinfo=UTC), "2026-W47", "2026-11", "2026"),
        (dt.datetime(2026, 11, 22, 16, 30, tzinfo=UTC), "2026-W48", "2026-11", "2026"),
        # 31 December 16:30 UTC is already 1 January in Beijing (ISO week 2026-W53 runs into 2027)
        (dt.datetime(2026, 12, 31, 16, 30, tzinfo=UTC), "2026-W53", "2027-01", "2027"),
        (dt.datetime(2026, 12, 31, 15, 59, tzinfo=UTC), "2026-W53", "2026-12", "2026"),
    ],
)
def test_periods_follow_the_beijing_calendar(
    at: dt.datetime, week: str, month: str, year: str
) -> None:
    assert periods.key_of(Period.WEEK, at) == week
    assert periods.key_of(Period.MONTH, at) == month
    assert periods.key_of(Period.YEAR, at) == year


def test_period_bounds_are_beijing_midnights_in_utc() -> None:
    at = dt.datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # Sunday 23:30 Beijing
    assert periods.bounds(Period.WEEK, at) == (
        dt.datetime(2026, 11, 15, 16, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
    )
    assert periods.bounds(Period.MONTH, at) == (
        dt.datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    )
    assert periods.bounds(Period.YEAR, at) == (
        dt.datetime(2025, 12, 31, 16, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert periods.month_bounds("2026-12") == (
        dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("at", "month"),
    [
        (dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "2026-11"),  # 1 Dec 00:00 Beijing
        (dt.datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "2026-10"),  # still 30 Nov
        (dt.datetime(2027, 1, 1, 1, 0, tzinfo=UTC), "2026-12"),
    ],
)
def test_previous_month_is_what_the_first_publishes(at: dt.datetime, month: str) -> None:
    assert periods.previous_month(at) == month
