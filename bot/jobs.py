"""The bot's scheduled jobs: one named function each, with a docstring saying what it does."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.asyncio import Redis

from server.core.clock import utcnow
from server.core.config import Settings
from server.needs import service as needs
from server.points import boards as points_boards
from server.points import service as points
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


@dataclass(frozen=True)
class JobContext:
    """What every job may use."""

    redis: Redis
    worker_id: str
    settings: Settings


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[JobContext], Awaitable[None]]
    trigger: BaseTrigger

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


def all_jobs(timezone: str) -> list[Job]:
    """Every job the bot runs, with its schedule."""
    return [
        Job(
            name="heartbeat",
            run=record_heartbeat,
            trigger=IntervalTrigger(seconds=HEARTBEAT_SECONDS, timezone=timezone),
        ),
        Job(
            name="need_sla_scan",
            run=scan_need_sla,
            trigger=IntervalTrigger(minutes=SLA_SCAN_MINUTES, timezone=timezone),
        ),
        Job(
            name="need_auto_confirm",
            run=auto_confirm_needs,
            trigger=IntervalTrigger(minutes=AUTO_CONFIRM_MINUTES, timezone=timezone),
        ),
        Job(
            name="task_waves",
            run=run_task_waves,
            trigger=IntervalTrigger(minutes=TASK_WAVES_MINUTES, timezone=timezone),
        ),
        Job(
            name="points_board_sync",
            run=sync_points_boards,
            trigger=IntervalTrigger(minutes=BOARD_SYNC_MINUTES, timezone=timezone),
        ),
        Job(
            name="honour_board_publish",
            run=publish_honour_boards,
            trigger=CronTrigger(day=HONOUR_BOARD_DAYS, hour=HONOUR_BOARD_HOUR, timezone=timezone),
        ),
        Job(
            name="outbox_dispatch",
            run=dispatch_outbox,
            trigger=IntervalTrigger(seconds=OUTBOX_DISPATCH_SECONDS, timezone=timezone),
        ),
    ]
