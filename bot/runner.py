"""The bot process: an APScheduler 3.x scheduler on the asyncio loop running ``bot.jobs``."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from bot.guard import catch_up, run_scheduled
from bot.jobs import Job, JobContext, all_jobs, record_heartbeat, worker_id
from server.core.config import Settings
from server.core.db import orm_context
from server.core.redis import redis_context

log = logging.getLogger("dangqun.bot")
# A job that missed its time by less than this still runs (a busy loop, a short pause).
MISFIRE_GRACE_SECONDS = 60


def build_scheduler(jobs: list[Job], ctx: JobContext, timezone: str) -> AsyncIOScheduler:
    """A scheduler with each job registered once under its name."""
    scheduler = AsyncIOScheduler(timezone=timezone)
    for job in jobs:
        scheduler.add_job(
            run_scheduled if job.guarded else job.run,
            trigger=job.trigger,
            args=[job, ctx] if job.guarded else [ctx],
            id=job.name,
            name=job.description,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
    return scheduler


async def run_bot(
    settings: Settings,
    stop: asyncio.Event,
    *,
    redis: Redis | None = None,
    own_database: bool = True,
    jobs: list[Job] | None = None,
) -> None:
    """Run the scheduled jobs until ``stop`` is set (shares the caller's ORM and Redis if given)."""
    async with AsyncExitStack() as stack:
        if own_database:
            await stack.enter_async_context(orm_context(settings))
        if redis is None:
            redis = await stack.enter_async_context(redis_context(settings))
        ctx = JobContext(redis=redis, worker_id=worker_id(), settings=settings)
        if jobs is None:
            jobs = all_jobs(settings.timezone, catch_up_hours=settings.digest_catch_up_hours)
        scheduler = build_scheduler(jobs, ctx, settings.timezone)
        await record_heartbeat(ctx)
        scheduler.start()
        log.info("bot %s running %d job(s)", ctx.worker_id, len(jobs))
        catching_up = asyncio.create_task(catch_up(jobs, ctx))
        try:
            await stop.wait()
        finally:
            if not catching_up.done():
                catching_up.cancel()
            for error in await asyncio.gather(catching_up, return_exceptions=True):
                if isinstance(error, Exception):
                    log.error("catch-up of missed job slots failed: %r", error)
            scheduler.shutdown(wait=False)
            log.info("bot %s stopped", ctx.worker_id)
