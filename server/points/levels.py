"""Volunteer levels (星级志愿者) by cumulative approved hours: a pure table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Level:
    stars: int
    title: str
    min_hours: Decimal


# Thresholds in approved service hours (gifts received do not count).
LEVELS: tuple[Level, ...] = (
    Level(1, "一星志愿者", Decimal(10)),
    Level(2, "二星志愿者", Decimal(50)),
    Level(3, "三星志愿者", Decimal(100)),
    Level(4, "四星志愿者", Decimal(300)),
    Level(5, "五星志愿者", Decimal(500)),
)


@dataclass(frozen=True)
class Standing:
    """Where a volunteer stands: their level (None below the first) and the next one."""

    level: Level | None
    next_level: Level | None
    hours_to_next: Decimal | None


def standing(hours: Decimal) -> Standing:
    """The level reached with ``hours`` approved hours, and how far the next one is."""
    reached = None
    for level in LEVELS:
        if hours >= level.min_hours:
            reached = level
    following = next((level for level in LEVELS if hours < level.min_hours), None)
    return Standing(
        level=reached,
        next_level=following,
        hours_to_next=(following.min_hours - hours) if following else None,
    )
