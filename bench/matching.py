"""Benchmark of candidate search: top 20 among 100,000 volunteers (``python -m bench.matching``).

Writes 100,000 generated volunteers of one community into a scratch database (a temporary
SQLite file, or ``DANGQUN_BENCH_DATABASE_URL``; the database is wiped), then measures:
- building the index from the database (time, memory, longest event-loop block meanwhile),
- the top-20 computation for many random needs (p50 / p99 / max), the issue's goal being
  p99 ≤ 10 ms,
- ``rank_for_need`` end to end (need, settings, freshness poll, ranking) and the longest
  event-loop block while a stream of rankings and profile changes runs,
- catching up after profile changes (the freshness poll patching rows).

Options: ``--volunteers N`` (default 100000), ``--needs N`` (default 2000), ``--seed N``,
``--gc-freeze``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from server.accounts.models import Person
from server.core.clock import utcnow
from server.core.config import Settings
from server.core.db import apply_migrations, init_orm
from server.matching import scoring, service
from server.matching.scoring import DEFAULT_WEIGHTS
from server.needs.models import Category, Need, NeedStatus
from server.org.models import Community, Grid, GridLevel, Street
from server.volunteers import service as volunteers
from server.volunteers.models import DEFAULT_SKILLS, VolunteerProfile

T = TypeVar("T")
CITY_KM = 20.0  # a 20 km × 20 km city
CLUSTERS = 40  # neighbourhoods where volunteers live, each spread over about 1.5 km
CLUSTER_SPREAD_M = 1500.0
CENTRE = (44.5525, 129.6275)
WRITE_CHUNK = 5000
RADII = (1000, 1500, 2000, 2500, 3000)
HABITS = (
    ((0, 1, 2, 3, 4), (("18:00", "21:00"), ("19:00", "21:30"))),
    ((5, 6), (("08:00", "12:00"), ("14:00", "17:30"), ("09:00", "11:00"))),
    ((0, 1, 2, 3, 4, 5, 6), (("08:30", "11:30"), ("14:00", "16:00"))),
)
TITLES = ("水管漏水", "帮老人买菜", "邻里噪音纠纷", "楼道垃圾清理", "孩子作业辅导", "需要帮忙")


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = CENTRE[0] + north_m / scoring.METERS_PER_DEGREE
    lng = CENTRE[1] + east_m / (scoring.METERS_PER_DEGREE * math.cos(math.radians(CENTRE[0])))
    return lat, lng


class LoopMonitor:
    """The longest time the event loop could not run a 1 ms timer on time: on the clock
    (``longest``), and in CPU time of the loop's thread (``longest_cpu``: the work that held
    the loop, without the time the machine gave other processes)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, cpu_before = loop.time(), time.thread_time()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, loop.time() - before - 0.001)
            self.longest_cpu = max(self.longest_cpu, time.thread_time() - cpu_before)

    def report(self) -> str:
        return (
            f"最长事件循环阻塞 {self.longest * 1e3:.1f} ms"
            f"（其中循环线程 CPU 时间 {self.longest_cpu * 1e3:.1f} ms）"
        )

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[LoopMonitor]:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        try:
            yield self
        finally:
            self._task.cancel()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1e3:.2f} ms · p99 {p99 * 1e3:.2f} ms · "
        f"max {ordered[-1] * 1e3:.2f} ms ({len(ordered)} runs)"
    )


async def timed(action: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await action()
    return result, time.perf_counter() - start


def volunteer_row(rng: random.Random, centres: list[tuple[float, float]]) -> dict:
    north, east = rng.choice(centres)
    lat, lng = offset(north + rng.gauss(0, CLUSTER_SPREAD_M), east + rng.gauss(0, CLUSTER_SPREAD_M))
    slots = set()
    for weekdays, times in rng.sample(HABITS, rng.randint(1, 2)):
        start, end = rng.choice(times)
        for weekday in rng.sample(weekdays, rng.randint(1, len(weekdays))):
            slots.add((weekday, start, end))
    max_tasks = rng.randint(1, 3)
    accepted = rng.choice((0, 0, 1, 3, 8, 20))
    rated = rng.randint(0, accepted)
    return {
        "skills": rng.sample(DEFAULT_SKILLS, rng.randint(1, 3)),
        "availability": [{"weekday": d, "start": s, "end": e} for d, s, e in sorted(slots)],
        "home_lat": lat if rng.random() > 0.02 else None,
        "home_lng": lng,
        "service_radius_m": rng.choice(RADII),
        "max_concurrent_tasks": max_tasks,
        "active_tasks": rng.choice((0, 0, 0, 1, max_tasks)),
        "accepted_count": accepted,
        "declined_count": rng.choice((0, 0, 1, 2, 5)),
        "completed_count": max(0, accepted - rng.choice((0, 0, 1))),
        "rating_sum": sum(rng.choice((3, 4, 5, 5)) for _ in range(rated)),
        "rating_count": rated,
        "recent_load": rng.choice((0.0, 0.0, 0.5, 1.0, 2.3)),
        "recent_load_at": utcnow() - dt.timedelta(hours=rng.randint(1, 2000)),
    }


async def populate(volunteer_count: int, rng: random.Random) -> tuple[Community, Grid]:
    street = await Street.create(name="基准街道", code="bench-street")
    community = await Community.create(
        street=street,
        name="基准社区",
        code="bench",
        join_code="BENCH1",
        lat=CENTRE[0],
        lng=CENTRE[1],
    )
    grid = await Grid.create(
        community=community, level=GridLevel.COMMUNITY, name="基准网格", path="/1/"
    )
    half = CITY_KM * 500
    centres = [(rng.uniform(-half, half), rng.uniform(-half, half)) for _ in range(CLUSTERS)]
    for first in range(0, volunteer_count, WRITE_CHUNK):
        size = min(WRITE_CHUNK, volunteer_count - first)
        async with in_transaction():
            await Person.bulk_create(
                [
                    Person(
                        openid=f"bench-{first + i}",
                        name=f"志愿者{first + i}",
                        is_party_member=rng.random() < 0.4,
                    )
                    for i in range(size)
                ]
            )
            ids = await Person.filter(
                openid__in=[f"bench-{first + i}" for i in range(size)]
            ).values_list("id", flat=True)
            await VolunteerProfile.bulk_create(
                [
                    VolunteerProfile(
                        person_id=person_id,
                        community_id=community.id,
                        **volunteer_row(rng, centres),
                    )
                    for person_id in ids
                ]
            )
        print(f"\r  写入志愿者 {first + size}/{volunteer_count}", end="", flush=True)
    print()
    return community, grid


def random_need_fields(rng: random.Random, index_lat: list[float], index_lng: list[float]) -> dict:
    row = rng.randrange(len(index_lat))
    has_place = rng.random() < 0.95 and not math.isnan(index_lat[row])
    start = utcnow() + dt.timedelta(minutes=30 * rng.randrange(0, 14 * 48))
    return {
        "category": rng.choice(list(Category)).value,
        "title": rng.choice(TITLES),
        "description": "",
        "lat": index_lat[row] + rng.gauss(0, 0.003) if has_place else None,
        "lng": index_lng[row] + rng.gauss(0, 0.003) if has_place else None,
        "preferred_start": start if rng.random() < 0.8 else None,
        "preferred_end": start + dt.timedelta(hours=rng.choice((1, 2, 4)))
        if rng.random() < 0.5
        else None,
    }


async def run(
    volunteer_count: int, need_count: int, seed: int, database_url: str, gc_freeze: bool
) -> None:
    rng = random.Random(seed)
    settings = Settings(database_url=database_url)
    if database_url.startswith("postgres"):
        import asyncpg

        connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await connection.close()
    await apply_migrations(settings)
    await init_orm(settings)
    monitor = LoopMonitor()
    try:
        print(f"数据库：{database_url}")
        started = time.perf_counter()
        community, grid = await populate(volunteer_count, rng)
        print(f"  生成并写入用时 {time.perf_counter() - started:.1f} s")

        service.reset_indexes()
        if gc_freeze:  # what a server does once after start-up (see README)
            gc.collect()
            gc.freeze()
        rss_before = rss_mb()
        async with monitor.watching():
            index, seconds = await timed(lambda: service.community_index(community.id))
        stats = index.stats()
        print(
            f"索引构建（{stats.rows} 名志愿者，从数据库分页读取）：{seconds:.2f} s · "
            f"numpy 列 {stats.nbytes / 1e6:.1f} MB · 进程内存增加 {rss_mb() - rss_before:.0f} MB · "
            f"{monitor.report()}"
        )

        lats, lngs = index.lat[: index.size].tolist(), index.lng[: index.size].tolist()
        now = utcnow()
        samples: list[float] = []
        cpu: list[float] = []
        sizes: list[int] = []
        for _ in range(need_count):
            fields = random_need_fields(rng, lats, lngs)
            features = scoring.need_features(
                **fields, party_categories=("daily_life",) if rng.random() < 0.5 else ()
            )
            start, cpu_start = time.perf_counter(), time.thread_time()
            top = index.rank(features, weights=DEFAULT_WEIGHTS, now=now, limit=20)
            samples.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - cpu_start)
            sizes.append(len(top))
        print(f"前 20 名计算（{need_count} 个随机需求）：{percentiles(samples)}")
        print(f"  其中本线程 CPU 时间（不含等待其他进程让出 CPU）：{percentiles(cpu)}")
        print(f"  平均返回 {statistics.mean(sizes):.1f} 名候选人")

        needs = []
        for _ in range(200):
            fields = random_need_fields(rng, lats, lngs)
            needs.append(
                await Need.create(
                    community=community,
                    grid=grid,
                    reporter_id=int(index.person_id[0]),
                    grid_path=grid.path,
                    status=NeedStatus.ACCEPTED,
                    status_changed_at=now,
                    **fields,
                )
            )
        person_ids = index.person_id[: index.size].tolist()
        end_to_end = []

        async def changes() -> None:
            while True:  # profile changes arrive while rankings run
                await volunteers.record_acceptance(person_id=rng.choice(person_ids))
                await asyncio.sleep(0.02)  # 50 changes a second

        async with monitor.watching():
            writer = asyncio.create_task(changes())
            for need in needs:
                _, seconds = await timed(lambda need=need: service.rank_for_need(need.id))
                end_to_end.append(seconds)
            writer.cancel()
        print(f"rank_for_need 端到端（含数据库读取与增量刷新）：{percentiles(end_to_end)}")
        print(f"  其间{monitor.report()}")

        changed = rng.sample(person_ids, 1000)
        for person_id in changed:
            await volunteers.record_decline(person_id=person_id)
        _, seconds = await timed(lambda: service.community_index(community.id))
        print(f"1000 份档案变更后的增量刷新：{seconds * 1e3:.1f} ms")
    finally:
        service.reset_indexes()
        await Tortoise.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=100_000)
    parser.add_argument("--needs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() before measuring: full collections then skip the start-up objects",
    )
    args = parser.parse_args()
    url = os.environ.get("DANGQUN_BENCH_DATABASE_URL", "")
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(
            run(
                args.volunteers,
                args.needs,
                args.seed,
                url or f"sqlite://{scratch}/bench.sqlite3",
                args.gc_freeze,
            )
        )


if __name__ == "__main__":
    main()
