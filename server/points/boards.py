"""积分榜: Redis sorted sets per community (and per grid) for the week, month and year.

Each approved hours claim has one ``PointsAward`` row; the boards are the sums of those rows.
After the approval commits, the award is added to every board it counts for by one Lua script
that first records the award id in an "applied" set, so an award is added exactly once however
often it is applied (after the commit, by the sync job, or both). ``rebuild_boards`` throws the
keys away and recomputes them from the database.

Keys: ``board:{community}:{all|g<grid>}:{week|month|year}:{2026-W47|2026-11|2026}`` (members are
person ids, scores are points) and ``board:{community}:applied:{year}`` (award ids).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from server.core.clock import utcnow
from server.points import periods
from server.points.models import PointsAward
from server.points.periods import Period

log = logging.getLogger("dangqun.points.boards")

PREFIX = "board"
SYNC_BATCH = 500
REBUILD_BATCH = 2000

# KEYS[1] = applied set, KEYS[2..n] = boards; ARGV = award id, member, points, then a TTL per key.
APPLY_AWARD_LUA = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[4])
for i = 2, #KEYS do
  redis.call('ZINCRBY', KEYS[i], ARGV[3], ARGV[2])
  redis.call('EXPIRE', KEYS[i], ARGV[i + 3])
end
return 1
"""

Progress = Callable[[int, int, str], None]


def board_key(community_id: int, period: Period, period_key: str, grid_id: int | None) -> str:
    scope = "all" if grid_id is None else f"g{grid_id}"
    return f"{PREFIX}:{community_id}:{scope}:{period.value}:{period_key}"


def applied_key(community_id: int, year: str) -> str:
    return f"{PREFIX}:{community_id}:applied:{year}"


def grid_ids(grid_path: str) -> list[int]:
    """Every grid on a path, top first: ``/1/5/23/`` → [1, 5, 23]."""
    return [int(part) for part in grid_path.strip("/").split("/") if part]


def award_keys(
    community_id: int, grid_path: str, awarded_at: dt.datetime, now: dt.datetime
) -> list[tuple[str, int]]:
    """Every board key (with its TTL) an award counts for: each period, community and grids."""
    keys: list[tuple[str, int]] = []
    for period in Period:
        name = periods.key_of(period, awarded_at)
        ttl = periods.seconds_to_keep(period, awarded_at, now)
        for grid_id in [None, *grid_ids(grid_path)]:
            keys.append((board_key(community_id, period, name, grid_id), ttl))
    return keys


async def apply_awards(redis: Redis, awards: Sequence[PointsAward]) -> int:
    """Add awards to their boards (each exactly once) and mark them synced; returns how many."""
    if not awards:
        return 0
    script = redis.register_script(APPLY_AWARD_LUA)
    now = utcnow()
    for award in awards:
        keys = award_keys(award.community_id, award.grid_path, award.awarded_at, now)
        year = periods.key_of(Period.YEAR, award.awarded_at)
        applied_ttl = periods.seconds_to_keep(Period.YEAR, award.awarded_at, now)
        await script(
            keys=[applied_key(award.community_id, year), *(key for key, _ in keys)],
            args=[award.id, award.person_id, award.points, applied_ttl, *(ttl for _, ttl in keys)],
        )
    await PointsAward.filter(id__in=[a.id for a in awards]).update(board_synced=True)
    return len(awards)


async def apply_after_commit(redis: Redis | None, award_ids: Iterable[int]) -> None:
    """After the approval committed: put its awards on the boards. A Redis failure does not undo
    the approval; the award stays unsynced and the sync job (or the next board read) adds it."""
    ids = list(award_ids)
    if redis is None or not ids:
        return
    try:
        await apply_awards(redis, await PointsAward.filter(id__in=ids, board_synced=False))
    except Exception:  # the boards catch up later; the ledger is already right
        log.warning("boards not updated for awards %s; the sync job will retry", ids, exc_info=True)


async def sync_unapplied(redis: Redis, *, community_id: int | None = None) -> int:
    """Apply every award not yet on the boards (of one community, or all)."""
    done = 0
    while True:
        query = PointsAward.filter(board_synced=False)
        if community_id is not None:
            query = query.filter(community_id=community_id)
        batch = await query.order_by("id").limit(SYNC_BATCH)
        if not batch:
            return done
        done += await apply_awards(redis, batch)


@dataclass(frozen=True)
class BoardRow:
    rank: int
    person_id: int
    points: int


async def read_board(
    redis: Redis,
    *,
    community_id: int,
    period: Period,
    at: dt.datetime,
    grid_id: int | None,
    limit: int,
) -> list[BoardRow]:
    """The top of a board; equal points share a rank (1, 2, 2, 4)."""
    key = board_key(community_id, period, periods.key_of(period, at), grid_id)
    raw = await redis.zrevrange(key, 0, limit - 1, withscores=True)
    rows: list[BoardRow] = []
    pairs = cast(list[tuple[str, float]], raw)
    for index, (member, score) in enumerate(pairs):
        points = int(score)
        rank = rows[-1].rank if rows and rows[-1].points == points else index + 1
        rows.append(BoardRow(rank=rank, person_id=int(member), points=points))
    return rows


async def rank_of(
    redis: Redis,
    *,
    community_id: int,
    period: Period,
    at: dt.datetime,
    grid_id: int | None,
    person_id: int,
) -> BoardRow | None:
    """One person's place on a board (None when they have no points there)."""
    key = board_key(community_id, period, periods.key_of(period, at), grid_id)
    score = await redis.zscore(key, str(person_id))
    if score is None:
        return None
    higher = await redis.zcount(key, f"({score}", "+inf")
    return BoardRow(rank=int(higher) + 1, person_id=person_id, points=int(score))


@dataclass(frozen=True)
class RebuildReport:
    communities: int
    awards: int
    keys: int


async def rebuild_boards(
    redis: Redis, *, community_id: int | None = None, progress: Progress | None = None
) -> RebuildReport:
    """Drop a community's (or every) board key and recompute the boards from the database.

    Each community's old keys go and its new keys arrive in one MULTI, so readers see the old
    boards or the new ones. An approval committing during the rebuild is added by the sync job.
    """
    query = PointsAward.all()
    if community_id is not None:
        query = query.filter(community_id=community_id)
    communities = sorted({row[0] for row in await query.distinct().values_list("community_id")})
    if community_id is not None and community_id not in communities:
        communities.append(community_id)
    total = await query.count()
    now = utcnow()
    done = 0
    keys_written = 0
    for cid in communities:
        scores: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        ttls: dict[str, int] = {}
        applied: dict[str, list[int]] = defaultdict(list)
        read_ids: list[int] = []
        last_id = 0
        while True:
            batch = (
                await PointsAward.filter(community_id=cid, id__gt=last_id)
                .order_by("id")
                .limit(REBUILD_BATCH)
                .values("id", "person_id", "points", "grid_path", "awarded_at")
            )
            if not batch:
                break
            for row in batch:
                for key, ttl in award_keys(cid, row["grid_path"], row["awarded_at"], now):
                    scores[key][str(row["person_id"])] += int(row["points"])
                    ttls[key] = ttl
                year = periods.key_of(Period.YEAR, row["awarded_at"])
                akey = applied_key(cid, year)
                applied[akey].append(int(row["id"]))
                ttls[akey] = periods.seconds_to_keep(Period.YEAR, row["awarded_at"], now)
                read_ids.append(int(row["id"]))
            last_id = batch[-1]["id"]
            done += len(batch)
            if progress:
                progress(done, total, f"社区 {cid}")
        old_keys = [key async for key in redis.scan_iter(match=f"{PREFIX}:{cid}:*", count=500)]
        async with redis.pipeline(transaction=True) as pipe:
            if old_keys:
                pipe.delete(*old_keys)
            for key, members in scores.items():
                pipe.zadd(key, members)
                pipe.expire(key, ttls[key])
            for key, ids in applied.items():
                pipe.sadd(key, *ids)
                pipe.expire(key, ttls[key])
            await pipe.execute()
        keys_written += len(scores) + len(applied)
        for start in range(0, len(read_ids), SYNC_BATCH):
            chunk = read_ids[start : start + SYNC_BATCH]
            await PointsAward.filter(id__in=chunk).update(board_synced=True)
    if progress and total == 0:
        progress(1, 1, "没有积分记录")
    return RebuildReport(communities=len(communities), awards=done, keys=keys_written)
