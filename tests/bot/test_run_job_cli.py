"""``dangqun bot jobs`` and ``dangqun bot run-job`` as an admin runs them."""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp.test_utils import TestClient

from server.accounts.models import Role
from server.core.config import Settings
from server.notify.models import OutboxMessage
from server.scheduling.models import JobRun, RunStatus
from tests.builders import add_person, build_town


async def dangqun(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DANGQUN_")}
    env.update(DANGQUN_MODE="dev", DANGQUN_DATABASE_URL=settings.database_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dangqun",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_jobs_are_listed_with_schedule_and_next_run(
    client: TestClient, settings: Settings
) -> None:
    code, out, _ = await dangqun(settings, "bot", "jobs")
    assert code == 0
    assert "时区 Asia/Shanghai" in out
    digest_line = next(line for line in out.splitlines() if line.startswith("weekly_digest"))
    assert "每周一 08:30" in digest_line and "08:30:00" in digest_line
    assert "每 5 分钟" in next(line for line in out.splitlines() if "need_sla_scan" in line)


async def test_dry_run_prints_the_messages_and_writes_nothing(
    client: TestClient, settings: Settings
) -> None:
    town = await build_town()
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    cid = str(town.community.id)

    code, out, err = await dangqun(settings, "bot", "run-job", "weekly_digest", "--dry-run")
    assert code == 0, err
    assert f"== 社区 #{cid}：将写入 1 条待发消息 ==" in out
    assert (
        f"【weekly_digest】发给 社区 #{cid} 的书记（企业微信应用消息 + 站内信）和社区群机器人"
        in out
    )
    assert "## 测试社区 周报" in out
    assert "群机器人图片：网格柱状图 PNG" in out and "站内信：测试社区周报" in out
    assert "未写入任何数据" in err
    assert await OutboxMessage.all().count() == 0
    assert await JobRun.all().count() == 0

    code, out, err = await dangqun(settings, "bot", "run-job", "weekly_digest", "--community", cid)
    assert code == 0, err
    assert f"社区 #{cid}：已运行" in out
    assert await OutboxMessage.filter(community_id=town.community.id).count() == 1
    run = await JobRun.get(job="weekly_digest")
    assert run.status is RunStatus.DONE and run.slot.startswith("manual-")

    code, _, err = await dangqun(settings, "bot", "run-job", "weekly_digest", "--community", "999")
    assert code == 1 and "找不到该社区" in err
    assert await JobRun.all().count() == 1  # a community that does not exist claims nothing
    code, _, err = await dangqun(settings, "bot", "run-job", "no_such_job")
    assert code == 2 and "weekly_digest" in err
    code, _, err = await dangqun(settings, "bot", "run-job", "need_sla_scan", "--community", cid)
    assert code == 2 and "不按社区运行" in err
