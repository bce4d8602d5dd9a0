"""The schema is built by migrations, on an empty SQLite file and an empty PostgreSQL database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from tortoise import Tortoise

from server.core.config import Settings
from server.core.db import apply_migrations, init_orm, tortoise_config
from tests.conftest import DATABASE_URL, ON_POSTGRES, TABLES


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@pytest_asyncio.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    """A brand-new database: a new PostgreSQL database when configured, else a new SQLite file."""
    if not ON_POSTGRES:
        yield f"sqlite://{tmp_path / 'empty.sqlite3'}"
        return
    import asyncpg

    name = f"dangqun_migration_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_dsn(DATABASE_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = DATABASE_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(_dsn(DATABASE_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _tables(settings: Settings) -> set[str]:
    await init_orm(settings)
    try:
        connection = Tortoise.get_connection("default")
        if settings.uses_sqlite:
            rows = await connection.execute_query_dict(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        else:
            rows = await connection.execute_query_dict(
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
            )
        return {row["name"] for row in rows}
    finally:
        await Tortoise.close_connections()


async def test_migrations_build_every_table_on_an_empty_database(empty_database: str) -> None:
    settings = Settings(database_url=empty_database)
    applied: list[str] = []
    await apply_migrations(settings, progress=lambda event, app, name: applied.append(name))
    assert "0001_initial" in applied
    tables = await _tables(settings)
    assert set(TABLES) | {"tortoise_migrations"} <= tables

    # Running again applies nothing and changes nothing.
    again: list[str] = []
    await apply_migrations(settings, progress=lambda event, app, name: again.append(name))
    assert again == []
    assert await _tables(settings) == tables


async def test_models_and_migrations_agree() -> None:
    """A model change without its migration is caught here, not in production."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config(Settings(database_url="sqlite://:memory:"))
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        pending = await detector.changes()
    assert [writer.name for writer in pending] == [], "run: make migrations"
