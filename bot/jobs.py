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
from apscheduler.triggers.interval import IntervalTrigger
from redis.asyncio import Redis

from server.core.clock import utcnow
from server.core.config import Settings
from server.needs import service as needs

log = logging.getLogger("dangqun.bot.jobs")

HEARTBEAT_SECONDS = 30
SLA_SCAN_MINUTES = 5  # 实时监测: an emergency's 30-minute triage limit is seen within 5 minutes
AUTO_CONFIRM_MINUTES = 60
HEARTBEAT_KEY_PREFIX = "bot:heartbeat:"
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
            name="outbox_dispatch",
            run=dispatch_outbox,
            trigger=IntervalTrigger(seconds=OUTBOX_DISPATCH_SECONDS, timezone=timezone),
        ),
    ]
