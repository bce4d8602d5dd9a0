"""SLA clocks: when a need turns late, who must act, and what the phone shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.needs.sla import (
    CATEGORIES,
    DEFAULT_POLICY,
    URGENCIES,
    EscalationLevel,
    Health,
    SlaPolicy,
    SlaState,
    Stage,
    StageLimits,
    describe,
    escalation_due,
    evaluate,
    stage_for_status,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)

# The default limits, written out so a change to the policy is a visible change here.
DEFAULT_LIMITS = {
    "normal": {Stage.TRIAGE: 24 * H, Stage.ASSIGNMENT: 48 * H, Stage.COMPLETION: 7 * 24 * H},
    "urgent": {Stage.TRIAGE: 4 * H, Stage.ASSIGNMENT: 12 * H, Stage.COMPLETION: 48 * H},
    "emergency": {Stage.TRIAGE: 30 * M, Stage.ASSIGNMENT: 1 * H, Stage.COMPLETION: 12 * H},
}
STATUS_OF_STAGE = {
    Stage.TRIAGE: "submitted",
    Stage.ASSIGNMENT: "accepted",
    Stage.COMPLETION: "in_progress",
}
TIMED_STATUSES = ("submitted", "reopened", "accepted", "matching", "assigned", "in_progress")
UNTIMED_STATUSES = ("done", "confirmed", "closed", "rejected", "cancelled", "merged", "draft")


def at(
    offset: timedelta,
    *,
    status: str = "submitted",
    category: str = "daily_life",
    urgency: str = "normal",
    policy: SlaPolicy = DEFAULT_POLICY,
    due_at_override: datetime | None = None,
) -> SlaState:
    return evaluate(
        status=status,
        category=category,
        urgency=urgency,
        stage_started_at=T0,
        now=T0 + offset,
        policy=policy,
        due_at_override=due_at_override,
    )


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("submitted", Stage.TRIAGE),
        ("reopened", Stage.TRIAGE),
        ("accepted", Stage.ASSIGNMENT),
        ("matching", Stage.ASSIGNMENT),
        ("assigned", Stage.COMPLETION),
        ("in_progress", Stage.COMPLETION),
        *((status, None) for status in UNTIMED_STATUSES),
    ],
)
def test_each_status_maps_to_its_stage(status: str, stage: Stage | None) -> None:
    assert stage_for_status(status) == stage


# (fraction of the limit, extra offset, health, level). Late boundaries are inclusive.
BOUNDARIES = [
    (0.0, timedelta(0), Health.ON_TIME, EscalationLevel.NONE),
    (0.8, -S, Health.ON_TIME, EscalationLevel.NONE),
    (0.8, timedelta(0), Health.WARNING, EscalationLevel.NONE),
    (1.0, -S, Health.WARNING, EscalationLevel.NONE),
    (1.0, timedelta(0), Health.OVERDUE, EscalationLevel.GRID),
    (1.5, -S, Health.OVERDUE, EscalationLevel.GRID),
    (1.5, timedelta(0), Health.OVERDUE, EscalationLevel.COMMUNITY),
    (2.0, -S, Health.OVERDUE, EscalationLevel.COMMUNITY),
    (2.0, timedelta(0), Health.OVERDUE, EscalationLevel.STREET),
    (10.0, timedelta(0), Health.OVERDUE, EscalationLevel.STREET),
]


@pytest.mark.parametrize("urgency", URGENCIES)
@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize(("fraction", "extra", "health", "level"), BOUNDARIES)
def test_health_and_level_at_the_boundaries(
    urgency: str,
    stage: Stage,
    fraction: float,
    extra: timedelta,
    health: Health,
    level: EscalationLevel,
) -> None:
    limit = DEFAULT_LIMITS[urgency][stage]
    offset = limit * fraction + extra

    state = at(offset, status=STATUS_OF_STAGE[stage], urgency=urgency)

    assert (state.stage, state.health, state.level) == (stage, health, level)
    assert state.due_at == T0 + limit
    assert state.warn_at == T0 + limit * 0.8
    assert state.elapsed == offset
    assert state.remaining == limit - offset


@pytest.mark.parametrize(
    ("category", "urgency", "triage_limit"),
    [
        ("safety", "normal", 8 * H),  # hazards are looked at within a shift
        ("safety", "urgent", 2 * H),
        ("safety", "emergency", 30 * M),  # default emergency is already the tightest
        ("daily_life", "normal", 24 * H),
        ("sanitation", "urgent", 4 * H),
    ],
)
def test_safety_needs_have_tighter_limits(
    category: str, urgency: str, triage_limit: timedelta
) -> None:
    assert at(triage_limit - S, category=category, urgency=urgency).health is Health.WARNING
    assert at(triage_limit, category=category, urgency=urgency).health is Health.OVERDUE


def test_a_community_override_applies_only_to_its_category_and_urgency() -> None:
    policy = SlaPolicy.from_dict({"overrides": {"dispute/normal": {"triage_hours": 12}}})

    dispute = at(12 * H, category="dispute", policy=policy)
    other = at(12 * H, category="other", policy=policy)
    urgent_dispute = at(6 * H, category="dispute", urgency="urgent", policy=policy)

    assert (dispute.health, dispute.level) == (Health.OVERDUE, EscalationLevel.GRID)
    assert other.health is Health.ON_TIME
    assert urgent_dispute.level is EscalationLevel.COMMUNITY  # 6h is 1.5× the urgent 4h
    # Stages the override leaves out keep the urgency's default.
    assert policy.limits("dispute", "normal").completion == 7 * 24 * H
    # Giving "overrides" replaces the built-in ones.
    assert policy.limits("safety", "normal") == policy.limits("daily_life", "normal")


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize(
    ("offset", "health", "level"),
    [
        (7 * H, Health.ON_TIME, EscalationLevel.NONE),
        (8 * H, Health.WARNING, EscalationLevel.NONE),
        (10 * H, Health.OVERDUE, EscalationLevel.GRID),
        (15 * H, Health.OVERDUE, EscalationLevel.COMMUNITY),
        (20 * H, Health.OVERDUE, EscalationLevel.STREET),
    ],
)
def test_a_due_time_set_by_staff_replaces_the_stage_limit(
    stage: Stage, offset: timedelta, health: Health, level: EscalationLevel
) -> None:
    due = T0 + 10 * H  # any stage: 10 hours instead of the policy's limit

    state = at(offset, status=STATUS_OF_STAGE[stage], due_at_override=due)

    assert (state.health, state.level) == (health, level)
    assert state.due_at == due
    assert state.warn_at == T0 + 8 * H
    assert state.remaining == due - (T0 + offset)


@pytest.mark.parametrize(
    ("offset", "level"),
    [
        (timedelta(0), EscalationLevel.GRID),
        (83 * H - S, EscalationLevel.GRID),
        (83 * H, EscalationLevel.COMMUNITY),  # due + half the 7-day completion limit
        (167 * H, EscalationLevel.STREET),  # due + the whole limit
    ],
)
def test_a_due_time_that_passed_before_the_stage_began_makes_it_late_at_once(
    offset: timedelta, level: EscalationLevel
) -> None:
    due = T0 - H  # set during triage; the need was only assigned after it

    state = at(offset, status="assigned", due_at_override=due)

    assert (state.health, state.level) == (Health.OVERDUE, level)
    assert state.due_at == due
    assert state.remaining == due - (T0 + offset)
    if offset == timedelta(0):
        assert describe(state) == "已超时 1小时，请网格员尽快处理"


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (EscalationLevel.NONE, EscalationLevel.NONE, None),
        (EscalationLevel.NONE, EscalationLevel.GRID, EscalationLevel.GRID),
        (EscalationLevel.GRID, EscalationLevel.GRID, None),
        (EscalationLevel.GRID, EscalationLevel.COMMUNITY, EscalationLevel.COMMUNITY),
        (EscalationLevel.NONE, EscalationLevel.STREET, EscalationLevel.STREET),  # scan was down
        (EscalationLevel.STREET, EscalationLevel.STREET, None),
        (EscalationLevel.STREET, EscalationLevel.NONE, None),  # reopened: never de-escalates
    ],
)
def test_escalation_fires_only_when_the_level_rises(
    previous: EscalationLevel, current: EscalationLevel, expected: EscalationLevel | None
) -> None:
    fraction = {0: 0.0, 1: 1.0, 2: 1.5, 3: 2.0}[current]
    state = at(4 * H * fraction, urgency="urgent")
    assert state.level is current

    assert escalation_due(previous, state) == expected


def test_a_scan_every_ten_minutes_records_each_escalation_once() -> None:
    recorded: list[tuple[timedelta, EscalationLevel]] = []
    level = EscalationLevel.NONE
    for tick in range(0, 6 * 12 + 1):  # urgent triage (4h limit) scanned for 12 hours
        offset = tick * 10 * M
        new_level = escalation_due(level, at(offset, urgency="urgent"))
        if new_level is not None:
            recorded.append((offset, new_level))
            level = new_level

    assert recorded == [
        (4 * H, EscalationLevel.GRID),
        (6 * H, EscalationLevel.COMMUNITY),
        (8 * H, EscalationLevel.STREET),
    ]


@pytest.mark.parametrize("status", UNTIMED_STATUSES)
def test_needs_outside_a_timed_stage_have_no_clock(status: str) -> None:
    state = at(30 * 24 * H, status=status)

    assert state == SlaState(
        stage=None,
        health=Health.ON_TIME,
        level=EscalationLevel.NONE,
        due_at=None,
        warn_at=None,
        elapsed=None,
        remaining=None,
    )
    assert escalation_due(EscalationLevel.NONE, state) is None
    assert describe(state) == "不在计时阶段"


def test_a_clock_behind_the_stage_start_counts_as_no_time_elapsed() -> None:
    state = at(-2 * H, urgency="urgent")

    assert (state.health, state.level) == (Health.ON_TIME, EscalationLevel.NONE)
    assert state.elapsed == timedelta(0)
    assert state.remaining == 4 * H
    assert state.due_at == T0 + 4 * H


def test_times_in_other_zones_compare_as_instants() -> None:
    beijing = timezone(timedelta(hours=8))
    state = evaluate(
        status="submitted",
        category="daily_life",
        urgency="urgent",
        stage_started_at=T0,
        now=(T0 + 4 * H).astimezone(beijing),
        policy=DEFAULT_POLICY,
    )

    assert state.health is Health.OVERDUE
    assert state.elapsed == 4 * H


@pytest.mark.parametrize("argument", ["stage_started_at", "now", "due_at_override"])
def test_naive_datetimes_are_refused(argument: str) -> None:
    moments = {"stage_started_at": T0, "now": T0 + H, "due_at_override": T0 + 5 * H}
    moments[argument] = moments[argument].replace(tzinfo=None)

    with pytest.raises(ValueError, match=f"{argument} 必须带时区"):
        evaluate(
            status="assigned",
            category="other",
            urgency="normal",
            stage_started_at=moments["stage_started_at"],
            now=moments["now"],
            due_at_override=moments["due_at_override"],
        )


@pytest.mark.parametrize(
    ("offset", "urgency", "text"),
    [
        (40 * M, "urgent", "剩余 3小时20分"),
        (2 * H, "urgent", "剩余 2小时"),
        (H + 30 * S, "urgent", "剩余 2小时59分"),  # rounded down: never promises more time
        (3 * H + 20 * M, "urgent", "即将超时（剩余 40分钟）"),
        (4 * H - 30 * S, "urgent", "即将超时（剩余 不到1分钟）"),
        (4 * H, "urgent", "刚刚超时，请网格员尽快处理"),
        (5 * H, "urgent", "已超时 1小时，请网格员尽快处理"),
        (8 * H - M, "urgent", "已超时 3小时59分，已上报社区书记"),
        (2 * H, "normal", "剩余 22小时"),
        (75 * H, "normal", "已超时 2天3小时，已上报街道"),
        (72 * H, "normal", "已超时 2天，已上报街道"),
    ],
)
def test_describe_gives_short_chinese_text(offset: timedelta, urgency: str, text: str) -> None:
    assert describe(at(offset, urgency=urgency)) == text


def test_the_default_policy_round_trips_through_json() -> None:
    data = json.loads(json.dumps(DEFAULT_POLICY.to_dict()))

    assert data["default"]["normal"] == {
        "triage_hours": 24,
        "assignment_hours": 48,
        "completion_hours": 168,
    }
    assert data["default"]["emergency"]["triage_hours"] == 0.5
    assert data["overrides"]["safety/urgent"]["triage_hours"] == 2
    assert SlaPolicy.from_dict(data) == DEFAULT_POLICY
    assert SlaPolicy.from_dict({}) == DEFAULT_POLICY


def test_a_community_policy_round_trips_through_json() -> None:
    policy = SlaPolicy.from_dict(
        {
            "default": {"normal": {"triage_hours": 12, "completion_hours": 120}},
            "overrides": {
                "sanitation/urgent": {"triage_hours": 1.5},
                "space/normal": {"assignment_hours": 0.25},
            },
            "warning_ratio": 0.75,
            "escalation_steps": [1, 2, 3],
        }
    )

    assert policy.limits("other", "normal") == StageLimits(12 * H, 48 * H, 120 * H)
    assert policy.limits("sanitation", "urgent") == StageLimits(90 * M, 12 * H, 48 * H)
    assert policy.limits("space", "normal") == StageLimits(12 * H, 15 * M, 120 * H)
    assert SlaPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
    state = at(12 * H * 0.75, policy=policy)
    assert state.health is Health.WARNING
    assert at(24 * H, policy=policy).level is EscalationLevel.COMMUNITY


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"default": {"normal": {"triage_hours": -1}}}, "default.normal.triage_hours"),
        ({"default": {"urgent": {"completion_hours": 0}}}, "default.urgent.completion_hours"),
        ({"default": {"normal": {"triage_hours": float("nan")}}}, "default.normal.triage_hours"),
        ({"default": {"normal": {"triage_hours": "24"}}}, "default.normal.triage_hours"),
        ({"default": {"normal": {"triage_hours": True}}}, "default.normal.triage_hours"),
        ({"default": {"normal": {"triage_hours": 24 * 400}}}, "default.normal.triage_hours"),
        ({"default": {"normal": {"triage_hour": 24}}}, "'triage_hour'"),
        ({"default": {"critical": {"triage_hours": 1}}}, "default.critical"),
        ({"default": []}, "default"),
        ({"overrides": {"safety/critical": {"triage_hours": 1}}}, "overrides.safety/critical"),
        ({"overrides": {"saftey/urgent": {"triage_hours": 1}}}, "overrides.saftey/urgent"),
        ({"overrides": {"safety": {"triage_hours": 1}}}, "overrides.safety"),
        ({"overrides": {"safety/urgent": {"assignment_hours": -2}}}, "assignment_hours"),
        ({"warning_ratio": 0}, "warning_ratio"),
        ({"warning_ratio": 1}, "warning_ratio"),
        ({"warning_ratio": 1.2}, "warning_ratio"),
        ({"warning_ratio": "0.8"}, "warning_ratio"),
        ({"escalation_steps": [1.0, 1.5]}, "escalation_steps"),
        ({"escalation_steps": [1.0, 2.0, 1.5]}, "escalation_steps"),
        ({"escalation_steps": [0.5, 1.0, 1.5]}, "escalation_steps"),
        ({"escalation_steps": "1,1.5,2"}, "escalation_steps"),
        ({"sla": {}}, "'sla'"),
    ],
)
def test_bad_config_is_refused_naming_the_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match="SLA 配置") as caught:
        SlaPolicy.from_dict(data)

    assert named in str(caught.value)


def test_limits_refuse_unknown_category_or_urgency() -> None:
    with pytest.raises(ValueError, match="未知的服务类别"):
        DEFAULT_POLICY.limits("parking", "normal")
    with pytest.raises(ValueError, match="未知的紧急程度"):
        DEFAULT_POLICY.limits("safety", "high")


def test_a_policy_must_cover_every_urgency_with_positive_limits() -> None:
    with pytest.raises(ValueError, match=r"default\.emergency"):
        SlaPolicy(default={u: DEFAULT_POLICY.default[u] for u in ("normal", "urgent")})
    with pytest.raises(ValueError, match="triage 时限必须大于 0"):
        StageLimits(triage=timedelta(0), assignment=H, completion=H)


HEALTH_RANK = {Health.ON_TIME: 0, Health.WARNING: 1, Health.OVERDUE: 2}


@settings(database=None, deadline=None)
@given(
    status=st.sampled_from(TIMED_STATUSES),
    category=st.sampled_from(CATEGORIES),
    urgency=st.sampled_from(URGENCIES),
    earlier=st.timedeltas(min_value=-3 * 24 * H, max_value=40 * 24 * H),
    later_by=st.timedeltas(min_value=timedelta(0), max_value=40 * 24 * H),
    due_in=st.none() | st.timedeltas(min_value=-10 * 24 * H, max_value=30 * 24 * H),
)
def test_health_and_level_never_go_down_as_time_passes(
    status: str,
    category: str,
    urgency: str,
    earlier: timedelta,
    later_by: timedelta,
    due_in: timedelta | None,
) -> None:
    due = None if due_in is None else T0 + due_in
    before = at(earlier, status=status, category=category, urgency=urgency, due_at_override=due)
    after = at(
        earlier + later_by, status=status, category=category, urgency=urgency, due_at_override=due
    )

    assert HEALTH_RANK[after.health] >= HEALTH_RANK[before.health]
    assert after.level >= before.level
    assert escalation_due(after.level, before) is None
