"""Task reminders before the service starts (服务提醒): which one is due, how urgent, what it says.

Pure: no I/O. A task of a need with a start time (``Need.preferred_start``; tasks have no time of
their own) reminds its volunteer 24 hours and 2 hours before. The 24-hour reminder is due from
24 h to 2 h before the start, the 2-hour one from 2 h before to the start; after the start neither
is sent. So a bot that was down catches up with the reminder that still makes sense (never both at
once), and a task taken less than 2 hours before its start gets only the 2-hour reminder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from server.notify.models import Urgency
from server.notify.policy import QuietHours

WEEKDAYS = "一二三四五六日"


class ReminderKind(StrEnum):
    DAY_BEFORE = "24h"
    SOON = "2h"


LEAD_TIMES: dict[ReminderKind, dt.timedelta] = {
    ReminderKind.DAY_BEFORE: dt.timedelta(hours=24),
    ReminderKind.SOON: dt.timedelta(hours=2),
}
# The 2-hour reminder must reach the volunteer at least this long before the start: when quiet
# hours (22:00-07:00) would hold it later, it goes at once as urgent (a 06:30 task reminds at
# 04:30 rather than at 07:00, after the start).
MIN_NOTICE = dt.timedelta(minutes=30)
# What the subscribe template's 'phrase' field (at most 5 Chinese characters) says.
PHRASES: dict[ReminderKind, str] = {
    ReminderKind.DAY_BEFORE: "待服务",
    ReminderKind.SOON: "即将开始",
}


def due_reminder(*, starts_at: dt.datetime, now: dt.datetime) -> ReminderKind | None:
    """The reminder whose window holds ``now``, or None (too early, or already started)."""
    if now >= starts_at:
        return None
    if now >= starts_at - LEAD_TIMES[ReminderKind.SOON]:
        return ReminderKind.SOON
    if now >= starts_at - LEAD_TIMES[ReminderKind.DAY_BEFORE]:
        return ReminderKind.DAY_BEFORE
    return None


@dataclass(frozen=True)
class ReminderPlan:
    kind: ReminderKind
    urgency: Urgency


URGENCY_RANK = {Urgency.NORMAL: 0, Urgency.URGENT: 1, Urgency.EMERGENCY: 2}


def plan_reminder(
    *,
    starts_at: dt.datetime,
    now: dt.datetime,
    quiet: QuietHours,
    need_urgency: Urgency = Urgency.NORMAL,
) -> ReminderPlan | None:
    """The reminder to write now, with its urgency, or None.

    Normal messages wait out quiet hours. A 24-hour reminder that would only leave once the
    2-hour window has begun is not written: the 2-hour reminder says the same a moment later
    (no two reminders at 07:00 for a 08:00 task). A 2-hour reminder that would arrive less than
    ``MIN_NOTICE`` before the start goes at once, as urgent.
    """
    kind = due_reminder(starts_at=starts_at, now=now)
    if kind is None:
        return None
    urgency = need_urgency
    if urgency is Urgency.NORMAL:
        leaves_at = quiet.ends_at(now) or now
        if (
            kind is ReminderKind.DAY_BEFORE
            and leaves_at >= starts_at - LEAD_TIMES[ReminderKind.SOON]
        ):
            return None
        if kind is ReminderKind.SOON and leaves_at > starts_at - MIN_NOTICE:
            urgency = Urgency.URGENT
    return ReminderPlan(kind, urgency)


def local_when(moment: dt.datetime, *, now: dt.datetime, tz: dt.tzinfo) -> str:
    """A start time as people read it: 今天 / 明天 / 11月30日（周一）, then HH:MM, local time."""
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    days = (local.date() - today).days
    if days == 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    elif days == 2:
        day = "后天"
    else:
        day = f"{local.month}月{local.day}日（周{WEEKDAYS[local.weekday()]}）"
    return f"{day} {local:%H:%M}"


def volunteer_text(kind: ReminderKind, *, title: str, address: str, when: str) -> str:
    """The inbox text of a volunteer's reminder."""
    place = f"，地点：{address}" if address else ""
    if kind is ReminderKind.DAY_BEFORE:
        return f"提醒：您接下的志愿服务“{title}”将于{when}开始{place}。如不能前往，请尽早告知社区。"
    return f"您接下的志愿服务“{title}”将于{when}开始{place}，请按时到场签到。"


def resident_text(*, title: str, volunteer: str, when: str) -> str:
    """The inbox text of the resident's notice that the volunteer comes soon."""
    return f"您的需求“{title}”：志愿者{volunteer}将于{when}前来服务，请留意。"
