"""Board periods (week, month, year) in the Asia/Shanghai calendar: pure functions.

A week starts on Monday (ISO weeks, ``2026-W47``), a month on the 1st (``2026-11``), a year on
1 January (``2026``), all at midnight Beijing time. Times in and out are aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from zoneinfo import ZoneInfo

CALENDAR = ZoneInfo("Asia/Shanghai")  # China keeps one time zone; boards follow its calendar


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


PERIOD_LABELS = {Period.WEEK: "周榜", Period.MONTH: "月榜", Period.YEAR: "年榜"}

# How long a board's Redis key outlives its period (past boards stay readable a while;
# `dangqun points rebuild-boards` restores any of them from the database).
KEEP_AFTER = {
    Period.WEEK: dt.timedelta(days=70),
    Period.MONTH: dt.timedelta(days=400),
    Period.YEAR: dt.timedelta(days=800),
}


def _local_start(period: Period, at: dt.datetime) -> dt.datetime:
    local = at.astimezone(CALENDAR)
    day = local.date()
    if period is Period.WEEK:
        day = day - dt.timedelta(days=day.weekday())
    elif period is Period.MONTH:
        day = day.replace(day=1)
    else:
        day = day.replace(month=1, day=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=CALENDAR)


def _next_start(period: Period, start: dt.datetime) -> dt.datetime:
    if period is Period.WEEK:
        day = start.date() + dt.timedelta(days=7)
    elif period is Period.MONTH:
        day = (start.date().replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    else:
        day = start.date().replace(year=start.year + 1)
    return dt.datetime.combine(day, dt.time(), tzinfo=CALENDAR)


def bounds(period: Period, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of the period containing ``at``."""
    start = _local_start(period, at)
    return start.astimezone(dt.UTC), _next_start(period, start).astimezone(dt.UTC)


def key_of(period: Period, at: dt.datetime) -> str:
    """The period's name: ``2026-W47``, ``2026-11`` or ``2026``."""
    local = at.astimezone(CALENDAR)
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period is Period.MONTH:
        return f"{local.year}-{local.month:02d}"
    return str(local.year)


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of a month named ``YYYY-MM``; ValueError when malformed."""
    year, _, number = month.partition("-")
    start = dt.datetime(int(year), int(number), 1, tzinfo=CALENDAR)
    return bounds(Period.MONTH, start)


def previous_month(at: dt.datetime) -> str:
    """The month before the one containing ``at`` (what the 1st publishes)."""
    start, _ = bounds(Period.MONTH, at)
    return key_of(Period.MONTH, start - dt.timedelta(seconds=1))


def seconds_to_keep(period: Period, at: dt.datetime, now: dt.datetime) -> int:
    """TTL for the board key of the period containing ``at``, counted from ``now``."""
    _, end = bounds(period, at)
    return max(int((end + KEEP_AFTER[period] - now).total_seconds()), 60)
