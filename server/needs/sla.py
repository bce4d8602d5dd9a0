"""SLA clocks for needs (需求时限): how long each stage may take, when to warn, when to escalate.

Pure logic: no I/O, no ORM, no clock of its own. The caller passes ``now`` (and the time the
current stage started), so the scan job, the views and the tests all get the same answer.

Stages of a need (see DOMAIN.md, "A need's life"):

- ``triage``     分拣: from submission (or reopening) until accepted, rejected or merged;
- ``assignment`` 派单: from accepted until a volunteer is assigned;
- ``completion`` 办结: from assigned until done.

Boundaries are inclusive on the late side: exactly at ``warning_ratio × limit`` the need is
already ``warning``; exactly at the limit it is already ``overdue`` (and escalated to the grid);
exactly at each escalation step the higher level applies. "Due at 10:00" means late at 10:00.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

URGENCIES: tuple[str, ...] = ("normal", "urgent", "emergency")

# The eight public-service domains of the "1258" method (DOMAIN.md).
CATEGORIES: tuple[str, ...] = (
    "space",  # 空间管理
    "safety",  # 安全管理
    "sanitation",  # 环境卫生
    "culture_sports",  # 文化体育
    "policy",  # 政策宣传
    "daily_life",  # 日常生活
    "dispute",  # 纠纷化解
    "other",  # 其他
)

# A limit longer than a year is a unit mistake (minutes typed as hours), not a policy.
MAX_LIMIT = timedelta(days=365)


class Stage(StrEnum):
    TRIAGE = "triage"
    ASSIGNMENT = "assignment"
    COMPLETION = "completion"


class Health(StrEnum):
    ON_TIME = "on_time"
    WARNING = "warning"
    OVERDUE = "overdue"


class EscalationLevel(IntEnum):
    """Who must act on a late need; ordered so a scan job can compare levels."""

    NONE = 0
    GRID = 1  # 网格员
    COMMUNITY = 2  # 社区书记
    STREET = 3  # 街道


_STATUS_STAGES: Mapping[str, Stage] = MappingProxyType(
    {
        "submitted": Stage.TRIAGE,
        "reopened": Stage.TRIAGE,
        "accepted": Stage.ASSIGNMENT,
        "matching": Stage.ASSIGNMENT,
        "assigned": Stage.COMPLETION,
        "in_progress": Stage.COMPLETION,
    }
)

_ESCALATED_LEVELS = (EscalationLevel.GRID, EscalationLevel.COMMUNITY, EscalationLevel.STREET)

_LEVEL_TEXT: Mapping[EscalationLevel, str] = MappingProxyType(
    {
        EscalationLevel.NONE: "",
        EscalationLevel.GRID: "，请网格员尽快处理",
        EscalationLevel.COMMUNITY: "，已上报社区书记",
        EscalationLevel.STREET: "，已上报街道",
    }
)

_HOUR = timedelta(hours=1)


# --- validation, shared by the dataclasses and the config parser ------------------------------


def _check_limit(limit: Any, what: str) -> None:
    if not isinstance(limit, timedelta):
        raise ValueError(f"{what}应为时长，收到 {limit!r}")
    if limit <= timedelta(0):
        raise ValueError(f"{what}必须大于 0，收到 {limit}")
    if limit > MAX_LIMIT:
        raise ValueError(f"{what}超过一年（{limit}），请检查单位")


def _check_warning_ratio(ratio: Any, path: str) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
        raise ValueError(f"SLA 配置 {path}：预警比例必须在 0 和 1 之间（不含两端），收到 {ratio!r}")


def _check_escalation_steps(steps: tuple[Any, ...], path: str) -> None:
    numbers = all(
        not isinstance(step, bool) and isinstance(step, int | float) and math.isfinite(step)
        for step in steps
    )
    if len(steps) != len(_ESCALATED_LEVELS) or not numbers:
        raise ValueError(
            f"SLA 配置 {path}：应为 3 个数字（网格、社区、街道），收到 {list(steps)!r}"
        )
    if steps[0] < 1 or any(later <= earlier for earlier, later in pairwise(steps)):
        raise ValueError(
            f"SLA 配置 {path}：应从不小于 1 开始并逐级增大（超时后才上报），收到 {list(steps)!r}"
        )


def _choices(options: tuple[str, ...]) -> str:
    return f"可选：{'、'.join(options)}"


@dataclass(frozen=True)
class StageLimits:
    """How long each stage may take for one kind of need."""

    triage: timedelta
    assignment: timedelta
    completion: timedelta

    def __post_init__(self) -> None:
        for stage in Stage:
            _check_limit(getattr(self, stage.value), f"{stage.value} 时限")

    def for_stage(self, stage: Stage) -> timedelta:
        """The limit of one stage."""
        limit: timedelta = getattr(self, stage.value)
        return limit


@dataclass(frozen=True)
class SlaPolicy:
    """A community's time limits: per urgency, with tighter (or looser) limits per category.

    The mappings are copied into read-only views, so a policy cannot change under a running scan.
    """

    default: Mapping[str, StageLimits]
    overrides: Mapping[tuple[str, str], StageLimits] = field(default_factory=dict)
    warning_ratio: float = 0.8  # warn with a fifth of the time left: enough to still act
    # elapsed/limit at which GRID, COMMUNITY and STREET must act: the grid member the moment it
    # is late, the secretary when half the limit again has passed, the street at twice the limit.
    escalation_steps: tuple[float, ...] = (1.0, 1.5, 2.0)

    def __post_init__(self) -> None:
        for urgency in self.default:
            if urgency not in URGENCIES:
                raise ValueError(
                    f"SLA 配置 default.{urgency}：未知的紧急程度，{_choices(URGENCIES)}"
                )
        for urgency in URGENCIES:
            if urgency not in self.default:
                raise ValueError(f"SLA 配置 default.{urgency}：缺少该紧急程度的时限")
        for category, urgency in self.overrides:
            key = f"overrides.{category}/{urgency}"
            if category not in CATEGORIES:
                raise ValueError(f"SLA 配置 {key}：未知的服务类别，{_choices(CATEGORIES)}")
            if urgency not in URGENCIES:
                raise ValueError(f"SLA 配置 {key}：未知的紧急程度，{_choices(URGENCIES)}")
        _check_warning_ratio(self.warning_ratio, "warning_ratio")
        steps = tuple(self.escalation_steps)
        _check_escalation_steps(steps, "escalation_steps")
        object.__setattr__(self, "default", MappingProxyType(dict(self.default)))
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "escalation_steps", steps)

    def limits(self, category: str, urgency: str) -> StageLimits:
        """The limits for a need of this category and urgency (the override if there is one)."""
        if category not in CATEGORIES:
            raise ValueError(f"未知的服务类别 {category!r}，{_choices(CATEGORIES)}")
        if urgency not in URGENCIES:
            raise ValueError(f"未知的紧急程度 {urgency!r}，{_choices(URGENCIES)}")
        return self.overrides.get((category, urgency), self.default[urgency])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """Read a community's JSON config; what it leaves out comes from DEFAULT_POLICY.

        Shape::

            {"default": {"normal": {"triage_hours": 24, "assignment_hours": 48,
                                    "completion_hours": 168}},
             "overrides": {"safety/urgent": {"triage_hours": 2}},
             "warning_ratio": 0.8,
             "escalation_steps": [1.0, 1.5, 2.0]}

        Hours may be fractional (0.5 = 30 minutes). Without an ``"overrides"`` key the built-in
        overrides stay; with one, it replaces them all, and a stage it leaves out takes the
        limit of that urgency's default. Unknown keys are refused, so a typo cannot silently
        leave the built-in limit in force.
        """
        return _policy_from_dict(data, base=DEFAULT_POLICY)

    def to_dict(self) -> dict[str, Any]:
        """The JSON config form; ``SlaPolicy.from_dict(policy.to_dict()) == policy``."""
        return {
            "default": {urgency: _limits_to_dict(self.default[urgency]) for urgency in URGENCIES},
            "overrides": {
                f"{category}/{urgency}": _limits_to_dict(limits)
                for (category, urgency), limits in sorted(self.overrides.items())
            },
            "warning_ratio": self.warning_ratio,
            "escalation_steps": list(self.escalation_steps),
        }


DEFAULT_POLICY = SlaPolicy(
    default={
        # Triage within a working day: grid members go through their list once a day.
        # Matching gets two days: invitations go out and volunteers answer in their own time.
        # A week to finish covers ordinary help (small repairs, errands) across a weekend.
        "normal": StageLimits(
            triage=timedelta(hours=24), assignment=timedelta(hours=48), completion=timedelta(days=7)
        ),
        # Seen within the same half day, a volunteer found by evening, done within two days.
        "urgent": StageLimits(
            triage=timedelta(hours=4),
            assignment=timedelta(hours=12),
            completion=timedelta(hours=48),
        ),
        # Life and safety come first through 110/119/120; the community's part (someone at the
        # door, a family contacted, a follow-up) must start within minutes and end the same day.
        "emergency": StageLimits(
            triage=timedelta(minutes=30),
            assignment=timedelta(hours=1),
            completion=timedelta(hours=12),
        ),
    },
    overrides={
        # Hazards (blocked fire exits, broken stair lights, loose railings) can hurt someone while
        # they wait, so even "normal" safety needs are looked at within a working shift.
        # Emergency safety needs keep the default emergency limits, already the tightest.
        ("safety", "normal"): StageLimits(
            triage=timedelta(hours=8),
            assignment=timedelta(hours=24),
            completion=timedelta(hours=72),
        ),
        ("safety", "urgent"): StageLimits(
            triage=timedelta(hours=2), assignment=timedelta(hours=6), completion=timedelta(hours=24)
        ),
    },
)


@dataclass(frozen=True)
class SlaState:
    """Where a need stands against its current stage's limit at one instant."""

    stage: Stage | None  # None: the need is not in a timed stage (done, closed, rejected, ...)
    health: Health
    level: EscalationLevel
    due_at: datetime | None  # when the current stage's limit ends
    warn_at: datetime | None
    elapsed: timedelta | None
    remaining: timedelta | None  # negative when overdue


UNTIMED = SlaState(
    stage=None,
    health=Health.ON_TIME,
    level=EscalationLevel.NONE,
    due_at=None,
    warn_at=None,
    elapsed=None,
    remaining=None,
)


def stage_for_status(status: str) -> Stage | None:
    """The SLA stage a need status belongs to, or None when no clock runs in that status."""
    return _STATUS_STAGES.get(status)


def evaluate(
    *,
    status: str,
    category: str,
    urgency: str,
    stage_started_at: datetime,
    now: datetime,
    policy: SlaPolicy = DEFAULT_POLICY,
    due_at_override: datetime | None = None,
) -> SlaState:
    """Where a need stands at ``now`` against the limit of the stage it is in.

    ``stage_started_at`` is when the current stage began (submission or reopening for triage,
    acceptance for assignment, assignment for completion).

    ``due_at_override`` is a due time staff set by hand; it replaces the current stage's due
    time, and the warning and escalation steps scale from ``due_at_override - stage_started_at``.
    A due time at or before the stage start (it passed while the need sat in an earlier stage)
    makes the stage late at once: warning and GRID immediately, and the later escalation steps
    follow at the policy limit's pace after it (COMMUNITY at due + 0.5 × limit, by default).

    A clock behind ``stage_started_at`` counts as no time elapsed.
    """
    _require_aware(stage_started_at, "stage_started_at")
    _require_aware(now, "now")
    if due_at_override is not None:
        _require_aware(due_at_override, "due_at_override")
    stage = stage_for_status(status)
    if stage is None:
        return UNTIMED

    policy_limit = policy.limits(category, urgency).for_stage(stage)
    if due_at_override is None:
        due_at = stage_started_at + policy_limit
    else:
        due_at = due_at_override
    limit = due_at - stage_started_at
    if limit > timedelta(0):
        warn_at = stage_started_at + limit * policy.warning_ratio
        step_at = [stage_started_at + limit * step for step in policy.escalation_steps]
    else:
        warn_at = due_at
        step_at = [due_at + policy_limit * (step - 1) for step in policy.escalation_steps]

    # Compare instants rather than ratios so the boundaries match due_at/warn_at exactly.
    if now >= due_at:
        health = Health.OVERDUE
    elif now >= warn_at:
        health = Health.WARNING
    else:
        health = Health.ON_TIME
    level = EscalationLevel.NONE
    for reached_at, step_level in zip(step_at, _ESCALATED_LEVELS, strict=True):
        if now >= reached_at:
            level = step_level

    elapsed = max(now - stage_started_at, timedelta(0))
    return SlaState(
        stage=stage,
        health=health,
        level=level,
        due_at=due_at,
        warn_at=warn_at,
        elapsed=elapsed,
        remaining=limit - elapsed,
    )


def escalation_due(previous_level: EscalationLevel, state: SlaState) -> EscalationLevel | None:
    """The new level if it rose above ``previous_level``, else None: each escalation fires once."""
    if state.level > previous_level:
        return state.level
    return None


def describe(state: SlaState) -> str:
    """Short Chinese text for residents and staff, e.g. "剩余 3小时20分" or "已超时 2小时"."""
    if state.stage is None or state.remaining is None:
        return "不在计时阶段"
    if state.health is Health.ON_TIME:
        return f"剩余 {format_duration(state.remaining)}"
    if state.health is Health.WARNING:
        return f"即将超时（剩余 {format_duration(state.remaining)}）"
    late = -state.remaining
    head = "刚刚超时" if late < timedelta(minutes=1) else f"已超时 {format_duration(late)}"
    return head + _LEVEL_TEXT[state.level]


def format_duration(duration: timedelta) -> str:
    """A duration in Chinese, rounded down: "2天3小时", "3小时20分", "2小时", "40分钟"."""
    minutes = max(int(duration.total_seconds() // 60), 0)
    if minutes < 1:
        return "不到1分钟"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        # Minutes are noise once a need is days away or days late.
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    return f"{minutes}分钟"


# --- config parsing -------------------------------------------------------------------------

_TOP_KEYS = ("default", "overrides", "warning_ratio", "escalation_steps")
_STAGE_KEYS: Mapping[str, Stage] = MappingProxyType(
    {f"{stage.value}_hours": stage for stage in Stage}
)


def _policy_from_dict(data: Mapping[str, Any], *, base: SlaPolicy) -> SlaPolicy:
    if not isinstance(data, Mapping):
        raise ValueError(f"SLA 配置必须是对象，收到 {type(data).__name__}")
    _refuse_unknown_keys(data, _TOP_KEYS, "SLA 配置")

    default_data = _mapping(data.get("default", {}), "default")
    for urgency in default_data:
        if urgency not in URGENCIES:
            raise ValueError(f"SLA 配置 default.{urgency}：未知的紧急程度，{_choices(URGENCIES)}")
    default = {
        urgency: _limits_from_dict(
            default_data.get(urgency, {}), base.default[urgency], f"default.{urgency}"
        )
        for urgency in URGENCIES
    }

    # A config without "overrides" keeps the built-in ones; one with "overrides" replaces them
    # all (so a community can drop them with {}), and a stage it leaves out falls back to the
    # default of that urgency.
    overrides: dict[tuple[str, str], StageLimits] = {}
    if "overrides" not in data:
        overrides.update(base.overrides)
    for raw_key, value in _mapping(data.get("overrides", {}), "overrides").items():
        path = f"overrides.{raw_key}"
        category, slash, urgency = str(raw_key).partition("/")
        if not slash:
            raise ValueError(f"SLA 配置 {path}：键应写成 类别/紧急程度，如 safety/urgent")
        if category not in CATEGORIES:
            raise ValueError(
                f"SLA 配置 {path}：未知的服务类别 {category!r}，{_choices(CATEGORIES)}"
            )
        if urgency not in URGENCIES:
            raise ValueError(f"SLA 配置 {path}：未知的紧急程度 {urgency!r}，{_choices(URGENCIES)}")
        overrides[(category, urgency)] = _limits_from_dict(value, default[urgency], path)

    warning_ratio = data.get("warning_ratio", base.warning_ratio)
    _check_warning_ratio(warning_ratio, "warning_ratio")

    raw_steps = data.get("escalation_steps", base.escalation_steps)
    if not isinstance(raw_steps, list | tuple):
        raise ValueError(f"SLA 配置 escalation_steps：应为 3 个数字的列表，收到 {raw_steps!r}")
    steps = tuple(raw_steps)
    _check_escalation_steps(steps, "escalation_steps")

    return SlaPolicy(
        default=default,
        overrides=overrides,
        warning_ratio=float(warning_ratio),
        escalation_steps=tuple(float(step) for step in steps),
    )


def _limits_from_dict(data: Any, fallback: StageLimits, path: str) -> StageLimits:
    data = _mapping(data, path)
    _refuse_unknown_keys(data, tuple(_STAGE_KEYS), f"SLA 配置 {path}")
    limits = {stage.value: fallback.for_stage(stage) for stage in Stage}
    for key, stage in _STAGE_KEYS.items():
        if key in data:
            limits[stage.value] = _hours(data[key], f"{path}.{key}")
    return StageLimits(**limits)


def _limits_to_dict(limits: StageLimits) -> dict[str, int | float]:
    result: dict[str, int | float] = {}
    for key, stage in _STAGE_KEYS.items():
        hours = limits.for_stage(stage) / _HOUR
        result[key] = int(hours) if hours.is_integer() else hours
    return result


def _hours(value: Any, path: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"SLA 配置 {path}：应为小时数，收到 {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"SLA 配置 {path}：时限必须大于 0 小时，收到 {value!r}")
    if value > MAX_LIMIT / _HOUR:
        raise ValueError(f"SLA 配置 {path}：时限超过一年（{value!r} 小时），请检查单位")
    return timedelta(hours=value)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"SLA 配置 {path}：应为对象，收到 {value!r}")
    return value


def _refuse_unknown_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(f"{where} 中有未知的键 {key!r}，可用：{'、'.join(allowed)}")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} 必须带时区（收到无时区的时间 {moment.isoformat()}）")
