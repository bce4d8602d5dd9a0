"""Two real bot processes on PostgreSQL + Redis: each slot runs once, the digest caught up once."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

import pytest
from aiohttp.test_utils import TestClient

from server.accounts.models import Role
from server.core.config import Settings
from server.core.redis import make_redis
from server.notify.models import OutboxMessage
from server.scheduling.models import JobRun, RunStatus
from tests.builders import add_person, build_town
from tests.conftest import ON_POSTGRES, REDIS_URL

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="needs PostgreSQL and Redis (DANGQUN_TEST_*_URL)"
)
RUN_SECONDS = 9


async def test_two_bot_processes_run_each_slot_once(client: TestClient, settings: Settings) -> None:
    town = await build_town()
    await add_person(town, "secretary", Role.SECRETARY, community=town.community)
    other = await build_town("第二", join_code="TEST02")
    await add_person(other, "secretary2", Role.SECRETARY, community=other.community)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DANGQUN_")}
    env.update(
        DANGQUN_MODE="dev",
        DANGQUN_DATABASE_URL=settings.database_url,
        DANGQUN_REDIS_URL=REDIS_URL,
        # both bots start up to a week after last Monday 08:30: both try to catch the digest up
        DANGQUN_DIGEST_CATCH_UP_HOURS="168",
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bot.tick_bot", str(RUN_SECONDS), env=env
        )
        for _ in range(2)
    ]
    codes = await asyncio.wait_for(
        asyncio.gather(*(p.wait() for p in processes)), timeout=RUN_SECONDS + 60
    )
    assert codes == [0, 0]

    redis = make_redis(settings)
    try:
        counts = {
            key: int(await redis.get(key))
            async for key in redis.scan_iter(match="tick:20*")  # type: ignore[misc]
        }
        workers = Counter(await redis.lrange("tick:workers", 0, -1))
    finally:
        await redis.aclose()
    assert len(counts) >= 6, counts  # ≥ 2 slots × (1 global + 2 communities)
    assert set(counts.values()) == {1}, counts  # no slot ran twice
    runs = await JobRun.filter(job__in=["tick", "tick_per_community"])
    assert len(runs) == len(counts)
    assert all(run.status is RunStatus.DONE for run in runs)
    assert len(workers) >= 1
    digests = await JobRun.filter(job="weekly_digest").values_list("slot", "scope", "status")
    assert sorted(digests) == sorted(
        (digests[0][0], f"community:{community.id}", RunStatus.DONE)
        for community in (town.community, other.community)
    )
    sent = await OutboxMessage.filter(kind="weekly_digest").values_list("community_id", flat=True)
    assert sorted(sent) == sorted([town.community.id, other.community.id])
    print(f"slots: {len(counts)}, runs per worker: {dict(workers)}")
