"""The shared sliding-window limiter in Redis."""

from __future__ import annotations

import pytest

from server.core.config import Settings
from server.core.redis import make_redis
from server.notify.limiter import WAIT_MARGIN_SECONDS, RateLimiter


async def test_a_window_grants_its_limit_then_says_how_long_to_wait(settings: Settings) -> None:
    redis = make_redis(settings)
    await redis.flushdb()
    try:
        first = RateLimiter(redis, prefix="t", limit=3, window=10)
        second = RateLimiter(redis, prefix="t", limit=3, window=10)  # another process
        assert [await first.reserve("robot", now=100.0 + i) for i in range(2)] == [0.0, 0.0]
        assert await second.reserve("robot", now=102.0) == 0.0
        assert await second.reserve("robot", now=103.0) == pytest.approx(7 + WAIT_MARGIN_SECONDS)
        assert await first.reserve("other", now=103.0) == 0.0  # keys are separate
        assert await first.reserve("robot", now=110.5) == 0.0  # the first send left the window
        assert await first.reserve("robot", now=110.6) == pytest.approx(0.4 + WAIT_MARGIN_SECONDS)
    finally:
        await redis.aclose()
