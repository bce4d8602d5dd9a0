"""Job slots: which scheduled fire time a run belongs to, and which slot to catch up on start.

Pure logic on APScheduler triggers (no I/O, no clock of its own): every bot process computes the
same slot id for the same fire time, so the slot's ``job_run`` row makes it run once.
"""

from __future__ import annotations

import datetime as dt

from apscheduler.triggers.base import BaseTrigger

# Aligns interval triggers of every process on the same fire times (2026-01-05 was a Monday).
INTERVAL_EPOCH = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
MAX_FIRES_SCANNED = 100_000  # a window holding more fire times is a configuration mistake


def slot_id(fire_time: dt.datetime) -> str:
    """The id of a scheduled slot: its fire time in UTC, to the second."""
    return fire_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manual_slot_id(now: dt.datetime) -> str:
    """The id of a run started by hand (``dangqun bot run-job``): never equal to a scheduled one."""
    return "manual-" + now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def slot_time(slot: str) -> dt.datetime:
    """The fire time of a slot id (manual ones included)."""
    text = slot.removeprefix("manual-").removesuffix("Z")
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def latest_fire_time(
    trigger: BaseTrigger, *, now: dt.datetime, window: dt.timedelta
) -> dt.datetime | None:
    """The last fire time of the trigger in ``(now - window, now]``, or ``None``."""
    limit = now  # APScheduler starts a run at or after its fire time, never before
    fire = trigger.get_next_fire_time(None, now - window)
    latest = None
    for _ in range(MAX_FIRES_SCANNED):
        if fire is None or fire > limit:
            return latest
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))
    raise ValueError("catch-up window holds too many fire times")


def schedule_text(trigger: BaseTrigger) -> str:
    """A trigger as people say it: 每 5 分钟, 每周一 08:30."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if isinstance(trigger, IntervalTrigger):
        seconds = int(trigger.interval.total_seconds())
        if seconds % 3600 == 0:
            return f"每 {seconds // 3600} 小时"
        if seconds % 60 == 0:
            return f"每 {seconds // 60} 分钟"
        return f"每 {seconds} 秒"
    if isinstance(trigger, CronTrigger):
        fields = {field.name: str(field) for field in trigger.fields}
        days = {"mon": "一", "tue": "二", "wed": "三", "thu": "四", "fri": "五", "sat": "六"}
        days["sun"] = "日"
        time = f"{int(fields['hour']):02d}:{int(fields['minute']):02d}"
        if fields["day_of_week"] in days:
            return f"每周{days[fields['day_of_week']]} {time}"
        if fields["day"] != "*":
            return f"每月{fields['day']}日 {time}"
        return f"每天 {time}"
    return str(trigger)
