"""Digest weeks: ISO weeks (Monday to Sunday) in the configured time zone. Pure logic."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> dt.date:
    """The Monday of an ISO week like ``2026-W47``; ``ValueError`` when it is not one."""
    match = WEEK_PATTERN.match(week)
    if not match:
        raise ValueError(f"周次格式应为 YYYY-Www，如 2026-W47，收到 {week!r}")
    return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)


def week_of(day: dt.date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


def week_bounds(week: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The week as ``[start, end)`` in UTC: local Monday 00:00 to the next Monday 00:00."""
    monday = parse_week(week)
    tz = ZoneInfo(timezone)
    start = dt.datetime.combine(monday, dt.time(), tz)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def last_complete_week(now: dt.datetime, timezone: str) -> str:
    """The week before the one ``now`` falls in (the Monday 08:30 digest reports on it)."""
    local = now.astimezone(ZoneInfo(timezone)).date()
    return week_of(local - dt.timedelta(days=7))
