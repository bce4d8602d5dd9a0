"""Test fixtures: the real app on real settings, against PostgreSQL + Redis when configured.

``DANGQUN_TEST_DATABASE_URL`` (e.g. postgres://postgres@127.0.0.1:5432/test) and
``DANGQUN_TEST_REDIS_URL`` (e.g. redis://127.0.0.1:6379/15) select real servers; without them the
suite runs on the embedded default (a SQLite file and in-process fakeredis).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise

from miniapp_mock import MockConfig, create_mock_app
from server.app import create_app
from server.core.config import MEMORY_REDIS_URL, Mode, Settings
from server.core.db import apply_migrations
from server.core.redis import make_redis

TEST_APP_ID = "wx5f1e2d3c4b5a6978"
TEST_APP_SECRET = "9c1f0e8d7b6a54321f0e9d8c7b6a5432"
TEST_CORP_ID = "ww1a2b3c4d5e6f7788"
TEST_CORP_SECRET = "q8w7e6r5t4y3u2i1o0p9a8s7d6f5g4h3"
TEST_MEDIA_URL_SECRET = "3f9d2c7a1b8e4f6a0c5d9e2b7a1f4c8d6e0b3a9f"

DATABASE_URL = os.environ.get("DANGQUN_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("DANGQUN_TEST_REDIS_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

TABLES = (
    "booking_reminder",
    "booking_event",
    "booking",
    "shared_resource",
    "project_event",
    "project_update",
    "project",
    "task_reminder",
    "activity_event",
    "activity_signup",
    "activity",
    "party_registration",
    "party_service_setting",
    "task_event",
    "task",
    "task_invitation",
    "task_policy",
    "points_award",
    "honour_board",
    "points_rule",
    "ledger_entry",
    "ledger_transfer",
    "hours_claim",
    "ledger_account",
    "passbook_policy",
    "notify_delivery",
    "inbox_item",
    "subscribe_consent",
    "wecom_user",
    "community_robot",
    "job_run",
    "open311_submission",
    "open311_key",
    "submission_key",
    "need_event",
    "need",
    "outbox_message",
    "volunteer_profile",
    "community_matching",
    "invite_code",
    "role_grant",
    "person",
    "party_branch",
    "household",
    "grid",
    "community",
    "street",
)


def pytest_report_header(config: pytest.Config) -> str:
    database = DATABASE_URL or "SQLite (embedded default)"
    redis = REDIS_URL or "fakeredis (embedded default)"
    return f"dangqun: database={database} redis={redis}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if DATABASE_URL:
        return DATABASE_URL
    return f"sqlite://{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


async def reset_postgres_schema(url: str) -> None:
    """Drop everything in the test database so migrations start from empty."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="session")
async def migrated_database(database_url: str) -> str:
    """The test database with every migration applied (the schema is built the production way)."""
    if ON_POSTGRES:
        await reset_postgres_schema(database_url)
    await apply_migrations(Settings(database_url=database_url))
    return database_url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test-mode settings with real-looking credentials that match the mock platform."""
    values: dict[str, Any] = {
        "mode": Mode.TEST,
        "database_url": database_url,
        "redis_url": REDIS_URL or MEMORY_REDIS_URL,
        "wechat_app_id": TEST_APP_ID,
        "wechat_app_secret": TEST_APP_SECRET,
        "wecom_corp_id": TEST_CORP_ID,
        "wecom_corp_secret": TEST_CORP_SECRET,
        "media_url_secret": TEST_MEDIA_URL_SECRET,
        "wechat_api_base": "http://127.0.0.1:9",  # replaced by the mock's URL in fixtures
    }
    values.update(overrides)
    return Settings(**values)


def mock_config() -> MockConfig:
    return MockConfig(
        apps={TEST_APP_ID: TEST_APP_SECRET}, corp_id=TEST_CORP_ID, corp_secret=TEST_CORP_SECRET
    )


@pytest_asyncio.fixture
async def mock_wechat() -> AsyncIterator[TestServer]:
    """The mock WeChat platform on a real port."""
    server = TestServer(create_mock_app(mock_config()))
    await server.start_server()
    yield server
    await server.close()


async def clear_data() -> None:
    """Empty every table (tests create what they need through services and builders)."""
    connection = Tortoise.get_connection("default")
    if ON_POSTGRES:
        await connection.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        await connection.execute_script(
            "PRAGMA foreign_keys=OFF;"
            + "".join(f"DELETE FROM {table};" for table in TABLES)
            + "PRAGMA foreign_keys=ON;"
        )


@pytest_asyncio.fixture
async def settings(migrated_database: str, mock_wechat: TestServer, tmp_path: Path) -> Settings:
    return make_settings(
        migrated_database,
        wechat_api_base=str(mock_wechat.make_url("")).rstrip("/"),
        media_root=tmp_path / "media",  # uploaded photos stay inside the test's folder
    )


@pytest_asyncio.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    """The real API app, started with its cleanup contexts, on empty tables and an empty Redis."""
    redis = make_redis(settings)
    await redis.flushdb()
    await redis.aclose()
    async with TestClient(TestServer(create_app(settings))) as test_client:
        await clear_data()
        yield test_client
