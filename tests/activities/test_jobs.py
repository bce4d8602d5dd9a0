"""The bot's activity jobs: the reminder a day ahead (once, with several bots) and auto-close."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestClient

from bot.guard import dry_run, run_slot
from bot.jobs import Job, JobContext, all_jobs
from server.activities.models import Activity
from server.activities.service import send_due_reminders
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.redis import make_redis
from server.notify.models import OutboxMessage
from server.notify.render import render
from server.passbook.models import HoursClaim, SourceKind
from tests.activities.conftest import World, move_activity, publish, sign_up
from tests.bot.test_run_job_cli import dangqun

TZ = "Asia/Shanghai"


def job(name: str) -> Job:
    return next(j for j in all_jobs(TZ) if j.name == name)


@pytest_asyncio.fixture
async def ctx(client: TestClient, settings: Settings) -> AsyncIterator[JobContext]:
    redis = make_redis(settings)
    yield JobContext(redis=redis, worker_id="bot-a", settings=settings)
    await redis.aclose()


async def test_reminder_goes_once_to_volunteers_with_a_place(
    client: TestClient, world: World, ctx: JobContext
) -> None:
    soon = await publish(client, world, capacity=2, title="敬老院探访")
    for who in ("v1", "v2", "v3"):  # v3 waits on the waitlist
        await sign_up(client, world, who, soon["id"])
    await move_activity(soon["id"], starts_in=dt.timedelta(hours=20), length=dt.timedelta(hours=2))
    later = await publish(client, world)  # two days ahead: not yet
    await sign_up(client, world, "v4", later["id"])

    # a dry run lists the reminders and keeps nothing (not even the claim on the activity)
    lines = await dry_run(job("activity_reminder"), ctx)
    assert len(lines) == 2 and all(line.startswith("【activity_reminder】") for line in lines)
    assert await OutboxMessage.filter(kind="activity_reminder").count() == 0
    assert (await Activity.get(id=soon["id"])).reminder_sent_at is None

    # two bot processes fire the same slot; then the next slot comes 10 minutes later
    slot = "2026-11-29T01:00:00Z"
    other = dataclasses.replace(ctx, worker_id="bot-b")
    outcomes = await asyncio.gather(
        run_slot(job("activity_reminder"), ctx, slot=slot),
        run_slot(job("activity_reminder"), other, slot=slot),
    )
    assert sorted(o[0].ran for o in outcomes) == [False, True]
    await run_slot(job("activity_reminder"), ctx, slot="2026-11-29T01:10:00Z")
    reminders = await OutboxMessage.filter(kind="activity_reminder").order_by("recipient_id")
    assert [m.recipient_id for m in reminders] == [world.ids["v1"], world.ids["v2"]]
    assert reminders[0].payload["activity_id"] == soon["id"]
    assert "敬老院探访" in reminders[0].payload["text"]

    # two scans at the same instant (the guard aside) still remind once
    counts = await asyncio.gather(
        send_due_reminders(now=utcnow()), send_due_reminders(now=utcnow())
    )
    assert sum(counts) == 0

    # the subscribe message: the activity's name, its start and a short phrase
    content = render("activity_reminder", reminders[0].payload, created_at=utcnow())
    assert content.template == "task_remind"
    assert content.template_values["thing1"] == "敬老院探访"
    assert content.template_values["phrase3"] == "即将开始"
    assert isinstance(content.template_values["time2"], dt.datetime)

    # moved to a new day: the volunteers are reminded again before the new time
    new_start = utcnow() + dt.timedelta(days=3)
    response = await client.patch(
        f"/api/v1/activities/{soon['id']}",
        json={
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + dt.timedelta(hours=2)).isoformat(),
        },
        headers=world.h("secretary"),
    )
    assert response.status == 200, await response.text()
    assert (await Activity.get(id=soon["id"])).reminder_sent_at is None
    await send_due_reminders(now=new_start - dt.timedelta(hours=23))
    assert await OutboxMessage.filter(kind="activity_reminder").count() == 4


async def test_auto_close_job_credits_attendees(
    client: TestClient, world: World, ctx: JobContext
) -> None:
    activity = await publish(client, world)
    await sign_up(client, world, "v1", activity["id"])
    await sign_up(client, world, "v2", activity["id"])
    await move_activity(
        activity["id"], starts_in=dt.timedelta(hours=-28), length=dt.timedelta(hours=2)
    )
    response = await client.post(
        f"/api/v1/activities/{activity['id']}/attendance",
        json={"volunteer_id": world.ids["v2"]},
        headers=world.h("secretary"),
    )
    assert response.status == 200
    outcome = await run_slot(job("activity_auto_close"), ctx, slot="2026-11-29T01:00:00Z")
    assert outcome[0].result == "自动结束 1 个活动"
    assert (await Activity.get(id=activity["id"])).status.value == "closed"
    claims = await HoursClaim.filter(source_kind=SourceKind.ACTIVITY, source_id=activity["id"])
    assert [c.person_id for c in claims] == [world.ids["v2"]]


async def test_the_new_jobs_are_listed(client: TestClient, settings: Settings) -> None:
    code, out, _ = await dangqun(settings, "bot", "jobs")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line and line[0].isalpha()}
    assert "每 10 分钟" in lines["activity_reminder"]
    assert "每 10 分钟" in lines["activity_auto_close"]
    assert "每月1日 09:30" in lines["party_progress_reminder"]
    assert "补跑" in lines["party_progress_reminder"]
