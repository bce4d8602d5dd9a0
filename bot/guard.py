"""The slot guard: every scheduled (or manual) run of a job claims its slot in ``job_run`` first.

Several bot processes fire the same job at the same fire time; only the one whose claim succeeds
runs it (per community for per-community jobs). A run that crashed keeps its claim until its lease
ends, then any process takes it over. On start, each job with a catch-up window runs its latest
missed slot; a slot already done is never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from bot.jobs import Job, JobContext
from bot.slots import latest_fire_time, slot_id
from server.core.clock import utcnow
from server.notify.models import OutboxMessage
from server.org.models import Community
from server.scheduling.service import Claim, claim_slot, finish_slot, renew_slot

log = logging.getLogger("dangqun.bot.guard")

Clock = Callable[[], dt.datetime]
# How late a scheduled run may start and still find its own fire time (APScheduler's grace).
SCHEDULED_LOOKBACK = dt.timedelta(minutes=2)
DRY_RUN_PAYLOAD_MAX = 300  # characters of a payload shown per row by run-job --dry-run


@dataclass(frozen=True)
class SlotOutcome:
    """What happened to one (slot, scope) in this process."""

    job: str
    slot: str
    community_id: int | None
    ran: bool  # False: done already, or held by another live worker
    result: str = ""
    failed: bool = False


async def community_ids() -> list[int]:
    """Every community, for per-community jobs."""
    ids = await Community.all().order_by("id").values_list("id", flat=True)
    return [int(str(value)) for value in ids]


async def keep_lease(claim: Claim, lease: dt.timedelta, clock: Clock) -> None:
    """Renew the claim every third of its lease while the run lasts (a long run keeps its slot)."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        if not await renew_slot(claim, now=clock(), lease=lease):
            log.warning("job %s slot %s: lease lost to another worker", claim.job, claim.slot)
            return


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_slot(
    job: Job,
    ctx: JobContext,
    *,
    slot: str,
    communities: list[int] | None = None,
    clock: Clock = utcnow,
) -> list[SlotOutcome]:
    """Run one slot of a job in every scope this process can claim."""
    if not job.guarded:
        result = await job.run(dataclasses.replace(ctx, slot=slot, now=clock()))
        return [SlotOutcome(job.name, slot, None, True, result or "")]
    scopes: list[int | None] = list(communities or [])
    if not scopes:
        scopes = list(await community_ids()) if job.per_community else [None]
    lease = dt.timedelta(seconds=ctx.settings.job_lease_seconds)
    outcomes = []
    for community_id in scopes:
        claim = await claim_slot(
            job=job.name,
            slot=slot,
            community_id=community_id,
            worker=ctx.worker_id,
            now=clock(),
            lease=lease,
        )
        if claim is None:
            outcomes.append(SlotOutcome(job.name, slot, community_id, False))
            continue
        run_ctx = dataclasses.replace(ctx, slot=slot, community_id=community_id, now=clock())
        renewing = asyncio.create_task(keep_lease(claim, lease, clock))
        try:
            try:
                result = await job.run(run_ctx) or "完成"
            finally:
                await _stop(renewing)
        except Exception as exc:  # a failed run is recorded, the bot keeps going
            log.exception("job %s slot %s (%s) failed", job.name, slot, claim.scope or "全局")
            await finish_slot(claim, now=clock(), result=f"失败：{exc!r}", failed=True)
            outcomes.append(SlotOutcome(job.name, slot, community_id, True, repr(exc), True))
            continue
        if not await finish_slot(claim, now=clock(), result=result):
            log.warning("job %s slot %s: lease lost before the run finished", job.name, slot)
        outcomes.append(SlotOutcome(job.name, slot, community_id, True, result))
    return outcomes


async def run_scheduled(job: Job, ctx: JobContext, clock: Clock = utcnow) -> None:
    """What APScheduler calls: find the fire time this call belongs to, then run that slot."""
    now = clock()
    fire = latest_fire_time(job.trigger, now=now, window=SCHEDULED_LOOKBACK)
    if fire is None:
        log.warning("job %s fired at %s outside any slot; skipped", job.name, now.isoformat())
        return
    await run_slot(job, ctx, slot=slot_id(fire), clock=clock)


async def catch_up(jobs: list[Job], ctx: JobContext, clock: Clock = utcnow) -> list[SlotOutcome]:
    """On start: for each job with a catch-up window, run its latest missed slot (once)."""
    outcomes: list[SlotOutcome] = []
    for job in jobs:
        if job.catch_up is None or not job.guarded:
            continue
        fire = latest_fire_time(job.trigger, now=clock(), window=job.catch_up)
        if fire is None:
            continue
        done = await run_slot(job, ctx, slot=slot_id(fire), clock=clock)
        ran = sum(outcome.ran for outcome in done)
        if ran:
            log.info("caught up %s slot %s in %d scope(s)", job.name, slot_id(fire), ran)
        outcomes.extend(done)
    return outcomes


class _DryRunRollback(Exception):
    """Raised to roll back a dry run's transaction."""


def describe_outbox_row(
    kind: str, recipient_id: int | None, community_id: int | None, payload: dict[str, object]
) -> str:
    """One outbox row as a Chinese line for ``run-job --dry-run``."""
    who = f"接收人 #{recipient_id}" if recipient_id else f"社区 #{community_id}"
    body = json.dumps(payload, ensure_ascii=False)
    if len(body) > DRY_RUN_PAYLOAD_MAX:
        body = body[:DRY_RUN_PAYLOAD_MAX] + "…"
    return f"【{kind}】给 {who}：{body}"


async def dry_run(job: Job, ctx: JobContext) -> list[str]:
    """What one run would write to the outbox (or, for ``photo_cleanup``, delete), as Chinese
    lines; nothing is kept.

    Jobs with a ``plan`` only compute what they would do. Others run inside a transaction that is
    rolled back (their own transactions nest in it), and the outbox rows they wrote are listed.
    """
    if job.plan is not None:
        return [message.describe() for message in await job.plan(ctx)]
    lines: list[str] = []
    try:
        async with in_transaction() as connection:
            last = await OutboxMessage.all().using_db(connection).order_by("-id").first()
            await job.run(ctx)
            rows = (
                await OutboxMessage.filter(id__gt=last.id if last else 0)
                .using_db(connection)
                .order_by("id")
            )
            lines = [
                describe_outbox_row(row.kind, row.recipient_id, row.community_id, row.payload)
                for row in rows
            ]
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    return lines
