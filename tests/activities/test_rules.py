"""The pure rules of an activity: hours, times, the check-in window and the transitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from server.activities import rules
from server.activities.models import ActivityStatus
from server.activities.rules import ActivityAction, ActivityStateConflict
from server.core import errors

UTC = dt.UTC
START = dt.datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
NOW = START - dt.timedelta(days=2)


@pytest.mark.parametrize(
    ("minutes", "default", "cap"),
    [
        (20, "0.5", "0.5"),  # shorter than half an hour: half an hour, no more
        (45, "0.5", "1.0"),
        (60, "1.0", "1.0"),
        (150, "2.5", "2.5"),
        (170, "2.5", "3.0"),
        (600, "8", "8"),  # a long day: the cap
    ],
)
def test_default_hours_and_cap(minutes: int, default: str, cap: str) -> None:
    end = START + dt.timedelta(minutes=minutes)
    assert rules.default_hours(START, end) == Decimal(default)
    assert rules.duration_hours_cap(START, end) == Decimal(cap)


def test_schedule_fills_defaults_and_names_the_wrong_field() -> None:
    end = START + dt.timedelta(hours=2)
    schedule = rules.check_schedule(
        starts_at=START, ends_at=end, signup_deadline=None, hours=None, now=NOW, require_future=True
    )
    assert (schedule.signup_deadline, schedule.hours) == (START, Decimal("2.00"))
    wrong = [
        ({"ends_at": START}, "ends_at"),
        ({"ends_at": START + dt.timedelta(hours=25)}, "ends_at"),
        ({"signup_deadline": START + dt.timedelta(minutes=1)}, "signup_deadline"),
        ({"hours": Decimal("2.5")}, "hours"),
        ({"hours": Decimal("0.75")}, "hours"),
        ({"hours": Decimal("0")}, "hours"),
        ({"now": START + dt.timedelta(minutes=1)}, "starts_at"),
        ({"starts_at": START.replace(tzinfo=None)}, "starts_at"),
    ]
    for changes, field in wrong:
        args: dict = {
            "starts_at": START,
            "ends_at": end,
            "signup_deadline": None,
            "hours": None,
            "now": NOW,
            "require_future": True,
        }
        args.update(changes)
        with pytest.raises(errors.ValidationFailed) as caught:
            rules.check_schedule(**args)
        assert caught.value.details[0]["field"] == field, changes


def test_check_in_window_and_codes() -> None:
    opens, closes = rules.checkin_window(START, START + dt.timedelta(hours=2))
    assert opens == START - dt.timedelta(minutes=30)
    assert closes == START + dt.timedelta(hours=2, minutes=30)
    codes = {rules.new_checkin_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() and c[0] != "0" for c in codes)
    assert len(codes) > 150  # random, not a counter
    assert rules.codes_match(" 123456 ", "123456")
    assert not rules.codes_match("123457", "123456")
    assert not rules.codes_match("", "")  # no code made yet: nothing matches


@pytest.mark.parametrize(
    ("action", "current", "target"),
    [
        (ActivityAction.PUBLISH, None, ActivityStatus.PUBLISHED),
        (ActivityAction.EDIT, ActivityStatus.PUBLISHED, ActivityStatus.PUBLISHED),
        (ActivityAction.CANCEL, ActivityStatus.PUBLISHED, ActivityStatus.CANCELLED),
        (ActivityAction.CLOSE, ActivityStatus.PUBLISHED, ActivityStatus.CLOSED),
        (ActivityAction.CLOSE, ActivityStatus.CANCELLED, None),
        (ActivityAction.CANCEL, ActivityStatus.CLOSED, None),
        (ActivityAction.EDIT, ActivityStatus.CLOSED, None),
        (ActivityAction.PUBLISH, ActivityStatus.PUBLISHED, None),
    ],
)
def test_transitions(
    action: ActivityAction, current: ActivityStatus | None, target: ActivityStatus | None
) -> None:
    if target is None:
        with pytest.raises(ActivityStateConflict):
            rules.next_status(action, current)
    else:
        assert rules.next_status(action, current) is target
