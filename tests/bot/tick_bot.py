"""A real bot process for the two-process test: the real jobs plus two fast guarded tick jobs.

Run as ``python -m tests.bot.tick_bot SECONDS`` with ``DANGQUN_DATABASE_URL`` and
``DANGQUN_REDIS_URL`` set; it stops by itself after SECONDS.
"""

from __future__ import annotations

import asyncio
import sys

from apscheduler.triggers.interval import IntervalTrigger

from bot.jobs import Job, JobContext, all_jobs
from bot.runner import run_bot
from bot.slots import INTERVAL_EPOCH
from server.core.config import load_settings

TICK_SECONDS = 2


async def tick(ctx: JobContext) -> str:
    """Count this slot's runs in Redis (each must be 1)."""
    await ctx.redis.incr(f"tick:{ctx.slot}:{ctx.community_id or ''}")
    await ctx.redis.rpush("tick:workers", ctx.worker_id)
    await asyncio.sleep(0.05)  # hold the slot a moment, as real work does
    return "tick"


async def main(seconds: float) -> None:
    settings = load_settings()
    trigger = IntervalTrigger(seconds=TICK_SECONDS, start_date=INTERVAL_EPOCH, timezone="UTC")
    jobs = [
        *all_jobs(settings.timezone, catch_up_hours=settings.digest_catch_up_hours),
        Job(name="tick", run=tick, trigger=trigger),
        Job(name="tick_per_community", run=tick, trigger=trigger, per_community=True),
    ]
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await run_bot(settings, stop, jobs=jobs)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
