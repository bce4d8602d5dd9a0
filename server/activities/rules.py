"""The rules of an activity, with no I/O: allowed transitions, times, hours, the check-in window."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from server.activities.models import ACTIVITY_LABELS, ActivityStatus
from server.core import errors

HOURS_CAP = Decimal(8)  # a day's activity earns at most a working day, like a task
HOURS_STEP = Decimal("0.5")  # hours are credited in half hours, as for tasks
DURATION_MAX = dt.timedelta(hours=24)
CAPACITY_MAX = 1000
# The code is typed on a phone; six digits with a five-try limit leave 1 in 200,000 to guessing.
CHECKIN_CODE_DIGITS = 6
CHECKIN_WRONG_MAX = 5
CHECKIN_EARLY = dt.timedelta(minutes=30)  # volunteers arrive early to set up
CHECKIN_GRACE = dt.timedelta(minutes=30)  # and the code lives this long after the end
# Activities nobody closed by hand close themselves this long after their end (the secretary has
# a day to mark attendance by hand first).
AUTO_CLOSE_AFTER = dt.timedelta(hours=24)
REMINDER_BEFORE = dt.timedelta(hours=24)  # signed-up volunteers are reminded a day ahead

S = ActivityStatus


class ActivityAction(StrEnum):
    PUBLISH = "publish"  # 发布
    EDIT = "edit"  # 修改（时间、地点、名额…）
    CANCEL = "cancel"  # 取消（通知已报名的志愿者）
    CLOSE = "close"  # 结束（为签到的志愿者记时长）


@dataclass(frozen=True)
class Transition:
    sources: frozenset[ActivityStatus | None]
    target: ActivityStatus


TRANSITIONS: dict[ActivityAction, Transition] = {
    ActivityAction.PUBLISH: Transition(frozenset({None}), S.PUBLISHED),
    ActivityAction.EDIT: Transition(frozenset({S.PUBLISHED}), S.PUBLISHED),
    ActivityAction.CANCEL: Transition(frozenset({S.PUBLISHED}), S.CANCELLED),
    ActivityAction.CLOSE: Transition(frozenset({S.PUBLISHED}), S.CLOSED),
}


class ActivityStateConflict(errors.Conflict):
    code = "activity_state_conflict"
    default_message = "活动当前状态不能进行此操作"


def next_status(action: ActivityAction, current: ActivityStatus | None) -> ActivityStatus:
    """The status after ``action``, or 409 naming the current status."""
    transition = TRANSITIONS[action]
    if current not in transition.sources:
        label = ACTIVITY_LABELS[current] if current else "未发布"
        raise ActivityStateConflict(
            f"活动{label}，不能{ACTION_LABELS[action]}",
            details={"status": current.value if current else None, "action": action.value},
        )
    return transition.target


ACTION_LABELS: dict[ActivityAction, str] = {
    ActivityAction.PUBLISH: "发布",
    ActivityAction.EDIT: "修改",
    ActivityAction.CANCEL: "取消",
    ActivityAction.CLOSE: "结束",
}


def _fail(field: str, message: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(
        message, details=[{"field": field, "location": "body", "message": message}]
    )


def duration_hours_cap(starts_at: dt.datetime, ends_at: dt.datetime) -> Decimal:
    """The most hours an activity of this length may credit: its length up to the next half
    hour, and never more than ``HOURS_CAP``."""
    half_hours = -(-int((ends_at - starts_at).total_seconds()) // 1800)  # ceiling
    return min(HOURS_STEP * half_hours, HOURS_CAP)


def default_hours(starts_at: dt.datetime, ends_at: dt.datetime) -> Decimal:
    """Hours credited per attendee when the secretary names none: the length rounded down to the
    half hour, at least half an hour, at most ``HOURS_CAP``."""
    length = Decimal((ends_at - starts_at).total_seconds()) / Decimal(3600)
    rounded = (length / HOURS_STEP).to_integral_value(rounding=ROUND_FLOOR) * HOURS_STEP
    return max(HOURS_STEP, min(rounded, HOURS_CAP))


@dataclass(frozen=True)
class Schedule:
    starts_at: dt.datetime
    ends_at: dt.datetime
    signup_deadline: dt.datetime
    hours: Decimal


def check_schedule(
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    signup_deadline: dt.datetime | None,
    hours: Decimal | None,
    now: dt.datetime,
    require_future: bool,
) -> Schedule:
    """Times in order, a sensible length, hours within the cap (defaults filled in)."""
    for name, value in (
        ("starts_at", starts_at),
        ("ends_at", ends_at),
        ("signup_deadline", signup_deadline),
    ):
        if value is not None and value.tzinfo is None:
            raise _fail(name, "时间必须带时区，如 2026-12-05T09:00:00+08:00")
    if ends_at <= starts_at:
        raise _fail("ends_at", "结束时间必须晚于开始时间")
    if ends_at - starts_at > DURATION_MAX:
        raise _fail("ends_at", "一次活动最长 24 小时，多日活动请分开发布")
    if require_future and starts_at <= now:
        raise _fail("starts_at", "开始时间必须在现在之后")
    deadline = signup_deadline or starts_at
    if deadline > starts_at:
        raise _fail("signup_deadline", "报名截止时间不能晚于活动开始时间")
    cap = duration_hours_cap(starts_at, ends_at)
    if hours is None:
        credited = min(default_hours(starts_at, ends_at), cap)
    else:
        if hours % HOURS_STEP != 0 or hours < HOURS_STEP:
            raise _fail("hours", "时长以半小时为单位，至少 0.5 小时")
        if hours > cap:
            raise _fail(
                "hours", f"这次活动每人最多记 {cap} 小时（按活动时长，且不超过 {HOURS_CAP}）"
            )
        credited = hours
    return Schedule(starts_at, ends_at, deadline, credited.quantize(Decimal("0.01")))


def checkin_window(starts_at: dt.datetime, ends_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When volunteers may check in with the code: from a little before the start to a little
    after the end (the code expires at the window's end)."""
    return starts_at - CHECKIN_EARLY, ends_at + CHECKIN_GRACE


def new_checkin_code() -> str:
    """A fresh numeric check-in code (never starting with 0, so it reads the same everywhere)."""
    low = 10 ** (CHECKIN_CODE_DIGITS - 1)
    return str(low + secrets.randbelow(9 * low))


def codes_match(submitted: str, expected: str) -> bool:
    """Compare in constant time (the code is a secret shown only at the activity)."""
    return bool(expected) and secrets.compare_digest(submitted.strip(), expected)
