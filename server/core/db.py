"""Tortoise ORM configuration and lifecycle (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise import Tortoise

from server.core.config import Settings

MODEL_MODULES = [
    "server.org.models",
    "server.accounts.models",
    "server.volunteers.models",
    "server.needs.models",
    "server.notify.models",
    "server.open311.models",
    "server.tasks.models",
    "server.passbook.models",
    "server.points.models",
    "server.scheduling.models",
    "server.projects.models",
    "server.activities.models",
    "server.party.models",
    "server.sharing.models",
]
MIGRATIONS_MODULE = "server.migrations"
APP_LABEL = "models"
# Waiting up to 5 s for SQLite's single writer beats failing a resident's request at once.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Tortoise opens SQLite in WAL mode; with WAL, synchronous=NORMAL syncs at checkpoints instead of
# at every commit (about 1 ms each here, while the single connection is held) and cannot corrupt
# the file: a power cut may lose the last commits, never half of one.
SQLITE_SYNCHRONOUS = "NORMAL"
PG_POOL_MAX = 20


def _connection_url(settings: Settings) -> str:
    url = settings.database_url
    if settings.uses_sqlite:
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        if path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        separator = "&" if "?" in url else "?"
        url = f"{url}{separator}busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
        if "synchronous=" not in url:
            url = f"{url}&synchronous={SQLITE_SYNCHRONOUS}"
        return url
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if "maxsize=" not in url and url.startswith("postgres://"):
        separator = "&" if "?" in url else "?"
        url = f"{url}{separator}maxsize={PG_POOL_MAX}"
    return url


def tortoise_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise config dict for these settings (also used by ``tortoise`` CLI commands)."""
    return {
        "connections": {"default": _connection_url(settings)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        # Stored in UTC: SQLite compares datetimes as text, so one offset keeps the order right.
        "timezone": "UTC",
    }


async def init_orm(settings: Settings) -> None:
    """Connect the ORM (lazily) for this process; queries from any task may use it."""
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


@asynccontextmanager
async def orm_context(settings: Settings) -> AsyncIterator[None]:
    """Open the ORM, yield, close its connections."""
    await init_orm(settings)
    try:
        yield
    finally:
        await close_orm()


async def close_orm() -> None:
    """Close this process's database connections (the ORM's and rawsql's own)."""
    from server.core import rawsql

    await rawsql.close()
    await Tortoise.close_connections()


async def apply_migrations(settings: Settings, *, progress: Any = None) -> None:
    """Apply every pending migration (the one way the schema is built, on SQLite and PostgreSQL)."""
    from tortoise.migrations.api import migrate

    try:
        await migrate(config=tortoise_config(settings), progress=progress)
    finally:
        await close_orm()


def _tortoise_cli_config() -> dict[str, Any]:
    """Config for ``tortoise -c server.core.db.TORTOISE_ORM makemigrations``."""
    from server.core.config import Settings as _Settings

    return tortoise_config(_Settings())


def __getattr__(name: str) -> Any:
    if name == "TORTOISE_ORM":
        return _tortoise_cli_config()
    raise AttributeError(name)
