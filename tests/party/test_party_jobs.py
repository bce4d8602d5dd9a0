"""The monthly 双报到 reminder: members behind schedule, the secretary's summary; once a month."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestClient

from bot.guard import dry_run, run_slot
from bot.jobs import Job, JobContext, all_jobs, remind_party_progress
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.redis import make_redis
from server.notify.models import OutboxMessage
from server.notify.render import render
from server.notify.routing import Audience, Channel, routes_for
from tests.party.conftest import World, register, serve

TZ = "Asia/Shanghai"
# 09:30 on 1 July 2026 in Beijing: reports progress as of 30 June (181 of 365 days: 5.95 h due)
JULY_SLOT = "2026-07-01T01:30:00Z"


def party_job() -> Job:
    return next(j for j in all_jobs(TZ) if j.name == "party_progress_reminder")


@pytest_asyncio.fixture
async def ctx(client: TestClient, settings: Settings) -> AsyncIterator[JobContext]:
    redis = make_redis(settings)
    yield JobContext(redis=redis, worker_id="bot-a", settings=settings)
    await redis.aclose()


async def _members(client: TestClient, world: World) -> None:
    for who in ("p1", "p2", "p3"):
        await register(client, world, who, on=dt.date(2026, 1, 1))
    spring = dt.datetime(2026, 4, 10, 2, 0, tzinfo=dt.UTC)
    await serve(world, "p1", "6", at=spring, approve=True)  # on track
    await serve(world, "p2", "2", at=spring, approve=True)  # behind by 3.95
    await serve(world, "p2", "3", at=spring, approve=False)  # pending: shown, not counted
    # p3 served only in July, after the reported day: behind by 5.95
    await serve(world, "p3", "8", at=dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC), approve=True)


async def test_monthly_reminder_once_per_month(
    client: TestClient, world: World, ctx: JobContext
) -> None:
    await _members(client, world)
    job = party_job()
    other = dataclasses.replace(ctx, worker_id="bot-b")
    outcomes = await asyncio.gather(
        run_slot(job, ctx, slot=JULY_SLOT, communities=[world.community_id]),
        run_slot(job, other, slot=JULY_SLOT, communities=[world.community_id]),
    )
    assert sorted(o[0].ran for o in outcomes) == [False, True]

    behind = await OutboxMessage.filter(kind="party_progress_behind").order_by("recipient_id")
    assert [m.recipient_id for m in behind] == [world.ids["p2"], world.ids["p3"]]
    p2 = behind[0].payload
    assert (p2["approved_hours"], p2["pending_hours"], p2["expected_to_date"]) == (
        "2.00",
        "3.00",
        "5.95",
    )
    assert "6月30日" in p2["text"] and "p2同志" in p2["text"]
    (summary,) = await OutboxMessage.filter(kind="party_progress_summary")
    assert (summary.recipient_id, summary.community_id) == (None, world.community_id)
    assert (summary.payload["total"], summary.payload["behind"]) == (3, 2)
    assert "p3" in summary.payload["markdown"] and "p1" not in summary.payload["markdown"]

    # the job run again for the same month (a takeover, a catch-up) writes nothing new
    run_ctx = dataclasses.replace(ctx, slot=JULY_SLOT, community_id=world.community_id)
    await remind_party_progress(run_ctx)
    assert await OutboxMessage.filter(kind__startswith="party_progress").count() == 3

    # the next month reports again
    august = dataclasses.replace(run_ctx, slot="2026-08-01T01:30:00Z")
    await remind_party_progress(august)
    assert await OutboxMessage.filter(kind="party_progress_summary").count() == 2

    # how the router and the renderer treat them
    assert (
        routes_for("party_progress_summary", {}, has_recipient=False, has_community=True)
        == (routes_for("weekly_digest", {}, has_recipient=False, has_community=True)[0:1])
    )
    route = routes_for("party_progress_summary", {}, has_recipient=False, has_community=True)[0]
    assert (route.audience, route.push) == (Audience.SECRETARIES, Channel.WECOM_APP)
    content = render("party_progress_behind", p2, created_at=utcnow())
    assert content.template == "task_remind" and content.template_values["phrase3"] == "进度落后"
    assert content.title == "双报到服务进度提醒"


async def test_dry_run_and_communities_without_members(
    client: TestClient, world: World, ctx: JobContext
) -> None:
    run_ctx = dataclasses.replace(ctx, slot=JULY_SLOT, community_id=world.community_id)
    assert await remind_party_progress(run_ctx) == "截至 2026-06-30：写入 0 条双报到提醒"
    await _members(client, world)
    lines = await dry_run(party_job(), run_ctx)
    assert [line.split("】")[0] for line in lines] == [
        "【party_progress_behind",
        "【party_progress_behind",
        "【party_progress_summary",
    ]
    assert await OutboxMessage.filter(kind__startswith="party_progress").count() == 0
