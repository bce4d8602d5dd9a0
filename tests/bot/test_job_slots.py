"""Job slots: one run per slot and scope, lease takeover, catch-up on start with fixed clocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.guard import catch_up, dry_run, run_slot
from bot.jobs import Job, JobContext, all_jobs
from bot.slots import INTERVAL_EPOCH, latest_fire_time, manual_slot_id, slot_id, slot_time
from server.accounts.models import Role
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.redis import make_redis
from server.needs.models import Need, NeedEvent
from server.notify.models import OutboxMessage
from server.scheduling.models import JobRun, RunStatus
from server.scheduling.service import claim_slot, finish_slot, renew_slot
from tests.builders import add_person, auth, build_town, login
from tests.digest.builders import fixed_week

UTC = dt.UTC
TZ = "Asia/Shanghai"
LEASE = dt.timedelta(minutes=10)
# Monday 9 March 2026, 08:30 in Shanghai: the digest slot of week 2026-W10
DIGEST_FIRE = dt.datetime(2026, 3, 9, 0, 30, tzinfo=UTC)


def fixed(moment: dt.datetime):  # type: ignore[no-untyped-def]
    return lambda: moment


def digest_job() -> Job:
    return next(job for job in all_jobs(TZ) if job.name == "weekly_digest")


@pytest_asyncio.fixture
async def ctx(client: TestClient, settings: Settings) -> AsyncIterator[JobContext]:
    redis = make_redis(settings)
    yield JobContext(redis=redis, worker_id="bot-a", settings=settings)
    await redis.aclose()


@pytest.mark.parametrize(
    ("now", "window_hours", "expected"),
    [
        (DIGEST_FIRE, 6, DIGEST_FIRE),  # exactly at the fire time
        (DIGEST_FIRE + dt.timedelta(hours=2), 6, DIGEST_FIRE),  # started two hours late
        (DIGEST_FIRE + dt.timedelta(hours=7), 6, None),  # too late: outside the window
        (DIGEST_FIRE - dt.timedelta(minutes=1), 6, None),  # before Monday's fire time
        (DIGEST_FIRE + dt.timedelta(days=7, hours=1), 200, DIGEST_FIRE + dt.timedelta(days=7)),
    ],
)
def test_latest_missed_digest_slot_in_shanghai_time(
    now: dt.datetime, window_hours: int, expected: dt.datetime | None
) -> None:
    trigger = CronTrigger(day_of_week="mon", hour=8, minute=30, timezone=TZ)
    assert latest_fire_time(trigger, now=now, window=dt.timedelta(hours=window_hours)) == expected


def test_interval_slots_agree_across_processes_started_at_different_times() -> None:
    now = dt.datetime(2026, 11, 22, 9, 6, 30, tzinfo=UTC)
    first = IntervalTrigger(minutes=5, start_date=INTERVAL_EPOCH, timezone=TZ)
    second = IntervalTrigger(minutes=5, start_date=INTERVAL_EPOCH, timezone=TZ)
    window = dt.timedelta(minutes=2)
    fire = latest_fire_time(first, now=now, window=window)
    assert fire == latest_fire_time(second, now=now, window=window)
    assert fire is not None and slot_id(fire) == "2026-11-22T09:05:00Z"
    assert slot_time(slot_id(fire)) == fire
    assert manual_slot_id(now).startswith("manual-2026-11-22T09:06:30")


async def test_a_slot_is_claimed_once_and_taken_over_after_its_lease(client: TestClient) -> None:
    t0 = dt.datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    args = {"job": "need_sla_scan", "slot": "2026-03-09T01:00:00Z", "community_id": None}
    first = await claim_slot(**args, worker="bot-a", now=t0, lease=LEASE)  # type: ignore[arg-type]
    assert first is not None
    later = t0 + dt.timedelta(minutes=5)
    assert await claim_slot(**args, worker="bot-b", now=later, lease=LEASE) is None  # type: ignore[arg-type]
    # bot-a crashed: once its lease ran out, bot-b takes the slot over
    expired = t0 + LEASE + dt.timedelta(seconds=1)
    second = await claim_slot(**args, worker="bot-b", now=expired, lease=LEASE)  # type: ignore[arg-type]
    assert second is not None and second.run_id == first.run_id
    assert not await finish_slot(first, now=expired, result="迟到的结果")  # lost its lease
    assert await finish_slot(second, now=expired, result="完成")
    never = expired + 10 * LEASE
    assert await claim_slot(**args, worker="bot-c", now=never, lease=LEASE) is None  # type: ignore[arg-type]
    run = await JobRun.get(id=first.run_id)
    assert (run.status, run.worker, run.attempts, run.result) == (
        RunStatus.DONE,
        "bot-b",
        2,
        "完成",
    )


async def test_a_long_run_renews_its_lease_and_keeps_its_slot(client: TestClient) -> None:
    t0 = dt.datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    args = {"job": "weekly_digest", "slot": "2026-03-09T00:30:00Z", "community_id": 1}
    claim = await claim_slot(**args, worker="bot-a", now=t0, lease=LEASE)  # type: ignore[arg-type]
    assert claim is not None
    assert await renew_slot(claim, now=t0 + LEASE * 0.9, lease=LEASE)
    past_first_lease = t0 + LEASE + dt.timedelta(minutes=1)
    assert await claim_slot(**args, worker="bot-b", now=past_first_lease, lease=LEASE) is None  # type: ignore[arg-type]
    taken = await claim_slot(**args, worker="bot-b", now=t0 + LEASE * 2, lease=LEASE)  # type: ignore[arg-type]
    assert taken is not None  # renewals stopped (bot-a died): taken over
    assert not await renew_slot(claim, now=t0 + LEASE * 2, lease=LEASE)


async def test_a_failed_run_is_recorded_and_may_run_again(ctx: JobContext) -> None:
    calls: list[str] = []

    async def flaky(run_ctx: JobContext) -> str:
        """Fails the first time."""
        calls.append(run_ctx.slot)
        if len(calls) == 1:
            raise RuntimeError("数据库暂时不可用")
        return "第二次成功"

    job = Job(name="flaky", run=flaky, trigger=IntervalTrigger(minutes=5))
    first = await run_slot(job, ctx, slot="2026-03-09T01:00:00Z")
    assert first[0].failed
    assert (await JobRun.get(job="flaky")).status is RunStatus.FAILED
    second = await run_slot(job, ctx, slot="2026-03-09T01:00:00Z")
    assert (second[0].ran, second[0].failed, second[0].result) == (True, False, "第二次成功")
    third = await run_slot(job, ctx, slot="2026-03-09T01:00:00Z")
    assert not third[0].ran
    assert len(calls) == 2


async def test_a_bot_down_at_0830_catches_up_the_digest_once(ctx: JobContext) -> None:
    town = await build_town()
    resident = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await fixed_week(town.buildings, resident)
    jobs = all_jobs(TZ, catch_up_hours=6)

    # the bot starts at 10:00 on Monday, 90 minutes after the digest's time
    started = DIGEST_FIRE + dt.timedelta(minutes=90)
    outcomes = await catch_up(jobs, ctx, clock=fixed(started))
    digest_runs = [o for o in outcomes if o.job == "weekly_digest"]
    assert [(o.slot, o.community_id, o.ran) for o in digest_runs] == [
        ("2026-03-09T00:30:00Z", town.community.id, True)
    ]
    rows = await OutboxMessage.filter(community_id=town.community.id).order_by("id")
    assert [(row.kind, row.recipient_id) for row in rows] == [("weekly_digest", None)]
    content = rows[0].payload["markdown"]
    assert content.startswith("## 测试社区 周报（3月2日—3月8日）")
    assert "新增 4 件，办结 3 件" in content
    assert rows[0].payload["link"].endswith(f"/communities/{town.community.id}/digests/2026-W10")
    assert rows[0].payload["image_png_base64"]
    assert secretary.id  # the router sends the community's message to its secretaries

    # a second bot, and the first one restarted, find the slot done: nothing is sent again
    other = JobContext(redis=ctx.redis, worker_id="bot-b", settings=ctx.settings)
    again = await catch_up(jobs, other, clock=fixed(started + dt.timedelta(minutes=5)))
    assert not any(o.ran for o in again if o.job == "weekly_digest")
    assert not any(o.ran for o in await catch_up(jobs, ctx, clock=fixed(started)))
    assert await OutboxMessage.filter(community_id=town.community.id).count() == 1

    # a bot that starts after the window lets the next week's missed digest go
    next_week_late = DIGEST_FIRE + dt.timedelta(days=7, hours=7)
    late = await catch_up(jobs, ctx, clock=fixed(next_week_late))
    assert not [o for o in late if o.job == "weekly_digest"]
    assert await OutboxMessage.filter(community_id=town.community.id).count() == 1


async def test_manual_runs_go_through_the_guard_and_always_run(ctx: JobContext) -> None:
    town = await build_town()
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    job = digest_job()
    now = DIGEST_FIRE + dt.timedelta(days=1)
    first = await run_slot(
        job, ctx, slot=manual_slot_id(now), communities=[town.community.id], clock=fixed(now)
    )
    later = now + dt.timedelta(seconds=1)
    second = await run_slot(
        job, ctx, slot=manual_slot_id(later), communities=[town.community.id], clock=fixed(later)
    )
    assert [o.ran for o in first + second] == [True, True]
    assert await OutboxMessage.filter(kind="weekly_digest").count() == 2
    runs = await JobRun.filter(job="weekly_digest").order_by("id")
    assert [run.scope for run in runs] == [f"community:{town.community.id}"] * 2
    assert all(run.status is RunStatus.DONE and run.slot.startswith("manual-") for run in runs)


async def test_old_run_records_are_pruned_but_recent_ones_kept(ctx: JobContext) -> None:
    job = next(job for job in all_jobs(TZ) if job.name == "job_run_prune")
    now = dt.datetime(2026, 6, 1, 19, 17, tzinfo=UTC)
    for days, slot in ((100, "old"), (10, "recent")):
        then = now - dt.timedelta(days=days)
        claim = await claim_slot(
            job="need_sla_scan", slot=slot, community_id=None, worker="a", now=then, lease=LEASE
        )
        assert claim is not None and await finish_slot(claim, now=then, result="完成")
    outcome = await run_slot(job, ctx, slot=slot_id(now), clock=fixed(now))
    assert outcome[0].result == "删除 1 条旧的任务运行记录"
    slots = await JobRun.filter(job="need_sla_scan").values_list("slot", flat=True)
    assert list(slots) == ["recent"]


async def test_dry_run_of_the_sla_scan_lists_its_messages_and_keeps_nothing(
    ctx: JobContext, client: TestClient, mock_wechat: TestServer
) -> None:
    town = await build_town()
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    token = await login(client, mock_wechat, "test-resident")
    response = await client.post(
        "/api/v1/needs",
        json={"category": "daily_life", "title": "水管漏水", "description": "厨房水管漏水"},
        headers=auth(token),
    )
    assert response.status == 201
    need_id = (await response.json())["need"]["id"]
    long_ago = utcnow() - dt.timedelta(days=30)  # far past every limit: escalated to the street
    await Need.filter(id=need_id).update(status_changed_at=long_ago, sla_due_at=long_ago)
    before = await OutboxMessage.all().count()

    job = next(job for job in all_jobs(TZ) if job.name == "need_sla_scan")
    lines = await dry_run(job, ctx)
    assert lines and all(line.startswith("【need_") for line in lines), lines
    assert await OutboxMessage.all().count() == before
    need = await Need.get(id=need_id)
    assert need.escalation_level == 0
    assert await NeedEvent.filter(need_id=need_id, action="escalate").count() == 0
