"""Points rules (积分规则) and the honour-board ranking: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Rule:
    """A community's points rules; ``DEFAULT_RULE`` applies until the secretary changes them."""

    points_per_hour: int = 10
    bonus_five_star: int = 5
    bonus_four_star: int = 0
    honour_min_tasks: int = 2
    honour_size: int = 10


DEFAULT_RULE = Rule()


def points_for(*, hours: Decimal, rating: int | None, rule: Rule) -> int:
    """Points for approved hours: hours × points per hour (half up), plus a rating bonus."""
    base = (hours * rule.points_per_hour).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    bonus = 0
    if rating == 5:
        bonus = rule.bonus_five_star
    elif rating == 4:
        bonus = rule.bonus_four_star
    return int(base) + bonus


@dataclass(frozen=True)
class MonthTotal:
    """One volunteer's month: points, approved hours and tasks."""

    person_id: int
    points: int
    hours: Decimal
    tasks: int


@dataclass(frozen=True)
class HonourEntry:
    rank: int
    person_id: int
    points: int
    hours: Decimal
    tasks: int


def honour_ranking(totals: Iterable[MonthTotal], *, min_tasks: int, size: int) -> list[HonourEntry]:
    """光荣榜: the top ``size`` by points among those with ``min_tasks`` tasks or more.

    Ties on points go to more hours, then more tasks, then the earlier volunteer (lower id);
    equal points and hours share a rank (1, 2, 2, 4).
    """
    eligible = [t for t in totals if t.tasks >= min_tasks and t.points > 0]
    eligible.sort(key=lambda t: (-t.points, -t.hours, -t.tasks, t.person_id))
    entries: list[HonourEntry] = []
    for index, total in enumerate(eligible[: max(size, 0)]):
        previous = entries[-1] if entries else None
        same = previous and (previous.points, previous.hours) == (total.points, total.hours)
        rank = previous.rank if previous and same else index + 1
        entries.append(HonourEntry(rank, total.person_id, total.points, total.hours, total.tasks))
    return entries
