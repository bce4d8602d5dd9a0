"""Two real bot processes on PostgreSQL + Redis: every reminder reaches the phone exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.core.clock import utcnow
from server.core.config import Settings
from server.notify.models import OutboxMessage, OutboxStatus
from server.notify.service import record_consents
from server.scheduling.models import JobRun, RunStatus
from tests.conftest import ON_POSTGRES, REDIS_URL
from tests.notify.test_processes import ROOT, dispatcher_env
from tests.tasks.conftest import World
from tests.tasks.test_reminders import reminders, scheduled_task

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="needs PostgreSQL and Redis (DANGQUN_TEST_*_URL)"
)
RUN_SECONDS = 10  # catch-up on start, then three or more dispatch rounds in each process


async def test_two_bot_processes_send_each_reminder_once(
    client: TestClient, world: World, settings: Settings, mock_wechat: TestServer
) -> None:
    now = utcnow()
    await scheduled_task(client, world, now + dt.timedelta(hours=10))  # its 24h reminder is due
    await scheduled_task(client, world, now + dt.timedelta(minutes=90))  # its 2h reminder is due
    # the need flow's own notifications are not this test's business
    await OutboxMessage.all().update(status=OutboxStatus.SENT)
    for who, template, times in (("v1", "tpl-task-remind", 2), ("resident", "tpl-need-status", 1)):
        async with client.session.post(
            mock_wechat.make_url("/dev/consents"),
            json={"openid": f"test-{who}", "template_id": template, "accept": times},
        ) as response:
            assert response.status == 200
        for _ in range(times):
            await record_consents(
                person_id=world.ids[who],
                results={template: "accept"},
                known_template_ids=[template],
            )
    env = dispatcher_env(settings, mock_wechat)

    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bot.tick_bot", str(RUN_SECONDS), env=env, cwd=ROOT
        )
        for _ in range(2)
    ]
    codes = await asyncio.wait_for(
        asyncio.gather(*(p.wait() for p in processes)), timeout=RUN_SECONDS + 60
    )
    assert codes == [0, 0]

    async with client.session.get(
        mock_wechat.make_url("/inspector/api/records?kind=subscribe_send&limit=100")
    ) as response:
        records = (await response.json())["items"]
    sent = sorted(
        (
            r["request"]["body"]["touser"],
            r["request"]["body"]["data"].get("phrase3", {}).get("value", ""),
            r["errcode"],
        )
        for r in records
    )
    assert sent == [("test-resident", "", 0), ("test-v1", "即将开始", 0), ("test-v1", "待服务", 0)]
    assert [r[2] for r in await reminders()] == ["2h", "2h", "24h"]  # nearest start first
    statuses = await OutboxMessage.filter(kind__startswith="task_reminder").values_list(
        "status", flat=True
    )
    assert set(statuses) == {OutboxStatus.SENT}
    runs = await JobRun.filter(job="task_reminders")
    assert runs and all(run.status is RunStatus.DONE for run in runs)
    assert sorted(run.result for run in runs)[-1] == "写入 1 条 24 小时提醒、1 条 2 小时提醒"
