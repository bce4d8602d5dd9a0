"""Profile rules (pure): skills from the community's list, well-formed weekly slots."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from server.core import errors

RADIUS_MIN_M = 100
RADIUS_MAX_M = 10_000  # beyond a walk or a short ride nobody comes in time
MAX_TASKS_LIMIT = 10
SKILLS_MAX = 12  # a volunteer's skills
SLOTS_MAX = 28  # four a day
COMMUNITY_SKILLS_MAX = 40  # the matching index keeps 64 skill bits
SKILL_NAME_MAX = 12
TIME = re.compile(r"^([01]\d|2[0-3]):(00|30)$|^24:00$")  # half-hour steps: the index's unit
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass(frozen=True)
class Slot:
    weekday: int
    start: str
    end: str

    @property
    def minutes(self) -> tuple[int, int]:
        return _minutes(self.start), _minutes(self.end)

    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start}-{self.end}"


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _fail(field: str, message: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(
        message, details=[{"field": field, "location": "body", "message": message}]
    )


def check_skills(skills: Sequence[str], allowed: Iterable[str]) -> list[str]:
    """The skills without repeats, each from the community's list."""
    allowed_list = list(allowed)
    unknown = [skill for skill in skills if skill not in allowed_list]
    if unknown:
        raise _fail("skills", f"未知技能：{'、'.join(unknown)}。可选：{'、'.join(allowed_list)}")
    unique = list(dict.fromkeys(skills))
    if len(unique) > SKILLS_MAX:
        raise _fail("skills", f"技能最多选 {SKILLS_MAX} 项")
    return unique


def check_slots(slots: Sequence[Slot]) -> list[Slot]:
    """Weekly slots on half hours, each ending after it starts, none overlapping; sorted."""
    if len(slots) > SLOTS_MAX:
        raise _fail("availability", f"可服务时间段最多 {SLOTS_MAX} 个")
    for number, slot in enumerate(slots):
        field = f"availability.{number}"
        if not 0 <= slot.weekday <= 6:
            raise _fail(f"{field}.weekday", "weekday 应为 0-6（0 为周一）")
        for name, value in (("start", slot.start), ("end", slot.end)):
            if not TIME.match(value):
                raise _fail(
                    f"{field}.{name}", f"时间“{value}”格式应为 HH:MM，且为整点或半点（如 08:30）"
                )
        if slot.start == "24:00" or slot.minutes[1] <= slot.minutes[0]:
            raise _fail(f"{field}", f"{slot.label()}：结束时间应晚于开始时间")
    ordered = sorted(slots, key=lambda s: (s.weekday, s.minutes))
    for before, after in itertools.pairwise(ordered):
        if before.weekday == after.weekday and after.minutes[0] < before.minutes[1]:
            raise _fail("availability", f"时间段重叠：{before.label()} 与 {after.label()}")
    return ordered


def check_community_skills(skills: Sequence[str]) -> list[str]:
    """A community's skill tag list: 1-40 names of 1-12 characters, no repeats."""
    cleaned = [skill.strip() for skill in skills]
    if not cleaned or len(cleaned) > COMMUNITY_SKILLS_MAX:
        raise _fail("skills", f"技能标签应有 1-{COMMUNITY_SKILLS_MAX} 个")
    for skill in cleaned:
        if not 1 <= len(skill) <= SKILL_NAME_MAX:
            raise _fail("skills", f"技能名称“{skill}”应为 1-{SKILL_NAME_MAX} 个字")
    if len(set(cleaned)) != len(cleaned):
        raise _fail("skills", "技能标签有重复")
    return cleaned


def check_home(lat: float | None, lng: float | None) -> None:
    """A home is both coordinates or neither."""
    if (lat is None) != (lng is None):
        raise _fail("home_lng" if lng is None else "home_lat", "home_lat 和 home_lng 必须同时填写")
