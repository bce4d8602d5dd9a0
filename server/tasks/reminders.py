"""Task reminders (服务提醒): T-24h and T-2h to the volunteer, T-2h to the resident.

The bot's ``task_reminders`` job calls ``send_due_reminders`` every few minutes. Each reminder is
a ``TaskReminder`` row written in the same transaction as its outbox rows, with the need's row
locked (the tasks module's lock order: need first, then its task), so it is written once per
task and kind whatever the number of bot processes, manual runs and catch-ups. A run that finds
nothing new writes nothing, so a bot that was down simply sends what is still due when it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.accounts.models import Person
from server.core.config import Settings
from server.needs.models import Need, NeedStatus
from server.needs.service import URGENCY_TO_NOTIFY
from server.notify.policy import QuietHours
from server.notify.service import enqueue
from server.tasks.models import Task, TaskReminder, TaskStatus
from server.tasks.reminder_rules import (
    LEAD_TIMES,
    PHRASES,
    ReminderKind,
    ReminderPlan,
    local_when,
    plan_reminder,
    resident_text,
    volunteer_text,
)

log = logging.getLogger("dangqun.tasks.reminders")

VOLUNTEER_KIND = "task_reminder"  # outbox kind of the volunteer's reminder
RESIDENT_KIND = "task_reminder_resident"  # outbox kind of the resident's "志愿者即将到来"
LONGEST_LEAD = max(LEAD_TIMES.values())


@dataclass
class ReminderScan:
    """What one run wrote."""

    day_before: int = 0  # 24-hour reminders
    soon: int = 0  # 2-hour reminders (each with the resident's notice)
    skipped: int = 0  # found written by another process meanwhile, or no longer due

    @property
    def written(self) -> int:
        return self.day_before + self.soon


def _quiet(settings: Settings) -> QuietHours:
    return QuietHours.from_settings(
        settings.notify_quiet_start, settings.notify_quiet_end, settings.timezone
    )


def _plan(
    starts_at: dt.datetime | None, need_urgency: object, *, now: dt.datetime, quiet: QuietHours
) -> ReminderPlan | None:
    if starts_at is None:
        return None
    return plan_reminder(
        starts_at=starts_at,
        now=now,
        quiet=quiet,
        need_urgency=URGENCY_TO_NOTIFY[str(need_urgency)],
    )


async def _write_reminder(
    task_id: int, need_id: int, *, now: dt.datetime, settings: Settings
) -> ReminderKind | None:
    """Write one task's due reminder and its outbox rows (not when written already or not due)."""
    quiet, tz = _quiet(settings), ZoneInfo(settings.timezone)
    async with in_transaction() as connection:
        need = await Need.filter(id=need_id).select_for_update().using_db(connection).first()
        task = await Task.get_or_none(id=task_id, using_db=connection)
        if need is None or task is None:
            return None
        if task.status is not TaskStatus.ACCEPTED or need.status is not NeedStatus.ASSIGNED:
            return None  # checked in, finished, cancelled or reassigned since the scan
        plan = _plan(need.preferred_start, need.urgency, now=now, quiet=quiet)
        if plan is None or need.preferred_start is None:
            return None
        done = TaskReminder.filter(task_id=task.id, kind=plan.kind.value).using_db(connection)
        if await done.exists():
            return None
        starts_at = need.preferred_start
        await TaskReminder.create(
            task_id=task.id, kind=plan.kind.value, starts_at=starts_at, using_db=connection
        )
        when = local_when(starts_at, now=now, tz=tz)
        common = {
            "need_id": need.id,
            "task_id": task.id,
            "title": need.title,
            "reminder": plan.kind.value,
            "starts_at": starts_at.isoformat(),
            "when": when,
        }
        await enqueue(
            kind=VOLUNTEER_KIND,
            payload={
                **common,
                "address": need.address,
                "phrase": PHRASES[plan.kind],
                "text": volunteer_text(
                    plan.kind, title=need.title, address=need.address, when=when
                ),
            },
            recipient_id=task.volunteer_id,
            urgency=plan.urgency,
            dedupe_key=f"task:{task.id}:remind:{plan.kind.value}",
            using_db=connection,
        )
        if plan.kind is ReminderKind.SOON:
            volunteer = await Person.get(id=task.volunteer_id, using_db=connection)
            await enqueue(
                kind=RESIDENT_KIND,
                payload={
                    **common,
                    "volunteer": volunteer.name,
                    "text": resident_text(title=need.title, volunteer=volunteer.name, when=when),
                },
                recipient_id=need.reporter_id,
                urgency=plan.urgency,
                dedupe_key=f"task:{task.id}:remind:{plan.kind.value}:resident",
                using_db=connection,
            )
        return plan.kind


async def send_due_reminders(*, now: dt.datetime, settings: Settings) -> ReminderScan:
    """服务提醒: write every task reminder due at ``now`` that was not written before."""
    quiet = _quiet(settings)
    rows = await Task.filter(
        status=TaskStatus.ACCEPTED,
        need__status=NeedStatus.ASSIGNED,
        need__preferred_start__gt=now,
        need__preferred_start__lte=now + LONGEST_LEAD,
    ).values("id", "need_id", "need__preferred_start", "need__urgency")
    if not rows:
        return ReminderScan()
    written = await TaskReminder.filter(task_id__in=[row["id"] for row in rows]).values_list(
        "task_id", "kind"
    )
    done = {(int(task_id), str(kind)) for task_id, kind in written}
    scan = ReminderScan()
    for row in sorted(rows, key=lambda r: (r["need__preferred_start"], r["id"])):
        plan = _plan(row["need__preferred_start"], row["need__urgency"], now=now, quiet=quiet)
        if plan is None or (int(row["id"]), plan.kind.value) in done:
            continue
        try:
            kind = await _write_reminder(
                int(row["id"]), int(row["need_id"]), now=now, settings=settings
            )
        except IntegrityError:  # another process wrote the same reminder at the same moment
            kind = None
        if kind is ReminderKind.DAY_BEFORE:
            scan.day_before += 1
        elif kind is ReminderKind.SOON:
            scan.soon += 1
        else:
            scan.skipped += 1
    return scan
