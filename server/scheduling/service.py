"""Claiming, finishing and listing job slots (safe with several bot processes).

A claim is an insert-or-ignore of the (job, slot, scope) row followed by one compare-and-set
``UPDATE``: it succeeds for a pending slot, a failed one, or a running one whose lease ran out
(the process that held it crashed). A done slot is never claimed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q

from server.scheduling.models import JobRun, RunStatus

RESULT_MAX = 255  # column width of JobRun.result
MANUAL_PREFIX = "manual-"


def scope_for(community_id: int | None) -> str:
    """The scope key of a run: one community, or the whole system."""
    return "" if community_id is None else f"community:{community_id}"


@dataclass(frozen=True)
class Claim:
    """A slot this worker holds until ``lease_until``."""

    run_id: int
    job: str
    slot: str
    scope: str
    community_id: int | None
    worker: str
    lease_until: dt.datetime


async def claim_slot(
    *,
    job: str,
    slot: str,
    community_id: int | None,
    worker: str,
    now: dt.datetime,
    lease: dt.timedelta,
) -> Claim | None:
    """Take the slot for this worker (``None``: done, or held by another live worker)."""
    scope = scope_for(community_id)
    row = JobRun(job=job, slot=slot, scope=scope, community_id=community_id)
    # ON CONFLICT DO NOTHING: the row may exist already (another worker, an earlier attempt)
    await JobRun.bulk_create([row], ignore_conflicts=True)
    lease_until = now + lease
    claimable = (
        Q(status=RunStatus.PENDING)
        | Q(status=RunStatus.FAILED)
        | Q(status=RunStatus.RUNNING, lease_until__lt=now)
    )
    taken = await JobRun.filter(Q(job=job, slot=slot, scope=scope), claimable).update(
        status=RunStatus.RUNNING,
        worker=worker,
        lease_until=lease_until,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    if not taken:
        return None
    run = await JobRun.get(job=job, slot=slot, scope=scope)
    return Claim(run.id, job, slot, scope, community_id, worker, lease_until)


async def renew_slot(claim: Claim, *, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Extend a running claim's lease; ``False`` when it was lost to another worker."""
    updated = await JobRun.filter(
        id=claim.run_id, worker=claim.worker, status=RunStatus.RUNNING
    ).update(lease_until=now + lease)
    return bool(updated)


async def finish_slot(
    claim: Claim,
    *,
    now: dt.datetime,
    result: str,
    failed: bool = False,
    using_db: BaseDBAsyncClient | None = None,
) -> bool:
    """Record the end of a run; ``False`` when the lease was lost to another worker meanwhile."""
    status = RunStatus.FAILED if failed else RunStatus.DONE
    query = JobRun.filter(id=claim.run_id, worker=claim.worker, status=RunStatus.RUNNING)
    if using_db is not None:
        query = query.using_db(using_db)
    updated = await query.update(status=status, finished_at=now, result=result[:RESULT_MAX])
    return bool(updated)


async def recent_runs(*, job: str | None = None, limit: int = 20) -> list[JobRun]:
    """The latest runs, newest first (for admins and the CLI)."""
    query = JobRun.all() if job is None else JobRun.filter(job=job)
    return await query.order_by("-id").limit(limit)


async def prune_runs(*, before: dt.datetime) -> int:
    """Delete finished runs older than ``before`` (slots that old are never caught up again)."""
    return await JobRun.filter(
        status__in=[RunStatus.DONE, RunStatus.FAILED], finished_at__lt=before
    ).delete()
