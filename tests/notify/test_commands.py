"""The bot's dispatch job and the ``dangqun notify`` commands an operator uses."""

from __future__ import annotations

import asyncio
import sys

from aiohttp.test_utils import TestClient

from bot.jobs import JobContext, all_jobs, dispatch_outbox
from server.accounts.models import Role
from server.core.appkeys import REDIS
from server.core.config import Settings
from server.notify.models import (
    CommunityRobot,
    OutboxMessage,
    OutboxStatus,
    Urgency,
    WecomUser,
)
from server.notify.service import enqueue
from tests.builders import add_person, build_town
from tests.notify.conftest import Platform
from tests.notify.test_processes import ROOT, dispatcher_env


async def test_the_bot_job_delivers_the_outbox(
    client: TestClient, settings: Settings, platform: Platform
) -> None:
    assert "outbox_dispatch" in [job.name for job in all_jobs(settings.timezone)]
    town = await build_town()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await WecomUser.create(person_id=secretary.id, userid="wangwu")
    await enqueue(
        kind="need_overdue",
        payload={"title": "买药", "level": 2, "text": "受理超时"},
        community_id=town.community.id,
        urgency=Urgency.URGENT,  # the job runs on the real clock: do not wait for the morning
    )
    ctx = JobContext(redis=client.app[REDIS], worker_id="job-test", settings=settings)

    await dispatch_outbox(ctx)

    sent = await platform.accepted("wecom_app")
    assert [r["request"]["body"]["touser"] for r in sent] == ["wangwu"]
    assert (await OutboxMessage.get()).status is OutboxStatus.SENT


async def run_command(settings: Settings, platform: Platform, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dangqun",
        "notify",
        *args,
        env=dispatcher_env(settings, platform.server),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode() + stderr.decode()


async def test_operators_list_and_retry_dead_messages_and_set_channels(
    client: TestClient, settings: Settings, platform: Platform
) -> None:
    town = await build_town()
    person = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    for index in range(3):
        await enqueue(kind="weekly_digest", payload={"n": index}, recipient_id=person.id)
    dead = list(await OutboxMessage.all().order_by("id"))
    await OutboxMessage.filter(id__in=[m.id for m in dead]).update(
        status=OutboxStatus.DEAD, attempts=8, last_error="45009 接口调用超过限额"
    )

    listing = await run_command(settings, platform, "dead")
    assert f"#{dead[0].id}" in listing and "45009" in listing
    output = await run_command(settings, platform, "retry-dead", "--id", str(dead[0].id))
    assert "已重新排队 1 条通知" in output
    first = await OutboxMessage.get(id=dead[0].id)
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 0)
    assert await OutboxMessage.filter(status=OutboxStatus.DEAD).count() == 2
    await run_command(settings, platform, "retry-dead")
    assert await OutboxMessage.filter(status=OutboxStatus.DEAD).count() == 0

    await run_command(
        settings, platform, "set-robot", "--community", str(town.community.id), "--key", "abc"
    )
    robot = await CommunityRobot.get(community_id=town.community.id)
    assert robot.webhook_url == f"{settings.wecom_api_base}/cgi-bin/webhook/send?key=abc"
    await run_command(
        settings, platform, "wecom-user", "--person", str(person.id), "--userid", "zhaoliu"
    )
    assert (await WecomUser.get(person_id=person.id)).userid == "zhaoliu"


async def test_the_demo_gets_robots_and_wecom_accounts_once(client: TestClient) -> None:
    from server.notify.service import ensure_demo_channels

    town = await build_town()
    secretary = await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    await add_person(town, "resident", Role.RESIDENT, household=town.households[0])

    assert await ensure_demo_channels(wecom_api_base="http://127.0.0.1:8080/mock/wecom") == (1, 1)
    assert await ensure_demo_channels(wecom_api_base="http://127.0.0.1:8080/mock/wecom") == (0, 0)
    robot = await CommunityRobot.get(community_id=town.community.id)
    assert robot.webhook_url.endswith(
        f"/mock/wecom/cgi-bin/webhook/send?key=demo-{town.community.code}"
    )
    assert (await WecomUser.get()).person_id == secretary.id
