"""积分榜 in Redis: kept in step with approvals, by community and grid, rebuildable from the
database; the honour board and its monthly publication."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from bot.jobs import JobContext, publish_honour_boards
from server.core.appkeys import REDIS, SETTINGS
from server.notify.models import OutboxMessage
from server.passbook.models import HoursClaim
from server.passbook.service import credit_pending_hours
from server.points import boards, periods
from server.points.models import HonourBoard, PointsAward
from server.points.periods import Period
from server.points.service import publish_due_honour_boards, publish_honour_board, update_rule
from tests.builders import auth, login
from tests.passbook.support import Scene, assert_reconciled, build_scene, set_policy

D = Decimal


def redis_of(client: TestClient) -> Redis:
    return client.app[REDIS]


async def serve(
    scene: Scene, client: TestClient, person_id: int, hours: str, source_id: int, rating: int
) -> None:
    """A task confirmed and rated; the community approves rated >= 4 automatically."""
    await credit_pending_hours(
        volunteer_id=person_id,
        community_id=scene.community_id,
        hours=D(hours),
        source_kind="task",
        source_id=source_id,
        rating=rating,
        redis=redis_of(client),
    )


async def snapshot(redis: Redis) -> dict[str, dict[str, float]]:
    """Every board key with its members and scores."""
    keys = sorted([k async for k in redis.scan_iter(match="board:*")])
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        if ":applied:" in key:
            continue
        out[key] = dict(await redis.zrange(key, 0, -1, withscores=True))
    return out


async def expected_from_database() -> dict[str, dict[str, float]]:
    """The boards as the database says they should be."""
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    now = dt.datetime.now(dt.UTC)
    for award in await PointsAward.all():
        for key, _ in boards.award_keys(award.community_id, award.grid_path, award.awarded_at, now):
            expected[key][str(award.person_id)] += award.points
    return {k: dict(v) for k, v in expected.items()}


async def test_boards_follow_approvals_by_community_and_grid(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    await serve(scene, client, scene.alice.id, "2", 1, 5)  # 25 points
    await serve(scene, client, scene.bob.id, "1.5", 2, 4)  # 15
    await serve(scene, client, scene.carol.id, "3", 3, 5)  # 35
    await serve(scene, client, scene.alice.id, "1", 4, 4)  # 10 → alice 35
    await serve(scene, client, scene.bob.id, "9", 5, 3)  # 3 stars: pending, no points

    token = await login(client, mock_wechat, "test-alice")
    url = f"/api/v1/communities/{scene.community_id}/boards"
    response = await client.get(url, params={"period": "week"}, headers=auth(token))
    assert response.status == 200, await response.text()
    board = await response.json()
    assert [(r["rank"], r["name"], r["points"]) for r in board["rows"]] == [
        (1, "alice", 35),
        (1, "carol", 35),
        (3, "bob", 15),
    ] or [(r["rank"], r["name"], r["points"]) for r in board["rows"]] == [
        (1, "carol", 35),
        (1, "alice", 35),
        (3, "bob", 15),
    ]
    assert board["me"]["rank"] == 1 and board["me"]["points"] == 35
    assert board["period_key"] == periods.key_of(Period.WEEK, dt.datetime.now(dt.UTC))

    town = scene.town
    # alice lives in building 1 (compound 1), bob in building 2; carol has no household and
    # counts for the community grid only
    by_grid = {}
    for grid in (town.buildings[0], town.compounds[1], town.community_grid):
        response = await client.get(
            url, params={"period": "month", "grid_id": str(grid.id)}, headers=auth(token)
        )
        assert response.status == 200
        by_grid[grid.id] = {r["name"]: r["points"] for r in (await response.json())["rows"]}
    assert by_grid[town.buildings[0].id] == {"alice": 35}
    assert by_grid[town.compounds[1].id] == {"bob": 15}
    assert by_grid[town.community_grid.id] == {"alice": 35, "carol": 35, "bob": 15}

    other_grid = (await client.get(url, params={"grid_id": "999999"}, headers=auth(token))).status
    assert other_grid == 404
    outsider = await login(client, mock_wechat, "test-outsider")
    assert (await client.get(url, headers=auth(outsider))).status == 403
    await assert_reconciled()


async def test_boards_match_the_ledger_after_a_rebuild(client: TestClient) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    redis = redis_of(client)
    people = [scene.alice, scene.bob, scene.carol]
    for source in range(1, 13):
        await serve(
            scene, client, people[source % 3].id, f"{source % 4 + 1}.25", source, 4 + source % 2
        )
    before = await snapshot(redis)
    assert before == await expected_from_database()
    assert before  # there is something to compare

    # Redis loses the boards (a flush, a failover): the command puts them back from the database.
    for key in [k async for k in redis.scan_iter(match="board:*")]:
        await redis.delete(key)
    assert await snapshot(redis) == {}
    report = await boards.rebuild_boards(redis, community_id=scene.community_id)
    assert report.awards == 12
    assert await snapshot(redis) == before

    # After the rebuild, applying an award again (a retried sync) does not count it twice.
    await boards.apply_awards(redis, await PointsAward.all())
    assert await snapshot(redis) == before
    # ... and new approvals keep adding to the rebuilt boards.
    await serve(scene, client, scene.alice.id, "1", 100, 5)
    assert await snapshot(redis) == await expected_from_database()


async def test_an_approval_in_the_callers_transaction_reaches_the_board(
    client: TestClient, mock_wechat: TestServer
) -> None:
    """The tasks code credits inside its own transaction (no Redis): the award waits, unsynced,
    and joins the board at the next read (or the sync job)."""
    scene = await build_scene()
    await set_policy(scene, auto=True)
    async with in_transaction() as connection:
        await credit_pending_hours(
            volunteer_id=scene.bob.id,
            community_id=scene.community_id,
            hours=D("2"),
            source_kind="activity",
            source_id=1,
            rating=5,
            connection=connection,
        )
    award = await PointsAward.get()
    assert not award.board_synced
    token = await login(client, mock_wechat, "test-bob")
    response = await client.get(
        f"/api/v1/communities/{scene.community_id}/boards",
        params={"period": "year"},
        headers=auth(token),
    )
    rows = (await response.json())["rows"]
    assert [(r["name"], r["points"]) for r in rows] == [("bob", 25)]
    assert (await PointsAward.get()).board_synced


async def test_secretary_approval_updates_the_board(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    await credit_pending_hours(
        volunteer_id=scene.alice.id,
        community_id=scene.community_id,
        hours=D("1.5"),
        source_kind="task",
        source_id=1,
    )
    claim = await HoursClaim.get()
    token = await login(client, mock_wechat, "test-secretary")
    response = await client.post(
        f"/api/v1/communities/{scene.community_id}/hours/approve",
        json={"ids": [claim.id]},
        headers=auth(token),
    )
    assert response.status == 200, await response.text()
    assert (await PointsAward.get()).board_synced
    key = boards.board_key(
        scene.community_id,
        Period.MONTH,
        periods.key_of(Period.MONTH, dt.datetime.now(dt.UTC)),
        None,
    )
    assert await redis_of(client).zscore(key, str(scene.alice.id)) == 15


# ---------------------------------------------------------------- honour board


async def test_honour_board_needs_the_minimum_tasks_and_is_published_once(
    client: TestClient, mock_wechat: TestServer
) -> None:
    scene = await build_scene()
    await set_policy(scene, auto=True)
    await update_rule(
        principal=await scene.principal(scene.secretary),
        community_id=scene.community_id,
        changes={"honour_min_tasks": 2, "honour_size": 5},
    )
    await serve(scene, client, scene.alice.id, "1", 1, 5)
    await serve(scene, client, scene.alice.id, "1", 2, 5)  # alice: 2 tasks, 30 points
    await serve(scene, client, scene.carol.id, "8", 3, 5)  # carol: 1 task, 85 points
    await credit_pending_hours(  # an activity is not a task
        volunteer_id=scene.carol.id,
        community_id=scene.community_id,
        hours=D("1"),
        source_kind="activity",
        source_id=4,
        rating=5,
    )
    await serve(scene, client, scene.bob.id, "1", 5, 4)
    await serve(scene, client, scene.bob.id, "1", 6, 4)  # bob: 2 tasks, 20 points

    now = dt.datetime.now(dt.UTC)
    month = periods.key_of(Period.MONTH, now)
    first_of_next = periods.bounds(Period.MONTH, now)[1] + dt.timedelta(hours=1)
    assert periods.previous_month(first_of_next) == month

    token = await login(client, mock_wechat, "test-resident")
    url = f"/api/v1/communities/{scene.community_id}/honour-board"
    preview = await (await client.get(url, params={"month": month}, headers=auth(token))).json()
    assert preview["published"] is False
    assert [(e["name"], e["points"], e["tasks"]) for e in preview["entries"]] == [
        ("alice", 30, 2),
        ("bob", 20, 2),
    ]

    assert await publish_due_honour_boards(now=first_of_next) == 2  # both communities
    assert await publish_due_honour_boards(now=first_of_next) == 0  # once only
    record = await HonourBoard.get(community_id=scene.community_id, month=month)
    assert [e["name"] for e in record.entries] == ["alice", "bob"]
    notice = await OutboxMessage.get(kind="honour_board", community_id=scene.community_id)
    assert notice.payload["names"] == ["alice", "bob"]

    # later approvals do not change what was published
    await serve(scene, client, scene.carol.id, "1", 7, 5)
    published = await (await client.get(url, params={"month": month}, headers=auth(token))).json()
    assert published["published"] is True
    assert [e["name"] for e in published["entries"]] == ["alice", "bob"]
    _, again = await publish_honour_board(community_id=scene.community_id, month=month)
    assert again is False
    bad = await client.get(url, params={"month": "2026-13"}, headers=auth(token))
    assert bad.status == 422


async def test_the_bot_job_publishes_last_months_boards(client: TestClient) -> None:
    scene = await build_scene()
    ctx = JobContext(redis=redis_of(client), worker_id="test", settings=client.app[SETTINGS])
    await publish_honour_boards(ctx)
    month = periods.previous_month(dt.datetime.now(dt.UTC))
    board = await HonourBoard.get(community_id=scene.community_id, month=month)
    assert board.entries == []  # nobody served last month: on record, empty ...
    assert not await OutboxMessage.filter(kind="honour_board").exists()  # ... and not announced
