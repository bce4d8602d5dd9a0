"""The shared sliding-window limiter in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from server.core.config import Settings
from server.core.redis import make_redis
from server.notify.limiter import WAIT_MARGIN_SECONDS, RateLimiter, Window

MARGIN = WAIT_MARGIN_SECONDS


@pytest_asyncio.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    redis = make_redis(settings)
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_a_window_grants_its_limit_then_says_how_long_to_wait(redis: Redis) -> None:
    first = RateLimiter(redis, Window("t", limit=3, seconds=10))
    second = RateLimiter(redis, Window("t", limit=3, seconds=10))  # another process
    assert [await first.reserve("robot", now=100.0 + i) for i in range(2)] == [0.0, 0.0]
    assert await second.reserve("robot", now=102.0) == 0.0
    assert await second.reserve("robot", now=103.0) == pytest.approx(7 + MARGIN)
    assert await first.reserve("other", now=103.0) == 0.0  # keys are separate
    assert await first.reserve("robot", now=109.999) == pytest.approx(0.001 + MARGIN)
    assert await first.reserve("robot", now=110.0) == 0.0  # the first send left the window
    assert await first.reserve("robot", now=110.6) == pytest.approx(0.4 + MARGIN)


async def test_a_slot_is_taken_in_every_window_or_in_none(redis: Redis) -> None:
    minute_and_hour = RateLimiter(
        redis, Window("m", limit=2, seconds=60), Window("h", limit=3, seconds=3600)
    )
    assert await minute_and_hour.reserve("lisi", now=0.0) == 0.0
    assert await minute_and_hour.reserve("lisi", now=1.0) == 0.0
    # the minute is full: refused, and the refusals take none of the hour's places
    for at in (2.0, 3.0, 30.0):
        assert await minute_and_hour.reserve("lisi", now=at) == pytest.approx(60 - at + MARGIN)
    assert await minute_and_hour.reserve("lisi", now=60.0) == 0.0  # the hour's third place
    assert await minute_and_hour.reserve("lisi", now=61.0) == pytest.approx(3539 + MARGIN)
    # another process limiting the hour alone counts the same three sends
    hour_only = RateLimiter(redis, Window("h", limit=3, seconds=3600))
    assert await hour_only.reserve("lisi", now=62.0) == pytest.approx(3538 + MARGIN)
    assert await minute_and_hour.reserve("lisi", now=3600.0) == 0.0


async def test_with_several_full_windows_the_wait_is_the_longest(redis: Redis) -> None:
    limiter = RateLimiter(redis, Window("a", limit=1, seconds=10), Window("b", limit=1, seconds=20))
    assert await limiter.reserve("k", now=0.0) == 0.0
    assert await limiter.reserve("k", now=5.0) == pytest.approx(15 + MARGIN)
    assert await limiter.reserve("k", now=12.0) == pytest.approx(8 + MARGIN)  # only b is full
    assert await limiter.reserve("k", now=20.0) == 0.0


async def test_a_lowered_limit_waits_until_enough_sends_have_left(redis: Redis) -> None:
    before = RateLimiter(redis, Window("t", limit=3, seconds=10))
    for at in (100.0, 101.0, 102.0):
        assert await before.reserve("k", now=at) == 0.0
    after = RateLimiter(redis, Window("t", limit=2, seconds=10))  # restarted with a lower limit
    # not when the oldest leaves (the window would still hold 2) but when the second one does
    assert await after.reserve("k", now=103.0) == pytest.approx(8 + MARGIN)
    assert await after.reserve("k", now=110.5) == pytest.approx(0.5 + MARGIN)
    assert await after.reserve("k", now=111.0) == 0.0


def test_a_window_needs_room_for_one_send() -> None:
    with pytest.raises(ValueError):
        Window("t", limit=0)
