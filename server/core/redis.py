"""The Redis connection: a real server, or in-process fakeredis for the embedded default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from server.core.config import Settings

_memory_server = None


def _memory_redis() -> Redis:
    """All in-process clients share one fake server, so the API and the bot see the same data."""
    global _memory_server
    import fakeredis

    if _memory_server is None:
        _memory_server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=_memory_server, decode_responses=True)


def make_redis(settings: Settings) -> Redis:
    """A client for ``settings.redis_url`` (``memory://`` = in-process)."""
    if settings.uses_memory_redis:
        return _memory_redis()
    return Redis.from_url(
        settings.redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
    )


@asynccontextmanager
async def redis_context(settings: Settings) -> AsyncIterator[Redis]:
    """Open a Redis client, yield it, close it."""
    client = make_redis(settings)
    try:
        yield client
    finally:
        await client.aclose()
