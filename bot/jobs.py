"""The bot's scheduled jobs: one named function each, with a docstring saying what it does."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.asyncio import Redis

from bot.slots import INTERVAL_EPOCH, slot_time
from server.activities import service as activities
from server.core.clock import utcnow
from server.core.config import Settings
from server.digest import service as digest
from server.digest.service import PlannedMessage
from server.digest.weeks import last_complete_week
from server.needs import service as needs
from server.needs.photo_cleanup import StoredFile, delete_orphans, find_orphans
from server.needs.photos import photo_store
from server.party import service as party
from server.points import boards as points_boards
from server.points import service as points
from server.projects import service as projects
from server.tasks import service as tasks

log = logging.getLogger("dangqun.bot.jobs")

HEARTBEAT_SECONDS = 30
SLA_SCAN_MINUTES = 5  # 实时监测: an emergency's 30-minute triage limit is seen within 5 minutes
AUTO_CONFIRM_MINUTES = 60
TASK_WAVES_MINUTES = 1  # an invitation wave times out in minutes: look every minute
HEARTBEAT_KEY_PREFIX = "bot:heartbeat:"
BOARD_SYNC_MINUTES = 1  # approvals whose after-commit board update failed join within a minute
HONOUR_BOARD_HOUR = 9  # 光荣榜 goes out at 09:00 on the 1st, when people read it
# Checked each morning of the first week, so a bot that was down on the 1st catches up.
HONOUR_BOARD_DAYS = "1-7"
OUTBOX_DISPATCH_SECONDS = 3  # a notification leaves within seconds of its cause's commit
# 周报: Monday 08:30 local time, before the secretary's week starts
DIGEST_DAY, DIGEST_HOUR, DIGEST_MINUTE = "mon", 8, 30
DIGEST_CATCH_UP_HOURS = 6  # default of DANGQUN_DIGEST_CATCH_UP_HOURS
# 为民实事: owners are reminded from the 25th (a week to report before the month ends); checked
# daily until the 28th so a bot that was down catches up, once per project and month
PROJECT_REMINDER_DAYS, PROJECT_REMINDER_HOUR = "25-28", 9
# job_run keeps a row per slot (about 300 a day); older than this no catch-up window reaches
JOB_RUN_KEEP_DAYS = 90
# 服务提醒: T-24h and T-2h reminders are written within this many minutes of their time; a bot
# that starts runs the latest slot at once (what is still due, never what was already written)
TASK_REMINDERS_MINUTES = 5
# 志愿活动: reminders go out a day ahead and activities close a day after their end, so looking
# every 10 minutes is precise enough
ACTIVITY_SCAN_MINUTES = 10
# 双报到: on the 1st at 09:30 (after the honour board), progress as of the month's end before
PARTY_REMINDER_DAY, PARTY_REMINDER_HOUR, PARTY_REMINDER_MINUTE = 1, 9, 30
PARTY_REMINDER_CATCH_UP = dt.timedelta(days=3)  # a bot down on the 1st still sends it that week
# 共享家: return reminders (T-24h for loans over a day, else T-2h) and overdue notices (end + 1 h)
# are written within this many minutes; a starting bot runs the latest slot at once
BOOKING_REMINDERS_MINUTES = 5
# 照片清理: uploads never attached go at night, when nobody is filling in a form
PHOTO_CLEANUP_HOUR, PHOTO_CLEANUP_MINUTE = 4, 10


@dataclass(frozen=True)
class JobContext:
    """What every job may use."""

    redis: Redis
    worker_id: str
    settings: Settings
    # set by the slot guard (bot/guard.py) for the run at hand
    slot: str = ""
    community_id: int | None = None
    now: dt.datetime | None = None


class Planned(Protocol):
    """One thing a run would do, as ``run-job --dry-run`` prints it."""

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[JobContext], Awaitable[str | None]]
    trigger: BaseTrigger
    guarded: bool = True  # runs once per slot across bot processes (heartbeat: every process)
    per_community: bool = False  # one claim (and one run) per community
    catch_up: dt.timedelta | None = None  # a missed slot this recent runs when a bot starts
    # what a run would do (outbox rows, files), for run-job --dry-run (None: it runs and is
    # rolled back, and the outbox rows it wrote are listed)
    plan: Callable[[JobContext], Awaitable[Sequence[Planned]]] | None = None
    preview: str = "将写入 {count} 条待发消息"  # run-job --dry-run's heading per scope

    @property
    def description(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0]


def worker_id() -> str:
    """This bot process, as other processes and admins see it."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def record_heartbeat(ctx: JobContext) -> None:
    """Record that this bot process is alive (admins and /readyz of the bot read it)."""
    await ctx.redis.set(
        HEARTBEAT_KEY_PREFIX + ctx.worker_id, str(int(time.time())), ex=HEARTBEAT_SECONDS * 3
    )


async def live_bots(redis: Redis) -> list[str]:
    """Worker ids of bot processes whose heartbeat is recent."""
    keys = [key async for key in redis.scan_iter(match=HEARTBEAT_KEY_PREFIX + "*")]
    return sorted(str(key).removeprefix(HEARTBEAT_KEY_PREFIX) for key in keys)


async def scan_need_sla(ctx: JobContext) -> None:
    """Warn at 80% of a stage limit; escalate overdue needs (grid → community → street)."""
    result = await needs.scan_sla(now=utcnow())
    if result.warnings or result.escalations:
        log.info("SLA scan: %d warning(s), %d escalation(s)", result.warnings, result.escalations)


async def auto_confirm_needs(ctx: JobContext) -> None:
    """Confirm done needs the resident has not rated within the configured days."""
    days = ctx.settings.need_auto_confirm_days
    count = await needs.auto_confirm_done(older_than=dt.timedelta(days=days), now=utcnow())
    if count:
        log.info("auto-confirmed %d need(s) unrated for %d days", count, days)


async def run_task_waves(ctx: JobContext) -> None:
    """Invitation waves (志愿红): auto-start matching, expire waves, invite the next or escalate.

    Accepted needs left unassigned start matching; unanswered waves expire and the next wave goes
    out, or the secretary is told nobody is left."""
    result = await tasks.run_wave_minute(now=utcnow(), settings=ctx.settings)
    if result.started or result.expired or result.waves or result.escalated or result.withdrawn:
        log.info("task waves: %s", result)


async def sync_points_boards(ctx: JobContext) -> None:
    """Put approved hours on the points boards when their after-commit update did not happen."""
    count = await points_boards.sync_unapplied(ctx.redis)
    if count:
        log.info("added %d points award(s) to the boards", count)


async def publish_honour_boards(ctx: JobContext) -> None:
    """On the 1st, publish last month's honour board (光荣榜) of every community (once)."""
    count = await points.publish_due_honour_boards(now=utcnow())
    if count:
        log.info("published %d honour board(s)", count)


async def dispatch_outbox(ctx: JobContext) -> None:
    """Deliver due outbox messages: inbox, subscribe messages, WeCom app and group robots."""
    import aiohttp

    from server.notify.dispatcher import PROCESS_METRICS, build_dispatcher

    async with aiohttp.ClientSession() as http:
        dispatcher = build_dispatcher(
            settings=ctx.settings,
            redis=ctx.redis,
            http=http,
            worker_id=ctx.worker_id,
            metrics=PROCESS_METRICS,
        )
        await dispatcher.drain()


async def send_task_reminders(ctx: JobContext) -> str:
    """服务提醒: remind volunteers 24 h and 2 h before a task starts (and the resident at 2 h)."""
    from server.tasks.reminders import send_due_reminders

    scan = await send_due_reminders(now=ctx.now or utcnow(), settings=ctx.settings)
    if scan.written:
        log.info("task reminders: %d for tomorrow, %d within 2 hours", scan.day_before, scan.soon)
    return f"写入 {scan.day_before} 条 24 小时提醒、{scan.soon} 条 2 小时提醒"


async def send_booking_reminders(ctx: JobContext) -> str:
    """共享家: remind borrowers before a booking ends, and borrower and owner when it is overdue."""
    from server.sharing.reminders import send_due_reminders

    scan = await send_due_reminders(now=ctx.now or utcnow(), settings=ctx.settings)
    if scan.written:
        log.info("booking reminders: %d before the end, %d overdue", scan.returns, scan.overdue)
    return f"写入 {scan.returns} 条到期提醒、{scan.overdue} 条逾期提醒"


def _digest_week(ctx: JobContext) -> tuple[str, str]:
    """The week a digest run reports on, and the key that makes its messages unique.

    A scheduled slot (Monday 08:30) reports on the week before it and keys its messages by that
    week, so a catch-up or a takeover never sends a week twice; a manual run keys by its slot.
    """
    fired = slot_time(ctx.slot) if ctx.slot else (ctx.now or utcnow())
    week = last_complete_week(fired, ctx.settings.timezone)
    return week, (ctx.slot if ctx.slot.startswith("manual-") else "weekly")


async def plan_weekly_digest(ctx: JobContext) -> list[PlannedMessage]:
    """The outbox rows of one community's weekly digest (what run-job --dry-run prints)."""
    if ctx.community_id is None:
        raise ValueError("weekly_digest runs per community")
    week, run_key = _digest_week(ctx)
    return await digest.plan_weekly_digest(
        community_id=ctx.community_id,
        week=week,
        timezone=ctx.settings.timezone,
        public_url=ctx.settings.public_url,
        now=ctx.now or utcnow(),
        run_key=run_key,
    )


async def send_weekly_digest(ctx: JobContext) -> str:
    """周报: last week's needs, timings, ratings, hours and grids to each community's secretary."""
    messages = await plan_weekly_digest(ctx)
    await digest.write_messages(messages)
    week, _ = _digest_week(ctx)
    return f"{week} 周报：写入 {len(messages)} 条待发消息"


async def remind_project_updates(ctx: JobContext) -> str:
    """Remind owners of practical-matter projects (为民实事) with no progress report this month."""
    count = await projects.remind_missing_updates(
        now=ctx.now or utcnow(), timezone=ctx.settings.timezone
    )
    return f"提醒 {count} 个为民实事项目填报本月进度"


async def prune_job_runs(ctx: JobContext) -> str:
    """Delete records of job runs that finished more than 90 days ago."""
    from server.scheduling.service import prune_runs

    now = ctx.now or utcnow()
    count = await prune_runs(before=now - dt.timedelta(days=JOB_RUN_KEEP_DAYS))
    return f"删除 {count} 条旧的任务运行记录"


async def remind_activities(ctx: JobContext) -> str:
    """志愿活动提醒: a day before an activity, remind each volunteer with a place (once)."""
    count = await activities.send_due_reminders(now=ctx.now or utcnow())
    return f"写入 {count} 条活动提醒"


async def close_finished_activities(ctx: JobContext) -> str:
    """Close activities a day after their end; attendees' hours go to the passbook (pending)."""
    count = await activities.close_due(now=ctx.now or utcnow())
    return f"自动结束 {count} 个活动"


def _party_month(ctx: JobContext) -> tuple[dt.date, str]:
    """The day a 双报到 run reports up to (the last day of the month before its fire time, local)
    and the key that makes its messages unique: the month for a scheduled slot (a catch-up or a
    takeover never sends a month twice), the slot itself for a manual run."""
    fired = slot_time(ctx.slot) if ctx.slot else (ctx.now or utcnow())
    local = fired.astimezone(ZoneInfo(ctx.settings.timezone)).date()
    as_of = local.replace(day=1) - dt.timedelta(days=1)
    run_key = ctx.slot if ctx.slot.startswith("manual-") else f"{as_of:%Y-%m}"
    return as_of, run_key


async def remind_party_progress(ctx: JobContext) -> str:
    """双报到: on the 1st, remind registered members behind schedule; a summary to the secretary."""
    if ctx.community_id is None:
        raise ValueError("party_progress_reminder runs per community")
    as_of, run_key = _party_month(ctx)
    count = await party.send_monthly_reminders(
        community_id=ctx.community_id, as_of=as_of, run_key=run_key
    )
    return f"截至 {as_of}：写入 {count} 条双报到提醒"


async def plan_photo_cleanup(ctx: JobContext) -> list[StoredFile]:
    """The orphan photos a run would delete now (what run-job --dry-run prints)."""
    scan = await find_orphans(
        store=photo_store(ctx.settings), now=ctx.now or utcnow(), timezone=ctx.settings.timezone
    )
    return scan.orphans


async def clean_up_photos(ctx: JobContext) -> str:
    """照片清理: delete uploads a day old that no need, task or shared item refers to."""
    now = ctx.now or utcnow()
    store = photo_store(ctx.settings)
    scan = await find_orphans(store=store, now=now, timezone=ctx.settings.timezone)
    deleted = await delete_orphans(store=store, orphans=scan.orphans, now=now)
    summary = (
        f"删除 {len(deleted)} 张无人引用的照片（约 {scan.orphan_bytes / (1024 * 1024):.1f} MB），"
        f"保留 {scan.referenced} 张已引用的、{scan.fresh} 张 24 小时内上传的"
    )
    if deleted:
        log.info("photo clean-up: %s", summary)
    return summary


def all_jobs(timezone: str, *, catch_up_hours: int = DIGEST_CATCH_UP_HOURS) -> list[Job]:
    """Every job the bot runs, with its schedule."""
    return [
        Job(
            name="heartbeat",
            run=record_heartbeat,
            trigger=IntervalTrigger(seconds=HEARTBEAT_SECONDS, timezone=timezone),
            guarded=False,
        ),
        Job(
            name="need_sla_scan",
            run=scan_need_sla,
            trigger=IntervalTrigger(
                minutes=SLA_SCAN_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="need_auto_confirm",
            run=auto_confirm_needs,
            trigger=IntervalTrigger(
                minutes=AUTO_CONFIRM_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="weekly_digest",
            run=send_weekly_digest,
            trigger=CronTrigger(
                day_of_week=DIGEST_DAY, hour=DIGEST_HOUR, minute=DIGEST_MINUTE, timezone=timezone
            ),
            per_community=True,
            catch_up=dt.timedelta(hours=catch_up_hours),
            plan=plan_weekly_digest,
        ),
        Job(
            name="job_run_prune",
            run=prune_job_runs,
            trigger=CronTrigger(hour=3, minute=17, timezone=timezone),
        ),
        Job(
            name="task_waves",
            run=run_task_waves,
            trigger=IntervalTrigger(
                minutes=TASK_WAVES_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="points_board_sync",
            run=sync_points_boards,
            trigger=IntervalTrigger(
                minutes=BOARD_SYNC_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="honour_board_publish",
            run=publish_honour_boards,
            trigger=CronTrigger(day=HONOUR_BOARD_DAYS, hour=HONOUR_BOARD_HOUR, timezone=timezone),
        ),
        Job(
            name="outbox_dispatch",
            run=dispatch_outbox,
            trigger=IntervalTrigger(
                seconds=OUTBOX_DISPATCH_SECONDS, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
            # every bot process dispatches: SKIP LOCKED claims share the work, no slot guard
            guarded=False,
        ),
        Job(
            name="project_update_reminder",
            run=remind_project_updates,
            trigger=CronTrigger(
                day=PROJECT_REMINDER_DAYS, hour=PROJECT_REMINDER_HOUR, timezone=timezone
            ),
        ),
        Job(
            name="task_reminders",
            run=send_task_reminders,
            trigger=IntervalTrigger(
                minutes=TASK_REMINDERS_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
            catch_up=dt.timedelta(minutes=TASK_REMINDERS_MINUTES),
        ),
        Job(
            name="activity_reminder",
            run=remind_activities,
            trigger=IntervalTrigger(
                minutes=ACTIVITY_SCAN_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="activity_auto_close",
            run=close_finished_activities,
            trigger=IntervalTrigger(
                minutes=ACTIVITY_SCAN_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
        ),
        Job(
            name="party_progress_reminder",
            run=remind_party_progress,
            trigger=CronTrigger(
                day=PARTY_REMINDER_DAY,
                hour=PARTY_REMINDER_HOUR,
                minute=PARTY_REMINDER_MINUTE,
                timezone=timezone,
            ),
            per_community=True,
            catch_up=PARTY_REMINDER_CATCH_UP,
        ),
        Job(
            name="booking_reminders",
            run=send_booking_reminders,
            trigger=IntervalTrigger(
                minutes=BOOKING_REMINDERS_MINUTES, start_date=INTERVAL_EPOCH, timezone=timezone
            ),
            catch_up=dt.timedelta(minutes=BOOKING_REMINDERS_MINUTES),
        ),
        Job(
            name="photo_cleanup",
            run=clean_up_photos,
            trigger=CronTrigger(
                hour=PHOTO_CLEANUP_HOUR, minute=PHOTO_CLEANUP_MINUTE, timezone=timezone
            ),
            plan=plan_photo_cleanup,
            preview="将删除 {count} 张无人引用的照片",
        ),
    ]
