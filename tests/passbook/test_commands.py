"""`dangqun passbook reconcile` and `dangqun points rebuild-boards`, run as an admin would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from aiohttp.test_utils import TestClient

from server.core.appkeys import REDIS
from server.passbook.models import Account
from server.passbook.service import credit_pending_hours
from tests.conftest import REDIS_URL
from tests.passbook.support import build_scene, set_policy


async def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGQUN_")}
    env["DANGQUN_DATABASE_URL"] = database_url
    if REDIS_URL:
        env["DANGQUN_REDIS_URL"] = REDIS_URL
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dangqun", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", [["passbook", "reconcile"], ["points", "rebuild-boards"]])
def test_the_commands_explain_themselves(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dangqun", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--community" in result.stdout


async def test_reconcile_command_reports_and_fails_on_a_broken_ledger(
    client: TestClient, migrated_database: str
) -> None:
    scene = await build_scene()
    await credit_pending_hours(
        volunteer_id=scene.alice.id,
        community_id=scene.community_id,
        hours=Decimal("2"),
        source_kind="task",
        source_id=1,
    )
    result = await run(migrated_database, "passbook", "reconcile")
    assert result.returncode == 0, result.stderr
    assert "账目一致" in result.stdout
    assert "2 笔转账" not in result.stdout and "1 笔转账" in result.stdout

    await Account.filter(key="pending").update(balance=Decimal("5.00"))
    result = await run(
        migrated_database, "passbook", "reconcile", "--community", str(scene.community_id)
    )
    assert result.returncode == 1
    assert "缓存余额 5.00" in result.stdout


async def test_rebuild_boards_command(client: TestClient, migrated_database: str) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    redis = client.app[REDIS]
    for source in (1, 2, 3):
        await credit_pending_hours(
            volunteer_id=scene.alice.id,
            community_id=scene.community_id,
            hours=Decimal("1"),
            source_kind="task",
            source_id=source,
            rating=5,
            redis=redis,
        )
    keys = sorted([k async for k in redis.scan_iter(match="board:*")])
    assert keys
    if REDIS_URL:  # the command reaches this same Redis: lose the boards first
        await redis.delete(*keys)
    result = await run(migrated_database, "points", "rebuild-boards")
    assert result.returncode == 0, result.stderr
    assert "3 条积分记录" in result.stdout
    assert "重建积分榜" in result.stderr  # the progress bar
    if REDIS_URL:
        assert sorted([k async for k in redis.scan_iter(match="board:*")]) == keys
        month_key = next(k for k in keys if ":all:month:" in k)
        assert await redis.zscore(month_key, str(scene.alice.id)) == 45
