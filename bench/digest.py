"""Benchmark: the weekly digest of a community with 1,000,000 needs, on SQLite and PostgreSQL.

    python -m bench.digest                      # SQLite (cached under bench/results/)
    DANGQUN_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python -m bench.digest
    python -m bench.digest --needs 200000       # a smaller data set

The PostgreSQL database named by DANGQUN_BENCH_DATABASE_URL is wiped (schema dropped) when its
data set is missing or of another size. Data is generated in a child process with bulk inserts
(sqlite3 ``executemany``, PostgreSQL ``COPY``), so the measuring process only holds the digest.
Goal: built in ≤ 2 s with ≤ 300 MB peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
WEEK = "2026-W10"  # 2 to 8 March 2026, Asia/Shanghai
TIMEZONE = "Asia/Shanghai"
WEEKS_OF_DATA = 26  # needs spread evenly over the half year ending with WEEK
DATA_END = dt.datetime(2026, 3, 8, 16, 0, tzinfo=dt.UTC)  # Monday 9 March 00:00 in Shanghai
NOW = DATA_END + dt.timedelta(minutes=30)  # the Monday 08:30 slot
COMPOUNDS, BUILDINGS_PER_COMPOUND = 8, 4
SEED = 20260309
CHUNK = 50_000
GOAL_SECONDS, GOAL_MB = 2.0, 300

NEED_COLUMNS = (
    "id", "category", "subcategory", "title", "description", "urgency", "address", "photos",
    "allow_call", "grid_path", "status", "status_changed_at", "version", "sla_due_at",
    "reject_reason", "rating", "rating_comment", "escalation_level", "done_at", "confirmed_at",
    "created_at", "updated_at", "community_id", "grid_id", "reporter_id",
)  # fmt: skip
EVENT_COLUMNS = ("id", "action", "from_status", "to_status", "note", "created_at", "need_id")


def grids() -> list[tuple[int, int, str, str, int | None]]:
    """(id, level, name, path, parent) of one community's three grid levels."""
    rows: list[tuple[int, int, str, str, int | None]] = [(1, 1, "幸福里社区网格", "/1/", None)]
    next_id = 2
    for compound in range(1, COMPOUNDS + 1):
        compound_id = next_id
        rows.append((compound_id, 2, f"{compound}号小区", f"/1/{compound_id}/", 1))
        next_id += 1
        for building in range(1, BUILDINGS_PER_COMPOUND + 1):
            path = f"/1/{compound_id}/{next_id}/"
            rows.append((next_id, 3, f"{building}号楼", path, compound_id))
            next_id += 1
    return rows


def needs(total: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """Each need's row and its acceptance event (or None), deterministic for a seed.

    70% confirmed and rated, 10% done, 3% still open (some late), 17% rejected.
    """
    rng = random.Random(SEED)
    buildings = [(gid, path) for gid, level, _, path, _ in grids() if level == 3]
    span = dt.timedelta(weeks=WEEKS_OF_DATA).total_seconds()
    start = DATA_END - dt.timedelta(weeks=WEEKS_OF_DATA)
    hour = 3600.0
    stars = (5, 5, 5, 5, 4, 4, 4, 3, 2, 1)
    for index in range(1, total + 1):
        grid_id, path = buildings[rng.randrange(len(buildings))]
        created = start + dt.timedelta(seconds=span * (index - 0.5) / total)
        draw = rng.random()
        accepted = done = confirmed = sla_due = None
        rating = None
        if draw < 0.83:
            accepted = created + dt.timedelta(seconds=rng.uniform(0.5, 24) * hour)
        if draw < 0.80:
            done = accepted + dt.timedelta(seconds=rng.uniform(1, 240) * hour)  # type: ignore[operator]
            status = "done"
        if draw < 0.70:
            confirmed = done + dt.timedelta(seconds=rng.uniform(0, 72) * hour)  # type: ignore[operator]
            rating = stars[rng.randrange(len(stars))]
            status = "confirmed"
        elif 0.80 <= draw < 0.83:
            status = "in_progress"
            sla_due = accepted + dt.timedelta(days=3)  # type: ignore[operator]
        elif draw >= 0.83:
            status = "rejected"
        changed = confirmed or done or accepted or created
        need = (
            index, "daily_life", "", "楼道灯坏了", "三楼楼道灯不亮，晚上看不见", "normal", "",
            "[]", False, path, status, changed, 2, sla_due, "", rating, "", 0, done, confirmed,
            created, changed, 1, grid_id, 1,
        )  # fmt: skip
        event = None
        if accepted is not None:
            event = (index, "accept", "submitted", "accepted", "", accepted, index)
        yield need, event


def chunks(total: int) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    need_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    for need, event in needs(total):
        need_rows.append(need)
        if event is not None:
            event_rows.append(event)
        if len(need_rows) >= CHUNK:
            yield need_rows, event_rows
            need_rows, event_rows = [], []
    if need_rows:
        yield need_rows, event_rows


def sqlite_text(value: Any) -> Any:
    # the text Tortoise writes for a UTC datetime on SQLite
    return value.isoformat(" ") if isinstance(value, dt.datetime) else value


def org_rows() -> dict[str, list[tuple[Any, ...]]]:
    created = DATA_END - dt.timedelta(weeks=WEEKS_OF_DATA + 1)
    return {
        'street ("id", "name", "code", "created_at")': [(1, "幸福街道", "bench-street", created)],
        'community ("id", "name", "code", "join_code", "address", "created_at", "street_id")': [
            (1, "幸福里社区", "bench-community", "BENCH01", "", created, 1)
        ],
        'grid ("id", "level", "name", "path", "parent_id", "created_at", "community_id")': [
            (*row, created, 1) for row in grids()
        ],
        'person ("id", "openid", "name", "is_party_member", "created_at")': [
            (1, "bench-reporter", "居民", False, created)
        ],
    }


async def migrate(url: str) -> None:
    from server.core.config import Settings
    from server.core.db import apply_migrations

    await apply_migrations(Settings(database_url=url))


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def generate_sqlite(path: Path, total: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    asyncio.run(migrate(f"sqlite://{partial}"))
    db = sqlite3.connect(partial)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")  # 200 MB page cache while loading
    # secondary indexes are built once after the load (a sort) instead of row by row
    indexes = [
        str(sql)
        for (name, sql) in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name IN ('need', 'need_event') AND sql IS NOT NULL"
        )
    ]
    names = [
        str(name)
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name IN ('need', 'need_event') AND sql IS NOT NULL"
        )
    ]
    for name in names:
        db.execute(f'DROP INDEX "{name}"')
    for table, rows in org_rows().items():
        marks = ", ".join("?" * len(rows[0]))
        db.executemany(
            f"INSERT INTO {table} VALUES ({marks})", [tuple(map(sqlite_text, r)) for r in rows]
        )
    need_sql = insert_sql("need", NEED_COLUMNS)
    event_sql = insert_sql("need_event", EVENT_COLUMNS)
    event_id = 0
    for need_rows, event_rows in chunks(total):
        db.executemany(need_sql, (tuple(map(sqlite_text, row)) for row in need_rows))
        events = []
        for row in event_rows:
            event_id += 1
            events.append((event_id, *map(sqlite_text, row[1:])))
        db.executemany(event_sql, events)
        db.commit()
    for sql in indexes:
        db.execute(sql)
    db.execute("ANALYZE")
    db.commit()
    db.close()
    partial.rename(path)


async def generate_postgres(url: str, total: int) -> None:
    import asyncpg

    from tests.conftest import reset_postgres_schema

    await reset_postgres_schema(url)
    await migrate(url)
    db = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        indexes = await db.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('need', 'need_event') "
            "AND indexname NOT LIKE '%pkey'"
        )
        for row in indexes:
            await db.execute(f'DROP INDEX "{row["indexname"]}"')
        for table, rows in org_rows().items():
            name, columns = table.split(" ", 1)
            names = [c.strip(' "') for c in columns.strip("()").split(",")]
            await db.copy_records_to_table(name.strip('"'), records=rows, columns=names)
        event_id = 0
        for need_rows, event_rows in chunks(total):
            await db.copy_records_to_table("need", records=need_rows, columns=list(NEED_COLUMNS))
            events = []
            for row in event_rows:
                event_id += 1
                events.append((event_id, *row[1:]))
            await db.copy_records_to_table(
                "need_event", records=events, columns=list(EVENT_COLUMNS)
            )
        for table in ("street", "community", "grid", "person", "need", "need_event"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            await db.execute(f"SELECT setval({sequence}, (SELECT MAX(id) FROM {table}))")
        for row in indexes:
            await db.execute(row["indexdef"])
        await db.execute("CREATE TABLE bench_meta (needs INT NOT NULL)")
        await db.execute("INSERT INTO bench_meta VALUES ($1)", total)
        await db.execute("ANALYZE")
    finally:
        await db.close()


async def postgres_has(url: str, total: int) -> bool:
    import asyncpg

    db = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return bool(
            await db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables "
                "WHERE table_name = 'bench_meta')"
            )
            and await db.fetchval("SELECT needs FROM bench_meta") == total
        )
    finally:
        await db.close()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def measure(url: str, runs: int) -> dict[str, float]:
    """Build the digest ``runs`` times; time each, then once more under tracemalloc."""
    from tortoise import Tortoise

    from server.core.config import Settings
    from server.core.db import init_orm
    from server.digest.content import build_digest, render_chart, render_markdown
    from server.digest.queries import digest_input

    await init_orm(Settings(database_url=url))
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        before = rss_mb()

        async def one() -> tuple[str, bytes, int]:
            data = await digest_input(community_id=1, week=WEEK, timezone=TIMEZONE, now=NOW)
            digest = build_digest(data)
            return render_markdown(digest, link="/digest"), render_chart(digest), digest.new

        times = []
        for _ in range(runs):
            started = time.perf_counter()
            markdown, chart, new = await one()
            times.append(time.perf_counter() - started)
        tracemalloc.start()
        await one()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await Tortoise.close_connections()
    return {
        "first_s": times[0],
        "best_s": min(times),
        "rss_before_mb": before,
        "rss_peak_mb": rss_mb(),
        "traced_peak_mb": traced_peak / 2**20,
        "week_new": new,
        "markdown_bytes": len(markdown.encode()),
        "chart_bytes": len(chart),
    }


def report(backend: str, total: int, figures: dict[str, float]) -> bool:
    ok = figures["first_s"] <= GOAL_SECONDS and figures["rss_peak_mb"] <= GOAL_MB
    print(
        f"{backend:<10} needs={total:,}  week {WEEK}: {int(figures['week_new']):,} new  "
        f"first {figures['first_s']:.3f} s  best {figures['best_s']:.3f} s  "
        f"peak RSS {figures['rss_peak_mb']:.0f} MB "
        f"(before the digest {figures['rss_before_mb']:.0f} MB)  "
        f"tracemalloc peak {figures['traced_peak_mb']:.1f} MB  "
        f"markdown {int(figures['markdown_bytes'])} B  chart {int(figures['chart_bytes'])} B  "
        f"{'OK' if ok else 'OVER GOAL'} (goal ≤ {GOAL_SECONDS} s, ≤ {GOAL_MB} MB)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append")
    parser.add_argument("--generate", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    pg_url = os.environ.get("DANGQUN_BENCH_DATABASE_URL", "")
    sqlite_path = RESULTS / f"digest-{args.needs}.sqlite3"
    if args.generate == "sqlite":
        generate_sqlite(sqlite_path, args.needs)
        return
    if args.generate == "postgres":
        asyncio.run(generate_postgres(pg_url, args.needs))
        return
    if args.measure:
        url = f"sqlite://{sqlite_path}" if args.measure == "sqlite" else pg_url
        figures = asyncio.run(measure(url, args.runs))
        raise SystemExit(0 if report(args.measure, args.needs, figures) else 1)

    backends = args.backend or (["sqlite", "postgres"] if pg_url else ["sqlite"])
    failed = False
    for backend in backends:
        if backend == "postgres" and not pg_url:
            print("postgres: set DANGQUN_BENCH_DATABASE_URL (its schema is dropped)")
            continue
        cached = (
            sqlite_path.exists()
            if backend == "sqlite"
            else asyncio.run(postgres_has(pg_url, args.needs))
        )
        common = [sys.executable, "-m", "bench.digest", "--needs", str(args.needs)]
        if not cached:
            started = time.perf_counter()
            print(f"{backend}: generating {args.needs:,} needs …", flush=True)
            subprocess.run([*common, "--generate", backend], check=True)
            print(f"{backend}: generated in {time.perf_counter() - started:.0f} s", flush=True)
        # measured in a fresh process: its peak RSS is the digest's, not the generator's
        result = subprocess.run([*common, "--runs", str(args.runs), "--measure", backend])
        failed |= result.returncode != 0
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
