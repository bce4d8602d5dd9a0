"""Benchmark: submitting a need (``POST /api/v1/needs``) against a bare aiohttp JSON endpoint.

Both servers run in their own processes on this machine and are driven in the same run, with the
same number of connections, by a load generator in a third process (aiohttp client, pure Python):

* ``bare``: an aiohttp app whose one handler parses the JSON body and answers JSON — the ceiling
  of one Python process here;
* ``submit``: the real API (``create_app``) doing the whole submit path: bearer session → person
  and grants, body validation, Idempotency-Key lookup, per-person rate limit (10 an hour, left
  on), WeChat content check (``msg_sec_check``, left on) against the mock WeChat platform in its
  own process, then the need, its audit row, the outbox row and the idempotency key in one
  transaction, and the possible-duplicate search.

Residents log in through the mock platform (``wx.login`` → ``jscode2session``) and each one
submits at most as many needs as the rate limit allows, every request with its own
Idempotency-Key, so every answer must be 201. Each round runs ``bare`` and ``submit`` closed-loop
(every connection sends its next request as soon as the last one is answered: the throughput)
and then ``submit`` paced at the goal rate (0.12 × that round's bare figure, or half the submit
figure when the goal rate is more than it carries; arrivals on a clock: the latency at that
load, measured from when each request was due). Afterwards the database must
hold exactly one need, one audit row, one outbox row and one idempotency key per 201, and the mock
platform must have seen one content check per need.

    python -m bench.submit_need                     # SQLite in a temp dir + fakeredis
    python -m bench.submit_need --database-url postgres://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/9 --rounds 3

A database given with ``--database-url`` is WIPED (schema dropped and rebuilt by migrations) and
a Redis given with ``--redis-url`` is FLUSHED: give it ones of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

CONNECTIONS = 64
# each round takes up to about 20,000 submits here (the hourly limit is 10 a resident)
RESIDENTS_PER_ROUND = 3000
GOAL_RATIO = 0.12  # submit-need throughput as a share of the bare aiohttp endpoint's
GOAL_P99_MS = 25.0
AREA_M = 3000  # households spread over a 3 km × 3 km community (sets how many duplicates show)
BUILDINGS = 60
METRES_PER_DEGREE = 111_320.0
ORIGIN = (44.55, 129.62)  # 牡丹江 (Mudanjiang), where 党群通 comes from
TITLES = (
    "楼道灯坏了",
    "下水道堵了",
    "需要代买药品",
    "邻里噪音纠纷",
    "小区健身器材损坏",
    "想咨询政策",
)
DESCRIPTION = "压测：三号楼二单元的楼道灯不亮了，晚上老人上下楼不方便，请帮忙看看。"
CATEGORIES = (
    "space",
    "safety",
    "sanitation",
    "culture_sports",
    "policy",
    "daily_life",
    "dispute",
    "other",
)


# --- the three server processes -------------------------------------------------------------


def _serve_api(values: dict[str, Any], profile_path: str) -> None:
    """The real API alone in a child process (optionally under cProfile until SIGTERM)."""
    import gc
    import logging

    from aiohttp import web

    from server.app import create_app
    from server.core.config import Settings

    logging.disable(logging.WARNING)
    settings = Settings(**values)
    app = create_app(settings)

    async def freeze(_: web.Application) -> None:
        gc.collect()
        gc.freeze()  # as `dangqun serve` does after start-up

    app.on_startup.append(freeze)
    if not profile_path:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


def _serve_bare(port: int) -> None:
    """The comparison: one aiohttp handler that parses a JSON body and answers JSON."""
    import gc

    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"ok": True, "title": body.get("title"), "fields": len(body)})

    app = web.Application()
    app.router.add_post("/echo", echo)
    gc.collect()
    gc.freeze()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _serve_mock(port: int) -> None:
    """The mock WeChat platform in its own process, as Tencent's servers would be."""
    from aiohttp import web

    from miniapp_mock import MockConfig, create_mock_app

    # keep every call (the default keeps the last 10,000) so the content checks can be counted
    app = create_mock_app(MockConfig(max_records=10_000_000))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_ready(url: str, *, method: str = "GET") -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.request(method, url, json={}) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not start")


# --- database: reset, seed, check ------------------------------------------------------------


async def _reset(database_url: str) -> None:
    from server.core.config import Settings
    from server.core.db import apply_migrations

    if database_url.startswith(("postgres://", "postgresql://")):
        import asyncpg
        from yarl import URL

        url = URL(database_url.replace("postgres://", "postgresql://", 1))
        try:
            connection = await asyncpg.connect(str(url))
        except asyncpg.InvalidCatalogNameError:  # a database of its own, not there yet: create it
            admin = await asyncpg.connect(str(url.with_path("/postgres")))
            try:
                await admin.execute(f'CREATE DATABASE "{url.path.lstrip("/")}"')
            finally:
                await admin.close()
            connection = await asyncpg.connect(str(url))
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await connection.close()
    await apply_migrations(Settings(database_url=database_url))


async def _seed(database_url: str, residents: int, rng: random.Random) -> list[str]:
    """A community of ``residents`` households with one resident each; returns their openids."""
    from tortoise import Tortoise

    from server.accounts.models import Person, Role, RoleGrant
    from server.core.config import Settings
    from server.core.db import init_orm
    from server.org.models import Community, Grid, GridLevel, Household, Street
    from server.org.service import create_grid

    await init_orm(Settings(database_url=database_url))
    try:
        street = await Street.create(name="压测街道", code="bench-street")
        community = await Community.create(
            street=street, name="压测社区", code="bench", join_code="BENCH1"
        )
        top = await create_grid(community=community, name="压测社区网格", level=GridLevel.COMMUNITY)
        compounds = [
            await create_grid(
                community=community, name=f"{n + 1}号小区", level=GridLevel.BRANCH, parent=top
            )
            for n in range(BUILDINGS // 10)
        ]
        buildings: list[Grid] = []
        for n in range(BUILDINGS):
            buildings.append(
                await create_grid(
                    community=community,
                    name=f"{n + 1}号楼",
                    level=GridLevel.BUILDING,
                    parent=compounds[n % len(compounds)],
                )
            )
        lat0, lng0 = ORIGIN
        lng_scale = METRES_PER_DEGREE * math.cos(math.radians(lat0))
        households = []
        for i in range(residents):
            x, y = rng.uniform(0, AREA_M), rng.uniform(0, AREA_M)
            building = buildings[i % BUILDINGS]
            households.append(
                Household(
                    community_id=community.id,
                    grid_id=building.id,
                    label=f"{i // BUILDINGS + 1}室",
                    address=f"压测社区{building.name}{i // BUILDINGS + 1}室",
                    lat=lat0 + y / METRES_PER_DEGREE,
                    lng=lng0 + x / lng_scale,
                )
            )
        await Household.bulk_create(households, batch_size=1000)
        openids = [f"bench-resident-{i:06d}" for i in range(residents)]
        await Person.bulk_create(
            [Person(openid=o, name=f"居民{i}") for i, o in enumerate(openids)], batch_size=1000
        )
        people = await Person.filter(openid__startswith="bench-resident-").order_by("id")
        homes = await Household.filter(community=community).order_by("id")
        paths = {g.id: g.path for g in buildings}
        await RoleGrant.bulk_create(
            [
                RoleGrant(
                    person_id=person.id,
                    role=Role.RESIDENT,
                    street_id=street.id,
                    community_id=community.id,
                    grid_id=home.grid_id,
                    household_id=home.id,
                    grid_path=paths[home.grid_id],
                    scope_key=f"{Role.RESIDENT.value}:household:{home.id}",
                )
                for person, home in zip(people, homes, strict=True)
            ],
            batch_size=1000,
        )
    finally:
        await Tortoise.close_connections()
    return openids


@dataclass
class Written:
    needs: int
    audit_rows: int
    needs_with_one_audit_row: int
    outbox_rows: int
    idempotency_keys: int


async def _written(database_url: str) -> Written:
    from tortoise import Tortoise
    from tortoise.functions import Count

    from server.core.config import Settings
    from server.core.db import init_orm
    from server.needs.models import Need, NeedEvent, SubmissionKey
    from server.notify.models import OutboxMessage

    await init_orm(Settings(database_url=database_url))
    try:
        per_need = (
            await NeedEvent.filter(action="submit")
            .annotate(n=Count("id"))
            .group_by("need_id")
            .values("need_id", "n")
        )
        return Written(
            needs=await Need.all().count(),
            audit_rows=await NeedEvent.all().count(),
            needs_with_one_audit_row=sum(1 for row in per_need if row["n"] == 1),
            outbox_rows=await OutboxMessage.filter(kind="need_submitted").count(),
            idempotency_keys=await SubmissionKey.all().count(),
        )
    finally:
        await Tortoise.close_connections()


# --- logging in through the mock platform ----------------------------------------------------


async def _log_in(api: str, mock: str, openids: list[str], connections: int) -> list[str]:
    """wx.login (a code from the mock) → POST /api/v1/auth/wx-login, for every resident."""
    from dangqun.progress import ProgressBar

    progress = ProgressBar("居民登录 log in")
    tokens: list[str] = [""] * len(openids)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(openids)):
        queue.put_nowait(index)
    done = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                index = queue.get_nowait()
                async with session.post(
                    f"{mock}/dev/login-code", json={"openid": openids[index]}
                ) as response:
                    code = (await response.json())["code"]
                async with session.post(
                    f"{api}/api/v1/auth/wx-login", json={"code": code}
                ) as response:
                    if response.status != 200:
                        raise SystemExit(f"login failed: {response.status} {await response.text()}")
                    tokens[index] = (await response.json())["token"]
                done += 1
                if done % 200 == 0 or done == len(openids):
                    progress(done, len(openids), f"{done}/{len(openids)}")

        await asyncio.gather(*(worker() for _ in range(connections)))
    return tokens


# --- the load generator (its own process) ----------------------------------------------------


@dataclass
class Phase:
    """One measured stretch against one target."""

    target: str  # "bare" or "submit"
    paced_rate: float = 0.0  # 0 = closed loop; else requests per second on a clock
    latencies: list[float] = field(default_factory=list)  # of requests due in the window
    window_statuses: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)  # every request, warm-up included
    seconds: float = 0.0  # the measured window (for paced runs: until its last answer)
    wall: float = 0.0  # the whole stretch, warm-up and draining included
    last_answer: float = 0.0
    duplicates: int = 0
    generator_cpu: float = 0.0
    ran_out: bool = False

    @property
    def label(self) -> str:
        if self.target == "bare":
            return "bare aiohttp JSON"
        if self.paced_rate:
            return f"submit-need @ {self.paced_rate:.0f}/s"
        return "submit-need"

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


@dataclass
class Plan:
    bare_url: str
    submit_url: str
    work: list[tuple[str, str, bytes]]  # (token, idempotency key, JSON body) per submit
    bare_body: bytes
    connections: int
    warmup: float
    seconds: float
    rounds: int
    api_pid: int
    bare_pid: int


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class _Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.next_work = 0

    def _take(self) -> tuple[str, str, bytes] | None:
        if self.next_work >= len(self.plan.work):
            return None
        item = self.plan.work[self.next_work]
        self.next_work += 1
        return item

    async def _one(
        self, session: aiohttp.ClientSession, phase: Phase, due: float, window: tuple[float, float]
    ) -> bool:
        if phase.target == "bare":
            url, body, headers = self.plan.bare_url, self.plan.bare_body, {}
        else:
            item = self._take()
            if item is None:
                phase.ran_out = True
                return False
            token, key, body = item
            url = self.plan.submit_url
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        headers["Content-Type"] = "application/json"
        async with session.post(url, data=body, headers=headers) as response:
            payload = await response.read()
            status = response.status
        finished = time.perf_counter()
        phase.statuses[status] += 1
        if window[0] <= due < window[1]:
            phase.latencies.append(finished - due)
            phase.last_answer = max(phase.last_answer, finished)
            phase.window_statuses[status] += 1
            if status == 201:
                phase.duplicates += len(json.loads(payload)["possible_duplicates"])
        return True

    async def run_phase(self, phase: Phase) -> None:
        from dangqun.progress import ProgressBar

        plan = self.plan
        progress = ProgressBar(f"{phase.label:<22}")
        connector = aiohttp.TCPConnector(limit=plan.connections)
        started = time.perf_counter()
        window = (started + plan.warmup, started + plan.warmup + plan.seconds)
        cpu_before = time.process_time()
        async with aiohttp.ClientSession(connector=connector) as session:

            async def closed_loop() -> None:
                while time.perf_counter() < window[1]:
                    if not await self._one(session, phase, time.perf_counter(), window):
                        return

            async def paced_worker(queue: asyncio.Queue[float | None]) -> None:
                while (due := await queue.get()) is not None:
                    if not await self._one(session, phase, due, window):
                        return

            async def show() -> None:
                while (now := time.perf_counter()) < window[1]:
                    measured = len(phase.latencies)
                    label = (
                        "warm-up"
                        if now < window[0]
                        else f"{measured / max(now - window[0], 1e-9):.0f} req/s"
                    )
                    progress(int((now - started) * 10), int((window[1] - started) * 10), label)
                    await asyncio.sleep(0.5)

            shower = asyncio.create_task(show())
            if not phase.paced_rate:
                await asyncio.gather(*(closed_loop() for _ in range(plan.connections)))
            else:
                queue: asyncio.Queue[float | None] = asyncio.Queue()
                workers = [
                    asyncio.create_task(paced_worker(queue)) for _ in range(plan.connections)
                ]
                interval = 1.0 / phase.paced_rate
                due = started
                while due < window[1] and not phase.ran_out:
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    queue.put_nowait(due)
                    due += interval
                for _ in workers:
                    queue.put_nowait(None)
                await asyncio.gather(*workers)
            shower.cancel()
        phase.wall = time.perf_counter() - started
        phase.seconds = plan.seconds
        if phase.paced_rate:  # what was due in the window, over the time it took to answer it
            phase.seconds = max(plan.seconds, phase.last_answer - window[0])
        if phase.ran_out:  # the window ended early: the rate is over what was measured
            phase.seconds = max(min(phase.seconds, phase.last_answer - window[0]), 1e-9)
        phase.generator_cpu = time.process_time() - cpu_before
        progress(1, 1, f"{phase.throughput:.0f} req/s")

    async def run(self) -> list[tuple[Phase, float]]:
        results: list[tuple[Phase, float]] = []
        for _ in range(self.plan.rounds):
            for phase in (Phase("bare"), Phase("submit"), None):
                if phase is None:
                    # paced at the goal rate; if the closed loop showed it cannot carry that,
                    # at half what it did carry (a queue that only grows has no p99)
                    goal = GOAL_RATIO * results[-2][0].throughput
                    phase = Phase("submit", paced_rate=min(goal, 0.5 * results[-1][0].throughput))
                pid = self.plan.bare_pid if phase.target == "bare" else self.plan.api_pid
                cpu = _cpu_seconds(pid)
                await self.run_phase(phase)
                results.append((phase, _cpu_seconds(pid) - cpu))
                if phase.ran_out:  # no work left for the rounds after this one
                    return results
        return results


def _generate(plan: Plan, pipe: Connection) -> None:
    """Entry of the load-generator process: run every phase, send the results back."""
    pipe.send(asyncio.run(_Generator(plan).run()))
    pipe.close()


# --- putting it together ---------------------------------------------------------------------


def _bodies(
    tokens: list[str], per_person: int, run_id: str, rng: random.Random
) -> list[tuple[str, str, bytes]]:
    """Every resident's allowance, interleaved so one person's submits are far apart."""
    work = []
    for k in range(per_person):
        for index, token in enumerate(tokens):
            n = k * len(tokens) + index
            body = {
                "category": rng.choice(CATEGORIES),
                "title": f"{rng.choice(TITLES)}（{n}）",
                "description": DESCRIPTION,
                "urgency": "normal",
                "allow_call": bool(n % 2),
            }
            work.append((token, f"{run_id}-{n}", json.dumps(body, ensure_ascii=False).encode()))
    return work


def _table(rows: list[tuple[Phase, float]]) -> None:
    print(
        f"{'round':>5}  {'target':<22} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'max ms':>7}  {'server CPU':>10}  answers"
    )
    for index, (phase, cpu) in enumerate(rows):
        worst = max(phase.latencies, default=float("nan")) * 1000
        share = f"{cpu / phase.wall:.0%}" if cpu and phase.wall else "—"
        note = " (ran out of work)" if phase.ran_out else ""
        print(
            f"{index // 3 + 1:>5}  {phase.label:<22} {phase.throughput:>7.0f}"
            f" {phase.percentile(0.50):>7.1f} {phase.percentile(0.95):>7.1f}"
            f" {phase.percentile(0.99):>7.1f} {worst:>7.1f}  {share:>10}"
            f"  {dict(sorted(phase.statuses.items()))}{note}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.submit_need", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (wiped!); default: a temp SQLite file"
    )
    parser.add_argument(
        "--redis-url",
        default="memory://",
        help="redis://… (flushed!); default: fakeredis in the API process",
    )
    parser.add_argument(
        "--residents",
        type=int,
        default=0,
        help=f"residents (each submits at most the hourly limit); default {RESIDENTS_PER_ROUND}"
        " per round",
    )
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds before each measured stretch"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per stretch")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of bare, submit, paced submit; the median is reported",
    )
    parser.add_argument(
        "--profile", default="", help="run the API under cProfile and write the stats here"
    )
    args = parser.parse_args(argv)
    args.residents = args.residents or RESIDENTS_PER_ROUND * args.rounds

    from server.core.config import Settings

    workdir = tempfile.TemporaryDirectory(prefix="dangqun-bench-")
    database_url = args.database_url or f"sqlite://{workdir.name}/bench.sqlite3"
    backend = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    rng = random.Random(20261129)
    load_before = os.getloadavg()[0]
    asyncio.run(_reset(database_url))
    if not args.redis_url.startswith("memory"):
        from redis.asyncio import Redis

        async def flush() -> None:
            client = Redis.from_url(args.redis_url)
            await client.flushdb()
            await client.aclose()

        asyncio.run(flush())
    started = time.perf_counter()
    openids = asyncio.run(_seed(database_url, args.residents, rng))
    print(
        f"seeded {args.residents} households with a resident each, {BUILDINGS} buildings over"
        f" {AREA_M // 1000} km × {AREA_M // 1000} km, in {time.perf_counter() - started:.1f} s"
    )

    api_port, bare_port, mock_port = _free_port(), _free_port(), _free_port()
    api, bare, mock = (f"http://127.0.0.1:{p}" for p in (api_port, bare_port, mock_port))
    values = {
        "mode": "dev",
        "host": "127.0.0.1",
        "port": api_port,
        "data_dir": workdir.name,
        "database_url": database_url,
        "redis_url": args.redis_url,
        "wechat_api_base": mock,
    }
    per_person = Settings(**values).need_submissions_per_hour
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=_serve_mock, args=(mock_port,), daemon=True),
        spawn.Process(
            target=_serve_api,
            args=(values, os.path.abspath(args.profile) if args.profile else ""),
            daemon=True,
        ),
        spawn.Process(target=_serve_bare, args=(bare_port,), daemon=True),
    ]
    for process in processes:
        process.start()
    try:
        asyncio.run(_wait_ready(f"{mock}/dev/templates"))
        asyncio.run(_wait_ready(f"{api}/healthz"))
        asyncio.run(_wait_ready(f"{bare}/echo", method="POST"))
        started = time.perf_counter()
        tokens = asyncio.run(_log_in(api, mock, openids, args.connections))
        elapsed = time.perf_counter() - started
        print(f"{len(tokens)} residents logged in through the mock platform in {elapsed:.1f} s")
        work = _bodies(tokens, per_person, f"bench-{int(time.time())}", rng)
        plan = Plan(
            bare_url=f"{bare}/echo",
            submit_url=f"{api}/api/v1/needs",
            work=work,
            bare_body=work[0][2],
            connections=args.connections,
            warmup=args.warmup,
            seconds=args.seconds,
            rounds=args.rounds,
            api_pid=processes[1].pid or 0,
            bare_pid=processes[2].pid or 0,
        )
        receiver, sender = spawn.Pipe(duplex=False)
        generator = spawn.Process(target=_generate, args=(plan, sender))
        generator.start()
        rows: list[tuple[Phase, float]] = receiver.recv()
        generator.join()

        async def sec_checks() -> Counter[str]:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{mock}/inspector/api/summary") as response:
                    summary = await response.json()
            return Counter(summary["by_kind_errcode"].get("msg_sec_check", {}))

        checks = asyncio.run(sec_checks())
    finally:
        for process in reversed(processes):
            process.terminate()
            process.join()
    written = asyncio.run(_written(database_url))
    workdir.cleanup()

    _report(args, backend, mock, load_before, rows, written, checks)


def _report(
    args: argparse.Namespace,
    backend: str,
    mock: str,
    load_before: float,
    rows: list[tuple[Phase, float]],
    written: Written,
    checks: Counter[str],
) -> None:
    redis = "fakeredis (in the API process)" if args.redis_url.startswith("memory") else "Redis"
    print()
    print(f"backend {backend} + {redis}; {args.connections} connections; {os.cpu_count()} CPUs")
    print(f"load average (1 min) before the run {load_before:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"content check: msg_sec_check on the mock WeChat platform, own process ({mock})")
    print(
        f"warm-up {args.warmup:g} s + measured {args.seconds:g} s per stretch; paced: arrivals"
        f" on a clock at {GOAL_RATIO} × the round's bare req/s (or half the submit req/s if"
        f" lower), latency from when each was due"
    )
    print()
    _table(rows)
    rounds = [
        [phase for phase, _ in rows[start : start + 3]]
        for start in range(0, len(rows), 3)
        if len(rows[start : start + 3]) == 3
        and not any(p.ran_out for p, _ in rows[start : start + 3])
    ]
    if not rounds:
        print("\nno round ran to its end: the submits ran out of work (use more --residents)")
        return
    bare_rates = [bare.throughput for bare, _, _ in rounds]
    submit_rows = [submit for _, submit, _ in rounds]
    paced_rows = [paced for _, _, paced in rounds]
    bare_rate = statistics.median(bare_rates)
    submit_rate = statistics.median(p.throughput for p in submit_rows)
    ratio = statistics.median(
        s.throughput / b for s, b in zip(submit_rows, bare_rates, strict=True)
    )
    closed_p99 = statistics.median(p.percentile(0.99) for p in submit_rows)
    paced_p99 = statistics.median(p.percentile(0.99) for p in paced_rows)
    listed = sum(p.duplicates for p in submit_rows)
    mean_duplicates = listed / max(1, sum(p.window_statuses[201] for p in submit_rows))
    mark = {True: "✓", False: "✗"}
    print()
    print(f"median of {len(rounds)} round(s): bare {bare_rate:.0f} req/s, submit {submit_rate:.0f}")
    print(f"  ratio submit/bare {ratio:.3f} (goal ≥ {GOAL_RATIO}) {mark[ratio >= GOAL_RATIO]}")
    paced_rate = statistics.median(p.paced_rate for p in paced_rows)
    goal_rate = GOAL_RATIO * bare_rate
    at = "the goal rate" if paced_rate >= 0.999 * goal_rate else "half the closed-loop rate"
    met = paced_p99 <= GOAL_P99_MS and at == "the goal rate"
    print(
        f"  p99 paced at {paced_rate:.0f}/s ({at}) {paced_p99:.1f} ms"
        f" (goal ≤ {GOAL_P99_MS:g} ms at {goal_rate:.0f}/s) {mark[met]}"
    )
    print(
        f"  p99 closed loop {closed_p99:.1f} ms"
        f" (≈ {args.connections} connections ÷ throughput, Little's law)"
    )
    print(f"  possible duplicates listed per submit: {mean_duplicates:.1f} on average")

    created = sum(phase.statuses[201] for phase, _ in rows if phase.target == "submit")
    answered = sum(sum(phase.statuses.values()) for phase, _ in rows if phase.target == "submit")
    passes = checks.get("0", 0)
    print()
    print(f"submits answered {answered}, created (201) {created}")
    print(
        f"written: needs {written.needs}, audit rows {written.audit_rows}"
        f" ({written.needs_with_one_audit_row} needs with exactly one),"
        f" outbox rows {written.outbox_rows}, idempotency keys {written.idempotency_keys}"
    )
    print(
        f"mock platform: {passes} content checks passed,"
        f" other answers {dict(checks - Counter({'0': passes}))}"
    )
    problems = []
    if created != answered:
        problems.append("every submit must be 201 (a 429: too few --residents for the limit)")
    counts = {
        written.needs,
        written.audit_rows,
        written.needs_with_one_audit_row,
        written.outbox_rows,
        written.idempotency_keys,
    }
    if counts != {created}:
        problems.append("needs, audit rows, outbox rows and keys must each equal the 201s")
    if passes != created:
        problems.append("every created need must have had exactly one content check")
    if any(p.ran_out for p, _ in rows):
        problems.append("the submits ran out before the end (use more --residents)")
    if args.profile:
        import pstats

        print()
        pstats.Stats(os.path.abspath(args.profile)).sort_stats("tottime").print_stats(40)
    if problems:
        sys.exit("FAILED: " + "; ".join(problems))


if __name__ == "__main__":
    main()
