"""Real dispatcher processes: several share the outbox, and a killed one loses nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from miniapp_mock import create_mock_app
from server.accounts.models import Role
from server.core.config import Settings
from server.notify.models import OutboxMessage, OutboxStatus, Urgency
from server.notify.service import enqueue, record_consents
from tests.builders import add_person, build_town
from tests.conftest import (
    ON_POSTGRES,
    REDIS_URL,
    TEST_APP_ID,
    TEST_APP_SECRET,
    TEST_CORP_ID,
    TEST_CORP_SECRET,
    mock_config,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "tpl-need-status"
# a platform that answers in 20 ms keeps sends in flight (a test may slow it further)
PLATFORM_DELAY = {"seconds": 0.02}


@pytest_asyncio.fixture
async def slow_platform() -> AsyncIterator[TestServer]:
    """The mock platform (real clock) answering message sends after a short delay."""
    PLATFORM_DELAY["seconds"] = 0.02

    @web.middleware
    async def slow(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/cgi-bin/message"):
            await asyncio.sleep(PLATFORM_DELAY["seconds"])
        return await handler(request)

    app = create_mock_app(mock_config())
    app.middlewares.append(slow)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


def dispatcher_env(settings: Settings, platform: TestServer, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DANGQUN_") or key.startswith("DANGQUN_TEST_")
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DANGQUN_MODE": "test",
            "DANGQUN_DATABASE_URL": settings.database_url,
            "DANGQUN_REDIS_URL": REDIS_URL or "memory://",
            "DANGQUN_WECHAT_APP_ID": TEST_APP_ID,
            "DANGQUN_WECHAT_APP_SECRET": TEST_APP_SECRET,
            "DANGQUN_WECOM_CORP_ID": TEST_CORP_ID,
            "DANGQUN_WECOM_CORP_SECRET": TEST_CORP_SECRET,
            "DANGQUN_WECHAT_API_BASE": str(platform.make_url("")).rstrip("/"),
            # the processes run on the real clock: switch quiet hours off so the test can run
            # at any hour
            "DANGQUN_NOTIFY_QUIET_START": "00:00",
            "DANGQUN_NOTIFY_QUIET_END": "00:00",
        }
    )
    env.update(extra)
    return env


async def spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dangqun",
        "notify",
        "dispatch",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, limit_seconds: float = 60) -> str:
    _, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    text = stderr.decode()
    assert process.returncode == 0, text
    return text


async def many_messages(client: TestClient, platform: TestServer, count: int) -> list[str]:
    """``count`` status messages to one resident who granted enough consents on both sides."""
    town = await build_town()
    person = await add_person(town, "resident", Role.RESIDENT, household=town.households[0])
    async with client.session.post(
        platform.make_url("/dev/consents"),
        json={"openid": "test-resident", "template_id": TEMPLATE, "accept": count * 2},
    ) as response:
        assert response.status == 200
    for _ in range(count * 2):
        await record_consents(
            person_id=person.id, results={TEMPLATE: "accept"}, known_template_ids=[TEMPLATE]
        )
    titles = [f"通知{i:04d}" for i in range(count)]
    for title in titles:
        await enqueue(
            kind="need_status",
            payload={"title": title, "status_label": "已受理"},
            recipient_id=person.id,
            urgency=Urgency.URGENT,
        )
    return titles


async def delivered_titles(client: TestClient, platform: TestServer) -> list[str]:
    async with client.session.get(
        platform.make_url("/dev/messages?openid=test-resident")
    ) as response:
        items = (await response.json())["items"]
    return [item["data"]["thing1"] for item in items]


PUSHES_RE = re.compile(r"发出 (\d+) 条推送")


@pytest.mark.skipif(not ON_POSTGRES, reason="SKIP LOCKED sharing needs PostgreSQL and Redis")
async def test_two_dispatcher_processes_share_the_outbox_without_double_sends(
    client: TestClient, settings: Settings, slow_platform: TestServer
) -> None:
    titles = await many_messages(client, slow_platform, 200)
    PLATFORM_DELAY["seconds"] = 0.05  # 200 sends take seconds: both processes are up by then
    env = dispatcher_env(
        settings, slow_platform, DANGQUN_NOTIFY_BATCH_SIZE="10", DANGQUN_NOTIFY_CONCURRENCY="4"
    )

    first, second = await spawn(env, "--until-empty"), await spawn(env, "--until-empty")
    logs = [await finish(first), await finish(second)]

    delivered = await delivered_titles(client, slow_platform)
    assert sorted(delivered) == titles  # every message exactly once
    pushes = [int(PUSHES_RE.findall(log)[-1]) for log in logs]
    assert sum(pushes) == 200
    assert all(p > 0 for p in pushes), pushes  # both processes did part of the work
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 200


async def test_a_dispatcher_killed_mid_dispatch_loses_nothing_after_restart(
    client: TestClient, settings: Settings, slow_platform: TestServer
) -> None:
    concurrency = 2  # 20 sends of the first claim take about 0.2 s: the kill lands inside it
    titles = await many_messages(client, slow_platform, 60)
    env = dispatcher_env(
        settings,
        slow_platform,
        DANGQUN_NOTIFY_BATCH_SIZE="20",
        DANGQUN_NOTIFY_CONCURRENCY=str(concurrency),
        DANGQUN_NOTIFY_LEASE_SECONDS="5",
    )
    process = await spawn(env)
    # the process first imports the app (seconds on a loaded machine): wait for its first sends
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(await delivered_titles(client, slow_platform)) >= 4:
            break
        await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    before = await delivered_titles(client, slow_platform)
    assert 4 <= len(before) < 60, "killed before it finished"
    claimed = await OutboxMessage.filter(status=OutboxStatus.SENDING).count()
    assert claimed > 0  # the dead process still holds leases

    await finish(await spawn(env, "--until-empty"))

    delivered = await delivered_titles(client, slow_platform)
    assert set(delivered) == set(titles)  # nothing lost
    duplicates = sum(n - 1 for n in Counter(delivered).values())
    assert duplicates <= concurrency  # only sends in flight when it died can repeat
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 60
