"""Outbox dispatch throughput to the mock WeChat platform: ``python -m bench.dispatch``.

Enqueues subscribe messages for residents who granted consents, runs the dispatcher (as the
bot does) until every message is delivered, and prints messages per second and the duplicate
window (time between the platform's answer and the commit of the result). The mock platform
runs in its own process, as Tencent's servers would. Without ``--database-url`` a fresh SQLite
file is used; a PostgreSQL database given with ``--database-url`` is WIPED first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "tpl-need-status"
PER_RESIDENT = 20  # messages (and consents) per resident


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_mock(port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGQUN_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "dangqun", "mock-wechat", "--mock-port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_ready(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with http.get(f"{base}/dev/templates") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("mock platform did not start")


async def _reset_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


async def run(args: argparse.Namespace) -> None:
    from tortoise import Tortoise

    from server.accounts.models import Person
    from server.core.config import Settings
    from server.core.db import apply_migrations, init_orm
    from server.core.redis import make_redis
    from server.notify.dispatcher import build_dispatcher
    from server.notify.models import OutboxMessage, OutboxStatus, SubscribeConsent, Urgency

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mock = _start_mock(port)
    workdir = tempfile.TemporaryDirectory(prefix="dangqun-bench-")
    database_url = args.database_url or f"sqlite://{workdir.name}/bench.sqlite3"
    settings = Settings(
        database_url=database_url,
        redis_url=args.redis_url,
        wechat_api_base=base,
        notify_batch_size=args.batch,
        notify_concurrency=args.concurrency,
        notify_quiet_start="00:00",  # measure sending, not waiting for the morning
        notify_quiet_end="00:00",
    )
    try:
        if not settings.uses_sqlite:
            await _reset_postgres(settings.database_url)
        await apply_migrations(settings)
        await init_orm(settings)
        redis = make_redis(settings)
        if not settings.uses_memory_redis:
            await redis.flushdb()
        residents = max(1, args.messages // PER_RESIDENT)
        async with aiohttp.ClientSession() as http:
            await _wait_ready(http, base)
            people = [Person(openid=f"bench-{i:06d}", name=f"居民{i}") for i in range(residents)]
            await Person.bulk_create(people, batch_size=1000)
            people = list(await Person.all().order_by("id"))
            await SubscribeConsent.bulk_create(
                [
                    SubscribeConsent(person_id=p.id, template_id=TEMPLATE, remaining=PER_RESIDENT)
                    for p in people
                ],
                batch_size=1000,
            )
            for person in people:
                async with http.post(
                    f"{base}/dev/consents",
                    json={"openid": person.openid, "template_id": TEMPLATE, "accept": PER_RESIDENT},
                ) as response:
                    response.raise_for_status()
            total = residents * PER_RESIDENT
            await OutboxMessage.bulk_create(
                [
                    OutboxMessage(
                        kind="need_status",
                        payload={"need_id": i, "title": f"需求{i}", "status_label": "已受理"},
                        recipient_id=people[i % residents].id,
                        urgency=Urgency.NORMAL,
                    )
                    for i in range(total)
                ],
                batch_size=1000,
            )
            dispatchers = [
                build_dispatcher(settings=settings, redis=redis, http=http, worker_id=f"bench-{n}")
                for n in range(args.dispatchers)
            ]
            started = time.perf_counter()
            reports = await asyncio.gather(*(d.drain() for d in dispatchers))
            elapsed = time.perf_counter() - started
            sent = await OutboxMessage.filter(status=OutboxStatus.SENT).count()
            async with http.get(f"{base}/inspector/api/summary") as response:
                summary = await response.json()
        windows = sorted(w for report in reports for w in report.duplicate_windows)
        accepted = summary["by_kind_errcode"].get("subscribe_send", {}).get("0", 0)
        backend = "PostgreSQL" if not settings.uses_sqlite else "SQLite"
        redis_kind = "fakeredis" if settings.uses_memory_redis else "Redis"
        print(f"backend: {backend} + {redis_kind}, dispatchers in this process: {args.dispatchers}")
        print(f"batch {args.batch}, concurrency {args.concurrency}, residents {residents}")
        print(f"messages delivered: {sent}/{total} (platform accepted {accepted})")
        print(f"elapsed: {elapsed:.2f} s  →  {sent / elapsed:.0f} messages/s")
        if windows:
            p50 = statistics.median(windows) * 1000
            p99 = windows[int(len(windows) * 0.99) - 1] * 1000
            print(
                f"duplicate window (answer → commit): p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                f"max {windows[-1] * 1000:.2f} ms"
            )
        await redis.aclose()
    finally:
        await Tortoise.close_connections()
        mock.terminate()
        mock.wait(timeout=10)
        workdir.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="messages to deliver")
    parser.add_argument("--batch", type=int, default=50, help="rows claimed per round")
    parser.add_argument("--concurrency", type=int, default=16, help="sends in flight")
    parser.add_argument("--dispatchers", type=int, default=1, help="dispatchers sharing the work")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (wiped!)")
    parser.add_argument("--redis-url", default="memory://", help="redis://… (flushed!)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
