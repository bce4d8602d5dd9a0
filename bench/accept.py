"""Benchmark: the accept endpoint (``POST /api/v1/invitations/{id}/accept``) under 64 connections.

Seeds many needs in matching, each with pending invitations to distinct volunteers, starts the
real API in its own process, then has 64 client connections accept every invitation once and
prints requests per second and latency percentiles. With ``--per-need 2`` two volunteers race
for every need (half the answers are 409 ``task_taken``); either way it checks afterwards that
every need has exactly one task.

    python -m bench.accept --database-url postgres://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/9 --needs 4000

The database is wiped (schema dropped and rebuilt by migrations) and the Redis database flushed:
give it ones of its own. Without ``--database-url`` it runs on a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import aiohttp

CONNECTIONS = 64


def _settings_values(args: argparse.Namespace, port: int) -> dict[str, Any]:
    return {
        "mode": "dev",
        "database_url": args.database_url,
        "redis_url": args.redis_url,
        "host": "127.0.0.1",
        "port": port,
    }


def _serve(values: dict[str, Any]) -> None:
    """The API alone in a child process, so the load generator does not share its loop."""
    import logging

    from aiohttp import web

    from server.app import create_app
    from server.core.config import Settings

    logging.disable(logging.WARNING)
    settings = Settings(**values)
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None
    )


async def _reset(args: argparse.Namespace) -> None:
    from server.core.config import Settings
    from server.core.db import apply_migrations

    if args.database_url.startswith(("postgres://", "postgresql://")):
        import asyncpg

        connection = await asyncpg.connect(
            args.database_url.replace("postgres://", "postgresql://", 1)
        )
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await connection.close()
    await apply_migrations(Settings(database_url=args.database_url))


async def _seed(args: argparse.Namespace) -> list[tuple[int, str]]:
    """Needs in matching with ``per_need`` pending invitations each; returns (invitation, token)."""
    from redis.asyncio import Redis

    from server.accounts.models import Person, Role, RoleGrant
    from server.accounts.service import _session_key
    from server.core.clock import utcnow
    from server.core.config import Settings
    from server.core.db import init_orm
    from server.core.redis import make_redis
    from server.needs.models import Need, NeedStatus
    from server.org.models import Community, GridLevel, Household, Street
    from server.org.service import create_grid
    from server.tasks.models import TaskInvitation
    from server.volunteers.models import VolunteerProfile

    settings = Settings(database_url=args.database_url, redis_url=args.redis_url)
    await init_orm(settings)
    street = await Street.create(name="压测街道", code="bench-street")
    community = await Community.create(
        street=street, name="压测社区", code="bench", join_code="BENCH1"
    )
    grid = await create_grid(community=community, name="压测网格", level=GridLevel.COMMUNITY)
    household = await Household.create(community=community, grid=grid, label="1单元101")
    reporter = await Person.create(name="居民")
    volunteers_count = args.needs * args.per_need
    await Person.bulk_create(
        [Person(name=f"志愿者{i}", openid=f"bench-{i}") for i in range(volunteers_count)],
        batch_size=1000,
    )
    volunteer_ids = [
        int(v)
        for v in await Person.filter(openid__startswith="bench-")
        .order_by("id")
        .values_list("id", flat=True)
    ]
    await RoleGrant.bulk_create(
        [
            RoleGrant(
                person_id=v,
                role=Role.VOLUNTEER,
                street_id=street.id,
                community_id=community.id,
                scope_key=f"volunteer:community:{community.id}",
            )
            for v in volunteer_ids
        ],
        batch_size=1000,
    )
    await VolunteerProfile.bulk_create(
        [VolunteerProfile(person_id=v, community_id=community.id) for v in volunteer_ids],
        batch_size=1000,
    )
    now = utcnow()
    await Need.bulk_create(
        [
            Need(
                community_id=community.id,
                grid_id=grid.id,
                grid_path=grid.path,
                household_id=household.id,
                reporter_id=reporter.id,
                category="daily_life",
                title=f"压测需求{i}",
                description="压测",
                status=NeedStatus.MATCHING,
                status_changed_at=now,
            )
            for i in range(args.needs)
        ],
        batch_size=1000,
    )
    need_ids = [int(n) for n in await Need.all().order_by("id").values_list("id", flat=True)]
    await TaskInvitation.bulk_create(
        [
            TaskInvitation(
                need_id=need_id,
                volunteer_id=volunteer_ids[index * args.per_need + k],
                wave=1,
                rank=k + 1,
                sent_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )
            for index, need_id in enumerate(need_ids)
            for k in range(args.per_need)
        ],
        batch_size=1000,
    )
    invitations = await TaskInvitation.all().order_by("id").values_list("id", "volunteer_id")
    redis: Redis = make_redis(settings)
    await redis.flushdb()
    tokens: dict[int, str] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for volunteer_id in volunteer_ids:
            token = secrets.token_urlsafe(32)
            tokens[volunteer_id] = token
            pipe.set(_session_key(token), json.dumps({"person_id": volunteer_id}), ex=3600)
        await pipe.execute()
    await redis.aclose()
    from tortoise import Tortoise

    await Tortoise.close_connections()
    # interleave so the racers of one need are close together in the queue
    return [(int(i), tokens[int(v)]) for i, v in invitations]


async def _check(args: argparse.Namespace) -> tuple[int, int]:
    """(needs, needs with exactly one task) after the run."""
    from tortoise import Tortoise
    from tortoise.functions import Count

    from server.core.config import Settings
    from server.core.db import init_orm
    from server.tasks.models import Task

    await init_orm(Settings(database_url=args.database_url))
    rows = await Task.all().annotate(n=Count("id")).group_by("need_id").values("need_id", "n")
    await Tortoise.close_connections()
    return len(rows), sum(1 for row in rows if row["n"] == 1)


async def _wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def _load(
    base: str, work: list[tuple[int, str]], *, baseline: bool = False
) -> tuple[list[float], Counter[int], float]:
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                invitation_id, token = queue.get_nowait()
                started = time.perf_counter()
                headers = {"Authorization": f"Bearer {token}"}
                request = (
                    session.get(f"{base}/api/v1/me", headers=headers)
                    if baseline
                    else session.post(
                        f"{base}/api/v1/invitations/{invitation_id}/accept", headers=headers
                    )
                )
                async with request as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - began
    return latencies, statuses, elapsed


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="wiped! default: a temp SQLite file")
    parser.add_argument("--redis-url", default="memory://", help="flushed! default: in-process")
    parser.add_argument("--needs", type=int, default=2000)
    parser.add_argument("--per-need", type=int, default=1, choices=(1, 2))
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also time GET /api/v1/me (session check only) with the same tokens, for scale",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        args.database_url = f"sqlite://{tempfile.mkdtemp()}/bench.sqlite3"
    if args.redis_url == "memory://":
        sys.exit("the API runs in its own process: give it a real Redis (--redis-url)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    asyncio.run(_reset(args))
    started = time.perf_counter()
    work = asyncio.run(_seed(args))
    seeded_in = time.perf_counter() - started
    print(f"seeded {args.needs} needs, {len(work)} invitations in {seeded_in:.1f} s")

    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(_settings_values(args, port),), daemon=True
    )
    server.start()
    try:
        asyncio.run(_wait_ready(base))
        if args.baseline:
            me, _, me_elapsed = asyncio.run(_load(base, work, baseline=True))
            me_p50, me_p99 = (_percentile(me, f) * 1000 for f in (0.50, 0.99))
            print(
                f"baseline GET /api/v1/me: {len(me) / me_elapsed:.0f} req/s, "
                f"p50 {me_p50:.1f} ms, p99 {me_p99:.1f} ms"
            )
        latencies, statuses, elapsed = asyncio.run(_load(base, work))
    finally:
        server.terminate()
        server.join()
    needs_with_tasks, exactly_one = asyncio.run(_check(args))

    backend = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(f"backend {backend}, {CONNECTIONS} connections, {os.cpu_count()} CPUs")
    print(f"requests {len(latencies)}  statuses {dict(sorted(statuses.items()))}")
    print(f"elapsed {elapsed:.2f} s  throughput {len(latencies) / elapsed:.0f} req/s")
    p50, p90, p99 = (_percentile(latencies, f) * 1000 for f in (0.50, 0.90, 0.99))
    mean, worst = statistics.fmean(latencies) * 1000, max(latencies) * 1000
    print(f"latency ms  p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {worst:.1f}", end="")
    print(f"  mean {mean:.1f}")
    print(f"needs with a task {needs_with_tasks}/{args.needs}, with exactly one {exactly_one}")
    if exactly_one != args.needs or needs_with_tasks != args.needs:
        sys.exit("FAILED: every need must end with exactly one task")


if __name__ == "__main__":
    main()
